"""What a statistician gets (issue 12): the trial dataset with dates, raw values, model call and
regimen; withdrawn patients kept and flagged; the audit trail; the dictionary; ODM 1.3.2."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from trial_models import trial_model

from validation.ledger import Ledger
from validation.server.tokens import issue_token
from validation.trial import EventKind, Trial

pytestmark = pytest.mark.req("REQ-TRIAL-001")
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, dict[str, int | str]]:
    ledger = tmp_path / "t.db"
    seqs: dict[str, int | str] = {}
    with Trial.open(ledger) as trial:
        trial.open_recruitment(
            ["A", "B"], protocol_id="HER2-PRO-004", actor="cc", site="A", model=trial_model()
        )
        with Ledger.open(ledger) as book:  # token entries are not trial data
            issue_token(book, user="u", site="A", role="monitor", actor="cc")
        for pid, site in (("P1", "A"), ("P2", "B")):
            trial.enrol(pid, consent_ref="IC", laterality="L", age=50, actor="n", site=site)
            trial.predict_external(
                pid, score=0.625, model_lock="a" * 64, threshold=0.5, modalities="MG_CC+US",
                actor="r", site=site,
            )  # fmt: skip
            trial.record_biopsy(pid, ihc="2+", ish="positive", actor="p", site=site)
        trial.record_therapy("P1", regimen="TCHP x6", anti_her2=True, actor="n", site="A")
        fix = trial.correct(
            "P1",
            event="biopsy",
            field="ish",
            value="negative",
            reason="lab re-read",
            actor="p",
            site="A",
        )
        seqs["fix"] = fix.seq
        withdrawn = trial.withdraw("P2", reason="moved away", actor="n", site="B")
        seqs["withdrawn_time"] = withdrawn.time_utc
        trial.export(tmp_path / "out")
    return tmp_path / "out", seqs


def test_trial_data_keeps_withdrawn_patients_flagged_with_dates_and_raw_values(
    exported: tuple[Path, dict[str, int | str]],
) -> None:
    out, seqs = exported
    rows = {r["subject_id"]: r for r in _rows(out / "trial_data.csv")}
    assert set(rows) == {"P1", "P2"}
    p1, p2 = rows["P1"], rows["P2"]
    assert (p1["study_id"], p1["site_id"], p2["site_id"]) == ("HER2-PRO-004", "A", "B")
    assert (p1["biopsy_ihc"], p1["biopsy_ish"], p1["biopsy_her2"]) == ("2+", "negative", "negative")
    assert (p1["score"], p1["threshold"], p1["model_call"]) == ("0.625", "0.5", "positive")
    assert (p1["regimen"], p1["anti_her2"], p1["modalities"]) == ("TCHP x6", "1", "MG_CC+US")
    assert p1["analysed"] == "1"
    assert p1["exclusion_reason"] == ""
    assert p2["withdrawn"] == "1"
    assert p2["withdrawal_date"] == seqs["withdrawn_time"]
    assert p2["biopsy_her2"] == "positive"  # data collected before withdrawal are kept
    assert p2["analysed"] == "0"
    assert "withdrawn" in p2["exclusion_reason"]
    assert all(p1[c].endswith("Z") for c in ("enrolled_date", "prediction_date", "biopsy_date"))
    assert {r["patient_id"] for r in _rows(out / "labels.csv")} == {"P1"}


def test_audit_trail_dictionary_and_odm(exported: tuple[Path, dict[str, int | str]]) -> None:
    out, seqs = exported
    audit = _rows(out / "audit_trail.csv")
    assert not any(r["event_type"].startswith("auth.") for r in audit)
    fix = next(r for r in audit if r["seq"] == str(seqs["fix"]))
    assert (fix["subject_id"], fix["site_id"], fix["field"], fix["reason"]) == (
        "P1", "A", "result", "lab re-read",
    )  # fmt: skip
    assert '"ish": "positive"' in fix["old_value"]
    assert '"ish": "negative"' in fix["new_value"]
    dictionary = {(r["file"], r["column"]) for r in _rows(out / "data_dictionary.csv")}
    for name in ("trial_data.csv", "audit_trail.csv", "predictions.csv", "labels.csv"):
        with (out / name).open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert {(name, c) for c in header} <= dictionary, name
    root = ET.parse(out / "trial_odm.xml").getroot()
    assert root.tag == f"{ODM}ODM"
    assert root.get("ODMVersion") == "1.3.2"
    subjects = root.findall(f"{ODM}ClinicalData/{ODM}SubjectData")
    assert [s.get("SubjectKey") for s in subjects] == ["P1", "P2"]
    values = {i.get("ItemOID"): i.get("Value") for i in subjects[0].iter(f"{ODM}ItemData")}
    assert values["I.biopsy_ish"] == "negative"
    assert values["I.regimen"] == "TCHP x6"
    declared = {d.get("OID") for d in root.iter(f"{ODM}ItemDef")}
    assert set(values) <= declared


def test_laterality_corrected_after_prediction_invalidates_it_visibly(tmp_path: Path) -> None:
    """The wrong version kept the prediction of the other breast in predictions.csv."""
    with Trial.open(tmp_path / "t.db") as trial:
        trial.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        trial.enrol("P1", consent_ref="IC", laterality="L", actor="n", site="A")
        predicted = trial.predict_external(
            "P1", score=0.9, model_lock="a" * 64, threshold=0.5, modalities="US",
            actor="r", site="A",
        )  # fmt: skip
        fix = trial.correct(
            "P1", event="enrolled", field="laterality", value="R", reason="wrong side", actor="n",
            site="A",
        )  # fmt: skip
        status = trial.status()
        result = trial.export(tmp_path / "out")
    assert status.pending[0].predicted is False
    assert result.n_exported == 0
    (excluded,) = result.excluded
    assert excluded.reason == (
        f"prediction invalidated: prediction (entry {predicted.seq}) read side L; laterality "
        f"corrected to R afterwards (entry {fix.seq})"
    )
    row = _rows(tmp_path / "out" / "trial_data.csv")[0]
    assert (row["score"], row["laterality"], row["analysed"]) == ("0.9", "R", "0")


def test_bulk_import_applies_the_same_rules_row_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from validation.cli import main

    ledger = tmp_path / "t.db"
    with Trial.open(ledger) as trial:
        trial.open_recruitment(
            ["A", "B"], protocol_id="P", actor="cc", site="A", model=trial_model()
        )
    good = tmp_path / "good.csv"
    good.write_text(
        "event,patient,consent,laterality,age,ihc,ish\n"
        "enrol,P1,IC-1,L,61,,\n"
        "enrol,P2,IC-2,,,,\n"
        "biopsy,P1,,,,2+,positive\n"
    )
    who = ["--ledger", str(ledger), "--actor", "n", "--site", "A"]
    assert main(["trial", "import", str(good), *who]) == 0
    assert "imported 3 events" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "event,patient,reason\nwithdraw,P2,moved\nwithdraw,P9,moved\nwithdraw,P1,x\n"
        "withdraw,P8,gone\nwithdraw,p2,again\n"
    )
    with Ledger.open(ledger, readonly=True) as book:
        head = book.head()
    assert main(["trial", "import", str(bad), *who]) == 3  # refused by a trial rule
    out, err = capsys.readouterr()
    refused = [line for line in err.splitlines() if line.startswith("refused: ")]
    assert refused == [  # every refused row, by file, line and rule -- not only the first
        f"refused: {bad} line 3: patient P9: trial.withdrawn refused by rule ENROLLED: the "
        "patient is not enrolled; enrol first; nothing was written",
        f"refused: {bad} line 5: patient P8: trial.withdrawn refused by rule ENROLLED: the "
        "patient is not enrolled; enrol first; nothing was written",
        f"refused: {bad} line 6: patient p2: trial.withdrawn refused by rule WITHDRAWN: the "
        "patient has withdrawn; nothing may follow; nothing was written",
    ]
    assert "3 row(s) refused (nothing written for them); the 2 other row(s) are recorded" in err
    assert "imported 2 events" in out
    with Ledger.open(ledger, readonly=True) as book:  # the two accepted rows, nothing else
        added = [e for e in book.entries() if e.seq > head.seq]
    assert [(e.event_type, e.payload["patient_id"]) for e in added] == [
        ("trial.withdrawn", "p2"),
        ("trial.withdrawn", "p1"),
    ]
    shape = tmp_path / "shape.csv"
    shape.write_text("event,patient,ihc\nbiopsy,P2,3+\n")
    assert main(["trial", "import", str(shape), *who]) == 2
    assert f"{shape} line 2 column ish: biopsy needs a value" in capsys.readouterr().err
    with Trial.open(ledger, readonly=True) as trial:
        _, _, records = trial.snapshot()
    assert records["P2"].withdrawn
    assert records["P1"].withdrawn  # a row after a refused one is its own event: recorded
    assert records["P1"].value(EventKind.BIOPSY, "result")["her2"] == "positive"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("event,patient,consent\nenrol,X-8,IC,extra\n", "{f} line 2: 4 cells, header has 3"),
        ("event,patient,consent\nenrol,X-8\n", "{f} line 2: 2 cells, header has 3"),
        (
            "event,patient,consent\nenrol,X-7,IC\nenrol,X-8,IC,,\n",
            "{f} line 3: 5 cells, header has 3",
        ),
        ("", "{f} is empty: line 1 must be the header, with the columns event, patient"),
    ],
)
def test_bulk_import_refuses_a_row_that_does_not_fit_the_header_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """Wrong version: csv.DictReader files surplus cells under the key None (a list), which the
    shape check strips -- a traceback; or an empty file is reported as unknown columns []."""
    from validation.cli import main

    ledger = tmp_path / "t.db"
    with Trial.open(ledger) as trial:
        trial.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        head = trial.ledger.head()
    rows = tmp_path / "imp.csv"
    rows.write_text(text)
    who = ["--ledger", str(ledger), "--actor", "n", "--site", "A"]
    assert main(["trial", "import", str(rows), *who]) == 2
    err = capsys.readouterr().err
    assert message.format(f=rows) in err
    assert "Traceback" not in err
    with Ledger.open(ledger, readonly=True) as book:
        assert book.head() == head  # nothing written, not even the rows before the bad one


def test_blinding_is_checked_in_time_with_the_biopsy_report_time(tmp_path: Path) -> None:
    """The wrong version checked ledger order only: a prediction logged after the report was
    issued (but before the biopsy was entered) counted as blinded."""
    from datetime import UTC, datetime, timedelta

    from validation.exceptions import TrialRuleError

    def stamp(delta: timedelta) -> str:
        return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")

    with Trial.open(tmp_path / "t.db") as trial:
        trial.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        for pid in ("EARLY", "LATE", "FUTURE"):
            trial.enrol(pid, consent_ref="IC", laterality="L", actor="n", site="A")
            trial.predict_external(
                pid, score=0.6, model_lock="a" * 64, threshold=0.5, modalities="US",
                actor="r", site="A",
            )  # fmt: skip
        trial.record_biopsy(
            "EARLY", ihc="0", ish="not_done", report_time=stamp(-timedelta(hours=1)),
            actor="p", site="A",
        )  # fmt: skip
        trial.record_biopsy(
            "LATE", ihc="0", ish="not_done", report_time=stamp(timedelta(minutes=2)),
            actor="p", site="A",
        )  # fmt: skip
        with pytest.raises(TrialRuleError, match=r"report_time .* is in the future"):
            trial.record_biopsy(
                "FUTURE", ihc="0", ish="not_done", report_time=stamp(timedelta(days=1)),
                actor="p", site="A",
            )  # fmt: skip
        with pytest.raises(TrialRuleError, match="report_time must be a UTC time"):
            trial.record_biopsy(
                "FUTURE", ihc="0", ish="not_done", report_time="27/11/2026", actor="p", site="A"
            )
        _, _, records = trial.snapshot()
        result = trial.export(tmp_path / "out")
    assert records["LATE"].prediction_invalid is None
    reason = records["EARLY"].prediction_invalid
    assert reason is not None
    assert reason.startswith("not blinded in time: prediction logged at ")
    assert [e.patient_id for e in result.excluded] == ["EARLY"]
    rows = {r["subject_id"]: r for r in _rows(tmp_path / "out" / "trial_data.csv")}
    assert rows["LATE"]["biopsy_report_time"].endswith("Z")


@pytest.mark.req("REQ-TRIAL-001")
def test_odm_item_data_carry_audit_records_that_resolve(
    exported: tuple[Path, dict[str, int | str]],
) -> None:
    """ODM 1.3.2: one AuditRecord per ItemData (UserRef, LocationRef, DateTimeStamp,
    ReasonForChange for a corrected value, SourceID = ledger seq), every reference declared in
    AdminData; checked against the audit trail written independently beside it."""
    out, seqs = exported
    root = ET.parse(out / "trial_odm.xml").getroot()
    children = [c.tag.removeprefix(ODM) for c in root]
    assert children == ["Study", "AdminData", "ClinicalData"]  # ODM 1.3.2 element order
    users = {u.get("OID") for u in root.iter(f"{ODM}User")}
    locations = {loc.get("OID") for loc in root.iter(f"{ODM}Location")}
    assert locations == {"SITE.A", "SITE.B"}
    for location in root.iter(f"{ODM}Location"):
        assert location.find(f"{ODM}MetaDataVersionRef") is not None
    audit = {r["seq"]: r for r in _rows(out / "audit_trail.csv")}
    items = list(root.iter(f"{ODM}ItemData"))
    assert len(items) > 20
    for subject in root.iter(f"{ODM}SubjectData"):
        site = subject.find(f"{ODM}SiteRef")
        assert site is not None
        assert site.get("LocationOID") in locations
        for item in subject.iter(f"{ODM}ItemData"):
            records = item.findall(f"{ODM}AuditRecord")
            assert len(records) == 1, item.get("ItemOID")
            (record,) = records
            order = [c.tag.removeprefix(ODM) for c in record]
            assert order in (
                ["UserRef", "LocationRef", "DateTimeStamp", "SourceID"],
                ["UserRef", "LocationRef", "DateTimeStamp", "ReasonForChange", "SourceID"],
            )
            user = record.find(f"{ODM}UserRef").get("UserOID")  # type: ignore[union-attr]
            where = record.find(f"{ODM}LocationRef").get("LocationOID")  # type: ignore[union-attr]
            assert user in users
            assert where == site.get("LocationOID")
            seq = record.findtext(f"{ODM}SourceID")
            if user == "U.her2map-export":
                continue  # derived by the export (analysed, exclusion reason)
            row = audit[str(seq)]  # the source entry is in the audit trail, same subject
            assert row["subject_id"] == subject.get("SubjectKey")
            assert f"U.{row['actor']}" == user
            assert record.findtext(f"{ODM}DateTimeStamp") == row["time_utc"].removesuffix("Z")
            assert record.findtext(f"{ODM}ReasonForChange") == (row["reason"] or None)
    p1 = next(s for s in root.iter(f"{ODM}SubjectData") if s.get("SubjectKey") == "P1")
    ish = next(i for i in p1.iter(f"{ODM}ItemData") if i.get("ItemOID") == "I.biopsy_ish")
    assert ish.findtext(f"{ODM}AuditRecord/{ODM}SourceID") == str(seqs["fix"])
    assert ish.findtext(f"{ODM}AuditRecord/{ODM}ReasonForChange") == "lab re-read"
    ihc = next(i for i in p1.iter(f"{ODM}ItemData") if i.get("ItemOID") == "I.regimen")
    assert ihc.findtext(f"{ODM}AuditRecord/{ODM}ReasonForChange") is None
