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

from validation.protocol import Protocol
from validation.serialize import to_jsonable

__all__ = ["sample_size_section"]


def _width(result: Any) -> float | None:
    low, high = getattr(result, "ci_low", None), getattr(result, "ci_high", None)
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return float(high - low)


def _counts(y: np.ndarray) -> dict[str, int]:
    y = y[~np.isnan(y)]
    return {"n_total": int(len(y)), "n_positive": int(np.sum(y == 1)),
            "n_negative": int(np.sum(y == 0))}  # fmt: skip


def sample_size_section(
    protocol: Protocol,
    endpoint_results: dict[str, Any],
    comparison_bodies: dict[str, dict[str, Any]],
    y: np.ndarray,
    outcomes: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """One row per planned endpoint or comparison: planned, achieved, reached, precision.

    ``endpoint_results`` maps endpoint ids to their result objects; ``comparison_bodies`` maps
    comparison ids to their results.json bodies; ``y`` is the reference standard of the analysed
    patients and ``outcomes`` each comparison's outcome column over the patients it analysed.
    """
    rows = []
    for item in (*protocol.endpoints, *protocol.comparisons):
        if item.planning is None:
            continue
        plan = item.planning.to_dict()
        if item.id in endpoint_results:
            result = endpoint_results[item.id]
            achieved = _counts(y)
            counted = getattr(result, "n", None)
        else:
            body = comparison_bodies.get(item.id, {})
            result = body.get("auc_difference")
            achieved = _counts(outcomes.get(item.id, np.array([])))
            counted = None
        if plan.get("fraction") is not None and counted is not None:
            achieved = {"n_total": achieved["n_total"], "n_positive": int(counted),
                        "n_negative": achieved["n_total"] - int(counted)}  # fmt: skip
        required = plan["required"]
        reached = all(achieved[k] >= required[k] for k in ("n_total", "n_positive", "n_negative"))
        width = _width(result) if not isinstance(result, dict) else (
            None if result.get("ci_low") is None or result.get("ci_high") is None
            else float(result["ci_high"] - result["ci_low"])
        )  # fmt: skip
        rows.append(
            {
                "id": item.id,
                "planning": plan,
                "achieved": achieved,
                "reached": reached,
                "precision": {"confidence": protocol.confidence, "ci_width": to_jsonable(width)},
            }
        )
    return rows
