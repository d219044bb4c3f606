"""Planned sample size (validation.stats.power) against R: pROC's power.roc.test and variance
function, base R's exact binomial test, and base-R transcriptions of Hanley-McNeil and the paired
Obuchowski-McClish difference (tests/reference/make_power.R -> power.json; each value is stored
beside its R call). A slow, obviously correct twin (binomial sums by math.comb) checks the exact
binomial search."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from validation.exceptions import InvalidArgumentError
from validation.stats.power import (
    auc_power,
    auc_sample_size,
    obuchowski_variance,
    paired_auc_sample_size,
    proportion_power,
    proportion_sample_size,
)

pytestmark = pytest.mark.req("REQ-PLAN-001")

REF = json.loads((Path(__file__).parent / "reference" / "power.json").read_text())
#: R prints 15 significant digits; closed forms agree to rounding.
TOL = 1e-12
#: uniroot's tolerance on the solved n.
ROOT_TOL = 1e-6


@pytest.mark.parametrize("case", REF["obuchowski"], ids=lambda c: c["call"])
def test_obuchowski_variance_matches_proc(case: dict) -> None:
    assert obuchowski_variance(case["theta"], case["kappa"]) == pytest.approx(
        case["value"], rel=TOL
    )


@pytest.mark.parametrize("case", REF["roc_ncases"], ids=lambda c: c["call"])
def test_auc_sample_size_matches_power_roc_test(case: dict) -> None:
    prevalence = 1.0 / (1.0 + case["kappa"])
    plan = auc_sample_size(expected=case["auc"], null=0.5, prevalence=prevalence,
                           alpha=case["alpha"], power=case["power"])  # fmt: skip
    assert plan.n_positive == math.ceil(case["ncases"])
    assert plan.n_total == math.ceil(plan.n_positive / prevalence - 1e-9)
    assert plan.power >= case["power"]


@pytest.mark.parametrize("case", REF["roc_power"], ids=lambda c: c["call"])
def test_auc_power_matches_power_roc_test(case: dict) -> None:
    got = auc_power(case["ncases"], expected=case["auc"], null=0.5,
                    kappa=case["ncontrols"] / case["ncases"], alpha=case["alpha"])  # fmt: skip
    assert got == pytest.approx(case["power"], rel=1e-9)


@pytest.mark.parametrize(
    "case", REF["binomial"], ids=lambda c: f"{c['null']}-{c['expected']}-{c['alpha']}"
)
def test_exact_binomial_n_matches_base_r(case: dict) -> None:
    plan = proportion_sample_size(expected=case["expected"], null=case["null"], fraction=0.25,
                                  alpha=case["alpha"], power=case["power"])  # fmt: skip
    assert plan.n_positive == case["n"]
    assert plan.power == pytest.approx(case["power_at_n"], rel=1e-9)
    assert plan.n_total == math.ceil(case["n"] / 0.25)


def _naive_power(n: int, p0: float, p1: float, alpha: float) -> float:
    """Obviously correct: find the critical count by summing the null tail, then the power."""

    def tail(k: int, p: float) -> float:
        return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))

    k = next(k for k in range(n + 2) if k > n or tail(k, p0) <= alpha)
    return tail(k, p1) if k <= n else 0.0


@pytest.mark.parametrize(("p0", "p1", "alpha"), [(0.8, 0.9, 0.025), (0.6, 0.8, 0.05)])
def test_exact_binomial_agrees_with_a_naive_twin(p0: float, p1: float, alpha: float) -> None:
    for n in (5, 17, 40, 91):
        assert proportion_power(n, expected=p1, null=p0, alpha=alpha) == pytest.approx(
            _naive_power(n, p0, p1, alpha), abs=1e-12
        )
    plan = proportion_sample_size(expected=p1, null=p0, fraction=0.5, alpha=alpha, power=0.8)
    n = plan.n_positive
    assert _naive_power(n, p0, p1, alpha) >= 0.8
    assert all(_naive_power(m, p0, p1, alpha) < 0.8 for m in range(max(n - 15, 1), n))


@pytest.mark.parametrize("case", REF["hanley"], ids=lambda c: f"{c['null']}-{c['expected']}")
def test_hanley_mcneil_matches_base_r(case: dict) -> None:
    prevalence = 1.0 / (1.0 + case["kappa"])
    plan = auc_sample_size(expected=case["expected"], null=case["null"], prevalence=prevalence,
                           alpha=case["alpha"], power=case["power"], method="hanley-mcneil")  # fmt: skip
    assert plan.n_positive == math.ceil(case["ncases"] - ROOT_TOL)
    assert plan.power >= case["power"]


@pytest.mark.parametrize("case", REF["paired"], ids=lambda c: f"{c['expected']}-{c['comparator']}")
def test_paired_noninferiority_matches_base_r(case: dict) -> None:
    plan = paired_auc_sample_size(
        expected=case["expected"], comparator=case["comparator"], margin=case["margin"],
        correlation=case["correlation"], prevalence=case["prevalence"], alpha=case["alpha"],
        power=case["power"],
    )  # fmt: skip
    assert plan.n_positive == math.ceil(case["ncases"])
    assert plan.null == -case["margin"]


def test_more_power_or_a_smaller_effect_needs_more_patients() -> None:
    """A wrong sign in z_beta or the effect would make these run the other way."""
    base = auc_sample_size(expected=0.9, null=0.8, prevalence=0.17, alpha=0.025, power=0.8)
    more_power = auc_sample_size(expected=0.9, null=0.8, prevalence=0.17, alpha=0.025, power=0.9)
    smaller = auc_sample_size(expected=0.86, null=0.8, prevalence=0.17, alpha=0.025, power=0.8)
    rarer = auc_sample_size(expected=0.9, null=0.8, prevalence=0.08, alpha=0.025, power=0.8)
    assert base.n_total < more_power.n_total
    assert base.n_total < smaller.n_total
    assert base.n_total < rarer.n_total
    correlated = paired_auc_sample_size(
        expected=0.7,
        comparator=0.62,
        margin=0.05,
        correlation=0.6,
        prevalence=0.3,
        alpha=0.025,
        power=0.8,
    )
    independent = paired_auc_sample_size(
        expected=0.7,
        comparator=0.62,
        margin=0.05,
        correlation=0.0,
        prevalence=0.3,
        alpha=0.025,
        power=0.8,
    )
    assert correlated.n_total < independent.n_total  # fmt: skip


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: auc_sample_size(expected=0.75, null=0.8, prevalence=0.2, alpha=0.025, power=0.8),
         "expected must be greater than the null value 0.8"),
        (lambda: auc_sample_size(expected=0.9, null=0.8, prevalence=1.2, alpha=0.025, power=0.8),
         "prevalence must be a number strictly between 0 and 1"),
        (lambda: auc_sample_size(expected=0.9, null=0.8, prevalence=0.2, alpha=0.025, power=0.3),
         "power must be a number strictly between 0.5 and 1"),
        (lambda: auc_sample_size(expected=0.9, null=0.8, prevalence=0.2, alpha=0.025, power=0.8,
                                 method="delong"), "method must be one of"),
        (lambda: paired_auc_sample_size(expected=0.6, comparator=0.7, margin=0.05,
                                        correlation=0.3, prevalence=0.3, alpha=0.025, power=0.8),
         "expected must be above comparator - margin"),
        (lambda: proportion_sample_size(expected=0.9, null=0.8, fraction=0.2, alpha=0.025,
                                        power=0.8, counted="both"), "counted must be one of"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_by_name(call: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        call()  # type: ignore[operator]
