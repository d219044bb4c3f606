"""``her2map ledger verify | show | install-postgres``: check, read and set up the audit ledger.

``verify`` prints ``OK: N entries, head <seq>:<hash>`` (exit 0) or
``TAMPERED: entry <seq>: <problem>`` (exit 1); errors such as a missing file exit 2. It changes
nothing (a SQLite file is opened read-only; its bytes stay as they were). ``--ledger`` is a
SQLite file or a ``postgresql://`` URL. ``install-postgres`` prepares a PostgreSQL database once
(as a superuser): owner role, tables, the one write function, triggers, row-level security.
The work is done by :func:`validation.ledger.verify`, :func:`validation.ledger.show` and
:func:`validation.ledger.postgres.install`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from validation.cli.checkpoint import register_ledger_actions
from validation.cli.pipes import closed_pipe_is_quiet
from validation.ledger import show, verify

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``ledger`` command group to the ``her2map`` parser."""
    parser = subparsers.add_parser(
        "ledger", help="verify or show the audit ledger", description=__doc__
    )
    actions = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    check = actions.add_parser("verify", help="re-walk the hash chain; exit 1 if tampered")
    check.add_argument("--ledger", required=True, help="SQLite file or postgresql:// URL")
    check.add_argument(
        "--expected-head",
        metavar="SEQ:HASH",
        help="head kept outside the ledger (as printed by verify or the dossier); detects "
        "truncation and re-hashing",
    )
    check.set_defaults(func=_verify)

    listing = actions.add_parser("show", help="print the entries in sequence order")
    listing.add_argument("--ledger", required=True, help="SQLite file or postgresql:// URL")
    listing.add_argument("--type", dest="event_type", help="only entries of this event_type")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_show)

    setup = actions.add_parser(
        "install-postgres", help="prepare a PostgreSQL database for the ledger (once)"
    )
    setup.add_argument("--admin-dsn", required=True, help="superuser URL of the new database")
    setup.add_argument("--app-role", required=True, help="role the service logs in as")
    setup.add_argument("--owner-role", default="her2map_owner", help="role owning the tables")
    setup.set_defaults(func=_install)

    register_ledger_actions(actions)  # issue 13: checkpoint, check, prove, check-proof


def _verify(args: argparse.Namespace) -> int:
    report = verify(args.ledger, expected_head=args.expected_head)
    print(report)
    return 0 if report.ok else 1


def _show(args: argparse.Namespace) -> int:
    with closed_pipe_is_quiet():
        for entry in show(args.ledger, event_type=args.event_type):
            if args.json:
                print(json.dumps(entry.to_dict(), ensure_ascii=False, sort_keys=True))
            else:
                payload = json.dumps(entry.payload, ensure_ascii=False, sort_keys=True)
                print(
                    f"{entry.seq}\t{entry.time_utc}\t{entry.actor}\t{entry.event_type}\t{payload}"
                )
    return 0


def _install(args: argparse.Namespace) -> int:
    from validation.ledger.postgres import install

    install(args.admin_dsn, app_role=args.app_role, owner_role=args.owner_role)
    print(
        f"ledger installed: the service connects as role {args.app_role} (SELECT and the "
        f"append function only); tables owned by {args.owner_role} (cannot log in)"
    )
    return 0
