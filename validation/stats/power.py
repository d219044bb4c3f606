"""Planned sample size of a diagnostic-accuracy endpoint: AUC, a proportion, a paired AUC difference.

Every calculation is one-sided at level ``alpha`` (a criterion ``ci_low >= v`` read from a
two-sided interval at confidence ``c`` is a one-sided test at ``alpha = (1 - c) / 2``), against the
null value that the endpoint's criterion states, for the value the planner expects.

* **AUC, Obuchowski** (:func:`auc_sample_size` ``method="obuchowski"``): binormal variance function
  with equal variances, ``V(theta) = 0.0099 exp(-A^2/2) ((5A^2 + 8) + (A^2 + 8)/kappa)``,
  ``A = 1.414 Phi^-1(theta)``, per case, with ``kappa = n_negative / n_positive`` (Obuchowski,
  Radiology 1994;191:243-51; Obuchowski & McClish, Stat Med 1997;16:1529-42). The number of
  positives is ``((z_alpha sqrt(V(theta0)) + z_beta sqrt(V(theta1))) / (theta1 - theta0))^2``.
  At ``theta0 = 0.5`` this is ``pROC::power.roc.test(auc=theta1, kappa=kappa, sig.level=alpha,
  power=..., alternative="one.sided")`` (checked in tests/reference/make_power.R).
* **AUC, Hanley-McNeil** (``method="hanley-mcneil"``): the exponential approximation
  ``Var = [A(1-A) + (n1-1)(Q1-A^2) + (n0-1)(Q2-A^2)] / (n1 n0)``, ``Q1 = A/(2-A)``,
  ``Q2 = 2A^2/(1+A)`` (Hanley & McNeil, Radiology 1982;143:29-36), solved for the smallest ``n1``.
* **Proportion, exact binomial** (:func:`proportion_sample_size`): the smallest ``n`` at which the
  exact one-sided binomial test of ``p <= p0`` (equivalently the Clopper-Pearson lower bound
  ``>= p0``) has at least the planned power when ``p = p1``: the critical count is
  ``k = qbinom(1 - alpha, n, p0) + 1`` and the power ``1 - pbinom(k - 1, n, p1)`` (base R; the
  power is saw-toothed in ``n``, so the first ``n`` that reaches it is reported, as in Chu & Cole,
  J Clin Epidemiol 2007;60:1201-2). Sensitivity counts positives, specificity negatives.
* **Paired AUC difference, non-inferiority** (:func:`paired_auc_sample_size`): the difference of
  two correlated AUCs on the same patients, ``Var = V(theta_a) + V(theta_b) - 2 r sqrt(V_a V_b)``
  with Obuchowski's ``V`` (Obuchowski & McClish 1997), null difference ``-margin``. An
  approximation for a binary comparator (a biopsy call), whose AUC is ``(sens + spec) / 2``.

Totals are ``ceil(n_positive / prevalence)`` (or negatives over ``1 - prevalence``); every result
also carries the power reached at the planned numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from validation.stats._checks import check_option, fail

__all__ = [
    "SampleSize",
    "auc_power",
    "auc_sample_size",
    "obuchowski_variance",
    "paired_auc_sample_size",
    "proportion_power",
    "proportion_sample_size",
]

_MAX_N = 200_000


@dataclass(frozen=True, slots=True)
class SampleSize:
    """A planned sample size: totals, positives and negatives, and the power they reach.

    ``n_total`` patients are needed so that ``n_positive`` positives (or ``n_negative`` negatives,
    the counted class of the endpoint) are expected at the planned prevalence; ``power`` is the
    power at the planned counts (``>=`` the power asked for).
    """

    method: str
    n_total: int
    n_positive: int
    n_negative: int
    power: float
    alpha: float
    null: float
    expected: float
    reference: str


def _unit(name: str, value: float, *, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low < value < high:
        raise fail(name, f"a number strictly between {low:g} and {high:g}", repr(value))
    return float(value)


def _alpha_power(alpha: float, power: float) -> tuple[float, float]:
    return _unit("alpha", alpha, high=0.5), _unit("power", power, low=0.5)


def obuchowski_variance(theta: float, kappa: float) -> float:
    """Obuchowski's binormal variance function of an AUC, per positive case (see module doc).

    ``pROC:::var.theta.obuchowski(theta, kappa)``.
    """
    a = stats.norm.ppf(theta) * 1.414
    return float(0.0099 * math.exp(-a * a / 2.0) * ((5.0 * a * a + 8.0) + (a * a + 8.0) / kappa))


def _hanley_mcneil_variance(theta: float, n1: float, n0: float) -> float:
    q1, q2 = theta / (2.0 - theta), 2.0 * theta * theta / (1.0 + theta)
    num = theta * (1 - theta) + (n1 - 1) * (q1 - theta**2) + (n0 - 1) * (q2 - theta**2)
    return float(num / (n1 * n0))


def _check_auc_args(expected: float, null: float, prevalence: float) -> tuple[float, float, float]:
    expected = _unit("expected", expected)
    null = _unit("null", null)
    prevalence = _unit("prevalence", prevalence)
    if expected <= null:
        raise fail("expected", f"greater than the null value {null}", repr(expected))
    return expected, null, prevalence


def auc_power(
    n_positive: float,
    *,
    expected: float,
    null: float,
    kappa: float,
    alpha: float,
    method: str = "obuchowski",
) -> float:
    """Power of the one-sided test of ``AUC <= null`` with ``n_positive`` positives."""
    check_option("method", method, ("obuchowski", "hanley-mcneil"))
    z_alpha = stats.norm.ppf(1.0 - alpha)
    if method == "obuchowski":
        v0 = obuchowski_variance(null, kappa) / n_positive
        v1 = obuchowski_variance(expected, kappa) / n_positive
    else:
        n0 = kappa * n_positive
        v0 = _hanley_mcneil_variance(null, n_positive, n0)
        v1 = _hanley_mcneil_variance(expected, n_positive, n0)
    return float(stats.norm.cdf(((expected - null) - z_alpha * math.sqrt(v0)) / math.sqrt(v1)))


def auc_sample_size(
    *,
    expected: float,
    null: float,
    prevalence: float,
    alpha: float,
    power: float,
    method: str = "obuchowski",
) -> SampleSize:
    """Patients needed to show ``AUC > null`` when it is ``expected`` (see the module docstring)."""
    expected, null, prevalence = _check_auc_args(expected, null, prevalence)
    alpha, power = _alpha_power(alpha, power)
    check_option("method", method, ("obuchowski", "hanley-mcneil"))
    kappa = (1.0 - prevalence) / prevalence
    z_a, z_b = stats.norm.ppf(1.0 - alpha), stats.norm.ppf(power)
    if method == "obuchowski":
        root = z_a * math.sqrt(obuchowski_variance(null, kappa))
        root += z_b * math.sqrt(obuchowski_variance(expected, kappa))
        cases = (root / (expected - null)) ** 2
        reference = "Obuchowski 1994 variance function; pROC::power.roc.test at null 0.5"
    else:

        def gap(n1: float) -> float:
            return auc_power(n1, expected=expected, null=null, kappa=kappa, alpha=alpha,
                             method=method) - power  # fmt: skip

        cases = float(optimize.brentq(gap, 1.0 + 1e-9, float(_MAX_N)))
        reference = "Hanley & McNeil 1982 variance"
    n_pos = math.ceil(cases - 1e-9)
    n_total = math.ceil(n_pos / prevalence - 1e-9)
    n_neg = n_total - n_pos
    reached = auc_power(n_pos, expected=expected, null=null, kappa=n_neg / n_pos, alpha=alpha,
                        method=method)  # fmt: skip
    return SampleSize(f"auc-{method}", n_total, n_pos, n_neg, reached, alpha, null, expected,
                      reference)  # fmt: skip


def proportion_power(n: int, *, expected: float, null: float, alpha: float) -> float:
    """Power of the exact one-sided binomial test of ``p <= null`` with ``n`` trials at ``expected``."""
    k = stats.binom.ppf(1.0 - alpha, n, null) + 1.0
    return float(stats.binom.sf(k - 1.0, n, expected))


def proportion_sample_size(
    *,
    expected: float,
    null: float,
    fraction: float,
    alpha: float,
    power: float,
    counted: str = "positive",
) -> SampleSize:
    """Patients needed for the exact binomial test of a proportion (sensitivity: ``counted``
    ``"positive"``, ``fraction`` = prevalence; specificity: ``"negative"``, 1 - prevalence; a
    proportion over every patient: ``fraction`` 1)."""
    expected, null = _unit("expected", expected), _unit("null", null)
    if fraction != 1.0:
        fraction = _unit("fraction", fraction)
    alpha, power = _alpha_power(alpha, power)
    check_option("counted", counted, ("positive", "negative"))
    if expected <= null:
        raise fail("expected", f"greater than the null value {null}", repr(expected))
    start, width = 1, 1024
    while True:  # search in growing blocks; the first n that reaches the power
        if start > _MAX_N:
            raise fail("expected", f"far enough from {null} to be shown with <= {_MAX_N} cases",
                       repr(expected))  # fmt: skip
        n = np.arange(start, min(start + width, _MAX_N + 1))
        k = stats.binom.ppf(1.0 - alpha, n, null) + 1.0
        reached = stats.binom.sf(k - 1.0, n, expected)
        hits = np.flatnonzero(reached >= power)
        if hits.size:
            break
        start, width = start + width, width * 4
    n_counted = int(n[hits[0]])
    n_total = math.ceil(n_counted / fraction - 1e-9)
    other = n_total - n_counted
    n_pos, n_neg = (n_counted, other) if counted == "positive" else (other, n_counted)
    return SampleSize("proportion-exact-binomial", n_total, n_pos, n_neg, float(reached[hits[0]]),
                      alpha, null, expected, "exact binomial test (base R qbinom/pbinom)")  # fmt: skip


def paired_auc_sample_size(
    *,
    expected: float,
    comparator: float,
    margin: float,
    correlation: float,
    prevalence: float,
    alpha: float,
    power: float,
) -> SampleSize:
    """Patients needed to show ``AUC_a - AUC_b > -margin`` (non-inferiority; ``margin`` 0 is
    superiority) when the AUCs are ``expected`` and ``comparator`` and correlate ``correlation``."""
    expected, comparator = _unit("expected", expected), _unit("comparator", comparator)
    prevalence = _unit("prevalence", prevalence)
    alpha, power = _alpha_power(alpha, power)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 0.5:
        raise fail("margin", "a number in [0, 0.5)", repr(margin))
    if (
        isinstance(correlation, bool)
        or not isinstance(correlation, int | float)
        or not (-1 < correlation < 1)
    ):
        raise fail("correlation", "a number strictly between -1 and 1", repr(correlation))
    delta1, delta0 = expected - comparator, -float(margin)
    if delta1 <= delta0:
        raise fail("expected", f"above comparator - margin ({comparator - margin})", repr(expected))
    kappa = (1.0 - prevalence) / prevalence

    def var_diff(a: float, b: float) -> float:
        va, vb = obuchowski_variance(a, kappa), obuchowski_variance(b, kappa)
        return va + vb - 2.0 * correlation * math.sqrt(va * vb)

    null_a = min(max(comparator + delta0, 1e-6), 1 - 1e-6)
    z_a, z_b = stats.norm.ppf(1.0 - alpha), stats.norm.ppf(power)
    s0, s1 = math.sqrt(var_diff(null_a, comparator)), math.sqrt(var_diff(expected, comparator))
    n_pos = math.ceil(((z_a * s0 + z_b * s1) / (delta1 - delta0)) ** 2 - 1e-9)
    n_total = math.ceil(n_pos / prevalence - 1e-9)
    n_neg = n_total - n_pos
    k = n_neg / n_pos
    va, vb = obuchowski_variance(expected, k), obuchowski_variance(comparator, k)
    v1 = (va + vb - 2.0 * correlation * math.sqrt(va * vb)) / n_pos
    na = obuchowski_variance(null_a, k)
    v0 = (na + vb - 2.0 * correlation * math.sqrt(na * vb)) / n_pos
    reached = float(stats.norm.cdf(((delta1 - delta0) - z_a * math.sqrt(v0)) / math.sqrt(v1)))
    return SampleSize("paired-auc-noninferiority", n_total, n_pos, n_neg, reached, alpha, delta0,
                      delta1, "Obuchowski & McClish 1997, correlated AUCs")  # fmt: skip
