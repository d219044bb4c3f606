"""Argument validation for :mod:`validation.stats`: one way to reject bad arguments.

Every message has one shape (STYLE.md rule 4, after scikit-learn's ``_param_validation``)::

    "<parameter> must be <what it must be>; got <what it got>."

and is raised as :class:`validation.exceptions.InvalidArgumentError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.exceptions import InvalidArgumentError

__all__ = [
    "check_binary",
    "check_confidence",
    "check_consistent_length",
    "check_option",
    "check_probabilities",
    "check_rank_scores",
    "check_scores",
    "check_unit_number",
    "fail",
]


def fail(name: str, must_be: str, got: object) -> InvalidArgumentError:
    """Build the one error shape: ``"<name> must be <must_be>; got <got>."``."""
    return InvalidArgumentError(f"{name} must be {must_be}; got {got}.")


def _as_1d_float(name: str, values: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise fail(name, "a 1-D array of numbers", f"values that are not numbers ({exc})") from None
    if arr.ndim != 1:
        raise fail(name, "a 1-D array", f"an array of shape {arr.shape}")
    return arr


def _count_nan(arr: NDArray[np.float64]) -> int:
    return int(np.count_nonzero(~np.isfinite(arr)))


def check_binary(name: str, values: ArrayLike) -> NDArray[np.int8]:
    """Return ``values`` as an int8 array of 0/1; reject NaN, other labels and non-1-D input."""
    raw = np.asarray(values)
    if raw.dtype.kind in "iub" and raw.ndim == 1:  # integer labels: no float round trip
        bad_int = (raw != 0) & (raw != 1)
        if not bad_int.any():
            return raw.astype(np.int8)
    arr = _as_1d_float(name, values)
    bad_nan = _count_nan(arr)
    if bad_nan:
        raise fail(name, "labels 0 or 1 without missing values", f"{bad_nan} NaN/inf value(s)")
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        examples = sorted(set(arr[bad].tolist()))[:5]
        raise fail(
            name,
            "labels 0 or 1 (1 = positive)",
            f"{int(bad.sum())} other value(s), e.g. {examples}",
        )
    return arr.astype(np.int8)


def check_scores(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """Return finite scores as float64 (any real range: higher = more likely positive)."""
    arr = _as_1d_float(name, values)
    bad = _count_nan(arr)
    if bad:
        raise fail(name, "finite numbers", f"{bad} NaN/inf value(s)")
    return arr


#: Integers beyond this magnitude are not all exact in float64; they are ranked as float64 values,
#: like every other statistic sees them.
_EXACT_INT = 2**53


def check_rank_scores(name: str, values: ArrayLike) -> NDArray[np.generic]:
    """Return finite scores for a rank statistic, keeping float32, float64 and integer dtypes.

    A rank statistic depends only on the order of the scores, which float32 and integer values
    have exactly; they are not upcast (no float64 copy before the sort). Everything else, and
    integers beyond ±2**53, is converted as :func:`check_scores` converts it.
    """
    arr = np.asarray(values)
    kind = arr.dtype.kind
    keep = kind in "iub" or (kind == "f" and arr.dtype.itemsize in (4, 8))
    if not keep or arr.ndim != 1:
        return check_scores(name, values)
    if kind == "f":
        bad = _count_nan(arr)
        if bad:
            raise fail(name, "finite numbers", f"{bad} NaN/inf value(s)")
    elif kind in "iu" and arr.size and (arr.min() < -_EXACT_INT or arr.max() > _EXACT_INT):
        return check_scores(name, values)
    return arr


def check_probabilities(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """Return probabilities in [0, 1] as float64; reject NaN and values outside [0, 1]."""
    arr = check_scores(name, values)
    outside = (arr < 0.0) | (arr > 1.0)
    if outside.any():
        examples = arr[outside][:3].tolist()
        raise fail(
            name,
            "probabilities in [0, 1]",
            f"{int(outside.sum())} value(s) outside, e.g. {examples}",
        )
    return arr


def check_consistent_length(**arrays: Any) -> int:
    """Require every named array to have the same length; return it."""
    lengths = {name: len(arr) for name, arr in arrays.items() if arr is not None}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise fail("the input arrays", "of equal length", shown)
    return next(iter(lengths.values()), 0)


def check_confidence(confidence: float) -> float:
    """Require a confidence level strictly between 0 and 1."""
    if not isinstance(confidence, int | float) or not 0.0 < float(confidence) < 1.0:
        raise fail("confidence", "a number strictly between 0 and 1", repr(confidence))
    return float(confidence)


def check_unit_number(name: str, value: object) -> float:
    """Require a number in [0, 1] (not a bool), e.g. a specificity; return it as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(name, "a number in [0, 1]", repr(value))
    if not 0.0 <= float(value) <= 1.0:
        raise fail(name, "a number in [0, 1]", repr(value))
    return float(value)


def check_option(name: str, value: object, allowed: Iterable[str]) -> str:
    """Require ``value`` to be one of ``allowed`` (a controlled vocabulary)."""
    options = tuple(allowed)
    if value not in options:
        raise fail(name, f"one of {', '.join(repr(o) for o in options)}", repr(value))
    return str(value)
