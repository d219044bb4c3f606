"""A comparison repeated within the levels of a stratifying column, and the confounding it shows.

HER2-NAT-002 compares model and biopsy at predicting pCR, but the biopsy's call chose the therapy
and pCR depends on the therapy received (confounding by treatment assignment). The protocol's
``strata: therapy`` repeats the comparison within each therapy received (descriptive: no verdict,
the multiplicity-controlled verdict stays on the whole population), and :func:`confounding`
states, from the data, whether the comparator takes a single value within every stratum -- the
signature of a comparator that assigned the stratum. The sentence names only what the data show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from validation.protocol import ComparisonSpec, subgroup_levels
from validation.protocol.model import SubgroupSpec
from validation.results import Confounding, Stratum

__all__ = ["confounding", "stratified"]


def _levels(column: str, data: Any) -> np.ndarray:
    return subgroup_levels(SubgroupSpec("strata", column, "auc", 1), data.table)


def stratified(
    spec: ComparisonSpec, data: Any, compute: Callable[[ComparisonSpec, Any], tuple[dict, Any]]
) -> tuple[Stratum, ...]:
    """``compute`` (the runner's comparison) within each level of ``spec.strata``, descriptive.

    A missing stratum value is the level ``missing``; without the column, one stratum says so.
    """
    column = spec.strata
    if column is None:
        return ()
    if column not in data.table.columns:
        return (Stratum("", 0, None, None, None, None,
                        f"the analysed table has no column {column!r}"),)  # fmt: skip
    levels = _levels(column, data)
    inner = replace(spec, strata=None, criterion=None, hierarchy=None, family=None)
    out = []
    for level in sorted(set(levels.tolist())):
        keep = levels == level
        subset = dataclasses.replace(
            data,
            table=data.table.loc[keep].reset_index(drop=True),
            ids=data.ids[keep],
            y=data.y[keep],
            score=data.score[keep],
        )
        body, _ = compute(inner, subset)
        out.append(
            Stratum(
                str(level),
                int(body["n"]),
                body["auc_difference"],
                body["mcnemar"],
                body["kappa"],
                body["decision_curve"],
                body["reason"],
            )
        )
    return tuple(out)


def confounding(spec: ComparisonSpec, data: Any) -> Confounding | None:
    """Whether the comparator is constant within every stratum, with the sentence that says so.

    ``None`` without strata (or without the columns). ``comparator_assigns_strata`` is True when
    every stratum holds a single comparator value and there are at least two strata: the
    comparator then fully determines the stratum, e.g. the biopsy call determined the therapy.
    """
    column, comparator = spec.strata, spec.comparator
    if column is None or column not in data.table.columns or comparator not in data.table.columns:
        return None
    levels = _levels(column, data)
    values = data.column(comparator)
    per_level: dict[str, tuple[int, ...]] = {}
    for level in sorted(set(levels.tolist())):
        seen = values[(levels == level) & ~np.isnan(values)]
        per_level[str(level)] = tuple(sorted({int(v) for v in seen}))
    assigns = len(per_level) >= 2 and all(len(v) == 1 for v in per_level.values())
    outcome = spec.outcome or data.reference
    if assigns:
        shown = "; ".join(f"{k}: {v[0]}" for k, v in per_level.items())
        statement = (
            f"Within every level of {column!r} the comparator {comparator!r} takes a single "
            f"value ({shown}): the comparator determined the {column} received. Its association "
            f"with {outcome!r} therefore includes the effect of the {column} it chose "
            "(confounding by treatment assignment); within each level it carries no "
            "information, and the within-level comparisons show what the model adds."
        )
    else:
        statement = (
            f"The comparator {comparator!r} varies within some level of {column!r}, so it did "
            f"not alone determine the {column}; the within-level comparisons show model and "
            f"comparator at the same {column}."
        )
    return Confounding(column, comparator, per_level, assigns, statement)
