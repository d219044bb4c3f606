"""The virtual cohort folder: determinism, DICOM contract, layout, PHI placement, CLI.

Expected values come from the contract (docs/INTERFACES.md, copied into the assertions), from
pydicom reading the files back, and from pydicom's own ``dcmwrite`` as the slow twin of the fast
encoder.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from her2map.cli import main
from her2map.exceptions import CohortError
from her2map.synth import (
    CLINICAL_COLUMNS,
    DEFAULT_PARAMS,
    TRUTH_COLUMNS,
    ImageSizes,
    simulate_clinical,
    synth,
)
from her2map.synth.clinical import cohort_tag
from her2map.synth.dicom_writer import Identity, build_dataset, encode_file, study_files

SIZES = ImageSizes(mg=32, us=24, mr=20, mr_slices=4, mr_phases=3)
PARAMS = dataclasses.replace(DEFAULT_PARAMS, sizes=SIZES)
N = 40
SEED = 11
SOP = {
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "MR": "1.2.840.10008.5.1.4.1.1.4.1",
}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "cohort"
    synth(out, patients=N, seed=SEED, params=PARAMS, workers=1)
    return out


@pytest.fixture(scope="module")
def datasets(cohort: Path) -> list[tuple[Path, pydicom.Dataset]]:
    files = sorted((cohort / "dicom").rglob("*.dcm"))
    return [(f, pydicom.dcmread(f)) for f in files]


@pytest.mark.req("REQ-SYN-001")
def test_same_seed_gives_identical_bytes_whatever_the_worker_count(
    cohort: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    synth(again, patients=N, seed=SEED, params=PARAMS, workers=2)
    first, second = _digest(cohort), _digest(again)
    assert len(first) > N
    assert first == second


@pytest.mark.req("REQ-SYN-001")
def test_different_seed_gives_different_cohort(cohort: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    synth(other, patients=N, seed=SEED + 1, params=PARAMS, workers=1)
    assert (other / "clinical.csv").read_bytes() != (cohort / "clinical.csv").read_bytes()
    ours, theirs = _digest(cohort), _digest(other)
    assert any(name.endswith(".dcm") for name in ours)
    assert any(name.endswith(".dcm") for name in theirs)
    # Patient ids (and so folder names) are seed-dependent; no file's bytes recur either.
    assert not {n for n in ours if n.startswith("dicom/")} & set(theirs)
    assert not set(ours.values()) & set(theirs.values())


def test_layout_and_tables(cohort: Path) -> None:
    assert sorted(p.name for p in cohort.iterdir()) == [
        "clinical.csv", "cohort.json", "dicom", "truth.csv",
    ]  # fmt: skip
    assert not list(cohort.parent.glob("cohort.tmp-*"))
    clinical = _read_csv(cohort / "clinical.csv")
    header = (cohort / "clinical.csv").read_text().splitlines()[0]
    assert header == ",".join(CLINICAL_COLUMNS)
    assert header.split(",")[:3] == ["patient_id", "site", "manufacturer"]
    ids = [r["patient_id"] for r in clinical]
    assert ids == sorted(ids) == [f"P{cohort_tag(SEED)}-{i:06d}" for i in range(1, N + 1)]
    truth_header = (cohort / "truth.csv").read_text().splitlines()[0]
    assert truth_header == ",".join(TRUTH_COLUMNS)
    assert tuple(truth_header.split(",")) == TRUTH_COLUMNS
    meta = json.loads((cohort / "cohort.json").read_text())
    assert meta["seed"] == SEED
    assert meta["n_patients"] == N
    assert meta["n_images"] == len(list((cohort / "dicom").rglob("*.dcm")))
    assert meta["params"]["sizes"] == dataclasses.asdict(SIZES)
    assert sum(meta["site_counts"].values()) == N


@pytest.mark.req("REQ-REF-001")
def test_clinical_rows_follow_the_rules(cohort: Path) -> None:
    truth = {r["patient_id"]: r for r in _read_csv(cohort / "truth.csv")}
    rows = _read_csv(cohort / "clinical.csv")
    for row in rows:
        true = truth[row["patient_id"]]
        f3 = float(true["her2_fraction_3plus"])
        # ASCO/CAP 2018: IHC 3+ exactly when more than 10 % of cells stain 3+
        assert (true["true_category"] == "3+") == (f3 > 0.10)
        for prefix in ("reference", "biopsy"):
            ish_done = row[f"{prefix}_ish"] != ""
            assert ish_done == (row[f"{prefix}_ihc"] == "2+")
        nat = row["pathway"] == "neoadjuvant"
        # therapy follows the BIOPSY call; upfront surgery has no NAT and no response
        expected_therapy = (
            ("anti-HER2" if row["biopsy_her2"] == "1" else "chemotherapy") if nat else ""
        )
        assert row["therapy"] == expected_therapy
        assert (row["pcr"] in ("0", "1")) == nat
        # a surgical specimen exists exactly where invasive tumour remained
        if row["pcr"] == "1":
            assert row["reference_ihc"] == row["reference_her2"] == row["her2_low"] == ""
            assert row["reference_category"] == ""
            continue
        positive = row["reference_ihc"] == "3+" or row["reference_ish"] == "positive"
        assert row["reference_her2"] == str(int(positive))
        low = row["reference_ihc"] == "1+" or row["reference_ish"] == "negative"
        assert row["her2_low"] == str(int(low))
        if true["residual_conversion"] == "0":
            assert row["reference_category"] == true["true_category"]
            assert row["reference_her2"] == true["true_her2"]
        else:
            assert nat
            assert row["reference_her2"] != true["true_her2"]
        assert row["site"] in "ABCD"
        assert row["density"] in "abcd"
        assert row["laterality"] in ("L", "R")
    assert {r["pathway"] for r in rows} == {"neoadjuvant", "upfront-surgery"}


def test_clinical_csv_matches_the_no_image_fast_path(cohort: Path) -> None:
    table, truth = simulate_clinical(N, SEED, PARAMS)
    rows = _read_csv(cohort / "clinical.csv")
    assert [list(r.values()) for r in rows] == table.astype(str).to_numpy().tolist()
    truth_rows = _read_csv(cohort / "truth.csv")
    np.testing.assert_array_equal(
        [float(r["mean_expression"]) for r in truth_rows], truth["mean_expression"].to_numpy()
    )


def test_dicom_tags_follow_the_contract(
    cohort: Path, datasets: list[tuple[Path, pydicom.Dataset]]
) -> None:
    clinical = {r["patient_id"]: r for r in _read_csv(cohort / "clinical.csv")}
    sop_uids, series_uids, studies = set(), set(), {}
    for path, ds in datasets:
        row = clinical[ds.PatientID]
        assert path.parts[-3] == ds.PatientID
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == SOP[ds.Modality] == ds.file_meta.MediaStorageSOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.ImplementationVersionName.startswith("HER2MAP_")
        assert ds.ImageLaterality == row["laterality"]
        assert ds.Manufacturer == row["manufacturer"]
        assert ds.ManufacturerModelName
        assert ds.InstitutionName
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        assert (ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation) == (16, 12, 0)
        assert int(ds.pixel_array.max()) <= 4095
        sop_uids.add(ds.SOPInstanceUID)
        series_uids.add(ds.SeriesInstanceUID)
        assert studies.setdefault(ds.PatientID, ds.StudyInstanceUID) == ds.StudyInstanceUID
        if ds.Modality == "MG":
            assert ds.ViewPosition == path.parts[-2].split("_")[1]
            assert ds.ViewPosition in ("CC", "MLO")
            assert ds.pixel_array.shape == (SIZES.mg, SIZES.mg)
        elif ds.Modality == "US":
            assert ds.pixel_array.shape == (SIZES.us, SIZES.us)
        else:
            phase = int(ds.TemporalPositionIdentifier)
            assert ds.NumberOfTemporalPositions == SIZES.mr_phases
            assert ds.NumberOfFrames == SIZES.mr_slices
            assert ds.pixel_array.shape == (SIZES.mr_slices, SIZES.mr, SIZES.mr)
            assert len(ds.PerFrameFunctionalGroupsSequence) == SIZES.mr_slices
            assert ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
            expected = "DCE pre" if phase == 1 else f"DCE post{phase - 1}"
            assert ds.SeriesDescription == expected
            assert ("ContrastBolusAgent" in ds) == (phase > 1)
    assert len(sop_uids) == len(datasets)
    assert len(series_uids) == len(datasets)
    assert len(set(studies.values())) == len(studies) == N


def test_site_d_is_mri_only_and_modality_combinations_vary(
    cohort: Path, datasets: list[tuple[Path, pydicom.Dataset]]
) -> None:
    clinical = {r["patient_id"]: r for r in _read_csv(cohort / "clinical.csv")}
    modalities: dict[str, set[str]] = {pid: set() for pid in clinical}
    for _, ds in datasets:
        modalities[ds.PatientID].add(ds.Modality)
    assert all(modalities.values()), "every patient has at least one modality"
    site_d = [pid for pid, row in clinical.items() if row["site"] == "D"]
    assert site_d
    assert all(modalities[pid] == {"MR"} for pid in site_d)
    combos = {frozenset(m) for pid, m in modalities.items() if clinical[pid]["site"] != "D"}
    assert len(combos) >= 3
    assert {"MG", "US", "MR"} <= set().union(*combos)


@pytest.mark.req("REQ-PHI-001")
def test_fake_names_only_inside_dicom(
    cohort: Path, datasets: list[tuple[Path, pydicom.Dataset]]
) -> None:
    names = {str(ds.PatientName) for _, ds in datasets}
    births = {ds.PatientBirthDate for _, ds in datasets}
    assert all("^" in name for name in names)
    assert all(len(b) == 8 and b.isdigit() for b in births)
    for table in ("clinical.csv", "truth.csv", "cohort.json"):
        text = (cohort / table).read_text()
        for value in names | births | {n.split("^")[0] for n in names}:
            assert value not in text, f"{value} leaked into {table}"


def test_fast_encoder_matches_pydicom_dcmwrite() -> None:
    rng = np.random.default_rng(0)
    images = {
        "MG_CC": rng.integers(0, 4096, (SIZES.mg, SIZES.mg), dtype=np.uint16),
        "MG_MLO": rng.integers(0, 4096, (SIZES.mg, SIZES.mg), dtype=np.uint16),
        "US": rng.integers(0, 4096, (SIZES.us, SIZES.us), dtype=np.uint16),
        "MR": rng.integers(0, 4096, (3, SIZES.mr_slices, SIZES.mr, SIZES.mr), dtype=np.uint16),
    }
    items = list(
        study_files(
            seed=3, patient_id="P000007", laterality="R",
            identity=Identity("Testwick^Alva", "19610203", "20190405"),
            site=PARAMS.site("B"), images=images, sizes=SIZES,
        )
    )  # fmt: skip
    assert len(items) == 6
    for item in items:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, build_dataset(item, SIZES), enforce_file_format=True)
        assert encode_file(item, SIZES) == buffer.getvalue(), item.relpath


def test_refuses_non_empty_output_and_accepts_empty(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(CohortError, match=r"already exists and is not empty"):
        synth(full, patients=2, seed=1, params=PARAMS)
    assert (full / "keep.txt").read_text() == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    summary = synth(empty, patients=3, seed=1, params=PARAMS)
    assert summary.n_patients == 3
    assert (empty / "clinical.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patients": 0, "seed": 1}, r"patients must be a positive integer; got 0"),
        ({"patients": 3, "seed": -1}, r"seed must be a non-negative integer; got -1"),
        ({"patients": 3, "seed": 1, "workers": 0}, r"workers must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(CohortError, match=message):
        synth(tmp_path / "x", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()


def test_too_few_mr_phases_is_refused() -> None:
    with pytest.raises(CohortError, match=r"mr_phases must be an integer >= 3; got 2"):
        ImageSizes(mr_phases=2)


def test_cli_writes_cohort_and_rejects_bad_patients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    argv = ["synth", "--patients", "3", "--seed", "4", "--out", str(out), "--mg-size", "32",
            "--us-size", "24", "--mr-size", "20", "--mr-slices", "2"]  # fmt: skip
    assert main(argv) == 0
    assert "wrote 3 patients" in capsys.readouterr().out
    assert len(_read_csv(out / "clinical.csv")) == 3
    assert main(argv) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", "--patients", "0", "--seed", "4", "--out", str(tmp_path / "y")])
    assert exit_info.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err
