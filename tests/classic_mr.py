"""Enhanced MR phase -> classic MR slice datasets, as a PACS or scanner exports them. Not a test
module: the encoding tests and the Duke importer fixture share it."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = ["CLASSIC_MR", "enhanced_to_classic"]

CLASSIC_MR = "1.2.840.10008.5.1.4.1.1.4"
_COPIED = (
    "PatientID", "StudyInstanceUID", "Modality", "SamplesPerPixel", "PhotometricInterpretation",
    "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
)  # fmt: skip


def enhanced_to_classic(
    ds: Dataset,
    *,
    rng: np.random.Generator,
    order_by: str,
    salt: str,
    description: str | None = None,
) -> list[Dataset]:
    """One classic MR dataset per frame of the Enhanced MR phase ``ds``, in shuffled order.

    ``order_by`` keeps only that phase-order element: ``tpi`` (TemporalPositionIdentifier),
    ``time`` (AcquisitionTime) or ``description`` (SeriesDescription ``ax dyn pre`` /
    ``ax dyn <k>st pass``; ``description`` overrides it).
    """
    phase = int(ds.TemporalPositionIdentifier)
    frames = ds.pixel_array
    spacing = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    series_uid = generate_uid(entropy_srcs=[salt, "classic"])
    out = []
    for k in rng.permutation(len(frames)):
        item = Dataset()
        item.file_meta = FileMetaDataset()
        item.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        item.file_meta.MediaStorageSOPClassUID = CLASSIC_MR
        for keyword in _COPIED:
            setattr(item, keyword, getattr(ds, keyword))
        item.SOPClassUID = CLASSIC_MR
        item.SOPInstanceUID = generate_uid(entropy_srcs=[salt, str(k)])
        item.file_meta.MediaStorageSOPInstanceUID = item.SOPInstanceUID
        item.SeriesInstanceUID = series_uid
        position = ds.PerFrameFunctionalGroupsSequence[k].PlanePositionSequence[0]
        item.ImagePositionPatient = position.ImagePositionPatient
        item.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        item.PixelSpacing = spacing
        if order_by == "tpi":
            item.TemporalPositionIdentifier = phase
        elif order_by == "time":
            item.AcquisitionTime = f"10{phase * 2:02d}{int(k):02d}.000"
        if description is not None or order_by == "description":
            item.SeriesDescription = description or (
                "ax dyn pre" if phase == 1 else f"ax dyn {phase - 1}st pass"
            )
        item.PixelData = np.ascontiguousarray(frames[k]).tobytes()
        out.append(item)
    return out

