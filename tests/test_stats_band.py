"""The ROC band's sort-once statistic equals the reference function, bit for bit.

:class:`SortedSensitivity` must give exactly the numbers of
:func:`weighted_sensitivity_at_specificity` (the definition of the band's statistic, and the one
the runner used before): on multiplicity matrices directly, and through
:func:`validation.stats.bootstrap`, where its unclustered replicates are computed from the draws
instead of a matrix -- so the band of a dossier keeps its bytes.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from draw_forms import MatrixForm, draw_case, same_interval, serial_blocks
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.exceptions import InvalidArgumentError
from validation.runner.sections import BAND_SPECIFICITIES, discrimination_section
from validation.stats.bootstrap import bootstrap
from validation.stats.roc import weighted_sensitivity_at_specificity
from validation.stats.roc_band import SortedSensitivity

pytestmark = pytest.mark.req("REQ-STAT-BOOT")

SPECS = (0.0, 0.05, 0.1, 0.3, 0.35, 0.5, 0.7, 0.95, 1.0)

rows = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(-3, 3), min_size=n, max_size=n),  # integer scores: ties
        st.lists(st.floats(-2, 2, allow_nan=False, width=32), min_size=n, max_size=n),
        st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=5),
        st.sampled_from(SPECS),
    )
)


@given(rows)
@settings(max_examples=80, deadline=None)
def test_matrix_form_equals_the_reference_bit_for_bit(data) -> None:
    """Integer, float32 and float64 scores with ties; rows lacking a class give nan in both."""
    y_list, ints, floats, weight_rows, spec = data
    y = np.asarray(y_list, dtype=np.int8)
    w = np.asarray(weight_rows, dtype=np.float64)
    f32 = np.asarray(floats, dtype=np.float32)
    for s in (np.asarray(ints), f32, np.round(f32.astype(np.float64), 1)):
        want = weighted_sensitivity_at_specificity(w, y, s, specificity=spec)
        got = SortedSensitivity(y, s, spec)(w)
        np.testing.assert_array_equal(got, want)  # nan where the reference is nan
        np.testing.assert_array_equal(SortedSensitivity(y, s, 0.5).at(spec)(w), want)


def test_fractional_weights_give_the_reference_sums() -> None:
    """Non-integer weights: the running sums are taken in the reference's order, so even
    rounded sums agree bit for bit (a pairwise ``sum`` would differ in the last place)."""
    rng = np.random.default_rng(3)
    n = 500
    y = (rng.random(n) < 0.3).astype(np.int8)
    s = np.round(rng.normal(size=n) + y, 1)
    w = rng.random((20, n)) * 3.0
    w[3, y == 1] = 0.0  # no positive weight: nan
    for spec in BAND_SPECIFICITIES:
        want = weighted_sensitivity_at_specificity(w, y, s, specificity=spec)
        np.testing.assert_array_equal(SortedSensitivity(y, s, spec)(w), want)
    assert math.isnan(SortedSensitivity(y, s, 0.5)(w)[3])


def _exact_sens_at_spec(y: np.ndarray, s: np.ndarray, spec: Fraction) -> float:
    """Brute force in exact fractions: the best sensitivity of any threshold (distinct scores
    and +inf) whose specificity is at least ``spec``."""
    neg, pos = s[y == 0].tolist(), s[y == 1].tolist()
    best = Fraction(0)
    for t in [*sorted(set(s.tolist())), math.inf]:
        if Fraction(sum(v < t for v in neg), len(neg)) >= spec:
            best = max(best, Fraction(sum(v >= t for v in pos), len(pos)))
    return float(best)


def test_specificity_reached_exactly_despite_float_rounding() -> None:
    """0.55 * 100 is 55.00000000000001 in float64: without the reference's 1e-9 tolerance (a
    plausible wrong version) 55 negatives of 100 below the threshold 55 would not reach 0.55, and
    the next, stricter threshold 56 would be read (sensitivity 0.8 instead of 1)."""
    assert 0.55 * 100 > 55
    y = np.array([0] * 100 + [1] * 5, dtype=np.int8)
    s = np.array([*range(100), 55, 60.5, 70.5, 80.5, 99.5])
    want = _exact_sens_at_spec(y, s, Fraction(55, 100))
    assert want == 1.0
    assert SortedSensitivity(y, s, 0.55)(np.ones((1, 105)))[0] == want
    assert weighted_sensitivity_at_specificity(np.ones((1, 105)), y, s, specificity=0.55) == want
    strata = [np.arange(100), np.arange(100, 105)]  # negatives, positives: as the bootstrap does
    evaluate = SortedSensitivity(y, s, 0.55).draw_evaluator(strata)
    assert evaluate([np.arange(100), np.arange(5)]) == want
    assert SortedSensitivity(y, s, 0.55).draw_evaluator([np.arange(105)])([np.arange(105)]) == want


class Spy:
    """The statistic with its draw evaluator, counting how often the bootstrap asks for one."""

    def __init__(self, stat: SortedSensitivity) -> None:
        self.stat, self.evaluators = stat, 0

    def __call__(self, weights: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        return self.stat(weights)

    def draw_evaluator(self, groups):
        self.evaluators += 1
        return self.stat.draw_evaluator(groups)


def reference(w: np.ndarray, y: np.ndarray, s: np.ndarray, *, spec: float) -> np.ndarray:
    """The runner's statistic before the sort-once one (a closure per specificity)."""
    return weighted_sensitivity_at_specificity(w, y, s, specificity=spec)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("stratified", [False, True])
@pytest.mark.parametrize("blocks", [False, True])
def test_draws_matrix_and_reference_give_the_same_replicates(
    ties: bool, stratified: bool, blocks: bool
) -> None:
    """600 replicates (:func:`draw_forms.draw_case`): the draws, the multiplicity matrix and the
    reference function give the same interval and standard error bit for bit, the draws path
    being taken."""
    y, s, kwargs = draw_case(ties=ties, stratified=stratified, blocks=blocks)
    base = SortedSensitivity(y, s, 0.5)
    for spec in (0.05, 0.5, 0.8, 0.95):
        spy = Spy(base.at(spec))
        by_draws = bootstrap(spy, y, s, **kwargs)
        assert spy.evaluators == 3  # one per chunk: the draws were used
        by_matrix = bootstrap(MatrixForm(base.at(spec)), y, s, **kwargs)
        by_reference = bootstrap(
            lambda w, yy, ss, sp=spec: reference(w, yy, ss, spec=sp), y, s, **kwargs
        )
        assert same_interval(by_draws, by_matrix)
        assert same_interval(by_draws, by_reference)
        assert by_draws.ci_low < by_draws.ci_high


def test_unstratified_draws_count_undefined_replicates_like_the_reference() -> None:
    """Two positives in 40 rows, unstratified: some replicates draw no positive (undefined)."""
    y = np.zeros(40, dtype=np.int8)
    y[[3, 17]] = 1
    s = np.arange(40.0)
    kwargs = {"n_resamples": 300, "seed": 2, "method": "percentile", "weighted": True}
    by_draws = bootstrap(SortedSensitivity(y, s, 0.9), y, s, **kwargs)
    by_reference = bootstrap(lambda w, yy, ss: reference(w, yy, ss, spec=0.9), y, s, **kwargs)
    assert by_draws.n_undefined > 0
    assert same_interval(by_draws, by_reference)


def _old_band(y, score, *, confidence, replicates, seed, clusters=None):
    """The band as ``discrimination_section`` computed it before the sort-once statistic."""
    low, high = [], []
    for spec in BAND_SPECIFICITIES:
        band = bootstrap(
            lambda w, yy, ss, sp=spec: reference(w, yy, ss, spec=sp),
            y,
            score,
            n_resamples=replicates,
            seed=seed,
            method="percentile",
            confidence=confidence,
            strata=y if clusters is None else None,
            clusters=clusters,
            weighted=True,
            map_blocks=serial_blocks,
        )
        low.append(band.ci_low)
        high.append(band.ci_high)
    return low, high


@pytest.mark.parametrize("clustered", [False, True])
def test_runner_band_equals_the_band_computed_before(clustered: bool) -> None:
    """The dossier's band keeps its numbers: stratified (from the draws) and clustered (the
    multiplicity matrix), against the old closure over the reference function."""
    rng = np.random.default_rng(11)
    n = 260
    y = (rng.random(n) < 0.4).astype(np.float64)
    score = np.round(1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y))), 2)
    clusters = rng.integers(0, 90, size=n) if clustered else None
    options = {"confidence": 0.9, "replicates": 300, "seed": 17, "clusters": clusters}
    got = discrimination_section(y, score, 0.5, **options)
    assert got.band is not None
    low, high = _old_band(y, score, **options)
    assert repr(got.band.sens_low) == repr(tuple(low))
    assert repr(got.band.sens_high) == repr(tuple(high))


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, True, "0.9", None])
def test_a_bad_specificity_is_refused_like_the_reference(bad) -> None:
    y, s = [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]
    message = r"specificity must be a number in \[0, 1\]; got"
    with pytest.raises(InvalidArgumentError, match=message):
        SortedSensitivity(y, s, bad)
    with pytest.raises(InvalidArgumentError, match=message):
        SortedSensitivity(y, s, 0.5).at(bad)
    with pytest.raises(InvalidArgumentError, match=message):
        weighted_sensitivity_at_specificity(np.ones((1, 4)), y, s, specificity=bad)


def test_bad_data_and_weights_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="y_true must be labels 0 or 1"):
        SortedSensitivity([0, 2, 1], [0.1, 0.2, 0.3], 0.5)
    with pytest.raises(InvalidArgumentError, match="y_score must be finite numbers"):
        SortedSensitivity([0, 1, 1], [0.1, math.nan, 0.3], 0.5)
    with pytest.raises(InvalidArgumentError, match="the input arrays must be of equal length"):
        SortedSensitivity([0, 1, 1], [0.1, 0.2], 0.5)
    stat = SortedSensitivity([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], 0.5)
    with pytest.raises(InvalidArgumentError, match=r"weights must be a \(k, 4\) multiplicity"):
        stat(np.ones((2, 5)))
    with pytest.raises(InvalidArgumentError, match="weights must be non-negative finite"):
        stat(np.array([[1.0, -1.0, 1.0, 1.0]]))
