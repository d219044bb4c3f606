"""Cases grouped into bins of equal score, ascending, with each bin's count of positives and negatives.

The AUC and its DeLong (and Obuchowski clustered) variance depend on the scores only through
which cases share a score and in which order the distinct scores come: every positive of a bin
has the same placement value, and so has every negative. :func:`score_bins` finds the bins at the
cost of one sort of the scores -- or of none -- in one of three ways, chosen by the width of the
order-preserving integer keys of :func:`validation.stats._ranks._keys` (float32 and integer scores
are never upcast):

* **counting** -- keys spanning at most :data:`COUNTING_SPAN` times ``n`` values (integer scores,
  Likert ratings, booleans): one ``bincount`` of ``2 * key + label``, no sort; a bin per key value,
  empty bins included (they contribute nothing);
* **packed sort** -- key, then cluster code, then label packed into one non-negative 32- or 64-bit
  integer (float32 probabilities, float64 keys of narrow range): one numpy sort of integers, whose
  runs of equal keys are the bins; label and cluster come out of the low bits, so no gather;
* **row sort** -- float64 keys too wide to share 63 bits with a label: the packed score-and-row
  sort of :func:`validation.stats._ranks.sort_scores`, then the labels (and cluster codes) gathered
  in that order.

Each way gives the same bins (tested against ``numpy.unique`` on every input kind); only the cost
differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from validation.stats._ranks import _keys, sort_scores

__all__ = ["COUNTING_SPAN", "Bins", "score_bins"]

IntArray = NDArray[np.intp]

#: Keys spanning at most this many times ``n`` values are binned by counting, without a sort.
COUNTING_SPAN = 4


@dataclass(frozen=True, slots=True)
class Bins:
    """Distinct scores in ascending order and the cases at each.

    Attributes
    ----------
    pos, neg : (r,) intp
        Positives and negatives whose score is the bin's (a bin may be empty when binned by
        counting).
    slot : (n,) intp or None
        Per case, ``2 * bin + label`` (label 1 = positive), in some case order; only when clusters
        were given.
    member : (n,) intp or None
        Per case, ``2 * cluster code + label``, in the same case order (clusters given only).
    """

    pos: IntArray
    neg: IntArray
    slot: IntArray | None = None
    member: IntArray | None = None


def score_bins(y: NDArray[np.int8], scores: NDArray[Any], clusters: IntArray | None = None) -> Bins:
    """Bin ``scores`` (finite, float32/float64/integer) with their 0/1 labels ``y`` (module docstring).

    ``clusters``: non-negative cluster codes below :data:`COUNTING_SPAN` ``* n + 1`` (from
    :func:`validation.stats.roc.cluster_codes`); with them, :attr:`Bins.slot` and
    :attr:`Bins.member` say where each case lies, for per-cluster sums.
    """
    n = int(y.size)
    if scores.dtype.kind in "iu" and n:  # integers: their range decides, no key transform
        low, high = int(scores.min()), int(scores.max())
        if high - low < COUNTING_SPAN * n:
            return _by_counting(
                y, np.subtract(scores, low, dtype=np.intp), high - low + 1, clusters
            )
    keys, width = _keys(scores)
    if (1 << width) <= COUNTING_SPAN * n:
        return _by_counting(y, keys.astype(np.intp), 1 << width, clusters)
    cluster_bits = 0 if clusters is None else max(1, int(clusters.max(initial=0)).bit_length())
    if width + cluster_bits + 1 <= 62:
        return _by_packed_sort(y, keys, width, clusters, cluster_bits)
    return _by_row_sort(y, scores, clusters, (keys, width))


def _by_counting(
    y: NDArray[np.int8], offset: IntArray, span: int, clusters: IntArray | None
) -> Bins:
    """``offset``: each score's bin, ``0 <= offset < span`` (an array of ours, used in place)."""
    slot = offset
    slot <<= 1
    slot += y
    counts = np.bincount(slot, minlength=2 * span)
    if clusters is None:
        return Bins(counts[1::2], counts[0::2])
    member = clusters << 1
    member += y
    return Bins(counts[1::2], counts[0::2], slot, member)


def _by_packed_sort(
    y: NDArray[np.int8],
    keys: NDArray[np.unsignedinteger[Any]],
    width: int,
    clusters: IntArray | None,
    cluster_bits: int,
) -> Bins:
    low = cluster_bits + 1
    signed: type[np.signedinteger[Any]] = np.int32 if width + low <= 31 else np.int64
    if keys.dtype.itemsize == np.dtype(signed).itemsize:
        packed = keys.view(signed)  # the keys are ours (a fresh array from _keys): pack in place
    else:
        packed = keys.astype(signed)  # keys < 2**width: non-negative in either type
    if clusters is not None:
        packed <<= cluster_bits
        packed |= clusters
    packed <<= 1
    packed |= y
    packed.sort()
    member = packed & ((1 << low) - 1)  # 2 * cluster + label
    label = member & 1 if clusters is not None else member
    packed >>= low
    new_bin = packed[1:] != packed[:-1]
    pos, neg, bin_of = _counts_by_run(label, new_bin, need_bin_of=clusters is not None)
    if clusters is None or bin_of is None:
        return Bins(pos, neg)
    bin_of <<= 1
    bin_of |= label
    return Bins(pos, neg, bin_of, member.astype(np.intp, copy=False))


def _by_row_sort(
    y: NDArray[np.int8],
    scores: NDArray[Any],
    clusters: IntArray | None,
    keys: tuple[NDArray[np.unsignedinteger[Any]], int] | None = None,
) -> Bins:
    ranking = sort_scores(scores, keys)
    order = ranking.rows()
    label = y.take(order).astype(np.intp)
    if ranking.starts is None:
        new_bin = np.ones(max(ranking.n - 1, 0), dtype=bool)
    else:
        new_bin = np.zeros(ranking.n - 1, dtype=bool)
        new_bin[ranking.starts[1:] - 1] = True
    pos, neg, bin_of = _counts_by_run(label, new_bin, need_bin_of=clusters is not None)
    if clusters is None or bin_of is None:
        return Bins(pos, neg)
    member = clusters.take(order)
    member <<= 1
    member |= label
    bin_of <<= 1
    bin_of |= label
    return Bins(pos, neg, bin_of, member)


def _counts_by_run(
    label: NDArray[np.signedinteger[Any]], new_bin: NDArray[np.bool_], *, need_bin_of: bool
) -> tuple[IntArray, IntArray, IntArray | None]:
    """Positives and negatives per run of equal sorted keys; the run of each sorted case if asked.

    ``label``: 0/1 of each sorted case; ``new_bin[i]``: sorted case ``i + 1`` starts a new run.
    """
    n = label.size
    if new_bin.all():  # every score distinct: one case per bin
        each = label.astype(np.intp, copy=False)
        return each, 1 - each, np.arange(n) if need_bin_of else None
    ends = np.flatnonzero(new_bin)  # the last sorted case of each run but the last run
    runs = ends.size + 1
    # Positives up to and including each sorted case, summed in the labels' own integer type
    # (numpy's cumulative sum that widens int32 as it goes is ten times slower); n < 2**31.
    upto = np.cumsum(label, dtype=label.dtype if n < 2**31 else np.intp)
    edge = np.empty(runs + 1, dtype=np.intp)  # positives, then cases, before each run boundary
    edge[0], edge[runs] = 0, upto[-1]
    edge[1:runs] = upto.take(ends)
    pos = edge[1:] - edge[:-1]
    edge[1:runs] = ends
    edge[1:runs] += 1
    edge[runs] = n
    neg = edge[1:] - edge[:-1]
    neg -= pos
    bin_of = None
    if need_bin_of:
        bin_of = np.zeros(n, dtype=np.intp)
        bin_of[edge[1:runs]] = 1  # each run's first sorted case
        np.cumsum(bin_of, out=bin_of)
    return pos, neg, bin_of
