"""``her2map protocol check | register | amend | status``: pre-register protocols in the ledger.

* ``check FILE`` validates the spec and prints its id, version and canonical hash (exit 0).
* ``register FILE --ledger PATH --actor NAME`` records ``protocol.registered`` (exit 0).
* ``amend FILE --ledger PATH --actor NAME --reason "..."`` records ``protocol.amended`` (exit 0).
* ``status FILE --ledger PATH`` prints the state; exit 0 when runnable (registered or amended),
  1 when unregistered or changed since registration.

Errors print one line: a malformed spec exits 2, a refused registration 3. The work is done by
:func:`validation.protocol.register`, :func:`~validation.protocol.amend` and
:func:`~validation.protocol.status`.
"""

from __future__ import annotations

import argparse
from typing import Any

from validation.cli.registration import add_registration_actions, print_status
from validation.ledger import Ledger
from validation.protocol import Protocol, amend, status
from validation.protocol import register as register_protocol

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``protocol`` command group to the ``her2map`` parser."""
    parser = subparsers.add_parser(
        "protocol",
        help="check, register, amend or show the status of a protocol",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="protocol_command", metavar="ACTION", required=True)

    check = actions.add_parser(
        "check", help="validate a protocol file and print its canonical hash"
    )
    check.add_argument("file", metavar="FILE", help="protocol YAML")
    check.set_defaults(func=_check)

    add_registration_actions(
        actions,
        noun="protocol",
        prefix="",
        spec="file",
        ledger_help="path of the ledger (SQLite file)",
        register=_register,
        amend=_amend,
        status=_status,
    )


def _check(args: argparse.Namespace) -> int:
    protocol = Protocol.from_yaml(args.file)
    print(f"OK: {protocol.id} version {protocol.version}, hash {protocol.protocol_hash}")
    return 0


def _register(args: argparse.Namespace) -> int:
    protocol = Protocol.from_yaml(args.file)
    with Ledger.open(args.ledger) as ledger:
        entry = register_protocol(protocol, ledger, actor=args.actor)
    print(
        f"registered {protocol.id} version {protocol.version}: hash {protocol.protocol_hash} (ledger seq {entry.seq})"
    )
    return 0


def _amend(args: argparse.Namespace) -> int:
    protocol = Protocol.from_yaml(args.file)
    with Ledger.open(args.ledger) as ledger:
        entry = amend(protocol, ledger, actor=args.actor, reason=args.reason)
    print(
        f"amended {protocol.id} version {protocol.version}: hash {protocol.protocol_hash} "
        f"replaces {entry.payload['previous_hash']} (ledger seq {entry.seq})"
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    protocol = Protocol.from_yaml(args.file)
    with Ledger.open(args.ledger, create=False) as ledger:
        current = status(protocol, ledger)
    return print_status(current)
