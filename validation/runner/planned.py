"""Planned versus achieved sample size of every planned primary endpoint, and achieved precision.

The protocol carries, per planned endpoint, its assumptions and the required n computed when it was
built and registered (:class:`validation.protocol.Planning`). This section sets beside them what the
run achieved: patients analysed, positives and negatives (for an error rate, the patients it
counts), whether each planned count was reached, and the achieved precision -- the width of the
endpoint's interval at the protocol's confidence. It lets a reader tell a failing device from an
underpowered study: a FAIL with fewer patients than planned is not evidence of absence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from validation.protocol import ComparisonSpec, Protocol
from validation.protocol import Endpoint as ProtocolEndpoint
from validation.results import Comparison, Endpoint, PlannedCounts, PlannedSize

__all__ = ["sample_size_section"]


def _width(result: Any) -> float | None:
    low, high = getattr(result, "ci_low", None), getattr(result, "ci_high", None)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return float(high - low)


def _counts(y: np.ndarray) -> PlannedCounts:
    y = y[~np.isnan(y)]
    return PlannedCounts(len(y), int(np.sum(y == 1)), int(np.sum(y == 0)))


def sample_size_section(
    protocol: Protocol,
    endpoints: tuple[Endpoint, ...],
    comparisons: tuple[Comparison, ...],
    y: np.ndarray,
    outcomes: dict[str, np.ndarray],
) -> tuple[PlannedSize, ...]:
    """One :class:`PlannedSize` per planned endpoint or comparison, in protocol order.

    ``y`` is the reference standard of the analysed patients; ``outcomes`` maps a planned
    comparison's id to its outcome over the patients it analysed. An error rate counts the
    patients of its denominator (``n`` of its estimate) as ``n_positive``.
    """
    results: dict[str, Any] = {e.id: e.result for e in endpoints}
    results.update({c.id: c.auc_difference for c in comparisons})
    rows = []
    items: list[ProtocolEndpoint | ComparisonSpec] = [*protocol.endpoints, *protocol.comparisons]
    for item in items:
        if item.planning is None:
            continue
        plan = item.planning.to_dict()
        required = plan.pop("required")
        result = results.get(item.id)
        if item.id in outcomes:
            achieved = _counts(outcomes[item.id])
        else:
            achieved = _counts(y)
            if "fraction" in plan:  # an error rate: its denominator is the estimate's n
                counted = int(getattr(result, "n", 0) or 0)
                achieved = PlannedCounts(achieved.n_total, counted, achieved.n_total - counted)
        need = PlannedCounts(required["n_total"], required["n_positive"], required["n_negative"])
        reached = (
            achieved.n_total >= need.n_total
            and achieved.n_positive >= need.n_positive
            and achieved.n_negative >= need.n_negative
        )
        rows.append(
            PlannedSize(
                item.id,
                required["method"],
                plan,
                float(required["null"]),
                need,
                float(required["power"]),
                achieved,
                reached,
                protocol.confidence,
                _width(result),
            )
        )
    return tuple(rows)
