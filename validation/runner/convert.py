"""Statistics objects (:mod:`validation.stats`) -> values of the results contract
(:mod:`validation.results`): non-finite numbers become ``None``, arrays tuples; nothing is
rounded. The runner's only bridge between the two packages."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from validation.results import DifferenceValue, EstimateValue, StatValue, TestValue
from validation.stats import Comparison, Estimate, Test

__all__ = ["difference_value", "estimate_value", "num", "nums", "stat_value", "test_value"]


def num(value: Any) -> float | None:
    """A finite float, or None (nan, inf, None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def nums(values: Iterable[Any]) -> tuple[float | None, ...]:
    return tuple(num(v) for v in np.asarray(list(values), dtype=float).tolist())


def estimate_value(e: Estimate) -> EstimateValue:
    return EstimateValue(
        "estimate",
        num(e.estimate),
        num(e.ci_low),
        num(e.ci_high),
        float(e.confidence),
        str(e.method),
        int(e.n),
        num(e.se),
        e.reason,
    )


def difference_value(c: Comparison) -> DifferenceValue:
    return DifferenceValue(
        "difference",
        num(c.estimate),
        num(c.ci_low),
        num(c.ci_high),
        num(c.statistic),
        num(c.p_value),
        float(c.confidence),
        str(c.method),
        int(c.n),
        num(c.estimate_a),
        num(c.estimate_b),
        num(c.se),
        c.reason,
    )


def test_value(t: Test) -> TestValue:
    return TestValue(
        "test", num(t.statistic), num(t.p_value), str(t.method), int(t.n), num(t.df), t.reason
    )


test_value.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def stat_value(obj: Any) -> StatValue:
    """Any statistics result as its contract value (Estimate, Comparison or Test)."""
    if isinstance(obj, Estimate):
        return estimate_value(obj)
    if isinstance(obj, Comparison):
        return difference_value(obj)
    if isinstance(obj, Test):
        return test_value(obj)
    raise TypeError(f"stat_value: {type(obj).__name__} is not a statistics result: {obj!r}")
