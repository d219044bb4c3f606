"""Net benefit and decision curves (Vickers & Elkin 2006, Med Decis Making 26:565).

At threshold probability ``pt`` a case is treated (called positive) when ``score >= pt``, and

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

with ``n`` all cases. "Treat all" is ``prevalence - (1 - prevalence) * pt / (1 - pt)``; "treat
none" is 0. A fixed 0/1 call (e.g. the biopsy result) has its net benefit computed by the same
formula with its own calls (TP, FP fixed; only the harm weight ``pt / (1 - pt)`` varies) — not by
thresholding the 0/1 values, which at ``pt = 0`` would treat everyone. This is the formula of R's
``dcurves::dca()`` (``tp_rate - threshold / (1 - threshold) * fp_rate``). dcurves is not packaged
in Debian, so ``tests/reference/make_calibration.R`` writes that formula in base R; the tests also
use a hand-computed example and a slow per-threshold loop.

Thresholds must lie in ``[0, 1)``: at ``pt = 1`` the harm weight ``pt / (1 - pt)`` is infinite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.stats._checks import (
    check_binary,
    check_consistent_length,
    check_probabilities,
    check_scores,
    fail,
)

__all__ = ["DecisionCurve", "decision_curve", "net_benefit", "treat_all", "treat_none"]


def _thresholds(thresholds: ArrayLike) -> NDArray[np.float64]:
    t = np.atleast_1d(check_scores("thresholds", np.atleast_1d(np.asarray(thresholds, float))))
    bad = (t < 0.0) | (t >= 1.0)
    if bad.any():
        raise fail(
            "thresholds",
            "threshold probabilities in [0, 1) (pt = 1 has infinite harm weight)",
            f"{int(bad.sum())} value(s) outside, e.g. {t[bad][:3].tolist()}",
        )
    return t


def _readonly(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a.setflags(write=False)
    return a


def _weighted(
    tp: NDArray[np.int64], fp: NDArray[np.int64], n: int, t: NDArray[np.float64]
) -> NDArray[np.float64]:
    return tp / n - fp / n * (t / (1.0 - t))


def _net_benefit(
    y: NDArray[np.int8], score: NDArray[np.float64], t: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Vectorised over thresholds: sort scores once, count cases with score >= pt."""
    n = len(y)
    order = np.argsort(-score, kind="stable")
    s_desc = score[order]
    tp_cum = np.concatenate([[0], np.cumsum(y[order], dtype=np.int64)])
    # number of cases with score >= pt = position of pt in the descending scores
    k = len(s_desc) - np.searchsorted(s_desc[::-1], t, side="left")
    tp = tp_cum[k]
    return _weighted(tp, k - tp, n, t)


def net_benefit(y_true: ArrayLike, y_prob: ArrayLike, thresholds: ArrayLike) -> NDArray[np.float64]:
    """Net benefit of treating cases with ``y_prob >= pt``, for each threshold ``pt``.

    Parameters
    ----------
    y_true : (n,) 0/1 outcomes (1 = positive).
    y_prob : (n,) predicted probabilities in [0, 1] (for fixed 0/1 calls use
        :func:`decision_curve`'s ``calls``).
    thresholds : (m,) threshold probabilities in [0, 1).

    Returns
    -------
    (m,) float array, read-only. Vickers & Elkin 2006; R ``dcurves::dca()``'s ``net_benefit``.
    """
    y = check_binary("y_true", y_true)
    p = check_probabilities("y_prob", y_prob)
    n = check_consistent_length(y_true=y, y_prob=p)
    if n == 0:
        raise fail("y_true", "a non-empty array", "0 cases")
    return _readonly(_net_benefit(y, p, _thresholds(thresholds)).astype(np.float64))


def treat_all(y_true: ArrayLike, thresholds: ArrayLike) -> NDArray[np.float64]:
    """Net benefit of treating everyone: ``prevalence - (1 - prevalence) * pt / (1 - pt)``."""
    y = check_binary("y_true", y_true)
    if len(y) == 0:
        raise fail("y_true", "a non-empty array", "0 cases")
    t = _thresholds(thresholds)
    prev = float(np.mean(y))
    return _readonly(prev - (1.0 - prev) * t / (1.0 - t))


def treat_none(thresholds: ArrayLike) -> NDArray[np.float64]:
    """Net benefit of treating no one: 0 at every threshold."""
    return _readonly(np.zeros(len(_thresholds(thresholds))))


@dataclass(frozen=True, slots=True)
class DecisionCurve:
    """Net benefit per threshold of the model, fixed 0/1 strategies (``calls``), all and none.

    Arrays are read-only, aligned with ``thresholds``; ``calls`` is sorted by name.
    """

    thresholds: NDArray[np.float64]
    model: NDArray[np.float64]
    treat_all: NDArray[np.float64]
    treat_none: NDArray[np.float64]
    calls: tuple[tuple[str, NDArray[np.float64]], ...]
    n: int
    prevalence: float


def decision_curve(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    thresholds: ArrayLike,
    *,
    calls: Mapping[str, ArrayLike] | None = None,
) -> DecisionCurve:
    """Decision curve of a model against fixed strategies (e.g. ``calls={"biopsy": biopsy_her2}``).

    Each strategy in ``calls`` is a 0/1 array (1 = treat) with fixed TP and FP; its net benefit at
    ``pt`` is ``TP/n - FP/n * pt/(1 - pt)`` (module docstring).
    """
    y = check_binary("y_true", y_true)
    p = check_probabilities("y_prob", y_prob)
    n = check_consistent_length(y_true=y, y_prob=p)
    if n == 0:
        raise fail("y_true", "a non-empty array", "0 cases")
    t = _thresholds(thresholds)
    strategies = []
    for name in sorted(calls or {}):
        c = check_binary(f"calls[{name!r}]", (calls or {})[name])
        if len(c) != n:
            raise fail(f"calls[{name!r}]", f"of length n = {n} like y_true", f"length {len(c)}")
        tp = int(np.sum((c == 1) & (y == 1)))
        fp = int(np.sum((c == 1) & (y == 0)))
        strategies.append((name, _readonly(_weighted(np.asarray(tp), np.asarray(fp), n, t))))
    return DecisionCurve(
        thresholds=_readonly(t.copy()),
        model=net_benefit(y, p, t),
        treat_all=treat_all(y, t),
        treat_none=treat_none(t),
        calls=tuple(strategies),
        n=n,
        prevalence=float(np.mean(y)),
    )
