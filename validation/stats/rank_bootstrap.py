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
from validation.stats._ranks import class_counts, sort_scores

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
        order = ranking.rows()
        counts = class_counts(ranking, y[order] == 1)
        self.n = int(y.size)
        self._pos_rows = order[counts.pos_at]  # rows of the positives, ascending score
        self._neg_rows = order[counts.neg_at]
        self._lt, self._le = counts.neg_lt, counts.neg_le
        self._tied = ranking.starts is not None

    def _parts(self, weights: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(2 * numerator, P, N)`` of each replicate, exact for integer weights.

        One replicate at a time (its weights stay in cache): the cumulative negative weight in
        score order ``C``, then ``2 * numerator = sum_i w_i (C[lt_i] + C[le_i])`` over positives
        ``i`` with ``lt_i`` / ``le_i`` their counts of negatives below / at or below.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != self.n:
            raise fail("weights", f"a (k, {self.n}) multiplicity matrix", f"shape {w.shape}")
        twice, pos, neg = np.empty(len(w)), np.empty(len(w)), np.empty(len(w))
        upto = np.zeros(self._neg_rows.size + 1)
        for k, row in enumerate(w):
            np.cumsum(row.take(self._neg_rows), out=upto[1:])
            pos_w = row.take(self._pos_rows)
            below = upto.take(self._lt)
            both = below + upto.take(self._le) if self._tied else below + below
            twice[k] = np.einsum("i,i->", pos_w, both)
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
