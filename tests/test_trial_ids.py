"""Patient ids are normalised (REQ-TRIAL-001): case and surrounding spaces do not make a second
patient; the id as first enrolled is what status and export show."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from trial_models import trial_model

from validation.exceptions import TrialRuleError
from validation.trial import Trial
from validation.trial.events import EventKind

LOCK = "a" * 64


@pytest.fixture
def trial(tmp_path: Path) -> Any:
    with Trial.open(tmp_path / "trial.db") as t:
        t.open_recruitment(
            ["A", "B"], protocol_id="HER2-PRO-004", actor="coord", site="A", model=trial_model()
        )
        t.enrol("P-0001", consent_ref="IC-1", laterality="L", actor="dr.a", site="A")
        yield t


def test_patient_key_strips_and_casefolds() -> None:
    from validation.trial.events import patient_key

    assert patient_key(" P-0001\t") == "p-0001"
    assert patient_key("p-0001") == patient_key("P-0001")
    assert patient_key("P-0001") != patient_key("P-0002")


@pytest.mark.req("REQ-TRIAL-001")
@pytest.mark.parametrize("other", ["p-0001", "p-0001 ", " P-0001", "P-0001"])
def test_a_case_or_space_variant_is_refused_as_a_second_enrolment(trial: Trial, other: str) -> None:
    """Another site learns only that the id is taken, not where nor how it is spelt (wrong
    version: site B is told "already enrolled as 'P-0001' at site 'A'")."""
    before = trial.ledger.head()
    with pytest.raises(TrialRuleError, match=r"ENROL-ONCE: already enrolled in the trial") as info:
        trial.enrol(other, consent_ref="IC-2", laterality="R", actor="dr.b", site="B")
    assert info.value.rule == "ENROL-ONCE"
    assert "P-0001" not in str(info.value).replace(f"patient {other.strip()}:", "")
    assert "site" not in str(info.value)
    with pytest.raises(
        TrialRuleError, match=r"ENROL-ONCE: already enrolled as 'P-0001' at site 'A'"
    ):
        trial.enrol(other, consent_ref="IC-2", laterality="R", actor="dr.a", site="A")
    assert trial.ledger.head() == before


@pytest.mark.req("REQ-TRIAL-001")
def test_events_for_a_variant_reach_the_enrolled_record(trial: Trial, tmp_path: Path) -> None:
    trial.predict_external(
        "p-0001 ", score=0.8, model_lock=LOCK, threshold=0.5, modalities="US",
        actor="dr.a", site="A",
    )  # fmt: skip
    trial.record_biopsy("p-0001", ihc="3+", ish="not_done", actor="path.a", site="A")
    with pytest.raises(TrialRuleError, match="ONCE"):
        trial.predict_external(
            "P-0001", score=0.1, model_lock=LOCK, threshold=0.5, modalities="US",
            actor="dr.a", site="A",
        )  # fmt: skip
    with pytest.raises(TrialRuleError, match="OWN-SITE"):
        trial.record_therapy("p-0001", regimen="TCHP", anti_her2=True, actor="dr.b", site="B")
    trial.correct(
        "p-0001", event="enrolled", field="age", value=61, reason="typo",
        actor="dr.a", site="A",
    )  # fmt: skip
    _, _, records = trial.snapshot()
    assert list(records) == ["P-0001"]
    record = records["P-0001"]
    assert record.patient_id == "P-0001"
    assert sorted(k.short for k in record.events) == ["biopsy", "enrolled", "prediction"]
    assert record.value(EventKind.ENROLLED, "age") == 61
    trial.export(tmp_path / "out")
    with (tmp_path / "out" / "predictions.csv").open() as handle:
        assert [row["patient_id"] for row in csv.DictReader(handle)] == ["P-0001"]
