"""DICOM ingest: one test per validation rule of the ingest contract (REQ-ING-001, REQ-PHI-001).

Each bad file or study must give a counted Exclusion naming its path and DICOM tag (or a clear
CohortError/DicomError), never a traceback or a silent drop. Expected pixel values come from
pydicom's own decoder (``Dataset.pixel_array``), independent of our ``numpy.frombuffer`` path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from classic_mr import enhanced_to_classic
from dicom_factory import (
    FAKE_BIRTH_DATE,
    PatientSpec,
    clinical_row,
    fake_name,
    make_dataset,
    write_clinical,
    write_cohort,
    write_dataset,
)
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, ImplicitVRLittleEndian, generate_uid

from her2map.exceptions import CohortError, DicomError
from her2map.ingest import (
    CLINICAL_COLUMNS,
    MODALITY_KEYS,
    Cohort,
    Exclusion,
    StudyRef,
    load_cohort,
    load_images,
)
from her2map.preprocess import all_finite

pytestmark = pytest.mark.req("REQ-ING-001")

SPECS = (PatientSpec("P001", laterality="L"), PatientSpec("P002", laterality="R"))


@pytest.fixture
def cohort_dir(tmp_path: Path) -> Path:
    root = tmp_path / "cohort"
    write_cohort(root, SPECS)
    return root


def _accounted(cohort: Cohort) -> list[str]:
    """Every file path (relative) in a study or a file-level exclusion, with repetitions."""
    used = [
        path.relative_to(cohort.root).as_posix()
        for study in cohort.studies
        for paths in study.files.values()
        for path in paths
    ]
    return sorted(used + [e.path for e in cohort.file_exclusions if e.path is not None])


def _only_exclusion(cohort: Cohort, *, path: str | None = None) -> Exclusion:
    found = [e for e in cohort.exclusions if path is None or e.path == path]
    assert len(found) == 1, found
    return found[0]


def _replace(root: Path, rel: str, **changes: object) -> None:
    """Rewrite one file with some elements changed (value None deletes the element)."""
    ds = pydicom.dcmread(root / rel)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    write_dataset(ds, root / rel)


# --- the happy path -------------------------------------------------------------------------


def test_valid_cohort_assembles_every_modality(cohort_dir: Path) -> None:
    cohort = load_cohort(cohort_dir)
    assert [s.patient_id for s in cohort.studies] == ["P001", "P002"]
    assert cohort.exclusions == ()
    assert cohort.n_files == 2 * (2 + 1 + 3) == cohort.n_used
    study = cohort.study("P002")
    assert study.modalities == MODALITY_KEYS
    assert (study.site, study.manufacturer, study.laterality) == ("A", "", "R")
    full = load_cohort(cohort_dir, columns=CLINICAL_COLUMNS)  # training reads the labels too
    assert full.study("P002").manufacturer == "VendorX"
    assert "reference_her2" in full.clinical.columns
    assert "reference_her2" not in cohort.clinical.columns
    assert all(p.is_absolute() and p.is_relative_to(cohort.root) for p in study.files["MR"])
    assert list(cohort.clinical["patient_id"]) == ["P001", "P002"]


def test_images_match_pydicom_decoder_and_mr_is_ordered_by_tag(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_clinical(root / "clinical.csv", [clinical_row(PatientSpec("P9"))])
    # names sort opposite to the phase order: grouping/ordering must use the tag
    for phase, name in ((1, "zz"), (2, "mm"), (3, "aa")):
        ds = make_dataset("P9", "MR", phase=phase, seed=phase, size=6, slices=3)
        write_dataset(ds, root / "dicom" / name / "x.dcm")
    mg = make_dataset("P9", "MG", view="MLO", size=6, rescale=(0.5, -100.0))
    raw = np.frombuffer(mg.PixelData, "<u2").copy()
    raw[:5] |= 0xF000  # garbage above BitsStored: pydicom masks it, so must we
    mg.PixelData = raw.tobytes()
    write_dataset(mg, root / "dicom" / "deep" / "er" / "mg")
    cohort = load_cohort(root)
    images = load_images(cohort.study("P9"))
    assert set(images) == {"MG_MLO", "MR"}
    assert cohort.study("P9").modalities == ("MG_MLO", "MR")
    assert images["MR"].shape == (3, 3, 6, 6)
    assert images["MR"].dtype == np.float32
    for phase, name in ((1, "zz"), (2, "mm"), (3, "aa")):
        expected = pydicom.dcmread(root / "dicom" / name / "x.dcm").pixel_array
        np.testing.assert_array_equal(images["MR"][phase - 1], expected.astype(np.float32))
    reference = pydicom.dcmread(root / "dicom" / "deep" / "er" / "mg").pixel_array
    np.testing.assert_array_equal(images["MG_MLO"], (reference * 0.5 - 100.0).astype(np.float32))


def test_signed_pixels_are_sign_extended_like_pydicom(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_clinical(root / "clinical.csv", [clinical_row(PatientSpec("P9"))])
    ds = make_dataset("P9", "US", size=4)
    ds.PixelRepresentation = 1
    ds.PixelData = np.array([0x0FFF, 0x0800, 0x07FF, 1] * 4, dtype="<u2").tobytes()
    write_dataset(ds, root / "us.dcm")
    images = load_images(load_cohort(root).study("P9"))
    expected = pydicom.dcmread(root / "us.dcm").pixel_array
    assert expected.min() < 0
    np.testing.assert_array_equal(images["US"], expected.astype(np.float32))


def test_implicit_vr_little_endian_is_accepted(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_clinical(root / "clinical.csv", [clinical_row(PatientSpec("P9"))])
    ds = make_dataset("P9", "US", size=5, rescale=(2.0, 1.0))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    (root / "dicom").mkdir()
    ds.save_as(root / "dicom" / "us.dcm", implicit_vr=True, enforce_file_format=True)
    images = load_images(load_cohort(root).study("P9"))
    expected = pydicom.dcmread(root / "dicom" / "us.dcm").pixel_array * 2.0 + 1.0
    np.testing.assert_array_equal(images["US"], expected.astype(np.float32))


# --- file-level rules -----------------------------------------------------------------------


def test_non_dicom_and_truncated_files_are_counted_exclusions(cohort_dir: Path) -> None:
    (cohort_dir / "dicom" / "README.txt").write_text("not an image")
    mg = cohort_dir / "dicom" / "mg_P001_cc.dcm"
    mg.write_bytes(mg.read_bytes()[:-50])
    cohort = load_cohort(cohort_dir)
    readme = _only_exclusion(cohort, path="dicom/README.txt")
    assert "no 'DICM' marker" in readme.reason
    truncated = _only_exclusion(cohort, path="dicom/mg_P001_cc.dcm")
    assert truncated.tag == "(7FE0,0010)"
    assert "truncated" in truncated.reason
    assert truncated.patient_id == "P001"
    assert cohort.study("P001").modalities == ("MG_MLO", "US", "MR")
    assert cohort.n_files == 13 == cohort.n_used + len(cohort.file_exclusions)


def test_file_cut_inside_header_says_it_may_be_truncated(cohort_dir: Path) -> None:
    rel = "dicom/P002/mr/phase2"
    (cohort_dir / rel).write_bytes((cohort_dir / rel).read_bytes()[:300])
    exclusion = _only_exclusion(load_cohort(cohort_dir), path=rel)
    assert exclusion.reason.endswith("ends without Pixel Data (truncated or corrupt?)")
    assert exclusion.tag is not None


def test_garbage_after_preamble_is_an_exclusion(cohort_dir: Path) -> None:
    (cohort_dir / "dicom" / "junk.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    exclusion = _only_exclusion(load_cohort(cohort_dir), path="dicom/junk.dcm")
    # pydicom parses the garbage leniently; the missing file meta is what gives it away
    assert exclusion.tag == "(0002,0010)"
    assert exclusion.reason.endswith("got missing")


@pytest.mark.parametrize(
    ("delta", "match"), [(-2, "is 126 bytes, expected 128"), (2, "is 130 bytes, expected 128")]
)
def test_pixel_data_of_wrong_length_names_tag(cohort_dir: Path, delta: int, match: str) -> None:
    rel = "dicom/us/P001.img"
    data = pydicom.dcmread(cohort_dir / rel).PixelData
    _replace(cohort_dir, rel, PixelData=data[:delta] if delta < 0 else data + b"\0" * delta)
    exclusion = _only_exclusion(load_cohort(cohort_dir))
    assert (exclusion.path, exclusion.tag) == (rel, "(7FE0,0010)")
    assert match in exclusion.reason


@pytest.mark.parametrize(
    ("keyword", "value", "tag", "match"),
    [
        ("PixelData", None, "(7FE0,0010)", "Pixel Data is missing"),
        ("Modality", None, "(0008,0060)", "Modality is missing"),
        ("Modality", "CT", "(0008,0060)", "Modality must be one of MG, US, MR, got 'CT'"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.6.1", "(0008,0016)", "not consistent with"),
        ("PatientID", None, "(0010,0020)", "PatientID is missing"),
        ("StudyInstanceUID", None, "(0020,000D)", "StudyInstanceUID is missing"),
        ("ViewPosition", None, "(0018,5101)", "ViewPosition is missing"),
        ("ViewPosition", "ML", "(0018,5101)", "must be one of CC, MLO"),
        ("ImageLaterality", None, "(0020,0062)", "ImageLaterality is missing"),
        ("ImageLaterality", "B", "(0020,0062)", "must be one of L, R"),
        ("PhotometricInterpretation", "RGB", "(0028,0004)", "MONOCHROME1, MONOCHROME2"),
        ("BitsAllocated", 12, "(0028,0100)", "8 or 16"),
        ("Rows", 7, "(7FE0,0010)", r"Rows 7 x Columns 8"),
        ("NumberOfFrames", 2, "(0028,0008)", "NumberOfFrames must be an integer in"),
        ("RescaleSlope", 0, "(0028,1053)", "must not be 0"),
    ],
)
def test_mg_file_rules_name_the_tag(
    cohort_dir: Path, keyword: str, value: object, tag: str, match: str
) -> None:
    rel = "dicom/mg_P002_cc.dcm"
    _replace(cohort_dir, rel, **{keyword: value})
    cohort = load_cohort(cohort_dir)
    exclusion = _only_exclusion(cohort)
    assert (exclusion.path, exclusion.tag) == (rel, tag)
    assert match in exclusion.reason
    assert cohort.study("P002").modalities == ("MG_MLO", "US", "MR")


def test_unsupported_transfer_syntax_names_0002_0010(cohort_dir: Path) -> None:
    rel = "dicom/us/P001.img"
    ds = pydicom.dcmread(cohort_dir / rel)
    ds.file_meta.TransferSyntaxUID = MPEG2MPML  # video: no pixel-data codec of ingest reads it
    ds.PixelData = encapsulate([ds.PixelData])
    write_dataset(ds, cohort_dir / rel)
    exclusion = _only_exclusion(load_cohort(cohort_dir))
    assert (exclusion.path, exclusion.tag) == (rel, "(0002,0010)")
    assert "MPEG2" in exclusion.reason


# --- patient and study rules ----------------------------------------------------------------


def test_unknown_patient_files_are_excluded(cohort_dir: Path) -> None:
    write_dataset(make_dataset("P777", "US"), cohort_dir / "dicom" / "stray.dcm")
    exclusion = _only_exclusion(load_cohort(cohort_dir))
    assert (exclusion.patient_id, exclusion.path, exclusion.tag) == (
        "P777",
        "dicom/stray.dcm",
        "(0010,0020)",
    )
    assert "not in clinical.csv" in exclusion.reason


def test_patient_with_two_study_uids_is_excluded_with_no_usable_images(cohort_dir: Path) -> None:
    _replace(cohort_dir, "dicom/us/P001.img", StudyInstanceUID=generate_uid(entropy_srcs=["x"]))
    cohort = load_cohort(cohort_dir)
    excluded = [e for e in cohort.exclusions if e.patient_id == "P001"]
    assert len(excluded) == 7  # 6 files + the patient
    assert {e.tag for e in excluded if e.path} == {"(0020,000D)"}
    assert excluded[0].path is None
    assert excluded[0].reason == (
        "no usable images (6 file(s) of this patient excluded, listed with their reasons)"
    )
    assert [s.patient_id for s in cohort.studies] == ["P002"]
    assert cohort.n_files == cohort.n_used + len(cohort.file_exclusions)


def test_study_uid_shared_by_two_patients_is_inconsistent_patient_id(cohort_dir: Path) -> None:
    uid = pydicom.dcmread(cohort_dir / "dicom" / "us" / "P001.img").StudyInstanceUID
    _replace(cohort_dir, "dicom/us/P002.img", StudyInstanceUID=uid)
    cohort = load_cohort(cohort_dir)
    shared = [e for e in cohort.exclusions if e.tag == "(0010,0020)"]
    assert len(shared) == 7  # all 6 files of P001's study uid and P002's US image
    assert (
        "also used by patient(s) P001" in _only_exclusion(cohort, path="dicom/us/P002.img").reason
    )


def test_laterality_mismatch_with_clinical_record(cohort_dir: Path) -> None:
    _replace(cohort_dir, "dicom/us/P001.img", ImageLaterality="R")
    exclusion = _only_exclusion(load_cohort(cohort_dir))
    assert exclusion.tag == "(0020,0062)"
    assert "ImageLaterality R does not match the clinical laterality L" in exclusion.reason


def test_duplicate_sop_instance_names_both_files(cohort_dir: Path) -> None:
    shutil.copy(cohort_dir / "dicom" / "us" / "P002.img", cohort_dir / "dicom" / "zcopy.dcm")
    cohort = load_cohort(cohort_dir)
    exclusion = _only_exclusion(cohort)
    assert (exclusion.path, exclusion.tag) == ("dicom/zcopy.dcm", "(0008,0018)")
    assert "same instance as dicom/us/P002.img" in exclusion.reason
    assert "US" in cohort.study("P002").modalities


def test_duplicate_mg_view_excludes_both(cohort_dir: Path) -> None:
    ds = make_dataset("P001", "MG", view="CC", seed=99)
    write_dataset(ds, cohort_dir / "dicom" / "another_cc.dcm")
    cohort = load_cohort(cohort_dir)
    dup = [e for e in cohort.exclusions if e.tag == "(0018,5101)"]
    assert sorted(e.path for e in dup) == ["dicom/another_cc.dcm", "dicom/mg_P001_cc.dcm"]
    assert all("2 MG_CC images" in e.reason for e in dup)
    assert cohort.study("P001").modalities == ("MG_MLO", "US", "MR")


def _mr(cohort_dir: Path, phase: int) -> str:
    return f"dicom/P001/mr/phase{phase}"


def test_missing_mr_phase_excludes_mr_of_patient(cohort_dir: Path) -> None:
    os.remove(cohort_dir / _mr(cohort_dir, 2))
    cohort = load_cohort(cohort_dir)
    assert cohort.study("P001").modalities == ("MG_CC", "MG_MLO", "US")
    excluded = cohort.file_exclusions
    assert [e.path for e in excluded] == [_mr(cohort_dir, 1), _mr(cohort_dir, 3)]
    assert all(e.tag == "(0020,0100)" and "missing [2]" in e.reason for e in excluded)


def test_mr_phase_without_temporal_position_is_named(cohort_dir: Path) -> None:
    _replace(cohort_dir, _mr(cohort_dir, 3), TemporalPositionIdentifier=None)
    cohort = load_cohort(cohort_dir)
    tags = {e.path: e.tag for e in cohort.file_exclusions}
    assert tags == {_mr(cohort_dir, k): "(0020,0100)" for k in (1, 2, 3)}
    assert (
        "TemporalPositionIdentifier is missing"
        in _only_exclusion(cohort, path=_mr(cohort_dir, 3)).reason
    )
    assert "MR" not in cohort.study("P001").modalities


@pytest.mark.parametrize(
    ("changes", "tag", "match"),
    [
        (
            {"NumberOfTemporalPositions": 2, "TemporalPositionIdentifier": 2},
            "(0020,0105)",
            "differs",
        ),
        (
            {"TemporalPositionIdentifier": 1},
            "(0020,0100)",
            "TemporalPositionIdentifier 1 appears in 2",
        ),
        ({"TemporalPositionIdentifier": 4}, "(0020,0100)", "unexpected [4]"),
    ],
)
def test_mr_phase_rules(cohort_dir: Path, changes: dict[str, int], tag: str, match: str) -> None:
    _replace(cohort_dir, _mr(cohort_dir, 3), **changes)
    cohort = load_cohort(cohort_dir)
    assert len(cohort.file_exclusions) == 3
    assert {(e.tag, match in e.reason) for e in cohort.file_exclusions} == {(tag, True)}


def test_mr_with_two_phases_only_is_excluded(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_cohort(root, [PatientSpec("P5", mr_phases=2)])
    cohort = load_cohort(root)
    assert {e.tag for e in cohort.file_exclusions} == {"(0020,0105)"}
    assert "needs >= 3 phases" in cohort.file_exclusions[0].reason


def test_mr_geometry_must_match_across_phases(cohort_dir: Path) -> None:
    ds = make_dataset("P001", "MR", phase=2, slices=3)
    write_dataset(ds, cohort_dir / _mr(cohort_dir, 2))
    cohort = load_cohort(cohort_dir)
    assert {e.tag for e in cohort.file_exclusions} == {"(0028,0008)"}
    assert "frames [2, 3]" in cohort.file_exclusions[0].reason


def test_patient_without_images_is_counted(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_cohort(root, [PatientSpec("P1"), PatientSpec("P2", mg_views=(), us=False, mr_phases=0)])
    exclusion = _only_exclusion(load_cohort(root))
    assert (exclusion.patient_id, exclusion.path) == ("P2", None)
    assert exclusion.reason == "no usable images (no DICOM file carries this PatientID)"


# --- paths, symlinks, ordering --------------------------------------------------------------


def test_symlinks_never_escape_the_root(cohort_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.dcm"
    write_dataset(make_dataset("P001", "US", seed=5), outside)
    (cohort_dir / "dicom" / "escape.dcm").symlink_to(outside)
    (cohort_dir / "dicom" / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    (cohort_dir / "dicom" / "inner.dcm").symlink_to(cohort_dir / "dicom" / "us" / "P002.img")
    cohort = load_cohort(cohort_dir)
    reasons = {e.path: e.reason for e in cohort.file_exclusions}
    assert "outside the cohort root" in reasons["dicom/escape.dcm"]
    assert "outside the cohort root" in reasons["dicom/linkdir"]
    # a link inside the root is read, and is then a duplicate instance of its target
    assert "same instance as dicom/inner.dcm" in reasons["dicom/us/P002.img"]
    assert cohort.n_files == 15 == cohort.n_used + len(cohort.file_exclusions)


def test_dangling_and_looping_symlinks_are_counted(cohort_dir: Path) -> None:
    (cohort_dir / "dicom" / "dangling.dcm").symlink_to(cohort_dir / "missing.dcm")
    (cohort_dir / "dicom" / "loop1").symlink_to(cohort_dir / "dicom" / "loop2")
    (cohort_dir / "dicom" / "loop2").symlink_to(cohort_dir / "dicom" / "loop1")
    cohort = load_cohort(cohort_dir)
    assert [e.path for e in cohort.exclusions] == [
        "dicom/dangling.dcm",
        "dicom/loop1",
        "dicom/loop2",
    ]
    assert all("cannot be resolved" in e.reason for e in cohort.exclusions)
    assert cohort.n_files == 15


def test_order_is_independent_of_file_creation_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_cohort(first, SPECS)
    write_cohort(second, SPECS[::-1])
    for root in (first, second):
        (root / "dicom" / "z.txt").write_text("x")
        (root / "dicom" / "a.txt").write_text("x")
    one, two = load_cohort(first), load_cohort(second)
    assert one.exclusions == two.exclusions
    assert [s.patient_id for s in one.studies] == ["P001", "P002"]
    relative = [
        {k: [p.relative_to(c.root) for p in v] for k, v in s.files.items()}
        for c in (one, two)
        for s in c.studies
    ]
    assert relative[:2] == relative[2:]


def test_root_without_dicom_folder_skips_metadata_files(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_cohort(root, SPECS[:1])
    for path in sorted((root / "dicom").rglob("*")):
        if path.is_file():
            target = root / path.relative_to(root / "dicom").as_posix().replace("/", "_")
            path.rename(target)
    shutil.rmtree(root / "dicom")
    (root / "cohort.json").write_text("{}")
    cohort = load_cohort(root)
    assert cohort.exclusions == ()
    assert cohort.n_files == 6


def test_clinical_path_may_be_given(cohort_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.csv"
    write_clinical(other, [clinical_row(SPECS[1])])
    cohort = load_cohort(cohort_dir, clinical=other)
    assert [s.patient_id for s in cohort.studies] == ["P002"]
    assert {e.patient_id for e in cohort.exclusions} == {"P001"}


# --- errors ---------------------------------------------------------------------------------


def test_missing_root_is_cohort_error(tmp_path: Path) -> None:
    with pytest.raises(CohortError, match="cohort folder not found"):
        load_cohort(tmp_path / "nope")


def test_empty_dicom_folder_is_cohort_error(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_clinical(root / "clinical.csv", [clinical_row(SPECS[0])])
    (root / "dicom").mkdir()
    with pytest.raises(CohortError, match=r"c: no files found"):
        load_cohort(root)


def test_load_images_refuses_changed_file_naming_file_and_tag(cohort_dir: Path) -> None:
    study = load_cohort(cohort_dir).study("P001")
    rel = "dicom/mg_P001_mlo.dcm"
    _replace(cohort_dir, rel, PatientID="P002")
    with pytest.raises(DicomError, match=r"mg_P001_mlo\.dcm: PatientID 'P002'.*\(0010,0020\)"):
        load_images(study)
    (cohort_dir / rel).write_bytes((cohort_dir / rel).read_bytes()[:-10])
    with pytest.raises(
        DicomError, match=r"mg_P001_mlo\.dcm: Pixel Data is truncated.*\(7FE0,0010\)"
    ):
        load_images(study)


def test_load_images_reads_unchanged_files_without_parsing_them_again(
    cohort_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cohort = load_cohort(cohort_dir)
    expected = load_images(StudyRef(**{f: getattr(cohort.study("P001"), f) for f in _FIELDS}))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_images parsed a file that load_cohort had already validated")

    monkeypatch.setattr(pydicom, "dcmread", refuse)
    images = load_images(cohort.study("P001"))
    assert images.keys() == expected.keys()
    for key, image in images.items():
        np.testing.assert_array_equal(image, expected[key])


_FIELDS = ("patient_id", "site", "manufacturer", "laterality", "modalities", "files")


# --- identifiers ----------------------------------------------------------------------------


@pytest.mark.req("REQ-PHI-001")
def test_no_patient_name_or_birth_date_in_outputs(cohort_dir: Path) -> None:
    _replace(cohort_dir, "dicom/us/P001.img", ImageLaterality="R")
    _replace(cohort_dir, "dicom/us/P002.img", Modality="XX")
    write_dataset(make_dataset("P404", "US"), cohort_dir / "dicom" / "stray.dcm")
    cohort = load_cohort(cohort_dir)
    assert len(cohort.exclusions) == 3
    text = repr(cohort) + repr(cohort.studies) + repr(cohort.exclusions)
    text += cohort.clinical.to_csv()
    for pid in ("P001", "P002", "P404"):
        assert pid in text
        assert fake_name(pid) not in text
        assert fake_name(pid).split("^")[0] not in text
    assert FAKE_BIRTH_DATE not in text


# --- the DCE-MRI volume, decoded in place ---------------------------------------------------


def _mr_cohort(root: Path, *, classic: bool) -> None:
    """Patient P9 with three 3-slice DCE-MRI phases of 6 x 6 pixels, Enhanced or classic."""
    write_clinical(root / "clinical.csv", [clinical_row(PatientSpec("P9"))])
    rng = np.random.default_rng(3)
    for phase in (1, 2, 3):
        ds = make_dataset("P9", "MR", phase=phase, seed=phase, size=6, slices=3)
        if not classic:
            write_dataset(ds, root / "dicom" / f"phase{phase}.dcm")
            continue
        for k, item in enumerate(enhanced_to_classic(ds, rng=rng, order_by="tpi", salt=str(phase))):
            write_dataset(item, root / "dicom" / f"phase{phase}" / f"s{k}.dcm")


@pytest.mark.parametrize("classic", [False, True])
def test_mr_volume_has_every_file_in_its_place(tmp_path: Path, classic: bool) -> None:
    """Each file is decoded straight into the volume: the values are those of each file read on
    its own (pydicom), Enhanced or classic alike, and the first file sets the geometry."""
    _mr_cohort(tmp_path / "c", classic=classic)
    volume = load_images(load_cohort(tmp_path / "c").study("P9"))["MR"]
    _mr_cohort(tmp_path / "e", classic=False)
    for phase in (1, 2, 3):
        expected = pydicom.dcmread(tmp_path / "e" / "dicom" / f"phase{phase}.dcm").pixel_array
        np.testing.assert_array_equal(volume[phase - 1], expected.astype(np.float32))
    assert volume.shape == (3, 3, 6, 6)
    assert volume.dtype == np.float32
    assert volume.flags.c_contiguous


@pytest.mark.parametrize("classic", [False, True])
def test_mr_file_of_another_geometry_since_load_cohort_is_refused(
    tmp_path: Path, classic: bool
) -> None:
    root = tmp_path / "c"
    _mr_cohort(root, classic=classic)
    study = load_cohort(root).study("P9")
    changed = study.files["MR"][-1]  # a file of the last phase, decoded into the volume
    if classic:
        item = pydicom.dcmread(changed)
        pixels = np.zeros((8, 8), dtype=np.uint16)
        item.Rows, item.Columns, item.PixelData = 8, 8, pixels.tobytes()
        write_dataset(item, changed)
        want = r"image geometry \(8, 8\) differs from the study's \(6, 6\) \(tag \(0028,0010\)\)"
    else:
        write_dataset(make_dataset("P9", "MR", phase=3, seed=3, size=8, slices=3), changed)
        want = (
            r"image geometry \(3, 8, 8\) differs from the study's \(3, 6, 6\) "
            r"\(tag \(0028,0010\)\)"
        )
    with pytest.raises(DicomError, match=rf"{changed.name}: {want}.*re-run load_cohort"):
        load_images(study)


def test_all_finite_is_exact_without_a_boolean_temporary() -> None:
    """The sum test: a NaN, an infinity or both infinities are caught; float64 values whose sum
    overflows are finite all the same (the element check then decides)."""
    assert all_finite(np.arange(10, dtype=np.float32))
    assert all_finite(np.zeros(0))
    for bad in (np.nan, np.inf, -np.inf):
        values = np.ones(7, dtype=np.float32)
        values[3] = bad
        assert not all_finite(values)
    assert not all_finite(np.array([np.inf, -np.inf, 1.0]))
    assert all_finite(np.array([1e308, 1e308, -1e308]))  # the sum overflows; each value is finite
    assert not all_finite(np.array([1e308, 1e308, np.nan]))
