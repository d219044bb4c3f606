"""Inference throughput: ingest + locked inference versus raw pydicom read + decode.

Synthesizes a cohort (``her2map synth``) into a temporary folder, then measures, on the same files:

* **raw**: ``pydicom.dcmread(path).pixel_array`` for every DICOM file (images/s) — the floor cost
  of touching the pixels;
* **pipeline**: :func:`her2map.ingest.load_cohort` (header validation of every file) plus, for
  every study, :func:`her2map.ingest.load_images` and :meth:`LockedModel.predict_study` (images/s,
  counting DICOM files, so an MR phase series counts as one image), after a warm-up pass that
  runs each modality combination once (torch's one-time kernel set-up, reported separately).

The goal is pipeline >= 50 % of raw. Run ``python benchmarks/bench_inference.py [--quick]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom


def _synthesize(out: Path, patients: int, seed: int) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "her2map",
            "synth",
            "--patients",
            str(patients),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _raw(files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        _ = pydicom.dcmread(path).pixel_array
    return time.perf_counter() - start


def _pipeline(cohort_dir: Path) -> tuple[float, int, float]:
    from her2map import LockedModel
    from her2map.ingest import load_cohort, load_images

    model = LockedModel.load()
    # one-time start-up (torch kernel set-up on first use of each input shape), reported apart
    start = time.perf_counter()
    first = load_cohort(cohort_dir)
    seen: set[tuple[str, ...]] = set()
    for study in first.studies:
        if study.modalities not in seen:
            seen.add(study.modalities)
            model.predict_study(load_images(study))
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    cohort = load_cohort(cohort_dir)
    images = 0
    for study in cohort.studies:
        model.predict_study(load_images(study))
        images += sum(len(paths) for paths in study.files.values())
    return time.perf_counter() - start, images, warmup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (20 patients)")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args(argv)
    patients = 20 if args.quick else args.patients
    with tempfile.TemporaryDirectory() as tmp:
        cohort_dir = Path(tmp) / "cohort"
        _synthesize(cohort_dir, patients, args.seed)
        files = sorted((cohort_dir / "dicom").rglob("*.dcm"))
        _raw(files[: min(10, len(files))])  # warm the file cache
        raw_s = _raw(files)
        pipe_s, used, warmup_s = _pipeline(cohort_dir)
    raw_rate = len(files) / raw_s
    pipe_rate = used / pipe_s
    print(f"patients: {patients}   DICOM files: {len(files)}   used by the pipeline: {used}")
    print(f"raw pydicom read + decode : {raw_rate:10.1f} images/s ({raw_s:.3f} s)")
    print(f"ingest + locked inference : {pipe_rate:10.1f} images/s ({pipe_s:.3f} s)")
    print(f"ratio pipeline / raw      : {pipe_rate / raw_rate:10.2%}   (goal >= 50%)")
    print(f"one-time model warm-up    : {warmup_s:10.3f} s (first use of each input shape)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
