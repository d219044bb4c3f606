"""Coverage simulations: 95% intervals must cover a known truth at close to 95% (REQ-STAT-COV).

Seeded and small enough for CI (a few seconds). Acceptance band: with R replicates and true
coverage 0.95 the Monte-Carlo standard error is ``sqrt(0.95·0.05/R)`` (0.0069 for R = 1000).
The band [0.92, 0.975] spans about −4.3 and +3.6 standard errors: wide enough that a correct
interval fails with probability < 1e-3 (and the seeds are fixed, so the result is repeatable),
asymmetric because DeLong and Obuchowski intervals are known to under-cover slightly in small
samples, yet narrow enough to catch real defects — a variance off by a factor 2 (coverage ≈ 0.83
or ≈ 0.99), a 90% quantile (≈ 0.90) or a missing square root.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, norm

from validation.stats import auc, proportion

NOMINAL = 0.95
BAND = (0.92, 0.975)
REPLICATES = 1000
SEED = 20240501


def _mc_se(reps: int) -> float:
    return math.sqrt(NOMINAL * (1 - NOMINAL) / reps)


def test_band_is_about_four_monte_carlo_standard_errors() -> None:
    se = _mc_se(REPLICATES)
    assert 4.0 < (NOMINAL - BAND[0]) / se < 4.5
    assert 3.5 < (BAND[1] - NOMINAL) / se < 4.0


@pytest.mark.req("REQ-STAT-COV")
@pytest.mark.req("REQ-STAT-AUC")
def test_delong_interval_covers_binormal_auc() -> None:
    # Binormal model: positives N(delta, 1), negatives N(0, 1): AUC = Phi(delta / sqrt 2).
    delta, n_pos, n_neg = 1.0, 60, 90
    truth = float(norm.cdf(delta / math.sqrt(2.0)))
    rng = np.random.default_rng(SEED)
    y = np.r_[np.ones(n_pos, dtype=np.int8), np.zeros(n_neg, dtype=np.int8)]
    covered = 0
    for _ in range(REPLICATES):
        s = np.r_[rng.normal(delta, 1.0, n_pos), rng.normal(0.0, 1.0, n_neg)]
        est = auc(y, s)
        covered += est.ci_low <= truth <= est.ci_high
    rate = covered / REPLICATES
    assert BAND[0] <= rate <= BAND[1], f"DeLong coverage {rate:.3f} outside {BAND}"


@pytest.mark.req("REQ-STAT-COV")
@pytest.mark.req("REQ-STAT-AUC")
def test_obuchowski_interval_covers_with_correlated_clusters() -> None:
    # Patients with 1-4 lesions sharing a patient effect u ~ N(0, 0.8²); lesion noise N(0, 1).
    # For lesions of different patients X - Y ~ N(delta, 2(0.64 + 1)); within-patient pairs are
    # ~1% of all pairs, so the truth is Phi(delta / sqrt(3.28)) to well within the band.
    delta, n_patients, reps = 1.2, 120, 500
    truth = float(norm.cdf(delta / math.sqrt(2 * (0.64 + 1.0))))
    rng = np.random.default_rng(SEED + 1)
    covered = 0
    for _ in range(reps):
        sizes = rng.integers(1, 5, n_patients)
        pid = np.repeat(np.arange(n_patients), sizes)
        u = np.repeat(rng.normal(0.0, 0.8, n_patients), sizes)
        y = (rng.random(pid.size) < 0.4).astype(np.int8)
        s = u + delta * y + rng.normal(size=pid.size)
        est = auc(y, s, clusters=pid)
        covered += est.ci_low <= truth <= est.ci_high
    rate = covered / reps
    # 500 replicates: MC SE 0.0097, so widen the band by the same number of SEs.
    low = NOMINAL - 4.3 * _mc_se(reps)
    high = min(NOMINAL + 3.6 * _mc_se(reps), 1.0)
    assert low <= rate <= high, f"Obuchowski coverage {rate:.3f} outside [{low:.3f}, {high:.3f}]"


@pytest.mark.req("REQ-STAT-COV")
@pytest.mark.req("REQ-STAT-PROP")
def test_wilson_interval_covers_known_proportion() -> None:
    p, n = 0.3, 80
    rng = np.random.default_rng(SEED + 2)
    ks = rng.binomial(n, p, REPLICATES)
    ests = [proportion(int(k), n, method="wilson") for k in ks]
    rate = sum(e.ci_low <= p <= e.ci_high for e in ests) / REPLICATES
    assert BAND[0] <= rate <= BAND[1], f"Wilson coverage {rate:.3f} outside {BAND}"
    # Exact coverage (no Monte-Carlo error): sum of binomial probabilities of covering k.
    exact = sum(
        binom.pmf(k, n, p)
        for k in range(n + 1)
        if (e := proportion(k, n, method="wilson")).ci_low <= p <= e.ci_high
    )
    assert BAND[0] <= exact <= BAND[1]
