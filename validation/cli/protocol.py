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

from validation.ledger import Ledger
from validation.protocol import Protocol, RegistrationStatus, amend, status
from validation.protocol import register as register_protocol

__all__ = ["print_status", "register"]


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

    for name, helptext, func in (
        ("register", "record the protocol's canonical hash in the ledger", _register),
        ("amend", "record a changed protocol as an amendment, with its reason", _amend),
        ("status", "show whether the protocol is registered, amended or changed", _status),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("file", metavar="FILE", help="protocol YAML")
        action.add_argument("--ledger", required=True, help="path of the ledger (SQLite file)")
        if name != "status":
            action.add_argument("--actor", required=True, help="who records it (name or role)")
        if name == "amend":
            action.add_argument("--reason", required=True, help="why the protocol changed")
        action.set_defaults(func=func)


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


def print_status(current: RegistrationStatus) -> int:
    """Print a registration status (a protocol's or a suite's); 0 when runnable, else 1."""
    print(f"{current.protocol_id} version {current.version}: {current.state}")
    print(f"  file hash:        {current.protocol_hash}")
    if current.registration_seq is not None:
        print(f"  registered:       seq {current.registration_seq}, hash {current.registered_hash}")
        print(f"  content in force: {current.current_hash}")
    for item in current.amendments:
        print(f"  amendment seq {item.seq} by {item.actor} at {item.time_utc}: {item.reason}")
    return 0 if current.runnable else 1


def _status(args: argparse.Namespace) -> int:
    protocol = Protocol.from_yaml(args.file)
    with Ledger.open(args.ledger, create=False) as ledger:
        current = status(protocol, ledger)
    return print_status(current)
