"""Score one enrolled patient's DICOM study with the locked model (``her2map trial predict``).

The harness sees the core only through :class:`her2map.LockedModel` and :mod:`her2map.ingest`
(DESIGN.md). :func:`score_study` ingests a study folder with :func:`her2map.ingest.load_cohort`,
which validates every file and groups them by DICOM tags; files of other patients are excluded by
ingest, never read into the score. :func:`score_pacs` first retrieves the patient's studies from
a PACS over DICOMweb (:func:`her2map.ingest.dicomweb.fetch_patient`: QIDO-RS, then WADO-RS) into
a private temporary folder and scores that folder exactly as :func:`score_study` does.
:func:`score_images` takes either source. Ingest selects images by a patient table of
:data:`her2map.ingest.IMAGING_COLUMNS` (patient id, site, laterality; no label exists at
enrolment): that one-row table is written to a private temporary folder and never leaves this
function.

The imaging date is read from the DICOM StudyDate (0008,0020) of the files the model read
(:func:`study_date`), never typed by a user: blinding is then checked in time against the biopsy
report (:mod:`validation.trial.rules`, rule ``REPORT-TIME``).
"""

from __future__ import annotations

import csv
import dataclasses
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

__all__ = ["ModelScore", "load_model", "score_images", "score_pacs", "score_study", "study_date"]

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
    pacs: str | None = None  # DICOMweb root the images came from (no credentials); None: a folder

    def read(self) -> dict[str, list[str] | str]:
        """The prediction entry's ``read`` field: the studies and files read, and the PACS."""
        read: dict[str, list[str] | str] = {
            "study_uids": list(self.study_uids),
            "instance_uids": list(self.instance_uids),
        }
        if self.pacs is not None:
            read["pacs"] = self.pacs
        return read


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


def score_images(
    patient_id: str,
    *,
    study: str | Path | None,
    pacs: str | None,
    site: str,
    laterality: str,
    model: LockedModel,
) -> ModelScore:
    """:func:`score_study` of the folder ``study`` or :func:`score_pacs` of the DICOMweb root
    ``pacs``; giving both or neither is refused (rule ``VALUE``)."""
    if study is not None and pacs is None:
        return score_study(study, patient_id, site=site, laterality=laterality, model=model)
    if pacs is not None and study is None:
        return score_pacs(pacs, patient_id, site=site, laterality=laterality, model=model)
    raise refuse(
        patient_id,
        _EVENT,
        "VALUE",
        "give exactly one source of the images: a study folder or a PACS (DICOMweb URL)",
    )


def score_study(
    study_dir: str | Path, patient_id: str, *, site: str, laterality: str, model: LockedModel
) -> ModelScore:
    """Run the locked ``model`` on ``patient_id``'s images under ``study_dir``.

    Raises :class:`~validation.exceptions.TrialRuleError` (rule ``IMAGING``) when ingest finds no
    usable image of the patient (with ingest's reasons), and ``her2map``'s FirewallError when the
    patient is in the model's training manifest.
    """
    model.check_firewall([patient_id], source=f"trial study {study_dir}")
    return _score(study_dir, f"under {study_dir}", patient_id, site, laterality, model)


def score_pacs(
    url: str, patient_id: str, *, site: str, laterality: str, model: LockedModel
) -> ModelScore:
    """Retrieve ``patient_id``'s studies from the DICOMweb root ``url`` and score them as
    :func:`score_study` scores a folder; the result names the PACS (URL without credentials).

    Raises :class:`~validation.exceptions.TrialRuleError` (rule ``IMAGING``) when the PACS holds
    no study of the patient or none of its images is usable, ``her2map``'s CohortError when the
    PACS cannot be reached or fails, and FirewallError as :func:`score_study`.
    """
    from her2map.ingest.dicomweb import fetch_patient, public_url

    where = f"on the PACS {public_url(url)}"
    model.check_firewall([patient_id], source=f"trial study {where}")
    with tempfile.TemporaryDirectory(prefix="her2map-trial-pacs-") as tmp:
        folder = Path(tmp) / "study"
        if not fetch_patient(url, patient_id, folder):
            raise refuse(
                patient_id,
                _EVENT,
                "IMAGING",
                f"no study of the patient {where} (QIDO-RS found none)",
            )
        result = _score(folder, where, patient_id, site, laterality, model)
    return dataclasses.replace(result, pacs=public_url(url))


def _score(
    folder: str | Path, where: str, patient_id: str, site: str, laterality: str, model: LockedModel
) -> ModelScore:
    from her2map.ingest import IMAGING_COLUMNS, load_cohort, load_images

    row = {"patient_id": patient_id, "site": site, "laterality": laterality}
    with tempfile.TemporaryDirectory(prefix="her2map-trial-") as tmp:
        clinical = Path(tmp) / "clinical.csv"
        with clinical.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(IMAGING_COLUMNS), lineterminator="\n")
            writer.writeheader()
            writer.writerow(row)
        cohort = load_cohort(folder, clinical=clinical)
    studies = [s for s in cohort.studies if s.patient_id == patient_id]
    if not studies:
        reasons = sorted(
            {e.reason for e in cohort.exclusions if e.patient_id in (patient_id, None)}
        )
        raise refuse(
            patient_id,
            _EVENT,
            "IMAGING",
            f"no usable image of the patient {where} ({'; '.join(reasons) or 'none found'})",
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
        study_uids=tuple(sorted({h.study_uid for h in headers})),
        instance_uids=tuple(sorted(h.sop_instance_uid for h in headers)),
        imaging_date=study_date((h.path for h in headers), patient_id),
    )
