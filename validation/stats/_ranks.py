"""One sort of the scores: their ascending order and the runs of equal scores.

Every rank statistic here (the AUC, its DeLong placements, the sort-once bootstrap) needs the
scores in ascending order, the row each sorted score came from and where runs of equal scores
start and end. :func:`sort_scores` gets all three from a single ``numpy.sort`` of *packed* 64-bit
integer keys, which costs about as much as sorting the scores themselves (numpy sorts integers
with SIMD; ``argsort`` of float64 costs several times more):

* each score is mapped to an unsigned integer with the same order (IEEE-754 bit trick: flip every
  bit of a negative number, only the sign bit of a positive one; ``-0.0`` is first made ``+0.0``
  so that equal numbers get equal keys; integers are shifted to unsigned), minus the smallest key;
* the key goes into the high bits and the row index into the low ``b = bitlength(n - 1)`` bits of
  one 63-bit integer, sorted as ``int64`` (numpy's SIMD sort of int64 is faster than of uint64):
  sorting these sorts by score and, among equal scores, by row;
* float32 scores (32-bit keys), integer scores whose range fits and float64 scores whose keys span
  at most ``63 - b`` bits pack without loss (scores of both signs have the unused key space
  around zero closed up first). Wider float64 keys keep their top ``63 - b`` bits; two different
  scores that share those bits may then come out in the wrong order, so the full keys are read in
  sorted order (one gather), and only the groups of colliding keys that hold a descending pair
  are sorted again (by full key, rows in order among equal scores).

The AUC itself needs no row order: :mod:`validation.stats._bins` packs a label instead of the row.
No score is converted to float64 first: float32 probabilities are sorted as float32 keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ClassCounts", "Ranking", "class_counts", "sort_scores"]

IntArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Ranking:
    """Ascending order of ``n`` scores and their runs of equal values.

    Attributes
    ----------
    order : (n,) intp or None
        Row indices in ascending score order; equal scores in increasing row order (None from
        :func:`sort_labels`, which sorts labels instead of rows).
    starts : (r,) intp or None
        Sorted position where each run of equal scores starts (``starts[0] == 0``), or None when
        all scores are distinct (every run has length 1).
    run_of : (n,) intp or None
        Run index of every sorted position (None when all scores are distinct).
    n : int
        Number of scores.
    """

    order: IntArray | None
    starts: IntArray | None
    run_of: IntArray | None
    n: int

    def rows(self) -> IntArray:
        """``order``; a Ranking from :func:`sort_labels` has none (ValueError)."""
        if self.order is None:
            raise ValueError("this ranking sorted labels, not rows: use sort_scores")
        return self.order

    @property
    def ends(self) -> IntArray:
        """One past the last sorted position of each run (requires ``starts``)."""
        if self.starts is None:
            raise ValueError("ends is defined only when some scores are tied")
        return np.append(self.starts[1:], self.n)


def _keys(scores: NDArray[np.generic]) -> tuple[NDArray[np.unsignedinteger[Any]], int]:
    """Unsigned keys minus their minimum, and their bit width: ``a < b`` iff ``key(a) < key(b)``;
    equal scores (``-0.0 == +0.0`` included) get equal keys. uint32 when the keys fit in 32 bits
    (float32 scores of one sign, integers of a small range), else uint64.

    Floats of both signs: the key space of the magnitudes smaller than the smallest nonzero
    magnitude present (the tiny numbers no score takes) is closed up around zero, so that scores
    such as logits in [-20, 20] take about 58 bits, not 64, and pack beside a label.
    """
    kind, size = scores.dtype.kind, scores.dtype.itemsize
    if kind == "f" and size in (4, 8):
        signed: type[np.signedinteger[Any]] = np.int32 if size == 4 else np.int64
        zero: Any = scores.dtype.type(0.0)
        ordered: NDArray[np.signedinteger[Any]] = (scores + zero).view(signed)  # -0.0 now +0.0
        sign = ordered >> (8 * size - 1)  # -1 for negative numbers, else 0
        ordered &= np.iinfo(signed).max  # |score| as a key, 0 for zero
        ordered -= 1  # zero wraps to -1: the largest unsigned value
        smallest = int(ordered.view(np.uint32 if size == 4 else np.uint64).min()) + 1
        if int(sign.min()) < 0 and smallest > 1:
            # No score has a magnitude key in (0, smallest): close that space up around zero.
            ordered -= smallest - 2
            np.maximum(ordered, 0, out=ordered)  # zero back to 0, others to key - smallest + 1
        else:
            ordered += 1
        ordered ^= sign  # negative numbers: -key - 1, below every other and in reverse order
        low, high = int(ordered.min()), int(ordered.max())
    elif kind in "iub":
        ordered = scores.astype(np.int64)
        low, high = int(ordered.min()), int(ordered.max())
    else:
        return _keys(np.asarray(scores, dtype=np.float64))
    width = (high - low).bit_length()
    bits = 8 * ordered.dtype.itemsize
    unsigned: type[np.unsignedinteger[Any]] = np.uint32 if bits == 32 else np.uint64
    keys = ordered.view(unsigned)
    keys -= unsigned(low % (1 << bits))  # wraps to key - low exactly: 0 <= key - low < 2**bits
    if bits == 64 and width <= 32:
        return keys.astype(np.uint32), width
    return keys, width


def _runs(sorted_keys: NDArray[np.unsignedinteger[Any]]) -> tuple[IntArray | None, IntArray | None]:
    """``(starts, run_of)`` of the runs of equal sorted keys, ``(None, None)`` when all differ."""
    new_run = sorted_keys[1:] != sorted_keys[:-1]
    return _runs_of(new_run)


def _runs_of(new_run: NDArray[np.bool_]) -> tuple[IntArray | None, IntArray | None]:
    if new_run.all():
        return None, None
    run_of = np.zeros(new_run.size + 1, dtype=np.intp)
    run_of[1:] = new_run  # cumsum of an integer array: numpy's bool accumulate casts slowly
    np.cumsum(run_of, out=run_of)
    starts = np.flatnonzero(np.concatenate(([True], new_run)))
    return starts, run_of


def sort_scores(
    scores: NDArray[np.generic],
    keys: tuple[NDArray[np.unsignedinteger[Any]], int] | None = None,
) -> Ranking:
    """Sort finite scores once (module docstring); float32, float64, integer or bool arrays.

    Parameters
    ----------
    scores : (n,) array without NaN (callers check finiteness).
    keys : ``_keys(scores)`` when the caller has them already (they are not modified).

    Returns
    -------
    Ranking
    """
    n = int(scores.size)
    if n >= 1 << 40:  # leaves at least 24 key bits; far beyond any cohort
        raise ValueError(f"sort_scores handles fewer than 2**40 scores; got {n}")
    if n == 0:
        return Ranking(np.empty(0, dtype=np.intp), None, None, 0)
    narrow, width = _keys(scores) if keys is None else keys
    wide = narrow.astype(np.uint64, copy=False)
    index_bits = max(1, (n - 1).bit_length())
    room = 63 - index_bits  # below the sign bit: numpy sorts int64 faster than uint64
    drop = max(0, width - room)  # low key bits that do not fit beside the row index
    packed = wide >> np.uint64(drop) if drop else wide.copy()
    packed <<= np.uint64(index_bits)
    packed |= np.arange(n, dtype=np.uint64)
    packed.view(np.int64).sort()
    order = (packed & np.uint64((1 << index_bits) - 1)).astype(np.intp)
    if not drop:
        packed >>= np.uint64(index_bits)  # the wide in sorted order
        starts, run_of = _runs(packed)
        return Ranking(order, starts, run_of, n)
    # Truncated wide may tie where full wide differ: read the full wide in sorted order (one
    # gather); they set the run boundaries, and a descending pair (two different scores sharing
    # their top bits, in row order) is repaired by sorting just the groups of equal truncated
    # wide that hold one.
    full = wide.take(order)
    descending = np.flatnonzero(full[1:] < full[:-1])
    if descending.size:
        packed >>= np.uint64(index_bits)
        group = np.zeros(n, dtype=np.intp)
        group[1:] = packed[1:] != packed[:-1]
        np.cumsum(group, out=group)
        bad = np.zeros(int(group[-1]) + 1, dtype=bool)
        bad[group[descending]] = True
        members = np.flatnonzero(bad[group])  # contiguous groups, in sorted position order
        resort = np.lexsort((full[members], group[members]))  # stable: rows in order
        order[members] = order[members[resort]]
        full[members] = full[members[resort]]
    starts, run_of = _runs(full)
    return Ranking(order, starts, run_of, n)


@dataclass(frozen=True, slots=True)
class ClassCounts:
    """Where each class sits in the joint order, and how many of the other class lie below.

    ``pos_at`` / ``neg_at``: sorted positions of the positives / negatives (ascending).
    ``neg_lt`` / ``neg_le``: for each positive (in ``pos_at`` order), the negatives with a
    lower / lower-or-equal score. ``pos_lt`` / ``pos_le``: likewise for each negative.
    """

    pos_at: IntArray
    neg_at: IntArray
    neg_lt: IntArray
    neg_le: IntArray
    pos_lt: IntArray
    pos_le: IntArray


def class_counts(ranking: Ranking, is_pos_sorted: NDArray[np.bool_]) -> ClassCounts:
    """Within-class ranks from the joint order by counting (no second sort).

    The k-th positive at sorted position ``p_k`` has ``p_k - k`` negatives below it; with ties,
    the counts below and up to each run of equal scores are read off a cumulative count of
    negatives at the run boundaries.
    """
    pos_at = np.flatnonzero(is_pos_sorted)
    neg_at = np.flatnonzero(~is_pos_sorted)
    if ranking.starts is None or ranking.run_of is None:
        neg_lt = pos_at - np.arange(pos_at.size)
        pos_le = neg_at - np.arange(neg_at.size)
        return ClassCounts(pos_at, neg_at, neg_lt, neg_lt, pos_le, pos_le)
    starts, ends = ranking.starts, ranking.ends
    below = np.zeros(is_pos_sorted.size + 1, dtype=np.intp)  # negatives before each position
    below[1:] = ~is_pos_sorted
    np.cumsum(below, out=below)
    pos_runs, neg_runs = ranking.run_of[pos_at], ranking.run_of[neg_at]
    neg_before, neg_through = below[starts], below[ends]
    return ClassCounts(
        pos_at,
        neg_at,
        neg_before[pos_runs],
        neg_through[pos_runs],
        (starts - neg_before)[neg_runs],
        (ends - neg_through)[neg_runs],
    )
