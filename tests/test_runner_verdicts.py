"""Rules a regulator relies on, tested through the runner's verdicts with cases whose verdict flips
under a plausible wrong version of the code (STYLE.md rule 19). Each test's docstring names the
wrong version it catches; the counts and p-values that make the case are computed here
independently (scipy, pandas) from the tables, never read from the code under test.

About 15 s (six small runs).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import binom, norm
from test_runner_helpers import make_tables, protocol_dict, registered

from validation.results import EstimateValue, Results, loads
from validation.runner import run_protocol
from validation.stats import auc, heterogeneity

ALPHA = 0.025  # one-sided level of the protocols' 95% intervals


def _run(tmp: Path, data: dict[str, Any], pred: Path, labels: Path) -> Results:
    protocol, ledger = registered(tmp, data)
    result = run_protocol(protocol, labels=labels, ledger=ledger, out_dir=tmp / "out",
                          predictions=pred)  # fmt: skip
    return loads(result.results_path.read_bytes())


def _counts(pred: Path, labels: Path, threshold: float = 0.5) -> dict[str, tuple[int, int]]:
    """(successes, trials) of sensitivity and specificity, counted here from the tables."""
    p = pd.read_csv(pred).set_index("patient_id")
    lab = pd.read_csv(labels).set_index("patient_id")
    called = (p.loc[lab.index, "score"] >= threshold).to_numpy()
    y = lab["reference_her2"].to_numpy()
    return {
        "sensitivity": (int(np.sum(called & (y == 1))), int(np.sum(y == 1))),
        "specificity": (int(np.sum(~called & (y == 0))), int(np.sum(y == 0))),
    }


def _p(method: str, k: int, n: int, bound: float) -> float:
    """One-sided p of H0: proportion <= bound (score test for Wilson, exact for Clopper-Pearson)."""
    if method == "wilson":
        return float(norm.sf((k / n - bound) / math.sqrt(bound * (1 - bound) / n)))
    return float(binom.sf(k - 1, n, bound))  # P(X >= k)


def _bound(method: str, k: int, n: int, target: float) -> float:
    """The criterion bound (6 decimals) whose one-sided p is ``target`` for k of n."""
    b = brentq(lambda x: _p(method, k, n, x) - target, 1e-6, k / n - 1e-9)
    return round(float(b), 6)


@pytest.mark.req("REQ-STAT-MULT")
@pytest.mark.parametrize("method", ["wilson", "clopper-pearson"])
def test_holm_downgrades_two_passes_whose_smallest_p_misses_alpha_over_two(
    tmp_path: Path, method: str
) -> None:
    """Two endpoints of one Holm family, each PASSING alone (one-sided p ~ 0.02 < 0.025) but the
    smaller p above alpha/2 = 0.0125: both FAIL after Holm. Wrong versions that PASS them: Holm
    never downgrading a PASS; alpha not halved (0.05: 0.02 <= 0.025 and 0.022 <= 0.05 reject);
    for Clopper-Pearson, the one-sided exact tail off by one (P(X > k) instead of P(X >= k),
    asserted below to fall under 0.0125). The reason states alpha as 0.025, not its float repr."""
    pred, labels = make_tables(tmp_path)
    counts = _counts(pred, labels)
    bounds = {
        "sensitivity": _bound(method, *counts["sensitivity"], 0.020),
        "specificity": _bound(method, *counts["specificity"], 0.022),
    }
    p = {m: _p(method, *counts[m], bounds[m]) for m in bounds}
    assert ALPHA / 2 < min(p.values()) < max(p.values()) < ALPHA  # each passes alone, Holm fails
    assert min(p.values()) <= 0.05 / 2  # ... so alpha not halved would reject both
    if method == "clopper-pearson":
        k, n = counts["sensitivity"]
        assert binom.sf(k, n, bounds["sensitivity"]) < ALPHA / 2  # the off-by-one tail rejects
    endpoints = [
        {"id": f"H{i}", "metric": m, "criterion": f"ci_low >= {bounds[m]}", "family": "f",
         "params": {"method": method}}
        for i, m in enumerate(("sensitivity", "specificity"), start=1)
    ]  # fmt: skip
    r = _run(tmp_path, protocol_dict(endpoints=endpoints, subgroups=[]), pred, labels)
    for e, m in zip(r.endpoints, ("sensitivity", "specificity"), strict=True):
        j = e.judgement
        assert j.multiplicity.p_value == pytest.approx(p[m], rel=1e-9)
        assert j.multiplicity.alpha == pytest.approx(ALPHA)
        assert j.verdict == "FAIL", (m, j.reason)
        assert "not after Holm adjustment" in (j.reason or "")
        # alpha as the protocol states it (confidence 0.95), not the repr 0.025000000000000022
        assert (j.reason or "").endswith(f" > {ALPHA})"), j.reason
        assert j.multiplicity.outcome == "not rejected"
    assert r.summary.verdict == "FAIL"


@pytest.mark.req("REQ-STAT-MULT")
def test_holm_keeps_passes_whose_p_values_clear_the_step_down(tmp_path: Path) -> None:
    """The same family with p ~ 0.010 and 0.020 (0.010 <= 0.0125, then 0.020 <= 0.025): both
    PASS. Wrong version caught: a Bonferroni-like gate (both p against 0.0125) or Holm failing
    everything in a family."""
    pred, labels = make_tables(tmp_path)
    counts = _counts(pred, labels)
    bounds = {
        "sensitivity": _bound("wilson", *counts["sensitivity"], 0.010),
        "specificity": _bound("wilson", *counts["specificity"], 0.020),
    }
    assert _p("wilson", *counts["specificity"], bounds["specificity"]) > ALPHA / 2
    endpoints = [
        {"id": f"H{i}", "metric": m, "criterion": f"ci_low >= {bounds[m]}", "family": "f"}
        for i, m in enumerate(("sensitivity", "specificity"), start=1)
    ]
    r = _run(tmp_path, protocol_dict(endpoints=endpoints, subgroups=[]), pred, labels)
    assert [e.judgement.verdict for e in r.endpoints] == ["PASS", "PASS"]
    assert r.summary.verdict == "PASS"


@pytest.mark.req("REQ-STAT-MULT")
def test_fixed_sequence_does_not_test_a_passing_endpoint_after_a_failure(tmp_path: Path) -> None:
    """E1 passes, E2 fails, E3 would pass alone: E3 is NOT EVALUABLE ("not tested") and the study
    verdict FAIL. Wrong version: each endpoint judged alone (E3 PASS), or the summary counting
    secondary passes."""
    pred, labels = make_tables(tmp_path)
    data = protocol_dict()
    data["endpoints"][1]["criterion"] = "ci_low >= 0.999"  # E2 fails
    r = _run(tmp_path, data, pred, labels)
    j = {e.id: e.judgement for e in r.endpoints}
    assert (j["E1"].verdict, j["E2"].verdict, j["E3"].verdict) == ("PASS", "FAIL", "NOT EVALUABLE")
    assert "its criterion alone: PASS" in (j["E3"].reason or "")
    assert j["E3"].multiplicity.outcome == "not tested"
    assert r.summary.verdict == "FAIL"
    assert r.summary.conclusion.startswith("The primary hypothesis of TEST-RUN-001 is not met: E2")


def _near_perfect_sites(tmp: Path) -> tuple[Path, Path]:
    """Three sites of 40 patients (12 positive), each AUC near 1 with one or two swapped pairs."""
    rows, labs = [], []
    for s, swaps in (("A", 1), ("B", 2), ("C", 1)):
        pos = np.linspace(0.55, 0.95, 12)
        neg = np.linspace(0.05, 0.45, 28)
        neg[-swaps:] = 0.56 + 0.01 * np.arange(swaps)  # the top negatives outrank a positive
        for i, (score, y) in enumerate([*((v, 1) for v in pos), *((v, 0) for v in neg)]):
            pid = f"{s}{i:03d}"
            rows.append({"patient_id": pid, "site": s, "score": repr(float(score))})
            labs.append({"patient_id": pid, "site": s, "age": 50, "reference_her2": y})
    pd.DataFrame(rows).to_csv(tmp / "pred.csv", index=False)
    pd.DataFrame(labs).to_csv(tmp / "labels.csv", index=False)
    return tmp / "pred.csv", tmp / "labels.csv"


@pytest.mark.req("REQ-STAT-HET")
def test_pooled_auc_is_pooled_on_the_logit_scale_and_stays_below_one(tmp_path: Path) -> None:
    """Per-site AUCs near 1: the pooled random-effects AUC is computed on the logit scale (delta-
    method variance se^2 / (a (1 - a))^2) and mapped back, so its interval stays inside (0, 1).
    Wrong version: pooling AUCs on their own scale, whose Wald interval here passes 1."""
    pred, labels = _near_perfect_sites(tmp_path)
    sub = {"id": "G1", "by": "site", "metric": "auc", "min_size": 20, "heterogeneity": True}
    data = protocol_dict(
        endpoints=[{"id": "E1", "metric": "auc", "criterion": "ci_low >= 0.5"}], subgroups=[sub]
    )
    r = _run(tmp_path, data, pred, labels)
    het = r.subgroups[0].heterogeneity
    assert het is not None
    assert het.scale == "logit-se"
    # independently: DeLong AUC per site (validated against pROC elsewhere), logit, REML, expit
    p, lab = pd.read_csv(pred), pd.read_csv(labels)
    estimates = [auc(lab[lab.site == s].reference_her2, p[p.site == s].score) for s in "ABC"]
    a = np.array([e.estimate for e in estimates])
    se = np.array([e.se for e in estimates])
    on_logit = heterogeneity(logit(a), se**2 / (a * (1 - a)) ** 2, method="REML")
    identity = heterogeneity(a, se**2, method="REML")
    assert identity.pooled.ci_high > 1.0  # the wrong scale would print an AUC interval past 1
    back = het.pooled_back
    assert back.estimate == pytest.approx(expit(on_logit.pooled.estimate), rel=1e-9)
    assert back.ci_low == pytest.approx(expit(on_logit.pooled.ci_low), rel=1e-9)
    assert back.ci_high == pytest.approx(expit(on_logit.pooled.ci_high), rel=1e-9)
    assert 0.0 < back.ci_low < back.estimate < back.ci_high < 1.0
    assert het.tau2 == pytest.approx(on_logit.tau2, rel=1e-6, abs=1e-12)


@pytest.mark.req("REQ-STAT-EDGE")
def test_a_subgroup_below_the_minimum_events_has_no_estimate_and_no_verdict(
    tmp_path: Path,
) -> None:
    """A site with one positive (protocol default min_events 5) is "not estimable (1 positive
    < 5)" and does not count towards the analysis verdict. Wrong version: min_events 1, an AUC
    of 0 or 1 from a single positive shown with a verdict."""
    pred, labels = make_tables(tmp_path, negatives_only_site="C")
    lab = pd.read_csv(labels)
    first_c = lab.index[lab.site == "C"][0]
    lab.loc[first_c, "reference_her2"] = 1  # site C: exactly one positive
    lab.to_csv(labels, index=False)
    r = _run(tmp_path, protocol_dict(), pred, labels)
    sub = r.subgroups[0]
    assert sub.min_events == 5
    row = {x.group: x for x in sub.rows}["C"]
    assert (row.n_pos, row.verdict) == (1, "NOT EVALUABLE")
    assert isinstance(row.result, EstimateValue)
    assert row.result.estimate is None
    assert row.result.reason == "1 positive < 5"
    assert sub.verdict_reason is not None
    assert "not evaluable: C" in sub.verdict_reason


@pytest.mark.req("REQ-STAT-EDGE")
def test_an_endpoint_without_a_cut_uses_the_documented_default_high_confidence(
    tmp_path: Path,
) -> None:
    """``high_confidence_error_rate`` without ``params.high_confidence`` counts the calls whose
    confidence is >= 0.9 (the metric registry's documented default, filled into the registered
    protocol by the loader), and the error-analysis section uses the same cut. Wrong version:
    another default cut in the section or the registry (the count of high-confidence calls would
    differ)."""
    pred, labels = make_tables(tmp_path)
    endpoints = [
        {"id": "X1", "metric": "high_confidence_error_rate", "criterion": "ci_high <= 0.5"}
    ]
    r = _run(tmp_path, protocol_dict(endpoints=endpoints, subgroups=[]), pred, labels)
    score = pd.read_csv(pred).score.to_numpy()
    t = 0.5
    conf = np.where(score >= t, 0.5 + 0.5 * (score - t) / (1 - t), 0.5 + 0.5 * (t - score) / t)
    expected = {cut: int(np.sum(conf >= cut)) for cut in (0.8, 0.9, 0.95)}
    assert len(set(expected.values())) == 3  # another cut would change the count
    assert r.endpoints[0].result.n == expected[0.9]
    ea = r.error_analysis
    assert ea is not None
    assert (ea.high_confidence.threshold, ea.high_confidence.threshold_source) == (0.9, "protocol")
    assert ea.high_confidence.n == expected[0.9]
