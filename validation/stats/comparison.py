"""Paired comparison of two AUCs on the same cases (DeLong's test; Obuchowski if clustered).

DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837–845): the two AUCs' covariance comes
from the placement values of both scores on the same cases; ``z = (AUC_a - AUC_b) / se`` with a
two-sided p from the normal survival function and the interval ``d ± z·se`` (not clipped).
Matches ``pROC::roc.test(r_a, r_b, paired = TRUE, method = "delong")`` (pROC ≥ 1.16: its z and
``conf.int`` are those of ``AUC(roc1) - AUC(roc2)``). With ``clusters`` the covariance is
Obuchowski's (1997, Biometrics 53:567–578) clustered estimator.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from validation.stats._checks import (
    check_binary,
    check_confidence,
    check_consistent_length,
    check_rank_scores,
)
from validation.stats.results import Comparison
from validation.stats.roc import (
    delong_covariance,
    placements,
    prepare_clusters,
    variance_problem,
    z_quantile,
)

__all__ = ["compare_auc"]


def compare_auc(
    y_true: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    *,
    clusters: ArrayLike | None = None,
    confidence: float = 0.95,
) -> Comparison:
    """Paired DeLong test of ``AUC_a - AUC_b`` for two scores of the same cases.

    Parameters
    ----------
    y_true : (n,) array of 0/1 (1 = positive).
    score_a, score_b : (n,) arrays of finite scores of the same cases, higher = more positive.
    clusters : (n,) array of cluster (patient) ids, optional (Obuchowski 1997).
    confidence : float in (0, 1).

    Returns
    -------
    Comparison
        ``estimate = AUC_a - AUC_b``; ``ci_low, ci_high = estimate ∓ z·se`` (not clipped, as
        pROC); ``statistic`` = z; ``p_value`` = ``2·norm.sf(|z|)``; method ``"delong-paired"``
        or ``"obuchowski-paired"``. Undefined cases: no positive or no negative case → all nan
        with ``reason``; fewer than 2 positives/negatives (or clusters holding them) → the two
        AUCs and their difference are given, se/CI/z/p nan with ``reason``. When the two scores
        give identical placements (``se == 0`` and ``d == 0``) z is 0 and p is 1, as pROC.
        When ``se == 0`` but ``d != 0`` (e.g. two different perfect or constant scores), z is
        ±inf and p is 0 and the interval collapses on ``d``, as pROC.
    """
    confidence = check_confidence(confidence)
    y = check_binary("y_true", y_true)
    a = check_rank_scores("score_a", score_a)
    b = check_rank_scores("score_b", score_b)
    check_consistent_length(
        y_true=y,
        score_a=a,
        score_b=b,
        clusters=None if clusters is None else np.asarray(clusters),
    )
    method = "delong-paired" if clusters is None else "obuchowski-paired"
    codes = None if clusters is None else prepare_clusters(clusters, y)
    n = int(y.size)
    n1 = int(np.count_nonzero(y))
    n0 = n - n1
    nan = math.nan
    if n1 == 0 or n0 == 0:
        reason = (
            f"AUC needs positive and negative cases; y_true has {n1} positive and {n0} negative"
        )
        return Comparison(nan, nan, nan, nan, nan, confidence, method, n, nan, nan, None, reason)
    v10_a, v01_a = placements(y, a)
    v10_b, v01_b = placements(y, b)
    auc_a, auc_b = float(v10_a.mean()), float(v10_b.mean())
    d = auc_a - auc_b
    sizes = None if codes is None else (np.bincount(codes[0]), np.bincount(codes[1]))
    problem = variance_problem(n1, n0, sizes)
    if problem is not None:
        return Comparison(d, nan, nan, nan, nan, confidence, method, n, auc_a, auc_b, nan, problem)
    cov = delong_covariance(np.stack([v10_a, v10_b]), np.stack([v01_a, v01_b]), clusters=codes)
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    if se > 0.0:
        z = d / se
    elif d == 0.0:
        z = 0.0  # pROC:::delong.paired.test sets z = 0 when d = 0 and se = 0
    else:
        z = math.copysign(math.inf, d)  # as pROC: d / 0
    p = float(2.0 * norm.sf(abs(z)))
    half = z_quantile(confidence) * se
    return Comparison(d, d - half, d + half, z, p, confidence, method, n, auc_a, auc_b, se)
