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
    subgroup_levels,
)
from validation.runner.verdicts import Judged, judge
from validation.serialize import to_jsonable
from validation.stats import Estimate

__all__ = ["Analysed", "compute_comparison", "compute_endpoint", "compute_subgroup"]


@dataclass(frozen=True, slots=True)
class Analysed:
    """The analysed table as arrays: ids, reference 0/1, model scores, and the threshold."""

    table: pd.DataFrame
    ids: np.ndarray
    y: np.ndarray
    score: np.ndarray
    threshold: float
    confidence: float

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


def subgroup_verdict(rows: list[dict[str, Any]], criterion: object) -> tuple[str, str | None]:
    """The analysis's verdict: its criterion must hold in *every* group (e.g. "each site reaches
    AUC >= 0.80"). FAIL if any group fails; PASS if every evaluable group passes (groups below the
    minimum size are named, not counted); NOT EVALUABLE if no group is evaluable; INFO without a
    criterion."""
    if criterion is None:
        return "INFO", None
    failed = [r["group"] for r in rows if r["verdict"] == "FAIL"]
    passed = [r["group"] for r in rows if r["verdict"] == "PASS"]
    other = [r["group"] for r in rows if r["verdict"] not in ("PASS", "FAIL")]
    skipped = f"; not evaluable: {', '.join(other)}" if other else ""
    if failed:
        return "FAIL", f"fails in {', '.join(failed)}{skipped}"
    if passed:
        return "PASS", f"holds in all {len(passed)} evaluable group(s){skipped}"
    return "NOT EVALUABLE", "no group is evaluable" + (f" ({', '.join(other)})" if other else "")


def compute_subgroup(sub: SubgroupSpec, data: Analysed) -> dict[str, Any]:
    """Metric per level of ``sub.by`` (min size, at least one positive and one negative) and,
    when asked, heterogeneity across the estimable levels (REML, ``metafor::rma``)."""
    out: dict[str, Any] = {
        "id": sub.id,
        "description": sub.description,
        "column": sub.by,
        "metric": sub.metric,
        "min_size": sub.min_size,
        "criterion": None if sub.criterion is None else str(sub.criterion),
        "rows": [],
        "heterogeneity": None,
        "reason": None,
        "verdict": "NOT EVALUABLE" if sub.criterion is not None else "INFO",
        "verdict_reason": None,
    }
    if sub.by not in data.table.columns:
        out["reason"] = f"the analysed table has no column {sub.by!r}"
        return out
    if len(data.y) == 0:
        out["reason"] = "no analysed patients"
        return out
    groups = subgroup_levels(sub, data.table)

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
        # AUC needs both classes in a level; a proportion (accuracy, sensitivity...) decides itself
        min_events=1 if sub.metric == "auc" else 0,
    )
    for row in table.rows:
        judged = judge(f"{sub.id}:{row.group}", row.estimate, sub.criterion)
        out["rows"].append(
            {
                "group": row.group,
                "n": row.n,
                "n_pos": row.n_pos,
                "n_neg": row.n_neg,
                "result": to_jsonable(row.estimate),
                "verdict": judged.verdict,
                "reason": judged.reason,
            }
        )
    out["verdict"], out["verdict_reason"] = subgroup_verdict(out["rows"], sub.criterion)
    if sub.heterogeneity:
        scale = "identity" if sub.metric == "auc" else "logit"
        het = stats.heterogeneity_across(
            table, scale=scale, method="REML", confidence=data.confidence
        )
        out["heterogeneity"] = {
            "method": het.method,
            "scale": scale,
            "q": to_jsonable(het.q),
            "df": het.df,
            "p_value": to_jsonable(het.p_value),
            "i2": to_jsonable(het.i2),
            "tau2": to_jsonable(het.tau2),
            "pooled": to_jsonable(het.pooled),
            "groups": list(het.groups),
            "excluded": list(het.excluded),
            "reason": het.reason,
        }
    return out


def compute_comparison(spec: ComparisonSpec, data: Analysed) -> tuple[dict[str, Any], Judged]:
    """Model versus comparator (biopsy) on patients with both the comparator and the outcome.

    compare_auc: paired DeLong of AUC(model ``score``) - AUC(comparator call) for ``outcome``;
    mcnemar: exact McNemar of correct calls against ``outcome``; kappa: Cohen's kappa of model call
    and comparator call; decision_curve: net benefit for ``outcome`` of the model score, the
    comparator's calls, treat all and treat none.
    """
    out: dict[str, Any] = {
        "id": spec.id,
        "description": spec.description,
        "method": spec.method.value,
        "outcome": spec.outcome,
        "comparator": spec.comparator,
        "score": spec.score,
        "n": 0,
        "auc_difference": None,
        "mcnemar": None,
        "kappa": None,
        "decision_curve": None,
    }
    conf = data.confidence
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
        result = _not_estimable(
            f"the analysed table has no column(s) {', '.join(missing)}", conf, spec.method.value, 0
        )
    else:
        keep = ~(np.isnan(comparator) | np.isnan(score) | np.isnan(outcome))
        y, s, c = outcome[keep], score[keep], comparator[keep]
        out["n"] = int(keep.sum())
        model_calls = stats.calls(s, data.threshold)
        if len(y) == 0:
            result = _not_estimable("no patient has both values", conf, spec.method.value, 0)
        elif spec.method is ComparisonMethod.COMPARE_AUC:
            result = stats.compare_auc(y, s, c, confidence=conf)
            out["auc_difference"] = to_jsonable(result)
        elif spec.method is ComparisonMethod.MCNEMAR:
            result = stats.mcnemar(
                (model_calls == y).astype(np.int8), (c == y).astype(np.int8), exact=True
            )
            out["mcnemar"] = to_jsonable(result)
        elif spec.method is ComparisonMethod.KAPPA:
            result = stats.cohen_kappa(model_calls, c.astype(np.int8), confidence=conf)
            out["kappa"] = to_jsonable(result)
        else:
            curve = stats.decision_curve(y, s, list(spec.thresholds), calls={"biopsy": c})
            out["decision_curve"] = {
                "thresholds": to_jsonable(curve.thresholds),
                "model": to_jsonable(curve.model),
                "biopsy": to_jsonable(dict(curve.calls)["biopsy"]),
                "treat_all": to_jsonable(curve.treat_all),
                "treat_none": to_jsonable(curve.treat_none),
                "prevalence": to_jsonable(curve.prevalence),
            }
    judged = (
        judge(spec.id, result, spec.criterion, hierarchy=spec.hierarchy, family=spec.family)
        if result is not None
        else judge(spec.id, 0.0, None, hierarchy=spec.hierarchy, family=spec.family)
    )
    if spec.strata is not None:  # descriptive, within each level (validation.runner.strata)
        from validation.runner.strata import confounding, stratified

        out["strata"] = stratified(spec, data, compute_comparison)
        out["confounding"] = confounding(spec, data)
    if (
        result is not None
        and getattr(result, "reason", None) is not None
        and spec.criterion is None
    ):
        judged = Judged(
            spec.id,
            None,
            "NOT EVALUABLE",
            f"not estimable: {result.reason}",
            spec.hierarchy,
            spec.family,
            None,
        )
    return out, judged
