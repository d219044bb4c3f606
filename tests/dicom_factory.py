"""Small DICOM files and cohorts for the ingest tests, written with pydicom per docs/INTERFACES.md.

The files follow the DICOM contract of the synthetic cohort (MG CC/MLO, US, one Enhanced MR
multi-frame file per DCE phase with TemporalPositionIdentifier / NumberOfTemporalPositions), but
with tiny images so that the tests stay fast. Every file carries a FAKE PatientName and
PatientBirthDate so that the PHI tests can check that neither reaches any ingest output.

This module is a test helper, independent of ``her2map.synth``: it writes each element explicitly
so that tests can mutate or delete any of them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

__all__ = [
    "CLINICAL_COLUMNS",
    "FAKE_BIRTH_DATE",
    "SOP_CLASS",
    "PatientSpec",
    "clinical_row",
    "fake_name",
    "make_dataset",
    "write_clinical",
    "write_cohort",
    "write_dataset",
]

CLINICAL_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "manufacturer",
    "age",
    "density",
    "race_ethnicity",
    "hr_status",
    "laterality",
    "reference_ihc",
    "reference_ish",
    "reference_her2",
    "her2_low",
    "reference_category",
    "biopsy_ihc",
    "biopsy_ish",
    "biopsy_her2",
    "pathway",
    "therapy",
    "pcr",
)

SOP_CLASS = {
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",
    "US": "1.2.840.10008.5.1.4.1.1.6.1",
    "MR": "1.2.840.10008.5.1.4.1.1.4.1",
}

FAKE_BIRTH_DATE = "19610304"


def fake_name(patient_id: str) -> str:
    """A fake person name that is easy to search for in outputs."""
    return f"FAKENAME^{patient_id}ZZQ"


@dataclass(frozen=True)
class PatientSpec:
    """What to write for one patient (default: MG CC + MLO, US and a 3-phase MR)."""

    patient_id: str
    laterality: str = "L"
    site: str = "A"
    mg_views: tuple[str, ...] = ("CC", "MLO")
    us: bool = True
    mr_phases: int = 3


def clinical_row(spec: PatientSpec) -> dict[str, str]:
    """One valid clinical.csv row for ``spec`` (upfront surgery: no NAT, no response)."""
    return {
        "patient_id": spec.patient_id,
        "site": spec.site,
        "manufacturer": "VendorX",
        "age": "54",
        "density": "b",
        "race_ethnicity": "Not recorded",
        "hr_status": "1",
        "laterality": spec.laterality,
        "reference_ihc": "2+",
        "reference_ish": "negative",
        "reference_her2": "0",
        "her2_low": "1",
        "reference_category": "2+/ISH-",
        "biopsy_ihc": "1+",
        "biopsy_ish": "",
        "biopsy_her2": "0",
        "pathway": "upfront-surgery",
        "therapy": "",
        "pcr": "",
    }


def write_clinical(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """Write ``rows`` as clinical.csv (columns in contract order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(CLINICAL_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _pixels(shape: tuple[int, ...], seed: int, bits_stored: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**bits_stored, size=shape, dtype=np.uint16)


def make_dataset(
    patient_id: str,
    modality: str,
    *,
    laterality: str = "L",
    view: str | None = None,
    phase: int | None = None,
    n_phases: int = 3,
    study_uid: str | None = None,
    size: int = 8,
    slices: int = 2,
    seed: int = 0,
    bits_stored: int = 12,
    rescale: tuple[float, float] | None = None,
) -> Dataset:
    """One contract-conforming dataset (file meta included), ready for :func:`write_dataset`."""
    key = f"{patient_id}|{modality}|{view}|{phase}|{seed}"
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SOP_CLASS[modality])
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[key, "sop"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.SOPClassUID = SOP_CLASS[modality]
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.Manufacturer = "VendorX"
    ds.InstitutionName = "Fictional Hospital A"
    ds.PatientName = fake_name(patient_id)
    ds.PatientBirthDate = FAKE_BIRTH_DATE
    ds.PatientID = patient_id
    ds.StudyInstanceUID = study_uid or generate_uid(entropy_srcs=[patient_id, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[key, "series"])
    ds.ImageLaterality = laterality
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if rescale is not None:
        ds.RescaleSlope = rescale[0]
        ds.RescaleIntercept = rescale[1]
    shape: tuple[int, ...] = (size, size)
    if modality == "MG":
        ds.ViewPosition = view or "CC"
    if modality == "MR":
        current = phase or 1
        ds.NumberOfFrames = slices
        shape = (slices, size, size)
        ds.TemporalPositionIdentifier = current
        ds.NumberOfTemporalPositions = n_phases
        ds.SeriesDescription = "DCE pre" if current == 1 else f"DCE post{current - 1}"
        if current > 1:
            ds.ContrastBolusAgent = "Gadobutrol"
        measures = Dataset()
        measures.PixelSpacing = [0.7, 0.7]
        measures.SliceThickness = 2.0
        shared = Dataset()
        shared.PixelMeasuresSequence = DicomSequence([measures])
        ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
        per_frame = []
        for k in range(slices):
            position = Dataset()
            position.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
            item = Dataset()
            item.PlanePositionSequence = DicomSequence([position])
            per_frame.append(item)
        ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = _pixels(shape, seed, bits_stored).astype("<u2").tobytes()
    return ds


def write_dataset(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` with preamble and explicit VR little endian."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_cohort(
    root: Path,
    specs: Sequence[PatientSpec],
    *,
    size: int = 8,
    slices: int = 2,
) -> list[Path]:
    """Write clinical.csv and DICOM files for ``specs`` under ``root``; return the DICOM paths.

    Layout deliberately differs from the synth layout (flat names, mixed nesting) so that the
    tests check that ingest groups by tags, not by paths.
    """
    write_clinical(root / "clinical.csv", [clinical_row(s) for s in specs])
    paths: list[Path] = []
    for i, spec in enumerate(specs):
        pid = spec.patient_id
        for view in spec.mg_views:
            ds = make_dataset(pid, "MG", laterality=spec.laterality, view=view, seed=i, size=size)
            paths.append(write_dataset(ds, root / "dicom" / f"mg_{pid}_{view.lower()}.dcm"))
        if spec.us:
            ds = make_dataset(pid, "US", laterality=spec.laterality, seed=i, size=size)
            paths.append(write_dataset(ds, root / "dicom" / "us" / f"{pid}.img"))
        for phase in range(1, spec.mr_phases + 1):
            ds = make_dataset(
                pid,
                "MR",
                laterality=spec.laterality,
                phase=phase,
                n_phases=spec.mr_phases,
                seed=i * 10 + phase,
                size=size,
                slices=slices,
            )
            paths.append(write_dataset(ds, root / "dicom" / pid / "mr" / f"phase{phase}"))
    return sorted(paths)
