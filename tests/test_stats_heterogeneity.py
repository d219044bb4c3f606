"""Heterogeneity (Q, I², H², tau²) and pooled estimates against metafor::rma (REML, DL, FE).

Fixture: tests/reference/metafor.json, written by tests/reference/make_metafor.R (R call beside
every value).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from validation.exceptions import InvalidArgumentError
from validation.stats.heterogeneity import heterogeneity

FIXTURE = Path(__file__).parent / "reference" / "metafor.json"
DATASETS = json.loads(FIXTURE.read_text())["datasets"]
IDS = [d["name"] for d in DATASETS]

TOL_CLOSED_FORM = 1e-9  # Q, DL, FE: closed forms; fixture has 15 significant digits
TOL_REML = 1e-8  # metafor run with threshold 1e-12; ours polished to 1e-13 relative


def _check(result, ref: dict, tol: float) -> None:
    assert result.estimable
    assert result.q == pytest.approx(ref["q"], abs=tol)
    assert result.df == ref["df"]
    assert result.p_value == pytest.approx(ref["p_value"], abs=tol)
    assert result.tau2 == pytest.approx(ref["tau2"], abs=tol)
    assert result.i2 == pytest.approx(ref["i2"], abs=100 * tol)  # percent scale, as metafor
    assert result.h2 == pytest.approx(ref["h2"], abs=tol)
    assert result.pooled.estimate == pytest.approx(ref["estimate"], abs=tol)
    assert result.pooled.se == pytest.approx(ref["se"], abs=tol)
    assert result.pooled.ci_low == pytest.approx(ref["ci_low"], abs=tol)
    assert result.pooled.ci_high == pytest.approx(ref["ci_high"], abs=tol)


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.parametrize("ds", DATASETS, ids=IDS)
def test_reml_matches_metafor(ds: dict) -> None:
    _check(heterogeneity(ds["yi"], ds["vi"], method="REML"), ds["REML"], TOL_REML)


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.parametrize("ds", DATASETS, ids=IDS)
def test_dl_matches_metafor(ds: dict) -> None:
    _check(heterogeneity(ds["yi"], ds["vi"], method="DL"), ds["DL"], TOL_CLOSED_FORM)


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.parametrize("ds", DATASETS, ids=IDS)
def test_fixed_effect_matches_metafor_fe(ds: dict) -> None:
    fixed = heterogeneity(ds["yi"], ds["vi"], method="DL").fixed
    ref = ds["FE"]
    for field in ("estimate", "se", "ci_low", "ci_high"):
        assert getattr(fixed, field) == pytest.approx(ref[field], abs=TOL_CLOSED_FORM), field


def _reml_loglik_twin(tau2: float, y: np.ndarray, v: np.ndarray) -> float:
    """Restricted log-likelihood written from the textbook matrix form (Viechtbauer 2005)."""
    sigma = np.diag(v + tau2)
    inv = np.linalg.inv(sigma)
    x = np.ones((len(y), 1))
    xtwx = x.T @ inv @ x
    p = inv - inv @ x @ np.linalg.inv(xtwx) @ x.T @ inv
    return float(
        -0.5 * np.linalg.slogdet(sigma)[1] - 0.5 * np.linalg.slogdet(xtwx)[1] - 0.5 * y @ p @ y
    )


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.parametrize("name", ["bimodal_reml_interior_global", "bimodal_reml_boundary_global"])
def test_reml_takes_the_global_maximum_when_likelihood_is_bimodal(name: str) -> None:
    ds = DATASETS[IDS.index(name)]
    y, v = np.asarray(ds["yi"]), np.asarray(ds["vi"])
    grid = np.concatenate([[0.0], np.linspace(1e-4, 6.0, 6000)])
    ll = np.array([_reml_loglik_twin(t, y, v) for t in grid])
    # the fixture really is bimodal: a local maximum at 0 and one inside
    inner = [i for i in range(1, len(grid) - 1) if ll[i - 1] < ll[i] > ll[i + 1]]
    assert ll[0] > ll[1]
    assert len(inner) == 1
    best = grid[int(np.argmax(ll))]
    tau2 = heterogeneity(y, v, method="REML").tau2
    assert tau2 == pytest.approx(best, abs=2e-3)  # grid spacing 1e-3
    assert tau2 == pytest.approx(ds["REML"]["tau2"], abs=TOL_REML)
    assert _reml_loglik_twin(tau2, y, v) >= ll.max() - 1e-9


ZERO = json.loads((Path(__file__).parent / "reference" / "metafor_zero_variance.json").read_text())
ZERO_IDS = [d["name"] for d in ZERO["datasets"]]


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize("ds", ZERO["datasets"], ids=ZERO_IDS)
def test_zero_variance_group_as_metafor(ds: dict) -> None:
    """A group with sampling variance 0 (an AUC of 1, DeLong variance 0), as metafor 3.8 has it
    (tests/reference/make_metafor_zero_variance.R): REML estimates tau2 > 0 and pools, without
    Q / I² / H²; REML with tau2 = 0, DL and FE stop. Wrong version: "not estimable" whenever a
    variance is 0 (what this module did before), or DL/Q computed with infinite weights."""
    y, v = ds["yi"], ds["vi"]
    labels = [f"S{i + 1}" for i in range(len(y))]
    reml = heterogeneity(y, v, method="REML", labels=labels)
    ref = ds["REML"]
    if "error" in ref:
        assert not reml.estimable
        assert "REML estimate of tau² is 0" in (reml.reason or "")
        assert "S1" in (reml.reason or "")
    else:
        assert reml.estimable
        assert reml.tau2 == pytest.approx(ref["tau2"], abs=TOL_REML)
        assert reml.pooled.estimate == pytest.approx(ref["estimate"], abs=TOL_REML)
        assert reml.pooled.se == pytest.approx(ref["se"], abs=TOL_REML)
        assert reml.pooled.ci_low == pytest.approx(ref["ci_low"], abs=1e-7)
        assert reml.pooled.ci_high == pytest.approx(ref["ci_high"], abs=1e-7)
        assert ref["q"] is None  # metafor does not compute Q, I² or H² here
        assert ref["i2"] is None
        for value in (reml.q, reml.p_value, reml.i2, reml.h2):
            assert math.isnan(value)
        assert "Q, I² and H² are not computed" in (reml.note or "")
        assert not reml.fixed.estimable
    assert "DL estimator cannot be used" in ds["DL"]["error"]
    dl = heterogeneity(y, v, method="DL", labels=labels)
    assert not dl.estimable
    assert "DL estimator cannot be used" in (dl.reason or "")
    assert "Division by zero" in ds["FE"]["error"]


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize("k", [0, 1])
def test_fewer_than_two_groups_not_estimable(k: int) -> None:
    res = heterogeneity([0.5] * k, [0.01] * k, method="DL")
    assert not res.estimable
    assert f"k={k}" in (res.reason or "")
    assert math.isnan(res.q)


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimates": [0.1, float("nan")], "variances": [0.1, 0.1]}, "estimates must be finite"),
        ({"estimates": [0.1, 0.2], "variances": [0.1, -0.1]}, "variances must be variances >= 0"),
        ({"estimates": [0.1, 0.2], "variances": [0.1]}, "of equal length"),
        ({"estimates": [0.1, 0.2], "variances": [0.1, 0.1], "method": "PM"}, "method must be one"),
        ({"estimates": [0.1, 0.2], "variances": [0.1, 0.1], "labels": ["a"]}, "labels must be"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        heterogeneity(**kwargs)
