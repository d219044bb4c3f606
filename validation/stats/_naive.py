"""Slow, obviously correct twins of the fast statistics (STYLE.md rule 10), used by the tests.

Every function here follows the textbook definition with explicit loops over pairs, cases and
clusters — O(n²), no sorting, no mid-ranks — so that a fast implementation can be checked
against it on small data (after scikit-learn's ``_auc`` in ``test_ranking.py`` and lifelines'
``naive_concordance_index``). Not for production use.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "naive_auc",
    "naive_auc_covariance",
    "naive_confusion",
    "naive_placements",
]


def _psi(x: float, y: float) -> float:
    """Mann–Whitney kernel: 1 if the positive scores higher, ½ on a tie, else 0."""
    if x > y:
        return 1.0
    if x == y:
        return 0.5
    return 0.0


def naive_auc(y_true: Sequence[int], y_score: Sequence[float]) -> float:
    """AUC as the mean of the kernel over all (positive, negative) pairs."""
    pos = [s for t, s in zip(y_true, y_score, strict=True) if t == 1]
    neg = [s for t, s in zip(y_true, y_score, strict=True) if t == 0]
    return sum(_psi(x, y) for x in pos for y in neg) / (len(pos) * len(neg))


def naive_placements(
    y_true: Sequence[int], y_score: Sequence[float]
) -> tuple[list[float], list[float]]:
    """DeLong structural components V10 (per positive) and V01 (per negative), pairwise."""
    pos = [s for t, s in zip(y_true, y_score, strict=True) if t == 1]
    neg = [s for t, s in zip(y_true, y_score, strict=True) if t == 0]
    v10 = [sum(_psi(x, y) for y in neg) / len(neg) for x in pos]
    v01 = [sum(_psi(x, y) for x in pos) / len(pos) for y in neg]
    return v10, v01


def naive_auc_covariance(
    y_true: Sequence[int],
    scores: Sequence[Sequence[float]],
    clusters: Sequence[object] | None = None,
) -> list[list[float]]:
    """Covariance matrix of the AUCs of several scores, straight from the papers' formulas.

    Unclustered: DeLong et al. (1988), ``S10[r][s] = Σ (V10_r - θ_r)(V10_s - θ_s) / (m - 1)``,
    likewise ``S01``; ``cov = S10/m + S01/n``. Clustered: Obuchowski (1997) with per-cluster sums
    ``V10(X_i.)``, ``V01(Y_i.)``, counts ``m_i``, ``n_i`` and ``I``, ``I10``, ``I01`` clusters::

        S10 = I10/((I10-1) M) Σ_i (V10_r(X_i.) - m_i θ_r)(V10_s(X_i.) - m_i θ_s)
        S01 = I01/((I01-1) N) Σ_i (V01_r(Y_i.) - n_i θ_r)(V01_s(Y_i.) - n_i θ_s)
        S11 = I/(I-1)         Σ_i (V10_r(X_i.) - m_i θ_r)(V01_s(Y_i.) - n_i θ_s)
        cov = S10/M + S01/N + (S11[r][s] + S11[s][r])/(M N)
    """
    k = len(scores)
    comps = [naive_placements(y_true, sc) for sc in scores]
    theta = [sum(v10) / len(v10) for v10, _ in comps]
    m = sum(1 for t in y_true if t == 1)
    n = len(y_true) - m
    if clusters is None:
        cov = [[0.0] * k for _ in range(k)]
        for r in range(k):
            for s in range(k):
                s10 = sum(
                    (a - theta[r]) * (b - theta[s])
                    for a, b in zip(comps[r][0], comps[s][0], strict=True)
                ) / (m - 1)
                s01 = sum(
                    (a - theta[r]) * (b - theta[s])
                    for a, b in zip(comps[r][1], comps[s][1], strict=True)
                ) / (n - 1)
                cov[r][s] = s10 / m + s01 / n
        return cov
    pos_ids = [c for t, c in zip(y_true, clusters, strict=True) if t == 1]
    neg_ids = [c for t, c in zip(y_true, clusters, strict=True) if t == 0]
    ids = sorted(set(clusters), key=repr)
    big_i = len(ids)
    i10 = len(set(pos_ids))
    i01 = len(set(neg_ids))
    # Per-cluster sums of placement values, for each score.
    x_sum = [[0.0] * big_i for _ in range(k)]
    y_sum = [[0.0] * big_i for _ in range(k)]
    m_i = [pos_ids.count(c) for c in ids]
    n_i = [neg_ids.count(c) for c in ids]
    for r in range(k):
        for idx, c in enumerate(ids):
            x_sum[r][idx] = sum(v for v, pc in zip(comps[r][0], pos_ids, strict=True) if pc == c)
            y_sum[r][idx] = sum(v for v, nc in zip(comps[r][1], neg_ids, strict=True) if nc == c)

    def dx(r: int, i: int) -> float:
        return x_sum[r][i] - m_i[i] * theta[r]

    def dy(r: int, i: int) -> float:
        return y_sum[r][i] - n_i[i] * theta[r]

    cov = [[0.0] * k for _ in range(k)]
    for r in range(k):
        for s in range(k):
            s10 = i10 / ((i10 - 1) * m) * sum(dx(r, i) * dx(s, i) for i in range(big_i))
            s01 = i01 / ((i01 - 1) * n) * sum(dy(r, i) * dy(s, i) for i in range(big_i))
            s11_rs = big_i / (big_i - 1) * sum(dx(r, i) * dy(s, i) for i in range(big_i))
            s11_sr = big_i / (big_i - 1) * sum(dx(s, i) * dy(r, i) for i in range(big_i))
            cov[r][s] = s10 / m + s01 / n + (s11_rs + s11_sr) / (m * n)
    return cov


def naive_confusion(y_true: Sequence[int], y_pred: Sequence[int]) -> tuple[int, int, int, int]:
    """``(tp, fp, fn, tn)`` by counting case by case."""
    tp = fp = fn = tn = 0
    for t, p in zip(y_true, y_pred, strict=True):
        if t == 1 and p == 1:
            tp += 1
        elif t == 0 and p == 1:
            fp += 1
        elif t == 1 and p == 0:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn
