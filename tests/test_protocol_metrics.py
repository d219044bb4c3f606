"""Metric registry: each name computes what its definition says, on hand-computed examples.

Expected values are worked by hand in the comments (not produced by the code under test).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from validation.exceptions import HarnessError, InvalidArgumentError, ProtocolError
from validation.protocol import (
    METRICS,
    InputKind,
    compute_metric,
    get_metric,
    result_quantities,
    verify_registry,
)
from validation.stats.results import Comparison, Estimate, Test

pytestmark = pytest.mark.req("REQ-PROT-001")


def _two_by_two() -> tuple[np.ndarray, np.ndarray]:
    """TP=8, FN=2, FP=3, TN=7 as scores around threshold 0.5 (0.5 itself is called positive)."""
    y = np.array([1] * 10 + [0] * 10)
    score = np.array([0.9] * 7 + [0.5] + [0.2] * 2 + [0.7] * 3 + [0.1] * 7)
    return y, score


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sensitivity", 8 / 10),  # TP / (TP + FN)
        ("specificity", 7 / 10),  # TN / (TN + FP)
        ("ppv", 8 / 11),  # TP / (TP + FP)
        ("npv", 7 / 9),  # TN / (TN + FN)
        ("accuracy", 15 / 20),  # (TP + TN) / N
    ],
)
def test_two_by_two_metrics(name: str, expected: float) -> None:
    y, score = _two_by_two()
    result = compute_metric(name, y, score, threshold=0.5)
    assert isinstance(result, Estimate)
    assert result.estimate == pytest.approx(expected, rel=1e-12)
    assert result.ci_low < result.estimate < result.ci_high


def test_auc_is_the_probability_a_positive_outranks_a_negative() -> None:
    # positives 0.9, 0.4; negatives 0.6, 0.1: pairs won 0.9>0.6, 0.9>0.1, 0.4>0.1; lost 0.4<0.6 -> 3/4
    result = compute_metric("auc", [1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    assert result.estimate == pytest.approx(0.75, rel=1e-12)


def test_kappa_of_model_calls_against_reference() -> None:
    # 4 both positive, 4 both negative, 1 each discordant: po = 0.8, pe = 0.5*0.5 + 0.5*0.5 = 0.5
    # kappa = (0.8 - 0.5) / (1 - 0.5) = 0.6
    y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    score = [0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1]
    assert compute_metric("kappa", y, score, threshold=0.5).estimate == pytest.approx(
        0.6, rel=1e-12
    )


def test_brier() -> None:
    # ((0.8 - 1)^2 + (0.4 - 0)^2) / 2 = (0.04 + 0.16) / 2 = 0.1
    assert compute_metric("brier", [1, 0], [0.8, 0.4]) == pytest.approx(0.1, rel=1e-12)


@pytest.mark.parametrize(
    ("observed_low", "intercept", "slope"),
    [
        # groups p=0.2 (1/5 positive) and p=0.8 (4/5 positive): observed = predicted -> a=0, b=1
        (1, 0.0, 1.0),
        # p=0.2 group has 2/5 positive: two groups fit exactly, so a + b*logit(0.2) = logit(0.4) and
        # a + b*logit(0.8) = logit(0.8): b = (logit .8 - logit .4) / (2 logit .8), a = logit .8 (1 - b)
        (2, None, (math.log(4) - math.log(2 / 3)) / (2 * math.log(4))),
    ],
)
def test_calibration_slope_and_intercept(
    observed_low: int, intercept: float | None, slope: float
) -> None:
    y = [1] * observed_low + [0] * (5 - observed_low) + [1, 1, 1, 1, 0]
    p = [0.2] * 5 + [0.8] * 5
    assert compute_metric("calibration_slope", y, p).estimate == pytest.approx(slope, abs=1e-6)
    if intercept is not None:
        assert compute_metric("calibration_intercept", y, p).estimate == pytest.approx(
            intercept, abs=1e-6
        )


def test_high_confidence_error_rate() -> None:
    # threshold 0.5: confidence = max(p, 1-p) -> 0.97, 0.96, 0.98, 0.6, 0.7; >= 0.9: the first three;
    # among them p=0.96 with y=0 is wrong -> 1/3
    y, p = [1, 0, 0, 1, 1], [0.97, 0.96, 0.02, 0.6, 0.3]
    result = compute_metric(
        "high_confidence_error_rate", y, p, threshold=0.5, params={"high_confidence": 0.9}
    )
    assert result.estimate == pytest.approx(1 / 3, rel=1e-12)
    assert result.n == 3


def test_aurc_and_eaurc() -> None:
    # y=[0,1,1], p=[0.9,0.3,0.8], t=0.5: confidences 0.9 (wrong), 0.7 (wrong), 0.8 (right).
    # Most confident first: W, R, W -> risks 1, 1/2, 2/3 -> AURC = 13/18.
    # Ideal order R, W, W -> risks 0, 1/2, 2/3 -> 7/18; E-AURC = 6/18.
    y, p = [0, 1, 1], [0.9, 0.3, 0.8]
    assert compute_metric("aurc", y, p, threshold=0.5) == pytest.approx(13 / 18, rel=1e-12)
    assert compute_metric("eaurc", y, p, threshold=0.5) == pytest.approx(6 / 18, rel=1e-12)


def test_referral_policy_metrics() -> None:
    # t=0.5; confidences 0.9, 0.52, 0.9, 0.55, 0.8. Referring 40% of 5 = 2: the two least confident
    # (rows 1 and 3) take the biopsy call (1, 0). Final calls [1, 1, 0, 0, 0] vs y [1, 1, 0, 0, 1]:
    # one error (row 4) -> error rate 1/5, sensitivity 2/3, specificity 2/2.
    y, p, biopsy = [1, 1, 0, 0, 1], [0.9, 0.48, 0.1, 0.45, 0.2], [1, 1, 0, 0, 1]
    kw = {"threshold": 0.5, "biopsy": biopsy, "params": {"fraction": 0.4}}
    assert compute_metric("referral_error_rate", y, p, **kw).estimate == pytest.approx(
        0.2, rel=1e-12
    )
    assert compute_metric("referral_sensitivity", y, p, **kw).estimate == pytest.approx(
        2 / 3, rel=1e-12
    )
    assert compute_metric("referral_specificity", y, p, **kw).estimate == pytest.approx(
        1.0, rel=1e-12
    )


def test_verify_registry_checks_every_metric_against_its_definition() -> None:
    checks = verify_registry()
    assert [c.name for c in checks] == sorted(METRICS)
    assert {c.status for c in checks} == {"ok"}
    twins = [c for c in checks if not math.isnan(c.expected)]
    assert len(twins) >= 15  # all but the model-based / lowess metrics have a numpy twin
    for check in twins:
        assert check.computed == pytest.approx(check.expected, rel=1e-9)


def test_registry_entries_are_documented_and_sorted() -> None:
    assert list(METRICS) == sorted(METRICS)
    for spec in METRICS.values():
        assert spec.description
        assert isinstance(spec.inputs, InputKind)
        assert spec.quantities


def test_unknown_metric_suggests_the_nearest() -> None:
    with pytest.raises(
        ProtocolError, match=r"unknown metric 'senstivity'.*Did you mean 'sensitivity'"
    ):
        get_metric("senstivity")


def test_calls_metric_needs_a_threshold() -> None:
    with pytest.raises(InvalidArgumentError, match="threshold must be a number"):
        compute_metric("sensitivity", [1, 0], [0.9, 0.1])


def test_result_quantities() -> None:
    est = Estimate(0.8, 0.7, 0.9, 0.95, "wilson", 10)
    cmp = Comparison(0.05, -0.01, 0.11, 1.6, 0.11, 0.95, "delong-paired", 50, 0.85, 0.8)
    test = Test(3.0, 0.2, "mcnemar-exact", 40)
    assert result_quantities(est) == ({"estimate": 0.8, "ci_low": 0.7, "ci_high": 0.9}, None)
    assert result_quantities(cmp)[0]["p_value"] == 0.11
    assert result_quantities(test) == ({"p_value": 0.2, "statistic": 3.0}, None)
    assert result_quantities(0.25) == ({"estimate": 0.25}, None)
    bad = Estimate.not_estimable("no positives", confidence=0.95, method="wilson", n=0)
    assert result_quantities(bad)[1] == "no positives"
    with pytest.raises(InvalidArgumentError, match="result must be an Estimate"):
        result_quantities("0.5")


def test_verify_registry_detects_a_wrong_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-test can fail: a registry entry reading the wrong field is caught by its twin."""
    import dataclasses

    import validation.protocol.metrics as metrics

    wrong = dataclasses.replace(METRICS["brier"], result_field="ece")
    monkeypatch.setitem(metrics.METRICS, "brier", wrong)  # type: ignore[index]
    with pytest.raises(HarnessError, match=r"registry self-test failed: brier: computed"):
        verify_registry(("brier",))
