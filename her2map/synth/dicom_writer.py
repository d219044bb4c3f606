"""Write a patient's images as real DICOM files (pydicom), byte-identical for the same seed.

One template :class:`pydicom.Dataset` per image kind holds the elements every file shares; pydicom
encodes each of them ONCE per process (explicit VR little endian). Per file, only the few
elements that change (identity, UIDs, laterality, site, pixels: :func:`file_elements`) are encoded
by a small explicit-VR encoder and merged in tag order behind the preamble and file meta, which
makes writing ~10x faster than :func:`pydicom.dcmwrite` on a full dataset. :func:`build_dataset`
is the slow, obviously correct twin (template copy + the same elements, written by
``pydicom.dcmwrite(..., enforce_file_format=True)``); the tests require identical bytes. No timestamps: study
and birth dates come from the patient's identity stream; UIDs come from
``generate_uid(entropy_srcs=[...seed, patient, series, instance])``; the implementation UID and
version name are fixed. Contract: ``docs/INTERFACES.md`` (MG For Presentation, US Image,
Enhanced MR with one multi-frame file per DCE phase).

Every file carries a FAKE patient name and birth date (so that downstream PHI exclusion can be
tested); neither ever reaches clinical.csv, truth.csv or cohort.json.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from her2map import __version__
from her2map.synth.parameters import ImageSizes, SiteParams

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "SOP_CLASS",
    "DicomFile",
    "Identity",
    "build_dataset",
    "encode_file",
    "fake_identity",
    "series_plan",
    "study_files",
    "write_study",
]

#: SOP Class UIDs of the contract.
SOP_CLASS: dict[str, str] = {
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image - For Presentation
    "US": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
}
IMPLEMENTATION_CLASS_UID = generate_uid(entropy_srcs=["her2map", "synth", "implementation"])
IMPLEMENTATION_VERSION_NAME = f"HER2MAP_{__version__}"[:16]
_ENTROPY_ROOT = "her2map-synth"
_GIVEN = (
    "Alva", "Brisa", "Celeste", "Dorit", "Elowen", "Fenna", "Greta", "Hild", "Ines", "Jolien",
    "Kaia", "Liv", "Maren", "Nella", "Oda", "Pia", "Runa", "Sanne", "Tove", "Ylva",
)  # fmt: skip
_FAMILY = (
    "Testwick", "Mockridge", "Fakenham", "Dummling", "Synthby", "Placeholt", "Samplewood",
    "Fictova", "Pseudonne", "Virtanova", "Notreal", "Madeupson", "Invento", "Phantasma",
)  # fmt: skip


@dataclass(frozen=True)
class Identity:
    """Fake identity and dates of one patient (DICOM only; never in any table)."""

    patient_name: str
    birth_date: str
    study_date: str


def fake_identity(rng: np.random.Generator, age: int) -> Identity:
    """Fictional name, birth date ``age`` years before a study date in 2014-2023 (YYYYMMDD)."""
    name = f"{_FAMILY[int(rng.integers(len(_FAMILY)))]}^{_GIVEN[int(rng.integers(len(_GIVEN)))]}"
    study = dt.date(2014, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3650)))
    birth = study - dt.timedelta(days=int(age * 365.25 + rng.integers(1, 365)))
    return Identity(name, birth.strftime("%Y%m%d"), study.strftime("%Y%m%d"))


def series_plan(key: str, n_phases: int) -> list[tuple[str, int, str, int]]:
    """Series of modality ``key``: (folder, series number, description, temporal position)."""
    if key == "MR":
        return [
            (f"MR_phase{k}", 10 + k, "DCE pre" if k == 1 else f"DCE post{k - 1}", k)
            for k in range(1, n_phases + 1)
        ]
    number = {"MG_CC": 1, "MG_MLO": 2, "US": 3}[key]
    description = {"MG_CC": "MG CC", "MG_MLO": "MG MLO", "US": "US breast"}[key]
    return [(key, number, description, 0)]


def _image_pixel(ds: Dataset, rows: int, cols: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0


@functools.cache
def _template(kind: str, sizes: ImageSizes) -> Dataset:
    """Template dataset of ``kind`` (MG, US or MR); the elements of :func:`study_files` complete it."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(SOP_CLASS[kind])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    ds.file_meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = SOP_CLASS[kind]
    ds.Modality = kind
    ds.PatientSex = "F"
    ds.BodyPartExamined = "BREAST"
    ds.StudyDescription = "Breast imaging (synthetic)"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.InstanceNumber = 1
    if kind == "MG":
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.ImagerPixelSpacing = [0.5, 0.5]
        _image_pixel(ds, sizes.mg, sizes.mg)
    elif kind == "US":
        _image_pixel(ds, sizes.us, sizes.us)
    else:
        spacing, thickness = 2.0, 4.0
        _image_pixel(ds, sizes.mr, sizes.mr)
        ds.NumberOfFrames = sizes.mr_slices
        ds.NumberOfTemporalPositions = sizes.mr_phases
        measures = Dataset()
        measures.PixelSpacing = [spacing, spacing]
        measures.SliceThickness = thickness
        orientation = Dataset()
        orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        shared.PlaneOrientationSequence = Sequence([orientation])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        frames = []
        for k in range(sizes.mr_slices):
            position = Dataset()
            position.ImagePositionPatient = [0.0, 0.0, k * thickness]
            content = Dataset()
            content.StackID = "1"
            content.InStackPositionNumber = k + 1
            frame = Dataset()
            frame.PlanePositionSequence = Sequence([position])
            frame.FrameContentSequence = Sequence([content])
            frames.append(frame)
        ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    return ds


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=[_ENTROPY_ROOT, *(str(p) for p in parts)])


@dataclass(frozen=True)
class DicomFile:
    """One file to write: its path below the DICOM root, image kind and per-file elements."""

    relpath: str
    kind: str
    elements: tuple[tuple[str, object], ...]


def study_files(
    *,
    seed: int,
    patient_id: str,
    laterality: str,
    identity: Identity,
    site: SiteParams,
    images: dict[str, NDArray[np.uint16]],
    sizes: ImageSizes,
) -> Iterator[DicomFile]:
    """The files of one patient, in writing order, with every element that differs per file."""
    study_uid = _uid(seed, patient_id, "study")
    for key in ("MG_CC", "MG_MLO", "US", "MR"):
        if key not in images:
            continue
        kind = key.split("_")[0]
        for index, (folder, number, description, temporal) in enumerate(
            series_plan(key, sizes.mr_phases)
        ):
            pixels = images[key][index] if kind == "MR" else images[key]
            elements: list[tuple[str, object]] = [
                ("SOPInstanceUID", _uid(seed, patient_id, folder, 1)),
                ("StudyDate", identity.study_date),
                ("SeriesDate", identity.study_date),
                ("Manufacturer", site.manufacturer),
                ("InstitutionName", site.institution),
                ("SeriesDescription", description),
                ("ManufacturerModelName", site.model_name),
                ("PatientName", identity.patient_name),
                ("PatientID", patient_id),
                ("PatientBirthDate", identity.birth_date),
                ("StudyInstanceUID", study_uid),
                ("SeriesInstanceUID", _uid(seed, patient_id, folder)),
                ("SeriesNumber", number),
                ("ImageLaterality", laterality),
                ("PixelData", np.ascontiguousarray(pixels, dtype="<u2").tobytes()),
            ]
            if kind == "MG":
                elements.append(("ViewPosition", key.split("_")[1]))
            if kind == "MR":
                elements.append(("FrameOfReferenceUID", _uid(seed, patient_id, "frame-of-ref")))
                elements.append(("TemporalPositionIdentifier", temporal))
                if temporal > 1:
                    elements.append(("ContrastBolusAgent", "Gadobutrol"))
            yield DicomFile(f"{patient_id}/{folder}/1.dcm", kind, tuple(elements))


_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)


@functools.cache
def _tag_vr(keyword: str) -> tuple[int, str]:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    vr = dictionary_VR(tag)
    return tag, ("OW" if vr == "OB or OW" else vr)


def _encode(tag: int, vr: str, value: object) -> bytes:
    """One explicit-VR little-endian element (the value types this writer uses)."""
    if isinstance(value, bytes):
        data = value
    elif vr == "US":
        data = struct.pack("<H", value)
    elif vr == "UL":
        data = struct.pack("<I", value)
    else:
        data = str(value).encode("iso8859-1")
    if len(data) % 2:
        data += b"\x00" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + b"\x00\x00" + struct.pack("<I", len(data)) + data
    return head + struct.pack("<H", len(data)) + data


@functools.cache
def _static_elements(kind: str, sizes: ImageSizes) -> tuple[tuple[int, bytes], ...]:
    """The template's elements, each encoded once by pydicom, with their tags."""
    encoded = []
    for elem in _template(kind, sizes):
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        write_data_element(fp, elem, "iso8859")
        encoded.append((int(elem.tag), fp.getvalue()))
    return tuple(encoded)


def encode_file(item: DicomFile, sizes: ImageSizes) -> bytes:
    """Complete Part-10 bytes of ``item`` (preamble, file meta, dataset), fast path."""
    sop_uid = next(v for k, v in item.elements if k == "SOPInstanceUID")
    meta = b"".join(
        _encode(*_tag_vr(k), v)
        for k, v in (
            ("FileMetaInformationVersion", b"\x00\x01"),
            ("MediaStorageSOPClassUID", SOP_CLASS[item.kind]),
            ("MediaStorageSOPInstanceUID", sop_uid),
            ("TransferSyntaxUID", ExplicitVRLittleEndian),
            ("ImplementationClassUID", IMPLEMENTATION_CLASS_UID),
            ("ImplementationVersionName", IMPLEMENTATION_VERSION_NAME),
        )
    )
    parts = list(_static_elements(item.kind, sizes))
    for keyword, value in item.elements:
        tag, vr = _tag_vr(keyword)
        parts.append((tag, _encode(tag, vr, value)))
    parts.sort(key=lambda part: part[0])
    return b"".join(
        (
            bytes(128),
            b"DICM",
            _encode(0x00020000, "UL", len(meta)),
            meta,
            *(data for _, data in parts),
        )
    )


def build_dataset(item: DicomFile, sizes: ImageSizes) -> Dataset:
    """Slow twin of :func:`encode_file`: the full pydicom Dataset (template copy + elements)."""
    ds = copy.deepcopy(_template(item.kind, sizes))
    for keyword, value in item.elements:
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def write_study(root: Path, *, sizes: ImageSizes, **study: object) -> int:
    """Write every file of one patient (:func:`study_files` arguments) under ``root``; count."""
    written = 0
    for item in study_files(sizes=sizes, **study):  # type: ignore[arg-type]
        target = root / item.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encode_file(item, sizes))
        written += 1
    return written
