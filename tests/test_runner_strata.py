"""NAT-002's comparison within each therapy received, the confounding sentence the data support,
planned versus achieved sample size, and the dossier tables that show them (REQ-PERF-005,
REQ-PLAN-001)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from validation.dossier.study import confounding_statements, sample_size_tables, strata_tables
from validation.protocol import ComparisonMethod, ComparisonSpec, Protocol
from validation.runner.analysis import Analysed, compute_comparison
from validation.runner.planned import sample_size_section

pytestmark = pytest.mark.req("REQ-PERF-005")


def _data(n: int = 240, *, assigned: bool = True) -> Analysed:
    rng = np.random.default_rng(4)
    biopsy = (rng.random(n) < 0.35).astype(float)
    therapy = np.where(biopsy == 1, "anti-HER2", "chemotherapy")
    if not assigned:  # some HER2-positive biopsies treated without anti-HER2
        therapy[: n // 10] = "chemotherapy"
    pcr = (rng.random(n) < np.where(therapy == "anti-HER2", 0.55, 0.2)).astype(float)
    score = np.clip(0.3 * pcr + 0.2 * biopsy + rng.normal(0.3, 0.15, n), 0.0, 1.0)
    table = pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "pcr": pcr,
            "biopsy_her2": biopsy,
            "therapy": therapy,
            "score": score,
            "score_pcr": score,
        }
    )
    return Analysed.from_table(table, reference="pcr", threshold=0.5, confidence=0.95)


SPEC = ComparisonSpec("NAT-C1", ComparisonMethod.COMPARE_AUC, score="score_pcr", strata="therapy")


def test_the_comparison_is_repeated_within_each_therapy() -> None:
    """A plausible wrong version repeats the whole-population comparison in every level."""
    data = _data()
    body, _ = compute_comparison(SPEC, data)
    assert body["strata_column"] == "therapy"
    levels = {s.level: s for s in body["strata"]}
    assert set(levels) == {"anti-HER2", "chemotherapy"}
    assert sum(s.n for s in levels.values()) == body["n"] == 240
    for level, stratum in levels.items():
        assert stratum.n == int((data.table["therapy"] == level).sum())
        # the biopsy call is constant within a therapy: its AUC there is 0.5
        assert stratum.auc_difference is not None
        assert stratum.auc_difference.estimate_b == pytest.approx(0.5)
    assert body["auc_difference"].estimate_b != pytest.approx(0.5)


def test_the_confounding_sentence_says_only_what_the_data_show() -> None:
    assigned, _ = compute_comparison(SPEC, _data())
    assert assigned["confounding"].comparator_assigns_strata
    assert assigned["confounding"].comparator_values == {"anti-HER2": (1,), "chemotherapy": (0,)}
    assert "the comparator determined the therapy received" in assigned["confounding"].statement
    mixed, _ = compute_comparison(SPEC, _data(assigned=False))
    assert not mixed["confounding"].comparator_assigns_strata
    assert "did not alone determine the therapy" in mixed["confounding"].statement
    plain, _ = compute_comparison(replace(SPEC, strata=None), _data())
    assert plain["strata"] == () and plain["confounding"] is None  # noqa: PT018


@pytest.mark.req("REQ-PLAN-001")
def test_planned_versus_achieved_flags_an_underpowered_run() -> None:
    protocol = Protocol.from_yaml(
        Path(__file__).resolve().parents[1] / "protocols" / "HER2-NAT-002.yaml"
    )
    data = _data(n=120)
    body, _ = compute_comparison(protocol.comparisons[0], data)
    comparison = SimpleNamespace(id=body["id"], auc_difference=body["auc_difference"])
    rows = sample_size_section(protocol, (), (comparison,), data.y, {"NAT-C1": data.y})  # type: ignore[arg-type]
    row, superiority = rows  # NAT-C1 and NAT-C2 are both planned
    assert superiority.id == "NAT-C2"
    assert superiority.required.n_total > row.required.n_total  # margin 0 needs more patients
    assert superiority.ci_width is None  # not computed in this test
    assert row.required.n_total == 235
    assert row.achieved.n_total == 120
    assert not row.reached
    d = body["auc_difference"]
    assert row.ci_width == pytest.approx(d.ci_high - d.ci_low)
    results = SimpleNamespace(
        sample_size=rows,
        settings=SimpleNamespace(confidence=0.95),
        comparisons=[SimpleNamespace(id="NAT-C1", score="score_pcr", comparator="biopsy_her2",
                                     strata_column=body["strata_column"], strata=body["strata"],
                                     confounding=body["confounding"])],
    )  # fmt: skip
    (table,) = sample_size_tables(results)  # type: ignore[arg-type]
    assert table.rows[0][7] == "NO — fewer patients than planned"
    (strata,) = strata_tables(results)  # type: ignore[arg-type]
    assert {r[2] for r in strata.rows} == {"anti-HER2", "chemotherapy"}
    assert confounding_statements(results) == [body["confounding"].statement]  # type: ignore[arg-type]


@pytest.mark.req("REQ-RESP-001")
def test_the_response_lock_is_read_once_and_a_mix_is_refused(tmp_path: Path) -> None:
    from validation.exceptions import RunError
    from validation.runner.tables import read_predictions

    path = tmp_path / "p.csv"
    lock, other = "a" * 64, "b" * 64
    path.write_text(
        "patient_id,site,score,score_pcr,model_lock,response_lock\n"
        f"P1,A,0.2,0.4,{'c' * 64},{lock}\nP2,A,0.7,,{'c' * 64},{lock}\n"
    )
    table = read_predictions(path)
    assert table.response_lock == lock
    assert table.frame["score_pcr"].isna().tolist() == [False, True]
    path.write_text(path.read_text().replace(f"0.7,,{'c' * 64},{lock}", f"0.7,,{'c' * 64},{other}"))
    with pytest.raises(RunError, match=r"line 3, column 'response_lock': the table mixes 2"):
        read_predictions(path)
