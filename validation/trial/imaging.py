"""Score one enrolled patient's DICOM study with the locked model (``her2map trial predict``).

The harness sees the core only through :class:`her2map.LockedModel` and :mod:`her2map.ingest`
(DESIGN.md). :func:`score_study` ingests the study folder with :func:`her2map.ingest.load_cohort`,
which validates every file and groups them by DICOM tags; files of other patients are excluded by
ingest, never read into the score. Ingest selects images by a patient table of
:data:`her2map.ingest.IMAGING_COLUMNS` (patient id, site, laterality; no label exists at
enrolment): that one-row table is written to a private temporary folder and never leaves this
function.

The imaging date is read from the DICOM StudyDate (0008,0020) of the files the model read
(:func:`study_date`), never typed by a user: blinding is then checked in time against the biopsy
report (:mod:`validation.trial.rules`, rule ``REPORT-TIME``).
"""

from __future__ import annotations

import csv
import re
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from validation.trial.events import refuse

if TYPE_CHECKING:
    from her2map.lock import LockedModel

__all__ = ["ModelScore", "load_model", "score_study", "study_date"]

_EVENT = "trial.prediction"


@dataclass(frozen=True)
class ModelScore:
    """The locked model's output for one patient and the identity of the model that made it."""

    score: float
    threshold: float
    model_lock: str
    model_name: str
    modalities: tuple[str, ...]
    study_uids: tuple[str, ...] = ()  # StudyInstanceUIDs of the images read (sorted)
    instance_uids: tuple[str, ...] = ()  # SOPInstanceUIDs of the files read (sorted)
    imaging_date: str | None = None  # DICOM StudyDate of the study read, as YYYY-MM-DD


def study_date(paths: Iterable[Path], patient_id: str) -> str:
    """The one StudyDate (0008,0020) of the files read, as ``YYYY-MM-DD``.

    Refuses (rule ``IMAGING``) a file without a valid DA value (``YYYYMMDD``, a real date) and
    files of one study that disagree, naming the file and the values found.
    """
    import pydicom

    found: dict[str, str] = {}
    for path in sorted(paths):
        with warnings.catch_warnings():  # a malformed DA value is refused below, by name
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=[0x00080020])
            raw = str(ds.get("StudyDate", "") or "").strip()
        value = None
        if re.fullmatch(r"\d{8}", raw):
            try:
                value = date(int(raw[:4]), int(raw[4:6]), int(raw[6:])).isoformat()
            except ValueError:
                value = None
        if value is None:
            raise refuse(
                patient_id,
                _EVENT,
                "IMAGING",
                f"{path}: StudyDate (0008,0020) must be a date YYYYMMDD, got {raw!r}; the imaging "
                "date is needed to check blinding in time",
            )
        found.setdefault(value, str(path))
    if len(found) != 1:
        detail = ", ".join(f"{d} ({p})" for d, p in sorted(found.items())) or "no file"
        raise refuse(
            patient_id, _EVENT, "IMAGING", f"the study's files disagree on StudyDate: {detail}"
        )
    return next(iter(found))


def load_model(lock: str | Path | None = None) -> LockedModel:
    """:meth:`her2map.LockedModel.load` (every hash verified; LockError names what differs)."""
    from her2map import LockedModel

    return LockedModel.load(lock)


def score_study(
    study_dir: str | Path, patient_id: str, *, site: str, laterality: str, model: LockedModel
) -> ModelScore:
    """Run the locked ``model`` on ``patient_id``'s images under ``study_dir``.

    Raises :class:`~validation.exceptions.TrialRuleError` (rule ``IMAGING``) when ingest finds no
    usable image of the patient (with ingest's reasons), and ``her2map``'s FirewallError when the
    patient is in the model's training manifest.
    """
    from her2map.ingest import IMAGING_COLUMNS, load_cohort, load_images

    model.check_firewall([patient_id], source=f"trial study {study_dir}")
    row = {"patient_id": patient_id, "site": site, "laterality": laterality}
    with tempfile.TemporaryDirectory(prefix="her2map-trial-") as tmp:
        clinical = Path(tmp) / "clinical.csv"
        with clinical.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(IMAGING_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerow(row)
        cohort = load_cohort(study_dir, clinical=clinical)
    studies = [s for s in cohort.studies if s.patient_id == patient_id]
    if not studies:
        reasons = sorted(
            {e.reason for e in cohort.exclusions if e.patient_id in (patient_id, None)}
        )
        raise refuse(
            patient_id,
            _EVENT,
            "IMAGING",
            f"no usable image of the patient under {study_dir} ({'; '.join(reasons) or 'none found'})",
        )
    study = studies[0]
    score = model.predict_study(load_images(study))
    headers = [
        study.headers[p] for paths in study.files.values() for p in paths if p in study.headers
    ]
    return ModelScore(
        float(score),
        float(model.threshold),
        str(model.lock_hash),
        str(model.name),
        tuple(study.modalities),
        tuple(sorted({h.study_uid for h in headers})),
        tuple(sorted(h.sop_instance_uid for h in headers)),
        study_date((h.path for h in headers), patient_id),
    )
