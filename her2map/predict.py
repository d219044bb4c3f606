"""Locked inference over a cohort folder: the predictions table and its exclusions.

:func:`predict_cohort` ingests a cohort (:func:`her2map.ingest.load_cohort`), refuses it if any
patient is in the model's training manifest (test-set firewall, REQ-FW-001), scores every usable
study with :meth:`her2map.lock.LockedModel.predict_study` and writes, atomically:

* ``OUT`` — the predictions table, CSV, one row per predicted patient sorted by ``patient_id``:
  ``patient_id, site, score, score_pcr, modalities, model_lock, response_lock``. ``score`` is
  P(HER2-positive) written with ``repr`` (shortest string that round-trips the float exactly),
  ``modalities`` joins the keys present with ``+`` in :data:`~her2map.preprocess.MODALITY_KEYS`
  order (``MG_CC+MG_MLO+US``), ``model_lock`` is the lock hash. ``score_pcr`` is the
  patient-response model's P(pCR) where it applies — a ``response`` model was given and the
  patient's ``pathway`` is ``neoadjuvant`` (its planned ``therapy`` is the model's second input) —
  and empty elsewhere; ``response_lock`` is that model's lock hash (empty without one). Rerunning
  gives identical bytes (REQ-LOCK-002).
* ``OUT`` with suffix ``.exclusions.csv`` (:func:`exclusions_path`) — every patient or file that
  ingest excluded and that was therefore not predicted: ``patient_id, path, reason, tag``.

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
    "score_pcr",
    "modalities",
    "model_lock",
    "response_lock",
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
    response: LockedModel | None = None,
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
    response : LockedModel, optional
        The patient-response model (target ``pcr``); ``score_pcr`` stays empty without it. It
        reads the treatment plan (``pathway``, ``therapy``) of clinical.csv beside the images.
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
    from her2map.ingest import IMAGING_COLUMNS, PLAN_COLUMNS, load_cohort, load_images

    locked = LockedModel.load() if model is None else model
    for role, which, target in (("model", locked, "her2"), ("response", response, "pcr")):
        if which is not None and which.target != target:
            raise ValueError(
                f"{role} must be a locked model of target {target!r}, got {which.target!r}"
            )
    columns = IMAGING_COLUMNS if response is None else IMAGING_COLUMNS + PLAN_COLUMNS
    cohort = load_cohort(cohort_dir, columns=columns)
    candidates = {s.patient_id for s in cohort.studies}
    candidates |= {str(pid) for pid in cohort.clinical["patient_id"]}
    for which in (locked, response):
        if which is not None:
            which.check_firewall(candidates, source=f"cohort {cohort_dir}")
    plan = cohort.clinical.set_index("patient_id") if response is not None else None

    rows: list[list[str]] = []
    studies = progress_iter(
        cohort.studies, total=len(cohort.studies), desc="predict", enabled=progress
    )
    for study in studies:
        images = load_images(study)
        score = locked.predict_study(images)
        score_pcr = ""
        if plan is not None and response is not None:
            course = plan.loc[study.patient_id]
            if course["pathway"] == "neoadjuvant":
                score_pcr = repr(response.predict_study(images, therapy=str(course["therapy"])))
        rows.append(
            [
                study.patient_id,
                study.site,
                repr(score),
                score_pcr,
                "+".join(study.modalities),
                locked.lock_hash,
                "" if response is None else response.lock_hash,
            ]
        )
    rows.sort(key=lambda row: row[0])
    excluded = sorted(
        (
            [
                "" if e.patient_id is None else e.patient_id,
                "" if e.path is None else str(e.path),
                e.reason,
                "" if e.tag is None else e.tag,
            ]
            for e in cohort.exclusions
        ),
    )
    out = Path(out_csv)
    atomic_write_bytes(exclusions_path(out), csv_bytes(EXCLUSION_COLUMNS, excluded))
    return atomic_write_bytes(out, csv_bytes(PREDICTION_COLUMNS, rows))
