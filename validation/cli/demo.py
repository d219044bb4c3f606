"""``her2map demo [--scale default|paper] [--out DIR]``: the end-to-end demonstration."""

from __future__ import annotations

import argparse
from typing import Any

import validation.demo as demo_module
from validation.demo import SCALES, demo

_DESCRIPTION = demo_module.__doc__

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo",
        help="synthesize a cohort, run the shipped protocols with the locked model, seal dossiers",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="default", help="cohort size")
    parser.add_argument("--out", default="runs/demo", help="demo folder (replaced if it is a demo)")
    parser.add_argument("--seed", type=int, default=20261127, help="seed of the validation cohort")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    demo(out=args.out, scale=args.scale, seed=args.seed)
    return 0
