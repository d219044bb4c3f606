"""The ``her2map`` console command: the core's subcommands plus the harness's.

Only this package parses arguments, prints and sets exit codes (DESIGN.md); every handler calls a
public Python function of the same name. Deliberate errors print one line and exit with status 2.
"""

from __future__ import annotations

from collections.abc import Sequence

from her2map.cli import CORE_COMMANDS, build_parser, run_command
from her2map.exceptions import Her2MapError
from validation.cli.checkpoint import check_before_use
from validation.exceptions import HarnessError

__all__ = ["HARNESS_COMMANDS", "main"]

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
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``her2map`` console script."""
    parser = build_parser((*CORE_COMMANDS, *HARNESS_COMMANDS))
    refused = check_before_use(parser, argv)  # issue 13: the held checkpoint, if opted in
    if refused:
        return refused
    return run_command(parser, argv, (Her2MapError, HarnessError))
