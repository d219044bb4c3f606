"""``her2map ledger verify | show``: check and read the audit ledger.

``verify`` prints ``OK: N entries, head <seq>:<hash>`` (exit 0) or
``TAMPERED: entry <seq>: <problem>`` (exit 1); errors such as a missing file exit 2.
The work is done by :func:`validation.ledger.verify` and :func:`validation.ledger.show`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from validation.cli.checkpoint import register_ledger_actions
from validation.ledger import show, verify

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``ledger`` command group to the ``her2map`` parser."""
    parser = subparsers.add_parser(
        "ledger", help="verify or show the audit ledger", description=__doc__
    )
    actions = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)

    check = actions.add_parser("verify", help="re-walk the hash chain; exit 1 if tampered")
    check.add_argument("--ledger", required=True, help="path of the ledger (SQLite file)")
    check.add_argument(
        "--expected-head",
        metavar="SEQ:HASH",
        help="head kept outside the ledger (as printed by verify or the dossier); detects "
        "truncation and re-hashing",
    )
    check.set_defaults(func=_verify)

    listing = actions.add_parser("show", help="print the entries in sequence order")
    listing.add_argument("--ledger", required=True, help="path of the ledger (SQLite file)")
    listing.add_argument("--type", dest="event_type", help="only entries of this event_type")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_show)

    register_ledger_actions(actions)  # issue 13: checkpoint, check, prove, check-proof


def _verify(args: argparse.Namespace) -> int:
    report = verify(args.ledger, expected_head=args.expected_head)
    print(report)
    return 0 if report.ok else 1


def _show(args: argparse.Namespace) -> int:
    for entry in show(args.ledger, event_type=args.event_type):
        if args.json:
            print(json.dumps(entry.to_dict(), ensure_ascii=False, sort_keys=True))
        else:
            payload = json.dumps(entry.payload, ensure_ascii=False, sort_keys=True)
            print(f"{entry.seq}\t{entry.time_utc}\t{entry.actor}\t{entry.event_type}\t{payload}")
    return 0
