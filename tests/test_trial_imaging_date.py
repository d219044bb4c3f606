"""Imaging date and blinding in time (REQ-TRIAL-001): the prediction records the DICOM StudyDate
of what the model read; a biopsy report dated before it is refused; the export carries it."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from trial_models import trial_model

from validation.exceptions import TrialRuleError
from validation.trial import Trial
from validation.trial.imaging import study_date

READ = {"study_uids": ["1.2.3"], "instance_uids": ["1.2.3.1"]}


def _dicom(path: Path, date: str | None) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    with warnings.catch_warnings():  # pydicom warns about the malformed dates written here
        warnings.simplefilter("ignore")
        if date is not None:
            ds.StudyDate = date
        ds.save_as(path, enforce_file_format=True)
    return path


def test_study_date_is_read_from_dicom_and_refused_when_bad(tmp_path: Path) -> None:
    one = _dicom(tmp_path / "a.dcm", "20260304")
    two = _dicom(tmp_path / "b.dcm", "20260304")
    assert study_date([one, two], "P1") == "2026-03-04"
    other = _dicom(tmp_path / "c.dcm", "20260305")
    with pytest.raises(TrialRuleError, match=r"disagree on StudyDate: 2026-03-04 .*2026-03-05"):
        study_date([one, other], "P1")
    for name, bad in (("d.dcm", None), ("e.dcm", "20261345"), ("f.dcm", "2026-03-04")):
        with pytest.raises(TrialRuleError, match=rf"{name}: StudyDate \(0008,0020\) must be"):
            study_date([_dicom(tmp_path / name, bad)], "P1")


@pytest.mark.req("REQ-TRIAL-001")
def test_report_before_imaging_is_refused_and_export_carries_the_date(tmp_path: Path) -> None:
    with Trial.open(tmp_path / "t.db") as trial:
        trial.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        for pid in ("P1", "P2", "P3"):
            trial.enrol(pid, consent_ref="IC", laterality="L", actor="n", site="A")
        with pytest.raises(TrialRuleError, match="carries the imaging_date"):
            trial.record_prediction(
                "P1", score=0.7, threshold=0.5, model_lock="a" * 64, model_name="m",
                modalities="US", source="dicom", read=READ, actor="r", site="A",
            )  # fmt: skip
        with pytest.raises(TrialRuleError, match="imaging_date must be a date"):
            trial.record_prediction(
                "P1", score=0.7, threshold=0.5, model_lock="a" * 64, model_name="m",
                modalities="US", source="dicom", read=READ, imaging_date="04/03/2026",
                actor="r", site="A",
            )  # fmt: skip
        for pid in ("P1", "P2"):
            trial.record_prediction(
                pid, score=0.7, threshold=0.5, model_lock="a" * 64, model_name="m",
                modalities="US", source="dicom", read=READ, imaging_date="2026-03-04",
                actor="r", site="A",
            )  # fmt: skip
        trial.predict_external(
            "P3", score=0.2, model_lock="a" * 64, threshold=0.5, modalities="US",
            actor="r", site="A",
        )  # fmt: skip
        before = trial.ledger.head()
        with pytest.raises(TrialRuleError, match="REPORT-TIME") as info:
            trial.record_biopsy(
                "P1", ihc="0", ish="not_done", report_time="2026-03-03T23:59:00Z",
                actor="p", site="A",
            )  # fmt: skip
        assert "before the imaging date 2026-03-04" in str(info.value)
        assert trial.ledger.head() == before
        trial.record_biopsy(  # the same day as the imaging is possible
            "P2", ihc="0", ish="not_done", report_time="2026-03-04T16:00:00Z", actor="p", site="A"
        )
        trial.record_biopsy(  # an external score has no imaging date to compare
            "P3", ihc="0", ish="not_done", report_time="2026-03-01T16:00:00Z", actor="p", site="A"
        )
        trial.export(tmp_path / "out")
    with (tmp_path / "out" / "trial_data.csv").open(newline="") as handle:
        rows = {r["subject_id"]: r for r in csv.DictReader(handle)}
    assert [rows[p]["imaging_date"] for p in ("P1", "P2", "P3")] == ["2026-03-04", "2026-03-04", ""]
    with (tmp_path / "out" / "data_dictionary.csv").open(newline="") as handle:
        assert any(r["column"] == "imaging_date" for r in csv.DictReader(handle))
