"""Command line of the locked core: ``her2map synth | train | predict | import``.

Each subcommand lives in its own module exposing ``register(subparsers)``; the handler it installs
(``func``) takes the parsed arguments and returns the exit status. The full ``her2map`` command
(:mod:`validation.cli`) adds the harness's subcommands to the same parser; ``python -m her2map``
runs the core alone, so the core ships without the harness.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from her2map import __version__
from her2map.exceptions import Her2MapError

__all__ = ["CORE_COMMANDS", "build_parser", "main", "run_command"]

#: Modules of this package that register core subcommands, in help order.
CORE_COMMANDS: tuple[str, ...] = (
    "her2map.cli.synth",
    "her2map.cli.train",
    "her2map.cli.predict",
    "her2map.cli.importers",
)


def build_parser(
    modules: Sequence[str] = CORE_COMMANDS, *, prog: str = "her2map"
) -> argparse.ArgumentParser:
    """Build the parser with one subcommand group per module in ``modules``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="HER2 MAP: locked HER2 inference core and its pre-registered validation harness.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    errors: tuple[type[BaseException], ...],
) -> int:
    """Parse ``argv``, run the chosen handler, and turn deliberate errors into exit status 2."""
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(handler(args) or 0)
    except errors as exc:
        print(f"her2map {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m her2map`` (core subcommands only)."""
    return run_command(build_parser(), argv, (Her2MapError,))
