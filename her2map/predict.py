"""Locked inference over a cohort folder: the predictions table and its exclusions.

:func:`predict_cohort` ingests a cohort (:func:`her2map.ingest.load_cohort`), refuses it if any
patient is in the model's training manifest (test-set firewall, REQ-FW-001), scores every usable
study with :meth:`her2map.lock.LockedModel.predict_study` and writes, atomically:

* ``OUT`` — the predictions table, CSV, one row per predicted patient sorted by ``patient_id``:
  ``patient_id, site, score, modalities, model_lock, lossy_compression``. ``score`` is P(HER2-positive) written with
  ``repr`` (shortest string that round-trips the float exactly), ``modalities`` joins the keys
  present with ``+`` in :data:`~her2map.preprocess.MODALITY_KEYS` order (``MG_CC+MG_MLO+US``),
  ``model_lock`` is the lock hash, and the optional provenance column ``lossy_compression`` is
  ``1`` when any image the prediction read was lossy-compressed (a lossy-capable transfer syntax
  or LossyImageCompression (0028,2110) ``01``, :mod:`her2map.ingest.codecs`), else ``0``.
  Rerunning gives identical bytes (REQ-LOCK-002).
* ``OUT`` with suffix ``.exclusions.csv`` (:func:`exclusions_path`) — every patient or file that
  ingest excluded and that was therefore not predicted: ``patient_id, path, reason, tag``. A
  patient whose images pass ingest but fail to decode (a corrupt compressed stream, an overflowing
  rescale) is one more exclusion naming the file; the other patients are still predicted.

Only pseudonymous ids and the columns above leave the cohort: no DICOM name or birth date is ever
read into the table (REQ-PHI-001).
"""

from __future__ import annotations

from pathlib import Path

from her2map._io import atomic_write_bytes, csv_bytes
from her2map.lock import LockedModel
from her2map.progress import progress as progress_iter

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
    from her2map.exceptions import DicomError
    from her2map.ingest import load_cohort, load_images
    from her2map.ingest.assemble import printable

    locked = LockedModel.load() if model is None else model
    cohort = load_cohort(cohort_dir)
    candidates = {s.patient_id for s in cohort.studies}
    candidates |= {str(pid) for pid in cohort.clinical["patient_id"]}
    locked.check_firewall(candidates, source=f"cohort {cohort_dir}")

    rows: list[list[str]] = []
    excluded = [
        [
            "" if e.patient_id is None else e.patient_id,
            "" if e.path is None else str(e.path),
            e.reason,
            "" if e.tag is None else e.tag,
        ]
        for e in cohort.exclusions
    ]
    studies = progress_iter(
        cohort.studies, total=len(cohort.studies), desc="predict", enabled=progress
    )
    root = f"{cohort.root}/"
    for study in studies:
        try:
            score = locked.predict_study(load_images(study))
        except DicomError as exc:
            reason = str(printable(str(exc).replace(root, "")))
            excluded.append([study.patient_id, "", f"not predicted: {reason}", ""])
            continue
        lossy = any(header.lossy for header in study.headers.values())
        rows.append(
            [
                study.patient_id,
                study.site,
                repr(score),
                "+".join(study.modalities),
                locked.lock_hash,
                "1" if lossy else "0",
            ]
        )
    rows.sort(key=lambda row: row[0])
    excluded.sort()
    out = Path(out_csv)
    atomic_write_bytes(exclusions_path(out), csv_bytes(EXCLUSION_COLUMNS, excluded))
    return atomic_write_bytes(out, csv_bytes(PREDICTION_COLUMNS, rows))
