"""Sort-once bootstrap statistic for the ROC band: the sensitivity at a fixed specificity.

The band of the ROC curve (``validation.runner.sections.discrimination_section``) is the
percentile bootstrap interval of the sensitivity at each of 19 specificities, in the spirit of
``pROC::ci.se(roc, specificities = ..., boot.stratified = TRUE)`` (pROC interpolates between ROC
points; this reads the conservative step). The definition is that of
:func:`validation.stats.roc.weighted_sensitivity_at_specificity`: the highest sensitivity of any
threshold whose specificity is at least ``sp``, a case being called positive when
``score >= threshold``. The thresholds are the distinct scores and ``+inf``; with ``N_<j`` /
``P_<j`` the negative / positive weight of the scores below the ``j``-th distinct score (``j = r``:
``+inf``, the totals ``N`` and ``P``), the first threshold that reaches the specificity is::

    hit = min { j : N_<j >= sp * N - 1e-9 * max(N, 1) }     and    Se = (P - P_<hit) / P

(``N_<j`` grows with ``j``, so ``hit`` is a binary search; the tolerance is the one of that
function, the same float64 expression, so the same threshold is found).

A replicate needs no new sort: the scores are sorted once
(:func:`validation.stats._ranks.sort_scores`) into runs of equal scores -- *bins* -- and a
replicate only counts its drawn cases per bin. :class:`SortedSensitivity` is a *weighted
statistic* for :func:`validation.stats.bootstrap` (``weighted=True``) with both forms:

* ``stat(weights)`` with a ``(k, n)`` multiplicity matrix (the clustered design, the jackknife):
  per replicate the running negative and positive weight in score order (the same sequential
  sums as that function, so the same numbers bit for bit even for fractional weights) and two
  binary searches;
* ``draw_evaluator(groups)`` for unclustered designs: per replicate the drawn negatives are
  counted by bin (one gather, one ``bincount``, one cumulative sum), ``hit`` is one
  ``searchsorted`` and the drawn positives below it one comparison -- a few passes over ``n``,
  no ``(k, n)`` matrix, no sort. All counts are integers, so ``Se`` is the same correctly rounded
  quotient as in the matrix form.

The statistic gives no ``unit_order``: the bootstrap lists each stratum's rows in row order, so
the replicates -- and the band's numbers -- are those of the multiplicity-matrix form with
:func:`~validation.stats.roc.weighted_sensitivity_at_specificity`, bit for bit (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from validation.stats._checks import (
    check_binary,
    check_consistent_length,
    check_rank_scores,
    check_unit_number,
    fail,
)
from validation.stats._ranks import sort_scores
from validation.stats.bootstrap import DrawEvaluator

__all__ = ["SortedSensitivity"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: The tolerance of :func:`validation.stats.roc.weighted_sensitivity_at_specificity`:
#: a threshold reaches ``sp`` when ``N_< >= sp * N - TOLERANCE * max(N, 1)``.
TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class _Sorted:
    """The one sort: each row's bin (run of equal scores, ascending) and the classes by bin.

    ``neg_rows`` / ``pos_rows``: rows of each class in ascending score order (ties by row, as a
    stable argsort); ``neg_before[j]`` / ``pos_before[j]``: cases of the class in bins below
    ``j`` (``j = 0 .. n_bins``; the last entry is the class's size).
    """

    n: int
    n_bins: int
    bin_of_row: IntArray
    is_pos: NDArray[np.bool_]
    neg_rows: IntArray
    pos_rows: IntArray
    neg_before: IntArray
    pos_before: IntArray


def _sort(y_true: ArrayLike, y_score: ArrayLike) -> _Sorted:
    y = check_binary("y_true", y_true)
    s = check_rank_scores("y_score", y_score)
    check_consistent_length(y_true=y, y_score=s)
    ranking = sort_scores(s)
    order = ranking.rows()
    n = int(y.size)
    bin_sorted = np.arange(n, dtype=np.intp) if ranking.run_of is None else ranking.run_of
    n_bins = int(bin_sorted[-1]) + 1 if n else 0
    bin_of_row = np.empty(n, dtype=np.intp)
    bin_of_row[order] = bin_sorted
    is_pos = y == 1
    pos_sorted = is_pos[order]

    def before(in_class: NDArray[np.bool_]) -> IntArray:
        counts = np.zeros(n_bins + 1, dtype=np.intp)
        np.cumsum(np.bincount(bin_sorted[in_class], minlength=n_bins), out=counts[1:])
        return counts

    return _Sorted(
        n,
        n_bins,
        bin_of_row,
        is_pos,
        order[~pos_sorted],
        order[pos_sorted],
        before(~pos_sorted),
        before(pos_sorted),
    )


def _threshold(specificity: float, total_neg: float) -> float:
    """``sp * N - 1e-9 * max(N, 1)`` in float64, the expression of
    :func:`~validation.stats.roc.weighted_sensitivity_at_specificity`."""
    return specificity * total_neg - TOLERANCE * max(total_neg, 1.0)


class SortedSensitivity:
    """Sensitivity at fixed specificities of each replicate, from one sort of the scores.

    Module docstring for the definition (that of
    :func:`validation.stats.roc.weighted_sensitivity_at_specificity`, bit for bit) and the method.

    Parameters
    ----------
    y_true : (n,) 0/1 labels (1 = positive).
    y_score : (n,) finite scores; float32, float64 or integers (not upcast).
    specificity : float in [0, 1], or a sequence of them (then every call returns one value per
        specificity, for :func:`validation.stats.bootstrap_many`: the whole band from one set of
        replicates).

    Call ``stat(weights, *arrays)`` with a ``(k, n)`` matrix of non-negative multiplicities (rows
    in the data's order); extra arrays passed by :func:`validation.stats.bootstrap` are ignored
    (they must be the arrays the object was built from). Returns ``(k,)`` -- ``(k, q)`` for ``q``
    specificities: ``nan`` where a replicate has no positive or no negative weight. :meth:`at`
    gives the statistic at other specificities without sorting again.
    """

    def __init__(
        self, y_true: ArrayLike, y_score: ArrayLike, specificity: float | Sequence[float]
    ) -> None:
        self._scalar, self._specs = _specificities(specificity)
        self._data = _sort(y_true, y_score)

    @property
    def specificity(self) -> float | tuple[float, ...]:
        """The specificity (or specificities) the sensitivity is read at."""
        return self._specs[0] if self._scalar else self._specs

    def at(self, specificity: float | Sequence[float]) -> SortedSensitivity:
        """The same statistic at other specificities, sharing this one's sort."""
        other = object.__new__(SortedSensitivity)
        other._scalar, other._specs = _specificities(specificity)
        other._data = self._data
        return other

    def _shape(self, values: FloatArray) -> FloatArray:
        return values[..., 0] if self._scalar else values

    def __call__(self, weights: ArrayLike, *arrays: Any) -> FloatArray:
        """Sensitivity of each row of ``weights`` (``(k, n)``, non-negative, finite).

        One replicate at a time: the running negative weight in score order ``C`` (``C[i]``: the
        ``i`` lowest negatives), the first ``i`` with ``C[i] >= threshold``, then the first bin
        holding at least ``i`` negatives below it; the positives below that bin are read off
        their running weight -- the sums of the reference function, in its order."""
        d = self._data
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != d.n:
            raise fail("weights", f"a (k, {d.n}) multiplicity matrix", f"shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise fail("weights", "non-negative finite multiplicities", "a negative or NaN weight")
        out = np.full((len(w), len(self._specs)), np.nan)
        neg_upto = np.zeros(d.neg_rows.size + 1)
        pos_upto = np.zeros(d.pos_rows.size + 1)
        for k, row in enumerate(w):
            np.cumsum(row.take(d.neg_rows), out=neg_upto[1:])
            np.cumsum(row.take(d.pos_rows), out=pos_upto[1:])
            total_neg, total_pos = float(neg_upto[-1]), float(pos_upto[-1])
            if not (total_neg > 0 and total_pos > 0):
                continue
            for j, spec in enumerate(self._specs):
                i = int(np.searchsorted(neg_upto, _threshold(spec, total_neg)))
                hit = int(np.searchsorted(d.neg_before, i))
                out[k, j] = (total_pos - float(pos_upto[d.pos_before[hit]])) / total_pos
        return self._shape(out)

    def draw_evaluator(self, groups: Sequence[IntArray]) -> DrawEvaluator:
        """Per-replicate sensitivities from the bootstrap's draws
        (:func:`validation.stats.bootstrap`, unclustered): ``groups[s]`` are the rows of stratum
        ``s``; a replicate's draws are, per stratum, positions into its group. Drawn negatives
        and positives are counted by bin and summed into ``N_<j`` and ``P_<j``; ``hit`` is the
        first bin with ``N_<j >= ceil(threshold)`` (the same bins as the float comparison, the
        counts being integers), one ``searchsorted`` for all specificities. A stratum of one class
        (stratified by the outcome) needs no label lookup; a mixed one counts negatives and
        positives in one ``bincount`` of ``bin + n_bins * label``."""
        d = self._data
        n_bins = d.n_bins
        specs = self._specs
        parts = [_part(d, members) for members in groups]
        neg_below = np.zeros(n_bins + 1, dtype=np.intp)
        pos_below = np.zeros(n_bins + 1, dtype=np.intp)
        nan = np.full(len(specs), np.nan)

        def evaluate(draws: Sequence[IntArray]) -> Any:
            neg_counts: IntArray | None = None
            pos_counts: IntArray | None = None
            for part, drawn in zip(parts, draws, strict=True):
                neg: IntArray | None
                pos: IntArray | None
                if part.kind == _EMPTY:
                    continue
                if part.kind == _MIXED:
                    both = np.bincount(part.codes.take(drawn), minlength=2 * n_bins)
                    neg, pos = both[:n_bins], both[n_bins:]
                else:
                    counted = np.bincount(part.codes.take(drawn), minlength=n_bins)
                    neg, pos = (counted, None) if part.kind == _NEG else (None, counted)
                if neg is not None:
                    neg_counts = neg if neg_counts is None else neg_counts + neg
                if pos is not None:
                    pos_counts = pos if pos_counts is None else pos_counts + pos
            if neg_counts is None or pos_counts is None:
                return self._shape(nan)
            np.cumsum(neg_counts, out=neg_below[1:])
            np.cumsum(pos_counts, out=pos_below[1:])
            total_neg, total_pos = int(neg_below[-1]), int(pos_below[-1])
            if total_neg == 0 or total_pos == 0:
                return self._shape(nan)
            need = [math.ceil(_threshold(spec, float(total_neg))) for spec in specs]
            hits = np.searchsorted(neg_below, need)
            below = pos_below.take(hits).astype(np.float64)
            return self._shape((float(total_pos) - below) / float(total_pos))

        return evaluate


def _specificities(value: float | Sequence[float]) -> tuple[bool, tuple[float, ...]]:
    """``(scalar?, specificities)``, each checked to lie in [0, 1]."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            raise fail("specificity", "a number in [0, 1] or a non-empty sequence of them", "[]")
        return False, tuple(check_unit_number("specificity", v) for v in value)
    return True, (check_unit_number("specificity", value),)


_NEG, _POS, _MIXED, _EMPTY = "neg", "pos", "mixed", "empty"


@dataclass(frozen=True, slots=True)
class _Part:
    """One stratum's units as the evaluator counts them: ``codes[u]`` is the bin of unit ``u``
    (``kind`` neg or pos: the stratum holds one class) or ``bin + n_bins * label`` (mixed)."""

    kind: str
    codes: IntArray


def _part(d: _Sorted, members: IntArray) -> _Part:
    bins = d.bin_of_row.take(members)
    pos = d.is_pos.take(members)
    if bins.size == 0:
        return _Part(_EMPTY, bins)
    if not pos.any():
        return _Part(_NEG, bins)
    if pos.all():
        return _Part(_POS, bins)
    return _Part(_MIXED, bins + d.n_bins * pos)
