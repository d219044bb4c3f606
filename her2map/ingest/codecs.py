"""Transfer syntaxes ingest reads, and the decoder of every encoding but the fast native path.

Codecs (pydicom pixel-data plugins, chosen by transfer syntax; see the README's "DICOM"):

* **pylibjpeg-openjpeg** (OpenJPEG): JPEG 2000 lossless and lossy;
* **pylibjpeg-libjpeg** (Thomas Richter's libjpeg): JPEG baseline (8-bit), extended (12-bit) and
  lossless (process 14, also selection value 1);
* **pyjpegls** (CharLS): JPEG-LS lossless and near-lossless;
* pydicom itself: RLE lossless, deflate (zlib), big endian and implicit VR.

Why these and not GDCM: together they decode every syntax above, including 12-bit JPEG extended,
which pydicom's GDCM plugin refuses ("GDCM does not support 'JPEG Extended' for samples with 12-bit
precision"); each is a small wheel maintained with pydicom (pylibjpeg) or by CharLS's authors, with
no system library to install. Licence note: libjpeg (and so pylibjpeg-libjpeg) is GPL-3.0; the
others are MIT/BSD. Naming the plugin per syntax (rather than pydicom's first available one) makes
the decoder of every file a fixed, documented choice, whatever else is installed.

Lossy encodings: JPEG baseline and extended, JPEG-LS near-lossless and JPEG 2000 (part 1, which
may be lossy) are *lossy-capable*; a file in one of them, or one whose LossyImageCompression
(0028,2110) is ``01``, is read and flagged lossy (the predictions table's ``lossy_compression``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.pixels
from pydicom import uid

__all__ = ["FAST_SYNTAXES", "TRANSFER_SYNTAXES", "Syntax", "decode_file"]


@dataclass(frozen=True)
class Syntax:
    """How one transfer syntax is decoded: pydicom plugin (``""``: pydicom's own) and lossiness."""

    plugin: str
    lossy: bool


#: Every transfer syntax ingest reads. Any other is a file exclusion naming it.
TRANSFER_SYNTAXES: dict[str, Syntax] = {
    uid.ExplicitVRLittleEndian: Syntax("", False),
    uid.ImplicitVRLittleEndian: Syntax("", False),
    uid.ExplicitVRBigEndian: Syntax("", False),
    uid.DeflatedExplicitVRLittleEndian: Syntax("", False),
    uid.RLELossless: Syntax("", False),
    uid.JPEGBaseline8Bit: Syntax("pylibjpeg", True),
    uid.JPEGExtended12Bit: Syntax("pylibjpeg", True),
    uid.JPEGLossless: Syntax("pylibjpeg", False),
    uid.JPEGLosslessSV1: Syntax("pylibjpeg", False),
    uid.JPEGLSLossless: Syntax("pyjpegls", False),
    uid.JPEGLSNearLossless: Syntax("pyjpegls", True),
    uid.JPEG2000Lossless: Syntax("pylibjpeg", False),
    uid.JPEG2000: Syntax("pylibjpeg", True),
}
#: Syntaxes whose native little-endian Pixel Data ingest reads itself (numpy.frombuffer).
FAST_SYNTAXES = frozenset({uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian})


def decode_file(path: Path, syntax: str) -> np.ndarray:
    """Decode the Pixel Data of ``path`` with pydicom and the plugin of ``syntax``.

    Returns the stored samples as pydicom gives them: ``(rows, cols)`` or ``(frames, rows, cols)``,
    with a trailing axis of 3 for colour (YBR_FULL / YBR_FULL_422 converted to RGB). Raises
    whatever the codec raises; :func:`her2map.ingest.reader.read_image` turns it into a
    :class:`~her2map.exceptions.DicomError` naming the file.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd values are validated by the header pass instead
        ds = pydicom.dcmread(path, force=False)
        plugin = TRANSFER_SYNTAXES[syntax].plugin
        return np.asarray(pydicom.pixels.pixel_array(ds, decoding_plugin=plugin))
