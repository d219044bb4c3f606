"""``her2map import duke|cmmd`` on small fabricated fixtures in those data sets' layouts.

The fixtures are made from a synthesized cohort: its Enhanced MR phases rewritten as classic MR
series in Duke's folder layout (plus a non-DCE T1 series and a stray file), and its mammograms
under CMMD ids; the spreadsheets are written with openpyxl in each data set's header layout.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pydicom
import pytest
from classic_mr import enhanced_to_classic
from locks import make_lock

from her2map import LockedModel
from her2map.cli import main
from her2map.exceptions import CohortError
from her2map.importers import import_duke
from her2map.ingest import load_cohort
from her2map.predict import predict_cohort
from her2map.synth import synth


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("importers") / "synth"
    synth(root, patients=5, seed=5, workers=1)  # seed 5: one MR-only patient, MG patients
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    return LockedModel.load(make_lock(tmp_path_factory.mktemp("lock"), training=["Q-OTHER"]))


def _study_with(source: Path, modality: str) -> tuple[str, list[Path]]:
    """The first patient whose only modality is ``modality`` (MG: CC and MLO), and its files."""
    cohort = load_cohort(source)
    study = next(s for s in cohort.studies if {k[:2] for k in s.modalities} == {modality})
    paths = [p for k, ps in study.files.items() if k.startswith(modality) for p in ps]
    return study.patient_id, paths


def _save(item: pydicom.Dataset, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    item.save_as(target, enforce_file_format=True)


def _write_xlsx(path: Path, rows: list[list[object]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)


def _duke_fixture(source: Path, tmp: Path, *, her2_code: int) -> tuple[Path, Path, str]:
    """Duke layout for the synthetic MR patient, renamed Breast_MRI_001."""
    original_id, phases = _study_with(source, "MR")
    images = tmp / "Duke-Breast-Cancer-MRI"
    rng = np.random.default_rng(7)
    study_dir = images / "Breast_MRI_001" / "01-01-1990-NA-MRI BREASTUNI-12345"
    for k, path in enumerate(phases):
        ds = pydicom.dcmread(path)
        ds.PatientID = "Breast_MRI_001"
        name = "ax dyn pre" if k == 0 else f"ax dyn {k}st pass"
        for n, item in enumerate(
            enhanced_to_classic(
                ds, rng=rng, order_by="description", salt=str(path), description=name
            )
        ):
            _save(item, study_dir / f"{k + 3}.000000-{name}-{k}" / f"1-{n + 1:03d}.dcm")
        if k == 0:  # a non-DCE T1 series of the same patient: not a phase
            for n, item in enumerate(
                enhanced_to_classic(
                    ds, rng=rng, order_by="description", salt="t1", description="ax t1"
                )
            ):
                _save(item, study_dir / "2.000000-ax t1-1" / f"1-{n + 1:03d}.dcm")
    (images / "Breast_MRI_001" / "LICENSE.txt").parent.mkdir(parents=True, exist_ok=True)
    (images / "Breast_MRI_001" / "LICENSE.txt").write_text("CC BY-NC 4.0\n")
    spreadsheet = tmp / "Clinical_and_Other_Features.xlsx"
    _write_xlsx(
        spreadsheet,
        [
            ["Patient Information", None, None, None, None, None, "Pathology"],
            ["Patient ID", "Date of Birth (Days)", "ER", "PR", "HER2", "Tumor Location",
             "Pathologic response to Neoadjuvant therapy: Pathologic complete response (pCR)"],
            [None, "{days}", "{0 = neg, 1 = pos}", "{0 = neg, 1 = pos}",
             "{0 = neg, 1 = pos, 2 = borderline}", "{L = left, R = right}",
             "{-1 = NA, 0 = no pCR, 1 = pCR}"],
            ["Breast_MRI_001", -18000, 1, 0, her2_code, "L", 1],
            ["Breast_MRI_002", -20000, 0, 0, 2, "R", -1],
        ],
    )  # fmt: skip
    return images, spreadsheet, original_id


@pytest.mark.req("REQ-ING-001")
def test_duke_import_assembles_dce_series_and_decodes_the_legend(
    source: Path, model: LockedModel, tmp_path: Path
) -> None:
    images, spreadsheet, original_id = _duke_fixture(source, tmp_path, her2_code=1)
    out = tmp_path / "duke-cohort"
    args = ["import", "duke", "--images", str(images), "--clinical", str(spreadsheet)]
    assert main([*args, "--out", str(out)]) == 0
    clinical = _rows(out / "clinical.csv")
    assert clinical == [
        {"patient_id": "Breast_MRI_001", "site": "Duke", "laterality": "L", "hr_status": "1",
         "reference_her2": "1", "pcr": "1"},
        {"patient_id": "Breast_MRI_002", "site": "Duke", "laterality": "R", "hr_status": "0",
         "reference_her2": "", "pcr": ""},
    ]  # fmt: skip
    report = _rows(out / "import_report.csv")
    n_files = sum(1 for p in images.rglob("*") if p.is_file())
    assert len(report) == n_files  # every source file accounted for
    assert {r["outcome"] for r in report if "ax t1" in r["source"]} == {
        "not a DCE phase (SeriesDescription 'ax t1')"
    }
    assert any(r["source"].endswith("LICENSE.txt") and "not read" in r["outcome"] for r in report)
    predictions = predict_cohort(out, tmp_path / "p.csv", model=model)
    imported = {r["patient_id"]: r for r in _rows(predictions)}
    reference = predict_cohort(source, tmp_path / "o.csv", model=model)
    original = {r["patient_id"]: r for r in _rows(reference)}
    assert list(imported) == ["Breast_MRI_001"]
    assert original[original_id]["modalities"] == "MR"
    assert imported["Breast_MRI_001"]["score"] == original[original_id]["score"]


def test_duke_spreadsheet_without_legend_is_refused_naming_row_and_column(
    source: Path, tmp_path: Path
) -> None:
    images, spreadsheet, _ = _duke_fixture(source, tmp_path, her2_code=1)
    book = openpyxl.load_workbook(spreadsheet)
    book.active["E3"] = "see the data dictionary"  # type: ignore[index]
    book.save(spreadsheet)
    with pytest.raises(CohortError, match=r"header row 3, column 'HER2': no code legend"):
        import_duke(images, spreadsheet, tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.req("REQ-ING-001")
def test_cmmd_import_derives_her2_from_subtype_only_where_determined(
    source: Path, model: LockedModel, tmp_path: Path
) -> None:
    _, mammograms = _study_with(source, "MG")
    images = tmp_path / "CMMD"
    for number, pid in enumerate(("D1-0001", "D1-0002", "D1-0003", "D1-0004")):
        for k, path in enumerate(mammograms):
            ds = pydicom.dcmread(path)
            ds.PatientID = pid
            ds.ImageLaterality = "L"
            ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[pid, str(k)])
            ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[pid])
            target = (
                images / pid / "07-18-2010-NA-NA-1" / f"1.000000-NA-{number}" / f"1-{k + 1}.dcm"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(target)
    spreadsheet = tmp_path / "CMMD_clinicaldata_revision.xlsx"
    header = ["ID1", "LeftRight", "Age", "number", "abnormality", "classification", "subtype"]
    _write_xlsx(
        spreadsheet,
        [
            header,
            ["D1-0001", "L", 44, 1, "mass", "Malignant", "HER2-enriched"],
            ["D1-0002", "L", 51, 1, "calcification", "Malignant", "Luminal B"],
            ["D1-0003", "L", 39, 1, "mass", "Benign", None],
            ["D1-0004", "L", 60, 1, "mass", "Malignant", "Luminal A"],
            ["D1-0004", "R", 60, 1, "mass", "Malignant", "triple negative"],
        ],
    )
    out = tmp_path / "cmmd-cohort"
    args = ["import", "cmmd", "--images", str(images), "--clinical", str(spreadsheet)]
    assert main([*args, "--out", str(out)]) == 0
    clinical = {r["patient_id"]: r for r in _rows(out / "clinical.csv")}
    assert set(clinical) == {"D1-0001", "D1-0002"}
    assert clinical["D1-0001"]["reference_her2"] == "1"
    assert clinical["D1-0002"]["reference_her2"] == ""  # Luminal B: HER2 not determined
    assert clinical["D1-0002"]["hr_status"] == "1"
    outcomes = {(r["patient_id"], r["outcome"]) for r in _rows(out / "import_report.csv")}
    assert ("D1-0003", "benign: no HER2 status") in outcomes
    assert any(p == "D1-0004" and "two malignant breasts" in o for p, o in outcomes)
    predicted = {
        r["patient_id"] for r in _rows(predict_cohort(out, tmp_path / "p.csv", model=model))
    }
    assert predicted == {"D1-0001", "D1-0002"}
    shutil.rmtree(out)
