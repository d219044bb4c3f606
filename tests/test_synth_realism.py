"""REQ-SYN-002: the virtual cohort's biology falls in published ranges; the imaging signal is real.

Published ranges (sources in :mod:`her2map.synth.parameters`): HER2-positive prevalence 15-20 %
(Howlader et al., JNCI 2014); HER2-low about half, taken as 40-60 % (Tarantino et al., JCO 2020;
Schettini et al., NPJ Breast Cancer 2021); core-biopsy versus surgical HER2 discordance 2-15 % (Chen
et al., BCRT 2012 meta-analysis; Greer et al. 2013); pCR of HER2-positive disease given anti-HER2
therapy 45-65 % (NeoSphere 45.8 %, TRYPHAENA 57-66 %, CTNeoBC 31-50 %), of HER2-negative disease
15-22 % (CTNeoBC ~17-19 %, lower if HR-positive: 7.5-16.2 %); neoadjuvant therapy for most
HER2-positive and triple-negative biopsies and a minority of HR+/HER2- ones (NCCN; Murphy et al.,
Ann Surg Oncol 2018); HER2 loss in residual HER2-positive disease after anti-HER2 NAT 10-25 %
(Guarneri et al., Ann Oncol 2013), gain in HER2-negative residual disease under 5 % (van de Ven et
al., Cancer Treat Rev 2011). Prevalence and pCR rates are judged on the TRUE pretreatment
whole-tumour status (truth.csv); the surgical specimen exists only where tumour remained.

Tolerance: an observed share of n patients is accepted when it lies within the published range
widened by 3 binomial standard errors at the nearer bound, sqrt(p (1 - p) / n); a correct
generator fails such a check with probability below 0.3 % per range (and the seed is fixed).
Expected ASCO/CAP categories come from the guideline's table (Wolff et al., JCO 2018), worked by hand.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from her2map.synth import DEFAULT_PARAMS, simulate_clinical
from her2map.synth.clinical import patient_rng, simulate_patient
from her2map.synth.imaging import render_images
from her2map.synth.tumor import HER2Score, asco_cap

N = 1500
SEED = 20240501


@pytest.fixture(scope="module")
def clinical() -> pd.DataFrame:
    """clinical.csv rows with the truth columns beside them (pcr as 0/1 or NaN)."""
    table, truth = simulate_clinical(N, SEED, DEFAULT_PARAMS)
    table = table.merge(truth, on="patient_id")
    table["pcr"] = pd.to_numeric(table["pcr"])
    table["reference_her2"] = pd.to_numeric(table["reference_her2"])
    return table


def _within(observed: float, n: int, low: float, high: float) -> bool:
    bound = low if observed < low else high
    se = math.sqrt(bound * (1.0 - bound) / n)
    return low - 3.0 * se <= observed <= high + 3.0 * se


@pytest.mark.req("REQ-SYN-002")
def test_prevalence_and_her2_low_share(clinical: pd.DataFrame) -> None:
    positive = clinical["true_her2"].mean()
    low = clinical["true_category"].isin(("1+", "2+/ISH-")).mean()
    assert _within(positive, N, 0.15, 0.20), positive
    assert _within(low, N, 0.40, 0.60), low
    assert set(clinical["reference_ihc"]) == {"0", "1+", "2+", "3+", ""}
    ish_done = clinical["reference_ish"] != ""
    assert (ish_done == (clinical["reference_ihc"] == "2+")).all()
    assert (clinical["reference_ish"] == "positive").any()


@pytest.mark.req("REQ-SYN-002")
def test_biopsy_discordance_from_heterogeneity(clinical: pd.DataFrame) -> None:
    upfront = clinical[clinical["pathway"] == "upfront-surgery"]
    discordant = (upfront["reference_her2"] != upfront["biopsy_her2"]).mean()
    assert _within(discordant, len(upfront), 0.02, 0.15), discordant
    nat = clinical[clinical["pathway"] == "neoadjuvant"]
    missed = nat[(nat["true_her2"] == 1) & (nat["biopsy_her2"] == 0)]
    assert len(missed) > 0
    assert (missed["therapy"] == "chemotherapy").all()


@pytest.mark.req("REQ-SYN-002")
def test_pcr_rates_by_biology_and_therapy(clinical: pd.DataFrame) -> None:
    treated = clinical[(clinical["true_her2"] == 1) & (clinical["therapy"] == "anti-HER2")]
    negative = clinical[(clinical["true_her2"] == 0) & (clinical["pathway"] == "neoadjuvant")]
    assert _within(treated["pcr"].mean(), len(treated), 0.45, 0.65), treated["pcr"].mean()
    assert _within(negative["pcr"].mean(), len(negative), 0.15, 0.22), negative["pcr"].mean()
    hr_pos = negative[negative["hr_status"] == 1]["pcr"].mean()
    hr_neg = negative[negative["hr_status"] == 0]["pcr"].mean()
    assert hr_pos < hr_neg
    missed = clinical[(clinical["true_her2"] == 1) & (clinical["therapy"] == "chemotherapy")]
    assert missed["pcr"].mean() < treated["pcr"].mean()


@pytest.mark.req("REQ-SYN-003")
def test_pathway_follows_the_biopsy_subtype(clinical: pd.DataFrame) -> None:
    nat = clinical["pathway"] == "neoadjuvant"
    her2 = clinical["biopsy_her2"] == 1
    tn = ~her2 & (clinical["hr_status"] == 0)
    luminal = ~her2 & (clinical["hr_status"] == 1)
    assert _within(nat[her2].mean(), int(her2.sum()), 0.60, 0.90), nat[her2].mean()
    assert _within(nat[tn].mean(), int(tn.sum()), 0.55, 0.85), nat[tn].mean()
    assert _within(nat[luminal].mean(), int(luminal.sum()), 0.10, 0.30), nat[luminal].mean()
    assert clinical.loc[~nat, "pcr"].isna().all()
    assert (clinical.loc[~nat, "therapy"] == "").all()


@pytest.mark.req("REQ-SYN-003", "REQ-REF-001")
def test_surgical_her2_only_where_tumour_remains_with_rare_conversion(
    clinical: pd.DataFrame,
) -> None:
    complete = clinical["pcr"] == 1
    assert complete.sum() > 0
    assert clinical.loc[complete, "reference_her2"].isna().all()
    assert clinical.loc[~complete, "reference_her2"].notna().all()
    residual = clinical[(clinical["pcr"] == 0) & (clinical["true_her2"] == 1)]
    residual = residual[residual["therapy"] == "anti-HER2"]
    lost = (residual["reference_her2"] == 0).mean()
    assert _within(lost, len(residual), 0.10, 0.25), lost
    negative = clinical[(clinical["pcr"] == 0) & (clinical["true_her2"] == 0)]
    gained = (negative["reference_her2"] == 1).mean()
    assert _within(gained, len(negative), 0.0, 0.05), gained
    upfront = clinical[clinical["pathway"] == "upfront-surgery"]
    assert (upfront["residual_conversion"] == 0).all()
    assert (upfront["reference_her2"] == upfront["true_her2"]).all()


@pytest.mark.req("REQ-SYN-003")
def test_every_site_has_two_vendors_and_vendors_are_shared(clinical: pd.DataFrame) -> None:
    vendors = clinical.groupby("site")["manufacturer"].nunique()
    assert (vendors >= 2).all(), vendors.to_dict()
    sites = clinical.groupby("manufacturer")["site"].nunique()
    assert (sites >= 2).all(), sites.to_dict()
    assert set(clinical["race_ethnicity"]) == set(DEFAULT_PARAMS.biology.race_categories)
    white = (clinical["race_ethnicity"] == "White").mean()
    assert _within(white, N, 0.55, 0.70), white
    assert set(clinical["density"]) == {"a", "b", "c", "d"}
    assert set(clinical["reference_category"]) == {"0", "1+", "2+/ISH-", "2+/ISH+", "3+", ""}


@pytest.mark.req("REQ-SYN-002")
def test_sites_unequal_and_d_external(clinical: pd.DataFrame) -> None:
    counts = clinical["site"].value_counts()
    assert counts.to_dict() == {"A": 525, "B": 375, "C": 300, "D": 300}  # 35/25/20/20 % of 1500


@pytest.mark.parametrize(
    ("cells", "ratio", "expected"),
    [
        # 20 % of cells 3+ (> 10 %) -> 3+ positive, no ISH
        ([3.0] * 2 + [1.0] * 8, [1.0] * 10, HER2Score("3+", "", 1, 0)),
        # exactly 10 % 3+ is NOT > 10 %; 3+ and 2+ cells together 30 % -> 2+, ISH decides
        ([3.0] + [2.0] * 2 + [0.0] * 7, [2.5] * 10, HER2Score("2+", "positive", 1, 0)),
        ([3.0] + [2.0] * 2 + [0.0] * 7, [1.2] * 10, HER2Score("2+", "negative", 0, 1)),
        # 20 % faint (1+) -> 1+ HER2-low
        ([1.0] * 2 + [0.0] * 8, [1.0] * 10, HER2Score("1+", "", 0, 1)),
        # 10 % faint is not > 10 % -> 0
        ([1.0] + [0.0] * 9, [1.0] * 10, HER2Score("0", "", 0, 0)),
    ],
)
def test_asco_cap_table(cells: list[float], ratio: list[float], expected: HER2Score) -> None:
    got = asco_cap(
        np.asarray(cells, np.float32), np.asarray(ratio, np.float32), DEFAULT_PARAMS.biology
    )
    assert got == expected


def _mr_washout_auc(scale: float, n: int = 120) -> float:
    """AUC of a crude DCE wash-out feature for whole-tumor HER2 (Mann-Whitney, by hand)."""
    imaging = dataclasses.replace(DEFAULT_PARAMS.imaging, signal_scale=scale)
    params = dataclasses.replace(DEFAULT_PARAMS, imaging=imaging)
    labels, features = [], []
    for i in range(n):
        patient = simulate_patient(5, i, "D", params)
        images = render_images(
            patient_rng(5, 2, i), patient.tumor, patient.density_index, "L", ("MR",),
            patient.site, params,
        )  # fmt: skip
        mr = images["MR"].astype(np.float64)
        wash_in, wash_out = mr[1] - mr[0], mr[2] - mr[1]
        hot = wash_in >= np.quantile(wash_in, 0.97)
        features.append(-wash_out[hot].mean() / max(wash_in[hot].mean(), 1.0))
        labels.append(patient.truth["true_her2"])
    y, f = np.asarray(labels), np.asarray(features)
    pos, neg = f[y == 1], f[y == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


@pytest.mark.req("REQ-SYN-002")
def test_imaging_signal_follows_expression_and_its_knob() -> None:
    with_signal = _mr_washout_auc(1.0)
    without = _mr_washout_auc(0.0)
    assert with_signal > 0.75
    assert abs(without - 0.5) < 0.15


@pytest.mark.req("REQ-FW-001", "REQ-SYN-001")
def test_cohorts_of_different_seeds_have_disjoint_patient_ids() -> None:
    """The firewall compares ids, so a validation cohort must never reuse development ids."""
    first, _ = simulate_clinical(50, 20250101, DEFAULT_PARAMS)
    again, _ = simulate_clinical(50, 20250101, DEFAULT_PARAMS)
    other, _ = simulate_clinical(50, 7, DEFAULT_PARAMS)
    assert list(first["patient_id"]) == list(again["patient_id"])
    assert not set(first["patient_id"]) & set(other["patient_id"])
    assert first["patient_id"].is_unique
    assert first["patient_id"].str.fullmatch(r"P[0-9A-F]{6}-\d{6}").all()
