"""``--workers N`` / ``--scheduler ADDRESS`` / ``--device``: where the heavy work of a command
runs."""

from __future__ import annotations

import argparse

from her2map.cli._argtypes import int_at_least
from her2map.parallel import Workers

__all__ = ["add_device_option", "add_worker_options", "workers_from_args"]


_positive = int_at_least(1, must_be="an integer >= 1")


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--scheduler`` (mutually exclusive) to ``parser``."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (default 1: this process); "
        "the output bytes do not depend on N",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://host:8786)",
    )


def add_device_option(parser: argparse.ArgumentParser, *, default: str | None = "cpu") -> None:
    """Add ``--device`` (:func:`her2map.device.resolve_device`; checked when the command runs, so
    that a GPU torch does not see is refused with the CLI's one-line error, exit status 2)."""
    parser.add_argument(
        "--device",
        default=default,
        metavar="{auto,cpu,cuda,cuda:N}",
        help="where the locked models score (default cpu: bit-identical on every machine); "
        "auto: a GPU when torch sees one, else cpu; a GPU that torch does not see is refused, "
        "never replaced by the cpu; the device used is recorded in <predictions "
        "stem>.provenance.json",
    )


def workers_from_args(args: argparse.Namespace) -> Workers:
    """The :class:`Workers` that the options name."""
    return Workers(n=args.workers, scheduler=args.scheduler)
