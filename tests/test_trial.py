"""Prospective-trial logging (REQ-TRIAL-001): events, rules, corrections, status, export, CLI.

References are independent of the code under test: the ASCO/CAP 2018 table is typed in from the
guideline (Wolff et al., J Clin Oncol 2018;36:2105, Fig. 1 and 2), expected counts and table rows
are written out by hand for a small scripted trial, and tampering is done with raw SQL.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest
from trial_models import trial_model

from validation.canonical import canonical_json, sha256_file
from validation.cli import main
from validation.exceptions import TrialRuleError
from validation.ledger import CORRECTION_EVENT
from validation.trial import (
    IHC,
    ISH,
    Her2Call,
    SiteStatus,
    Trial,
    her2_call,
    trial_status,
)

LOCK_A = "a" * 64
LOCK_B = "b" * 64

# ASCO/CAP 2018, typed in from the guideline: (IHC, ISH) -> call; None = undetermined (refused).
ASCO_CAP_2018 = {
    ("0", "not_done"): "negative",
    ("0", "negative"): "negative",
    ("0", "positive"): "negative",
    ("1+", "not_done"): "negative",
    ("1+", "negative"): "negative",
    ("1+", "positive"): "negative",
    ("2+", "not_done"): None,
    ("2+", "negative"): "negative",
    ("2+", "positive"): "positive",
    ("3+", "not_done"): "positive",
    ("3+", "negative"): "positive",
    ("3+", "positive"): "positive",
}


@pytest.fixture
def trial(tmp_path: Path) -> Any:
    with Trial.open(tmp_path / "trial.db") as t:
        t.open_recruitment(
            ["A", "B"], protocol_id="HER2-PRO-004", actor="coord", site="A", model=trial_model()
        )
        yield t


class Who(TypedDict):
    actor: str
    site: str


def _who(site: str = "A") -> Who:
    return {"actor": f"dr-{site}", "site": site}


def _full(t: Trial, pid: str, site: str = "A", *, pcr: bool = True, score: float = 0.8) -> None:
    t.enrol(pid, consent_ref=f"IC-{pid}", laterality="L", age=55, hr_status=1, **_who(site))
    t.predict_external(
        pid, score=score, model_lock=LOCK_A, threshold=0.5, modalities=["US", "MG_CC"], **_who(site)
    )
    t.record_biopsy(pid, ihc="2+", ish="positive", **_who(site))
    t.record_therapy(pid, regimen="TCHP x6", anti_her2=True, **_who(site))
    if not pcr:  # after pCR (ypT0/is ypN0) no invasive tumour is left for a surgical HER2
        t.record_surgery(pid, ihc="3+", ish="not_done", **_who(site))
    t.record_response(pid, pcr=pcr, **_who(site))


def _n(t: Trial) -> int:
    return t.ledger.head().seq


@pytest.mark.req("REQ-TRIAL-001")
@pytest.mark.parametrize(("ihc", "ish"), sorted(ASCO_CAP_2018))
def test_her2_call_follows_asco_cap_2018(ihc: str, ish: str) -> None:
    expected = ASCO_CAP_2018[(ihc, ish)]
    if expected is None:
        with pytest.raises(ValueError, match="IHC 2\\+ is equivocal and ISH was not done"):
            her2_call(IHC(ihc), ISH(ish))
    else:
        assert her2_call(IHC(ihc), ISH(ish)) is Her2Call(expected)


@pytest.mark.req("REQ-TRIAL-001", "REQ-AUD-001")
def test_full_patient_path_payloads_derive_calls(trial: Trial) -> None:
    _full(trial, "P1", pcr=False)
    entries = {e.event_type: e for e in trial.ledger.entries()}
    assert entries["trial.prediction"].payload == {
        "call": "positive",
        "model_lock": LOCK_A,
        "model_name": "external",
        "modalities": ["MG_CC", "US"],  # canonical order, whatever the caller's order
        "patient_id": "p1",  # the normalised key; the enrolment keeps "P1" as patient_label
        "score": 0.8,
        "site": "A",
        "source": "external",
        "threshold": 0.5,
    }
    assert entries["trial.biopsy"].payload["result"] == {
        "her2": "positive",
        "ihc": "2+",
        "ish": "positive",
    }
    assert entries["trial.surgery"].payload["result"]["her2"] == "positive"
    assert entries["trial.response"].payload == {
        "definition": "ypT0/is ypN0",
        "patient_id": "p1",
        "pcr": False,
        "site": "A",
    }
    assert entries["trial.enrolled"].payload["patient_label"] == "P1"
    assert all(e.actor in ("coord", "dr-A") and e.time_utc.endswith("Z") for e in entries.values())
    assert trial.verify().ok


@pytest.mark.req("REQ-TRIAL-001")
def test_prediction_call_is_derived_at_the_threshold(trial: Trial) -> None:
    trial.enrol("P1", consent_ref="c", **_who())
    entry = trial.predict_external(
        "P1", score=0.5, model_lock=LOCK_A, threshold=0.5, modalities="MR", **_who()
    )
    assert entry.payload["call"] == "positive"  # score >= threshold is positive (DESIGN.md)
    trial.enrol("P2", consent_ref="c", **_who())
    entry = trial.predict_external(
        "P2", score=0.4999, model_lock=LOCK_A, threshold=0.5, modalities="MR", **_who()
    )
    assert entry.payload["call"] == "negative"


_UIDS = {"study_uids": ["1.2.3"], "instance_uids": ["1.2.3.1"]}


@pytest.mark.req("REQ-TRIAL-001")
@pytest.mark.parametrize(
    "pacs",
    [
        "http://reader:secret@pacs:8042/dicom-web",  # credentials
        "https://pacs/dicom-web?token=abc",  # a query may carry a token
        "ftp://pacs/dicom-web",
        "http:///dicom-web",  # no host
        "http://pacs:99999/dicom-web",  # port out of range
        ["http://pacs/dicom-web"],
    ],
)
def test_a_dicom_prediction_names_its_pacs_only_as_a_plain_url(trial: Trial, pacs: Any) -> None:
    def record(pid: str, read: dict[str, Any]) -> Any:
        return trial.record_prediction(
            pid, score=0.7, threshold=0.5, model_lock=LOCK_A, model_name="m",
            modalities=["US"], source="dicom", read=read, imaging_date="2026-01-15", **_who(),
        )  # fmt: skip

    trial.enrol("P1", consent_ref="c", **_who())
    trial.enrol("P2", consent_ref="c", **_who())
    before = list(trial.ledger.entries())
    with pytest.raises(TrialRuleError, match=r"refused by rule VALUE: .*(read\.pacs|pacs URL)"):
        record("P1", {**_UIDS, "pacs": pacs})
    assert list(trial.ledger.entries()) == before
    entry = record("P2", {**_UIDS, "pacs": "https://pacs.example.org:8042/dicom-web"})
    assert entry.payload["read"] == {**_UIDS, "pacs": "https://pacs.example.org:8042/dicom-web"}


# (setup steps, action, expected rule) -- the setup runs on a trial opened with sites A and B.
REFUSALS: list[tuple[str, list[str], Any, str]] = [
    (
        "unknown patient",
        [],
        lambda t: t.record_biopsy("P9", ihc="0", ish="not_done", **_who()),
        "ENROLLED",
    ),
    (
        "second enrolment",
        ["enrol"],
        lambda t: t.enrol("P1", consent_ref="c", **_who("B")),
        "ENROL-ONCE",
    ),
    ("unknown site", [], lambda t: t.enrol("P1", consent_ref="c", **_who("Z")), "SITE-KNOWN"),
    ("wrong site", ["enrol"], lambda t: t.withdraw("P1", reason="moved", **_who("B")), "OWN-SITE"),
    ("second prediction", ["enrol", "predict"], lambda t: _predict(t), "ONCE"),
    ("prediction after biopsy", ["enrol", "biopsy"], lambda t: _predict(t), "BLINDING"),
    (
        "other model lock",
        ["enrol", "predict", "enrol2"],
        lambda t: _predict(t, "P2", LOCK_B),
        "MODEL-LOCK",
    ),
    (
        "therapy before biopsy",
        ["enrol"],
        lambda t: t.record_therapy("P1", regimen="x", anti_her2="no", **_who()),
        "ORDER",
    ),
    (
        "surgery before therapy",
        ["enrol", "biopsy"],
        lambda t: t.record_surgery("P1", ihc="0", ish="not_done", **_who()),
        "ORDER",
    ),
    (
        "response before therapy",
        ["enrol", "biopsy"],
        lambda t: t.record_response("P1", pcr="yes", **_who()),
        "ORDER",
    ),
    (
        "surgical HER2 after pCR",
        ["enrol", "biopsy", "therapy", "pcr"],
        lambda t: t.record_surgery("P1", ihc="0", ish="not_done", **_who()),
        "PCR-SURGICAL",
    ),
    (
        "pCR after a surgical HER2",
        ["enrol", "biopsy", "therapy", "surgery"],
        lambda t: t.record_response("P1", pcr="yes", **_who()),
        "PCR-SURGICAL",
    ),
    (
        "correction to pCR after a surgical HER2",
        ["enrol", "biopsy", "therapy", "surgery", "no-pcr"],
        lambda t: _fix(t, "response", "pcr", "yes"),
        "PCR-SURGICAL",
    ),
    (
        "second biopsy",
        ["enrol", "biopsy"],
        lambda t: t.record_biopsy("P1", ihc="3+", ish="not_done", **_who()),
        "ONCE",
    ),
    ("after withdrawal", ["enrol", "withdraw"], lambda t: _predict(t), "WITHDRAWN"),
    (
        "correction after withdrawal",
        ["enrol", "withdraw"],
        lambda t: _fix(t, "enrolled", "age", 60),
        "WITHDRAWN",
    ),
    (
        "IHC 4+",
        ["enrol"],
        lambda t: t.record_biopsy("P1", ihc="4+", ish="not_done", **_who()),
        "VALUE",
    ),
    (
        "ISH unknown",
        ["enrol"],
        lambda t: t.record_biopsy("P1", ihc="2+", ish="maybe", **_who()),
        "VALUE",
    ),
    (
        "2+ without ISH",
        ["enrol"],
        lambda t: t.record_biopsy("P1", ihc="2+", ish="not_done", **_who()),
        "ASCO-CAP",
    ),
    ("score 1.3", ["enrol"], lambda t: _predict(t, score=1.3), "VALUE"),
    ("score nan", ["enrol"], lambda t: _predict(t, score=float("nan")), "VALUE"),
    ("bad lock hash", ["enrol"], lambda t: _predict(t, lock="abc"), "VALUE"),
    (
        "unknown modality",
        ["enrol"],
        lambda t: t.predict_external(
            "P1", score=0.2, model_lock=LOCK_A, threshold=0.5, modalities="CT", **_who()
        ),
        "VALUE",
    ),
    ("empty consent", [], lambda t: t.enrol("P1", consent_ref=" ", **_who()), "VALUE"),
    ("age 12", [], lambda t: t.enrol("P1", consent_ref="c", age=12, **_who()), "VALUE"),
    ("bad patient id", [], lambda t: t.enrol("P 1", consent_ref="c", **_who()), "VALUE"),
    (
        "pcr maybe",
        ["enrol", "biopsy", "therapy", "surgery"],
        lambda t: t.record_response("P1", pcr="maybe", **_who()),
        "VALUE",
    ),
    (
        "empty withdrawal reason",
        ["enrol"],
        lambda t: t.withdraw("P1", reason="", **_who()),
        "VALUE",
    ),
    (
        "missing correction reason",
        ["enrol"],
        lambda t: _fix(t, "enrolled", "age", 60, reason=""),
        "CORRECTION-REASON",
    ),
    (
        "prediction corrected",
        ["enrol", "predict"],
        lambda t: _fix(t, "prediction", "score", 0.1),
        "CORRECTION-PREDICTION",
    ),
    (
        "enrolment site corrected",
        ["enrol"],
        lambda t: _fix(t, "enrolled", "site", "B"),
        "CORRECTION-IDENTITY",
    ),
    (
        "patient id corrected",
        ["enrol"],
        lambda t: _fix(t, "enrolled", "patient_id", "P7"),
        "CORRECTION-IDENTITY",
    ),
    (
        "derived call corrected",
        ["enrol", "biopsy"],
        lambda t: _fix(t, "biopsy", "her2", "negative"),
        "CORRECTION-FIELD",
    ),
    (
        "nothing to correct",
        ["enrol"],
        lambda t: _fix(t, "surgery", "ihc", "0"),
        "CORRECTION-TARGET",
    ),
    ("unchanged value", ["enrol"], lambda t: _fix(t, "enrolled", "age", 55), "CORRECTION-CHANGE"),
    (
        "corrected to 2+ without ISH",
        ["enrol", "biopsy"],
        lambda t: _fix(t, "biopsy", "ish", "not_done"),
        "ASCO-CAP",
    ),
    ("corrected to IHC 4+", ["enrol", "biopsy"], lambda t: _fix(t, "biopsy", "ihc", "4+"), "VALUE"),
    (
        "correction at another site",
        ["enrol"],
        lambda t: _fix(t, "enrolled", "age", 60, site="B"),
        "OWN-SITE",
    ),
]
_SETUP = {
    "enrol": lambda t: t.enrol("P1", consent_ref="IC-1", age=55, **_who()),
    "enrol2": lambda t: t.enrol("P2", consent_ref="IC-2", **_who()),
    "predict": lambda t: _predict(t),
    "biopsy": lambda t: t.record_biopsy("P1", ihc="2+", ish="positive", **_who()),
    "therapy": lambda t: t.record_therapy("P1", regimen="TCHP", anti_her2="yes", **_who()),
    "surgery": lambda t: t.record_surgery("P1", ihc="3+", ish="not_done", **_who()),
    "pcr": lambda t: t.record_response("P1", pcr="yes", **_who()),
    "no-pcr": lambda t: t.record_response("P1", pcr="no", **_who()),
    "withdraw": lambda t: t.withdraw("P1", reason="consent withdrawn", **_who()),
}


def _predict(t: Trial, pid: str = "P1", lock: str = LOCK_A, score: float = 0.3) -> Any:
    return t.predict_external(
        pid, score=score, model_lock=lock, threshold=0.5, modalities="US", **_who()
    )


def _fix(
    t: Trial, event: str, field: str, value: object, *, reason: str = "typo", site: str = "A"
) -> Any:
    return t.correct("P1", event=event, field=field, value=value, reason=reason, **_who(site))


@pytest.mark.req("REQ-TRIAL-001", "REQ-AUD-003")
@pytest.mark.parametrize(
    ("name", "setup", "action", "rule"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refusals_name_patient_event_rule_and_write_nothing(
    trial: Trial, name: str, setup: list[str], action: Any, rule: str
) -> None:
    for step in setup:
        _SETUP[step](trial)
    before = list(trial.ledger.entries())
    with pytest.raises(
        TrialRuleError, match=rf"^patient .*: .* refused by rule {rule}: .*nothing was written$"
    ):
        action(trial)
    assert list(trial.ledger.entries()) == before
    assert trial.verify().ok


@pytest.mark.req("REQ-TRIAL-001")
def test_enrolment_before_opening_and_second_opening_are_refused(tmp_path: Path) -> None:
    with Trial.open(tmp_path / "t.db") as t:
        with pytest.raises(
            TrialRuleError, match=r"patient P1: trial\.enrolled refused by rule TRIAL-OPEN"
        ):
            t.enrol("P1", consent_ref="c", **_who())
        t.open_recruitment(
            ["B", "A", "A"], protocol_id="X", actor="cc", site="A", model=trial_model()
        )
        with pytest.raises(TrialRuleError, match=r"trial\.opened refused by rule TRIAL-OPEN"):
            t.open_recruitment(["C"], protocol_id="X", actor="cc", site="A", model=trial_model())
        assert [e.payload["sites"] for e in t.ledger.entries()] == [["A", "B"]]


@pytest.mark.req("REQ-TRIAL-001", "REQ-AUD-003")
def test_corrections_keep_old_value_and_re_derive_the_call(trial: Trial) -> None:
    _full(trial, "P1")
    fix = trial.correct(
        "P1", event="biopsy", field="ish", value="negative", reason="ISH report misread", **_who()
    )
    assert fix.event_type == CORRECTION_EVENT
    assert fix.payload["old_value"] == {"her2": "positive", "ihc": "2+", "ish": "positive"}
    assert fix.payload["new_value"] == {"her2": "negative", "ihc": "2+", "ish": "negative"}
    assert fix.payload["reason"] == "ISH report misread"
    trial.correct(
        "P1", event="response", field="pcr", value="no", reason="pathology addendum", **_who()
    )
    trial.correct(
        "P1", event="enrolled", field="age", value="56", reason="date of birth typo", **_who()
    )
    # The original entries are unchanged; the values in force are the corrected ones.
    biopsy = next(trial.ledger.entries(event_type="trial.biopsy"))
    assert biopsy.payload["result"]["her2"] == "positive"
    assert trial.ledger.current_payload(biopsy.seq)["result"]["her2"] == "negative"
    out = trial.export(trial.ledger.path.parent / "export")
    with out.labels.open() as handle:
        assert list(csv.DictReader(handle)) == [
            {
                "patient_id": "P1",
                "site": "A",
                "reference_her2": "",  # recorded with pCR, so no surgical HER2 exists yet
                "biopsy_her2": "0",
                "pcr": "0",
                "hr_status": "1",
                "age": "56",
                "anti_her2": "1",
            }
        ]


@pytest.mark.req("REQ-TRIAL-001")
def test_status_counts_per_site_and_lists_who_awaits_what(trial: Trial) -> None:
    _full(trial, "P1")
    trial.enrol("P2", consent_ref="c", **_who())
    trial.enrol("P3", consent_ref="c", **_who())
    _predict(trial, "P3")
    trial.record_biopsy("P3", ihc="0", ish="not_done", **_who())
    trial.record_therapy("P3", regimen="AC-T", anti_her2=False, **_who())
    trial.enrol("P4", consent_ref="c", **_who("B"))
    trial.record_biopsy("P4", ihc="1+", ish="not_done", **_who("B"))  # biopsy first: never blind
    trial.enrol("P5", consent_ref="c", **_who("B"))
    trial.withdraw("P5", reason="moved away", **_who("B"))
    status = trial.status()
    assert status.protocol_id == "HER2-PRO-004"
    assert status.head == trial.ledger.head()
    assert status.sites == (
        SiteStatus(
            "A",
            enrolled=3,
            predicted=2,
            biopsied=2,
            treated=2,
            operated=0,  # P1 had pCR: no surgical-specimen HER2 exists
            response_known=1,
            withdrawn=0,
            missing=(("prediction", 1), ("surgery", 1)),
        ),
        SiteStatus(
            "B",
            enrolled=2,
            predicted=0,
            biopsied=1,
            treated=0,
            operated=0,
            response_known=0,
            withdrawn=1,
            missing=(("therapy", 1),),
        ),
    )
    assert [(p.patient_id, p.site, p.awaiting, p.predicted) for p in status.pending] == [
        ("P2", "A", "prediction", False),
        ("P3", "A", "surgery", True),
        ("P4", "B", "therapy", False),
    ]
    therapy = next(trial.ledger.entries(event_type="trial.therapy", where={"patient_id": "p3"}))
    assert status.pending[1].since == therapy.time_utc  # P3's last event
    assert all(p.days_waiting == 0 for p in status.pending)
    head, context, records = trial.snapshot()
    later = datetime.strptime(therapy.time_utc[:10], "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(
        days=10
    )
    times = {e.seq: e.time_utc for e in trial.ledger.entries()}
    aged = trial_status(head, context, records, times=times, as_of=later)
    assert aged.pending[1].days_waiting == 9  # less than 10 whole days after its time of day
    assert [s.site for s in trial.status(site="B").sites] == ["B"]


@pytest.mark.req("REQ-TRIAL-001")
def test_export_tables_manifest_exclusions_and_determinism(trial: Trial, tmp_path: Path) -> None:
    _full(trial, "P1", score=0.8)
    _full(trial, "P2", site="B", pcr=False, score=0.1)
    trial.enrol("P3", consent_ref="c", hr_status=0, **_who())
    _predict(trial, "P3", score=0.25)  # in follow-up: exported with labels missing
    trial.enrol("P4", consent_ref="c", **_who())
    trial.record_biopsy("P4", ihc="3+", ish="not_done", **_who())
    _full(trial, "P5")
    trial.withdraw("P5", reason="consent withdrawn", **_who())
    first = trial.export(tmp_path / "e1")
    trial.export(tmp_path / "e2")
    for name in ("predictions.csv", "labels.csv", "trial_export.json"):
        assert (tmp_path / "e1" / name).read_bytes() == (tmp_path / "e2" / name).read_bytes()
    assert first.predictions.read_text() == (
        "patient_id,site,score,modalities,model_lock\n"
        f"P1,A,0.8,MG_CC+US,{LOCK_A}\nP2,B,0.1,MG_CC+US,{LOCK_A}\nP3,A,0.25,US,{LOCK_A}\n"
    )
    assert first.labels.read_text() == (
        "patient_id,site,reference_her2,biopsy_her2,pcr,hr_status,age,anti_her2\n"
        "P1,A,,1,1,1,55,1\nP2,B,1,1,0,1,55,1\nP3,A,,,,0,,\n"
    )
    manifest = json.loads(first.manifest.read_bytes())
    assert first.manifest.read_bytes() == canonical_json(manifest)
    assert manifest["ledger"]["head"] == str(trial.ledger.head()) == str(first.head)
    assert manifest["model_lock"] == LOCK_A
    assert manifest["files"]["labels.csv"] == {"sha256": sha256_file(first.labels), "rows": 3}
    assert manifest["counts"] == {"patients": 5, "exported": 3, "excluded": 2, "incomplete": 1}
    assert manifest["excluded"] == [
        {
            "patient_id": "P4",
            "site": "A",
            "reason": "no blinded model prediction (biopsy result recorded before any prediction)",
        },
        {"patient_id": "P5", "site": "A", "reason": "withdrawn from the trial (data not analysed)"},
    ]
    assert manifest["incomplete"] == [
        {"patient_id": "P3", "site": "A", "reason": "missing surgery, biopsy, response"}
    ]
    with pytest.raises(TrialRuleError, match="exists and is not an empty folder"):
        trial.export(tmp_path / "e1")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _cli(capsys: pytest.CaptureFixture[str], command: str) -> tuple[int, str, str]:
    code = main(command.split())  # no argument here contains a space
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.req("REQ-TRIAL-001")
def test_cli_logs_a_patient_and_prints_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "t.db"
    a = f"--ledger {db} --actor dr.a --site A"
    assert _cli(capsys, f"trial open {a} --sites A,B --protocol HER2-PRO-004")[0] == 0
    code, out, _ = _cli(capsys, f"trial enrol {a} --patient P1 --consent IC-1 --age 61")
    assert code == 0
    assert out.startswith("recorded trial.enrolled at ledger entry 2:")
    code, _, err = _cli(capsys, f"trial record biopsy {a} --patient P2 --ihc 3+ --ish not_done")
    assert code == 3
    assert "patient P2: trial.biopsy refused by rule ENROLLED" in err
    assert _cli(capsys, f"trial record biopsy {a} --patient P1 --ihc 1+ --ish not_done")[0] == 0
    therapy = f"trial record therapy {a} --patient P1 --regimen AC-T --anti-her2 no"
    assert _cli(capsys, therapy)[0] == 0
    fix = f"trial correct {a} --patient P1 --event enrolled --field age --value 62 --reason typo"
    code, out, _ = _cli(capsys, fix)
    assert code == 0
    assert "age: 61 -> 62" in out
    code, _, err = _cli(
        capsys, f"trial withdraw --ledger {db} --actor dr.b --site B --patient P1 --reason x"
    )
    assert code == 3
    assert "rule OWN-SITE" in err
    code, out, _ = _cli(capsys, f"trial status --ledger {db}")
    assert code == 0
    lines = out.splitlines()
    assert "A\t1\t0\t1\t1\t0\t0\t0\tsurgery:1" in lines
    assert any(
        line.startswith("  P1\tsite A\tsurgery\tsince 20")
        and line.endswith("(0 days) (no blinded prediction: excluded from the analysis)")
        for line in lines
    ), lines
    code, out, _ = _cli(capsys, f"trial export --ledger {db} --out {tmp_path / 'x'}")
    assert code == 0
    assert "exported 0 patients" in out
    assert "excluded P1 (site A)" in out


def _tamper(db: Path, how: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("DROP TRIGGER entries_no_delete")
    if how == "edit":
        conn.execute(
            "UPDATE entries SET payload = replace(payload, '\"3+\"', '\"2+\"') WHERE seq = 4"
        )
    elif how == "delete":
        conn.execute("DELETE FROM entries WHERE seq = 4")
    elif how == "swap":
        conn.execute("UPDATE entries SET seq = 1000 WHERE seq = 4")
        conn.execute("UPDATE entries SET seq = 4 WHERE seq = 5")
        conn.execute("UPDATE entries SET seq = 5 WHERE seq = 1000")
    elif how == "truncate":
        conn.execute("DELETE FROM entries WHERE seq >= 5")
    conn.commit()
    conn.close()


@pytest.mark.req("REQ-AUD-001", "REQ-TRIAL-001")
@pytest.mark.parametrize(("how", "bad"), [("edit", 4), ("delete", 4), ("swap", 4), ("truncate", 5)])
def test_trial_verify_names_the_first_tampered_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, bad: int
) -> None:
    db = tmp_path / "t.db"
    with Trial.open(db) as t:
        t.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        t.enrol("P1", consent_ref="c", **_who())
        _predict(t)
        t.record_biopsy("P1", ihc="3+", ish="not_done", **_who())  # seq 4
        t.record_therapy("P1", regimen="TCHP", anti_her2="yes", **_who())
        head = str(t.ledger.head())
    code, out, _ = _cli(capsys, f"trial verify --ledger {db} --expected-head {head}")
    assert (code, out.strip()) == (0, f"OK: 5 entries, head {head}")
    _tamper(db, how)
    code, out, _ = _cli(capsys, f"trial verify --ledger {db} --expected-head {head}")
    assert code == 1
    assert out.startswith(f"TAMPERED: entry {bad}: ")


@pytest.mark.req("REQ-TRIAL-001")
def test_the_trials_model_lock_and_threshold_are_fixed_at_opening_not_by_a_first_prediction(
    trial: Trial,
) -> None:
    """Wrong version: the first prediction of any site fixes the trial's model, so a radiologist's
    external score with another lock (or the trial's lock at threshold 0.01) is recorded and the
    genuine locked model is refused afterwards."""
    (opened,) = trial.ledger.entries(event_type="trial.opened")
    assert (opened.payload["model_lock"], opened.payload["threshold"]) == (LOCK_A, 0.5)
    trial.enrol("P1", consent_ref="IC", **_who())
    head = trial.ledger.head()
    with pytest.raises(
        TrialRuleError,
        match=r"patient P1: trial\.prediction refused by rule MODEL-LOCK: model lock "
        r"bbbbbbbbbbbb\.\.\. differs from the trial's model lock aaaaaaaaaaaa\.\.\. \(recorded "
        r"at the trial's opening, entry 1\)",
    ):
        _predict(trial, lock=LOCK_B, score=0.99)  # the first prediction of the trial
    with pytest.raises(
        TrialRuleError,
        match=r"rule MODEL-LOCK: threshold 0\.01 differs from the threshold 0\.5 that the trial's "
        r"model lock aaaaaaaaaaaa\.\.\. fixes",
    ):
        trial.predict_external(
            "P1", score=0.99, model_lock=LOCK_A, threshold=0.01, modalities="US", **_who()
        )
    assert trial.ledger.head() == head  # nothing was written
    assert _predict(trial, score=0.3).payload["call"] == "negative"  # the genuine one


@pytest.mark.req("REQ-TRIAL-001")
def test_a_trial_opened_before_the_lock_was_recorded_is_fixed_by_its_first_prediction(
    tmp_path: Path,
) -> None:
    """Ledgers written before ``trial.opened`` carried the lock keep working: the first
    prediction fixes lock and threshold, and the refusal says so."""
    with Trial.open(tmp_path / "old.db") as t:
        t.ledger.append(
            "trial.opened",
            {"protocol_id": "HER2-PRO-004", "site": "A", "sites": ["A"]},
            actor="cc",
        )
        t.enrol("P1", consent_ref="IC", **_who())
        t.enrol("P2", consent_ref="IC", **_who())
        _predict(t)  # entry 4
        with pytest.raises(
            TrialRuleError,
            match=r"rule MODEL-LOCK: threshold 0\.2 differs from the threshold 0\.5 .*fixed by "
            r"the trial's first prediction, entry 4: the trial was opened before `trial open` "
            r"recorded the model lock",
        ):
            t.predict_external(
                "P2", score=0.3, model_lock=LOCK_A, threshold=0.2, modalities="US", **_who()
            )
        assert _predict(t, "P2").seq == 5


@pytest.mark.req("REQ-TRIAL-001")
def test_trial_open_records_the_verified_shipped_lock(tmp_path: Path) -> None:
    from her2map import LockedModel

    shipped = LockedModel.load()
    db = tmp_path / "t.db"
    common = ["--ledger", str(db), "--actor", "cc", "--site", "A"]
    assert main(["trial", "open", "--sites", "A", "--protocol", "P", *common]) == 0
    with Trial.open(db) as t:
        (opened,) = t.ledger.entries(event_type="trial.opened")
    assert opened.payload["model_lock"] == shipped.lock_hash
    assert opened.payload["threshold"] == shipped.threshold
    assert opened.payload["model_name"] == shipped.name


@pytest.mark.req("REQ-TRIAL-001")
@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil")', "+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_free_text_a_spreadsheet_would_run_as_a_formula_is_refused_at_entry(
    trial: Trial, text: str
) -> None:
    """Wrong version: consent_ref '=HYPERLINK(...)' is recorded and exported as written into
    trial_data.csv, where a spreadsheet runs it (OWASP CSV injection)."""
    head = trial.ledger.head()
    first = text.strip()[0]
    with pytest.raises(
        TrialRuleError,
        match=rf"rule VALUE: consent_ref must not start with '\{first}' \(a spreadsheet would "
        r"run it as a formula\)",
    ):
        trial.enrol("P1", consent_ref=text, **_who())
    assert trial.ledger.head() == head
    trial.enrol("P1", consent_ref="IC-1", **_who())
    with pytest.raises(TrialRuleError, match=r"rule VALUE: consent_ref must not start with"):
        trial.correct("P1", event="enrolled", field="consent_ref", value=text, reason="x", **_who())
    with pytest.raises(TrialRuleError, match=r"rule CORRECTION-REASON: the reason must not start"):
        trial.correct("P1", event="enrolled", field="age", value=50, reason=text, **_who())
    with pytest.raises(TrialRuleError, match=r"rule VALUE: reason must not start"):
        trial.withdraw("P1", reason=text, **_who())
    assert trial.enrol("P2", consent_ref="IC = 2 (v-3)", **_who()).payload["consent_ref"] == (
        "IC = 2 (v-3)"
    )  # inside the text they are harmless
    head = trial.ledger.head()
    with pytest.raises(TrialRuleError, match=r"rule VALUE: the actor must not start with"):
        trial.enrol("P3", consent_ref="IC-3", actor=text, site=_who()["site"])  # audit_trail.csv
    assert trial.ledger.head() == head
