"""Calibration of predicted probabilities: logistic recalibration, Brier, ECE, lowess errors, tests.

Every statistic here has an independent R reference (``tests/reference/make_calibration.R``):

* calibration-in-the-large ``intercept``: ``glm(y ~ 1, offset = qlogis(p), family = binomial)``
  (Van Calster et al. 2016, J Clin Epidemiol 74:167; Steyerberg 2019, *Clinical Prediction
  Models*, ch. 15). Not ``rms::val.prob``'s "Intercept", which is the intercept of the
  recalibration model with a free slope.
* calibration ``slope``: ``glm(y ~ qlogis(p), family = binomial)`` (Cox 1958).
* ``brier``, ``ici``/``e50``/``e90``/``emax``, ``spiegelhalter_z``/``spiegelhalter_p``: as
  ``rms::val.prob`` ("Brier", "Eavg", "E90", "Emax", "S:z", "S:p"; Austin & Steyerberg 2019,
  Stat Med 38:4051, for ICI/E50/E90).
* ``hosmer_lemeshow``: ``ResourceSelection::hoslem.test(y, p, g = 10)`` version 0.3-6.

Choices (documented, not silent):

* **p exactly 0 or 1.** Its logit is infinite, so the logistic fits (intercept, slope) are *not
  estimable* and say how many such predictions there are. ``rms::val.prob`` instead drops those
  cases with a warning; we do not drop cases silently and we do not clip logits with an arbitrary
  epsilon (the answer would depend on the epsilon). Brier, ECE, lowess errors, Spiegelhalter and
  Hosmer–Lemeshow are unaffected and still computed.
* **Separation.** If all labels are equal, or ``logit(p)`` separates the labels (max over one class
  <= min over the other), the maximum-likelihood estimate does not exist: not estimable, with the
  reason. A fit that does not converge is reported the same way.
* **ECE bins.** ``n_bins`` equal-width bins, bin ``min(floor(n_bins * p), n_bins - 1)``: left-closed
  ``[0, .1), [.1, .2), ..., [.9, 1]`` with ``p == 1`` in the last bin (a ``p`` written 0.3 goes to
  ``[.3, .4)``). ECE = sum over non-empty bins of
  ``n_b / n * |mean(p_b) - mean(y_b)|`` (Naeini et al. 2015; Guo et al. 2017).
* **Lowess.** R's ``lowess(p, y, iter = 0)``: ``f = 2/3``, no robustness iterations,
  ``delta = 0.01 * diff(range(p))``. Ported from R's C ``clowess`` (vectorised per fitted point):
  statsmodels' lowess agrees (with ``delta`` passed) except where a neighbourhood has zero width
  (many tied ``p``), where it divides by zero and R takes the mean of the tied outcomes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2, norm

from validation.stats._checks import (
    check_binary,
    check_confidence,
    check_consistent_length,
    check_probabilities,
    fail,
)
from validation.stats.results import Estimate, Test

__all__ = [
    "Calibration",
    "CalibrationBin",
    "calibration",
    "calibration_bins",
    "calibration_curve_lowess",
    "hosmer_lemeshow",
]

LOWESS_FRAC = 2.0 / 3.0
"""Smoother span of R's ``lowess`` default (``f = 2/3``)."""
LOWESS_DELTA_FRACTION = 0.01
"""R's ``lowess`` default ``delta = 0.01 * diff(range(x))``."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """Calibration of probabilities ``p`` against binary outcomes ``y`` (see module docstring).

    Attributes
    ----------
    intercept : Estimate
        Calibration-in-the-large, logit scale (0 = ideal), Wald CI, method ``"glm-offset-wald"``.
    slope : Estimate
        Logistic recalibration slope (1 = ideal), Wald CI, method ``"glm-wald"``.
    brier : float
        ``mean((p - y)**2)``.
    ece : float
        Expected calibration error over 10 equal-width bins, weighted by bin count.
    ici, e50, e90, emax : float
        Mean, median, 90th percentile (R type 7) and maximum of ``|lowess(p) - p|``; ``ici`` is
        ``rms::val.prob``'s "Eavg".
    spiegelhalter_z, spiegelhalter_p : float
        Spiegelhalter (1986) z and its two-sided p-value; ``nan`` when the z denominator is zero
        (every p in {0, 0.5, 1}).
    hosmer_lemeshow : Test
        Hosmer–Lemeshow chi-square with ``df``.
    n : int
        Number of cases.
    """

    intercept: Estimate
    slope: Estimate
    brier: float
    ece: float
    ici: float
    e50: float
    e90: float
    emax: float
    spiegelhalter_z: float
    spiegelhalter_p: float
    hosmer_lemeshow: Test
    n: int


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One bin of a reliability diagram: ``lower <= p < upper`` (last bin closed on the right)."""

    lower: float
    upper: float
    n: int
    n_pos: int
    mean_predicted: float
    observed: Estimate


def _inputs(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    y = check_binary("y_true", y_true)
    p = check_probabilities("y_prob", y_prob)
    n = check_consistent_length(y_true=y, y_prob=p)
    if n == 0:
        raise fail("y_true", "a non-empty array", "0 cases")
    return y, p


def _quantile_type7(x: NDArray[np.float64], probs: NDArray[np.float64]) -> NDArray[np.float64]:
    """R's ``quantile(x, probs, type = 7)``, written as R computes it (same rounding)."""
    xs = np.sort(x)
    index = (len(xs) - 1) * probs  # 0-based form of R's 1 + (n - 1) * probs
    lo = np.floor(index).astype(np.int64)
    hi = np.ceil(index).astype(np.int64)
    qs = xs[lo].copy()
    h = index - lo
    move = (index > lo) & (xs[hi] != qs)
    qs[move] = (1.0 - h[move]) * qs[move] + h[move] * xs[hi[move]]
    return qs


def _local_fit(x: NDArray[np.float64], y: NDArray[np.float64], i: int, lo: int, hi: int) -> float:
    """R ``clowess``'s ``lowest``: tricube-weighted local line at ``x[i]`` (no robustness weights).

    The window ``[lo, hi]`` also takes every later point within ``0.999 h`` of ``x[i]``; when the
    window has zero width (heavy ties) the fit is the mean of the tied ``y`` — statsmodels' lowess
    divides by zero there, which is why this module carries R's algorithm itself.
    """
    xs = x[i]
    h = max(xs - x[lo], x[hi] - xs)
    end = int(np.searchsorted(x, xs + 1.001 * h, side="right"))  # farther points weigh 0
    r = np.abs(x[lo:end] - xs)
    # the C loop stops at the first point to the right of xs that is farther than 0.999 h
    beyond = np.flatnonzero((r > 0.999 * h) & (x[lo:end] > xs))
    stop = lo + (int(beyond[0]) if beyond.size else end - lo)
    r = r[: stop - lo]
    # tricube weights; 1 within 0.001 h, 0 beyond 0.999 h (h = 0: the tied points, weight 1)
    w = np.where(r <= 0.001 * h, 1.0, (1.0 - (r / h) ** 3) ** 3) if h > 0 else np.ones_like(r)
    w[r > 0.999 * h] = 0.0
    total = float(w.sum())
    if total <= 0.0:
        return float(y[i])
    w = w / total
    xw, yw = x[lo:stop], y[lo:stop]
    if h > 0.0:
        a = float(np.sum(w * xw))
        c = float(np.sum(w * (xw - a) ** 2))
        if math.sqrt(c) > 0.001 * (x[-1] - x[0]):
            w = w * ((xs - a) / c * (xw - a) + 1.0)
    return float(np.sum(w * yw))  # np.sum, not BLAS dot: no thread start-up per call


def _clowess(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """R's ``lowess(x, y, f = 2/3, iter = 0)`` (C ``clowess``) on ``x`` sorted ascending."""
    n = len(x)
    if n == 1:
        return y.astype(np.float64).copy()
    delta = LOWESS_DELTA_FRACTION * float(x[-1] - x[0])
    ns = max(2, min(n, int(LOWESS_FRAC * n + 1e-7)))
    ys = np.empty(n)
    lo, hi, last, i = 0, ns - 1, -1, 0
    while True:
        while hi < n - 1 and x[i] - x[lo] > x[hi + 1] - x[i]:
            lo += 1
            hi += 1
        ys[i] = _local_fit(x, y, i, lo, hi)
        if last < i - 1:  # linear interpolation over the points skipped within delta
            alpha = (x[last + 1 : i] - x[last]) / (x[i] - x[last])
            ys[last + 1 : i] = alpha * ys[i] + (1.0 - alpha) * ys[last]
        last = i
        cut = x[last] + delta
        j = last + 1
        while j < n and x[j] <= cut:
            if x[j] == x[last]:
                ys[j] = ys[last]
                last = j
            j += 1
        i = max(last + 1, j - 1)
        if last >= n - 1:
            return ys


def _lowess_fit(y: NDArray[np.int8], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Lowess of ``y`` on ``p`` evaluated at each ``p`` (R ``lowess(p, y, iter = 0)``)."""
    order = np.argsort(p, kind="stable")
    fitted = np.empty(len(p))
    fitted[order] = _clowess(p[order], y[order].astype(np.float64))
    return fitted


def calibration_curve_lowess(
    y_true: ArrayLike, y_prob: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The smooth calibration curve the dossier plots: ``(x, y)`` over the sorted unique ``p``.

    Same smoother as the ICI/E50/E90/Emax statistics: R ``lowess(p, y, iter = 0)`` with
    ``f = 2/3`` and ``delta = 0.01 * diff(range(p))`` (``rms::val.prob``'s "Nonparametric" curve).
    Returns two read-only float arrays of equal length.
    """
    y, p = _inputs(y_true, y_prob)
    fitted = _lowess_fit(y, p)
    x, first = np.unique(p, return_index=True)  # tied p share one fitted value
    curve = fitted[first].copy()
    x.setflags(write=False)
    curve.setflags(write=False)
    return x, curve


def _bin_index(p: NDArray[np.float64], n_bins: int) -> NDArray[np.int64]:
    # floor(n_bins * p): the double nearest 0.3 lands in [0.3, 0.4) as a reader expects
    # (comparing with linspace edges would put it below 0.30000000000000004); p = 1 -> last bin.
    return np.minimum(np.floor(p * n_bins), n_bins - 1).astype(np.int64)


def _ece(y: NDArray[np.int8], p: NDArray[np.float64], n_bins: int) -> float:
    idx = _bin_index(p, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=n_bins)
    full = counts > 0
    return float(np.sum(np.abs(sum_p[full] - sum_y[full])) / len(p))


def calibration_bins(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_bins: int = 10,
    method: str = "wilson",
    confidence: float = 0.95,
) -> tuple[CalibrationBin, ...]:
    """Reliability-diagram data: per equal-width bin, mean prediction and observed proportion.

    Bins as for ECE (module docstring). The observed proportion's CI comes from
    :func:`validation.stats.classification.proportion` with ``method``; an empty bin is returned
    with ``n = 0``, ``mean_predicted = nan`` and a not-estimable ``observed``, so the result
    always has ``n_bins`` rows in order of ``lower``.
    """
    from validation.stats.classification import proportion  # sibling module; no cycle

    y, p = _inputs(y_true, y_prob)
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 1:
        raise fail("n_bins", "a positive integer", repr(n_bins))
    confidence = check_confidence(confidence)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = _bin_index(p, n_bins)
    rows = []
    for b in range(n_bins):
        member = idx == b
        n_b = int(member.sum())
        k_b = int(y[member].sum())
        if n_b == 0:
            observed = Estimate.not_estimable(
                f"bin [{edges[b]:g}, {edges[b + 1]:g}) has no cases",
                confidence=confidence,
                method=method,
                n=0,
            )
            mean_p = math.nan
        else:
            observed = proportion(k_b, n_b, method=method, confidence=confidence)
            mean_p = float(np.mean(p[member]))
        rows.append(
            CalibrationBin(float(edges[b]), float(edges[b + 1]), n_b, k_b, mean_p, observed)
        )
    return tuple(rows)


def _logistic_fit(
    y: NDArray[np.int8], logit: NDArray[np.float64], *, free_slope: bool, confidence: float
) -> Estimate:
    """Intercept (offset model) or slope (recalibration model) with a Wald CI, via statsmodels."""
    n = len(y)
    method = "glm-wald" if free_slope else "glm-offset-wald"
    what = "calibration slope" if free_slope else "calibration intercept"

    def not_estimable(reason: str) -> Estimate:
        return Estimate.not_estimable(
            f"{what} not estimable: {reason}", confidence=confidence, method=method, n=n
        )

    n_inf = int(np.count_nonzero(~np.isfinite(logit)))
    if n_inf:
        return not_estimable(
            f"{n_inf} prediction(s) exactly 0 or 1 have an infinite logit; "
            "pass probabilities strictly inside (0, 1)"
        )
    n_pos = int(y.sum())
    if n_pos in (0, n):
        return not_estimable(f"all {n} outcomes are {int(y[0])} (n_pos={n_pos}), MLE is infinite")
    if free_slope:
        x0, x1 = logit[y == 0], logit[y == 1]
        if np.ptp(logit) == 0:
            return not_estimable("all predictions are equal, the slope is not identified")
        if x0.max() <= x1.min() or x1.max() <= x0.min():
            return not_estimable("logit(p) separates the outcomes (perfect separation)")
        exog = np.column_stack([np.ones(n), logit])
        offset = None
    else:
        exog = np.ones((n, 1))
        offset = logit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            fit = sm.GLM(
                y.astype(np.float64), exog, family=sm.families.Binomial(), offset=offset
            ).fit(tol=1e-12, maxiter=100)
        except (Warning, np.linalg.LinAlgError, ValueError) as exc:
            return not_estimable(f"logistic fit failed ({type(exc).__name__}: {exc})")
    if not fit.converged:
        return not_estimable("logistic fit did not converge in 100 iterations")
    j = 1 if free_slope else 0
    est, se = float(fit.params[j]), float(fit.bse[j])
    z = float(norm.ppf(0.5 + confidence / 2.0))
    return Estimate(est, est - z * se, est + z * se, confidence, method, n, se)


def _spiegelhalter(y: NDArray[np.int8], p: NDArray[np.float64]) -> tuple[float, float]:
    """Spiegelhalter (1986) z, as ``rms::val.prob``'s internal ``Spi``; p = 2 * norm.sf(|z|)."""
    a = 1.0 - 2.0 * p
    denom = math.sqrt(float(np.sum(a * a * p * (1.0 - p))))
    if denom == 0.0:
        return math.nan, math.nan
    z = float(np.sum((y - p) * a)) / denom
    return z, float(2.0 * norm.sf(abs(z)))


def hosmer_lemeshow(y_true: ArrayLike, y_prob: ArrayLike, *, g: int = 10) -> Test:
    """Hosmer–Lemeshow goodness-of-fit test over ``g`` quantile groups.

    Algorithm of ``ResourceSelection::hoslem.test(y, p, g)`` version 0.3-6: breaks are the unique
    values of R's type-7 ``quantile(p, 0:g/g)``; groups are ``cut(p, breaks, include.lowest =
    TRUE)`` (right-closed, lowest break included) — not equal-size chunks; the statistic sums
    ``(O - E)^2 / E`` over both outcome columns of each group; ``df = G - 2`` with ``G`` the number
    of non-empty groups (older ResourceSelection used ``g - 2``); p from ``chi2.sf``. Empty groups
    (possible when there are fewer cases than groups) are left out of the sum, where R would give
    NaN. Hosmer & Lemeshow 1980, Commun Stat A9:1043. Not estimable when fewer than 3 groups remain
    (df < 1) or a group has an expected count of zero.
    """
    y, p = _inputs(y_true, y_prob)
    if not isinstance(g, int) or isinstance(g, bool) or g < 3:
        raise fail("g", "an integer >= 3", repr(g))
    method = "hosmer-lemeshow"
    n = len(y)
    probs = np.arange(g + 1, dtype=np.float64) * (1.0 / g)  # R: seq(0, 1, 1/g)
    breaks = np.unique(_quantile_type7(p, probs))
    if len(breaks) < 2:
        return Test(math.nan, math.nan, method, n, None, "all predictions equal: one group only")
    # cut(..., right = TRUE, include.lowest = TRUE): (b[i], b[i+1]], first interval closed.
    group = np.clip(np.searchsorted(breaks, p, side="left") - 1, 0, len(breaks) - 2)
    n_groups = len(breaks) - 1
    size = np.bincount(group, minlength=n_groups).astype(np.float64)
    obs1 = np.bincount(group, weights=y.astype(np.float64), minlength=n_groups)
    exp1 = np.bincount(group, weights=p, minlength=n_groups)
    full = size > 0
    obs = np.concatenate([size[full] - obs1[full], obs1[full]])
    exp = np.concatenate([size[full] - exp1[full], exp1[full]])
    n_full = int(full.sum())
    df = n_full - 2
    if df < 1:
        return Test(math.nan, math.nan, method, n, float(df), f"only {n_full} non-empty groups")
    if np.any(exp == 0.0):
        return Test(
            math.nan, math.nan, method, n, float(df), "a group has expected count 0 (all p 0 or 1)"
        )
    stat = float(np.sum((obs - exp) ** 2 / exp))
    return Test(stat, float(chi2.sf(stat, df)), method, n, float(df))


def calibration(y_true: ArrayLike, y_prob: ArrayLike, *, confidence: float = 0.95) -> Calibration:
    """All calibration statistics of probabilities ``y_prob`` (n,) for outcomes ``y_true`` (n,).

    See the module docstring for each statistic's definition, its paper and the R call it matches
    (``rms::val.prob``, ``glm`` with ``offset``, ``ResourceSelection::hoslem.test``), and for how
    predictions of exactly 0 or 1, separation and empty bins are handled.
    """
    y, p = _inputs(y_true, y_prob)
    confidence = check_confidence(confidence)
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-p)
    errors = np.abs(_lowess_fit(y, p) - p)
    z, z_p = _spiegelhalter(y, p)
    e50, e90 = _quantile_type7(errors, np.array([0.5, 0.9], dtype=np.float64))
    return Calibration(
        intercept=_logistic_fit(y, logit, free_slope=False, confidence=confidence),
        slope=_logistic_fit(y, logit, free_slope=True, confidence=confidence),
        brier=float(np.mean((p - y) ** 2)),
        ece=_ece(y, p, 10),
        ici=float(np.mean(errors)),
        e50=float(e50),
        e90=float(e90),
        emax=float(np.max(errors)),
        spiegelhalter_z=z,
        spiegelhalter_p=z_p,
        hosmer_lemeshow=hosmer_lemeshow(y, p),
        n=len(y),
    )
