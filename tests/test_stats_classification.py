"""Proportions, the diagnostic 2×2 table, McNemar and Cohen's kappa.

References: ``tests/reference/proc_classification.json`` made by ``make_pROC.R`` (binom.test,
prop.test, the Jeffreys and Agresti–Coull formulas, mcnemar.test, psych::cohen.kappa; the R
call is stored beside each value), a hand-computed 2×2 table, scikit-learn's
``cohen_kappa_score`` and the case-by-case twin ``naive_confusion``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from validation.exceptions import InvalidArgumentError
from validation.stats import (
    ConfusionMatrix,
    calls,
    cohen_kappa,
    confusion,
    diagnostic,
    mcnemar,
    proportion,
)
from validation.stats._naive import naive_confusion
from validation.stats.classification import PROPORTION_METHODS

#: Closed-form statistics against R (R writes 15 significant digits).
CLOSED_FORM_TOL = 1e-6
#: Iterative/special-function results (Clopper–Pearson and Jeffreys beta quantiles).
QUANTILE_TOL = 1e-6

with (Path(__file__).parent / "reference" / "proc_classification.json").open(
    encoding="utf-8"
) as fh:
    FIXTURE: dict[str, Any] = json.load(fh)


# --------------------------------------------------------------------------- proportions -----


@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("rec", FIXTURE["proportions"], ids=lambda r: f"{r['k']}/{r['n']}")
@pytest.mark.parametrize("method", sorted(PROPORTION_METHODS))
def test_proportion_intervals_match_r(rec: dict[str, Any], method: str) -> None:
    est = proportion(rec["k"], rec["n"], method=method, confidence=rec["confidence"])
    low, high = rec[method]
    assert est.method == method
    assert est.n == rec["n"]
    assert est.estimate == rec["k"] / rec["n"]
    assert math.isclose(est.ci_low, low, abs_tol=QUANTILE_TOL)
    assert math.isclose(est.ci_high, high, abs_tol=QUANTILE_TOL)


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize("method", sorted(PROPORTION_METHODS))
def test_proportion_with_zero_denominator_is_not_estimable(method: str) -> None:
    est = proportion(0, 0, method=method)
    assert not est.estimable
    assert math.isnan(est.estimate)
    assert math.isnan(est.ci_high)
    assert est.reason is not None
    assert "n = 0" in est.reason


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((5, 3), {}, r"k must be at most n = 3; got 5"),
        ((-1, 3), {}, r"k must be a non-negative integer; got -1"),
        ((1.5, 3), {}, r"k must be a non-negative integer; got 1\.5"),
        ((True, 3), {}, r"k must be a non-negative integer; got True"),
        ((1, 3), {"method": "wald"}, r"method must be one of .*'wilson'.*; got 'wald'"),
        ((1, 3), {"confidence": 95}, r"confidence must be a number strictly between 0 and 1"),
    ],
)
def test_proportion_rejects_bad_arguments(
    args: tuple[Any, Any], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        proportion(*args, **kwargs)


# ------------------------------------------------------------------------ 2×2 table ----------

# Hand-computed table: TP 30, FP 10, FN 5, TN 55 (n = 100).
HAND_TRUE = [1] * 30 + [0] * 10 + [1] * 5 + [0] * 55
HAND_PRED = [1] * 30 + [1] * 10 + [0] * 5 + [0] * 55


@pytest.mark.req("REQ-STAT-PROP")
def test_diagnostic_definitions_on_hand_computed_table() -> None:
    assert confusion(HAND_TRUE, HAND_PRED) == ConfusionMatrix(tp=30, fp=10, fn=5, tn=55)
    res = diagnostic(HAND_TRUE, HAND_PRED)
    assert sorted(res) == ["accuracy", "npv", "ppv", "sensitivity", "specificity"]
    assert res["sensitivity"].estimate == 30 / 35
    assert res["specificity"].estimate == 55 / 65
    assert res["ppv"].estimate == 30 / 40
    assert res["npv"].estimate == 55 / 60
    assert res["accuracy"].estimate == 85 / 100
    # The original study printed PPV under the name "sensitivity": they differ here.
    assert res["sensitivity"].estimate != res["ppv"].estimate
    assert (res["sensitivity"].n, res["specificity"].n, res["ppv"].n, res["npv"].n) == (
        35,
        65,
        40,
        60,
    )


@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("method", sorted(PROPORTION_METHODS))
def test_diagnostic_intervals_are_the_proportion_intervals(method: str) -> None:
    res = diagnostic(HAND_TRUE, HAND_PRED, method=method, confidence=0.9)
    assert res["sensitivity"] == proportion(30, 35, method=method, confidence=0.9)
    assert res["npv"] == proportion(55, 60, method=method, confidence=0.9)


@pytest.mark.req("REQ-STAT-EDGE")
def test_diagnostic_without_positive_calls_has_no_ppv() -> None:
    res = diagnostic([1, 0, 1, 0], [0, 0, 0, 0])
    assert not res["ppv"].estimable
    assert res["sensitivity"].estimate == 0.0
    assert res["specificity"].estimate == 1.0


@pytest.mark.req("REQ-STAT-PROP")
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=0, max_size=50))
def test_confusion_equals_case_by_case_count(pairs: list[tuple[int, int]]) -> None:
    y = [p[0] for p in pairs]
    pred = [p[1] for p in pairs]
    c = confusion(y, pred)
    assert (c.tp, c.fp, c.fn, c.tn) == naive_confusion(y, pred)
    assert c.n == len(pairs)


@pytest.mark.req("REQ-STAT-PROP")
def test_calls_threshold_is_inclusive() -> None:
    out = calls([0.2, 0.5, 0.7, 0.49999], 0.5)
    assert out.dtype == np.int8
    assert out.tolist() == [0, 1, 1, 0]


@pytest.mark.req("REQ-STAT-EDGE")
def test_calls_and_confusion_reject_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"threshold must be a finite number; got nan"):
        calls([0.1], math.nan)
    with pytest.raises(InvalidArgumentError, match=r"y_score must be finite.*1 NaN"):
        calls([0.1, math.nan], 0.5)
    with pytest.raises(InvalidArgumentError, match=r"y_pred must be labels 0 or 1.*0\.7"):
        confusion([0, 1], [0, 0.7])
    with pytest.raises(InvalidArgumentError, match=r"equal length.*y_true=2, y_pred=3"):
        diagnostic([0, 1], [0, 1, 1])


# ---------------------------------------------------------------------------- McNemar --------


@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("rec", FIXTURE["mcnemar"], ids=lambda r: r["name"])
def test_mcnemar_matches_r(rec: dict[str, Any]) -> None:
    exact = mcnemar(rec["a"], rec["b"])
    assert exact.method == "mcnemar-exact"
    assert exact.df is None
    assert exact.statistic == rec["exact"]["statistic"]
    assert math.isclose(exact.p_value, rec["exact"]["p"], abs_tol=CLOSED_FORM_TOL)
    for key, correction in (("corrected", True), ("uncorrected", False)):
        res = mcnemar(rec["a"], rec["b"], exact=False, correction=correction)
        assert res.df == 1.0
        assert math.isclose(res.statistic, rec[key]["statistic"], abs_tol=CLOSED_FORM_TOL)
        assert math.isclose(res.p_value, rec[key]["p"], abs_tol=CLOSED_FORM_TOL)


@pytest.mark.req("REQ-STAT-EDGE")
def test_mcnemar_without_discordant_pairs_is_not_estimable() -> None:
    res = mcnemar([1, 0, 1], [1, 0, 1], exact=False)
    assert math.isnan(res.p_value)
    assert math.isnan(res.statistic)
    assert res.reason is not None
    assert "discordant" in res.reason


@pytest.mark.req("REQ-STAT-EDGE")
def test_mcnemar_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"exact must be True or False; got 'yes'"):
        mcnemar([1, 0], [0, 1], exact="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"correct_b must be labels 0 or 1.*2"):
        mcnemar([1, 0], [0, 2])


# ----------------------------------------------------------------------------- kappa ---------


@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("rec", FIXTURE["kappa"], ids=lambda r: r["name"])
def test_kappa_matches_psych(rec: dict[str, Any]) -> None:
    est = cohen_kappa(rec["a"], rec["b"])
    assert est.method == "fleiss-cohen-everitt"
    assert est.n == len(rec["a"])
    assert math.isclose(est.estimate, rec["kappa"], abs_tol=CLOSED_FORM_TOL)
    assert est.se is not None
    assert math.isclose(est.se**2, rec["var"], abs_tol=CLOSED_FORM_TOL)
    assert math.isclose(est.ci_low, rec["ci95"][0], abs_tol=CLOSED_FORM_TOL)
    assert math.isclose(est.ci_high, rec["ci95"][1], abs_tol=CLOSED_FORM_TOL)


@pytest.mark.req("REQ-STAT-PROP")
@given(st.lists(st.tuples(st.sampled_from("xyz"), st.sampled_from("xyz")), min_size=2, max_size=60))
def test_kappa_point_estimate_equals_sklearn(pairs: list[tuple[str, str]]) -> None:
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    est = cohen_kappa(a, b)
    if len(set(a) | set(b)) == 1:
        assert not est.estimable
        return
    assert math.isclose(est.estimate, cohen_kappa_score(a, b), abs_tol=1e-12)


@pytest.mark.req("REQ-STAT-EDGE")
def test_kappa_edge_cases() -> None:
    perfect = cohen_kappa([0, 1, 1, 0], [0, 1, 1, 0])
    assert (perfect.estimate, perfect.se) == (1.0, 0.0)
    constant = cohen_kappa(["neg"] * 4, ["neg"] * 4)
    assert not constant.estimable
    assert constant.reason is not None
    assert "chance agreement is 1" in constant.reason
    with pytest.raises(InvalidArgumentError, match=r"b must be category labels.*1 missing"):
        cohen_kappa([0, 1], [0, math.nan])
    with pytest.raises(InvalidArgumentError, match=r"equal length.*a=2, b=1"):
        cohen_kappa([0, 1], [0])
