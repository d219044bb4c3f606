"""The metric registry: protocol metric names -> :mod:`validation.stats` functions.

Each :class:`MetricSpec` states what the metric IS (its formula in words), which statistics
function computes it, which field of the result it reads, what inputs it takes (continuous scores,
probabilities, or binary calls at the operating point), its default parameters, and the quantities
a criterion may judge. Stats functions are resolved lazily by name, so the registry can be
imported (and protocols validated) without computing anything.

:func:`verify_registry` re-computes every available metric on a small fixed data set and compares
it with a plain, obviously-correct numpy twin of its definition (STYLE.md rule 10).
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.exceptions import HarnessError, InvalidArgumentError, ProtocolError
from validation.protocol.criteria import Quantity

__all__ = [
    "METRICS",
    "InputKind",
    "MetricCheck",
    "MetricSpec",
    "compute_metric",
    "get_metric",
    "result_quantities",
    "verify_registry",
]

_Arr = NDArray[np.float64]
_Reference = Callable[[_Arr, _Arr, Mapping[str, Any]], float]


class InputKind(StrEnum):
    """How a metric's stats function is called, besides the reference standard ``y_true``."""

    SCORES = "scores"  # fn(y_true, scores): ranking metrics, any real scores
    PROBS = "probs"  # fn(y_true, probs): calibration, probabilities in [0, 1]
    CALLS = "calls"  # fn(y_true, calls(scores, threshold)): binary calls at the operating point
    PROBS_AT_THRESHOLD = "probs at threshold"  # fn(y_true, probs, threshold=t): confidence of calls
    REFERRAL = "probs and biopsy calls"  # fn(y_true, probs, biopsy, threshold=t, fractions=(f,))


_EST = frozenset({Quantity.ESTIMATE, Quantity.CI_LOW, Quantity.CI_HIGH})
_POINT = frozenset({Quantity.ESTIMATE})
_TEST = frozenset({Quantity.STATISTIC, Quantity.P_VALUE})


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One registry entry.

    Attributes
    ----------
    name : protocol name of the metric.
    description : the definition in words (rendered in the dossier).
    function : ``module.function`` under :mod:`validation.stats` that computes it.
    result_field : dotted path into the function's result (attribute, key or index); None = the result.
    inputs : :class:`InputKind` -- how the function is called.
    defaults : default protocol parameters (sorted ``(key, value)`` pairs); a protocol may override.
    quantities : what a criterion may judge on this metric.
    takes_confidence : whether ``confidence=`` is passed to the function.
    takes_ids : whether the function needs patient ``ids=`` (to list the cases it flags).
    reference : plain numpy twin ``(y_true, inputs, context) -> float`` for :func:`verify_registry`.
    """

    name: str
    description: str
    function: str
    result_field: str | None
    inputs: InputKind
    defaults: tuple[tuple[str, Any], ...] = ()
    quantities: frozenset[Quantity] = _EST
    takes_confidence: bool = True
    takes_ids: bool = False
    reference: _Reference | None = field(default=None, compare=False, repr=False)

    @property
    def default_params(self) -> dict[str, Any]:
        return dict(self.defaults)


# --- obviously-correct twins (definitions), used by verify_registry ----------------------------
def _counts(y: _Arr, c: _Arr) -> tuple[int, int, int, int]:
    tp = int(np.sum((y == 1) & (c == 1)))
    fn = int(np.sum((y == 1) & (c == 0)))
    fp = int(np.sum((y == 0) & (c == 1)))
    tn = int(np.sum((y == 0) & (c == 0)))
    return tp, fn, fp, tn


def _ratio(k: float, n: float) -> float:
    return k / n if n else math.nan


def _pairwise_auc(y: _Arr, s: _Arr, ctx: Mapping[str, Any]) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _ece(y: _Arr, p: _Arr, ctx: Mapping[str, Any]) -> float:
    total = 0.0
    for b in range(10):
        inside = (p >= b / 10) & ((p < (b + 1) / 10) if b < 9 else (p <= 1.0))
        if inside.any():
            total += abs(y[inside].mean() - p[inside].mean()) * inside.mean()
    return total


def _kappa(y: _Arr, c: _Arr, ctx: Mapping[str, Any]) -> float:
    po = float(np.mean(y == c))
    pe = float(np.mean(y) * np.mean(c) + (1 - np.mean(y)) * (1 - np.mean(c)))
    return (po - pe) / (1 - pe)


def _confidence(p: _Arr, t: float) -> _Arr:
    """max(p, 1 - p) generalised to threshold t: 0.5 at t, 1 at the certain end of the call."""
    return np.array(
        [0.5 + 0.5 * (q - t) / (1 - t) if q >= t else 0.5 + 0.5 * (t - q) / t for q in p]
    )


def _high_conf_error(y: _Arr, p: _Arr, ctx: Mapping[str, Any]) -> float:
    conf, wrong = _confidence(p, ctx["threshold"]), (p >= ctx["threshold"]) != (y == 1)
    sure = conf >= ctx["high_confidence"]
    return _ratio(float(wrong[sure].sum()), float(sure.sum()))


def _orderings(conf: _Arr) -> list[list[int]]:
    """Every most-confident-first order of the cases (each order of each tied group)."""
    groups = [
        sorted(np.flatnonzero(conf == c).tolist()) for c in sorted(set(conf.tolist()), reverse=True)
    ]
    return [
        list(itertools.chain.from_iterable(choice))
        for choice in itertools.product(*[list(itertools.permutations(g)) for g in groups])
    ]


def _aurc_of(wrong_in_order: _Arr) -> float:
    return float(np.mean([wrong_in_order[:k].mean() for k in range(1, len(wrong_in_order) + 1)]))


def _aurc(y: _Arr, p: _Arr, ctx: Mapping[str, Any]) -> float:
    conf, wrong = (
        _confidence(p, ctx["threshold"]),
        ((p >= ctx["threshold"]) != (y == 1)).astype(float),
    )
    return float(np.mean([_aurc_of(wrong[order]) for order in _orderings(conf)]))


def _eaurc(y: _Arr, p: _Arr, ctx: Mapping[str, Any]) -> float:
    wrong = ((p >= ctx["threshold"]) != (y == 1)).astype(float)
    return _aurc(y, p, ctx) - _aurc_of(np.sort(wrong))  # oracle: every error least confident


def _referral_calls(y: _Arr, p: _Arr, ctx: Mapping[str, Any]) -> _Arr:
    conf = _confidence(p, ctx["threshold"])
    budget = math.floor(ctx["fraction"] * len(p) + 1e-9)
    referred = np.zeros(len(p), dtype=bool)
    for level in sorted(set(conf.tolist())):  # whole tied groups, least confident first
        group = conf == level
        if referred.sum() + group.sum() > budget:
            break
        referred |= group
    return np.where(referred, ctx["biopsy"], (p >= ctx["threshold"]).astype(float))


def _referral(part: str) -> _Reference:
    def twin(y: _Arr, p: _Arr, ctx: Mapping[str, Any]) -> float:
        tp, fn, fp, tn = _counts(y, _referral_calls(y, p, ctx))
        return {"sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp)}.get(
            part, _ratio(fn + fp, tp + fn + fp + tn)
        )

    return twin


def _diag(name: str, words: str, ref: Callable[[int, int, int, int], float]) -> MetricSpec:
    return MetricSpec(
        name,
        words,
        "classification.diagnostic",
        name,
        InputKind.CALLS,
        (("method", "wilson"),),
        reference=lambda y, c, ctx: ref(*_counts(y, c)),
    )


def _cal(
    name: str,
    words: str,
    field_: str,
    quantities: frozenset[Quantity] = _POINT,
    reference: _Reference | None = None,
) -> MetricSpec:
    return MetricSpec(
        name,
        words,
        "calibration.calibration",
        field_,
        InputKind.PROBS,
        quantities=quantities,
        reference=reference,
    )


def _refer(part: str, words: str) -> MetricSpec:
    return MetricSpec(
        f"referral_{part}",
        words,
        "confidence.referral",
        f"0.{part}",
        InputKind.REFERRAL,
        (("fraction", 0.1), ("method", "wilson")),
        reference=_referral(part),
    )


_SPECS: tuple[MetricSpec, ...] = (
    _diag(
        "sensitivity",
        "TP / (TP + FN): share of reference-positive patients called positive",
        lambda tp, fn, fp, tn: _ratio(tp, tp + fn),
    ),
    _diag(
        "specificity",
        "TN / (TN + FP): share of reference-negative patients called negative",
        lambda tp, fn, fp, tn: _ratio(tn, tn + fp),
    ),
    _diag(
        "ppv",
        "TP / (TP + FP): share of positive calls that are reference-positive",
        lambda tp, fn, fp, tn: _ratio(tp, tp + fp),
    ),
    _diag(
        "npv",
        "TN / (TN + FN): share of negative calls that are reference-negative",
        lambda tp, fn, fp, tn: _ratio(tn, tn + fn),
    ),
    _diag(
        "accuracy",
        "(TP + TN) / N: share of all patients called correctly",
        lambda tp, fn, fp, tn: _ratio(tp + tn, tp + fn + fp + tn),
    ),
    MetricSpec(
        "auc",
        "P(score of a random positive > score of a random negative) + 0.5 P(tie); DeLong CI",
        "roc.auc",
        None,
        InputKind.SCORES,
        reference=_pairwise_auc,
    ),
    _cal(
        "calibration_intercept",
        "a in logit P(y=1) = a + logit(p), slope fixed at 1 (calibration-in-the-large); ideal 0",
        "intercept",
        _EST,
    ),
    _cal(
        "calibration_slope",
        "b in logit P(y=1) = a + b logit(p) (logistic recalibration); ideal 1",
        "slope",
        _EST,
    ),
    _cal(
        "brier", "mean (p - y)^2", "brier", reference=lambda y, p, ctx: float(np.mean((p - y) ** 2))
    ),
    _cal(
        "ece",
        "sum over 10 equal-width bins of (bin share) x |mean y - mean p|",
        "ece",
        reference=_ece,
    ),
    _cal(
        "ici", "mean |lowess(y on p) - p| over patients (Austin & Steyerberg 2019; rms Eavg)", "ici"
    ),
    _cal("e90", "90th percentile of |lowess(y on p) - p|", "e90"),
    _cal(
        "hosmer_lemeshow_p",
        "Hosmer-Lemeshow chi-square over 10 quantile groups and its p-value",
        "hosmer_lemeshow",
        _TEST,
    ),
    MetricSpec(
        "kappa",
        "Cohen's kappa (po - pe) / (1 - pe) of model calls against the reference",
        "classification.cohen_kappa",
        None,
        InputKind.CALLS,
        reference=_kappa,
    ),
    MetricSpec(
        "high_confidence_error_rate",
        "errors / calls among patients whose call confidence >= high_confidence "
        "(confidence = max(p, 1-p) rescaled so the threshold is 0.5)",
        "confidence.error_analysis",
        "high_confidence_error_rate",
        InputKind.PROBS_AT_THRESHOLD,
        (("high_confidence", 0.9), ("method", "wilson")),
        takes_ids=True,
        reference=_high_conf_error,
    ),
    MetricSpec(
        "aurc",
        "area under the risk-coverage curve: mean over k of the error rate of the k most confident",
        "confidence.risk_coverage",
        "aurc",
        InputKind.PROBS_AT_THRESHOLD,
        quantities=_POINT,
        takes_confidence=False,
        reference=_aurc,
    ),
    MetricSpec(
        "eaurc",
        "AURC minus the AURC of the ideal ranking (every error least confident)",
        "confidence.risk_coverage",
        "eaurc",
        InputKind.PROBS_AT_THRESHOLD,
        quantities=_POINT,
        takes_confidence=False,
        reference=_eaurc,
    ),
    _refer(
        "error_rate",
        "share of wrong final calls when the least confident `fraction` get the biopsy's call",
    ),
    _refer(
        "sensitivity",
        "sensitivity of the final calls when the least confident `fraction` get the biopsy's call",
    ),
    _refer(
        "specificity",
        "specificity of the final calls when the least confident `fraction` get the biopsy's call",
    ),
)

#: name -> spec, in sorted order.
METRICS: Mapping[str, MetricSpec] = {
    spec.name: spec for spec in sorted(_SPECS, key=lambda s: s.name)
}


def get_metric(name: str) -> MetricSpec:
    """The spec of ``name``; :class:`ProtocolError` with the nearest names when unknown."""
    import difflib

    if name in METRICS:
        return METRICS[name]
    close = difflib.get_close_matches(name, list(METRICS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ProtocolError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}.{hint}")


def _function(spec: MetricSpec) -> Callable[..., Any] | None:
    module, _, name = spec.function.rpartition(".")
    try:
        found = importlib.import_module(f"validation.stats.{module}")
    except ModuleNotFoundError:
        return None
    fn = getattr(found, name, None)
    return fn if callable(fn) else None


def _read(result: Any, path: str | None) -> Any:
    for part in path.split(".") if path else ():
        if part.isdigit():
            result = result[int(part)]
        elif isinstance(result, Mapping):
            result = result[part]
        else:
            result = getattr(result, part)
    return result


def compute_metric(
    name: str,
    y_true: ArrayLike,
    values: ArrayLike,
    *,
    threshold: float | None = None,
    confidence: float = 0.95,
    params: Mapping[str, Any] | None = None,
    ids: ArrayLike | None = None,
    biopsy: ArrayLike | None = None,
) -> Any:
    """Compute metric ``name``: the stats result's field (an ``Estimate``, ``Test`` or float).

    ``values`` are the model's scores (probabilities for PROBS metrics). CALLS, confidence and
    referral metrics need the operating ``threshold``; referral metrics the ``biopsy`` calls;
    ``ids`` (patient ids) default to row numbers.
    """
    spec = get_metric(name)
    fn = _function(spec)
    if fn is None:
        raise HarnessError(
            f"metric {name!r} needs validation.stats.{spec.function}, which this installation does not "
            "provide; update the harness or remove the metric from the protocol."
        )
    kwargs = {**spec.default_params, **(params or {})}
    args: list[Any] = [y_true, values]
    if (
        spec.inputs in (InputKind.CALLS, InputKind.PROBS_AT_THRESHOLD, InputKind.REFERRAL)
        and threshold is None
    ):
        raise InvalidArgumentError(f"threshold must be a number for metric {name!r}; got None.")
    if spec.inputs is InputKind.CALLS:
        calls = importlib.import_module("validation.stats.classification").calls
        args[1] = calls(values, threshold)
    elif spec.inputs is not InputKind.SCORES and spec.inputs is not InputKind.PROBS:
        kwargs["threshold"] = threshold
    if spec.inputs is InputKind.REFERRAL:
        if biopsy is None:
            raise InvalidArgumentError(
                f"biopsy must be an array of 0/1 calls for metric {name!r}; got None."
            )
        args.append(biopsy)
        kwargs["fractions"] = (kwargs.pop("fraction"),)
    if spec.takes_ids:
        kwargs["ids"] = np.arange(len(np.asarray(values))) if ids is None else ids
    if spec.takes_confidence:
        kwargs["confidence"] = confidence
    return _read(fn(*args, **kwargs), spec.result_field)


def result_quantities(result: Any) -> tuple[dict[str, float], str | None]:
    """The quantities a criterion may judge, and the not-estimable reason (None if estimable).

    Estimate -> estimate, ci_low, ci_high; Comparison -> those and statistic, p_value;
    Test -> statistic, p_value; a plain number -> estimate.
    """
    if isinstance(result, int | float | np.floating | np.integer) and not isinstance(result, bool):
        value = float(result)
        return {"estimate": value}, None if math.isfinite(
            value
        ) else "the value is not a finite number"
    out = {q.value: float(getattr(result, q.value)) for q in Quantity if hasattr(result, q.value)}
    if not out:
        raise InvalidArgumentError(
            f"result must be an Estimate, Test, Comparison or number; got {type(result).__name__}."
        )
    return out, getattr(result, "reason", None)


@dataclass(frozen=True, slots=True)
class MetricCheck:
    """Outcome of checking one registry entry: status is 'ok', 'unavailable' or 'mismatch'."""

    name: str
    status: str
    computed: float
    expected: float
    detail: str


#: The fixed data set of the self-test: 12 patients, tied scores and tied confidences, both
#: classes, a spread of p, and biopsy calls that disagree with the model on some patients.
_Y = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1], dtype=np.float64)
_P = np.array([0.95, 0.8, 0.62, 0.55, 0.3, 0.96, 0.4, 0.4, 0.2, 0.1, 0.05, 0.55])
_B = np.array([1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0], dtype=np.float64)
_SELF_TEST_THRESHOLD = 0.5
_RTOL = 1e-9  # twins are exact formulas on 12 points: agreement to rounding error


def verify_registry(names: tuple[str, ...] | None = None) -> tuple[MetricCheck, ...]:
    """Check every (or the named) metric against its numpy twin on a fixed 12-patient data set.

    Metrics without a twin (lowess ICI/E90, model-based calibration, Hosmer-Lemeshow) are checked
    for a finite result only; metrics whose stats function is missing are reported 'unavailable'.
    Raises :class:`HarnessError` naming every mismatch; returns all checks otherwise.
    """
    checks = []
    for name in names or tuple(METRICS):
        spec = get_metric(name)
        if _function(spec) is None:
            checks.append(
                MetricCheck(
                    name,
                    "unavailable",
                    math.nan,
                    math.nan,
                    f"validation.stats.{spec.function} missing",
                )
            )
            continue
        context = {"threshold": _SELF_TEST_THRESHOLD, "biopsy": _B, **spec.default_params}
        inputs = (
            (_P >= _SELF_TEST_THRESHOLD).astype(np.float64)
            if spec.inputs is InputKind.CALLS
            else _P
        )
        result = compute_metric(name, _Y, _P, threshold=_SELF_TEST_THRESHOLD, biopsy=_B)
        quantities, reason = result_quantities(result)
        computed = quantities.get("estimate", quantities.get("p_value", math.nan))
        expected = spec.reference(_Y, inputs, context) if spec.reference else math.nan
        if reason is not None or not math.isfinite(computed):
            checks.append(
                MetricCheck(name, "mismatch", computed, expected, f"not a finite result ({reason})")
            )
        elif spec.reference is not None and not math.isclose(
            computed, expected, rel_tol=_RTOL, abs_tol=1e-12
        ):
            checks.append(
                MetricCheck(name, "mismatch", computed, expected, f"definition gives {expected!r}")
            )
        else:
            checks.append(MetricCheck(name, "ok", computed, expected, spec.description))
    bad = [c for c in checks if c.status == "mismatch"]
    if bad:
        raise HarnessError(
            "metric registry self-test failed: "
            + "; ".join(f"{c.name}: computed {c.computed!r}, {c.detail}" for c in bad)
        )
    return tuple(checks)
