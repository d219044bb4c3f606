"""Net benefit / decision curves (Vickers & Elkin 2006) against hand counts and a slow loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.exceptions import InvalidArgumentError
from validation.stats.decision import decision_curve, net_benefit, treat_all, treat_none

Y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 0])
P = np.array([0.9, 0.7, 0.6, 0.4, 0.35, 0.3, 0.2, 0.1, 0.05, 0.5])
BIOPSY = np.array([1, 0, 0, 0, 1, 1, 0, 0, 1, 0])
FIXTURE = Path(__file__).parent / "reference" / "calibration.json"


@pytest.mark.req("REQ-STAT-NB")
def test_hand_computed_example() -> None:
    # pt = 0: everyone treated, TP 4 FP 6 -> 0.4
    # pt = 0.3: p >= 0.3 (0.3 itself included) -> TP 3, FP 4 -> 0.3 - 0.4 * 3/7 = 0.9/7
    # pt = 0.5: TP 2, FP 2 -> 0.2 - 0.2 * 1 = 0
    nb = net_benefit(Y, P, [0.0, 0.3, 0.5])
    np.testing.assert_allclose(nb, [0.4, 0.9 / 7, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(treat_all(Y, [0.0, 0.3]), [0.4, 1 / 7], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(treat_none([0.1, 0.2]), [0.0, 0.0])


@pytest.mark.req("REQ-STAT-NB")
def test_decision_curve_with_biopsy_calls() -> None:
    curve = decision_curve(Y, P, [0.0, 0.3], calls={"biopsy": BIOPSY})
    assert [name for name, _ in curve.calls] == ["biopsy"]
    # biopsy: TP 3, FP 1, fixed at every threshold (not re-thresholded: pt = 0 treats only calls)
    np.testing.assert_allclose(curve.calls[0][1], [0.3, 0.3 - 0.1 * 3 / 7], rtol=0, atol=1e-15)
    np.testing.assert_allclose(curve.model, [0.4, 0.9 / 7], rtol=0, atol=1e-15)
    np.testing.assert_allclose(curve.treat_all, [0.4, 1 / 7], rtol=0, atol=1e-15)
    assert curve.prevalence == 0.4
    assert curve.n == 10
    assert not curve.model.flags.writeable


def _slow_net_benefit(y: np.ndarray, p: np.ndarray, t: float) -> float:
    treated = p >= t
    tp = sum(1 for yi, ti in zip(y, treated, strict=True) if ti and yi == 1)
    fp = sum(1 for yi, ti in zip(y, treated, strict=True) if ti and yi == 0)
    return tp / len(y) - fp / len(y) * t / (1 - t)


@pytest.mark.req("REQ-STAT-NB")
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.77, 1.0])),
        min_size=1,
        max_size=40,
    )
)
def test_matches_slow_loop_with_ties(rows: list[tuple[int, float]]) -> None:
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    thresholds = [0.0, 0.1, 0.25, 0.3, 0.5, 0.9]
    expected = [_slow_net_benefit(y, p, t) for t in thresholds]
    np.testing.assert_allclose(net_benefit(y, p, thresholds), expected, rtol=0, atol=1e-14)


@pytest.mark.req("REQ-STAT-NB")
def test_matches_dcurves_formula_in_base_r() -> None:
    ref = json.loads(FIXTURE.read_text())["net_benefit"]
    ds = next(d for d in json.loads(FIXTURE.read_text())["datasets"] if d["name"] == ref["dataset"])
    nb = net_benefit(ds["y"], ds["p"], ref["thresholds"])
    np.testing.assert_allclose(nb, ref["model"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(treat_all(ds["y"], ref["thresholds"]), ref["all"], atol=1e-12)


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((Y, P, [0.2, 1.0]), r"thresholds must be threshold probabilities in \[0, 1\)"),
        ((Y, P, [float("nan")]), "thresholds must be finite"),
        ((Y, P * 2, [0.2]), r"y_prob must be probabilities in \[0, 1\]"),
        ((Y[:-1], P, [0.2]), "of equal length"),
        ((np.array([]), np.array([]), [0.2]), "non-empty"),
    ],
)
def test_bad_arguments(args: tuple, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        net_benefit(*args)


@pytest.mark.req("REQ-STAT-EDGE")
def test_bad_calls_length() -> None:
    with pytest.raises(InvalidArgumentError, match=r"calls\['biopsy'\] must be of length n = 10"):
        decision_curve(Y, P, [0.2], calls={"biopsy": BIOPSY[:5]})
