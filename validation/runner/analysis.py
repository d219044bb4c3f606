"""Endpoints, subgroups and model-versus-comparator comparisons of one analysed table.

Each analysis is computed through the protocol's metric registry
(:func:`validation.protocol.compute_metric`) or the :mod:`validation.stats` function its method
names, then judged (:mod:`.verdicts`). An analysis whose inputs are undefined for these data (a
subgroup without positives, a missing biopsy call) is NOT EVALUABLE with the reason -- never a
crash, never a number that looks valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from validation import stats
from validation.exceptions import InvalidArgumentError
from validation.protocol import (
    ComparisonMethod,
    ComparisonSpec,
    Endpoint,
    SubgroupSpec,
    compute_metric,
    get_metric,
)
from validation.results import DecisionCurve, Heterogeneity, McNemar, Subgroup, SubgroupRow
from validation.runner.convert import (
    difference_value,
    estimate_value,
    num,
    nums,
    stat_value,
    test_value,
)
from validation.runner.verdicts import Judged, judge
from validation.stats import Estimate

__all__ = [
    "Analysed",
    "compute_comparison",
    "compute_endpoint",
    "compute_subgroup",
    "subgroup_verdict",
]


@dataclass(frozen=True, slots=True)
class Analysed:
    """The analysed table as arrays: ids, reference 0/1, model scores, and the threshold."""

    table: pd.DataFrame
    ids: np.ndarray
    y: np.ndarray
    score: np.ndarray
    threshold: float
    confidence: float
    reference: str = "reference_her2"

    @classmethod
    def from_table(
        cls, table: pd.DataFrame, *, reference: str, threshold: float, confidence: float
    ) -> Analysed:
        return cls(
            table,
            table["patient_id"].astype(str).to_numpy(),
            table[reference].to_numpy(dtype=float),
            table["score"].to_numpy(dtype=float),
            threshold,
            confidence,
            reference,
        )

    def column(self, name: str) -> np.ndarray | None:
        """Float values of a 0/1 or score column, or None when the table has no such column."""
        if name not in self.table.columns:
            return None
        return pd.to_numeric(self.table[name], errors="coerce").to_numpy(dtype=float)


def _not_estimable(reason: str, confidence: float, method: str, n: int) -> Estimate:
    return Estimate.not_estimable(reason, confidence=confidence, method=method, n=n)


def _as_result(value: Any, *, metric: str, confidence: float, n: int) -> Any:
    """A plain number becomes an Estimate without interval (for the schema's Estimate shape)."""
    if isinstance(value, int | float | np.floating) and not isinstance(value, bool):
        v = float(value)
        if math.isfinite(v):
            return Estimate(v, math.nan, math.nan, confidence, metric, n)
        return _not_estimable("the value is not a finite number", confidence, metric, n)
    return value


def compute_endpoint(endpoint: Endpoint, data: Analysed) -> tuple[Any, Judged]:
    """The endpoint's result (Estimate, Test or Comparison) and its criterion verdict."""
    n = len(data.y)
    biopsy = data.column("biopsy_her2")
    spec = get_metric(endpoint.metric)
    result: Any
    if n == 0:
        result = _not_estimable("no analysed patients", data.confidence, endpoint.metric, 0)
    elif spec.inputs.name == "REFERRAL" and (biopsy is None or np.isnan(biopsy).any()):
        result = _not_estimable(
            "the referral policy needs a biopsy call (biopsy_her2) for every analysed patient",
            data.confidence,
            endpoint.metric,
            n,
        )
    else:
        try:
            result = compute_metric(
                endpoint.metric,
                data.y,
                data.score,
                threshold=data.threshold,
                confidence=data.confidence,
                params=endpoint.params_dict,
                ids=data.ids,
                biopsy=biopsy,
            )
        except InvalidArgumentError as exc:
            result = _not_estimable(str(exc), data.confidence, endpoint.metric, n)
        result = _as_result(result, metric=endpoint.metric, confidence=data.confidence, n=n)
    judged = judge(
        endpoint.id,
        result,
        endpoint.criterion,
        hierarchy=endpoint.hierarchy,
        family=endpoint.family,
    )
    return result, judged


def subgroup_verdict(rows: list[SubgroupRow], criterion: object) -> tuple[str, str | None]:
    """The analysis's verdict: its criterion must hold in *every* group (e.g. "each site reaches
    AUC >= 0.80"). FAIL if any group fails; PASS if every evaluable group passes (groups below the
    minimum size or events are named, not counted); NOT EVALUABLE if no group is evaluable; INFO
    without a criterion."""
    if criterion is None:
        return "INFO", None
    failed = [r.group for r in rows if r.verdict == "FAIL"]
    passed = [r.group for r in rows if r.verdict == "PASS"]
    other = [r.group for r in rows if r.verdict not in ("PASS", "FAIL")]
    skipped = f"; not evaluable: {', '.join(other)}" if other else ""
    if failed:
        return "FAIL", f"fails in {', '.join(failed)}{skipped}"
    if passed:
        return "PASS", f"holds in all {len(passed)} evaluable group(s){skipped}"
    return "NOT EVALUABLE", "no group is evaluable" + (f" ({', '.join(other)})" if other else "")


#: Pooling scale by metric: AUC on the logit scale with its DeLong se (delta method); every other
#: registry metric is a proportion, pooled on the logit scale with its binomial variance.
_POOL_SCALE = {"auc": "logit-se"}


def _heterogeneity(table: stats.SubgroupTable, metric: str, confidence: float) -> Heterogeneity:
    scale = _POOL_SCALE.get(metric, "logit")
    het = stats.heterogeneity_across(table, scale=scale, method="REML", confidence=confidence)
    back = stats.back_transform(het.pooled, scale=scale)
    how = f"Wald interval of the random-effects ({het.method}) estimate on the {scale} scale"
    if scale != "identity":
        how += ", mapped back through expit (bounds stay in (0, 1))"
    if het.note:
        how += f"; {het.note}"
    return Heterogeneity(
        het.method,
        scale,
        num(het.q),
        int(het.df),
        num(het.p_value),
        num(het.i2),
        num(het.tau2),
        estimate_value(het.pooled),
        estimate_value(back),
        how,
        tuple(het.groups),
        tuple(het.excluded),
        het.reason,
    )


def compute_subgroup(sub: SubgroupSpec, data: Analysed) -> Subgroup:
    """Metric per level of ``sub.by`` (minimum size and events from the protocol) and, when asked,
    heterogeneity across the estimable levels (REML, ``metafor::rma``; AUC pooled on the logit
    scale)."""

    def made(
        rows: tuple[SubgroupRow, ...] = (),
        het: Heterogeneity | None = None,
        reason: str | None = None,
    ) -> Subgroup:
        verdict, why = subgroup_verdict(list(rows), sub.criterion)
        if reason is not None and sub.criterion is not None:
            verdict, why = "NOT EVALUABLE", reason
        return Subgroup(
            sub.id,
            sub.description,
            sub.by,
            sub.metric,
            sub.min_size,
            sub.min_events,
            None if sub.criterion is None else str(sub.criterion),
            rows,
            het,
            reason,
            verdict,  # type: ignore[arg-type]
            why,
        )

    if sub.by not in data.table.columns:
        return made(reason=f"the analysed table has no column {sub.by!r}")
    if len(data.y) == 0:
        return made(reason="no analysed patients")
    groups = data.table[sub.by].astype("string").fillna("missing").to_numpy(dtype=object)

    def metric(y: np.ndarray, s: np.ndarray, ids: np.ndarray, b: np.ndarray) -> Estimate:
        value = compute_metric(
            sub.metric,
            y,
            s,
            threshold=data.threshold,
            confidence=data.confidence,
            params=sub.params_dict,
            ids=ids,
            biopsy=None if np.isnan(b).any() else b,
        )
        return _as_result(value, metric=sub.metric, confidence=data.confidence, n=len(y))

    metric.__name__ = sub.metric
    biopsy = data.column("biopsy_her2")
    table = stats.by_group(
        metric,
        groups,
        data.y,
        data.score,
        data.ids,
        np.full(len(data.y), np.nan) if biopsy is None else biopsy,
        min_size=sub.min_size,
        min_events=sub.min_events,
    )
    rows = []
    for row in table.rows:
        judged = judge(f"{sub.id}:{row.group}", row.estimate, sub.criterion)
        rows.append(
            SubgroupRow(
                row.group,
                row.n,
                row.n_pos,
                row.n_neg,
                stat_value(row.estimate),
                judged.verdict,  # type: ignore[arg-type]
                judged.reason,
            )
        )
    het = _heterogeneity(table, sub.metric, data.confidence) if sub.heterogeneity else None
    return made(tuple(rows), het)


def _mcnemar(model_right: np.ndarray, comparator_right: np.ndarray) -> tuple[Any, McNemar]:
    """Exact McNemar test and the 2x2 of who was right (counts of the paired calls)."""
    test = stats.mcnemar(model_right.astype(np.int8), comparator_right.astype(np.int8), exact=True)
    m, c = model_right.astype(bool), comparator_right.astype(bool)
    counts = (np.sum(m & c), np.sum(m & ~c), np.sum(~m & c), np.sum(~m & ~c))
    return test, McNemar(test_value(test), *(int(k) for k in counts))


def compute_comparison(spec: ComparisonSpec, data: Analysed) -> tuple[dict[str, Any], Judged]:
    """Model versus comparator (biopsy) on patients with both the comparator and the outcome.

    compare_auc: paired DeLong of AUC(model ``score``) - AUC(comparator call) for ``outcome``;
    mcnemar: exact McNemar of correct calls against ``outcome``; kappa: Cohen's kappa of model call
    and comparator call; decision_curve: net benefit for ``outcome`` of the model score, the
    comparator's calls, treat all and treat none.

    Returns the fields of :class:`validation.results.Comparison` but its judgement (decided after
    multiplicity) and the criterion's judgement.
    """
    conf = data.confidence
    out: dict[str, Any] = {
        "id": spec.id,
        "description": spec.description,
        "method": spec.method.value,
        "outcome": spec.outcome or data.reference,
        "comparator": spec.comparator,
        "score": spec.score,
        "n": 0,
        "auc_difference": None,
        "mcnemar": None,
        "kappa": None,
        "decision_curve": None,
        "reason": None,
    }
    comparator = data.column(spec.comparator)
    score = data.column(spec.score)
    outcome = data.y if spec.outcome is None else data.column(spec.outcome)
    result: Any = None
    missing = [
        name
        for name, arr in (
            (spec.comparator, comparator),
            (spec.score, score),
            (spec.outcome or "reference", outcome),
        )
        if arr is None
    ]
    if missing or comparator is None or score is None or outcome is None:
        out["reason"] = f"the analysed table has no column(s) {', '.join(missing)}"
    else:
        keep = ~(np.isnan(comparator) | np.isnan(score) | np.isnan(outcome))
        y, s, c = outcome[keep], score[keep], comparator[keep]
        out["n"] = int(keep.sum())
        model_calls = stats.calls(s, data.threshold)
        if len(y) == 0:
            out["reason"] = "no patient has both values"
        elif spec.method is ComparisonMethod.COMPARE_AUC:
            result = stats.compare_auc(y, s, c, confidence=conf)
            out["auc_difference"] = difference_value(result)
            out["reason"] = result.reason
        elif spec.method is ComparisonMethod.MCNEMAR:
            result, mc = _mcnemar(model_calls == y, c == y)
            out["mcnemar"] = mc
            out["reason"] = mc.test.reason
        elif spec.method is ComparisonMethod.KAPPA:
            result = stats.cohen_kappa(model_calls, c.astype(np.int8), confidence=conf)
            out["kappa"] = estimate_value(result)
            out["reason"] = result.reason
        else:
            curve = stats.decision_curve(y, s, list(spec.thresholds), calls={"biopsy": c})
            out["decision_curve"] = DecisionCurve(
                tuple(float(t) for t in curve.thresholds),
                nums(curve.model),
                nums(dict(curve.calls)["biopsy"]),
                nums(curve.treat_all),
                nums(curve.treat_none),
                num(curve.prevalence),
            )
    if out["reason"] is not None and result is None:
        result = _not_estimable(out["reason"], conf, spec.method.value, out["n"])
    judged = judge(
        spec.id,
        result if result is not None else 0.0,
        spec.criterion,
        hierarchy=spec.hierarchy,
        family=spec.family,
    )
    if out["reason"] is not None and spec.criterion is None:
        judged = Judged(
            spec.id, None, "NOT EVALUABLE", out["reason"], spec.hierarchy, spec.family, None
        )
    return out, judged
