"""AUC, DeLong CI, Obuchowski clustered variance and the paired DeLong test.

References: pROC 1.18 fixtures made by ``tests/reference/make_pROC.R`` (R calls stored beside
each value in ``proc_auc.json`` / ``proc_compare.json``), a base-R transcription of Obuchowski
(1997) in the same script, and the O(n²) slow twins of :mod:`validation.stats._naive`.
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

from validation.exceptions import InvalidArgumentError
from validation.stats import auc, compare_auc
from validation.stats._naive import naive_auc, naive_auc_covariance, naive_placements
from validation.stats.roc import placements

REFERENCE = Path(__file__).parent / "reference"
#: Closed-form statistics against R: R writes 15 significant digits, so 1e-6 is generous.
CLOSED_FORM_TOL = 1e-6
#: Fast against slow twin in the same arithmetic: only summation order differs.
TWIN_TOL = 1e-10


def _load(name: str) -> dict[str, Any]:
    with (REFERENCE / name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


AUC_FIXTURE = _load("proc_auc.json")
COMPARE_FIXTURE = _load("proc_compare.json")
AUC_CASES = {rec["name"]: rec for rec in AUC_FIXTURE["datasets"]}
WITH_CI = sorted(n for n, r in AUC_CASES.items() if r.get("var") is not None)


def _close(got: float, want: float | None) -> bool:
    if want is None:
        return math.isnan(got)
    return math.isclose(got, want, rel_tol=0.0, abs_tol=CLOSED_FORM_TOL)


# ------------------------------------------------------------------------------ vs pROC ------


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("name", WITH_CI)
def test_auc_and_delong_ci_match_proc(name: str) -> None:
    rec = AUC_CASES[name]
    est = auc(rec["y"], rec["s"])
    assert est.method == "delong"
    assert est.n == len(rec["y"])
    assert est.reason is None
    assert _close(est.estimate, rec["auc"])
    assert _close(est.ci_low, rec["ci95"][0])
    assert _close(est.ci_high, rec["ci95"][1])
    assert est.se is not None
    assert _close(est.se**2, rec["var"])
    est90 = auc(rec["y"], rec["s"], confidence=0.90)
    assert _close(est90.ci_low, rec["ci90"][0])
    assert _close(est90.ci_high, rec["ci90"][1])


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.req("REQ-STAT-EDGE")
def test_one_positive_gives_auc_but_no_ci_like_proc() -> None:
    rec = AUC_CASES["one_positive"]
    assert rec["ci95"] == [None, None]  # pROC::ci.auc returns NA
    est = auc(rec["y"], rec["s"])
    assert _close(est.estimate, rec["auc"])
    assert math.isnan(est.ci_low)
    assert math.isnan(est.ci_high)
    assert est.se is not None
    assert math.isnan(est.se)
    assert est.reason is not None
    assert "at least 2 positive" in est.reason
    assert not est.estimable


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("y", "expected"), [([0, 0, 0, 0], "1 positive|0 positive"), ([1, 1], "0 negative")]
)
def test_one_class_is_not_estimable(y: list[int], expected: str) -> None:
    est = auc(y, np.linspace(0, 1, len(y)))
    assert math.isnan(est.estimate)
    assert math.isnan(est.ci_low)
    assert est.reason is not None
    assert any(part in est.reason for part in expected.split("|"))


@pytest.mark.req("REQ-STAT-EDGE")
def test_all_negative_fixture_r_refuses_and_we_return_not_estimable() -> None:
    rec = AUC_CASES["all_negative"]
    assert "No case observation" in rec["r_error"]
    est = auc(rec["y"], rec["s"])
    assert not est.estimable
    assert math.isnan(est.estimate)


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(("name", "value"), [("perfect", 1.0), ("constant", 0.5)])
def test_zero_variance_collapses_the_interval(name: str, value: float) -> None:
    rec = AUC_CASES[name]
    est = auc(rec["y"], rec["s"])
    assert rec["var"] == 0
    assert (est.estimate, est.ci_low, est.ci_high, est.se) == (value, value, value, 0.0)


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("rec", COMPARE_FIXTURE["datasets"], ids=lambda r: r["name"])
def test_paired_delong_matches_proc_roc_test(rec: dict[str, Any]) -> None:
    res = compare_auc(rec["y"], rec["a"], rec["b"])
    assert res.method == "delong-paired"
    assert _close(res.estimate_a, rec["auc_a"])
    assert _close(res.estimate_b, rec["auc_b"])
    assert _close(res.estimate, rec["auc_a"] - rec["auc_b"])
    assert _close(res.statistic, rec["z"])
    assert _close(res.p_value, rec["p"])
    assert _close(res.ci_low, rec["ci95"][0])
    assert _close(res.ci_high, rec["ci95"][1])
    res90 = compare_auc(rec["y"], rec["a"], rec["b"], confidence=0.90)
    assert _close(res90.ci_low, rec["ci90"][0])
    assert _close(res90.ci_high, rec["ci90"][1])


@pytest.mark.req("REQ-STAT-AUC")
def test_paired_sign_convention_is_a_minus_b() -> None:
    rec = next(r for r in COMPARE_FIXTURE["datasets"] if r["name"] == "b_better")
    ab = compare_auc(rec["y"], rec["a"], rec["b"])
    ba = compare_auc(rec["y"], rec["b"], rec["a"])
    assert ab.estimate < 0 < ba.estimate
    assert ab.statistic < 0 < ba.statistic
    assert ab.ci_high < 0
    assert math.isclose(ab.p_value, ba.p_value, rel_tol=1e-12)
    assert math.isclose(ab.ci_low, -ba.ci_high, abs_tol=1e-12)


@pytest.mark.req("REQ-STAT-AUC")
def test_identical_scores_give_z_zero_and_p_one() -> None:
    rec = AUC_CASES["ties"]
    res = compare_auc(rec["y"], rec["s"], rec["s"])
    assert (res.estimate, res.statistic, res.p_value, res.se) == (0.0, 0.0, 1.0, 0.0)


# ------------------------------------------------------------------- clustered (Obuchowski) --


@pytest.mark.req("REQ-STAT-AUC")
def test_clustered_matches_base_r_obuchowski_transcription() -> None:
    clu = AUC_FIXTURE["clustered"]
    data, ref = clu["data"], clu["values"]
    est_a = auc(data["y"], data["s1"], clusters=data["cluster"])
    est_b = auc(data["y"], data["s2"], clusters=data["cluster"])
    assert est_a.method == "obuchowski"
    assert _close(est_a.estimate, ref["auc_a"])
    assert _close(est_b.estimate, ref["auc_b"])
    assert est_a.se is not None
    assert est_b.se is not None
    assert _close(est_a.se**2, ref["var_a"])
    assert _close(est_b.se**2, ref["var_b"])
    cmp = compare_auc(data["y"], data["s1"], data["s2"], clusters=data["cluster"])
    assert cmp.method == "obuchowski-paired"
    assert cmp.se is not None
    assert _close(cmp.se**2, ref["var_a"] + ref["var_b"] - 2 * ref["cov_ab"])
    # Clustering matters here: the naive DeLong variance differs from the clustered one.
    plain = auc(data["y"], data["s1"])
    assert plain.se is not None
    assert abs(plain.se - est_a.se) > 1e-3


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("name", WITH_CI)
def test_singleton_clusters_reduce_to_proc_delong(name: str) -> None:
    rec = AUC_CASES[name]
    est = auc(rec["y"], rec["s"], clusters=[f"id{i}" for i in range(len(rec["y"]))])
    assert est.se is not None
    assert _close(est.se**2, rec["var"])
    assert _close(est.ci_low, rec["ci95"][0])
    assert _close(est.ci_high, rec["ci95"][1])


@pytest.mark.req("REQ-STAT-EDGE")
def test_clustered_with_one_positive_cluster_has_no_ci() -> None:
    est = auc([1, 1, 0, 0, 0], [0.9, 0.8, 0.1, 0.5, 0.3], clusters=["a", "a", "b", "c", "d"])
    assert est.estimate == 1.0
    assert math.isnan(est.ci_low)
    assert est.reason is not None
    assert "2 clusters with a positive" in est.reason


# ---------------------------------------------------------------------- fast vs slow twin -----

small_data = st.integers(4, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(
            lambda y: 2 <= sum(y) <= len(y) - 2
        ),
        st.lists(st.integers(0, 6), min_size=n, max_size=n),  # few levels: many ties
        st.lists(st.integers(0, 6), min_size=n, max_size=n),
        st.lists(st.integers(0, 7), min_size=n, max_size=n),
    )
)


@pytest.mark.req("REQ-STAT-AUC")
@given(small_data)
def test_fast_auc_and_variance_equal_pairwise_twin(data: tuple[list[int], ...]) -> None:
    y, s, _, _ = data
    est = auc(y, s)
    assert math.isclose(est.estimate, naive_auc(y, s), abs_tol=TWIN_TOL)
    var = naive_auc_covariance(y, [s])[0][0]
    assert est.se is not None
    assert math.isclose(est.se**2, var, abs_tol=TWIN_TOL)
    assert 0.0 <= est.ci_low <= est.estimate <= est.ci_high <= 1.0


@pytest.mark.req("REQ-STAT-AUC")
@given(small_data)
def test_placements_equal_pairwise_structural_components(data: tuple[list[int], ...]) -> None:
    y, s, _, _ = data
    y8 = np.asarray(y, dtype=np.int8)
    sf = np.asarray(s, dtype=np.float64)
    v10, v01 = naive_placements(y, s)
    ordered = placements(y8, sf)
    np.testing.assert_allclose(ordered[0], v10, atol=TWIN_TOL)
    np.testing.assert_allclose(ordered[1], v01, atol=TWIN_TOL)


@pytest.mark.req("REQ-STAT-AUC")
@given(small_data)
def test_clustered_and_paired_equal_slow_obuchowski(data: tuple[list[int], ...]) -> None:
    y, a, b, cl = data
    clusters = [f"p{c}" for c in cl]
    pos_clusters = {c for c, t in zip(clusters, y, strict=True) if t == 1}
    neg_clusters = {c for c, t in zip(clusters, y, strict=True) if t == 0}
    est = auc(y, a, clusters=clusters)
    cmp = compare_auc(y, a, b, clusters=clusters)
    if len(pos_clusters) < 2 or len(neg_clusters) < 2:
        assert est.reason is not None
        assert cmp.reason is not None
        return
    cov = naive_auc_covariance(y, [a, b], clusters)
    if cov[0][0] < 0:  # Obuchowski's S11 can make the estimate negative: reported, not hidden
        assert est.reason is not None
        assert "negative" in est.reason
    else:
        assert est.se is not None
        assert math.isclose(est.se**2, cov[0][0], abs_tol=TWIN_TOL)
    var_d = cov[0][0] + cov[1][1] - 2 * cov[0][1]
    assert cmp.se is not None
    assert math.isclose(cmp.se**2, max(var_d, 0.0), abs_tol=TWIN_TOL)


@pytest.mark.req("REQ-STAT-AUC")
@given(small_data)
def test_paired_delong_equals_slow_twin(data: tuple[list[int], ...]) -> None:
    y, a, b, _ = data
    cov = naive_auc_covariance(y, [a, b])
    res = compare_auc(y, a, b)
    assert math.isclose(res.estimate, naive_auc(y, a) - naive_auc(y, b), abs_tol=TWIN_TOL)
    assert res.se is not None
    assert math.isclose(res.se**2, cov[0][0] + cov[1][1] - 2 * cov[0][1], abs_tol=TWIN_TOL)


@pytest.mark.req("REQ-STAT-AUC")
def test_merge_and_argsort_paths_agree_at_scale() -> None:
    rng = np.random.default_rng(7)
    y = (rng.random(200_000) < 0.3).astype(np.int8)
    s = np.round(rng.normal(size=y.size) + y, 2)  # heavy ties
    merged = auc(y, s)
    ordered = auc(y, s, clusters=np.arange(y.size))
    assert merged.se is not None
    assert ordered.se is not None
    assert math.isclose(merged.estimate, ordered.estimate, abs_tol=1e-12)
    assert math.isclose(merged.se, ordered.se, rel_tol=1e-9)


# ------------------------------------------------------------------------- bad arguments -----


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"y_true": [0, 1, 2], "y_score": [0.1, 0.2, 0.3]},
            r"y_true must be labels 0 or 1.*1 other",
        ),
        ({"y_true": [0, 1, np.nan], "y_score": [0.1, 0.2, 0.3]}, r"y_true .* 1 NaN"),
        ({"y_true": [0, 1, 1], "y_score": [0.1, np.nan, np.inf]}, r"y_score must be finite.*2 NaN"),
        ({"y_true": [0, 1, 1], "y_score": [0.1, 0.2]}, r"equal length.*y_true=3, y_score=2"),
        ({"y_true": [0, 1], "y_score": [0.1, 0.2], "confidence": 1.5}, r"confidence must be.*1\.5"),
        ({"y_true": [0, 1], "y_score": [0.1, 0.2], "confidence": 0}, r"confidence must be.*got 0"),
        ({"y_true": [0, 1], "y_score": [0.1, 0.2], "clusters": ["a"]}, r"clusters=1"),
        (
            {"y_true": [0, 1], "y_score": [0.1, 0.2], "clusters": ["a", None]},
            r"clusters.*1 missing",
        ),
        (
            {"y_true": [0, 1], "y_score": [0.1, 0.2], "clusters": [1.0, np.nan]},
            r"clusters.*1 missing",
        ),
    ],
)
def test_auc_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        auc(**kwargs)


@pytest.mark.req("REQ-STAT-EDGE")
def test_compare_auc_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"score_b must be finite.*1 NaN"):
        compare_auc([0, 1, 1], [0.1, 0.2, 0.3], [0.1, np.nan, 0.3])
    with pytest.raises(InvalidArgumentError, match=r"equal length.*score_b=2"):
        compare_auc([0, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.3])


@pytest.mark.req("REQ-STAT-EDGE")
def test_compare_auc_one_class_is_not_estimable() -> None:
    res = compare_auc([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    assert not res.estimable
    assert math.isnan(res.estimate)
    assert math.isnan(res.p_value)
    assert res.reason is not None
    assert "0 negative" in res.reason
