"""Command line of the locked core: ``her2map synth | train | predict | import``.

Each subcommand lives in its own module exposing ``register(subparsers)``; the handler it installs
(``func``) takes the parsed arguments and returns the exit status. The full ``her2map`` command
(:mod:`validation.cli`) adds the harness's subcommands to the same parser; ``python -m her2map``
runs the core alone, so the core ships without the harness.

Hygiene shared by every subcommand (:func:`build_parser`, :func:`run_command`):

* exit codes: 0 ok; 1 a check failed; 2 usage or bad input; 3 refused by a rule (each error
  class carries its ``exit_code``); 130 interrupted (Ctrl-C); 141 the reader closed the pipe --
  the last two without a traceback or any message but one line;
* help text is plain: reST markup of the module docstrings (````x````, ``:func:`x```) is removed;
* every ``--ledger`` option defaults to the environment variable ``HER2MAP_LEDGER`` when set;
* every ``--out`` is checked before the command starts (no file where a folder must go, a
  writable parent), and an operating-system error that still occurs is one line naming the file
  (exit 2), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from her2map import __version__
from her2map.exceptions import Her2MapError

__all__ = [
    "CORE_COMMANDS",
    "LEDGER_ENV",
    "build_parser",
    "check_out",
    "main",
    "plain_text",
    "run_command",
]

#: Modules of this package that register core subcommands, in help order.
CORE_COMMANDS: tuple[str, ...] = (
    "her2map.cli.synth",
    "her2map.cli.train",
    "her2map.cli.predict",
    "her2map.cli.importers",
)
#: Environment variable that gives every ``--ledger`` option its default.
LEDGER_ENV = "HER2MAP_LEDGER"
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def plain_text(text: str | None) -> str | None:
    """``text`` without reST markup: ``:func:`~a.b``` -> ``a.b``, double backquotes -> none."""
    if text is None:
        return None
    return _ROLE.sub(r"\1", text).replace("``", "")


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = plain_text(choice.help)
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def _tidy(parser: argparse.ArgumentParser) -> None:
    """Plain help text everywhere; ``--ledger`` defaults to $HER2MAP_LEDGER when it is set."""
    ledger = os.environ.get(LEDGER_ENV) or None
    for each in _parsers(parser):
        each.description = plain_text(each.description)
        for action in each._actions:
            action.help = plain_text(action.help)
            if "--ledger" in action.option_strings:
                action.help = f"{action.help or 'the audit ledger'} (default: ${LEDGER_ENV})"
                if ledger is not None:
                    action.default, action.required = ledger, False


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
    _tidy(parser)
    return parser


def check_out(value: str | None) -> str | None:
    """Why ``--out value`` cannot be written (a file on the way, no permission), or None."""
    if not value:
        return None
    path = Path(value).absolute()
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():
            return f"--out {value}: {parent} is a broken symbolic link"
        parent = parent.parent
    if not parent.is_dir():
        return f"--out {value}: {parent} is a file, not a folder; choose another --out"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {value}: no permission to create files in {parent}; choose another --out"
    return None


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    errors: tuple[type[BaseException], ...],
    guard: Callable[[argparse.Namespace], AbstractContextManager[object]] | None = None,
) -> int:
    """Parse ``argv``, run the chosen handler; deliberate errors print one line and exit with their
    class's ``exit_code`` (module docstring), Ctrl-C and a closed pipe exit quietly.

    ``guard(args)``, when given, wraps the handler (e.g. to remove what a refused command created).
    """
    try:
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.func
        problem = check_out(getattr(args, "out", None))
        if problem is not None:
            print(f"her2map {args.command}: error: {problem}", file=sys.stderr)
            return 2
        try:
            with (guard or (lambda _: nullcontext()))(args):
                status = int(handler(args) or 0)
        except errors as exc:
            print(f"her2map {args.command}: error: {exc}", file=sys.stderr)
            return int(getattr(exc, "exit_code", 2))
        except OSError as exc:  # the environment refused (disk full, a path raced away, ...)
            where = f" {exc.filename}" if exc.filename else ""
            print(f"her2map {args.command}: error: cannot use{where}: {exc.strerror or exc}",
                  file=sys.stderr)  # fmt: skip
            return 2
        sys.stdout.flush()  # a closed pipe shows here, inside the handler's try, not at exit
        return status
    except KeyboardInterrupt:
        print("her2map: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``her2map ledger show | head -n 1``): stop quietly. Point stdout
        # at /dev/null so that the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m her2map`` (core subcommands only)."""
    return run_command(build_parser(), argv, (Her2MapError,))
