"""to_jsonable: NaN becomes null with the reason kept, nothing rounded, types converted."""

import math

import numpy as np
import pytest

from validation.canonical import canonical_json
from validation.serialize import to_jsonable
from validation.stats import Estimate


def test_not_estimable_estimate_becomes_nulls_with_reason() -> None:
    est = Estimate.not_estimable("no positives in group", confidence=0.95, method="delong", n=12)
    out = to_jsonable(est)
    assert out == {
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "confidence": 0.95,
        "method": "delong",
        "n": 12,
        "se": None,
        "reason": "no positives in group",
    }
    canonical_json(out)  # JSON-valid: RFC 8785 refuses NaN


def test_full_precision_and_numpy_types() -> None:
    value = 1 / 3
    out = to_jsonable(
        {"a": np.float64(value), "b": np.arange(3), "c": (np.int64(2), np.bool_(True))}
    )
    assert out == {"a": value, "b": [0, 1, 2], "c": [2, True]}
    assert out["a"] == value  # not rounded
    assert to_jsonable([math.inf, -math.inf]) == [None, None]


def test_unknown_type_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot convert object"):
        to_jsonable(object())
