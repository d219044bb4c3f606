"""``her2map predict``: score a cohort (a folder, or a PACS over DICOMweb) with the locked model."""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from her2map.cli._workers import add_device_option, add_worker_options, workers_from_args

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="predict HER2 status of every patient of a cohort with the locked model",
        description=(
            "Verify the model lock, refuse cohorts that overlap the training manifest, and write "
            "the predictions table (patient_id, site, score, score_pcr, modalities, model_lock, "
            "response_lock, lossy_compression) plus the exclusions next to it. score_pcr is the "
            "patient-response model's P(pCR) for neoadjuvant patients (from the imaging and the "
            "planned therapy; cohort folders only). The images come from a cohort "
            "folder (--cohort) or from a PACS over DICOMweb (--pacs URL --clinical FILE: "
            "QIDO-RS finds each patient's studies, WADO-RS retrieves them). The device that "
            "scored is recorded in <out stem>.provenance.json beside the table."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cohort", help="cohort folder (clinical.csv + DICOM)")
    source.add_argument("--pacs", metavar="URL", help="DICOMweb root of a PACS")
    parser.add_argument(
        "--clinical", default=None, help="clinical table of the patients (required with --pacs)"
    )
    parser.add_argument("--out", required=True, help="predictions CSV to write")
    parser.add_argument("--lock", default=None, help="lock file (default: the shipped model)")
    parser.add_argument(
        "--response-lock",
        default=None,
        help="lock of the patient-response model (default: the shipped one)",
    )
    parser.add_argument(
        "--no-response",
        action="store_true",
        help="do not run the response model (score_pcr stays empty)",
    )
    add_device_option(parser)
    add_worker_options(parser)
    parser.set_defaults(func=_run, parser=parser)


def _count_rows(path: str) -> int:
    with open(path, newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _devices(out: Path) -> str:
    """The devices that scored, as the provenance file beside the table records them."""
    from her2map.predict import provenance_path

    return ", ".join(json.loads(provenance_path(out).read_text(encoding="utf-8"))["devices"])


def _run(args: argparse.Namespace) -> int:
    from her2map.lock import LockedModel
    from her2map.predict import exclusions_path, predict_cohort

    if args.no_response and args.response_lock is not None:
        args.parser.error("--response-lock and --no-response exclude each other; give one")
    if args.pacs is not None and args.clinical is None:
        args.parser.error("--pacs needs --clinical FILE (the patients to retrieve)")
    if args.cohort is not None and args.clinical is not None:
        args.parser.error("--clinical goes with --pacs; a cohort folder holds its clinical.csv")
    from her2map.device import resolve_device

    device = resolve_device(args.device)  # refused before any lock or image is read
    model = LockedModel.load(args.lock)
    workers = workers_from_args(args)
    if args.pacs is None:
        response = None
        if not args.no_response:
            from her2map.lock import DEFAULT_RESPONSE_LOCK

            response = LockedModel.load(args.response_lock or DEFAULT_RESPONSE_LOCK)
        out = predict_cohort(
            args.cohort, args.out, model=model, response=response, workers=workers, device=device
        )
    else:
        from her2map.ingest.dicomweb import fetch_cohort

        with tempfile.TemporaryDirectory(prefix="her2map-pacs-") as tmp:
            cohort = fetch_cohort(args.pacs, args.clinical, Path(tmp) / "cohort")
            out = predict_cohort(cohort, args.out, model=model, workers=workers, device=device)
    excluded = exclusions_path(out)
    print(
        f"predicted {_count_rows(str(out))} patient(s) with {model.name} {model.version} "
        f"(lock {model.lock_hash[:12]}) on {_devices(out)}; {_count_rows(str(excluded))} "
        f"exclusion(s) in {excluded}"
    )
    print(f"predictions: {out}")
    return 0
