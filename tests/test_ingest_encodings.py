"""Encoding and layout invariance: the same pixels, re-encoded by independent tools, same scores.

A small synthesized cohort (MG, US and Enhanced MR) is predicted once; then every DICOM file is
re-encoded by DCMTK (``dcmconv``, ``dcmcrle``, ``dcmcjpeg``, ``dcmcjpls``) or GDCM
(``gdcmconv``) — Debian's command-line tools, independent of pydicom and of our codecs — and
predicted again. Lossless encodings must give byte-identical predictions and exclusions; lossy
ones must predict every patient, flag ``lossy_compression`` and stay within
:data:`LOSSY_SCORE_TOLERANCE`. The MR is also rewritten as shuffled classic MR series and the
mammograms as MONOCHROME1: byte-identical predictions again.

The tools come from ``.ci/run`` (apt packages dcmtk, libgdcm-tools); without them the tests skip,
unless the CI variable is set.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from classic_mr import enhanced_to_classic
from locks import make_lock
from pydicom.uid import ExplicitVRLittleEndian

from her2map import LockedModel
from her2map.predict import exclusions_path, predict_cohort
from her2map.synth import synth

#: Largest score change accepted after lossy compression of every image (DCMTK quality 90,
#: GDCM JPEG 2000 quality 40): a lossy image is not the same image, so scores may move a little.
LOSSY_SCORE_TOLERANCE = 0.05

LOSSLESS = {
    "explicit-big-endian": ["dcmconv", "+tb"],
    "implicit-little-endian": ["dcmconv", "+ti"],
    "deflated": ["dcmconv", "+td"],
    "rle": ["dcmcrle"],
    "jpeg-lossless-sv1": ["dcmcjpeg", "+e1"],
    "jpeg-lossless-process14": ["dcmcjpeg", "+el"],
    "jpeg-ls-lossless": ["dcmcjpls", "+el"],
    "jpeg2000-lossless": ["gdcmconv", "--j2k"],
}
LOSSY = {
    "jpeg-baseline": ["dcmcjpeg", "+eb", "+un"],
    "jpeg-extended": ["dcmcjpeg", "+ee", "+un"],
    "jpeg-ls-near-lossless": ["dcmcjpls", "+en", "+un"],
    "jpeg2000-lossy": ["gdcmconv", "--j2k", "--lossy", "-q", "40"],
}

_TOOLS = ("dcmconv", "dcmcrle", "dcmcjpeg", "dcmcjpls", "gdcmconv")
_MISSING = [tool for tool in _TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING) and not os.environ.get("CI"),
    reason=f"DCMTK/GDCM tools {_MISSING} absent (install dcmtk libgdcm-tools, as .ci/run does)",
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    return LockedModel.load(make_lock(tmp_path_factory.mktemp("lock"), training=["Q-OTHER"]))


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory, model: LockedModel) -> Path:
    """Seed 5, five patients: MG only, MG+MR, MR only and two US only (every modality)."""
    root = tmp_path_factory.mktemp("encodings") / "cohort"
    synth(root, patients=5, seed=5, workers=1)
    predict_cohort(root, root.parent / "original.csv", model=model)
    return root


def _dicom_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "dicom").rglob("*") if p.is_file())


def _copy(original: Path, target: Path) -> Path:
    shutil.copytree(original, target)
    return target


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _reencode(root: Path, command: list[str]) -> None:
    for path in _dicom_files(root):
        out = path.with_suffix(".new")
        subprocess.run([*command, str(path), str(out)], check=True, capture_output=True)
        out.replace(path)


def _syntax(root: Path) -> set[str]:
    return {str(pydicom.dcmread(p).file_meta.TransferSyntaxUID) for p in _dicom_files(root)}


@pytest.mark.req("REQ-ING-002")
@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_reencoding_gives_byte_identical_predictions(
    name: str, original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = _copy(original, tmp_path / "cohort")
    _reencode(root, LOSSLESS[name])
    assert _syntax(root) != {ExplicitVRLittleEndian}, "the tool did not re-encode"
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    reference = original.parent / "original.csv"
    assert out.read_bytes() == reference.read_bytes()
    assert _rows(exclusions_path(out)) == []


@pytest.mark.req("REQ-ING-002")
@pytest.mark.parametrize("name", sorted(LOSSY))
def test_lossy_reencoding_is_read_and_flagged(
    name: str, original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = _copy(original, tmp_path / "cohort")
    _reencode(root, LOSSY[name])
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    reference = {r["patient_id"]: r for r in _rows(original.parent / "original.csv")}
    rows = _rows(out)
    assert _rows(exclusions_path(out)) == []
    assert [r["patient_id"] for r in rows] == sorted(reference)
    for row in rows:
        assert row["lossy_compression"] == "1"
        assert reference[row["patient_id"]]["lossy_compression"] == "0"
        change = abs(float(row["score"]) - float(reference[row["patient_id"]]["score"]))
        assert change <= LOSSY_SCORE_TOLERANCE, (row["patient_id"], change)


def _to_classic(root: Path, *, seed: int, order_by: str) -> None:
    """Rewrite every Enhanced MR phase as classic MR slice files in shuffled folders."""
    rng = np.random.default_rng(seed)
    for path in _dicom_files(root):
        ds = pydicom.dcmread(path)
        if ds.Modality != "MR":
            continue
        for item in enhanced_to_classic(ds, rng=rng, order_by=order_by, salt=str(path)):
            name = f"{rng.integers(10**6):06d}"
            target = path.parent.parent / f"mr_{name[:2]}" / f"{name}.ima"
            target.parent.mkdir(exist_ok=True)
            item.save_as(target, enforce_file_format=True)
        path.unlink()


@pytest.mark.req("REQ-ING-003")
@pytest.mark.parametrize("order_by", ["tpi", "time", "description"])
def test_shuffled_classic_mr_series_give_the_enhanced_scores(
    order_by: str, original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = _copy(original, tmp_path / "cohort")
    _to_classic(root, seed=len(order_by), order_by=order_by)
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    assert out.read_bytes() == (original.parent / "original.csv").read_bytes()
    assert _rows(exclusions_path(out)) == []


@pytest.mark.req("REQ-ING-003")
def test_inconsistent_classic_geometry_is_an_exclusion_naming_the_series(
    original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = _copy(original, tmp_path / "cohort")
    _to_classic(root, seed=3, order_by="tpi")
    victim = next(p for p in sorted((root / "dicom").rglob("*.ima")))
    ds = pydicom.dcmread(victim)
    ds.ImagePositionPatient = [0.0, 0.0, 1.5]  # between two slices of the other phases
    ds.save_as(victim)
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    excluded = _rows(exclusions_path(out))
    assert excluded
    assert all(ds.SeriesInstanceUID in row["reason"] for row in excluded if row["path"])
    assert {row["patient_id"] for row in excluded} == {ds.PatientID}
    assert all("inconsistent geometry" in row["reason"] for row in excluded if row["path"])


@pytest.mark.req("REQ-ING-002")
def test_monochrome1_mammograms_give_byte_identical_predictions(
    original: Path, model: LockedModel, tmp_path: Path
) -> None:
    root = _copy(original, tmp_path / "cohort")
    changed = 0
    for path in _dicom_files(root):
        ds = pydicom.dcmread(path)
        if ds.Modality != "MG":
            continue
        top = (1 << int(ds.BitsStored)) - 1
        ds.PixelData = (top - ds.pixel_array.astype(np.int64)).astype("<u2").tobytes()
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.save_as(path)
        changed += 1
    assert changed >= 2
    out = predict_cohort(root, tmp_path / "p.csv", model=model)
    assert out.read_bytes() == (original.parent / "original.csv").read_bytes()
