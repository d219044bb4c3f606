"""Confidence-weighted error analysis: hand-worked tiny examples, slow twins for the
risk-coverage curve (loop over coverages; brute force over tie orders), referral limits."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.exceptions import InvalidArgumentError
from validation.stats.classification import diagnostic
from validation.stats.confidence import (
    call_confidence,
    error_analysis,
    referral,
    risk_coverage,
)

pytestmark = pytest.mark.req("REQ-STAT-ERR")

# Hand-worked example, threshold 0.5 (confidence = max(p, 1 - p)):
#  id  p     y  call  conf  error
#  a   0.95  0  1     0.95  yes   (a confident false positive)
#  b   0.92  1  1     0.92  no
#  c   0.25  0  0     0.75  no
#  d   0.42  1  0     0.58  yes
#  e   0.56  0  1     0.56  yes
#  f   0.04  0  0     0.96  no
IDS = ["f", "e", "d", "c", "b", "a"]  # deliberately not in row order
P = [0.04, 0.56, 0.42, 0.25, 0.92, 0.95]
Y = [0, 0, 1, 0, 1, 0]
Z95 = 1.959963984540054


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927) score interval from its textbook formula (independent of statsmodels)."""
    centre = (k + Z95**2 / 2) / (n + Z95**2)
    half = Z95 / (n + Z95**2) * math.sqrt(k * (n - k) / n + Z95**2 / 4)
    return centre - half, centre + half


def test_confidence_definition_by_hand() -> None:
    # t = 0.4: p = t -> 0.5; p = 0.7 -> 0.5 + 0.5*0.3/0.6; p = 0.2 -> 0.5 + 0.5*0.2/0.4; ends -> 1
    got = call_confidence([0.4, 0.7, 0.2, 1.0, 0.0], threshold=0.4)
    np.testing.assert_allclose(got, [0.5, 0.75, 0.75, 1.0, 1.0], rtol=1e-14)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20))
def test_confidence_at_half_is_probability_of_called_class(p: list[float]) -> None:
    np.testing.assert_allclose(
        call_confidence(p, threshold=0.5), np.maximum(p, 1 - np.asarray(p)), atol=1e-15
    )


def test_error_analysis_hand_worked() -> None:
    ea = error_analysis(Y, P, threshold=0.5, ids=IDS, high_confidence=0.9)
    assert (ea.n, ea.errors) == (6, 3)
    assert ea.error_rate.estimate == 0.5
    np.testing.assert_allclose(
        [ea.error_rate.ci_low, ea.error_rate.ci_high], wilson(3, 6), rtol=1e-12
    )
    # bins [.5,.6) d,e: 2 errors of 2; [.6,.7) empty; [.7,.8) c; [.8,.9) empty; [.9,1] a,b,f: 1 of 3
    assert [(b.lower, b.upper, b.n, b.errors) for b in ea.bins] == [
        (0.5, 0.6, 2, 2), (0.6, 0.7, 0, 0), (0.7, 0.8, 1, 0), (0.8, 0.9, 0, 0), (0.9, 1.0, 3, 1),
    ]  # fmt: skip
    assert not ea.bins[1].error_rate.estimable  # empty bin: nan with a reason, not 0
    assert math.isnan(ea.bins[1].error_rate.estimate)
    np.testing.assert_allclose(
        [ea.bins[4].error_rate.ci_low, ea.bins[4].error_rate.ci_high], wilson(1, 3), rtol=1e-12
    )
    # confidence-weighted: (0.95 + 0.58 + 0.56) / (0.95 + 0.92 + 0.75 + 0.58 + 0.56 + 0.96)
    assert ea.confidence_weighted_error_rate == pytest.approx(2.09 / 4.72, rel=1e-12)
    assert (ea.high_confidence_n, ea.high_confidence_errors) == (3, 1)
    assert ea.high_confidence_ids == ("a",)
    assert ea.high_confidence_error_rate.estimate == pytest.approx(1 / 3)
    # risk-coverage, most confident first: f a b c d e; errors 0 1 1 1 2 3 -> risk 0 1/2 1/3 1/4 2/5 3/6
    rc = ea.risk_coverage
    np.testing.assert_allclose(rc.risk, [0, 1 / 2, 1 / 3, 1 / 4, 2 / 5, 3 / 6], rtol=1e-14)
    np.testing.assert_allclose(rc.coverage, np.arange(1, 7) / 6, rtol=1e-14)
    assert rc.aurc == pytest.approx((1 / 2 + 1 / 3 + 1 / 4 + 2 / 5 + 1 / 2) / 6, rel=1e-14)
    # optimal: the 3 errors last -> risk 0 0 0 1/4 2/5 3/6
    assert rc.optimal_aurc == pytest.approx((1 / 4 + 2 / 5 + 1 / 2) / 6, rel=1e-14)
    assert rc.eaurc == pytest.approx((1 / 2 + 1 / 3) / 6, rel=1e-12)
    assert rc.error_rate == 0.5
    assert "rescaled to [0.5, 1]" in ea.confidence_definition


def test_high_confidence_ids_sorted_and_threshold_explicit() -> None:
    ea = error_analysis(Y, P, threshold=0.5, ids=IDS, high_confidence=0.55)
    assert ea.high_confidence_ids == ("a", "d", "e")  # sorted, not row order (e, d, a)
    # t = 0.3: d (p = .42, y = 1) turns positive and right; errors a, e; conf(a) = .5 + .5*.65/.7
    shifted = error_analysis(Y, P, threshold=0.3, ids=IDS, high_confidence=0.95)
    assert shifted.errors == 2
    assert shifted.high_confidence_ids == ("a",)
    assert shifted.high_confidence_n == 1  # only a: .9643; b .9429 and f .9333 fall below


def slow_aurc_over_tie_orders(conf: list[float], wrong: list[bool]) -> float:
    """Average, over every order consistent with descending confidence, of the mean over coverages
    k = 1..n of the error rate among the first k. Brute force over permutations (n <= 7)."""
    totals = []
    for perm in itertools.permutations(range(len(conf))):
        if any(conf[perm[i]] < conf[perm[i + 1]] for i in range(len(perm) - 1)):
            continue
        risks = [sum(wrong[j] for j in perm[:k]) / k for k in range(1, len(perm) + 1)]
        totals.append(sum(risks) / len(risks))
    return sum(totals) / len(totals)


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.1, 0.3, 0.45, 0.6, 0.7, 0.9]), st.integers(0, 1)),
        min_size=1,
        max_size=6,
    )
)
def test_aurc_matches_slow_twin_with_ties(cases) -> None:
    p = [c[0] for c in cases]
    y = [c[1] for c in cases]
    rc = risk_coverage(y, p, threshold=0.5)
    conf = call_confidence(p, threshold=0.5).tolist()
    wrong = [(pi >= 0.5) != (yi == 1) for pi, yi in zip(p, y, strict=True)]
    assert rc.aurc == pytest.approx(slow_aurc_over_tie_orders(conf, wrong), rel=1e-12, abs=1e-15)


def test_aurc_matches_loop_over_coverages_and_is_order_invariant() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.4).astype(int)
    p = np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1)
    conf = call_confidence(p, threshold=0.5)
    wrong = (p >= 0.5) != (y == 1)
    order = sorted(range(300), key=lambda i: -conf[i])  # continuous scores: no ties
    loop = [sum(wrong[order[:k]]) / k for k in range(1, 301)]
    rc = risk_coverage(y, p, threshold=0.5)
    np.testing.assert_allclose(rc.risk, loop, rtol=1e-12)
    assert rc.aurc == pytest.approx(sum(loop) / 300, rel=1e-12)
    perm = rng.permutation(300)
    assert risk_coverage(y[perm], p[perm], threshold=0.5).aurc == rc.aurc
    assert not rc.risk.flags.writeable


def test_eaurc_zero_for_perfect_ranking_and_limit_formula() -> None:
    # Errors are exactly the least confident calls: p near 0.5 wrong, far from 0.5 right.
    p = np.array([0.99, 0.01, 0.9, 0.2, 0.55, 0.45, 0.52])
    y = np.array([1, 0, 1, 0, 0, 1, 0])
    rc = risk_coverage(y, p, threshold=0.5)
    assert rc.error_rate == pytest.approx(3 / 7)
    assert rc.eaurc == pytest.approx(0.0, abs=1e-15)
    # Large n: exact optimum -> r + (1 - r) ln(1 - r) (Geifman et al. 2019), error O(log n / n)
    n, e = 100_000, 20_000
    y_big = np.r_[np.ones(n - e), np.zeros(e)].astype(int)
    p_big = np.r_[np.linspace(0.6, 1.0, n - e), np.linspace(0.5, 0.59, e)]  # errors least confident
    big = risk_coverage(y_big, p_big, threshold=0.5)
    r = e / n
    assert big.optimal_aurc == pytest.approx(r + (1 - r) * math.log(1 - r), abs=5e-4)
    assert big.eaurc == pytest.approx(0.0, abs=1e-12)


def test_referral_limits_equal_model_alone_and_biopsy_alone() -> None:
    rng = np.random.default_rng(11)
    y = (rng.random(200) < 0.3).astype(int)
    p = np.clip(0.4 * y + 0.6 * rng.random(200), 0, 1)
    biopsy = np.where(rng.random(200) < 0.85, y, 1 - y)
    res = referral(y, p, biopsy, threshold=0.45, fractions=[0.0, 0.25, 1.0])
    model = diagnostic(y, (p >= 0.45).astype(int))
    alone = diagnostic(y, biopsy)
    assert res[0].n_referred == 0
    assert res[2].n_referred == 200
    for got, ref in ((res[0], model), (res[2], alone)):
        assert got.sensitivity == ref["sensitivity"]
        assert got.specificity == ref["specificity"]
        assert got.error_rate.estimate == pytest.approx(1 - ref["accuracy"].estimate, abs=1e-15)
    assert res[1].n_referred == 50  # continuous scores: no ties at the boundary
    assert [r.fraction for r in res] == [0.0, 0.25, 1.0]


def test_referral_hand_worked_and_ties_not_split() -> None:
    # Least confident: e (.56), d (.58), c (.75). Biopsy right on every case.
    biopsy = Y
    res = referral(Y, P, biopsy, threshold=0.5, fractions=[0.34, 0.5])
    assert res[0].n_referred == 2  # floor(0.34 * 6) = 2: d, e fixed -> only a wrong
    assert res[0].error_rate.estimate == pytest.approx(1 / 6)
    assert res[1].n_referred == 3
    assert res[1].sensitivity.estimate == 1.0  # b and d (now by biopsy) both positive
    # Ties: confidences .6 .6 .6 .9 -> budget 2 cannot take the tied group of 3 -> none referred
    tied = referral(
        [1, 1, 0, 1], [0.6, 0.6, 0.6, 0.9], [0, 0, 0, 0], threshold=0.5, fractions=[0.5, 0.75]
    )
    assert [r.n_referred for r in tied] == [0, 3]


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: error_analysis(Y, P, threshold=1.0, ids=IDS, high_confidence=0.9), "threshold must be a number strictly between 0 and 1"),
        (lambda: error_analysis(Y, P, threshold=0.5, ids=IDS[:5], high_confidence=0.9), "ids must be a 1-D array of 6 case ids"),
        (lambda: error_analysis(Y, P, threshold=0.5, ids=["a"] * 6, high_confidence=0.9), "ids must be unique case ids"),
        (lambda: error_analysis(Y, P, threshold=0.5, ids=IDS, high_confidence=0.4), r"high_confidence must be a number in \[0.5, 1\]"),
        (lambda: error_analysis(Y, P, threshold=0.5, ids=IDS, high_confidence=0.9, bins=[0.5, 0.9]), "bins must be strictly increasing edges from 0.5 to 1.0"),
        (lambda: risk_coverage(Y, [1.2, 0, 0, 0, 0, 0], threshold=0.5), r"y_prob must be probabilities in \[0, 1\]"),
        (lambda: risk_coverage([0, 2], [0.1, 0.2], threshold=0.5), "y_true must be labels 0 or 1"),
        (lambda: risk_coverage([], [], threshold=0.5), "y_true must be at least one case"),
        (lambda: referral(Y, P, Y, threshold=0.5, fractions=[0.5, 0.2]), "fractions must be a non-empty, strictly increasing"),
        (lambda: referral(Y, P, Y[:3], threshold=0.5, fractions=[0.5]), "the input arrays must be of equal length"),
    ],
)  # fmt: skip
def test_bad_arguments(call, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        call()
