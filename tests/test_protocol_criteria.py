"""Acceptance criteria: grammar, canonical spelling, PASS / FAIL / NOT EVALUABLE (REQ-PROT-001)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.exceptions import ProtocolError
from validation.protocol import Criterion, Quantity, Verdict

pytestmark = pytest.mark.req("REQ-PROT-001")


@pytest.mark.parametrize(
    ("text", "quantity", "op", "value", "upper"),
    [
        ("ci_low >= 0.80", Quantity.CI_LOW, ">=", 0.8, None),
        ("estimate<=0.10", Quantity.ESTIMATE, "<=", 0.1, None),
        ("  ci_high < 0.05 ", Quantity.CI_HIGH, "<", 0.05, None),
        ("p_value < 5e-2", Quantity.P_VALUE, "<", 0.05, None),
        ("estimate > -0.05", Quantity.ESTIMATE, ">", -0.05, None),
        ("estimate between 0.8 and 1.2", Quantity.ESTIMATE, "between", 0.8, 1.2),
        ("estimate between -0.25 and .25", Quantity.ESTIMATE, "between", -0.25, 0.25),
    ],
)
def test_parse_forms(
    text: str, quantity: Quantity, op: str, value: float, upper: float | None
) -> None:
    assert Criterion.parse(text) == Criterion(quantity, op, value, upper)


def test_canonical_spelling_is_independent_of_how_it_was_written() -> None:
    assert str(Criterion.parse("ci_low>=0.80")) == "ci_low >= 0.8"
    assert str(Criterion.parse("estimate between 0.80 and 1.20")) == "estimate between 0.8 and 1.2"


@given(
    st.sampled_from(list(Quantity)),
    st.sampled_from([">=", ">", "<=", "<"]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
def test_parse_of_str_round_trips(quantity: Quantity, op: str, value: float) -> None:
    criterion = Criterion(quantity, op, value)
    assert Criterion.parse(str(criterion)) == criterion


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ci_low => 0.8", "cannot read criterion"),
        ("cilow >= 0.8", "cannot read criterion"),
        ("estimate >= 0.8 and ci_low > 0", "cannot read criterion"),
        ("__import__('os') >= 1", "cannot read criterion"),
        ("estimate between 1.2 and 0.8", "lower bound above the upper"),
    ],
)
def test_bad_criteria_are_rejected_with_the_path(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=rf"endpoints\[2\]\.criterion: .*{message}"):
        Criterion.parse(text, path="endpoints[2].criterion")


def test_non_string_criterion_is_rejected() -> None:
    with pytest.raises(
        ProtocolError, match=r"subgroups\[0\]\.criterion: expected a criterion string.*float 0\.8"
    ):
        Criterion.parse(0.8, path="subgroups[0].criterion")


@pytest.mark.parametrize(
    ("text", "observed", "verdict"),
    [
        ("ci_low >= 0.80", 0.80, Verdict.PASS),  # boundary included
        ("ci_low >= 0.80", 0.7999999, Verdict.FAIL),
        ("ci_low > 0", 0.0, Verdict.FAIL),  # strict
        ("ci_high < 0.05", 0.049, Verdict.PASS),
        ("estimate <= 0.10", 0.11, Verdict.FAIL),
        ("estimate between 0.8 and 1.2", 0.8, Verdict.PASS),
        ("estimate between 0.8 and 1.2", 1.2, Verdict.PASS),
        ("estimate between 0.8 and 1.2", 1.2000001, Verdict.FAIL),
        ("estimate between 0.8 and 1.2", 0.79, Verdict.FAIL),
    ],
)
def test_evaluate(text: str, observed: float, verdict: Verdict) -> None:
    name = Criterion.parse(text).quantity.value
    result = Criterion.parse(text).evaluate({name: observed})
    assert result.verdict is verdict
    assert result.observed == observed
    assert text.split()[0] in result.reason


def test_not_estimable_result_is_not_evaluable_with_its_reason() -> None:
    result = Criterion.parse("ci_low >= 0.8").evaluate(
        {"estimate": math.nan, "ci_low": math.nan}, reason="no positive case in site D"
    )
    assert result.verdict is Verdict.NOT_EVALUABLE
    assert "no positive case in site D" in result.reason


def test_nan_or_missing_quantity_is_not_evaluable_never_pass() -> None:
    nan = Criterion.parse("ci_high < 0.05").evaluate({"ci_high": math.nan})
    missing = Criterion.parse("p_value < 0.05").evaluate({"estimate": 0.01})
    assert nan.verdict is Verdict.NOT_EVALUABLE
    assert "not a finite number" in nan.reason
    assert missing.verdict is Verdict.NOT_EVALUABLE
    assert "no p_value" in missing.reason
