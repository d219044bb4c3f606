"""Property-based ingest tests: mutated DICOM files never crash ingest and are never lost.

Hypothesis mutates a small valid cohort (truncation at random offsets, random byte flips, deleted
elements, changed values) and checks that :func:`load_cohort` only ever returns, that every file
is either in a study or in exactly one exclusion (REQ-ING-001), that every study decodes, and that
no patient name or birth date reaches any output (REQ-PHI-001).
"""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicom_factory import FAKE_BIRTH_DATE, PatientSpec, fake_name, write_cohort
from hypothesis import given, settings
from hypothesis import strategies as st

from her2map.ingest import MODALITY_KEYS, load_cohort, load_images

SPECS = (PatientSpec("P001", laterality="L"), PatientSpec("P002", laterality="R", mg_views=("CC",)))

DELETABLE = (
    "Modality",
    "PatientID",
    "PixelData",
    "ImageLaterality",
    "TemporalPositionIdentifier",
    "NumberOfTemporalPositions",
    "ViewPosition",
    "SOPInstanceUID",
    "SOPClassUID",
    "StudyInstanceUID",
    "Rows",
    "BitsAllocated",
    "NumberOfFrames",
    "PhotometricInterpretation",
)
CHANGES = (
    ("Modality", "CT"),
    ("Modality", "MR"),
    ("Modality", "MG"),
    ("PatientID", "P002"),
    ("PatientID", "P999"),
    ("PatientID", ""),
    ("ImageLaterality", "R"),
    ("ImageLaterality", "B"),
    ("ViewPosition", "MLO"),
    ("ViewPosition", "CC"),
    ("TemporalPositionIdentifier", 2),
    ("TemporalPositionIdentifier", 0),
    ("NumberOfTemporalPositions", 2),
    ("NumberOfTemporalPositions", 4),
    ("Rows", 9),
    ("NumberOfFrames", 3),
    ("BitsStored", 17),
    ("RescaleSlope", "nan"),
    ("StudyInstanceUID", "1.2.3.4"),
    ("SOPInstanceUID", "1.2.3.5"),
    ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.4"),
)


@functools.cache
def _base() -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    """clinical.csv bytes and (relative path, bytes) of every DICOM file of the base cohort."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_cohort(root, SPECS)
        files = tuple((p.relative_to(root).as_posix(), p.read_bytes()) for p in paths)
        return (root / "clinical.csv").read_bytes(), files


def _rewrite(data: bytes, keyword: str, value: object | None) -> bytes:
    """``data`` with one element deleted (value None) or changed; unchanged if unparsable."""
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        if value is None:
            if keyword not in ds:
                return data
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
        out = io.BytesIO()
        ds.save_as(out)
    except Exception:  # a file already broken by an earlier mutation stays as it is
        return data
    return out.getvalue()


_index = st.integers(min_value=0, max_value=len(_base()[1]) - 1)
_fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
MUTATION = st.one_of(
    st.tuples(st.just("truncate"), _index, _fraction),
    st.tuples(st.just("flip"), _index, _fraction, st.integers(min_value=1, max_value=255)),
    st.tuples(st.just("delete"), _index, st.sampled_from(DELETABLE)),
    st.tuples(st.just("set"), _index, st.sampled_from(CHANGES)),
)


def _mutate(files: list[bytes], mutation: tuple) -> None:
    kind, index = mutation[0], mutation[1]
    data = files[index]
    if kind == "truncate":
        files[index] = data[: int(mutation[2] * len(data))]
    elif kind == "flip":
        at = min(int(mutation[2] * len(data)), len(data) - 1)
        files[index] = data[:at] + bytes([data[at] ^ mutation[3]]) + data[at + 1 :]
    elif kind == "delete":
        files[index] = _rewrite(data, mutation[2], None)
    else:
        files[index] = _rewrite(data, *mutation[2])


@pytest.mark.req("REQ-ING-001")
@pytest.mark.req("REQ-PHI-001")
@settings(max_examples=40)
@given(mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_files_are_used_or_excluded_never_lost(mutations: list[tuple]) -> None:
    clinical, base = _base()
    rels = [rel for rel, _ in base]
    contents = [data for _, data in base]
    for mutation in mutations:
        _mutate(contents, mutation)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cohort"
        root.mkdir()
        (root / "clinical.csv").write_bytes(clinical)
        for rel, data in zip(rels, contents, strict=True):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        cohort = load_cohort(root)  # must not raise: clinical.csv is valid, files exist
        used = [
            p.relative_to(cohort.root).as_posix()
            for s in cohort.studies
            for paths in s.files.values()
            for p in paths
        ]
        excluded = [e.path for e in cohort.file_exclusions]
        assert sorted(used + excluded) == sorted(rels)  # each file exactly once
        assert cohort.n_files == len(rels) == cohort.n_used + len(excluded)
        studied = [s.patient_id for s in cohort.studies]
        unusable = [e.patient_id for e in cohort.patient_exclusions]
        assert sorted(studied + unusable) == ["P001", "P002"]
        assert all(e.reason for e in cohort.exclusions)
        for study in cohort.studies:
            images = load_images(study)
            assert tuple(images) == study.modalities
            assert set(study.modalities) <= set(MODALITY_KEYS)
            for key, image in images.items():
                assert image.dtype == np.float32
                assert image.ndim == (4 if key == "MR" else 2)
    text = repr(cohort) + repr(cohort.studies) + repr(cohort.exclusions)
    for spec in SPECS:
        assert fake_name(spec.patient_id) not in text
    assert FAKE_BIRTH_DATE not in text


@pytest.mark.req("REQ-ING-001")
def test_mutation_helpers_really_break_files() -> None:
    """Guard for the property test: its mutations do reach the files."""
    _, base = _base()
    data = base[0][1]
    assert _rewrite(data, "Modality", None) != data
    assert _rewrite(data, "Modality", "CT") != data
    assert b"CT" in _rewrite(data, "Modality", "CT")
    files = [data]
    _mutate(files, ("truncate", 0, 0.5))
    assert len(files[0]) == len(data) // 2
