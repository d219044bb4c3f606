"""The register, amend and status actions every pre-registered spec's command group shares.

``her2map protocol register | amend | status`` and ``her2map validate suite-register |
suite-amend | suite-status`` take the same arguments and print a status the same way; this module
builds both: :func:`add_registration_actions` adds the three actions to a command group (the
group supplies the handlers, which call :mod:`validation.protocol.registration` for its kind), and
:func:`print_status` prints a :class:`~validation.protocol.RegistrationStatus` and gives the exit
status.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from validation.protocol import RegistrationStatus

__all__ = ["add_registration_actions", "print_status"]

Handler = Callable[[argparse.Namespace], int]


def add_registration_actions(
    actions: Any,
    *,
    noun: str,
    prefix: str,
    spec: str,
    ledger_help: str,
    register: Handler,
    amend: Handler,
    status: Handler,
) -> None:
    """Add the ``register``, ``amend`` and ``status`` actions of a spec to ``actions``.

    Parameters
    ----------
    actions
        The command group's sub-parsers (``add_subparsers()``).
    noun
        What is registered (``"protocol"``, ``"suite"``), as the help texts name it.
    prefix
        Put before each action's name (``""`` gives ``register``; ``"suite-"``
        ``suite-register``).
    spec
        Name of the positional argument holding the spec's YAML file (``"file"``: the handler
        reads ``args.file``, shown as ``FILE``).
    ledger_help
        Help text of ``--ledger``.
    register, amend, status
        The handlers, set as each action's ``func``. ``register`` and ``amend`` also take
        ``--actor``; ``amend`` ``--reason``.
    """
    for verb, helptext, func in (
        ("register", f"record the {noun}'s canonical hash in the ledger", register),
        ("amend", f"record a changed {noun} as an amendment, with its reason", amend),
        ("status", f"show whether the {noun} is registered, amended or changed", status),
    ):
        action = actions.add_parser(prefix + verb, help=helptext)
        action.add_argument(spec, metavar=spec.upper(), help=f"{noun} YAML")
        action.add_argument("--ledger", required=True, help=ledger_help)
        if verb != "status":
            action.add_argument("--actor", required=True, help="who records it (name or role)")
        if verb == "amend":
            action.add_argument("--reason", required=True, help=f"why the {noun} changed")
        action.set_defaults(func=func)


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
