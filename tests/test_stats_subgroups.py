"""Per-group metrics and heterogeneity across groups (metafor::rma / escalc fixtures)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from validation.exceptions import InvalidArgumentError
from validation.stats.classification import diagnostic, proportion
from validation.stats.heterogeneity import heterogeneity
from validation.stats.roc import auc
from validation.stats.subgroups import by_group, heterogeneity_across

FIXTURE = Path(__file__).parent / "reference" / "metafor.json"
METAFOR = {d["name"]: d for d in json.loads(FIXTURE.read_text())["datasets"]}
TOL_REML = 1e-8


def _sites() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three sites; site 'C' has no positive case."""
    rng = np.random.default_rng(20240601)
    sites = np.array(["B"] * 40 + ["A"] * 50 + ["C"] * 25)
    y = np.concatenate([rng.integers(0, 2, 40), rng.integers(0, 2, 50), np.zeros(25, int)])
    score = np.clip(0.3 * y + rng.normal(0.4, 0.2, len(y)), 0, 1)
    return sites, y, score


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.req("REQ-STAT-EDGE")
def test_auc_by_site_with_a_site_without_positives() -> None:
    sites, y, score = _sites()
    table = by_group(auc, sites, y, score, min_size=20, min_events=1)
    assert [r.group for r in table.rows] == ["A", "B", "C"]
    for r in table.rows[:2]:
        member = sites == r.group
        assert (r.n, r.n_pos, r.n_neg) == (
            int(member.sum()),
            int(y[member].sum()),
            int((1 - y[member]).sum()),
        )
        assert r.estimate == auc(y[member], score[member])
    c = table.row("C")
    assert (c.n, c.n_pos, c.n_neg) == (25, 0, 25)
    assert not c.estimate.estimable
    assert c.estimate.reason == "0 positives < 1"
    assert math.isnan(c.estimate.estimate)


@pytest.mark.req("REQ-STAT-EDGE")
def test_min_size_rule_reason() -> None:
    sites = np.array(["big"] * 30 + ["small"] * 12)
    y = np.tile([0, 1], 21)
    table = by_group(diagnostic, sites, y, y, min_size=20, min_events=0, key="sensitivity")
    assert table.metric == "diagnostic[sensitivity]"
    assert table.row("small").estimate.reason == "12 patients < 20"
    assert table.row("big").estimate.estimate == 1.0


@pytest.mark.req("REQ-STAT-HET")
def test_order_of_cases_does_not_change_the_table() -> None:
    sites, y, score = _sites()
    perm = np.random.default_rng(5).permutation(len(y))
    a = by_group(auc, sites, y, score, min_size=20, min_events=1)
    b = by_group(
        auc, list(sites[perm]), list(y[perm]), list(score[perm]), min_size=20, min_events=1
    )
    for ra, rb in zip(a.rows, b.rows, strict=True):
        assert (ra.group, ra.n, ra.n_pos) == (rb.group, rb.n, rb.n_pos)
        if ra.estimate.estimable:
            assert ra.estimate.estimate == pytest.approx(rb.estimate.estimate, abs=1e-15)
            assert ra.estimate.se == pytest.approx(rb.estimate.se, abs=1e-15)


@pytest.mark.req("REQ-STAT-HET")
def test_logit_sensitivity_heterogeneity_matches_metafor_escalc_plo() -> None:
    ds = METAFOR["logit_sensitivity_6_sites"]
    sites, y, calls = [], [], []
    for i, (x, n) in enumerate(zip(ds["xi"], ds["ni"], strict=True)):
        sites += [f"site{i}"] * n
        y += [1] * n
        calls += [1] * x + [0] * (n - x)
    table = by_group(
        diagnostic, np.array(sites), np.array(y), np.array(calls), min_size=5, min_events=0,
        key="sensitivity",
    )  # fmt: skip
    het = heterogeneity_across(table, scale="logit", method="REML")
    ref = ds["REML"]
    assert het.tau2 == pytest.approx(ref["tau2"], abs=TOL_REML)
    assert het.q == pytest.approx(ref["q"], abs=1e-9)
    assert het.i2 == pytest.approx(ref["i2"], abs=1e-6)
    assert het.pooled.estimate == pytest.approx(ref["estimate"], abs=TOL_REML)
    assert het.pooled.se == pytest.approx(ref["se"], abs=TOL_REML)
    assert het.groups == tuple(f"site{i}" for i in range(6))


@pytest.mark.req("REQ-STAT-HET")
def test_identity_scale_uses_delong_se_and_lists_excluded_groups() -> None:
    sites, y, score = _sites()
    table = by_group(auc, sites, y, score, min_size=20, min_events=1)
    het = heterogeneity_across(table, scale="identity", method="DL")
    rows = table.rows[:2]
    direct = heterogeneity(
        [r.estimate.estimate for r in rows], [r.estimate.se**2 for r in rows], method="DL"
    )
    assert het.q == direct.q
    assert het.tau2 == direct.tau2
    assert het.groups == ("A", "B")
    assert het.excluded == ("C: 0 positives < 1",)


@pytest.mark.req("REQ-STAT-EDGE")
def test_proportion_of_one_is_not_estimable_on_logit_scale_and_named() -> None:
    sites = np.array(["A"] * 20 + ["B"] * 20)
    y = np.ones(40, int)
    calls = np.concatenate([np.ones(20, int), np.r_[np.ones(15, int), np.zeros(5, int)]])
    table = by_group(diagnostic, sites, y, calls, min_size=10, min_events=0, key="sensitivity")
    het = heterogeneity_across(table, scale="logit")
    assert not het.estimable
    assert "group(s) A have an estimate of 0 or 1" in (het.reason or "")


@pytest.mark.req("REQ-STAT-EDGE")
def test_bad_arguments() -> None:
    y = np.array([0, 1, 0, 1])
    with pytest.raises(InvalidArgumentError, match="groups must be a label for every case"):
        by_group(auc, ["a", None, "a", "a"], y, y, min_size=1, min_events=0)
    with pytest.raises(InvalidArgumentError, match="of equal length"):
        by_group(auc, ["a", "a", "a"], y, y, min_size=1, min_events=0)
    with pytest.raises(InvalidArgumentError, match="min_size must be a non-negative integer"):
        by_group(auc, ["a"] * 4, y, y, min_size=-1, min_events=0)
    table = by_group(lambda yy, k: proportion(int(k.sum()), len(k)), ["a"] * 4, y, y,
                     min_size=1, min_events=0)  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="scale must be one of"):
        heterogeneity_across(table, scale="log")
    with pytest.raises(InvalidArgumentError, match="table must be rows with a finite se"):
        heterogeneity_across(table, scale="identity")
