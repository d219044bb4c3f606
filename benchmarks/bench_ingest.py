"""Ingest throughput: our ingest path versus raw pydicom read + decode, in images per second.

Run ``python benchmarks/bench_ingest.py [--quick] [--patients N] [--repeats R]``.

* **raw**: ``pydicom.dcmread(path).pixel_array`` for every DICOM file of the cohort (no
  validation, no grouping) — the floor cost of touching every image once.
* **ours**: ``load_cohort`` (header scan and all validation rules) + ``load_images`` for every
  study, plus, when given, a per-study ``infer(images)`` callable. The model's inference is added
  there later (:func:`our_path_rate` takes it), so the same figure covers ingest + inference.

An "image" is one DICOM file: each MG view, US image and DCE-MRI phase (a multi-frame file).
Goal: ours >= 50% of raw.

**Clinical size** (second part; ``--clinical-patients 0`` skips it): a cohort written by
``her2map synth --fidelity clinical`` (3328^2 mammograms, 800^2 ultrasound, 96 x 512^2 MR
phases), timed with ``--workers`` processes on both sides: raw pydicom decode of every file, and
ours = ``load_cohort`` then, per study in the worker pool, ``load_images`` + the shipped locked
model's ``predict_study`` (ingest + inference, including the anti-aliased reduction). Each figure is the best of ``--repeats`` runs (least disturbed by other
processes) on the same files, on a synthetic cohort written by :func:`her2map.synth.synth`.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from her2map.ingest import StudyRef, load_cohort, load_images
from her2map.lock import LockedModel
from her2map.synth import DEFAULT_PARAMS, synth
from her2map.synth.imaging import FIDELITY

__all__ = [
    "Rate",
    "main",
    "our_parallel_rate",
    "our_path_rate",
    "raw_parallel_rate",
    "raw_pydicom_rate",
    "warm_model",
]

GOAL = 0.5

Infer = Callable[[dict[str, np.ndarray]], object]


@dataclass(frozen=True)
class Rate:
    """Images processed and the best wall time over the repeats."""

    name: str
    images: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.images / self.seconds


def _best(run: Callable[[], int], repeats: int) -> tuple[int, float]:
    best = float("inf")
    images = 0
    for _ in range(repeats):
        start = time.perf_counter()
        images = run()
        best = min(best, time.perf_counter() - start)
    return images, best


def raw_pydicom_rate(paths: Sequence[Path], *, repeats: int = 3) -> Rate:
    """Read and decode every file with plain pydicom."""

    def run() -> int:
        for path in paths:
            _ = pydicom.dcmread(path).pixel_array
        return len(paths)

    images, seconds = _best(run, repeats)
    return Rate("raw pydicom dcmread + pixel_array", images, seconds)


def our_path_rate(root: Path, *, infer: Infer | None = None, repeats: int = 3) -> Rate:
    """``load_cohort`` + ``load_images`` (+ ``infer(images)`` per study when given)."""

    def run() -> int:
        cohort = load_cohort(root)
        for study in cohort.studies:
            images = load_images(study)
            if infer is not None:
                infer(images)
        return cohort.n_used

    images, seconds = _best(run, repeats)
    name = "ours: load_cohort + load_images" + (" + inference" if infer is not None else "")
    return Rate(name, images, seconds)


def _decode(path: Path) -> int:
    _ = pydicom.dcmread(path).pixel_array
    return 1


_MODEL: LockedModel | None = None
_STUDIES: tuple[StudyRef, ...] = ()  # set before the pool forks (StudyRef holds mappingproxies)


def _load_model() -> None:
    global _MODEL
    _MODEL = LockedModel.load()


def _predict(index: int) -> int:
    assert _MODEL is not None  # set by warm_model before the pool forks
    study = _STUDIES[index]
    _MODEL.predict_study(load_images(study))
    return study.n_images


def _pool(workers: int, initializer: Callable[[], None] | None = None) -> object:
    return multiprocessing.get_context("fork").Pool(workers, initializer=initializer)


def raw_parallel_rate(paths: Sequence[Path], *, workers: int, repeats: int = 1) -> Rate:
    """Plain pydicom read + decode of every file in ``workers`` processes."""

    def run() -> int:
        with _pool(workers) as pool:  # type: ignore[attr-defined]
            return sum(pool.map(_decode, paths, chunksize=1))

    images, seconds = _best(run, repeats)
    return Rate(f"raw pydicom decode, {workers} processes", images, seconds)


def warm_model() -> float:
    """Load and verify the shipped lock and run it once on a tiny image, in this process; the
    worker processes fork from it. Returns the seconds taken: the one-time start-up (torch loads
    several hundred modules on the first inference) that a long-running service pays once,
    reported apart from the per-image figures."""
    start = time.perf_counter()
    _load_model()
    assert _MODEL is not None
    _MODEL.predict_study({"US": np.arange(256, dtype=np.float32).reshape(16, 16)})
    return time.perf_counter() - start


def our_parallel_rate(root: Path, *, workers: int, repeats: int = 1) -> Rate:
    """``load_cohort``, then ``load_images`` + locked inference per study in ``workers`` processes
    forked from this one after :func:`warm_model`."""

    def run() -> int:
        global _STUDIES
        _STUDIES = load_cohort(root).studies
        with _pool(workers) as pool:  # type: ignore[attr-defined]
            return sum(pool.map(_predict, range(len(_STUDIES)), chunksize=1))

    images, seconds = _best(run, repeats)
    return Rate(f"ours: ingest + inference, {workers} processes", images, seconds)


def _report(rates: Sequence[Rate], baseline: Rate) -> None:
    for rate in (baseline, *rates):
        print(
            f"{rate.name:<48} {rate.images:6d} images {rate.seconds:8.3f} s "
            f"{rate.per_second:10.1f} images/s"
        )
    for rate in rates:
        ratio = rate.per_second / baseline.per_second
        verdict = "meets" if ratio >= GOAL else "MISSES"
        print(f"ratio {rate.name} / raw = {ratio:.2f} ({verdict} goal >= {GOAL:.2f})")


def main(argv: Sequence[str] | None = None, *, infer: Infer | None = None) -> int:
    """Write a synthetic cohort, time both paths on it and print images/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run (20 patients)")
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--clinical-patients", type=int, default=3, help="clinical-size part (0 skips it)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes, clinical part")
    args = parser.parse_args(argv)
    patients, repeats = (20, 1) if args.quick else (args.patients, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cohort"
        synth(root, patients=patients, seed=args.seed)
        paths = sorted(p for p in (root / "dicom").rglob("*") if p.is_file())
        print(f"cohort: {patients} patients, {len(paths)} DICOM files, best of {repeats}")
        baseline = raw_pydicom_rate(paths, repeats=repeats)
        rates = [our_path_rate(root, repeats=repeats)]
        if infer is not None:
            rates.append(our_path_rate(root, infer=infer, repeats=repeats))
        _report(rates, baseline)
    if args.clinical_patients > 0 and not args.quick:
        _clinical(args.clinical_patients, args.workers)
    return 0


def _clinical(patients: int, workers: int) -> None:
    """Seed 5: with 3 patients, MG+US, US and MG+MR (every modality at clinical size)."""
    params = dataclasses.replace(DEFAULT_PARAMS, sizes=FIDELITY["clinical"])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cohort"
        synth(root, patients=patients, seed=5, params=params, workers=workers)
        paths = sorted(p for p in (root / "dicom").rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in paths) / 2**20
        print(
            f"clinical size: {patients} patients, {len(paths)} DICOM files ({size:.0f} MiB), "
            f"{workers} worker processes"
        )
        print(
            f"model load + first inference (once per service, not per image): {warm_model():.1f} s"
        )
        _report(
            [our_parallel_rate(root, workers=workers)], raw_parallel_rate(paths, workers=workers)
        )


if __name__ == "__main__":
    sys.exit(main())
