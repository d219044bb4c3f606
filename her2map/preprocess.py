"""Preprocessing of one patient's images into fixed-size model inputs.

The configuration is part of the model lock: :class:`PreprocessConfig` is hashed (canonical JSON,
RFC 8785, then SHA-256) and the hash is verified at every load, so a changed image size or
normalisation rule refuses to run instead of silently shifting scores.

Rules (the same for training and inference):

* **2-D images** (``MG_CC``, ``MG_MLO``, ``US``): resized to ``size x size`` by area averaging
  (``torch.nn.functional.interpolate(mode="area")``, i.e. block means — deterministic on CPU), then
  standardised per image: ``(x - mean) / max(std, eps)``. This removes the vendor gain/offset that
  varies between sites while keeping the texture the encoder reads.
* **DCE-MRI** (``MR``, shape ``(phases, slices, H, W)``): phases are reduced to ``mr_phases`` by
  keeping the pre-contrast phase, the first post-contrast phase and the last one (the classic
  wash-in / wash-out triplet); slices are resampled to ``mr_slices``; each slice to ``mr_size``.
  All phases are standardised with the mean and standard deviation of the *pre-contrast* phase, so
  that contrast enhancement survives normalisation. The model reads :data:`MR_CHANNELS` kinetic
  maps: pre-contrast ``S0``, wash-in ``S1 - S0``, wash-out ``Sl - S1`` and a regularised
  signal-enhancement ratio ``(Sl - S1) / (|S1 - S0| + ser_floor)`` clipped to ``+-ser_clip``
  (after the SER of Esserman/Hylton, e.g. Hylton et al., Radiology 2012;263:663-72 — a ratio
  is free of the patient's overall enhancement amplitude).

There is no R equivalent; the area resampling matches ``skimage.transform.downscale_local_mean``
when the size ratio is an integer. Area resampling is the anti-aliasing of the reduction: every
output pixel is the mean of the input block it covers (a box filter), so a clinical-size image
(3328 x 2560 mammogram, 512 x 512 x 100 MR phase) is reduced without aliasing its fine texture.

Pixel semantics (:func:`pixel_values`, policy :data:`PIXEL_POLICY`, locked with the config): how
the stored samples of one DICOM file become the one grey image the rules above read. They are
defined here, once, and ingest calls them for every file whatever its encoding:

1. **Colour to grey**: RGB samples (pydicom converts YBR_FULL / YBR_FULL_422 to RGB while
   decoding; JPEG 2000's YBR_RCT / YBR_ICT come out of the codec as RGB) become luma
   ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601), computed in float64.
2. **Multi-frame ultrasound** (a cine loop) is reduced to one frame: RepresentativeFrameNumber
   (0028,6010) when the file gives a valid one, else the middle frame ``ceil(n / 2)`` (1-based).
3. **MONOCHROME1** (minimum sample shown white) is mirrored within the stored range before the
   Modality transform: ``v -> 2**BitsStored - 1 - v`` (unsigned) or ``-1 - v`` (signed), so a
   MONOCHROME1 image and its MONOCHROME2 twin give the same grey values exactly.
4. **Modality transform**: ``RescaleSlope * v + RescaleIntercept`` in float64, then float32; a
   result that is not finite (an overflowing slope) is a :class:`~her2map.exceptions.DicomError`
   naming the tag, which ingest records as the file's exclusion. A Modality LUT Sequence is not
   applied: ingest excludes such files with the reason.
5. **VOI LUT / windowing is not applied**: window centre/width and VOI LUTs are display
   transforms chosen for a human reader; the model reads the Modality values, and the
   per-image standardisation above removes any linear window. (A non-linear VOI LUT would
   change the texture the model was trained on.)
6. **Mammograms "For Processing"** (raw detector data, SOP Class 1.2.840.10008.5.1.4.1.1.1.2.1,
   or PresentationIntentType FOR PROCESSING) are not read: ingest excludes them with the reason,
   since the model was trained on For Presentation images.

Changing any of these rules changes :data:`PIXEL_POLICY`, which the lock's preprocessing config
holds, so a model locked under other semantics refuses to load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from her2map.exceptions import DicomError

__all__ = [
    "MODALITY_KEYS",
    "MR_CHANNELS",
    "PIXEL_POLICY",
    "RESAMPLING",
    "PixelTags",
    "PreprocessConfig",
    "pixel_values",
    "preprocess_study",
]

#: Channels of the preprocessed MR input: pre-contrast, wash-in, wash-out, signal-enhancement ratio.
MR_CHANNELS = 4
#: Modality keys in model order (same as :data:`her2map.ingest.MODALITY_KEYS`).
MODALITY_KEYS: tuple[str, ...] = ("MG_CC", "MG_MLO", "US", "MR")
#: Name of the pixel semantics of :func:`pixel_values` (module docstring, rules 1-6); locked.
PIXEL_POLICY = (
    "dicom-pixels-v1: rgb->bt601 luma; us cine->representative else middle frame; "
    "monochrome1 mirrored in stored range; rescale slope/intercept; voi not applied; "
    "mg for-processing excluded"
)
#: The reduction to the input sizes (anti-aliased box filter, ``interpolate(mode="area")``).
RESAMPLING = "area"
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class PixelTags:
    """The elements of one file that :func:`pixel_values` needs (from ingest's header record).

    ``photometric`` is (0028,0004) as decoded (``RGB`` for colour after pydicom's YBR
    conversion); ``frames`` is NumberOfFrames; ``representative_frame`` is (0028,6010) or 0.
    """

    photometric: str
    bits_stored: int
    pixel_representation: int
    slope: float
    intercept: float
    frames: int = 1
    representative_frame: int = 0
    reduce_frames: bool = False


def _float32(values: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``values.astype(float32)``, written into ``out`` when given (the same rounding)."""
    if out is None:
        return values.astype(np.float32)
    np.copyto(out, values.reshape(out.shape), casting="unsafe")
    return out


def all_finite(array: np.ndarray) -> bool:
    """Whether every value of a float array is finite, without a boolean temporary the size of
    the array: a sum is finite only if every term is (a NaN or an infinity propagates), and a
    float64 sum of float32 values cannot overflow (at most 3.4e38 each, far below 1.8e308 for any
    array that fits in memory); only when the sum is not finite -- a non-finite value, or float64
    terms overflowing -- is every value checked."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = array.sum(dtype=np.float64)
    if np.isfinite(total):
        return True
    return bool(np.all(np.isfinite(array)))


def pixel_values(
    stored: np.ndarray, tags: PixelTags, *, where: str = "image", out: np.ndarray | None = None
) -> np.ndarray:
    """Stored samples of one file -> float32 grey Modality values (module docstring, 1-4).

    Parameters
    ----------
    stored : ndarray
        Decoded samples: ``(rows, cols)``, ``(frames, rows, cols)``, with a trailing axis of 3 for
        colour.
    tags : PixelTags
    where : str
        The file, named in the error.
    out : ndarray, optional
        A float32 array to write the grey values into (as many values as the image has; the
        same numbers as without it); returned, in its own shape.

    Raises
    ------
    DicomError
        The Modality transform overflows (not finite), naming RescaleSlope (0028,1053).
    """
    values = np.asarray(stored)
    colour = (
        values.ndim >= 3 and values.shape[-1] == 3 and tags.photometric.startswith(("RGB", "YBR"))
    )
    if tags.reduce_frames and tags.frames > 1:
        chosen = tags.representative_frame
        if not 1 <= chosen <= tags.frames:
            chosen = (tags.frames + 1) // 2
        values = values.reshape(tags.frames, *values.shape[-(3 if colour else 2) :])[chosen - 1]
    if colour:
        values = values[..., 0] * _LUMA[0] + values[..., 1] * _LUMA[1] + values[..., 2] * _LUMA[2]
    elif tags.photometric == "MONOCHROME1":
        top = (1 << tags.bits_stored) - 1 if tags.pixel_representation == 0 else -1
        values = top - values.astype(np.int64)
    if tags.slope == 1.0 and tags.intercept == 0.0:
        return _float32(values, out)
    with np.errstate(over="ignore", invalid="ignore"):
        result = _float32(values * tags.slope + tags.intercept, out)
    if not all_finite(result):
        raise DicomError(
            f"{where}: RescaleSlope {tags.slope!r} / RescaleIntercept {tags.intercept!r} turn the "
            "stored values into non-finite numbers (tag (0028,1053)); fix the rescale elements"
        )
    return result


@dataclass(frozen=True)
class PreprocessConfig:
    """Sizes and normalisation constants of the preprocessing (locked; hashed into the lock).

    Parameters
    ----------
    mg_size, us_size : int
        Side length of the square mammography / ultrasound input after area resampling.
    mr_size, mr_slices, mr_phases : int
        In-plane side, slice count and phase count of the MR input (``mr_phases`` is 3:
        pre-contrast, first post-contrast, last post-contrast).
    ser_floor, ser_clip : float
        Floor added to the wash-in magnitude (pre-contrast SD units) in the signal-enhancement
        ratio, and the ratio's clip.
    eps : float
        Floor of the standard deviation in the standardisation (a flat image stays finite).
    pixel_policy, resampling : str
        The pixel semantics (:data:`PIXEL_POLICY`) and the anti-aliased reduction
        (:data:`RESAMPLING`) this software implements; any other value is refused, so a lock made
        under other semantics does not load.
    """

    mg_size: int = 48
    us_size: int = 32
    mr_size: int = 24
    mr_slices: int = 8
    mr_phases: int = 3
    ser_floor: float = 1.0
    ser_clip: float = 3.0
    eps: float = 1e-6
    pixel_policy: str = PIXEL_POLICY
    resampling: str = RESAMPLING

    def __post_init__(self) -> None:
        for name, implemented in (("pixel_policy", PIXEL_POLICY), ("resampling", RESAMPLING)):
            if getattr(self, name) != implemented:
                raise ValueError(
                    f"preprocessing {name} must be {implemented!r} (the one this software "
                    f"implements), got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the form that is hashed into the lock)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        """Rebuild from :meth:`to_dict` output; unknown or missing keys raise ``TypeError``."""
        expected = {f.name for f in fields(cls)}
        missing = sorted(expected - set(data))
        if missing:
            raise TypeError(f"preprocessing config lacks key(s) {missing}")
        return cls(**dict(data))

    def input_shape(self, modality: str) -> tuple[int, ...]:
        """Shape of one preprocessed input of ``modality`` (without the batch axis)."""
        if modality == "MR":
            return (MR_CHANNELS, self.mr_slices, self.mr_size, self.mr_size)
        side = self.us_size if modality == "US" else self.mg_size
        return (1, side, side)


def _standardise(x: torch.Tensor, ref: torch.Tensor, eps: float) -> torch.Tensor:
    mean = ref.mean()
    std = ref.std(correction=0).clamp_min(eps)
    return (x - mean) / std


def _check_finite(modality: str, array: np.ndarray, ndim: int) -> torch.Tensor:
    if array.ndim != ndim:
        raise DicomError(
            f"modality {modality}: expected a {ndim}-D pixel array, got shape {array.shape}; "
            "load images with her2map.ingest.load_images"
        )
    if array.size == 0 or not all_finite(array):
        raise DicomError(
            f"modality {modality}: pixel array of shape {array.shape} is empty or not finite; "
            "check the DICOM PixelData and RescaleSlope/RescaleIntercept"
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _prep_2d(array: np.ndarray, side: int, eps: float, modality: str) -> torch.Tensor:
    x = _check_finite(modality, array, 2)[None, None]
    x = F.interpolate(x, size=(side, side), mode="area")[0]
    return _standardise(x, x, eps)


def _prep_mr(array: np.ndarray, cfg: PreprocessConfig, modality: str) -> torch.Tensor:
    x = _check_finite(modality, array, 4)
    n_phases = x.shape[0]
    if n_phases < cfg.mr_phases:
        raise DicomError(
            f"modality MR: expected at least {cfg.mr_phases} DCE phases "
            f"(TemporalPositionIdentifier 1..{cfg.mr_phases}), got {n_phases}"
        )
    keep = [0, *np.linspace(1, n_phases - 1, cfg.mr_phases - 1).round().astype(int).tolist()]
    if keep != list(range(n_phases)):  # every phase kept in order: no copy of the volume
        x = x[keep]  # (P, S, H, W): pre, first post, ..., last post
    x = F.interpolate(x[None], size=(cfg.mr_slices, cfg.mr_size, cfg.mr_size), mode="area")[0]
    x = _standardise(x, x[0], cfg.eps)
    pre, first, last = x[0], x[1], x[-1]
    wash_in = first - pre
    wash_out = last - first
    ser = (wash_out / (wash_in.abs() + cfg.ser_floor)).clamp(-cfg.ser_clip, cfg.ser_clip)
    return torch.stack([pre, wash_in, wash_out, ser])


def preprocess_study(
    images: Mapping[str, np.ndarray], config: PreprocessConfig
) -> dict[str, torch.Tensor]:
    """Turn one patient's raw images into model inputs.

    Parameters
    ----------
    images : mapping of modality key to ndarray
        As returned by :func:`her2map.ingest.load_images`: 2-D arrays for ``MG_CC``, ``MG_MLO``
        and ``US``; ``(phases, slices, H, W)`` for ``MR``. Any non-empty subset of
        :data:`MODALITY_KEYS`.
    config : PreprocessConfig

    Returns
    -------
    dict of modality key to float32 tensor of shape ``config.input_shape(key)``, in
    :data:`MODALITY_KEYS` order.
    """
    unknown = sorted(set(images) - set(MODALITY_KEYS))
    if unknown:
        raise DicomError(
            f"unknown modality key(s) {unknown}; expected a subset of {list(MODALITY_KEYS)}"
        )
    if not images:
        raise DicomError(f"study has no images; expected at least one of {list(MODALITY_KEYS)}")
    out: dict[str, torch.Tensor] = {}
    for key in MODALITY_KEYS:
        if key not in images:
            continue
        array = np.asarray(images[key])
        if key == "MR":
            out[key] = _prep_mr(array, config, key)
        else:
            side = config.us_size if key == "US" else config.mg_size
            out[key] = _prep_2d(array, side, config.eps, key)
    return out
