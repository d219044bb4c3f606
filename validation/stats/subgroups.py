"""Any metric per subgroup (site, vendor, age band, density, modality combination), then pooling.

:func:`by_group` applies a statistics function (``auc``, ``proportion``-based ``diagnostic``
keys, ``calibration`` pieces...) to each group's cases and returns a frozen
:class:`SubgroupTable` with group sizes. A group below the pre-registered minimum size or number
of events is *not estimable* with the rule as its reason (``"12 patients < 20"``,
``"1 positive < 5"``) instead of a number. :func:`heterogeneity_across` feeds the rows to
:func:`validation.stats.heterogeneity.heterogeneity` (``metafor::rma``):

* ``scale="identity"``: each row's estimate with variance ``se**2``;
* ``scale="logit"``: for proportions (sensitivity, specificity, ...): ``logit(p)`` with the
  delta-method variance ``1 / (n p (1 - p))`` = ``1/k + 1/(n - k)``, as
  ``metafor::escalc(measure = "PLO")``;
* ``scale="logit-se"``: for an estimate in (0, 1) with a standard error (AUC with its DeLong se):
  ``logit(a)`` with the delta-method variance ``se**2 / (a (1 - a))**2`` (the logit AUC interval
  of Pepe 2003, section 5.2.3; Qin & Hotilovac 2008).

On the logit scales an estimate of 0 or 1 has an infinite logit: the result is not estimable and
names the group (no continuity correction is applied silently). :func:`back_transform` maps a
pooled logit-scale estimate and its interval through ``expit``, so the interval of a bounded
quantity stays within (0, 1).

Rows that are not estimable are left out of the pooling and listed in ``excluded`` with their
reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from validation.stats._checks import check_binary, check_consistent_length, check_option, fail
from validation.stats.heterogeneity import Heterogeneity, heterogeneity
from validation.stats.results import Estimate

__all__ = [
    "SCALES",
    "SubgroupRow",
    "SubgroupTable",
    "back_transform",
    "by_group",
    "heterogeneity_across",
]

#: Scales :func:`heterogeneity_across` pools on (module docstring).
SCALES = ("identity", "logit", "logit-se")


@dataclass(frozen=True, slots=True)
class SubgroupRow:
    """One group: its label, sizes (n, positives, negatives) and the metric's Estimate."""

    group: str
    n: int
    n_pos: int
    n_neg: int
    estimate: Estimate


@dataclass(frozen=True, slots=True)
class SubgroupTable:
    """Per-group results of one metric, rows sorted by group label (text order)."""

    metric: str
    rows: tuple[SubgroupRow, ...]
    min_size: int
    min_events: int

    def row(self, group: str) -> SubgroupRow:
        """The row of ``group``; raises InvalidArgumentError naming the known groups."""
        for r in self.rows:
            if r.group == group:
                return r
        raise fail("group", f"one of {[r.group for r in self.rows]}", repr(group))


def _group_labels(groups: ArrayLike) -> np.ndarray:
    raw = np.asarray(groups, dtype=object)
    if raw.ndim != 1:
        raise fail("groups", "a 1-D array of group labels", f"an array of shape {raw.shape}")
    missing = [
        i for i, g in enumerate(raw) if g is None or (isinstance(g, float) and math.isnan(g))
    ]
    if missing:
        raise fail(
            "groups",
            "a label for every case (label missing groups explicitly, e.g. 'unknown')",
            f"{len(missing)} missing label(s), first at position {missing[0]}",
        )
    return np.array([str(g) for g in raw], dtype=object)


def _count(name: str, value: object) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise fail(name, "a non-negative integer", repr(value))
    return int(value)


def by_group(
    metric: Callable[..., Any],
    groups: ArrayLike,
    y_true: ArrayLike,
    *arrays: ArrayLike,
    min_size: int,
    min_events: int,
    key: str | None = None,
    **kwargs: Any,
) -> SubgroupTable:
    """Apply ``metric(y_true_g, *arrays_g, **kwargs)`` to each group's cases.

    Parameters
    ----------
    metric : callable returning an :class:`Estimate` (or a dict of them, with ``key``)
        e.g. :func:`validation.stats.auc`, :func:`validation.stats.diagnostic` with
        ``key="sensitivity"``.
    groups : (n,) labels; compared and sorted as text. Missing labels are an error.
    y_true : (n,) 0/1 outcomes, passed first to ``metric``; gives ``n_pos`` and ``n_neg``.
    *arrays : (n,) arrays passed after ``y_true`` (scores, calls), subset per group.
    min_size : int
        A group with ``n < min_size`` is not estimable (reason ``"12 patients < 20"``).
    min_events : int
        A group with fewer than ``min_events`` positives, or fewer than ``min_events`` negatives,
        is not estimable (reason ``"1 positive < 5"``; ``0`` to let the metric decide).
    key : str, optional
        Pick this key from a metric returning a dict (``diagnostic``).
    **kwargs
        Passed to ``metric`` (``confidence``, ``method``...).

    Returns
    -------
    SubgroupTable
        One row per distinct label, sorted; metric results unchanged (a metric's own
        not-estimable result is kept with its reason).
    """
    min_size = _count("min_size", min_size)
    min_events = _count("min_events", min_events)
    labels = _group_labels(groups)
    y = check_binary("y_true", y_true)
    data = [np.asarray(a) for a in arrays]
    check_consistent_length(
        groups=labels, y_true=y, **{f"arrays[{i}]": a for i, a in enumerate(data)}
    )
    name = getattr(metric, "__name__", type(metric).__name__) + (f"[{key}]" if key else "")
    confidence = float(kwargs.get("confidence", 0.95))
    rows = []
    for label in sorted(set(labels.tolist())):
        member = labels == label
        y_g = y[member]
        n, n_pos = int(member.sum()), int(y_g.sum())
        n_neg = n - n_pos
        rule = None
        if n < min_size:
            rule = f"{n} patient{'s' * (n != 1)} < {min_size}"
        elif n_pos < min_events:
            rule = f"{n_pos} positive{'s' * (n_pos != 1)} < {min_events}"
        elif n_neg < min_events:
            rule = f"{n_neg} negative{'s' * (n_neg != 1)} < {min_events}"
        if rule is not None:
            est = Estimate.not_estimable(rule, confidence=confidence, method=name, n=n)
        else:
            result = metric(y_g, *(a[member] for a in data), **kwargs)
            est = result[key] if key is not None else result
            if not isinstance(est, Estimate):
                raise fail("metric", "a function returning an Estimate (or a dict with key=)", name)
        rows.append(SubgroupRow(label, n, n_pos, n_neg, est))
    return SubgroupTable(name, tuple(rows), min_size, min_events)


def heterogeneity_across(
    table: SubgroupTable,
    *,
    scale: str,
    method: str = "REML",
    confidence: float = 0.95,
) -> Heterogeneity:
    """Heterogeneity (Q, I², tau²) and pooled estimate across the estimable rows of ``table``.

    ``scale`` is explicit (no silent default): ``"identity"`` uses ``se**2`` of each row;
    ``"logit"`` transforms proportions with variance ``1/(n p (1-p))``; ``"logit-se"`` transforms
    an estimate in (0, 1) with variance ``se**2 / (p (1-p))**2`` (module docstring). The pooled
    estimates are on that scale (:func:`back_transform` maps them back).
    """
    scale = check_option("scale", scale, SCALES)
    used = [r for r in table.rows if r.estimate.estimable]
    excluded = tuple(
        f"{r.group}: {r.estimate.reason}" for r in table.rows if not r.estimate.estimable
    )
    names = [r.group for r in used]
    if scale in ("logit", "logit-se"):
        edge = [r.group for r in used if not 0.0 < r.estimate.estimate < 1.0]
        if edge:
            return Heterogeneity.not_estimable(
                f"group(s) {', '.join(edge)} have an estimate of 0 or 1: the logit and its "
                "variance are infinite",
                method=method,
                confidence=confidence,
                groups=names,
                excluded=excluded,
            )
        p = np.array([r.estimate.estimate for r in used], dtype=float)
        y = np.log(p) - np.log1p(-p)
        if scale == "logit":
            n = np.array([r.estimate.n for r in used], dtype=float)
            v = 1.0 / (n * p * (1.0 - p))
        else:
            se = _row_se(table, used)
            v = se**2 / (p * (1.0 - p)) ** 2
    else:
        y = np.array([r.estimate.estimate for r in used], dtype=float)
        v = _row_se(table, used) ** 2
    return heterogeneity(
        y, v, method=method, labels=names, confidence=confidence, excluded=excluded
    )


def _row_se(table: SubgroupTable, used: list[SubgroupRow]) -> np.ndarray:
    no_se = [r.group for r in used if r.estimate.se is None or not math.isfinite(r.estimate.se)]
    if no_se:
        raise fail(
            "table",
            f"rows with a finite se for this scale (metric {table.metric})",
            f"no se for group(s) {', '.join(no_se)}; use scale='logit' for proportions",
        )
    return np.array([float(r.estimate.se) for r in used])  # type: ignore[arg-type]


def back_transform(pooled: Estimate, *, scale: str) -> Estimate:
    """``pooled`` (from :func:`heterogeneity_across` on ``scale``) on the metric's own scale.

    ``identity``: unchanged. ``logit`` / ``logit-se``: ``expit`` of the estimate and of both
    interval bounds (the Wald interval on the logit scale, mapped back, so it stays inside (0, 1);
    ``se`` is dropped because it belongs to the logit scale); the method names the route.
    """
    scale = check_option("scale", scale, SCALES)
    if scale == "identity" or not pooled.estimable:
        return pooled

    def expit(x: float) -> float:
        return float(1.0 / (1.0 + math.exp(-x)))

    return Estimate(
        expit(pooled.estimate),
        expit(pooled.ci_low),
        expit(pooled.ci_high),
        pooled.confidence,
        f"{pooled.method} on the logit scale, back-transformed (expit)",
        pooled.n,
    )
