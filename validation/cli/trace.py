"""``her2map trace check``: every requirement verified, every reference real."""

from __future__ import annotations

import argparse
from typing import Any

from validation.trace import check_project

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``trace`` command group."""
    trace = subparsers.add_parser("trace", help="requirements traceability")
    commands = trace.add_subparsers(dest="trace_command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check",
        help="fail with a list when a requirement has no verification or a reference is dangling",
    )
    check.add_argument(
        "--root", default=".", help="project root holding traceability.yaml, tests/, protocols/"
    )
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    report = check_project(args.root)
    if report.ok:
        print(
            f"OK: {report.n_requirements} requirements traced; {report.n_tagged_tests} tagged tests."
        )
        return 0
    print(f"GAPS: {len(report.problems)} problem(s) in the trace:")
    for problem in report.problems:
        print(f"  - {problem}")
    return 1
