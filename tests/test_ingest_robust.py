"""Every file accounted for, none fatal: pydicom's own test corpus, overflow, odd names, strays.

pydicom ships ~90 test files (every encoding, broken headers, SR, RT, no-meta files, JSON, ICC
profiles); dropped anywhere into a cohort they must each be listed with a reason while the
cohort's own patients are predicted exactly as before.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from locks import make_lock

from her2map import LockedModel
from her2map.ingest import load_cohort
from her2map.predict import exclusions_path, predict_cohort
from her2map.synth import synth

_CORPUS = Path(pydicom.data.__file__).parent / "test_files"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    return LockedModel.load(make_lock(tmp_path_factory.mktemp("lock"), training=["Q-OTHER"]))


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, model: LockedModel) -> Path:
    root = tmp_path_factory.mktemp("robust") / "cohort"
    synth(root, patients=4, seed=5, workers=1)
    predict_cohort(root, root.parent / "original.csv", model=model)
    return root


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _corpus_files() -> list[Path]:
    return sorted(p for p in _CORPUS.rglob("*") if p.is_file())


@pytest.mark.req("REQ-ING-001")
def test_pydicom_corpus_anywhere_in_a_cohort_is_listed_file_by_file(
    original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = tmp_path / "cohort"
    shutil.copytree(original, root)
    shutil.copytree(_CORPUS, root / "dicom" / "corpus")  # inside dicom/
    shutil.copytree(_CORPUS, root / "elsewhere")  # and outside it
    copied = len(_corpus_files())
    assert copied > 70
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    assert out.read_bytes() == (original.parent / "original.csv").read_bytes()
    excluded = _rows(exclusions_path(out))
    listed = {row["path"] for row in excluded}
    for prefix in ("dicom/corpus/", "elsewhere/"):
        expected = {prefix + p.relative_to(_CORPUS).as_posix() for p in _corpus_files()}
        assert expected <= listed, sorted(expected - listed)[:5]
    assert all(row["reason"] for row in excluded)
    cohort = load_cohort(root)
    assert cohort.n_files == cohort.n_used + len(cohort.file_exclusions)
    assert len(cohort.file_exclusions) == 2 * copied


@pytest.mark.req("REQ-ING-001")
def test_overflowing_rescale_excludes_the_file_not_the_cohort(
    original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = tmp_path / "cohort"
    shutil.copytree(original, root)
    victim = next(p for p in sorted((root / "dicom").rglob("*.dcm")) if "MG_CC" in str(p))
    ds = pydicom.dcmread(victim)
    ds.RescaleSlope = "1e+38"
    ds.save_as(victim)
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    (row,) = _rows(exclusions_path(out))
    assert row["path"] == victim.relative_to(root).as_posix()
    assert row["tag"] == "(0028,1053)"
    assert "overflow" in row["reason"]
    predicted = {r["patient_id"] for r in _rows(out)}
    assert predicted == {r["patient_id"] for r in _rows(original.parent / "original.csv")}


@pytest.mark.req("REQ-ING-001")
def test_file_names_that_are_not_utf8_are_listed_escaped(
    original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = tmp_path / "cohort"
    shutil.copytree(original, root)
    odd = os.fsencode(root / "dicom") + b"/bad-\xff\xfe-name.dcm"
    with open(odd, "wb") as handle:
        handle.write(b"not dicom at all")
    good = next(p for p in sorted((root / "dicom").rglob("*.dcm")))
    os.rename(good, os.fsencode(good.parent) + b"/\xe9t\xe9.dcm")  # a used file, latin-1 name
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    assert out.read_bytes() == (original.parent / "original.csv").read_bytes()
    (row,) = _rows(exclusions_path(out))
    assert row["path"] == "dicom/bad-\\xff\\xfe-name.dcm"
    assert "not a DICOM file" in row["reason"]


@pytest.mark.req("REQ-ING-001")
def test_a_stray_file_next_to_dicom_is_listed(original: Path, tmp_path: Path) -> None:
    root = tmp_path / "cohort"
    shutil.copytree(original, root)
    (root / "notes").mkdir()
    (root / "notes" / "readme.txt").write_text("scanner export notes\n")
    cohort = load_cohort(root)
    (exclusion,) = cohort.exclusions
    assert exclusion.path == "notes/readme.txt"
    assert "not a DICOM file" in exclusion.reason
