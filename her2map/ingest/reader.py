"""One DICOM file -> one validated header record (and, on request, its decoded pixels).

File-level rules of the ingest contract checked here, each failure naming the tag:

* the 'DICM' marker at byte 128 and a parse by ``pydicom.dcmread(force=False)``;
* transfer syntax (0002,0010) one of :data:`~her2map.ingest.codecs.TRANSFER_SYNTAXES` (native
  little/big endian, implicit VR, deflate, RLE, JPEG baseline/extended/lossless, JPEG-LS,
  JPEG 2000);
* Modality (0008,0060) in MG/US/MR and SOP Class UID (0008,0016) one of that modality's
  (:data:`SOP_CLASS_BY_MODALITY`); a mammogram "For Processing" is refused with its reason;
* SOPInstanceUID (0008,0018), PatientID (0010,0020), StudyInstanceUID (0020,000D) present;
* MONOCHROME1/2 one-sample images (US also RGB / YBR three-sample), 8/16-bit, no Modality LUT
  Sequence (0028,3000), a RescaleSlope whose product with the stored range stays finite, and, for
  native little endian, Pixel Data exactly Rows x Columns x frames x samples x BitsAllocated/8;
* MG: ViewPosition (0018,5101) CC or MLO; MG and US: ImageLaterality (0020,0062) L or R; MG one
  frame, US one or more (a cine loop, reduced by :func:`her2map.preprocess.pixel_values`);
  Enhanced MR: TemporalPositionIdentifier (0020,0100) and NumberOfTemporalPositions (0020,0105);
  classic MR (one slice per file): ImagePositionPatient (0020,0032) and ImageOrientationPatient
  (0020,0037), with the phase elements read for :mod:`her2map.ingest.series`.

The header pass reads the file with ``defer_size`` so that Pixel Data is located but not read,
and decodes the elements it needs straight from their raw bytes (little or big endian).
:func:`read_image` then reads native little-endian pixels itself (``numpy.frombuffer`` at the
recorded offset, when the file is unchanged; unused high bits masked and signed values
sign-extended as pydicom does) and hands every other encoding to
:func:`her2map.ingest.codecs.decode_file`; the stored samples become grey values by
:func:`her2map.preprocess.pixel_values` (the pixel semantics, defined once there).

Why ``except Exception`` around ``dcmread``, the decoder and the header pass: corrupt files make
pydicom and the codecs raise many unrelated exception types; at this one boundary each is turned
into a recorded problem naming the file, so that a bad file is an exclusion and never a traceback.

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
from pydicom.uid import UID

from her2map.exceptions import DicomError
from her2map.ingest.codecs import FAST_SYNTAXES, TRANSFER_SYNTAXES, decode_file
from her2map.preprocess import PixelTags, pixel_values

__all__ = [
    "CLASSIC_MR",
    "SOP_CLASS_BY_MODALITY",
    "DicomHeader",
    "FileProblem",
    "format_tag",
    "read_header",
    "read_image",
]

#: The SOP Classes each supported Modality may carry.
SOP_CLASS_BY_MODALITY: dict[str, tuple[str, ...]] = {
    "MG": ("1.2.840.10008.5.1.4.1.1.1.2",),  # Digital Mammography X-Ray - For Presentation
    "US": (
        "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image Storage
        "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image Storage
    ),
    "MR": (
        "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR Image Storage (one file per DCE phase)
        "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage (classic: one file per slice)
    ),
}
#: SOP Class of classic (single-slice) MR Image Storage.
CLASSIC_MR = "1.2.840.10008.5.1.4.1.1.4"
_MG_FOR_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.2.1"
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT")
_DTYPES = {(8, 0): "u1", (8, 1): "i1", (16, 0): "<u2", (16, 1): "<i2"}
_PIXEL_DATA = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF
_DEFER_SIZE = 4096  # bytes: larger values (Pixel Data) are located, not read, by the header pass
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def format_tag(tag: int) -> str:
    """``0x00080060`` -> ``"(0008,0060)"``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass(frozen=True)
class DicomHeader:
    """The validated elements of one DICOM file that ingest needs (no person identifiers).

    ``transfer_syntax`` is the file's (0002,0010); ``lossy`` is true for a lossy-capable encoding
    or LossyImageCompression ``01`` (:mod:`her2map.ingest.codecs`). ``pixel_offset`` and
    ``pixel_length`` locate native little-endian Pixel Data (``-1`` and ``0`` for every other
    encoding, decoded by pydicom). The classic-MR elements (``position``, ``orientation``,
    ``spacing``, ``acquisition_time``, ``series_time``, ``series_description``) are read only for
    classic MR files and are ``None``/``""`` otherwise.
    """

    path: Path
    patient_id: str
    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class: str
    modality: str
    key: str
    laterality: str | None
    rows: int
    columns: int
    frames: int
    samples: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    slope: float
    intercept: float
    representative_frame: int
    temporal_position: int | None
    n_temporal_positions: int | None
    transfer_syntax: str
    lossy: bool
    pixel_offset: int
    pixel_length: int
    signature: tuple[int, ...]
    position: tuple[float, ...] | None = None
    orientation: tuple[float, ...] | None = None
    spacing: tuple[float, ...] | None = None
    acquisition_time: str | None = None
    series_time: str | None = None
    series_description: str = ""

    @property
    def classic(self) -> bool:
        """A classic MR file (one slice; phases assembled by :mod:`her2map.ingest.series`)."""
        return self.sop_class == CLASSIC_MR

    @property
    def shape(self) -> tuple[int, ...]:
        """Grey image shape: ``(rows, columns)`` for MG/US/classic MR, ``(frames, rows,
        columns)`` for an Enhanced MR phase."""
        if self.modality == "MR" and not self.classic:
            return (self.frames, self.rows, self.columns)
        return (self.rows, self.columns)

    @property
    def pixel_tags(self) -> PixelTags:
        """What :func:`her2map.preprocess.pixel_values` needs of this file."""
        return PixelTags(
            photometric=self.photometric,
            bits_stored=self.bits_stored,
            pixel_representation=self.pixel_representation,
            slope=self.slope,
            intercept=self.intercept,
            frames=self.frames,
            representative_frame=self.representative_frame,
            reduce_frames=self.modality == "US",
        )


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


def _decode_raw(
    data: bytes, vr: str, name: str, tag: int, *, little: bool = True, multi: bool = False
) -> str | int | None:
    """One value from an element's raw bytes (text VRs -> str, binary -> int).

    Decoding the few elements ingest needs directly is several times faster than pydicom's
    generic conversion, and it never touches any other element. ``multi`` keeps a backslash-
    separated text value whole (the caller splits it).
    """
    if vr in _BINARY_VRS:
        size, signed = _BINARY_VRS[vr]
        if not data:
            return None
        if len(data) != size:
            raise _Reject(f"{name} must have one {vr} value, got {len(data)} bytes", tag)
        return int.from_bytes(data, "little" if little else "big", signed=signed)
    if vr not in _TEXT_VRS:
        raise _Reject(f"{name} has VR {vr}, expected a text or integer VR", tag)
    try:
        text = data.decode("ascii").strip(" \x00")
    except UnicodeDecodeError:
        raise _Reject(f"{name} is not ASCII text", tag) from None
    if "\\" in text and not multi:
        raise _Reject(f"{name} must have one value, got {text.count(chr(92)) + 1}", tag)
    return text or None


def _element(
    ds: Dataset, tag: int, name: str, *, required: bool = True, multi: bool = False
) -> str | int | None:
    """Single value of ``tag``; ``None`` if absent or empty and not required."""
    elem = ds.get_item(tag, keep_deferred=True)
    value: str | int | None = None
    if isinstance(elem, RawDataElement):
        if elem.value is None:  # deferred: longer than any plausible value of these elements
            raise _Reject(f"{name} is implausibly long ({elem.length} bytes)", tag)
        vr = elem.VR or dictionary_VR(tag)
        little = bool(getattr(elem, "is_little_endian", True))
        value = _decode_raw(bytes(elem.value), str(vr), name, tag, little=little, multi=multi)
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


def _label(ds: Dataset, tag: int) -> str:
    """A free-text element (e.g. SeriesDescription) for ordering and messages, never refused."""
    elem = ds.get_item(tag, keep_deferred=True)
    if not isinstance(elem, RawDataElement) or elem.value is None:
        return ""
    return bytes(elem.value).decode("latin-1").strip(" \x00")[:64]


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


def _reals(ds: Dataset, tag: int, name: str, count: int) -> tuple[float, ...]:
    """A multi-valued decimal string (e.g. ImagePositionPatient) of exactly ``count`` values."""
    text = str(_element(ds, tag, name, multi=True))
    try:
        values = tuple(float(part) for part in text.split("\\"))
    except ValueError:
        raise _Reject(f"{name} must be {count} numbers, got {text[:40]!r}", tag) from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise _Reject(f"{name} must be {count} finite numbers, got {text[:40]!r}", tag)
    return values


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
    if not isinstance(syntax, str) or str(syntax) not in TRANSFER_SYNTAXES:
        # Validation off: pydicom's warning about a malformed UID would print the raw header
        # (names included); and show at most a UID's 64 characters.
        text = str(syntax)[:64]
        shown = UID(text, validation_mode=config.IGNORE).name if syntax else "missing"
        raise _Reject(
            "transfer syntax must be one of the supported encodings (native, deflate, RLE, "
            f"JPEG, JPEG-LS, JPEG 2000; her2map.ingest.codecs), got {shown}",
            0x00020010,
        )
    try:
        with warnings.catch_warnings():  # values are read lazily: pydicom would warn here too
            warnings.simplefilter("ignore")
            return _header(ds, st, path, str(syntax))
    except _Reject as exc:
        if exc.tag != format_tag(_PIXEL_DATA) and _PIXEL_DATA not in ds:
            exc.reason += "; the file also ends without Pixel Data (truncated or corrupt?)"
        raise


def _header(ds: Dataset, st: os.stat_result, path: Path, syntax: str) -> DicomHeader:
    modality = _choice(ds, 0x00080060, "Modality", ("MG", "US", "MR"))
    sop_class = str(_text(ds, 0x00080016, "SOPClassUID"))
    if sop_class == _MG_FOR_PROCESSING:
        raise _Reject(
            "mammogram 'For Processing' (raw detector data) is not read: the model reads "
            "'For Presentation' images (SOP Class 1.2.840.10008.5.1.4.1.1.1.2); send those",
            0x00080016,
        )
    if sop_class not in SOP_CLASS_BY_MODALITY[modality]:
        expected = " or ".join(f"{u} ({UID(u).name})" for u in SOP_CLASS_BY_MODALITY[modality])
        raise _Reject(
            f"SOPClassUID {sop_class} ({UID(sop_class).name}) is not consistent with "
            f"Modality {modality}; expected {expected}",
            0x00080016,
        )
    patient_id = _text(ds, 0x00100020, "PatientID")
    try:
        return _image_header(ds, st, path, modality, sop_class, str(patient_id), syntax)
    except _Reject as exc:
        exc.patient_id = patient_id
        raise


def _image_header(
    ds: Dataset,
    st: os.stat_result,
    path: Path,
    modality: str,
    sop_class: str,
    patient_id: str,
    syntax: str,
) -> DicomHeader:
    sop_instance = str(_text(ds, 0x00080018, "SOPInstanceUID"))
    study_uid = str(_text(ds, 0x0020000D, "StudyInstanceUID"))
    series_uid = _text(ds, 0x0020000E, "SeriesInstanceUID", required=False) or ""
    key, laterality = modality, None
    temporal = n_temporal = None
    classic: dict[str, object] = {}
    if modality == "MG":
        key = "MG_" + _choice(ds, 0x00185101, "ViewPosition", ("CC", "MLO"))
        intent = _text(ds, 0x00080068, "PresentationIntentType", required=False)
        if intent == "FOR PROCESSING":
            raise _Reject(
                "mammogram 'For Processing' (PresentationIntentType FOR PROCESSING) is not read: "
                "the model reads 'For Presentation' images; send those",
                0x00080068,
            )
    if modality in ("MG", "US"):
        laterality = _choice(ds, 0x00200062, "ImageLaterality", ("L", "R"))
        most = 1 if modality == "MG" else 65535
        frames = _integer(ds, 0x00280008, "NumberOfFrames", 1, most, default=1)
    elif sop_class == CLASSIC_MR:
        frames = _integer(ds, 0x00280008, "NumberOfFrames", 1, 1, default=1)
        temporal = _integer(ds, 0x00200100, "TemporalPositionIdentifier", 0, 10_000, default=0)
        temporal = temporal or None
        classic = {
            "position": _reals(ds, 0x00200032, "ImagePositionPatient", 3),
            "orientation": _reals(ds, 0x00200037, "ImageOrientationPatient", 6),
            "spacing": _reals(ds, 0x00280030, "PixelSpacing", 2) if 0x00280030 in ds else None,
            "acquisition_time": _label(ds, 0x00080032) or None,
            "series_time": _label(ds, 0x00080031) or None,
            "series_description": _label(ds, 0x0008103E),
        }
    else:
        frames = _integer(ds, 0x00280008, "NumberOfFrames", 1, 65535)
        temporal = _integer(ds, 0x00200100, "TemporalPositionIdentifier", 1, 10_000)
        n_temporal = _integer(ds, 0x00200105, "NumberOfTemporalPositions", 1, 10_000)
    samples = _integer(ds, 0x00280002, "SamplesPerPixel", 1, 3)
    allowed = _MONOCHROME + _COLOUR if modality == "US" else _MONOCHROME
    photometric = _choice(ds, 0x00280004, "PhotometricInterpretation", allowed)
    if samples != (1 if photometric in _MONOCHROME else 3):
        raise _Reject(
            f"SamplesPerPixel {samples} does not fit PhotometricInterpretation {photometric}",
            0x00280002,
        )
    rows = _integer(ds, 0x00280010, "Rows", 1, 65535)
    columns = _integer(ds, 0x00280011, "Columns", 1, 65535)
    bits_allocated = _integer(ds, 0x00280100, "BitsAllocated", 8, 16)
    if bits_allocated not in (8, 16):
        raise _Reject(f"BitsAllocated must be 8 or 16, got {bits_allocated}", 0x00280100)
    bits_stored = _integer(ds, 0x00280101, "BitsStored", 1, bits_allocated)
    representation = _integer(ds, 0x00280103, "PixelRepresentation", 0, 1)
    if 0x00283000 in ds:
        raise _Reject(
            "Modality LUT Sequence is not applied by ingest; expected RescaleSlope/Intercept",
            0x00283000,
        )
    slope = _real(ds, 0x00281053, "RescaleSlope", 1.0)
    if slope == 0.0:
        raise _Reject("RescaleSlope must not be 0", 0x00281053)
    intercept = _real(ds, 0x00281052, "RescaleIntercept", 0.0)
    if abs(slope) * (1 << bits_stored) + abs(intercept) > _FLOAT32_MAX:
        raise _Reject(
            f"RescaleSlope {slope!r} and RescaleIntercept {intercept!r} overflow the stored "
            f"range of {bits_stored} bits (values beyond float32)",
            0x00281053,
        )
    representative = _integer(ds, 0x00286010, "RepresentativeFrameNumber", 0, 65535, default=0)
    lossy = (
        TRANSFER_SYNTAXES[syntax].lossy
        or _text(ds, 0x00282110, "LossyImageCompression", required=False) == "01"
    )
    offset, length = -1, 0
    if syntax in FAST_SYNTAXES:
        offset, length = _locate_pixels(ds, st.st_size)
        expected = rows * columns * frames * samples * bits_allocated // 8
        if length not in (expected, expected + expected % 2):
            raise _Reject(
                f"Pixel Data is {length} bytes, expected {expected} (Rows {rows} x Columns "
                f"{columns} x frames {frames} x samples {samples} x {bits_allocated // 8} bytes)",
                _PIXEL_DATA,
            )
        length = expected
    elif _PIXEL_DATA not in ds:
        raise _Reject("Pixel Data is missing", _PIXEL_DATA)
    return DicomHeader(
        path=path,
        patient_id=patient_id,
        study_uid=study_uid,
        series_uid=series_uid,
        sop_instance_uid=sop_instance,
        sop_class=sop_class,
        modality=modality,
        key=key,
        laterality=laterality,
        rows=rows,
        columns=columns,
        frames=frames,
        samples=samples,
        photometric=photometric,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=representation,
        slope=slope,
        intercept=intercept,
        representative_frame=representative,
        temporal_position=temporal,
        n_temporal_positions=n_temporal,
        transfer_syntax=syntax,
        lossy=lossy,
        pixel_offset=offset,
        pixel_length=length,
        signature=_signature(st),
        **classic,  # type: ignore[arg-type]
    )


def _locate_pixels(ds: Dataset, size: int) -> tuple[int, int]:
    """File offset and length of native Pixel Data, checked against the file size."""
    raw = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    if raw is None:
        raise _Reject("Pixel Data is missing", _PIXEL_DATA)
    if not isinstance(raw, RawDataElement) or raw.value_tell is None:
        raise _Reject("Pixel Data could not be located in the file", _PIXEL_DATA)
    if raw.length == _UNDEFINED_LENGTH:
        raise _Reject(
            "Pixel Data is encapsulated (compressed) but the transfer syntax is native",
            _PIXEL_DATA,
        )
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
    except _Reject:
        fp.close()
        raise
    except Exception as exc:  # any other failure of a malformed header is this file's problem
        fp.close()
        raise _Reject(f"unreadable DICOM header ({type(exc).__name__}: {str(exc)[:160]})") from exc


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


def _stored(buffer: bytes, header: DicomHeader) -> np.ndarray:
    """Native little-endian samples, unused high bits masked / sign-extended as pydicom does."""
    dtype = np.dtype(_DTYPES[(header.bits_allocated, header.pixel_representation)])
    count = header.rows * header.columns * header.frames * header.samples
    values = np.frombuffer(buffer, dtype=dtype, count=count)
    unused = header.bits_allocated - header.bits_stored
    if unused and header.pixel_representation == 0:
        values = values & dtype.type((1 << header.bits_stored) - 1)
    elif unused:
        values = (values << unused) >> unused  # sign-extend the stored bits
    shape: tuple[int, ...] = (header.rows, header.columns)
    if header.frames > 1:
        shape = (header.frames, *shape)
    if header.samples == 3:
        shape = (*shape, 3)
    return values.reshape(shape)


def _grey(stored: np.ndarray, header: DicomHeader, out: np.ndarray | None) -> np.ndarray:
    if out is not None and out.shape != header.shape:
        raise DicomError(
            f"{header.path}: image geometry {header.shape} differs from the study's "
            f"{out.shape} (tag (0028,0010)); the file changed since load_cohort -- re-run "
            "load_cohort"
        )
    image = pixel_values(stored, header.pixel_tags, where=str(header.path), out=out)
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


def _decode(path: Path, header: DicomHeader) -> np.ndarray:
    """Any encoding but native little endian: pydicom with the syntax's codec, checked shape."""
    try:
        stored = decode_file(path, header.transfer_syntax)
    except Exception as exc:  # every codec failure is this file's problem (module docstring)
        raise _Reject(
            f"Pixel Data cannot be decoded ({UID(header.transfer_syntax).name}; "
            f"{type(exc).__name__}: {str(exc)[:160]})",
            _PIXEL_DATA,
        ) from exc
    expected: tuple[int, ...] = (header.frames,) if header.frames > 1 else ()
    expected += (header.rows, header.columns) + ((3,) if header.samples == 3 else ())
    if stored.shape != expected:
        raise _Reject(
            f"decoded Pixel Data has shape {stored.shape}, expected {expected}", _PIXEL_DATA
        )
    return stored


def read_image(
    path: str | os.PathLike[str],
    *,
    known: DicomHeader | None = None,
    out: np.ndarray | None = None,
) -> tuple[DicomHeader, np.ndarray]:
    """Validate one file and decode its pixels to float32 grey values.

    The stored samples (any supported encoding) become grey values by
    :func:`her2map.preprocess.pixel_values`: colour to luma, a US cine loop to one frame,
    MONOCHROME1 mirrored, then Rescale Slope/Intercept.

    Parameters
    ----------
    path
        The DICOM file.
    known
        Its header as validated earlier by :func:`read_header`. When the file is native little
        endian and unchanged since (same device, inode, size, mtime and ctime), only the pixel
        bytes are read — each file is then parsed once per ingest; otherwise the file is parsed
        and validated again.
    out
        A float32 array of the header's shape to decode into (a slice of a volume being
        assembled, so that the grey values are written once); a file of another geometry is
        refused (DicomError, tag (0028,0010)).

    Returns
    -------
    tuple[DicomHeader, numpy.ndarray]
        ``(header, image)`` with ``image.shape == header.shape`` (``image`` is ``out`` when
        given).

    Raises
    ------
    DicomError
        Naming the file and the offending tag when the file violates the ingest contract or its
        pixels cannot be decoded.
    """
    path = Path(path)
    try:
        if known is not None and known.path == path and known.pixel_offset >= 0:
            buffer = _read_known(path, known)
            if buffer is not None:
                return known, _grey(_stored(buffer, known), known, out)
        header, fp = _open_and_parse(path)
        with fp:
            if header.pixel_offset >= 0:
                fp.seek(header.pixel_offset)
                buffer = fp.read(header.pixel_length)
                if len(buffer) != header.pixel_length:
                    raise _Reject("Pixel Data is truncated", _PIXEL_DATA)
                stored = _stored(buffer, header)
        if header.pixel_offset < 0:
            stored = _decode(path, header)
    except _Reject as exc:
        where = f" (tag {exc.tag})" if exc.tag else ""
        raise DicomError(
            f"{path}: {exc.reason}{where}; re-export the file or re-run load_cohort"
        ) from None
    return header, _grey(stored, header, out)
