"""Sort-once bootstrap statistics equal the plain bootstrap given the same resampling.

The plain twin resamples the rows (``np.repeat`` by multiplicity) and recomputes the AUC from its
definition with exact fractions; the sort-once value must equal it exactly (both are the correctly
rounded exact AUC). Through :func:`validation.stats.bootstrap` (same seed, same unit order, same
draws) the sort-once interval -- computed from the draws, replicate by replicate -- equals the
plain per-replicate bootstrap and the weighted (multiplicity-matrix) form bit for bit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from draw_forms import MatrixForm, draw_case, same_interval
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


class Plain:
    """The plain twin: ``statistic(*resampled rows)`` by exact fractions, listing the units in
    the order the sort-once statistic lists them (so that the same seed draws the same rows)."""

    def __init__(self, fn, unit_order: np.ndarray) -> None:
        self.fn, self.unit_order = fn, unit_order

    def __call__(self, *arrays: np.ndarray) -> float:
        return self.fn(*arrays)


@pytest.mark.parametrize("ties", [False, True])
def test_sort_once_bootstrap_equals_plain_bootstrap_same_resampling(ties: bool) -> None:
    rng = np.random.default_rng(5)
    n = 120
    y = (rng.random(n) < 0.4).astype(np.int8)
    s = rng.normal(size=n) + y
    if ties:
        s = np.round(s, 1)
    kwargs = {"n_resamples": 300, "seed": 9, "method": "percentile", "strata": y}
    stat = SortedAUC(y, s)
    fast = bootstrap(stat, y, s, weighted=True, **kwargs)
    slow = bootstrap(Plain(exact_auc, stat.unit_order), y, s, **kwargs)
    assert same_interval(fast, slow)
    assert math.isclose(fast.estimate, auc(y, s).estimate, abs_tol=1e-12)
    old = bootstrap(weighted_auc, y, s, weighted=True, **kwargs)  # rows in row order
    assert not same_interval(old, fast)  # another listing of the units draws other rows ...
    assert math.isclose(old.ci_low, fast.ci_low, abs_tol=0.05)  # ... of the same distribution


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("stratified", [False, True])
@pytest.mark.parametrize("blocks", [False, True])
def test_draws_and_multiplicity_matrix_give_the_same_replicates(
    ties: bool, stratified: bool, blocks: bool
) -> None:
    """600 replicates (:func:`draw_forms.draw_case`): every interval bound agrees bit for bit."""
    y, s, kwargs = draw_case(ties=ties, stratified=stratified, blocks=blocks)
    stat = SortedAUC(y, s)
    by_draws = bootstrap(stat, y, s, **kwargs)
    by_matrix = bootstrap(MatrixForm(stat), y, s, **kwargs)
    assert same_interval(by_draws, by_matrix)
    assert by_draws.n_undefined == by_matrix.n_undefined
    other = np.round(np.random.default_rng(22).normal(size=y.size) + 0.3 * y, 2)
    diff = SortedAUCDifference(y, s, other)
    assert same_interval(
        bootstrap(diff, y, s, other, **kwargs), bootstrap(MatrixForm(diff), y, s, other, **kwargs)
    )


def test_unstratified_draws_count_undefined_replicates_like_the_matrix() -> None:
    """Two positives in 40 rows, unstratified: some replicates draw no positive (undefined)."""
    y = np.zeros(40, dtype=np.int8)
    y[[3, 17]] = 1
    s = np.arange(40.0)
    kwargs = {"n_resamples": 300, "seed": 2, "method": "percentile", "weighted": True}
    stat = SortedAUC(y, s)
    by_draws = bootstrap(stat, y, s, **kwargs)
    by_matrix = bootstrap(MatrixForm(stat), y, s, **kwargs)
    assert by_draws.n_undefined > 0
    assert by_draws.n_undefined == by_matrix.n_undefined
    assert same_interval(by_draws, by_matrix)


def test_paired_difference_bootstrap_equals_plain_and_centres_on_delong() -> None:
    rng = np.random.default_rng(8)
    n = 100
    y = (rng.random(n) < 0.5).astype(np.int8)
    a = rng.normal(size=n) + y
    b = np.round(rng.normal(size=n) + 0.5 * y, 1)
    kwargs = {"n_resamples": 200, "seed": 3, "method": "bca", "strata": y}

    def plain(yy: np.ndarray, aa: np.ndarray, bb: np.ndarray) -> float:
        return exact_auc(yy, aa) - exact_auc(yy, bb)

    stat = SortedAUCDifference(y, a, b)
    fast = bootstrap(stat, y, a, b, weighted=True, **kwargs)
    slow = bootstrap(Plain(plain, stat.unit_order), y, a, b, **kwargs)
    assert math.isclose(fast.estimate, compare_auc(y, a, b).estimate, abs_tol=1e-12)
    assert math.isclose(fast.ci_low, slow.ci_low, abs_tol=1e-12)
    assert math.isclose(fast.ci_high, slow.ci_high, abs_tol=1e-12)


def test_a_unit_order_that_is_not_a_permutation_is_refused() -> None:
    y = np.array([0, 1, 0, 1], dtype=np.int8)
    s = np.array([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(
        InvalidArgumentError, match=r"permutation of the 4 rows; got 1 row\(s\) missing"
    ):
        bootstrap(Plain(exact_auc, np.array([0, 1, 1, 3])), y, s, n_resamples=10, seed=1)


def test_bad_weights_are_refused() -> None:
    stat = SortedAUC([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(InvalidArgumentError, match=r"weights must be a \(k, 4\) multiplicity"):
        stat(np.ones((2, 5)))
    with pytest.raises(InvalidArgumentError, match="the input arrays must be of equal length"):
        SortedAUCDifference([0, 1, 0], [0.1, 0.2, 0.3], [0.1, 0.2])
