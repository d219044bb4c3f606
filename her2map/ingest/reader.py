"""One DICOM file -> one validated header record (and, on request, its decoded pixels).

File-level rules of the ingest contract (INTERFACES.md) checked here, each failure naming the tag:

* the 'DICM' marker at byte 128 and a parse by ``pydicom.dcmread(force=False)``;
* transfer syntax (0002,0010) uncompressed little endian (explicit or implicit VR);
* Modality (0008,0060) in MG/US/MR and SOP Class UID (0008,0016) the one of that modality;
* SOPInstanceUID (0008,0018), PatientID (0010,0020), StudyInstanceUID (0020,000D) present;
* a MONOCHROME2, one-sample, 8/16-bit image whose Pixel Data (7FE0,0010) is native (not
  encapsulated) and exactly Rows x Columns x NumberOfFrames x BitsAllocated/8 bytes long;
* MG: ViewPosition (0018,5101) CC or MLO; MG and US: ImageLaterality (0020,0062) L or R and a
  single frame; MR: TemporalPositionIdentifier (0020,0100) and NumberOfTemporalPositions
  (0020,0105) positive integers.

The header pass reads the file with ``defer_size`` so that Pixel Data is located (offset and
length) but not read, and decodes the ~20 elements it needs straight from their raw bytes (no
pydicom value conversion of any other element). :func:`read_image` then reads only the pixel bytes
at the recorded offset when the file is unchanged (each file is parsed once per ingest), and
decodes them with ``numpy.frombuffer``: uncompressed little endian only, unused high bits masked
and signed values sign-extended as pydicom's native decoder (``Dataset.pixel_array``) does.

Why ``except Exception`` around ``dcmread``: a corrupt or truncated file makes pydicom raise many
unrelated exception types; at this one boundary each is turned into a recorded problem naming the
file, so that a bad file is an exclusion and never a traceback.

Elements that could identify a person (PatientName, PatientBirthDate, ...) are never accessed, so
their values cannot reach a record or a message (REQ-PHI-001).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from her2map.exceptions import DicomError

__all__ = [
    "SOP_CLASS_BY_MODALITY",
    "DicomHeader",
    "FileProblem",
    "format_tag",
    "read_header",
    "read_image",
]

#: The SOP Class each supported Modality must carry (INTERFACES.md, DICOM contract).
SOP_CLASS_BY_MODALITY: dict[str, str] = {
    "MG": "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray - For Presentation
    "US": "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage
}
_TRANSFER_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_DTYPES = {(8, 0): "u1", (8, 1): "i1", (16, 0): "<u2", (16, 1): "<i2"}
_PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF
_DEFER_SIZE = 4096  # bytes: larger values (Pixel Data) are located, not read, by the header pass


def format_tag(tag: int) -> str:
    """``0x00080060`` -> ``"(0008,0060)"``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass(frozen=True)
class DicomHeader:
    """The validated elements of one DICOM file that ingest needs (no person identifiers)."""

    path: Path
    patient_id: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    modality: str
    key: str
    laterality: str | None
    rows: int
    columns: int
    frames: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    slope: float
    intercept: float
    temporal_position: int | None
    n_temporal_positions: int | None
    pixel_offset: int
    pixel_length: int
    signature: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """Decoded array shape: ``(rows, columns)`` for MG/US, ``(frames, rows, columns)`` for MR."""
        if self.modality == "MR":
            return (self.frames, self.rows, self.columns)
        return (self.rows, self.columns)


@dataclass(frozen=True)
class FileProblem:
    """Why a file is not usable: reason, offending tag (or ``None``) and PatientID when known."""

    reason: str
    tag: str | None = None
    patient_id: str | None = None


class _Reject(Exception):  # private control flow, converted before leaving the module
    def __init__(self, reason: str, tag: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = None if tag is None else format_tag(tag)
        self.patient_id: str | None = None


_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "SH", "TM", "UI"})
_BINARY_VRS = {"US": (2, False), "SS": (2, True), "UL": (4, False), "SL": (4, True)}


def _decode_raw(data: bytes, vr: str, name: str, tag: int) -> str | int | None:
    """One value from an element's raw little-endian bytes (text VRs -> str, binary -> int).

    Decoding the few elements ingest needs directly is several times faster than pydicom's
    generic conversion, and it never touches any other element.
    """
    if vr in _BINARY_VRS:
        size, signed = _BINARY_VRS[vr]
        if not data:
            return None
        if len(data) != size:
            raise _Reject(f"{name} must have one {vr} value, got {len(data)} bytes", tag)
        return int.from_bytes(data, "little", signed=signed)
    if vr not in _TEXT_VRS:
        raise _Reject(f"{name} has VR {vr}, expected a text or integer VR", tag)
    try:
        text = data.decode("ascii").strip(" \x00")
    except UnicodeDecodeError:
        raise _Reject(f"{name} is not ASCII text", tag) from None
    if "\\" in text:
        raise _Reject(f"{name} must have one value, got {text.count(chr(92)) + 1}", tag)
    return text or None


def _element(ds: Dataset, tag: int, name: str, *, required: bool = True) -> str | int | None:
    """Single value of ``tag``; ``None`` if absent or empty and not required."""
    elem = ds.get_item(tag, keep_deferred=True)
    value: str | int | None = None
    if isinstance(elem, RawDataElement):
        if elem.value is None:  # deferred: longer than any plausible value of these elements
            raise _Reject(f"{name} is implausibly long ({elem.length} bytes)", tag)
        vr = elem.VR or dictionary_VR(tag)
        value = _decode_raw(bytes(elem.value), str(vr), name, tag)
    elif elem is not None:
        raise _Reject(f"{name} could not be decoded (unexpected element form)", tag)
    if value is None and required:
        raise _Reject(f"{name} is missing or empty", tag)
    return value


def _text(ds: Dataset, tag: int, name: str, *, required: bool = True) -> str | None:
    value = _element(ds, tag, name, required=required)
    if value is not None and not isinstance(value, str):
        raise _Reject(f"{name} must be text", tag)
    return value


def _choice(ds: Dataset, tag: int, name: str, allowed: tuple[str, ...]) -> str:
    value = _text(ds, tag, name)
    if value not in allowed:
        shown = value if value is not None and len(value) <= 16 else "<long value>"
        raise _Reject(f"{name} must be one of {', '.join(allowed)}, got {shown!r}", tag)
    return value


def _integer(
    ds: Dataset, tag: int, name: str, low: int, high: int, *, default: int | None = None
) -> int:
    value = _element(ds, tag, name, required=default is None)
    if value is None:  # only possible when a default is given (else _element raised)
        return int(default or 0)
    try:
        real = float(value)
        number = int(real)
    except (ValueError, OverflowError):
        raise _Reject(f"{name} must be an integer, got {str(value)[:16]!r}", tag) from None
    if real != number or not low <= number <= high:
        raise _Reject(f"{name} must be an integer in [{low}, {high}], got {value}", tag)
    return number


def _real(ds: Dataset, tag: int, name: str, default: float) -> float:
    value = _element(ds, tag, name, required=False)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise _Reject(f"{name} must be a number, got {str(value)[:16]!r}", tag) from None
    if not math.isfinite(number):
        raise _Reject(f"{name} must be finite, got {number}", tag)
    return number


def _signature(st: os.stat_result) -> tuple[int, ...]:
    """Identity of a file version: any rewrite changes size, mtime or ctime (or the inode)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _parse(fp: BinaryIO, st: os.stat_result, path: Path) -> DicomHeader:
    """Parse and validate the header of the open file ``fp`` (whose status is ``st``)."""
    preamble = fp.read(132)
    if len(preamble) < 132 or preamble[128:132] != b"DICM":
        raise _Reject("not a DICOM file: no 'DICM' marker at byte offset 128")
    fp.seek(0)
    try:
        with warnings.catch_warnings():
            # pydicom warns on odd values; every value used below is validated explicitly instead
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, defer_size=_DEFER_SIZE, force=False)
            syntax = ds.file_meta.get("TransferSyntaxUID")
    except Exception as exc:  # corrupt/truncated files raise many exception types in pydicom
        raise _Reject(f"unreadable DICOM ({type(exc).__name__}: {str(exc)[:160]})") from exc
    # A corrupt header can give several values (a MultiValue: unhashable) or bytes
    if not isinstance(syntax, str) or syntax not in _TRANSFER_SYNTAXES:
        # Validation off: pydicom's warning about a malformed UID would print the raw header
        # (names included); and show at most a UID's 64 characters.
        text = str(syntax)[:64]
        shown = UID(text, validation_mode=config.IGNORE).name if syntax else "missing"
        raise _Reject(
            f"transfer syntax must be uncompressed little endian, got {shown}", 0x00020010
        )
    try:
        with warnings.catch_warnings():  # values are read lazily: pydicom would warn here too
            warnings.simplefilter("ignore")
            return _header(ds, st, path)
    except _Reject as exc:
        if exc.tag != format_tag(_PIXEL_DATA) and _PIXEL_DATA not in ds:
            exc.reason += "; the file also ends without Pixel Data (truncated or corrupt?)"
        raise


def _header(ds: Dataset, st: os.stat_result, path: Path) -> DicomHeader:
    modality = _choice(ds, 0x00080060, "Modality", ("MG", "US", "MR"))
    sop_class = _text(ds, 0x00080016, "SOPClassUID")
    if sop_class != SOP_CLASS_BY_MODALITY[modality]:
        expected = SOP_CLASS_BY_MODALITY[modality]
        raise _Reject(
            f"SOPClassUID {sop_class} ({UID(str(sop_class)).name}) is not consistent with "
            f"Modality {modality}; expected {expected} ({UID(expected).name})",
            0x00080016,
        )
    patient_id = _text(ds, 0x00100020, "PatientID")
    try:
        return _image_header(ds, st, path, modality, str(patient_id))
    except _Reject as exc:
        exc.patient_id = patient_id
        raise


def _image_header(
    ds: Dataset, st: os.stat_result, path: Path, modality: str, patient_id: str
) -> DicomHeader:
    sop_instance = str(_text(ds, 0x00080018, "SOPInstanceUID"))
    study_uid = str(_text(ds, 0x0020000D, "StudyInstanceUID"))
    series_uid = _text(ds, 0x0020000E, "SeriesInstanceUID", required=False) or ""
    key, laterality = modality, None
    temporal = n_temporal = None
    if modality == "MG":
        key = "MG_" + _choice(ds, 0x00185101, "ViewPosition", ("CC", "MLO"))
    if modality in ("MG", "US"):
        laterality = _choice(ds, 0x00200062, "ImageLaterality", ("L", "R"))
        frames = _integer(ds, 0x00280008, "NumberOfFrames", 1, 1, default=1)
    else:
        frames = _integer(ds, 0x00280008, "NumberOfFrames", 1, 65535)
        temporal = _integer(ds, 0x00200100, "TemporalPositionIdentifier", 1, 10_000)
        n_temporal = _integer(ds, 0x00200105, "NumberOfTemporalPositions", 1, 10_000)
    _integer(ds, 0x00280002, "SamplesPerPixel", 1, 1)
    _choice(ds, 0x00280004, "PhotometricInterpretation", ("MONOCHROME2",))
    rows = _integer(ds, 0x00280010, "Rows", 1, 65535)
    columns = _integer(ds, 0x00280011, "Columns", 1, 65535)
    bits_allocated = _integer(ds, 0x00280100, "BitsAllocated", 8, 16)
    if bits_allocated not in (8, 16):
        raise _Reject(f"BitsAllocated must be 8 or 16, got {bits_allocated}", 0x00280100)
    bits_stored = _integer(ds, 0x00280101, "BitsStored", 1, bits_allocated)
    representation = _integer(ds, 0x00280103, "PixelRepresentation", 0, 1)
    slope = _real(ds, 0x00281053, "RescaleSlope", 1.0)
    if slope == 0.0:
        raise _Reject("RescaleSlope must not be 0", 0x00281053)
    intercept = _real(ds, 0x00281052, "RescaleIntercept", 0.0)
    offset, length = _locate_pixels(ds, st.st_size)
    expected = rows * columns * frames * bits_allocated // 8
    if length not in (expected, expected + expected % 2):
        raise _Reject(
            f"Pixel Data is {length} bytes, expected {expected} "
            f"(Rows {rows} x Columns {columns} x frames {frames} x {bits_allocated // 8} bytes)",
            _PIXEL_DATA,
        )
    return DicomHeader(
        path=path,
        patient_id=patient_id,
        study_uid=study_uid,
        series_uid=series_uid,
        sop_instance_uid=sop_instance,
        modality=modality,
        key=key,
        laterality=laterality,
        rows=rows,
        columns=columns,
        frames=frames,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=representation,
        slope=slope,
        intercept=intercept,
        temporal_position=temporal,
        n_temporal_positions=n_temporal,
        pixel_offset=offset,
        pixel_length=expected,
        signature=_signature(st),
    )


def _locate_pixels(ds: Dataset, size: int) -> tuple[int, int]:
    """File offset and length of native Pixel Data, checked against the file size."""
    raw = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    if raw is None:
        raise _Reject("Pixel Data is missing", _PIXEL_DATA)
    if not isinstance(raw, RawDataElement) or raw.value_tell is None:
        raise _Reject("Pixel Data could not be located in the file", _PIXEL_DATA)
    if raw.length == _UNDEFINED_LENGTH:
        raise _Reject("Pixel Data is encapsulated (compressed); expected native", _PIXEL_DATA)
    if raw.value is not None and len(raw.value) != raw.length:
        raise _Reject(
            f"Pixel Data is truncated: {len(raw.value)} of {raw.length} bytes", _PIXEL_DATA
        )
    if raw.value_tell + raw.length > size:
        available = max(size - raw.value_tell, 0)
        raise _Reject(
            f"Pixel Data is truncated: file holds {available} of {raw.length} bytes", _PIXEL_DATA
        )
    return raw.value_tell, raw.length


def _open_and_parse(path: Path) -> tuple[DicomHeader, BinaryIO]:
    """Open ``path`` and parse its header; the caller closes the returned file."""
    try:
        fp = path.open("rb")
        st = os.fstat(fp.fileno())
    except OSError as exc:
        raise _Reject(f"cannot be read ({type(exc).__name__}: {exc.strerror})") from exc
    try:
        return _parse(fp, st, path), fp
    except BaseException:
        fp.close()
        raise


def read_header(path: str | os.PathLike[str]) -> DicomHeader | FileProblem:
    """Validate the header of one file without reading its pixels.

    Returns
    -------
    DicomHeader | FileProblem
        The record, or the reason (with tag and, when readable, PatientID) it is not usable.
        Never raises on a bad file: the caller records the problem as an exclusion.
    """
    try:
        header, fp = _open_and_parse(Path(path))
    except _Reject as exc:
        return FileProblem(exc.reason, exc.tag, exc.patient_id)
    fp.close()
    return header


def _decode(buffer: bytes, header: DicomHeader) -> np.ndarray:
    dtype = np.dtype(_DTYPES[(header.bits_allocated, header.pixel_representation)])
    count = header.rows * header.columns * header.frames
    values = np.frombuffer(buffer, dtype=dtype, count=count)
    unused = header.bits_allocated - header.bits_stored
    if unused and header.pixel_representation == 0:
        values = values & dtype.type((1 << header.bits_stored) - 1)
    elif unused:
        values = (values << unused) >> unused  # sign-extend the stored bits
    if header.slope == 1.0 and header.intercept == 0.0:
        image = values.astype(np.float32)
    else:
        image = (values * header.slope + header.intercept).astype(np.float32)
    return image.reshape(header.shape)


def _read_known(path: Path, known: DicomHeader) -> bytes | None:
    """Pixel bytes at the offset ``known`` recorded, or ``None`` if the file changed since."""
    try:
        with path.open("rb") as fp:
            if _signature(os.fstat(fp.fileno())) != known.signature:
                return None
            fp.seek(known.pixel_offset)
            buffer = fp.read(known.pixel_length)
    except OSError:
        return None  # the full read below reports the error with the file name
    return buffer if len(buffer) == known.pixel_length else None


def read_image(
    path: str | os.PathLike[str], *, known: DicomHeader | None = None
) -> tuple[DicomHeader, np.ndarray]:
    """Validate one file and decode its pixels to float32 after Rescale Slope/Intercept.

    Parameters
    ----------
    path
        The DICOM file.
    known
        Its header as validated earlier by :func:`read_header`. When the file is unchanged since
        (same device, inode, size, mtime and ctime), only the pixel bytes are read — each file is
        then parsed once per ingest; otherwise the file is parsed and validated again.

    Returns
    -------
    tuple[DicomHeader, numpy.ndarray]
        ``(header, image)`` with ``image.shape == header.shape``.

    Raises
    ------
    DicomError
        Naming the file and the offending tag when the file violates the ingest contract.
    """
    path = Path(path)
    if known is not None and known.path == path:
        buffer = _read_known(path, known)
        if buffer is not None:
            return known, _decode(buffer, known)
    try:
        header, fp = _open_and_parse(path)
        with fp:
            fp.seek(header.pixel_offset)
            buffer = fp.read(header.pixel_length)
        if len(buffer) != header.pixel_length:
            raise _Reject("Pixel Data is truncated", _PIXEL_DATA)
    except _Reject as exc:
        where = f" (tag {exc.tag})" if exc.tag else ""
        raise DicomError(
            f"{path}: {exc.reason}{where}; re-export the file or re-run load_cohort"
        ) from None
    return header, _decode(buffer, header)
