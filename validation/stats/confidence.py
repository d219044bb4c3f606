"""Confidence-weighted error analysis: how does the model fail when it is confident?

Confidence of a call (the one definition used throughout)
---------------------------------------------------------
A case is called positive when ``p >= t`` (:func:`validation.stats.classification.calls`, the one
place that rule lives). Its *confidence* is the distance of ``p`` from the threshold, rescaled on
each side so that the threshold maps to 0.5 and the certain end (1 for a positive call, 0 for a
negative call) maps to 1::

    confidence = 0.5 + 0.5 * (p - t) / (1 - t)   if p >= t   (called positive)
    confidence = 0.5 + 0.5 * (t - p) / t         if p <  t   (called negative)

At ``t = 0.5`` this is ``max(p, 1 - p)``, the predicted probability of the called class (the
softmax-response confidence of Geifman & El-Yaniv 2017); for other thresholds it keeps the
threshold explicit and puts both calls on one [0.5, 1] scale. It is a ranking of calls by margin,
not a calibrated probability of being right (that is :mod:`calibration`'s question).

What is computed
----------------
* error rate per confidence bin (Wilson CI via :func:`proportion`) -- bins ``[e_j, e_j+1)``, the
  last closed;
* the confidence-weighted error rate ``sum(c_i * err_i) / sum(c_i)``: each error counts by the
  confidence with which it was made, so confident errors weigh up to twice as much as coin flips;
* the high-confidence error rate among cases with ``confidence >= high_confidence`` (a pre-set
  cut) with its CI and the sorted ids of those errors, for adjudication;
* the risk-coverage curve, AURC and excess AURC (Geifman & El-Yaniv 2017, "Selective
  classification for deep neural networks", NeurIPS; Geifman, Uziel & El-Yaniv 2019, "Bias-reduced
  uncertainty estimation for deep neural classifiers", ICLR);
* the referral policy: the least confident fraction ``f`` goes to biopsy, whose call replaces the
  model's; sensitivity, specificity and error rate with CIs for each ``f``.

Ties in confidence are handled as tied groups, never by input order (module functions document
how), so the results do not depend on row order. No R package computes these; the tests use slow
obviously-correct twins and hand-worked examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.stats._checks import (
    check_binary,
    check_confidence,
    check_consistent_length,
    check_probabilities,
    check_scores,
    fail,
)
from validation.stats.classification import calls, diagnostic, proportion
from validation.stats.results import Estimate

__all__ = [
    "CONFIDENCE_DEFINITION",
    "DEFAULT_BIN_EDGES",
    "ConfidenceBin",
    "ErrorAnalysis",
    "ReferralResult",
    "RiskCoverage",
    "call_confidence",
    "error_analysis",
    "referral",
    "risk_coverage",
]

#: Human-readable statement of the confidence definition (written into results.json).
CONFIDENCE_DEFINITION = (
    "distance of the score from the threshold t rescaled to [0.5, 1]: "
    "0.5 + 0.5*(p - t)/(1 - t) for positive calls (p >= t), 0.5 + 0.5*(t - p)/t for negative calls"
)
#: Default confidence bin edges: [0.5, 0.6), [0.6, 0.7), [0.7, 0.8), [0.8, 0.9), [0.9, 1.0].
DEFAULT_BIN_EDGES: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True, slots=True)
class ConfidenceBin:
    """Errors among calls with ``lower <= confidence < upper`` (``<= upper`` for the last bin)."""

    lower: float
    upper: float
    n: int
    errors: int
    error_rate: Estimate


@dataclass(frozen=True, slots=True, eq=False)
class RiskCoverage:
    """Risk-coverage curve of selective classification (Geifman & El-Yaniv 2017).

    Cases are sorted by confidence, most confident first; at coverage ``k/n`` the ``k`` most
    confident are retained and the risk is their error rate. Within a tied group of confidences the
    error count is spread evenly (the expected risk over every order of the tied cases), so the
    curve and AURC do not depend on row order.

    Attributes
    ----------
    coverage : ndarray, shape (n,)
        ``k / n`` for ``k = 1..n`` (read-only arrays).
    risk : ndarray, shape (n,)
        Expected error rate among the ``k`` retained.
    confidence : ndarray, shape (n,)
        Confidence of the ``k``-th retained case (non-increasing).
    aurc : float
        Area under the curve: the mean of ``risk`` over ``k = 1..n``.
    optimal_aurc : float
        AURC of the ideal ranking with the same errors (all errors least confident):
        ``mean_k max(0, k - (n - e)) / k``; its large-``n`` limit is
        ``r + (1 - r) ln(1 - r)`` with ``r = e/n`` (Geifman et al. 2019, eq. 11).
    eaurc : float
        Excess AURC = ``aurc - optimal_aurc``: 0 for a perfect ranking, whatever the error rate.
    error_rate : float
        ``e / n`` (the risk at full coverage).
    n : int
    """

    coverage: NDArray[np.float64]
    risk: NDArray[np.float64]
    confidence: NDArray[np.float64]
    aurc: float
    optimal_aurc: float
    eaurc: float
    error_rate: float
    n: int


@dataclass(frozen=True, slots=True)
class ErrorAnalysis:
    """Confidence-weighted error analysis of binary calls at one threshold (module docstring)."""

    threshold: float
    confidence_definition: str
    n: int
    errors: int
    error_rate: Estimate
    confidence_weighted_error_rate: float
    bins: tuple[ConfidenceBin, ...]
    high_confidence_threshold: float
    high_confidence_n: int
    high_confidence_errors: int
    high_confidence_error_rate: Estimate
    high_confidence_ids: tuple[object, ...]
    risk_coverage: RiskCoverage


@dataclass(frozen=True, slots=True)
class ReferralResult:
    """Performance when the least confident ``fraction`` of cases is referred to biopsy."""

    fraction: float
    n_referred: int
    sensitivity: Estimate
    specificity: Estimate
    error_rate: Estimate


def _check_threshold(threshold: float) -> float:
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0.0 < threshold < 1.0
    ):
        raise fail(
            "threshold",
            "a number strictly between 0 and 1 (call positive when p >= threshold)",
            repr(threshold),
        )
    return float(threshold)


def call_confidence(y_prob: ArrayLike, *, threshold: float) -> NDArray[np.float64]:
    """Confidence in [0.5, 1] of each call ``p >= threshold`` (definition in the module docstring).

    Parameters
    ----------
    y_prob : array_like, shape (n,) -- probabilities in [0, 1]
    threshold : float -- strictly between 0 and 1

    Returns
    -------
    ndarray, shape (n,)
    """
    p = check_probabilities("y_prob", y_prob)
    t = _check_threshold(threshold)
    positive = np.asarray(calls(p, t), dtype=bool)
    return np.where(positive, 0.5 + 0.5 * (p - t) / (1.0 - t), 0.5 + 0.5 * (t - p) / t)


def _risk_curve(conf: NDArray[np.float64], wrong: NDArray[np.bool_]) -> RiskCoverage:
    n = len(conf)
    order = np.argsort(-conf, kind="stable")
    c = conf[order]
    e = wrong[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_errors = np.add.reduceat(e, starts)
    before = np.repeat(np.cumsum(group_errors) - group_errors, sizes)
    position = np.arange(n) - np.repeat(starts, sizes) + 1.0
    expected_errors = before + position * np.repeat(group_errors / sizes, sizes)
    k = np.arange(1, n + 1, dtype=np.float64)
    risk = expected_errors / k
    n_err = int(wrong.sum())
    optimal = float(np.mean(np.maximum(0.0, k - (n - n_err)) / k))
    aurc = float(np.mean(risk))
    arrays = (k / n, risk, c)
    for a in arrays:
        a.flags.writeable = False
    return RiskCoverage(
        *arrays, aurc=aurc, optimal_aurc=optimal, eaurc=aurc - optimal, error_rate=n_err / n, n=n
    )


def _inputs(
    y_true: ArrayLike, y_prob: ArrayLike, threshold: float
) -> tuple[NDArray[np.int8], NDArray[np.bool_], NDArray[np.float64]]:
    y = check_binary("y_true", y_true)
    p = check_probabilities("y_prob", y_prob)
    check_consistent_length(y_true=y, y_prob=p)
    if len(y) == 0:
        raise fail("y_true", "at least one case", "an empty array")
    t = _check_threshold(threshold)
    wrong = np.asarray(calls(p, t), dtype=bool) != (y == 1)
    return y, wrong, call_confidence(p, threshold=t)


def risk_coverage(y_true: ArrayLike, y_prob: ArrayLike, *, threshold: float) -> RiskCoverage:
    """Risk-coverage curve, AURC and E-AURC of the calls ``y_prob >= threshold``.

    Parameters
    ----------
    y_true : array_like, shape (n,) -- reference 0/1
    y_prob : array_like, shape (n,) -- probabilities in [0, 1]
    threshold : float

    Returns
    -------
    RiskCoverage
    """
    _, wrong, conf = _inputs(y_true, y_prob, threshold)
    return _risk_curve(conf, wrong)


def _check_edges(bins: Sequence[float]) -> NDArray[np.float64]:
    edges = check_scores("bins", bins)
    if len(edges) < 2 or edges[0] != 0.5 or edges[-1] != 1.0 or np.any(np.diff(edges) <= 0):
        raise fail(
            "bins",
            "strictly increasing edges from 0.5 to 1.0 (covering every confidence)",
            edges.tolist(),
        )
    return edges


def error_analysis(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    threshold: float,
    ids: ArrayLike,
    high_confidence: float,
    bins: Sequence[float] = DEFAULT_BIN_EDGES,
    method: str = "wilson",
    confidence: float = 0.95,
) -> ErrorAnalysis:
    """Confidence-weighted error analysis of the calls ``y_prob >= threshold``.

    Parameters
    ----------
    y_true : array_like, shape (n,) -- reference 0/1 (1 = HER2-positive)
    y_prob : array_like, shape (n,) -- P(positive) in [0, 1]
    threshold : float -- the locked decision threshold
    ids : array_like, shape (n,) -- unique case ids (returned sorted for high-confidence errors)
    high_confidence : float in [0.5, 1] -- pre-registered cut: confidence >= cut is "confident"
    bins : sequence of float, default :data:`DEFAULT_BIN_EDGES` -- from 0.5 to 1.0
    method : str, default "wilson" -- CI method of :func:`proportion` for every error rate
    confidence : float, default 0.95

    Returns
    -------
    ErrorAnalysis
        Error rates of an empty bin (or of no case above the cut) are not estimable: nan with
        :func:`proportion`'s reason.
    """
    y, wrong, conf = _inputs(y_true, y_prob, threshold)
    confidence = check_confidence(confidence)
    id_arr = np.asarray(ids)
    if id_arr.ndim != 1 or len(id_arr) != len(y):
        raise fail("ids", f"a 1-D array of {len(y)} case ids", f"shape {id_arr.shape}")
    if len(np.unique(id_arr)) != len(id_arr):
        raise fail("ids", "unique case ids", f"{len(id_arr) - len(np.unique(id_arr))} duplicate(s)")
    if (
        isinstance(high_confidence, bool)
        or not isinstance(high_confidence, int | float)
        or not 0.5 <= high_confidence <= 1.0
    ):
        raise fail(
            "high_confidence",
            "a number in [0.5, 1] (a pre-registered confidence cut)",
            repr(high_confidence),
        )
    edges = _check_edges(bins)
    n, n_err = len(y), int(wrong.sum())

    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    table = []
    for j in range(len(edges) - 1):
        in_bin = which == j
        k, m = int(wrong[in_bin].sum()), int(in_bin.sum())
        table.append(
            ConfidenceBin(
                float(edges[j]),
                float(edges[j + 1]),
                m,
                k,
                proportion(k, m, method=method, confidence=confidence),
            )
        )

    confident = conf >= high_confidence
    hc_n, hc_err = int(confident.sum()), int(wrong[confident].sum())
    return ErrorAnalysis(
        threshold=float(threshold),
        confidence_definition=CONFIDENCE_DEFINITION,
        n=n,
        errors=n_err,
        error_rate=proportion(n_err, n, method=method, confidence=confidence),
        confidence_weighted_error_rate=float(np.sum(conf * wrong) / np.sum(conf)),
        bins=tuple(table),
        high_confidence_threshold=float(high_confidence),
        high_confidence_n=hc_n,
        high_confidence_errors=hc_err,
        high_confidence_error_rate=proportion(hc_err, hc_n, method=method, confidence=confidence),
        high_confidence_ids=tuple(sorted(id_arr[confident & wrong].tolist())),
        risk_coverage=_risk_curve(conf, wrong),
    )


def _referred(conf: NDArray[np.float64], budget: int) -> NDArray[np.bool_]:
    """The least confident cases, whole tied groups only, at most ``budget`` of them."""
    levels, counts = np.unique(conf, return_counts=True)  # ascending confidence
    fits = np.cumsum(counts) <= budget
    cut = levels[fits][-1] if fits.any() else -math.inf
    return conf <= cut


def referral(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    biopsy: ArrayLike,
    *,
    threshold: float,
    fractions: Sequence[float],
    method: str = "wilson",
    confidence: float = 0.95,
) -> tuple[ReferralResult, ...]:
    """Referral policy: the least confident fraction of cases gets the biopsy's call instead.

    For each ``f`` in ``fractions`` the budget is ``floor(f * n + 1e-9)`` referrals (the ``1e-9``
    absorbs floating error in ``f * n``). Cases are referred from the least confident upwards in
    whole tied groups: a tied group that would overrun the budget is not referred, so at most
    ``f * n`` cases are referred and the count is reported (``n_referred``). The final call is
    ``biopsy`` for referred cases and ``y_prob >= threshold`` otherwise; sensitivity and
    specificity come from :func:`diagnostic`, the error rate from :func:`proportion`. At ``f = 0``
    this is the model alone; at ``f = 1`` the biopsy alone.

    Parameters
    ----------
    y_true : array_like, shape (n,) -- reference 0/1 (surgical specimen)
    y_prob : array_like, shape (n,) -- model P(positive)
    biopsy : array_like, shape (n,) -- biopsy calls 0/1 for every case (no missing values)
    threshold : float
    fractions : sequence of float -- strictly increasing, in [0, 1]
    method, confidence : CI options passed to :func:`diagnostic` / :func:`proportion`

    Returns
    -------
    tuple of ReferralResult, one per fraction, in the given (increasing) order
    """
    y, _, conf = _inputs(y_true, y_prob, threshold)
    b = check_binary("biopsy", biopsy)
    check_consistent_length(y_true=y, biopsy=b)
    confidence = check_confidence(confidence)
    f = check_scores("fractions", fractions)
    if len(f) == 0 or np.any((f < 0) | (f > 1)) or np.any(np.diff(f) <= 0):
        raise fail("fractions", "a non-empty, strictly increasing sequence in [0, 1]", f.tolist())
    model = np.asarray(calls(np.asarray(y_prob, dtype=np.float64), float(threshold)), dtype=bool)
    n = len(y)
    out = []
    for fraction in f.tolist():
        referred = _referred(conf, math.floor(fraction * n + 1e-9))
        final = np.where(referred, b == 1, model).astype(np.int8)
        dx = diagnostic(y, final, method=method, confidence=confidence)
        errors = int(np.count_nonzero(final != y))
        out.append(
            ReferralResult(
                fraction=fraction,
                n_referred=int(referred.sum()),
                sensitivity=dx["sensitivity"],
                specificity=dx["specificity"],
                error_rate=proportion(errors, n, method=method, confidence=confidence),
            )
        )
    return tuple(out)
