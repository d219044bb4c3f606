"""``her2map predict``: score a cohort with the locked model."""

from __future__ import annotations

import argparse
import csv

from her2map.cli._workers import add_worker_options, workers_from_args

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="predict HER2 status of every patient of a cohort with the locked model",
        description=(
            "Verify the model lock, refuse cohorts that overlap the training manifest, and write "
            "the predictions table (patient_id, site, score, modalities, model_lock) plus the "
            "exclusions next to it."
        ),
    )
    parser.add_argument("--cohort", required=True, help="cohort folder (clinical.csv + DICOM)")
    parser.add_argument("--out", required=True, help="predictions CSV to write")
    parser.add_argument("--lock", default=None, help="lock file (default: the shipped model)")
    add_worker_options(parser)
    parser.set_defaults(func=_run)


def _count_rows(path: str) -> int:
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _run(args: argparse.Namespace) -> int:
    from her2map.lock import LockedModel
    from her2map.predict import exclusions_path, predict_cohort

    model = LockedModel.load(args.lock)
    out = predict_cohort(args.cohort, args.out, model=model, workers=workers_from_args(args))
    excluded = exclusions_path(out)
    print(
        f"predicted {_count_rows(str(out))} patient(s) with {model.name} {model.version} "
        f"(lock {model.lock_hash[:12]}); {_count_rows(str(excluded))} exclusion(s) in {excluded}"
    )
    print(f"predictions: {out}")
    return 0
