"""A comparison repeated within the levels of a stratifying column, and the confounding it shows.

HER2-NAT-002 compares model and biopsy at predicting pCR, but the biopsy's call chose the therapy
and pCR depends on the therapy received (confounding by treatment assignment). The protocol's
``strata: therapy`` repeats the comparison within each therapy received (descriptive: no verdict,
the multiplicity-controlled verdict stays on the whole population), and :func:`confounding`
states, from the data, whether the comparator takes a single value within every stratum -- the
signature of a comparator that assigned the stratum. The sentence names only what the data show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from validation.protocol import ComparisonSpec, subgroup_levels
from validation.protocol.model import SubgroupSpec

__all__ = ["confounding", "stratified"]


def stratified(
    spec: ComparisonSpec, data: Any, compute: Callable[[ComparisonSpec, Any], tuple[dict, Any]]
) -> list[dict[str, Any]]:
    """``compute`` (the runner's comparison) within each level of ``spec.strata``, descriptive.

    Each item: ``level``, ``n`` (analysed patients in the level) and ``result`` (the comparison
    body as for the whole population). A missing stratum value is the level ``missing``.
    """
    column = spec.strata
    if column is None:
        return []
    if column not in data.table.columns:
        return [{"level": None, "n": 0, "result": None,
                 "reason": f"the analysed table has no column {column!r}"}]  # fmt: skip
    levels = subgroup_levels(SubgroupSpec(spec.id, column, "auc", 1), data.table)
    inner = replace(spec, strata=None, criterion=None, hierarchy=None, family=None)
    out = []
    for level in sorted(set(levels.tolist())):
        keep = levels == level
        subset = type(data)(
            data.table.loc[keep].reset_index(drop=True),
            data.ids[keep],
            data.y[keep],
            data.score[keep],
            data.threshold,
            data.confidence,
        )
        body, _ = compute(inner, subset)
        out.append({"level": str(level), "n": int(keep.sum()), "result": body, "reason": None})
    return out


def confounding(spec: ComparisonSpec, data: Any) -> dict[str, Any] | None:
    """Whether the comparator is constant within every stratum, with the sentence that says so.

    ``None`` without strata. ``comparator_assigns_strata`` is True when every stratum holds a
    single comparator value (and there are at least two strata): the comparator then fully
    determines the stratum, e.g. the biopsy call determined the therapy received.
    """
    column, comparator = spec.strata, spec.comparator
    if column is None or column not in data.table.columns or comparator not in data.table.columns:
        return None
    levels = subgroup_levels(SubgroupSpec(spec.id, column, "auc", 1), data.table)
    values = data.column(comparator)
    per_level = {}
    for level in sorted(set(levels.tolist())):
        seen = values[(levels == level) & ~np.isnan(values)]
        per_level[str(level)] = sorted({int(v) for v in seen})
    assigns = len(per_level) >= 2 and all(len(v) == 1 for v in per_level.values())
    if assigns:
        statement = (
            f"Within every level of {column!r} the comparator {comparator!r} takes a single "
            f"value ({'; '.join(f'{k}: {v[0]}' for k, v in per_level.items())}): the comparator "
            f"determined the {column} received. Its association with {spec.outcome!r} therefore "
            f"includes the effect of the {column} it chose (confounding by treatment "
            "assignment); within each level it carries no information, and the within-level "
            "comparisons show what the model adds."
        )
    else:
        statement = (
            f"The comparator {comparator!r} varies within some level of {column!r}; the "
            f"within-level comparisons show model and comparator at the same {column}."
        )
    return {
        "strata": column,
        "comparator": comparator,
        "comparator_values": per_level,
        "comparator_assigns_strata": assigns,
        "statement": statement,
    }
