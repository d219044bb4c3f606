"""Locked inference over a cohort folder: the predictions table and its exclusions.

:func:`predict_cohort` ingests a cohort (:func:`her2map.ingest.load_cohort`), refuses it if any
patient is in the model's training manifest (test-set firewall, REQ-FW-001), scores every usable
study with :meth:`her2map.lock.LockedModel.predict_study` and writes, atomically:

* ``OUT`` — the predictions table, CSV, one row per predicted patient sorted by ``patient_id``:
  ``patient_id, site, score, modalities, model_lock, lossy_compression``. ``score`` is
  P(HER2-positive) written with ``repr`` (shortest string that round-trips the float exactly),
  ``modalities`` joins the keys present with ``+`` in :data:`~her2map.preprocess.MODALITY_KEYS`
  order (``MG_CC+MG_MLO+US``), ``model_lock`` is the lock hash, and the optional provenance column
  ``lossy_compression`` is ``1`` when any image the prediction read was lossy-compressed (a
  lossy-capable transfer syntax or LossyImageCompression (0028,2110) ``01``,
  :mod:`her2map.ingest.codecs`), else ``0``. Rerunning gives identical bytes (REQ-LOCK-002).
* ``OUT`` with suffix ``.exclusions.csv`` (:func:`exclusions_path`) — every patient or file that
  ingest excluded and that was therefore not predicted: ``patient_id, path, reason, tag``. A
  patient whose images pass ingest but fail to decode (a corrupt compressed stream, an
  overflowing rescale) is one more exclusion naming the file; the other patients are still
  predicted.

Only pseudonymous ids and the columns above leave the cohort: no DICOM name or birth date is ever
read into the table (REQ-PHI-001).

With ``workers`` (:class:`her2map.parallel.Workers`) the usable studies are cut into contiguous
shards of whole patients and scored on Dask; each worker loads and verifies the lock itself and
refuses a lock whose hash differs from the one the caller verified. Every patient is scored exactly
once (checked: no shard is padded, no case duplicated or lost) and the rows are sorted by
``patient_id`` as in the serial run, so the table has the same bytes whatever the number of
workers (REQ-LOCK-002).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

from her2map._io import atomic_write_bytes, csv_bytes
from her2map.exceptions import DicomError, Her2MapError, LockError
from her2map.lock import LockedModel
from her2map.parallel import Session, Workers, active, session

__all__ = [
    "EXCLUSION_COLUMNS",
    "PREDICTION_COLUMNS",
    "exclusions_path",
    "predict_cohort",
]

PREDICTION_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "score",
    "modalities",
    "model_lock",
    "lossy_compression",
)
#: One scored study: ``("row", prediction row)`` or ``("excluded", exclusion row)``.
Outcome = tuple[str, list[str]]
EXCLUSION_COLUMNS: tuple[str, ...] = ("patient_id", "path", "reason", "tag")


def exclusions_path(out_csv: str | Path) -> Path:
    """Where the exclusions of ``out_csv`` go: ``predictions.csv`` -> ``predictions.exclusions.csv``."""
    out = Path(out_csv)
    return out.with_name(f"{out.stem}.exclusions.csv")


def predict_cohort(
    cohort_dir: str | Path,
    out_csv: str | Path,
    *,
    model: LockedModel | None = None,
    progress: bool | None = None,
    workers: Workers | None = None,
) -> Path:
    """Predict every usable patient of ``cohort_dir`` with the locked model; write ``out_csv``.

    Parameters
    ----------
    cohort_dir : path
        Cohort folder (``clinical.csv`` + DICOM files), see :func:`her2map.ingest.load_cohort`.
    out_csv : path
        Predictions table to write; its exclusions go to :func:`exclusions_path` of it.
    model : LockedModel, optional
        Default: the shipped lock, :meth:`LockedModel.load`.
    progress : bool, optional
        Progress bar on stderr; default only when stderr is a terminal.
    workers : Workers, optional
        Where to score: default the active session (:func:`her2map.parallel.active`, this process
        unless inside ``with session(...)``); else shards of patients on Dask (module docstring).

    Returns
    -------
    Path of the predictions table.

    Raises
    ------
    FirewallError
        The cohort shares patients with the training manifest.
    LockError, CohortError, DicomError
        Broken lock, malformed cohort folder, unreadable image.
    """
    from her2map.ingest import load_cohort

    locked = LockedModel.load() if model is None else model
    cohort = load_cohort(cohort_dir)
    candidates = {s.patient_id for s in cohort.studies}
    candidates |= {str(pid) for pid in cohort.clinical["patient_id"]}
    locked.check_firewall(candidates, source=f"cohort {cohort_dir}")

    outcomes = _score(locked, cohort.studies, workers, progress, f"{cohort.root}/")
    rows = sorted((row for kind, row in outcomes if kind == "row"), key=lambda row: row[0])
    excluded = sorted(
        [
            *(
                [
                    "" if e.patient_id is None else e.patient_id,
                    "" if e.path is None else str(e.path),
                    e.reason,
                    "" if e.tag is None else e.tag,
                ]
                for e in cohort.exclusions
            ),
            *(row for kind, row in outcomes if kind == "excluded"),
        ]
    )
    out = Path(out_csv)
    atomic_write_bytes(exclusions_path(out), csv_bytes(EXCLUSION_COLUMNS, excluded))
    return atomic_write_bytes(out, csv_bytes(PREDICTION_COLUMNS, rows))


#: Models loaded by this worker process, by (lock path, lock hash): a shard reuses them.
_LOADED: dict[tuple[str, str], LockedModel] = {}


def _rows(model: LockedModel, root: str, studies: Sequence[Any]) -> list[Outcome]:
    """Score each study; one whose pixels fail to decode becomes an exclusion naming the file
    (relative to the cohort ``root``), so that one file never stops the cohort."""
    from her2map.ingest import load_images
    from her2map.ingest.assemble import printable

    outcomes: list[Outcome] = []
    for study in studies:
        try:
            score = model.predict_study(load_images(study))
        except DicomError as exc:
            reason = str(printable(str(exc).replace(root, "")))
            outcomes.append(("excluded", [study.patient_id, "", f"not predicted: {reason}", ""]))
            continue
        lossy = any(header.lossy for header in study.headers.values())
        row = [
            study.patient_id,
            study.site,
            repr(score),
            "+".join(study.modalities),
            model.lock_hash,
            "1" if lossy else "0",
        ]
        outcomes.append(("row", row))
    return outcomes


def _score_shard(
    lock_path: str, lock_hash: str, root: str, studies: Sequence[Any]
) -> list[Outcome]:
    """Score one shard on a worker with the lock loaded and verified there."""
    key = (lock_path, lock_hash)
    if key not in _LOADED:
        model = LockedModel.load(lock_path)
        if model.lock_hash != lock_hash:
            raise LockError(
                f"lock {lock_path} on this worker hashes to {model.lock_hash}, not the "
                f"{lock_hash} verified by the caller: workers must see the same lock file"
            )
        _LOADED[key] = model
    return _rows(_LOADED[key], root, studies)


def _score(
    model: LockedModel,
    studies: Sequence[Any],
    workers: Workers | None,
    progress: bool | None,
    root: str,
) -> list[Outcome]:
    """Outcomes of every study: here one patient at a time, or in shards of patients on Dask."""
    with session(workers) if workers is not None else nullcontext(active()) as place:
        return _score_on(place, model, studies, progress, root)


def _score_on(
    place: Session, model: LockedModel, studies: Sequence[Any], progress: bool | None, root: str
) -> list[Outcome]:
    workers = place.workers
    if workers.serial:
        task: Any = partial(_rows, model, root)
        shards = [[study] for study in studies]
    else:
        task = partial(_score_shard, str(model.lock_path), model.lock_hash, root)
        size = max(1, math.ceil(len(studies) / (4 * workers.n)))
        shards = [list(studies[i : i + size]) for i in range(0, len(studies), size)]
    unit = "patient" if workers.serial else "shard"
    done = place.map(task, shards, progress=progress, desc="predict", unit=unit)
    outcomes = [outcome for shard in done for outcome in shard]
    wanted = [study.patient_id for study in studies]
    got = [row[0] for _, row in outcomes]
    if got != wanted:  # never a padded, duplicated or lost case
        raise Her2MapError(
            f"inference returned {len(got)} row(s) ({len(set(got))} distinct patients) for "
            f"{len(wanted)} patient(s); refusing an incomplete or duplicated table"
        )
    return outcomes
