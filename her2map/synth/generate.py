"""``synth``: write a whole virtual multi-site cohort folder, atomically and deterministically.

Layout (docs/INTERFACES.md): ``clinical.csv``, ``truth.csv``, ``cohort.json`` and
``dicom/<patient_id>/<series>/1.dcm``. The folder is built as ``<out>.tmp-<pid>-<seed>`` beside
``out`` and renamed into place at the end (after ``os.sync``), so a crash leaves either the whole
cohort or none; an existing non-empty ``out`` is refused. Patients are generated and written in
chunks by up to ``workers`` processes and streamed to disk (memory stays flat); every patient's
draws depend only on ``(seed, stream, patient index)``, so the bytes do not depend on the worker
count. ``n_images`` counts DICOM files: each mammography view, the ultrasound image and each DCE-MRI
phase (one multi-frame file per phase), as the HER2 MAP paper counted 14,472 images for 6,991
patients.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from her2map import __version__
from her2map._io import fsync_dir
from her2map.exceptions import CohortError
from her2map.synth.clinical import (
    CLINICAL_COLUMNS,
    STREAM_IDENTITY,
    STREAM_IMAGING,
    TRUTH_COLUMNS,
    assign_sites,
    choose_modalities,
    patient_rng,
    simulate_patient,
)
from her2map.synth.dicom_writer import fake_identity, write_study
from her2map.synth.imaging import render_images
from her2map.synth.parameters import DEFAULT_PARAMS, SynthParams

__all__ = ["SynthSummary", "synth"]

_CHUNK = 32
_PARALLEL_MIN_PATIENTS = 200

_Result = tuple[dict[str, object], dict[str, object], tuple[str, ...], int]


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`synth` wrote: folder, patients, DICOM files, site and modality counts."""

    out: Path
    seed: int
    n_patients: int
    n_images: int
    site_counts: dict[str, int]
    modality_counts: dict[str, int]


def _generate_chunk(
    job: tuple[int, list[int], list[str], str, SynthParams],
) -> list[_Result]:
    seed, indices, sites, dicom_root, params = job
    results: list[_Result] = []
    for index, site_id in zip(indices, sites, strict=True):
        patient = simulate_patient(seed, index, site_id, params)
        site = patient.site
        modalities = choose_modalities(seed, index, site_id, params)
        row = patient.row
        images = render_images(
            patient_rng(seed, STREAM_IMAGING, index),
            patient.tumor,
            patient.density_index,
            str(row["laterality"]),
            modalities,
            site,
            params,
        )
        identity = fake_identity(patient_rng(seed, STREAM_IDENTITY, index), int(str(row["age"])))
        count = write_study(
            Path(dicom_root),
            seed=seed,
            patient_id=str(row["patient_id"]),
            laterality=str(row["laterality"]),
            identity=identity,
            site=site,
            images=images,
            sizes=params.sizes,
        )
        results.append((row, patient.truth, modalities, count))
    return results


def _check_args(patients: object, seed: object, workers: object) -> None:
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
        raise CohortError(f"patients must be a positive integer; got {patients!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CohortError(f"seed must be a non-negative integer; got {seed!r}.")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise CohortError(f"workers must be a positive integer or None; got {workers!r}.")


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CohortError(
            f"output folder {out} already exists and is not empty; "
            "choose a new --out or remove it first (synth never overwrites a cohort)."
        )


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [repr(v) if isinstance(v, float) else v for v in (row[c] for c in columns)]
            )
        handle.flush()
        os.fsync(handle.fileno())


def _run_jobs(
    jobs: list[tuple[int, list[int], list[str], str, SynthParams]], workers: int
) -> Iterable[list[_Result]]:
    if workers == 1:
        yield from map(_generate_chunk, jobs)
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        yield from pool.imap(_generate_chunk, jobs)
        pool.close()
        pool.join()


def synth(
    out: str | os.PathLike[str],
    *,
    patients: int,
    seed: int,
    params: SynthParams = DEFAULT_PARAMS,
    workers: int | None = None,
) -> SynthSummary:
    """Generate a virtual multi-site cohort of ``patients`` patients from ``seed`` into ``out``.

    Parameters
    ----------
    out : path
        Cohort folder to create; must not exist or be empty.
    patients : int
        Number of patients (>= 1).
    seed : int
        Non-negative seed; the same seed and parameters give byte-identical files.
    params : SynthParams
        Biology, imaging effect sizes, image sizes and sites (default :data:`DEFAULT_PARAMS`).
    workers : int, optional
        Processes to use; default 2 (or the CPU count if lower) from 200 patients, else 1.

    Returns
    -------
    SynthSummary

    Raises
    ------
    CohortError
        Bad arguments, or ``out`` exists and is not empty.
    """
    _check_args(patients, seed, workers)
    out = Path(out)
    _check_out(out)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if patients >= _PARALLEL_MIN_PATIENTS else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}-{seed}"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "dicom").mkdir(parents=True)
    try:
        summary = _build(tmp, out, patients, seed, params, workers)
        os.sync()
        try:
            os.replace(tmp, out)
        except OSError as exc:
            raise CohortError(
                f"could not move the finished cohort into {out} ({exc}); another process may "
                f"have written there meanwhile. Choose a new --out."
            ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(out.parent)
    return summary


def _build(
    tmp: Path, out: Path, patients: int, seed: int, params: SynthParams, workers: int
) -> SynthSummary:
    sites = assign_sites(patients, seed, params)
    jobs = [
        (seed, list(range(lo, min(lo + _CHUNK, patients))), sites[lo : lo + _CHUNK],
         str(tmp / "dicom"), params)
        for lo in range(0, patients, _CHUNK)
    ]  # fmt: skip
    rows: list[dict[str, object]] = []
    truths: list[dict[str, object]] = []
    combos: Counter[str] = Counter()
    n_images = 0
    for chunk in _run_jobs(jobs, workers):
        for row, truth, modalities, count in chunk:
            rows.append(row)
            truths.append(truth)
            combos["+".join(modalities)] += 1
            n_images += count
    _write_csv(tmp / "clinical.csv", CLINICAL_COLUMNS, rows)
    _write_csv(tmp / "truth.csv", TRUTH_COLUMNS, truths)
    site_counts = dict(sorted(Counter(sites).items()))
    modality_counts = dict(sorted(combos.items()))
    meta = {
        "generator": "her2map.synth",
        "software_version": __version__,
        "seed": seed,
        "n_patients": patients,
        "n_images": n_images,
        "image_count_rule": "DICOM files: each MG view (CC, MLO), the US image, each DCE-MRI phase",
        "site_counts": site_counts,
        "modality_counts": modality_counts,
        "params": dataclasses.asdict(params),
    }
    with open(tmp / "cohort.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return SynthSummary(out, seed, patients, n_images, site_counts, modality_counts)
