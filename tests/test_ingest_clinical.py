"""clinical.csv validation: malformed tables are CohortErrors naming file, row, line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from dicom_factory import CLINICAL_COLUMNS, PatientSpec, clinical_row, write_clinical

from her2map.exceptions import CohortError
from her2map.ingest import CLINICAL_COLUMNS as INGEST_COLUMNS
from her2map.ingest import IMAGING_COLUMNS, load_cohort, read_clinical

pytestmark = pytest.mark.req("REQ-ING-001")


def _rows() -> list[dict[str, str]]:
    return [clinical_row(PatientSpec(pid)) for pid in ("P003", "P001", "P002")]


def test_columns_match_the_interface_contract() -> None:
    assert INGEST_COLUMNS == CLINICAL_COLUMNS


def test_valid_table_is_typed_and_sorted(tmp_path: Path) -> None:
    rows = _rows()
    rows[1].update(pathway="neoadjuvant", therapy="chemotherapy", pcr="1")
    rows[1].update(reference_ihc="", reference_ish="", reference_her2="", her2_low="")
    rows[1].update(reference_category="")
    frame = read_clinical(write_clinical(tmp_path / "clinical.csv", rows))
    assert list(frame.columns) == list(CLINICAL_COLUMNS)
    assert list(frame["patient_id"]) == ["P001", "P002", "P003"]
    assert frame["age"].dtype == "int64"
    assert list(frame["age"]) == [54, 54, 54]
    assert frame["pcr"].dtype == pd.Int64Dtype()
    assert frame["pcr"].iloc[0] == 1
    assert frame["pcr"].isna().tolist() == [False, True, True]
    assert frame["reference_her2"].dtype == pd.Int64Dtype()
    assert frame["reference_her2"].isna().tolist() == [True, False, False]
    assert list(frame["biopsy_ish"]) == ["", "", ""]


def test_utf8_bom_and_extra_columns_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "clinical.csv"
    header = ",".join((*CLINICAL_COLUMNS, "note"))
    row = ",".join((*clinical_row(PatientSpec("P1")).values(), "ok"))
    path.write_bytes(("\ufeff" + header + "\n" + row + "\n").encode("utf-8"))
    frame = read_clinical(path)
    assert list(frame.columns) == [*CLINICAL_COLUMNS, "note"]
    assert frame.loc[0, "note"] == "ok"


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("age", "fifty", r"column 'age': expected an integer age"),
        ("laterality", "B", r"column 'laterality': expected one of 'L', 'R', got 'B'"),
        ("reference_ihc", "2", r"column 'reference_ihc': expected one of '0', '1\+'"),
        ("reference_her2", "yes", r"column 'reference_her2': expected one of '0', '1'"),
        ("pcr", "0.5", r"column 'pcr': expected one of '0', '1', ''"),
        ("therapy", "none", r"column 'therapy'"),
        ("pathway", "surgery", r"column 'pathway': expected one of 'upfront-surgery'"),
        ("therapy", "chemotherapy", r"column 'therapy': expected empty for pathway 'upfront"),
        ("pcr", "0", r"column 'pcr': expected empty for pathway 'upfront-surgery', got '0'"),
        ("site", " A", r"column 'site': expected non-empty text without edge spaces"),
        ("patient_id", "P 1", r"column 'patient_id': expected a pseudonymous id"),
    ],
)
def test_bad_value_names_file_row_line_and_column(
    tmp_path: Path, column: str, value: str, match: str
) -> None:
    rows = _rows()
    rows[1][column] = value
    path = write_clinical(tmp_path / "clinical.csv", rows)
    with pytest.raises(
        CohortError, match=re.escape(str(path)) + r": data row 2 \(line 3\), " + match
    ):
        read_clinical(path)


@pytest.mark.req("REQ-REF-001")
def test_a_surgical_her2_after_pcr_is_refused(tmp_path: Path) -> None:
    """After pCR (ypT0/is ypN0) no invasive tumour is left: a surgical HER2 there is invented."""
    rows = _rows()
    rows[1].update(pathway="neoadjuvant", therapy="anti-HER2", pcr="1")
    path = write_clinical(tmp_path / "clinical.csv", rows)
    with pytest.raises(CohortError, match=r"data row 2 \(line 3\), column 'reference_ihc': "
                       r"expected empty after pathological complete response"):  # fmt: skip
        read_clinical(path)
    rows[1].update(pcr="0", reference_ihc="", reference_ish="", reference_her2="")
    rows[1].update(her2_low="", reference_category="")
    path = write_clinical(tmp_path / "clinical.csv", rows)
    with pytest.raises(CohortError, match=r"column 'reference_ihc': expected a surgical-specimen"):
        read_clinical(path)


def test_duplicate_patient_id(tmp_path: Path) -> None:
    rows = _rows()
    rows[2]["patient_id"] = "P003"
    path = write_clinical(tmp_path / "clinical.csv", rows)
    with pytest.raises(
        CohortError, match=r"data row 3 \(line 4\), column 'patient_id': duplicate 'P003', first"
    ):
        read_clinical(path)


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "clinical.csv"
    frame = pd.DataFrame(_rows()).drop(columns=["density", "pcr"])
    frame.to_csv(path, index=False)
    with pytest.raises(CohortError, match=r"line 1: missing required column\(s\) density, pcr"):
        read_clinical(path)


def test_wrong_field_count_and_empty_and_missing_file(tmp_path: Path) -> None:
    path = write_clinical(tmp_path / "clinical.csv", _rows())
    path.write_text(path.read_text() + "P009,A\n")
    with pytest.raises(CohortError, match=r"data row 4 \(line 5\): has 2 fields, expected 19"):
        read_clinical(path)
    path.write_text("")
    with pytest.raises(CohortError, match="file is empty; expected a header line"):
        read_clinical(path)
    path.write_text(",".join(CLINICAL_COLUMNS) + "\n")
    with pytest.raises(CohortError, match="no data rows"):
        read_clinical(path)
    with pytest.raises(CohortError, match=r"nope\.csv: clinical table not found"):
        read_clinical(tmp_path / "nope.csv")
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CohortError, match="cannot be read as UTF-8 CSV"):
        read_clinical(path)


def test_load_cohort_without_clinical_csv(tmp_path: Path) -> None:
    (tmp_path / "dicom").mkdir()
    with pytest.raises(CohortError, match=r"clinical\.csv: clinical table not found"):
        load_cohort(tmp_path)


def test_prediction_reads_only_the_imaging_columns(tmp_path: Path) -> None:
    """The locked core parses no label: with IMAGING_COLUMNS, label columns are neither
    validated (a malformed reference passes) nor returned; a table of those columns alone is
    enough (the trial's enrolment case, before any label exists)."""
    rows = _rows()
    rows[0]["reference_her2"] = "not yet known"
    path = write_clinical(tmp_path / "clinical.csv", rows)
    frame = read_clinical(path, columns=IMAGING_COLUMNS)
    assert list(frame.columns) == ["patient_id", "site", "laterality"]
    with pytest.raises(CohortError, match=r"column 'reference_her2'"):
        read_clinical(path)
    only = tmp_path / "patients.csv"
    only.write_text("patient_id,site,laterality\nP9,A,L\n")
    assert read_clinical(only, columns=IMAGING_COLUMNS)["patient_id"].tolist() == ["P9"]
    with pytest.raises(CohortError, match=r"missing required column\(s\) manufacturer, age"):
        read_clinical(only)
    with pytest.raises(ValueError, match=r"columns must be contract columns including"):
        read_clinical(only, columns=("patient_id", "score"))
