"""Sort-once bootstrap statistics equal the plain bootstrap given the same resampling.

The plain twin resamples the rows (``np.repeat`` by multiplicity) and recomputes the AUC from its
definition with exact fractions; the sort-once value must equal it exactly (both are the correctly
rounded exact AUC). Through :func:`validation.stats.bootstrap` (same seed, same multiplicities)
the sort-once interval equals the plain per-replicate bootstrap bit for bit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.exceptions import InvalidArgumentError
from validation.stats import auc, compare_auc
from validation.stats.bootstrap import bootstrap, weighted_auc
from validation.stats.rank_bootstrap import SortedAUC, SortedAUCDifference

pytestmark = pytest.mark.req("REQ-STAT-BOOT")


def exact_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC of the rows as given, by exact fractions over all pairs (O(n^2))."""
    pos, neg = s[y == 1].tolist(), s[y == 0].tolist()
    if not pos or not neg:
        return math.nan
    wins = sum(2 if p > q else 1 if p == q else 0 for p in pos for q in neg)
    return float(Fraction(wins, 2 * len(pos) * len(neg)))


def _resampled(w: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    idx = np.repeat(np.arange(w.size), w.astype(np.int64))
    return [a[idx] for a in arrays]


rows = st.integers(4, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),  # integer scores: ties
        st.lists(st.floats(-2, 2, allow_nan=False, width=32), min_size=n, max_size=n),
        st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=4),
    )
)


@given(rows)
@settings(max_examples=60, deadline=None)
def test_sorted_auc_equals_exact_auc_of_resampled_rows(data) -> None:
    y_list, ints, floats, weight_rows = data
    y = np.asarray(y_list, dtype=np.int8)
    w = np.asarray(weight_rows, dtype=np.float64)
    for s in (np.asarray(ints), np.asarray(floats, dtype=np.float32)):
        got = SortedAUC(y, s)(w)
        diff = SortedAUCDifference(y, s, -s)(w)
        for k in range(len(w)):
            yy, ss = _resampled(w[k], y, s)
            want = exact_auc(yy, ss)
            if math.isnan(want):
                assert math.isnan(got[k])
                assert math.isnan(diff[k])
            else:
                assert got[k] == want
                assert math.isclose(diff[k], want - exact_auc(yy, -ss), abs_tol=1e-15)
                plain = auc(yy, ss).estimate
                assert math.isclose(got[k], plain, abs_tol=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_sort_once_bootstrap_equals_plain_bootstrap_same_resampling(ties: bool) -> None:
    rng = np.random.default_rng(5)
    n = 120
    y = (rng.random(n) < 0.4).astype(np.int8)
    s = rng.normal(size=n) + y
    if ties:
        s = np.round(s, 1)
    kwargs = {"n_resamples": 300, "seed": 9, "method": "percentile", "strata": y}

    def plain(yy: np.ndarray, ss: np.ndarray) -> float:
        return exact_auc(yy, ss)

    fast = bootstrap(SortedAUC(y, s), y, s, weighted=True, **kwargs)
    slow = bootstrap(plain, y, s, **kwargs)
    assert (fast.estimate, fast.ci_low, fast.ci_high, fast.se) == (
        slow.estimate,
        slow.ci_low,
        slow.ci_high,
        slow.se,
    )
    assert math.isclose(fast.estimate, auc(y, s).estimate, abs_tol=1e-12)
    old = bootstrap(weighted_auc, y, s, weighted=True, **kwargs)  # the earlier vectorised AUC
    assert math.isclose(old.ci_low, fast.ci_low, abs_tol=1e-12)
    assert math.isclose(old.ci_high, fast.ci_high, abs_tol=1e-12)


def test_paired_difference_bootstrap_equals_plain_and_centres_on_delong() -> None:
    rng = np.random.default_rng(8)
    n = 100
    y = (rng.random(n) < 0.5).astype(np.int8)
    a = rng.normal(size=n) + y
    b = np.round(rng.normal(size=n) + 0.5 * y, 1)
    kwargs = {"n_resamples": 200, "seed": 3, "method": "bca", "strata": y}

    def plain(yy: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> float:
        return exact_auc(yy, aa) - exact_auc(yy, bb)

    fast = bootstrap(SortedAUCDifference(y, a, b), y, a, b, weighted=True, **kwargs)
    slow = bootstrap(plain, y, a, b, **kwargs)
    assert math.isclose(fast.estimate, compare_auc(y, a, b).estimate, abs_tol=1e-12)
    assert math.isclose(fast.ci_low, slow.ci_low, abs_tol=1e-12)
    assert math.isclose(fast.ci_high, slow.ci_high, abs_tol=1e-12)


def test_bad_weights_are_refused() -> None:
    stat = SortedAUC([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(InvalidArgumentError, match=r"weights must be a \(k, 4\) multiplicity"):
        stat(np.ones((2, 5)))
    with pytest.raises(InvalidArgumentError, match="the input arrays must be of equal length"):
        SortedAUCDifference([0, 1, 0], [0.1, 0.2, 0.3], [0.1, 0.2])
