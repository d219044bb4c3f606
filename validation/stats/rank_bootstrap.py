"""Sort-once bootstrap statistics: the AUC and the paired AUC difference of many replicates.

A bootstrap replicate of a rank statistic needs no new sort: the scores are sorted once
(:func:`validation.stats._ranks.sort_scores`) and a replicate is only a vector of multiplicities
``w`` (how often each row was drawn). With the rows in score order and runs of equal scores, the
Mann-Whitney AUC of the replicate is::

    AUC(w) = sum_r P_r (2 N_<r + N_r) / (2 P N)

with ``P_r``, ``N_r`` the positive and negative weight in run ``r``, ``N_<r`` the negative weight in
the runs below it and ``P``, ``N`` the totals (Hanley & McNeil 1982's ties-count-half AUC, the one
``pROC::auc`` and :func:`validation.stats.auc` give). For integer multiplicities every term is an
integer below 2**53, so the numerator and denominator are exact in float64 and the AUC is their
correctly rounded quotient -- the same number whatever the summation order, equal to the exact
AUC of the resampled data.

The objects here are *weighted statistics* for :func:`validation.stats.bootstrap` (``weighted=True``):
``statistic(weights, *arrays) -> (k,)``. They are built once from the data (the sort), then called
per chunk of replicates at O(k n) cost with no sort: B = 10**4 replicates at n = 10**5 run in a few
seconds of arithmetic (``benchmarks/bench_auc.py`` measures it; the resampling draws themselves are
the bootstrap's and cost what they cost).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.stats._checks import check_binary, check_consistent_length, check_rank_scores, fail
from validation.stats._ranks import sort_scores

__all__ = ["SortedAUC", "SortedAUCDifference"]

FloatArray = NDArray[np.float64]


class SortedAUC:
    """AUC of each replicate from one sort of the scores (module docstring).

    Parameters
    ----------
    y_true : (n,) 0/1 labels (1 = positive).
    y_score : (n,) finite scores; float32, float64 or integers (not upcast).

    Call ``stat(weights, *arrays)`` with a ``(k, n)`` multiplicity matrix (rows in the data's
    order); extra arrays passed by :func:`validation.stats.bootstrap` are ignored (they must be
    the arrays the object was built from). Returns ``(k,)``: ``nan`` where a replicate has no
    positive or no negative weight.
    """

    def __init__(self, y_true: ArrayLike, y_score: ArrayLike) -> None:
        y = check_binary("y_true", y_true)
        s = check_rank_scores("y_score", y_score)
        check_consistent_length(y_true=y, y_score=s)
        ranking = sort_scores(s)
        self.n = int(y.size)
        self._order = ranking.order
        is_pos = y[ranking.order] == 1
        self._pos = is_pos.astype(np.float64)
        self._neg = (~is_pos).astype(np.float64)
        self._starts = ranking.starts  # None: every run holds one row

    def _parts(self, weights: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(2 * numerator, P, N)`` of each replicate, exact for integer weights.

        One replicate at a time: its row of weights (a few hundred kB) stays in cache through
        the gather into score order, the cumulative negative weight and the dot product.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != self.n:
            raise fail("weights", f"a (k, {self.n}) multiplicity matrix", f"shape {w.shape}")
        twice, pos, neg = np.empty(len(w)), np.empty(len(w)), np.empty(len(w))
        for k, row in enumerate(w):
            ws = row.take(self._order)
            pos_w, neg_w = ws * self._pos, ws * self._neg
            if self._starts is not None:  # weights per run of equal scores
                pos_w = np.add.reduceat(pos_w, self._starts)
                neg_w = np.add.reduceat(neg_w, self._starts)
            upto = np.cumsum(neg_w)  # negative weight up to and including each run
            twice[k] = np.einsum("r,r->", pos_w, upto + upto - neg_w)  # 2 * below + tied
            pos[k], neg[k] = pos_w.sum(), upto[-1]
        return twice, pos, neg

    def __call__(self, weights: ArrayLike, *arrays: Any) -> FloatArray:
        twice, pos, neg = self._parts(weights)
        out = np.full(twice.shape, np.nan)
        ok = (pos > 0) & (neg > 0)
        out[ok] = twice[ok] / (2.0 * pos[ok] * neg[ok])
        return out


class SortedAUCDifference:
    """Paired AUC difference ``AUC_a - AUC_b`` of each replicate, each AUC sorted once.

    Parameters
    ----------
    y_true : (n,) 0/1 labels.
    score_a, score_b : (n,) finite scores of the same cases.

    Called like :class:`SortedAUC`; ``nan`` where a replicate lacks a class.
    """

    def __init__(self, y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> None:
        self._a = SortedAUC(y_true, score_a)
        self._b = SortedAUC(y_true, score_b)  # same y_true: the lengths agree or this refuses

    def __call__(self, weights: ArrayLike, *arrays: Any) -> FloatArray:
        return self._a(weights) - self._b(weights)
