"""The ``her2map`` console command: the core's subcommands plus the harness's.

Only this package parses arguments, prints and sets exit codes (DESIGN.md); every handler calls a
public Python function of the same name. Deliberate errors print one line and exit with their
class's ``exit_code`` (2 bad input, 3 refused by a rule; see :mod:`validation.exceptions`).

Start-up is lazy: ``her2map COMMAND ...`` imports only the module registering COMMAND
(:data:`COMMAND_MODULES`), so commands that do not run the model (logging a trial event,
``ledger verify``) never import torch or the statistics stack; ``her2map --help`` builds its
command list from :data:`COMMAND_HELP` without importing any command module (a test checks that
this table matches what the modules register).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from her2map.cli import CORE_COMMANDS, build_parser, run_command
from her2map.exceptions import Her2MapError
from validation.exceptions import HarnessError

__all__ = ["COMMANDS", "HARNESS_COMMANDS", "main", "register"]

#: Modules of this package that register harness subcommands, in help order.
HARNESS_COMMANDS: tuple[str, ...] = (
    "validation.cli.ledger",
    "validation.cli.checkpoint",
    "validation.cli.protocol",
    "validation.cli.trial",
    "validation.cli.validate",
    "validation.cli.dossier",
    "validation.cli.signing",
    "validation.cli.submission",
    "validation.cli.trace",
    "validation.cli.demo",
    "validation.cli.serve",
)

#: Command name -> (the module that registers it, its one-line help). ``her2map --help`` is built
#: from this table alone; tests/test_cli_startup.py checks it against the modules' own help.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": (
        "her2map.cli.synth",
        "generate a deterministic virtual multi-site cohort (DICOM + clinical.csv)",
    ),
    "train": ("her2map.cli.train", "train the model on development sites A-C and lock it"),
    "predict": (
        "her2map.cli.predict",
        "predict HER2 status of every patient of a cohort with the locked model",
    ),
    "import": (
        "her2map.cli.importers",
        "import a public data set (TCIA Duke-Breast-Cancer-MRI, CMMD) as a cohort folder",
    ),
    "ledger": ("validation.cli.ledger", "verify or show the audit ledger"),
    "protocol": (
        "validation.cli.protocol",
        "check, register, amend or show the status of a protocol",
    ),
    "trial": (
        "validation.cli.trial",
        "log a prospective model-versus-biopsy trial on the audit ledger",
    ),
    "validate": ("validation.cli.validate", "run a pre-registered validation protocol"),
    "dossier": ("validation.cli.dossier", "build, verify or reproduce a validation dossier"),
    "trace": ("validation.cli.trace", "requirements traceability"),
    "demo": (
        "validation.cli.demo",
        "synthesize a cohort, run the shipped protocols with the locked model, seal dossiers",
    ),
    "serve": ("validation.cli.serve", "run the multi-site trial service (HTTP API)"),
    "keys": ("validation.cli.checkpoint", "Ed25519 keys for checkpoints and e-signatures"),
    "signing": ("validation.cli.signing", "register or revoke signers' public keys"),
    "submission": ("validation.cli.submission", "build or verify a submission package"),
    "token": ("validation.cli.serve", "issue or revoke API tokens of the service"),
}


def register(subparsers: Any) -> None:
    """The command list of ``her2map --help`` from :data:`COMMANDS`, importing no command module."""
    for name, (_, helptext) in COMMANDS.items():
        subparsers.add_parser(name, help=helptext)


def _modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The one module that registers ``argv``'s command; this module's overview when no command
    is named (``--help``, ``--version``); every module for an unknown command (its error)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None:
        return (__name__,)
    every = (*CORE_COMMANDS, *HARNESS_COMMANDS)
    module = COMMANDS.get(command, ("", ""))[0]
    return (module,) if module in every else every


@contextmanager
def no_new_empty_ledger(args: argparse.Namespace) -> Iterator[None]:
    """If the command fails, remove the ledger file it created without recording anything in it
    (a refused command creates no file)."""
    ledger = getattr(args, "ledger", None)
    path = Path(ledger) if isinstance(ledger, str) and ledger else None
    fresh = path is not None and not path.exists()
    try:
        yield
    except BaseException:
        if fresh and path is not None and path.is_file():
            from validation.ledger import Ledger

            with Ledger.open(path, create=False) as book:
                empty = book.head().seq == 0
            if empty:
                for extra in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{extra}").unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``her2map`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_modules_for(args))
    if os.environ.get("HER2MAP_LOG_KEYS"):  # issue 13: the held checkpoint, if opted in
        from validation.cli.checkpoint import check_before_use

        refused = check_before_use(parser, args)
        if refused:
            return refused
    return run_command(parser, args, (Her2MapError, HarnessError), no_new_empty_ledger)
