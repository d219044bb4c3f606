"""Analysis population: counted, reasoned exclusions; nothing dropped silently (REQ-PROT-001)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.exceptions import RunError
from validation.protocol import Protocol, apply_population
from validation.protocol.loader import protocol_from_dict
from validation.protocol.model import Population

pytestmark = pytest.mark.req("REQ-PROT-001")

ROOT = Path(__file__).resolve().parents[1]


def _labels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
            "reference_her2": [1, 0, np.nan, 0, 1, 0, 1],
            "age": [55, 17, 60, np.nan, 44, 70, 38],
            "site": ["A", "B", "A", "C", "D", "D", "B"],
            "modalities": [
                "MG_CC+MG_MLO+US",
                "US",
                "MR",
                "MG_CC+US",
                "MR",
                None,
                "MG_CC+MG_MLO+US+MR",
            ],
        }
    )


def _population(inclusion: list[dict], exclusion: list[dict] | None = None) -> Population:
    raw = {
        "id": "T",
        "version": "1",
        "title": "t",
        "rationale": "r",
        "reference_standard": "reference_her2",
        "population": {"inclusion": inclusion, "exclusion": exclusion or []},
        "operating_point": {"threshold": "lock"},
        "bootstrap": {"replicates": 100, "seed": 1},
        "endpoints": [{"id": "E", "metric": "auc", "criterion": "estimate >= 0.5"}],
    }
    return protocol_from_dict(raw).population


@pytest.mark.req("REQ-REF-001")
def test_val_001_population_flow() -> None:
    population = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml").population
    table = _labels()
    table["pcr"] = [np.nan, np.nan, 1, np.nan, 0, np.nan, np.nan]
    table.loc[7] = ["P8", np.nan, 50, "A", "US", 0]  # residual tumour, surgical HER2 not recorded
    included, steps = apply_population(population, table)
    # P3: pCR, no specimen; P8: specimen missing; P2: age 17; P4: age missing; P6: no modality
    assert included["patient_id"].tolist() == ["P1", "P5", "P7"]
    flow = [(s.reason, s.count, s.patient_ids) for s in steps]
    assert flow == [
        (
            "pathological complete response (ypT0/is ypN0): no invasive tumour left for a "
            "surgical-specimen HER2",
            1,
            ("P3",),
        ),
        ("surgical-specimen HER2 (ASCO/CAP 2018) not available", 1, ("P8",)),
        ("age missing", 1, ("P4",)),
        ("under 18 years (outside the intended use)", 1, ("P2",)),
        ("no pretreatment imaging modality available", 1, ("P6",)),
    ]
    assert len(included) + sum(s.count for s in steps) == len(table)


@pytest.mark.req("REQ-REF-001")
def test_a_reference_value_where_it_cannot_exist_refuses_the_run() -> None:
    """A plausible wrong version would just count P3 as excluded and go on: the value is invented."""
    population = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml").population
    table = _labels()
    table["pcr"] = [1, np.nan, np.nan, np.nan, 0, np.nan, np.nan]  # P1: pCR AND a surgical HER2
    with pytest.raises(
        RunError,
        match=r"reference_standard\.absent_when\[0\] \(pcr == 1: pathological complete "
        r"response.*1 patient\(s\) have a surgical-specimen HER2 \(ASCO/CAP 2018\) value "
        r"\('reference_her2'\) where it cannot exist: P1; such a value is invented",
    ):
        apply_population(population, table)


@pytest.mark.req("REQ-REF-001")
def test_nat_002_counts_upfront_surgery_under_its_reason() -> None:
    population = Protocol.from_yaml(ROOT / "protocols" / "HER2-NAT-002.yaml").population
    table = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3", "P4"],
            "pathway": ["neoadjuvant", "upfront-surgery", "neoadjuvant", "neoadjuvant"],
            "pcr": [1, np.nan, 0, np.nan],
            "biopsy_her2": [1, 0, 0, 1],
            "therapy": ["anti-HER2", np.nan, "chemotherapy", "anti-HER2"],
            "score_pcr": [0.7, np.nan, 0.2, 0.4],
        }
    )
    included, steps = apply_population(population, table)
    assert included["patient_id"].tolist() == ["P1", "P3"]
    assert [(s.reason, s.patient_ids) for s in steps[:2]] == [
        ("upfront surgery: no neoadjuvant therapy, no response to assess", ("P2",)),
        ("pathological complete response (ypT0/is ypN0) after neoadjuvant therapy not available",
         ("P4",)),
    ]  # fmt: skip
    table.loc[1, "pcr"] = 0  # a response recorded after upfront surgery cannot exist
    with pytest.raises(RunError, match=r"absent_when\[0\] \(pathway == 'upfront-surgery'"):
        apply_population(population, table)


def test_modality_rules_and_exclusions() -> None:
    population = _population(
        [{"modalities_include": ["MR"], "reason": "no MRI"}],
        [{"column": "site", "op": "in", "value": ["D"], "reason": "site D withdrew"}],
    )
    included, steps = apply_population(population, _labels())
    assert included["patient_id"].tolist() == ["P3", "P7"]
    assert [(s.step, s.count) for s in steps] == [("inclusion[0]", 4), ("exclusion[0]", 1)]
    assert steps[1].patient_ids == ("P5",)


def test_rules_that_remove_nobody_are_still_listed() -> None:
    population = _population([{"column": "site", "op": "!=", "value": "Z"}])
    included, steps = apply_population(population, _labels())
    assert len(included) == 7
    assert [(s.rule, s.reason, s.count) for s in steps] == [("site != 'Z'", "site != 'Z'", 0)]


def test_missing_column_and_non_numeric_values_are_errors() -> None:
    with pytest.raises(
        RunError, match=r"population inclusion\[0\]: the labels table has no column 'density'"
    ):
        apply_population(_population([{"column": "density", "op": "==", "value": "a"}]), _labels())
    table = _labels().assign(age=["55", "x", "60", None, "44", "70", "38"])
    with pytest.raises(
        RunError, match=r"column 'age' has 1 non-numeric or non-finite value\(s\), e\.g\. \['x'\]"
    ):
        apply_population(_population([{"column": "age", "op": ">=", "value": 18}]), table)
    # an infinite value compares like a number but is not one: refused like 'nan' (before, 'inf'
    # passed '>= 18' and was banded '>=70')
    table = _labels().assign(age=["55", "inf", "60", None, "44", "nan", "38"])
    with pytest.raises(RunError, match=r"column 'age' has 2 non-numeric or non-finite value\(s\), "
                       r"e\.g\. \['inf', 'nan'\]"):  # fmt: skip
        apply_population(_population([{"column": "age", "op": ">=", "value": 18}]), table)


@given(
    st.lists(st.one_of(st.none(), st.integers(min_value=0, max_value=99)), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=99),
)
def test_every_patient_is_included_or_counted_once(ages: list[int | None], cut: int) -> None:
    table = pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(len(ages))],
            "age": pd.array(ages, dtype="Int64"),
        }
    )
    population = _population(
        [{"column": "age", "op": ">=", "value": cut}], [{"column": "age", "op": "==", "value": cut}]
    )
    included, steps = apply_population(population, table)
    removed = [pid for s in steps for pid in s.patient_ids]
    assert sorted(removed + included["patient_id"].tolist()) == table["patient_id"].tolist()
    assert len(set(removed)) == len(removed)
    expected = [
        pid for pid, a in zip(table["patient_id"], ages, strict=True) if a is not None and a > cut
    ]
    assert included["patient_id"].tolist() == expected


@pytest.mark.req("REQ-SUB-002")
def test_age_bands_label_levels_as_written() -> None:
    from validation.protocol import subgroup_levels

    protocol = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml")
    spec = next(s for s in protocol.subgroups if s.id == "VAL-G4")
    table = pd.DataFrame({"age": [18, 49, 50, 69, 70, 85, np.nan]})
    levels = subgroup_levels(spec, table).tolist()
    # 50 and 70 fall in the upper band (cut points are the lower bounds of the next band)
    assert levels == ["<50", "<50", "50-<70", "50-<70", ">=70", ">=70", "missing"]
    with pytest.raises(RunError, match=r"subgroup VAL-G4: column 'age' has non-numeric"):
        subgroup_levels(spec, pd.DataFrame({"age": ["old"]}))


def test_banding_a_column_of_unknown_kind_with_text_names_both_table_and_protocol() -> None:
    """A column outside the data dictionary's kinds (here ``anti_her2``) is banded at run time;
    text in it may be a wrong table or a wrong protocol, and the message says both (before: "fix
    the table" only, when the protocol was the one at fault)."""
    from validation.protocol.model import SubgroupSpec
    from validation.protocol.population import subgroup_levels

    spec = SubgroupSpec(id="G9", by="anti_her2", metric="auc", min_size=1, bands=(0.5,))
    table = pd.DataFrame({"anti_her2": ["yes", "no", None, "inf"]})
    with pytest.raises(
        RunError,
        match=r"^subgroup G9: column 'anti_her2' has non-numeric or non-finite value\(s\) "
        r"\['inf', 'no', 'yes'\], but the protocol bands it at 0\.5: either the table is wrong "
        r"\(fix the column's values\) or the protocol is \(the column is not numeric: amend",
    ):
        subgroup_levels(spec, table)
    good = pd.DataFrame({"anti_her2": ["0", "1", None]})
    assert subgroup_levels(spec, good).tolist() == ["<0.5", ">=0.5", "missing"]
