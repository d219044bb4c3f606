"""Binary classification statistics: proportions, the diagnostic 2×2 table, McNemar, kappa.

The threshold rule lives in one place, :func:`calls`: a case is called positive when
``score >= threshold`` (DESIGN.md). Everything else takes 0/1 calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import binomtest, chi2, norm
from statsmodels.stats.proportion import proportion_confint

from validation.stats._checks import (
    check_binary,
    check_confidence,
    check_consistent_length,
    check_option,
    check_scores,
    fail,
)
from validation.stats.results import Estimate, Test

__all__ = [
    "PROPORTION_METHODS",
    "ConfusionMatrix",
    "calls",
    "cohen_kappa",
    "confusion",
    "diagnostic",
    "mcnemar",
    "proportion",
]

#: Our method names -> statsmodels ``proportion_confint`` method names.
PROPORTION_METHODS: dict[str, str] = {
    "agresti-coull": "agresti_coull",
    "clopper-pearson": "beta",
    "jeffreys": "jeffreys",
    "wilson": "wilson",
}


@dataclass(frozen=True, slots=True)
class ConfusionMatrix:
    """Counts of the diagnostic 2×2 table (reference standard × call)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def calls(y_score: ArrayLike, threshold: float) -> NDArray[np.int8]:
    """Binary calls ``(y_score >= threshold)`` as int8 — the one place the threshold rule lives."""
    s = check_scores("y_score", y_score)
    if not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise fail("threshold", "a finite number", repr(threshold))
    return (s >= threshold).astype(np.int8)


def confusion(y_true: ArrayLike, y_pred: ArrayLike) -> ConfusionMatrix:
    """Count the 2×2 table of reference ``y_true`` (0/1) against calls ``y_pred`` (0/1)."""
    y = check_binary("y_true", y_true)
    p = check_binary("y_pred", y_pred)
    check_consistent_length(y_true=y, y_pred=p)
    cells = np.bincount(2 * y.astype(np.intp) + p, minlength=4)  # 0:tn 1:fp 2:fn 3:tp
    return ConfusionMatrix(tp=int(cells[3]), fp=int(cells[1]), fn=int(cells[2]), tn=int(cells[0]))


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 0:
        raise fail(name, "a non-negative integer", repr(value))
    return int(value)


def proportion(k: int, n: int, *, method: str = "wilson", confidence: float = 0.95) -> Estimate:
    """Binomial proportion ``k / n`` with a confidence interval.

    Methods (Brown, Cai & DasGupta 2001, Statistical Science 16:101–133), computed by
    ``statsmodels.stats.proportion.proportion_confint``:

    * ``"wilson"`` — score interval; R ``prop.test(k, n, correct = FALSE)$conf.int``;
    * ``"clopper-pearson"`` — exact; R ``binom.test(k, n)$conf.int``;
    * ``"jeffreys"`` — Beta(k + ½, n − k + ½) quantiles (statsmodels does not apply BCD's
      boundary rule: at k = 0 the lower limit is a tiny positive number, not 0);
    * ``"agresti-coull"`` — Wald interval on (k + z²/2)/(n + z²), clipped to [0, 1].

    ``n == 0`` gives :meth:`Estimate.not_estimable` with the reason.
    """
    confidence = check_confidence(confidence)
    check_option("method", method, sorted(PROPORTION_METHODS))
    k = _check_count("k", k)
    n = _check_count("n", n)
    if k > n:
        raise fail("k", f"at most n = {n}", repr(k))
    if n == 0:
        return Estimate.not_estimable(
            "proportion has denominator n = 0 (no cases)",
            confidence=confidence,
            method=method,
            n=0,
        )
    low, high = proportion_confint(k, n, alpha=1.0 - confidence, method=PROPORTION_METHODS[method])
    return Estimate(k / n, float(low), float(high), confidence, method, n)


def diagnostic(
    y_true: ArrayLike, y_pred: ArrayLike, *, method: str = "wilson", confidence: float = 0.95
) -> dict[str, Estimate]:
    """Sensitivity, specificity, PPV, NPV and accuracy of 0/1 calls, each with its CI.

    ``sensitivity = TP/(TP+FN)``, ``specificity = TN/(TN+FP)``, ``ppv = TP/(TP+FP)``,
    ``npv = TN/(TN+FN)``, ``accuracy = (TP+TN)/n``; intervals by :func:`proportion`.
    A zero denominator gives a not-estimable Estimate for that key only.
    Get calls from scores with :func:`calls`.
    """
    confidence = check_confidence(confidence)
    check_option("method", method, sorted(PROPORTION_METHODS))
    c = confusion(y_true, y_pred)
    parts = {
        "accuracy": (c.tp + c.tn, c.n),
        "npv": (c.tn, c.tn + c.fn),
        "ppv": (c.tp, c.tp + c.fp),
        "sensitivity": (c.tp, c.tp + c.fn),
        "specificity": (c.tn, c.tn + c.fp),
    }
    return {
        key: proportion(k, n, method=method, confidence=confidence) for key, (k, n) in parts.items()
    }


def mcnemar(
    correct_a: ArrayLike, correct_b: ArrayLike, *, exact: bool = True, correction: bool = True
) -> Test:
    """McNemar's test of paired proportions (e.g. model-correct vs biopsy-correct per patient).

    With ``b`` = pairs where only A is correct and ``c`` = pairs where only B is correct:

    * ``exact=True``: two-sided exact binomial test of ``b`` out of ``b + c`` at ½
      (``scipy.stats.binomtest``); statistic = ``b``; R ``binom.test(b, b + c)``.
    * ``exact=False``: ``(|b − c| − 1)² / (b + c)`` (``correction=True``) or
      ``(b − c)² / (b + c)``, p from ``chi2.sf`` with df 1; R ``mcnemar.test(x, correct=)``.

    No discordant pair (``b + c == 0``) gives a Test with nan statistic and p and a reason.
    """
    a = check_binary("correct_a", correct_a)
    b_arr = check_binary("correct_b", correct_b)
    check_consistent_length(correct_a=a, correct_b=b_arr)
    for name, flag in (("exact", exact), ("correction", correction)):
        if not isinstance(flag, bool | np.bool_):
            raise fail(name, "True or False", repr(flag))
    n = int(a.size)
    b = int(np.count_nonzero((a == 1) & (b_arr == 0)))
    c = int(np.count_nonzero((a == 0) & (b_arr == 1)))
    if exact:
        method, df = "mcnemar-exact", None
    else:
        method, df = ("mcnemar-chi2-corrected" if correction else "mcnemar-chi2"), 1.0
    if b + c == 0:
        reason = "McNemar's test needs discordant pairs; none of the pairs is discordant"
        return Test(math.nan, math.nan, method, n, df, reason)
    if exact:
        return Test(float(b), float(binomtest(b, b + c, 0.5).pvalue), method, n, df)
    stat = (abs(b - c) - (1.0 if correction else 0.0)) ** 2 / (b + c)
    return Test(stat, float(chi2.sf(stat, 1)), method, n, df)


def _labels(name: str, values: ArrayLike) -> NDArray[np.generic]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise fail(name, "a 1-D array of category labels", f"shape {arr.shape}")
    if arr.dtype.kind == "f":
        missing = int(np.count_nonzero(~np.isfinite(arr)))
    elif arr.dtype.kind == "O":
        missing = sum(1 for v in arr.tolist() if v is None or (isinstance(v, float) and v != v))
    else:
        missing = 0
    if missing:
        raise fail(name, "category labels without missing values", f"{missing} missing value(s)")
    return arr


def cohen_kappa(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> Estimate:
    """Cohen's (1960) unweighted kappa of two raters with the asymptotic (non-null) CI.

    ``κ = (p_o − p_e) / (1 − p_e)``; variance of Fleiss, Cohen & Everitt (1969, Psychological
    Bulletin 72:323–327)::

        var = [Σ_i p_ii (1 − (p_i. + p_.i)(1 − κ))²
               + (1 − κ)² Σ_{i≠j} p_ij (p_.i + p_j.)² − (κ − p_e (1 − κ))²] / (n (1 − p_e)²)

    CI ``κ ± z·se`` (not clipped); method ``"fleiss-cohen-everitt"``. Matches
    ``psych::cohen.kappa(cbind(a, b))`` (its ``var.kappa`` and ``confid``). Categories are the
    union of both raters' labels. When ``p_e == 1`` (both raters use one and the same category)
    kappa is undefined: not estimable with the reason.
    """
    confidence = check_confidence(confidence)
    ra = _labels("a", a)
    rb = _labels("b", b)
    n = check_consistent_length(a=ra, b=rb)
    method = "fleiss-cohen-everitt"
    if n == 0:
        return Estimate.not_estimable(
            "kappa needs at least one rated case; got 0", confidence=confidence, method=method, n=0
        )
    try:
        cats, codes = np.unique(np.concatenate([ra, rb]), return_inverse=True)
    except TypeError as exc:
        raise fail("a and b", "labels of one comparable type", f"mixed types ({exc})") from None
    codes = codes.ravel()
    k = cats.size
    table = np.bincount(codes[:n] * k + codes[n:], minlength=k * k).reshape(k, k) / n
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    p_o = float(np.trace(table))
    p_e = float(rows @ cols)
    if p_e >= 1.0:
        return Estimate.not_estimable(
            f"kappa is undefined when chance agreement is 1 (both raters always say {cats[0]!r})",
            confidence=confidence,
            method=method,
            n=n,
        )
    kappa = (p_o - p_e) / (1.0 - p_e)
    diag = np.diag(table)
    term1 = float(np.sum(diag * (1.0 - (rows + cols) * (1.0 - kappa)) ** 2))
    weights = (cols[:, None] + rows[None, :]) ** 2  # (p_.i + p_j.)² for cell (i, j)
    off = table * weights
    term2 = (1.0 - kappa) ** 2 * float(off.sum() - np.trace(off))
    term3 = (kappa - p_e * (1.0 - kappa)) ** 2
    var = (term1 + term2 - term3) / (n * (1.0 - p_e) ** 2)
    se = math.sqrt(max(var, 0.0))
    half = float(norm.ppf(0.5 + confidence / 2.0)) * se
    return Estimate(kappa, kappa - half, kappa + half, confidence, method, n, se)
