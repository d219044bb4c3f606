"""Between-group heterogeneity and random-effects pooling (inverse-variance meta-analysis).

Matches ``metafor::rma(yi, vi, method = "REML")`` and ``method = "DL"`` (Viechtbauer 2010, J Stat
Softw 36(3)); fixture script ``tests/reference/make_metafor.R``. Definitions, with
``w_i = 1 / v_i`` and ``k`` groups:

* ``q``: Cochran's Q of the fixed-effect model, ``sum w_i (y_i - mu_FE)^2``; ``df = k - 1``;
  ``p_value = chi2.sf(q, df)`` (metafor ``QE``, ``QEp``).
* ``tau2``: between-group variance. ``"DL"``: DerSimonian & Laird 1986,
  ``max(0, (Q - df) / (sum w - sum w^2 / sum w))``. ``"REML"``: maximiser of the restricted
  log-likelihood over ``tau2 >= 0``.
* ``i2`` (**percent, 0–100, as metafor prints it**) and ``h2``: metafor's definitions for random-
  effects models, using the "typical" within-group variance
  ``s2 = (k - 1) sum w / ((sum w)^2 - sum w^2)`` (Higgins & Thompson 2002):
  ``i2 = 100 tau2 / (tau2 + s2)``, ``h2 = (tau2 + s2) / s2``. For DL this equals
  ``100 max(0, Q - df) / Q``.
* ``pooled``: random-effects estimate ``sum w*_i y_i / sum w*_i`` with ``w*_i = 1/(v_i + tau2)``,
  ``se = (sum w*)^-1/2``, Wald (z) CI as metafor's default ``test = "z"``. ``fixed``: the same
  with ``tau2 = 0``.

REML: metafor iterates Fisher scoring from one start and can stop at a local maximum when the
restricted likelihood is multimodal. Here the restricted log-likelihood is first evaluated on a
grid (0 and 400 log-spaced values up to a bound no REML solution exceeds), the best grid point is
refined by bounded Brent search between its neighbours, then polished by Fisher scoring — so the
*global* maximum is returned.

Undefined cases (documented results, not exceptions): ``k < 2``. A group with sampling variance 0
(e.g. an AUC of 1 with DeLong variance 0) is handled as metafor 3.8 handles it (fixture
``tests/reference/metafor_zero_variance.json`` from ``make_metafor_zero_variance.R``):

* ``"REML"``: tau² is estimated over ``tau2 > 0`` (the weights ``1/(v_i + tau2)`` stay finite) and
  pooled with those weights; Q, its p-value, I² and H² are not computed (``nan``, with ``note``
  saying why) because the fixed-effect weights are infinite. When the REML estimate of tau² is 0
  the zero-variance groups would get infinite weight: not estimable (metafor stops, "Division by
  zero when computing the inverse variance weights"). The fixed-effect estimate is not estimable.
* ``"DL"``: not estimable (metafor refuses the DL estimator with non-positive sampling variances).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize_scalar
from scipy.stats import chi2, norm

from validation.stats._checks import (
    check_confidence,
    check_consistent_length,
    check_option,
    check_scores,
    fail,
)
from validation.stats.results import Estimate

__all__ = ["Heterogeneity", "heterogeneity"]

METHODS = ("REML", "DL")
_GRID_POINTS = 400
_POLISH_TOL = 1e-13


@dataclass(frozen=True, slots=True)
class Heterogeneity:
    """Heterogeneity statistics and pooled estimates (definitions in the module docstring).

    ``i2`` is a percentage (0–100). ``groups`` are the labels of the groups used, in input order;
    ``excluded`` lists groups left out by the caller (e.g. not-estimable subgroup rows) with why.
    ``reason`` is set (and every number is ``nan``) when the model is not estimable.
    """

    q: float
    df: int
    p_value: float
    i2: float
    tau2: float
    h2: float
    pooled: Estimate
    fixed: Estimate
    method: str
    k: int
    groups: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    reason: str | None = None
    note: str | None = None

    @property
    def estimable(self) -> bool:
        return self.reason is None

    @classmethod
    def not_estimable(
        cls,
        reason: str,
        *,
        method: str,
        confidence: float,
        groups: Sequence[str],
        excluded: Sequence[str] = (),
    ) -> Heterogeneity:
        """All numbers ``nan``, with the reason."""
        k = len(groups)
        nan = math.nan
        pooled = Estimate.not_estimable(
            reason, confidence=confidence, method=f"random-effects-{method}-z", n=k
        )
        fixed = Estimate.not_estimable(reason, confidence=confidence, method="fixed-effect-z", n=k)
        return cls(
            nan, max(k - 1, 0), nan, nan, nan, nan, pooled, fixed, method, k,
            tuple(groups), tuple(excluded), reason,
        )  # fmt: skip


def _restricted_loglik(tau2: float, y: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """REML log-likelihood up to a constant: -1/2 [sum log(v+t) + log sum w + sum w (y-mu)^2]."""
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    mu = float(np.dot(w, y)) / sw
    return -0.5 * (float(np.sum(np.log(v + tau2))) + math.log(sw) + float(np.dot(w, (y - mu) ** 2)))


def _fisher_step(tau2: float, y: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """metafor's REML Fisher-scoring update: (y'PPy - tr P) / tr(PP)."""
    w = 1.0 / (v + tau2)
    sw, sw2, sw3 = float(w.sum()), float(np.sum(w**2)), float(np.sum(w**3))
    mu = float(np.dot(w, y)) / sw
    ypp_y = float(np.sum(w**2 * (y - mu) ** 2))
    tr_p = sw - sw2 / sw
    tr_pp = sw2 - 2.0 * sw3 / sw + (sw2 / sw) ** 2
    return (ypp_y - tr_p) / tr_pp


def _tau2_reml(y: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """Global maximiser of the restricted log-likelihood over tau2 >= 0 (grid, Brent, scoring).

    With a zero variance the search runs over tau2 > 0 only; a maximiser at the bottom of the grid
    is returned as 0 (the caller treats it as metafor does)."""
    upper = 2.0 * (float(np.ptp(y)) ** 2 + float(v.max())) + 1e-12
    positive = bool(np.all(v > 0))
    grid = np.geomspace(upper * 1e-12, upper, _GRID_POINTS)
    if positive:
        grid = np.concatenate([[0.0], grid])
    ll = np.array([_restricted_loglik(t, y, v) for t in grid])
    i = int(np.argmax(ll))
    if not positive and i == 0:
        return 0.0
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(
        lambda t: -_restricted_loglik(t, y, v),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-14 * max(hi, 1e-300)},
    )
    tau2 = float(res.x) if -float(res.fun) >= ll[i] else float(grid[i])
    for _ in range(100):  # polish; never leave the mode found above
        step = _fisher_step(tau2, y, v)
        new = max(tau2 + step, 0.0)
        if not positive and new <= 0.0:
            break
        if _restricted_loglik(new, y, v) < _restricted_loglik(tau2, y, v) - 1e-15:
            break
        converged = abs(new - tau2) <= _POLISH_TOL * (1.0 + tau2)
        tau2 = new
        if converged:
            break
    return tau2


def _wald(est: float, se: float, confidence: float, method: str, k: int) -> Estimate:
    z = float(norm.ppf(0.5 + confidence / 2.0))
    return Estimate(est, est - z * se, est + z * se, confidence, method, k, se)


def heterogeneity(
    estimates: ArrayLike,
    variances: ArrayLike,
    *,
    method: str = "REML",
    labels: Sequence[str] | None = None,
    confidence: float = 0.95,
    excluded: Sequence[str] = (),
) -> Heterogeneity:
    """Cochran's Q, I², H², tau² and pooled estimates of ``k`` group estimates.

    Parameters
    ----------
    estimates : array-like, shape (k,)
        Group estimates on the scale to pool (e.g. AUC, or logit of a proportion).
    variances : array-like, shape (k,)
        Their sampling variances (``se**2``), finite and >= 0.
    method : {"REML", "DL"}
        tau² estimator, as ``metafor::rma(yi, vi, method = ...)``.
    labels : sequence of str, optional
        Group names used in reasons; default ``"group 1"``, ``"group 2"``, ...
    confidence : float
        Level of the Wald intervals of the pooled estimates.
    excluded : sequence of str
        Groups the caller left out, recorded on the result (see :mod:`validation.stats.subgroups`).

    Returns
    -------
    Heterogeneity
        Not estimable (with reason) when ``k < 2`` or a group has variance 0.
    """
    method = check_option("method", method, METHODS)
    confidence = check_confidence(confidence)
    y = check_scores("estimates", estimates)
    v = check_scores("variances", variances)
    k = check_consistent_length(estimates=y, variances=v)
    if np.any(v < 0):
        raise fail("variances", "variances >= 0", f"{int(np.sum(v < 0))} negative value(s)")
    if labels is None:
        names = tuple(f"group {i + 1}" for i in range(k))
    else:
        names = tuple(str(s) for s in labels)
        if len(names) != k:
            raise fail("labels", f"one label per estimate ({k})", f"{len(names)} labels")

    def undefined(reason: str) -> Heterogeneity:
        return Heterogeneity.not_estimable(
            reason, method=method, confidence=confidence, groups=names, excluded=excluded
        )

    if k < 2:
        return undefined(f"heterogeneity needs at least 2 groups; got k={k}")
    zero = [names[i] for i in np.flatnonzero(v == 0)]
    if zero:
        return _zero_variance(y, v, zero, method, names, confidence, tuple(excluded), undefined)
    w = 1.0 / v
    sw, sw2 = float(w.sum()), float(np.sum(w**2))
    mu_fe = float(np.dot(w, y)) / sw
    q = float(np.dot(w, (y - mu_fe) ** 2))
    df = k - 1
    tau2 = max(0.0, (q - df) / (sw - sw2 / sw)) if method == "DL" else _tau2_reml(y, v)
    s2 = df * sw / (sw**2 - sw2)
    w_re = 1.0 / (v + tau2)
    mu_re = float(np.dot(w_re, y)) / float(w_re.sum())
    return Heterogeneity(
        q=q,
        df=df,
        p_value=float(chi2.sf(q, df)),
        i2=100.0 * tau2 / (tau2 + s2),
        tau2=tau2,
        h2=(tau2 + s2) / s2,
        pooled=_wald(mu_re, float(w_re.sum()) ** -0.5, confidence, f"random-effects-{method}-z", k),
        fixed=_wald(mu_fe, sw**-0.5, confidence, "fixed-effect-z", k),
        method=method,
        k=k,
        groups=names,
        excluded=tuple(excluded),
    )


def _zero_variance(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    zero: list[str],
    method: str,
    names: tuple[str, ...],
    confidence: float,
    excluded: tuple[str, ...],
    undefined: Callable[[str], Heterogeneity],
) -> Heterogeneity:
    """Groups with sampling variance 0, as metafor 3.8 (module docstring)."""
    which = f"group(s) {', '.join(zero)} have sampling variance 0"
    if method == "DL":
        return undefined(
            f"{which}: the DL estimator cannot be used with non-positive sampling variances "
            "(metafor refuses it too); use REML"
        )
    tau2 = _tau2_reml(y, v)
    if tau2 <= 0.0:
        return undefined(
            f"{which} and the REML estimate of tau² is 0: their inverse-variance weights are "
            "infinite (metafor stops: division by zero)"
        )
    k = len(y)
    w_re = 1.0 / (v + tau2)
    mu_re = float(np.dot(w_re, y)) / float(w_re.sum())
    nan = math.nan
    return Heterogeneity(
        q=nan,
        df=k - 1,
        p_value=nan,
        i2=nan,
        tau2=tau2,
        h2=nan,
        pooled=_wald(mu_re, float(w_re.sum()) ** -0.5, confidence, f"random-effects-{method}-z", k),
        fixed=Estimate.not_estimable(
            f"{which}: fixed-effect weights are infinite",
            confidence=confidence,
            method="fixed-effect-z",
            n=k,
        ),
        method=method,
        k=k,
        groups=names,
        excluded=excluded,
        note=f"{which}: Q, I² and H² are not computed (fixed-effect weights are infinite; as "
        "metafor)",
    )
