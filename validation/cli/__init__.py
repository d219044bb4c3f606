"""The ``her2map`` console command: the core's subcommands plus the harness's.

Only this package parses arguments, prints and sets exit codes (DESIGN.md); every handler calls a
public Python function of the same name. Deliberate errors print one line and exit with their
class's ``exit_code`` (2 bad input, 3 refused by a rule; see :mod:`validation.exceptions`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from her2map.cli import CORE_COMMANDS, build_parser, run_command
from her2map.exceptions import Her2MapError
from validation.exceptions import HarnessError

__all__ = ["HARNESS_COMMANDS", "main"]

#: Modules of this package that register harness subcommands, in help order.
HARNESS_COMMANDS: tuple[str, ...] = (
    "validation.cli.ledger",
    "validation.cli.protocol",
    "validation.cli.trial",
    "validation.cli.validate",
    "validation.cli.dossier",
    "validation.cli.trace",
    "validation.cli.demo",
)


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
    parser = build_parser((*CORE_COMMANDS, *HARNESS_COMMANDS))
    return run_command(parser, argv, (Her2MapError, HarnessError), no_new_empty_ledger)
