"""Bootstrap CIs: exact agreement with scipy.stats.bootstrap on the same index matrix, slow
obviously-correct twins for BCa (cluster jackknife) and stratified draws, seeding, undefined
replicates, and the vectorised AUC against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.random import PCG64, Generator
from scipy import stats
from scipy.special import ndtr, ndtri
from sklearn.metrics import roc_auc_score

from validation.exceptions import InvalidArgumentError
from validation.stats.bootstrap import CHUNK, bootstrap, bootstrap_many, weighted_auc

pytestmark = pytest.mark.req("REQ-STAT-BOOT")

# Same index matrix and formulas as scipy: only floating summation order differs.
RTOL, ATOL = 1e-12, 1e-14


def plain_auc(y: np.ndarray, s: np.ndarray) -> float:
    """AUC from its definition, P(S+ > S-) + P(S+ = S-)/2 over all pairs (O(n^2), obviously
    correct); nan when one class is missing (an undefined replicate)."""
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    return float(np.mean(pos > neg) + 0.5 * np.mean(pos == neg))


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20251127)
    y = (rng.random(60) < 0.4).astype(np.int8)
    s = np.round(rng.normal(size=60) + 1.2 * y, 1)  # rounded: ties in the scores
    return y, s


@pytest.mark.parametrize(("method", "scipy_method"), [("percentile", "percentile"), ("bca", "BCa")])
def test_mean_matches_scipy_bootstrap(method: str, scipy_method: str) -> None:
    x = np.random.default_rng(7).lognormal(size=35)
    ours = bootstrap(np.mean, x, n_resamples=999, seed=11, method=method, confidence=0.9)
    ref = stats.bootstrap(
        (x,),
        np.mean,
        n_resamples=999,
        rng=Generator(PCG64(11)),
        method=scipy_method,
        confidence_level=0.9,
    )
    np.testing.assert_allclose(
        [ours.ci_low, ours.ci_high], ref.confidence_interval, rtol=RTOL, atol=ATOL
    )
    assert ours.se is not None
    np.testing.assert_allclose(ours.se, ref.standard_error, rtol=RTOL, atol=ATOL)
    assert ours.estimate == pytest.approx(x.mean(), rel=1e-15)
    assert ours.method == f"{method}-bootstrap"
    assert (ours.n, ours.n_units, ours.n_resamples, ours.n_undefined) == (35, 35, 999, 0)


@pytest.mark.parametrize(("method", "scipy_method"), [("percentile", "percentile"), ("bca", "BCa")])
def test_auc_plain_and_vectorised_match_scipy_paired(
    sample, method: str, scipy_method: str
) -> None:
    y, s = sample
    ref = stats.bootstrap(
        (y, s), plain_auc, paired=True, vectorized=False, n_resamples=600,
        rng=Generator(PCG64(3)), method=scipy_method,
    )  # fmt: skip
    plain = bootstrap(plain_auc, y, s, n_resamples=600, seed=3, method=method)
    fast = bootstrap(weighted_auc, y, s, n_resamples=600, seed=3, method=method, weighted=True)
    for ours in (plain, fast):
        np.testing.assert_allclose(
            [ours.ci_low, ours.ci_high], ref.confidence_interval, rtol=RTOL, atol=ATOL
        )
        assert ours.estimate == pytest.approx(roc_auc_score(y, s), rel=1e-14)


def slow_cluster_bca(y, s, clusters, *, seed: int, n_resamples: int, confidence: float):
    """Obviously-correct cluster BCa (Efron 1987; Davison & Hinkley 1997 sec. 3.8), loops only.

    Draws the documented index matrix ``integers(0, C, (B, C))`` over the sorted cluster labels,
    concatenates the drawn clusters, jackknifes one cluster at a time.
    """
    labels = sorted(set(clusters.tolist()))
    members = {c: np.flatnonzero(clusters == c) for c in labels}
    picks = Generator(PCG64(seed)).integers(0, len(labels), size=(n_resamples, len(labels)))
    reps = []
    for row in picks:
        rows = np.concatenate([members[labels[j]] for j in row])
        reps.append(plain_auc(y[rows], s[rows]))
    theta = plain_auc(y, s)
    jack = []
    for c in labels:
        keep = clusters != c
        jack.append(plain_auc(y[keep], s[keep]))
    reps_a, jack_a = np.array(reps), np.array(jack)
    z0 = ndtri((np.sum(reps_a < theta) + np.sum(reps_a <= theta)) / (2 * len(reps_a)))
    d = jack_a.mean() - jack_a
    a = np.sum(d**3) / (6 * np.sum(d**2) ** 1.5)
    alpha = (1 - confidence) / 2
    levels = [ndtr(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in (ndtri(alpha), ndtri(1 - alpha))]
    return theta, np.quantile(reps_a, levels), z0, a


def test_cluster_bca_matches_slow_twin(sample) -> None:
    y, s = sample
    clusters = np.array([f"pt{i // 3:02d}" for i in range(len(y))])  # 20 patients x 3 lesions
    theta, ci, z0, a = slow_cluster_bca(y, s, clusters, seed=5, n_resamples=300, confidence=0.95)
    for statistic, weighted in ((plain_auc, False), (weighted_auc, True)):
        ours = bootstrap(
            statistic, y, s, n_resamples=300, seed=5, clusters=clusters, weighted=weighted
        )
        assert ours.n_undefined == 0
        assert ours.estimate == pytest.approx(theta, rel=1e-14)
        np.testing.assert_allclose([ours.ci_low, ours.ci_high], ci, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose([ours.z0, ours.acceleration], [z0, a], rtol=RTOL, atol=ATOL)
        assert (ours.method, ours.n_units, ours.n) == ("cluster bca-bootstrap", 20, 60)


def test_stratified_draws_keep_stratum_sizes_and_follow_documented_order(sample) -> None:
    y, s = sample
    res = bootstrap(np.mean, y, n_resamples=2 * CHUNK + 5, seed=9, strata=y, method="percentile")
    assert (
        res.ci_low == res.ci_high == pytest.approx(y.mean(), rel=1e-15)
    )  # every replicate: same prevalence
    # Slow twin of the documented scheme: per replicate, per sorted stratum, integers(0, m, m).
    rng = Generator(PCG64(9))
    groups = [np.flatnonzero(y == 0), np.flatnonzero(y == 1)]
    reps: list[float] = []
    for _ in range(2 * CHUNK + 5):
        rows = np.hstack([g[rng.integers(0, len(g), size=len(g))] for g in groups])
        reps.append(plain_auc(y[rows], s[rows]))
    ours = bootstrap(
        plain_auc, y, s, n_resamples=2 * CHUNK + 5, seed=9, strata=y, method="percentile"
    )
    np.testing.assert_allclose(
        [ours.ci_low, ours.ci_high], np.quantile(reps, [0.025, 0.975]), rtol=RTOL, atol=ATOL
    )
    assert ours.method == "stratified percentile-bootstrap"


def test_same_seed_same_bytes_other_seed_differs(sample) -> None:
    y, s = sample
    runs = [bootstrap(weighted_auc, y, s, seed=seed, weighted=True, strata=y) for seed in (1, 1, 2)]
    assert repr(runs[0]) == repr(runs[1])
    assert runs[0].ci_low != runs[2].ci_low


def test_undefined_replicates_are_counted_not_dropped_silently() -> None:
    y = np.array([1] + [0] * 9)
    s = np.linspace(0.0, 1.0, 10)
    res = bootstrap(weighted_auc, y, s, n_resamples=400, seed=4, weighted=True, method="percentile")
    draws = Generator(PCG64(4)).integers(0, 10, size=(400, 10))
    expected = int(np.sum(~(draws == 0).any(axis=1)))  # resamples that miss the only positive
    assert expected > 0
    assert res.n_undefined == expected
    assert f"{expected} of 400 replicates undefined and excluded" in res.method
    assert res.estimable
    stratified = bootstrap(
        weighted_auc, y, s, n_resamples=400, seed=4, weighted=True, strata=y, method="percentile"
    )
    assert stratified.n_undefined == 0


@pytest.mark.req("REQ-STAT-EDGE")
def test_not_estimable_when_statistic_undefined_on_data() -> None:
    res = bootstrap(weighted_auc, np.zeros(8), np.arange(8.0), seed=0, weighted=True)
    assert not res.estimable
    assert math.isnan(res.estimate)
    assert math.isnan(res.ci_low)
    assert "undefined on the original data" in str(res.reason)


@pytest.mark.req("REQ-STAT-EDGE")
def test_bca_not_estimable_when_estimate_outside_replicates() -> None:
    x = np.arange(10.0)  # a resample has all 10 values with probability 10!/10**10 ~ 0.0004

    def n_distinct(a: np.ndarray) -> float:
        return float(len(np.unique(a)))

    res = bootstrap(n_distinct, x, n_resamples=200, seed=0, method="bca")
    assert not res.estimable
    assert math.isinf(res.z0) or math.isnan(res.ci_low)
    assert "use method='percentile'" in str(res.reason)
    assert bootstrap(n_distinct, x, n_resamples=200, seed=0, method="percentile").estimable


@settings(max_examples=30)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(0, 3)), min_size=2, max_size=25
    )
)
def test_weighted_auc_equals_auc_of_resampled_rows(rows) -> None:
    y = np.array([r[0] for r in rows])
    s = np.array([r[1] for r in rows], dtype=float)  # small integer scores: many ties
    w = np.array([[r[2] for r in rows], [1] * len(rows)], dtype=float)
    got = weighted_auc(w, y, s)
    for b in range(2):
        idx = np.repeat(np.arange(len(rows)), w[b].astype(int))
        expected = plain_auc(y[idx], s[idx])
        if math.isnan(expected):
            assert math.isnan(got[b])
        else:
            assert got[b] == pytest.approx(expected, rel=1e-12)


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_resamples": 1}, "n_resamples must be an integer >= 2"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
        ({"method": "bc"}, "method must be one of 'bca', 'percentile'"),
        ({"confidence": 95}, "confidence must be a number strictly between 0 and 1"),
        ({"strata": [0, 1]}, "strata must be a 1-D array of 6 labels"),
        ({"clusters": [1, 1, 1, 1, 1, 1]}, "clusters must be at least 2 distinct clusters"),
        (
            {"clusters": [1, 1, 2, 2, 3, 3], "strata": [0, 1, 0, 0, 1, 1]},
            "strata must be constant within each cluster",
        ),
        ({"clusters": [1.0, np.nan, 2, 2, 3, 3]}, "clusters must be labels without missing values"),
    ],
)
def test_bad_arguments(kwargs, match: str) -> None:
    base = {"seed": 0, "n_resamples": 20}
    with pytest.raises(InvalidArgumentError, match=match):
        bootstrap(np.mean, np.arange(6.0), **{**base, **kwargs})


@pytest.mark.req("REQ-STAT-EDGE")
def test_bad_data_and_statistic() -> None:
    with pytest.raises(InvalidArgumentError, match="the input arrays must be of equal length"):
        bootstrap(plain_auc, np.ones(5), np.ones(6), seed=0)
    with pytest.raises(InvalidArgumentError, match="statistic must be a callable"):
        bootstrap("auc", np.ones(5), seed=0)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidArgumentError, match=r"statistic must be a weighted statistic returning shape \(1,\)"
    ):
        bootstrap(lambda w, x: 0.5, np.arange(5.0), seed=0, weighted=True)


# --------------------------------------------------------------- several outputs, one stream --


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("design", ["plain", "strata", "clusters"])
def test_bootstrap_many_equals_one_bootstrap_per_output(method: str, design: str) -> None:
    """Output j of ``bootstrap_many`` is the interval ``bootstrap`` gives for value j alone with
    the same seed: the same replicates, drawn once (a wrong version drawing anew per output, or
    mixing up columns, fails)."""
    rng = np.random.default_rng(31)
    n = 90
    x = rng.normal(size=n)
    group = (rng.random(n) < 0.4).astype(int)
    kwargs = {
        "n_resamples": 300,
        "seed": 6,
        "method": method,
        "strata": group if design == "strata" else None,
        "clusters": rng.integers(0, 30, n) if design == "clusters" else None,
    }
    parts = (np.mean, np.median, lambda v: float(np.quantile(v, 0.9)))

    def several(v: np.ndarray) -> list[float]:
        return [float(f(v)) for f in parts]

    many = bootstrap_many(several, x, outputs=3, **kwargs)
    for j, f in enumerate(parts):
        one = bootstrap(lambda v, _f=f: float(_f(v)), x, **kwargs)
        assert repr(many[j]) == repr(one)
    assert len({m.ci_low for m in many}) == 3


@pytest.mark.parametrize("blocks", [False, True])
def test_band_from_one_stream_equals_a_bootstrap_per_specificity(blocks: bool) -> None:
    """The sort-once band statistic at 5 specificities at once (draws path) against one
    bootstrap per specificity."""
    from validation.stats.roc_band import SortedSensitivity

    rng = np.random.default_rng(12)
    n = 333
    y = (rng.random(n) < 0.4).astype(np.int8)
    s = np.round(rng.normal(size=n) + y, 1)
    specs = (0.1, 0.35, 0.5, 0.8, 0.95)
    kwargs = {
        "n_resamples": 600,
        "seed": 2,
        "method": "percentile",
        "strata": y,
        "weighted": True,
        "map_blocks": (lambda fn, ids: [fn(b) for b in ids]) if blocks else None,
    }
    stat = SortedSensitivity(y, s, specs)
    many = bootstrap_many(stat, y, s, outputs=len(specs), **kwargs)
    for j, spec in enumerate(specs):
        assert repr(many[j]) == repr(bootstrap(stat.at(spec), y, s, **kwargs))


def test_bootstrap_many_refuses_a_wrong_count_of_outputs() -> None:
    x = np.arange(10.0)
    with pytest.raises(InvalidArgumentError, match="outputs must be an integer >= 1"):
        bootstrap_many(lambda v: [1.0], x, outputs=0, n_resamples=10, seed=1)
    with pytest.raises(InvalidArgumentError, match=r"statistic must be 2 value\(s\)"):
        bootstrap_many(lambda v: [1.0, 2.0, 3.0], x, outputs=2, n_resamples=10, seed=1)
    with pytest.raises(InvalidArgumentError, match=r"weighted statistic returning shape \(1, 2\)"):
        bootstrap_many(
            lambda w, v: np.ones(len(w)), x, outputs=2, n_resamples=10, seed=1, weighted=True
        )
