"""Area under the ROC curve with DeLong (and clustered Obuchowski) confidence intervals.

The AUC is the Mann–Whitney statistic: the share of (positive, negative) pairs in which the
positive case scores higher, ties counting ½. Its variance comes from the *structural components*
(placement values) of DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837–845)::

    V10(x_i) = (#negatives < x_i + ½ #negatives == x_i) / n0     (one per positive case)
    V01(y_j) = (#positives > y_j + ½ #positives == y_j) / n1     (one per negative case)

computed in O(n log n) by the mid-rank algorithm of Sun & Xu (2014, IEEE Signal Processing
Letters 21:1389–1393): with ``R`` the pooled mid-rank and ``Rx`` the mid-rank among positives,
``V10 = (R - Rx) / n0``. :func:`auc` needs them only per *bin* of equal scores
(:mod:`validation.stats._bins`: one sort of packed integer keys, or a count without any sort for
integer scores; float32 and integer scores are never upcast): every positive of a bin has the
same ``V10``, every negative the same ``V01``, read off cumulative class counts. The AUC is then
exact (``sum 2 n0 V10`` is an integer: one correctly rounded division), and the variances are sums
over bins. :func:`placements` gives them per case, in case order, for the paired comparison.

With ``clusters`` (several images or lesions per patient) the variance is Obuchowski's (1997,
Biometrics 53:567–578) clustered estimator, which reduces to DeLong's when every cluster holds
one case. pROC has no clustered method; the reference is a direct implementation of
Obuchowski's formulas (:mod:`validation.stats._naive`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from validation.stats._bins import COUNTING_SPAN, Bins, score_bins
from validation.stats._checks import (
    check_binary,
    check_confidence,
    check_consistent_length,
    check_rank_scores,
    check_scores,
    check_unit_number,
    fail,
)
from validation.stats._ranks import class_counts, sort_scores
from validation.stats.results import Estimate

__all__ = [
    "auc",
    "cluster_codes",
    "delong_covariance",
    "obuchowski_covariance",
    "placements",
    "prepare_clusters",
    "roc_curve",
    "weighted_sensitivity_at_specificity",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def placements(
    y_true: NDArray[np.int8], y_score: NDArray[np.generic]
) -> tuple[FloatArray, FloatArray]:
    """DeLong placement values ``(V10 per positive, V01 per negative)`` in case order.

    Sun & Xu (2014): ``V10 = (R - Rx) / n0`` with ``R`` the pooled mid-rank of a positive and
    ``Rx`` its mid-rank among positives, i.e. ``(#neg < x + ½ #neg == x) / n0``; likewise
    ``V01 = (#pos > y + ½ #pos == y) / n1``. All scores are sorted together once
    (:func:`validation.stats._ranks.sort_scores`, no upcast of float32); the within-class ranks
    come from that joint order by counting, not from a second sort: the k-th positive at sorted
    position ``p_k`` has ``p_k - k`` negatives below it, and with ties the counts below and up to
    each run of equal scores are read off a cumulative count of negatives at the run boundaries.
    ``V10`` follows the order of ``y_score[y_true == 1]`` and ``V01`` that of
    ``y_score[y_true == 0]``, so that cases pair across two scores (:func:`compare_auc`) and sum
    by cluster.

    Parameters
    ----------
    y_true : (n,) int8 array of 0/1, at least one of each.
    y_score : (n,) finite float32, float64 or integer array.
    """
    ranking = sort_scores(y_score)
    is_pos_sorted = y_true[ranking.rows()] == 1
    counts = class_counts(ranking, is_pos_sorted)
    n1, n0 = counts.pos_at.size, counts.neg_at.size
    neg_sum = counts.neg_lt + counts.neg_le  # (#neg < x) + (#neg <= x)
    pos_sum = counts.pos_lt + counts.pos_le  # (#pos < y) + (#pos <= y)
    in_sorted = np.empty(y_true.size)
    in_sorted[is_pos_sorted] = neg_sum * (0.5 / n0)
    in_sorted[~is_pos_sorted] = 1.0 - pos_sum * (0.5 / n1)
    by_row = np.empty(y_true.size)
    by_row[ranking.rows()] = in_sorted
    is_pos = y_true == 1
    return by_row[is_pos], by_row[~is_pos]


def cluster_codes(clusters: ArrayLike) -> IntArray:
    """Check cluster ids and return a non-negative integer code per case.

    Ids may be any comparable values (str or int patient ids); missing ids are refused. Integer ids
    spanning at most :data:`~validation.stats._bins.COUNTING_SPAN` times ``n`` values are coded as
    ``id - min(id)`` in O(n) (codes need not be dense: a code no case has is an empty cluster,
    which every clustered formula here skips); other ids as their rank among the distinct ids
    (``np.unique``'s inverse).
    """
    ids = np.asarray(clusters)
    if ids.ndim != 1:
        raise fail("clusters", "a 1-D array of cluster (patient) ids", f"shape {ids.shape}")
    if ids.dtype.kind == "f":
        missing = int(np.count_nonzero(~np.isfinite(ids)))
    elif ids.dtype.kind == "O":
        missing = sum(1 for v in ids.tolist() if v is None or (isinstance(v, float) and v != v))
    else:
        missing = 0
    if missing:
        raise fail("clusters", "a cluster id for every case", f"{missing} missing id(s)")
    if ids.dtype.kind in "iu" and ids.size:
        low, high = int(ids.min()), int(ids.max())
        if high - low <= COUNTING_SPAN * ids.size:
            return np.subtract(ids, low, dtype=np.intp)
    try:
        _, codes = np.unique(ids, return_inverse=True)
    except TypeError as exc:
        raise fail("clusters", "ids of one comparable type", f"mixed types ({exc})") from None
    return codes.astype(np.intp).ravel()


def prepare_clusters(clusters: ArrayLike, y_true: NDArray[np.int8]) -> tuple[IntArray, IntArray]:
    """:func:`cluster_codes` split by class: ``(codes of positives, codes of negatives)``."""
    codes = cluster_codes(clusters)
    is_pos = y_true == 1
    return codes[is_pos], codes[~is_pos]


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a @ b.T`` for k = 1 or 2 rows by einsum: a plain loop, no threaded-BLAS overhead."""
    return np.einsum("in,jn->ij", a, b)


def delong_covariance(
    v10: FloatArray,
    v01: FloatArray,
    *,
    clusters: tuple[IntArray, IntArray] | None = None,
) -> FloatArray:
    """Covariance matrix of k AUCs from their placement values (DeLong 1988 / Obuchowski 1997).

    Parameters
    ----------
    v10 : (k, n1) placement values of the positives, one row per score (same case order).
    v01 : (k, n0) placement values of the negatives.
    clusters : (codes of positives, codes of negatives) from :func:`prepare_clusters`, or None.

    Returns
    -------
    (k, k) array. Unclustered: ``S10/n1 + S01/n0`` with ``S`` the sample covariances (ddof 1),
    as ``pROC:::delong.paired.calculations``. Clustered: :func:`obuchowski_covariance` of the
    per-cluster sums of the placement values.
    """
    n1, n0 = v10.shape[1], v01.shape[1]
    theta = v10.mean(axis=1)
    if clusters is None:
        dx = v10 - theta[:, None]
        dy = v01 - theta[:, None]
        return _cross(dx, dx) / ((n1 - 1) * n1) + _cross(dy, dy) / ((n0 - 1) * n0)
    pos_codes, neg_codes = clusters
    n_codes = int(max(pos_codes.max(initial=-1), neg_codes.max(initial=-1))) + 1
    m_i = np.bincount(pos_codes, minlength=n_codes)
    n_i = np.bincount(neg_codes, minlength=n_codes)
    x = np.stack([np.bincount(pos_codes, weights=row, minlength=n_codes) for row in v10])
    y = np.stack([np.bincount(neg_codes, weights=row, minlength=n_codes) for row in v01])
    return obuchowski_covariance(x.astype(np.float64), y.astype(np.float64), m_i, n_i, theta)


def obuchowski_covariance(
    x: FloatArray, y: FloatArray, m_i: IntArray, n_i: IntArray, theta: FloatArray
) -> FloatArray:
    """Obuchowski's (1997, Biometrics 53:567–578) clustered covariance of k AUCs.

    ``x`` (k, c) / ``y`` (k, c): per cluster, the sum of the positives' ``V10`` / the negatives'
    ``V01``; ``m_i`` / ``n_i`` (c,): positives / negatives per cluster; ``theta`` (k,): the AUCs.
    Clusters holding no case (unused codes) add nothing and are not counted::

        S10 = I10 / ((I10 - 1) M) * sum_i dX_i dX_i'      dX_i = V10(X_i.) - m_i theta
        S01 = I01 / ((I01 - 1) N) * sum_i dY_i dY_i'      dY_i = V01(Y_i.) - n_i theta
        S11 = I / (I - 1) * sum_i dX_i dY_i'
        cov = S10 / M + S01 / N + (S11 + S11') / (M N)

    with ``I`` clusters, ``I10`` (``I01``) of them holding a positive (negative) case, ``M`` / ``N``
    positives / negatives. It reduces to DeLong's when every cluster holds one case.
    """
    n1, n0 = int(m_i.sum()), int(n_i.sum())
    dx = x - m_i[None, :] * theta[:, None]
    dy = y - n_i[None, :] * theta[:, None]
    i10 = int(np.count_nonzero(m_i))
    i01 = int(np.count_nonzero(n_i))
    i_all = int(np.count_nonzero(m_i + n_i))
    s10 = i10 / ((i10 - 1) * n1) * _cross(dx, dx)
    s01 = i01 / ((i01 - 1) * n0) * _cross(dy, dy)
    s11 = i_all / (i_all - 1) * _cross(dx, dy)
    return s10 / n1 + s01 / n0 + (s11 + s11.T) / (n1 * n0)


def variance_problem(
    n1: int, n0: int, cluster_sizes: tuple[IntArray, IntArray] | None
) -> str | None:
    """Why the (co)variance is undefined for these counts, or None when it is defined.

    ``cluster_sizes``: positives and negatives per cluster code (``m_i``, ``n_i``), or None.
    """
    if cluster_sizes is None:
        if n1 < 2 or n0 < 2:
            return (
                f"DeLong variance needs at least 2 positive and 2 negative cases; got {n1} "
                f"positive and {n0} negative (pROC::ci.auc returns NA here too)"
            )
        return None
    i10 = int(np.count_nonzero(cluster_sizes[0]))
    i01 = int(np.count_nonzero(cluster_sizes[1]))
    if i10 < 2 or i01 < 2:
        return (
            "Obuchowski clustered variance needs at least 2 clusters with a positive case and 2 "
            f"with a negative case; got {i10} and {i01}"
        )
    return None


#: Integer moments are summed in int64 while ``n1 (2 n0)**2`` (and ``n0 (2 n1)**2``) stay below this.
_INT64_SAFE = 2**63


def _bin_placements(bins: Bins, n1: int) -> tuple[IntArray, IntArray]:
    """Twice the placement counts of each bin's cases, as integers.

    With ``C`` / ``D`` the negatives / positives up to and including a bin, its positives have
    ``2 n0 V10 = 2 C - N_bin`` (negatives below, ties counting half) and its negatives
    ``2 n1 V01 = 2 (n1 - D) + P_bin`` (positives above, ties counting half). The AUC is then
    ``sum P_bin (2 n0 V10) / (2 n0 n1)``: an integer sum, exact, divided once.
    """
    twice_v10 = np.cumsum(bins.neg)
    twice_v10 *= 2
    twice_v10 -= bins.neg
    twice_v01 = np.cumsum(bins.pos)
    twice_v01 *= -2
    twice_v01 += 2 * n1
    twice_v01 += bins.pos
    return twice_v10, twice_v01


def _centred_sum(
    weights: IntArray, values: IntArray, total: int, bound: int, first: int
) -> Fraction:
    """``sum w (v - mean)**2`` with ``mean = first / total``, ``first = sum w v`` (``bound``: the
    largest ``v``): exact from int64 sums where they cannot overflow, else in float64 centred
    first (then accurate to a few units in the last place)."""
    if total * bound * bound < _INT64_SAFE:
        second = int((weights * values) @ values)
        return Fraction(total * second - first * first, total)
    centred = values - first / total
    return Fraction(float(weights @ (centred * centred)))


def _delong_variance(
    bins: Bins, twice_v10: IntArray, twice_v01: IntArray, n1: int, n0: int, twice_sum: int
) -> float:
    """DeLong's ``S10 / n1 + S01 / n0`` from the bins (ddof 1, as pROC), exact but for the final
    rounding while its integer moments fit in int64 (up to about n = 10**6 cases).
    ``twice_sum = sum P_bin 2 n0 V10``, which is also ``sum N_bin 2 n1 V01`` (both are
    ``2 n0 n1 AUC``)."""
    s10 = _centred_sum(bins.pos, twice_v10, n1, 2 * n0, twice_sum) / (4 * n0 * n0 * (n1 - 1))
    s01 = _centred_sum(bins.neg, twice_v01, n0, 2 * n1, twice_sum) / (4 * n1 * n1 * (n0 - 1))
    return float(s10 / n1 + s01 / n0)


def _obuchowski_variance(
    bins: Bins, twice_v10: IntArray, twice_v01: IntArray, theta: float, n1: int, n0: int
) -> tuple[float, str | None]:
    """``(Obuchowski variance, why it is undefined or None)`` from bins that carry each case's
    slot and cluster: the cases' placement values summed per cluster
    (:func:`obuchowski_covariance`)."""
    if bins.slot is None or bins.member is None:
        raise ValueError("clustered bins carry each case's slot and cluster")
    in_cluster = bins.member  # 2 * cluster + label
    n_codes = int(in_cluster.max()) // 2 + 1
    sizes = np.bincount(in_cluster, minlength=2 * n_codes)
    m_i, n_i = sizes[1::2], sizes[0::2]
    problem = variance_problem(n1, n0, (m_i, n_i))
    if problem is not None:
        return math.nan, problem
    # Sum the integer counts 2 n0 V10 / 2 n1 V01 per cluster: exact in float64 (each sum is an
    # integer below 2**53), so the sums do not depend on the order of the cases.
    twice = np.empty(2 * twice_v10.size)  # by slot: 2 * bin + label
    twice[0::2] = twice_v01
    twice[1::2] = twice_v10
    sums = np.bincount(in_cluster, weights=twice.take(bins.slot), minlength=2 * n_codes)
    x = np.multiply(sums[None, 1::2], 0.5 / n0, dtype=np.float64)
    y = np.multiply(sums[None, 0::2], 0.5 / n1, dtype=np.float64)
    cov = obuchowski_covariance(x, y, m_i, n_i, np.array([theta]))
    return float(cov[0, 0]), None


def z_quantile(confidence: float) -> float:
    """Two-sided normal quantile ``z`` for the given confidence (1.959964 for 0.95)."""
    return float(norm.ppf(0.5 + confidence / 2.0))


def auc(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    clusters: ArrayLike | None = None,
    confidence: float = 0.95,
) -> Estimate:
    """Area under the ROC curve with a DeLong (or clustered Obuchowski) confidence interval.

    Mann–Whitney AUC (ties count ½) with the DeLong et al. (1988) variance, computed by the
    fast mid-rank algorithm of Sun & Xu (2014); interval ``AUC ± z·se`` clipped to [0, 1].
    Matches ``pROC::ci.auc(roc(y, s, levels = c(0, 1), direction = "<"), method = "delong")``.
    With ``clusters``: Obuchowski (1997) clustered variance, method ``"obuchowski"``.

    Parameters
    ----------
    y_true : (n,) array of 0/1 (1 = positive).
    y_score : (n,) array of finite scores; higher = more likely positive.
    clusters : (n,) array of cluster (patient) ids, optional.
    confidence : float in (0, 1).

    Returns
    -------
    Estimate
        ``n`` is the number of cases. Undefined cases (documented, never an exception):

        * no positive or no negative case: :meth:`Estimate.not_estimable` (all nan, reason);
        * fewer than 2 positives or negatives (clustered: fewer than 2 clusters holding a
          positive or a negative): the AUC is given, as pROC's ``auc()`` gives it, but
          ``se``/CI are nan and ``reason`` says why (pROC's ``ci.auc`` returns NA);
        * all scores equal (AUC 0.5) or perfect separation (AUC 0 or 1): every placement value
          is the same, so the variance is 0 and the CI collapses on the estimate, as in pROC.
    """
    confidence = check_confidence(confidence)
    y = check_binary("y_true", y_true)
    s = check_rank_scores("y_score", y_score)
    check_consistent_length(
        y_true=y, y_score=s, clusters=None if clusters is None else np.asarray(clusters)
    )
    method = "delong" if clusters is None else "obuchowski"
    codes = None if clusters is None else cluster_codes(clusters)
    n = int(y.size)
    n1 = int(np.count_nonzero(y))
    n0 = n - n1
    if n1 == 0 or n0 == 0:
        return Estimate.not_estimable(
            f"AUC needs positive and negative cases; y_true has {n1} positive and {n0} negative",
            confidence=confidence,
            method=method,
            n=n,
        )
    bins = score_bins(y, s, codes)
    twice_v10, twice_v01 = _bin_placements(bins, n1)
    twice_sum = int(bins.pos @ twice_v10)  # sum P_bin 2 n0 V10: an exact integer
    theta = twice_sum / (2 * n0 * n1)  # rounded once
    if codes is None:
        problem = variance_problem(n1, n0, None)
        if problem is None:
            var = _delong_variance(bins, twice_v10, twice_v01, n1, n0, twice_sum)
        else:
            var = math.nan
    else:
        var, problem = _obuchowski_variance(bins, twice_v10, twice_v01, theta, n1, n0)
    nan = math.nan
    if problem is not None:
        return Estimate(theta, nan, nan, confidence, method, n, nan, problem)
    if var < -1e-15:  # possible only for clustered data with strongly negative S11
        reason = f"the {method} variance estimate is negative ({var!r})"
        return Estimate(theta, nan, nan, confidence, method, n, nan, reason)
    se = math.sqrt(max(var, 0.0))
    half = z_quantile(confidence) * se
    return Estimate(
        theta, max(theta - half, 0.0), min(theta + half, 1.0), confidence, method, n, se
    )


def roc_curve(y_true: ArrayLike, y_score: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Empirical ROC curve: ``(fpr, tpr, thresholds)``, one point per distinct score plus (0, 0).

    A case is called positive when ``score >= threshold``. Thresholds are the distinct scores in
    decreasing order, preceded by ``+inf`` (nobody called positive, the point (0, 0)); the last
    point is (1, 1). Same points as ``sklearn.metrics.roc_curve(y, s, drop_intermediate=False)``
    and ``pROC::roc(y, s, direction = "<")`` (``1 - specificities``, ``sensitivities``).

    Parameters
    ----------
    y_true : (n,) array of 0/1 with both classes present.
    y_score : (n,) array of finite scores; higher = more likely positive.

    Returns
    -------
    fpr, tpr, thresholds : ndarray, shape (m + 1,) for m distinct scores.
    """
    y = check_binary("y_true", y_true)
    s = check_scores("y_score", y_score)
    check_consistent_length(y_true=y, y_score=s)
    n1 = int(np.count_nonzero(y))
    n0 = int(y.size) - n1
    if n1 == 0 or n0 == 0:
        raise fail("y_true", "both classes (0 and 1) present", f"{n1} positive, {n0} negative")
    order = np.argsort(-s, kind="stable")
    values, starts = np.unique(-s[order], return_index=True)  # decreasing scores
    ends = np.append(starts[1:], len(s)) - 1
    tp = np.cumsum(y[order] == 1)[ends]
    fp = np.cumsum(y[order] == 0)[ends]
    fpr = np.concatenate([[0.0], fp / n0])
    tpr = np.concatenate([[0.0], tp / n1])
    thresholds = np.concatenate([[np.inf], -values])
    return fpr, tpr, thresholds


def weighted_sensitivity_at_specificity(
    weights: ArrayLike, y_true: ArrayLike, y_score: ArrayLike, *, specificity: float
) -> FloatArray:
    """Sensitivity at a fixed specificity for each row of a multiplicity matrix (vectorised).

    Definition (a step function, no interpolation): the highest sensitivity of any threshold whose
    specificity is at least ``specificity`` -- i.e. the empirical ROC curve read at
    ``fpr <= 1 - specificity``. Calls are ``score >= threshold``. This is the statistic of the
    bootstrap band of the ROC curve (``validation.stats.bootstrap(..., weighted=True)``), in the
    spirit of ``pROC::ci.se(roc, specificities = ..., boot.stratified = TRUE)`` (pROC interpolates
    between points; this reads the conservative step). The band itself uses its sort-once twin
    :class:`validation.stats.roc_band.SortedSensitivity` (the same numbers bit for bit, from the
    bootstrap's draws); this direct form is its reference.

    Parameters
    ----------
    weights : (k, n) non-negative multiplicities (``np.ones((1, n))`` for the plain estimate).
    y_true : (n,) 0/1.
    y_score : (n,) finite scores.
    specificity : float in [0, 1].

    Returns
    -------
    ndarray, shape (k,) -- ``nan`` where a row has no positive or no negative weight.
    """
    specificity = check_unit_number("specificity", specificity)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    y = check_binary("y_true", y_true)
    s = check_scores("y_score", y_score)
    check_consistent_length(y_true=y, y_score=s)
    order = np.argsort(s, kind="stable")
    # Column j = threshold at the j-th distinct score (ascending), last column = +inf; the weight
    # "below" a threshold is the cumulative weight of the sorted scores before its first copy.
    # The running sums are taken on contiguous (k, n) arrays and read only at those columns.
    _, first = np.unique(s[order], return_index=True)
    sorted_w = np.take(w, order, axis=1)
    is_neg = y[order] == 0
    neg_run = np.cumsum(sorted_w * is_neg, axis=1)
    pos_run = np.cumsum(sorted_w * ~is_neg, axis=1)
    before = np.append(first, len(s)) - 1  # last sorted index below each threshold (-1: none)
    neg_below = np.zeros((len(w), before.size))
    pos_below = np.zeros((len(w), before.size))
    some = before >= 0
    neg_below[:, some] = neg_run[:, before[some]]
    pos_below[:, some] = pos_run[:, before[some]]
    total_neg = neg_below[:, -1]
    total_pos = pos_below[:, -1]
    ok = (total_neg > 0) & (total_pos > 0)
    reach = (
        neg_below
        >= float(specificity) * total_neg[:, None] - 1e-9 * np.maximum(total_neg, 1)[:, None]
    )
    hit = np.argmax(reach, axis=1)  # the last column (+inf) always reaches: spec 1
    sens = np.full(len(w), np.nan)
    rows = np.flatnonzero(ok)
    sens[rows] = (total_pos[rows] - pos_below[rows, hit[rows]]) / total_pos[rows]
    return sens
