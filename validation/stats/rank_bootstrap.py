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
per chunk of replicates at O(k n) cost with no sort. For unclustered resampling they also offer
``draw_evaluator``: the bootstrap then hands over each replicate's draws (positions drawn in each
stratum) instead of a multiplicity matrix; the drawn negatives are counted by rank and the drawn
positives read their cumulative count -- the same integers, so the same AUC bit for bit, at a few
passes over ``n`` per replicate: B = 10**4 replicates at n = 10**5 in a few seconds on one core,
the draws themselves included (``benchmarks/bench_auc.py`` measures it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.stats._checks import check_binary, check_consistent_length, check_rank_scores, fail
from validation.stats._ranks import class_counts, sort_scores
from validation.stats.bootstrap import DrawEvaluator

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
        self._order = order
        counts = class_counts(ranking, y[order] == 1)
        self.n = int(y.size)
        self._pos_rows = order[counts.pos_at]  # rows of the positives, ascending score
        self._neg_rows = order[counts.neg_at]
        self._lt, self._le = counts.neg_lt, counts.neg_le
        self._tied = ranking.starts is not None
        n1, n0 = self._pos_rows.size, self._neg_rows.size
        # Each row's rank among the negatives / positives (ascending score); n0 / n1 for a row
        # of the other class, a slot that counts nothing.
        self._neg_rank = np.full(self.n, n0, dtype=np.intp)
        self._neg_rank[self._neg_rows] = np.arange(n0)
        self._pos_rank = np.full(self.n, n1, dtype=np.intp)
        self._pos_rank[self._pos_rows] = np.arange(n1)

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

    @property
    def unit_order(self) -> NDArray[np.intp]:
        """Rows in ascending score order (ties by row): the bootstrap lists each stratum's rows so,
        and draws of a stratum of one class are then ranks, counted without a lookup."""
        return self._order

    def draw_evaluator(self, groups: Sequence[NDArray[np.intp]]) -> DrawEvaluator:
        """Per-replicate AUC from the bootstrap's draws (:func:`validation.stats.bootstrap`,
        unclustered): ``groups[s]`` are the rows of stratum ``s``; a replicate's draws are, per
        stratum, positions into its group. The drawn negatives are counted by rank (one
        ``bincount``), the drawn positives read ``C[lt] + C[le]`` off their cumulative count --
        the same exact integers as :meth:`__call__`, so the same AUC bit for bit."""
        n1, n0 = self._pos_rows.size, self._neg_rows.size
        parts = [
            (_lookup(self._neg_rank.take(members), n0), _lookup(self._pos_rank.take(members), n1))
            for members in groups
        ]
        upto = np.zeros(n0 + 1, dtype=np.intp)
        value = np.zeros(n1 + 1, dtype=np.intp)  # twice the negatives below (ties half); n1: 0

        def evaluate(draws: Sequence[NDArray[np.intp]]) -> float:
            counts = None
            for (neg, _), drawn in zip(parts, draws, strict=True):
                if neg is not None:
                    ranks = drawn if neg.direct else neg.ranks.take(drawn)
                    more = np.bincount(ranks, minlength=n0 + 1)
                    counts = more if counts is None else counts + more
            if counts is None:
                return math.nan
            np.cumsum(counts[:n0], out=upto[1:])
            if self._tied:
                np.add(upto.take(self._lt), upto.take(self._le), out=value[:n1])
            else:
                np.multiply(upto.take(self._lt), 2, out=value[:n1])
            twice, n_pos = 0, 0
            for (_, pos), drawn in zip(parts, draws, strict=True):
                if pos is not None:
                    ranks = drawn if pos.direct else pos.ranks.take(drawn)
                    twice += int(value.take(ranks).sum())
                    n_pos += drawn.size if pos.whole else int(np.count_nonzero(ranks < n1))
            n_neg = int(upto[-1])
            return twice / (2 * n_pos * n_neg) if n_pos and n_neg else math.nan

        return evaluate

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

    @property
    def unit_order(self) -> NDArray[np.intp]:
        """The rows in ascending order of ``score_a`` (see :attr:`SortedAUC.unit_order`)."""
        return self._a.unit_order

    def draw_evaluator(self, groups: Sequence[NDArray[np.intp]]) -> DrawEvaluator:
        """``AUC_a - AUC_b`` of each replicate from the bootstrap's draws (see
        :meth:`SortedAUC.draw_evaluator`)."""
        a, b = self._a.draw_evaluator(groups), self._b.draw_evaluator(groups)

        def evaluate(draws: Sequence[NDArray[np.intp]]) -> float:
            return a(draws) - b(draws)

        return evaluate

    def __call__(self, weights: ArrayLike, *arrays: Any) -> FloatArray:
        return self._a(weights) - self._b(weights)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """Ranks of one stratum's units within one class (``count`` = the other-class slot)."""

    ranks: NDArray[np.intp]
    direct: bool  # the ranks are 0, 1, ..., m - 1: a draw is its own rank
    whole: bool  # every unit of the stratum is of this class


def _lookup(ranks: NDArray[np.intp], count: int) -> _Lookup | None:
    """The stratum's ranks within a class of ``count`` units, or None if it holds none of it."""
    inside = ranks < count
    if not inside.any():
        return None
    whole = bool(inside.all())
    direct = whole and bool(np.array_equal(ranks, np.arange(ranks.size)))
    return _Lookup(ranks, direct, whole)
