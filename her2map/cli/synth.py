"""``her2map synth``: write a virtual multi-site cohort (see :func:`her2map.synth.synth`)."""

from __future__ import annotations

import argparse
import dataclasses

from her2map.cli._argtypes import int_at_least
from her2map.synth import DEFAULT_PARAMS, ImageSizes, synth
from her2map.synth.imaging import FIDELITY

__all__ = ["register"]


_positive_int = int_at_least(1, must_be="a positive integer")
_seed = int_at_least(0, must_be="a non-negative integer")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``synth`` subcommand."""
    defaults = ImageSizes()
    parser = subparsers.add_parser(
        "synth",
        help="generate a deterministic virtual multi-site cohort (DICOM + clinical.csv)",
        description="Generate a virtual four-site HER2 cohort: DICOM studies, clinical.csv, "
        "truth.csv and cohort.json. Same seed, same bytes. Refuses a non-empty --out.",
    )
    parser.add_argument("--patients", type=_positive_int, required=True, help="number of patients")
    parser.add_argument("--seed", type=_seed, required=True, help="non-negative integer seed")
    parser.add_argument("--out", required=True, help="cohort folder to create (must not exist)")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="processes (default: 2 from 200 patients, else 1)",
    )
    parser.add_argument(
        "--fidelity",
        choices=sorted(FIDELITY),
        default="toy",
        help="image sizes: toy (small, the default) or clinical (3328^2 MG, 800^2 US, "
        "512^2 x 96-slice MR phases); the size options below override single sizes",
    )
    parser.add_argument(
        "--mg-size", type=_positive_int, default=None, help=f"default {defaults.mg}"
    )
    parser.add_argument(
        "--us-size", type=_positive_int, default=None, help=f"default {defaults.us}"
    )
    parser.add_argument(
        "--mr-size", type=_positive_int, default=None, help=f"default {defaults.mr}"
    )
    parser.add_argument(
        "--mr-slices", type=_positive_int, default=None, help=f"default {defaults.mr_slices}"
    )
    parser.add_argument(
        "--mr-phases",
        type=_positive_int,
        default=None,
        help=f"DCE phases including pre-contrast (>= 3; default {defaults.mr_phases})",
    )
    parser.set_defaults(func=_handle)


def _handle(args: argparse.Namespace) -> int:
    preset = FIDELITY[args.fidelity]
    given = {
        "mg": args.mg_size,
        "us": args.us_size,
        "mr": args.mr_size,
        "mr_slices": args.mr_slices,
        "mr_phases": args.mr_phases,
    }
    sizes = dataclasses.replace(preset, **{k: v for k, v in given.items() if v is not None})
    params = dataclasses.replace(DEFAULT_PARAMS, sizes=sizes)
    summary = synth(
        args.out, patients=args.patients, seed=args.seed, params=params, workers=args.workers
    )
    print(f"wrote {summary.n_patients} patients, {summary.n_images} DICOM files to {summary.out}")
    print("sites: " + ", ".join(f"{k}={v}" for k, v in summary.site_counts.items()))
    return 0
