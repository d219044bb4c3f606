"""Verify before use (issue 12): trial status/export, validate run and dossier build refuse a
ledger whose chain is broken, naming the first bad entry; ``ledger verify`` changes no byte;
a patient's lookup uses indexes (no scan of the history)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from trial_models import trial_model

from validation.cli import main
from validation.exceptions import TamperError
from validation.ledger import Ledger, verified_before_use, verify
from validation.trial import Trial

pytestmark = pytest.mark.req("REQ-AUD-004")


def _trial(path: Path) -> int:
    """A small trial; returns the seq of the biopsy entry."""
    with Trial.open(path) as trial:
        trial.open_recruitment(
            ["A", "B"], protocol_id="HER2-PRO-004", actor="cc", site="A", model=trial_model()
        )
        trial.enrol("P1", consent_ref="IC", laterality="L", actor="n", site="A")
        trial.predict_external(
            "P1", score=0.7, model_lock="a" * 64, threshold=0.5, modalities="US",
            actor="r", site="A",
        )  # fmt: skip
        return trial.record_biopsy("P1", ihc="0", ish="not_done", actor="p", site="A").seq


def _edit_payload(path: Path, seq: int, **changes: object) -> None:
    conn = sqlite3.connect(path)
    payload = json.loads(
        conn.execute("SELECT payload FROM entries WHERE seq = ?", (seq,)).fetchone()[0]
    )
    payload.update(changes)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute(
        "UPDATE entries SET payload = ? WHERE seq = ?",
        (json.dumps(payload, separators=(",", ":"), sort_keys=True), seq),
    )
    conn.commit()
    conn.close()


def test_edited_biopsy_never_reaches_status_or_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The wrong version read the ledger without walking it: the edited 3+ reached labels.csv."""
    ledger = tmp_path / "trial.db"
    seq = _trial(ledger)
    assert main(["trial", "status", "--ledger", str(ledger)]) == 0  # verified once: checkpoint
    _edit_payload(ledger, seq, result={"her2": "positive", "ihc": "3+", "ish": "not_done"})
    for argv in (
        ["trial", "status", "--ledger", str(ledger)],
        ["trial", "export", "--ledger", str(ledger), "--out", str(tmp_path / "x")],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"TAMPERED: entry {seq}: payload edited" in err
    assert not (tmp_path / "x").exists()


def test_incremental_check_catches_new_bad_entries_and_rehashed_history(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with Ledger.open(path) as ledger:
        for i in range(5):
            ledger.append("x.event", {"i": i}, actor="a")
        assert verified_before_use(ledger, what="test").seq == 5
        assert (tmp_path / "l.db.verified").read_text().startswith("5:")
        ledger.append("x.event", {"i": 5}, actor="a")
    _edit_payload(path, 6, i=99)
    with Ledger.open(path, readonly=True) as ledger, pytest.raises(TamperError, match="entry 6"):
        verified_before_use(ledger, what="test")
    # a rewrite below the checkpoint that re-hashes the chain moves the checkpoint's hash
    fresh = tmp_path / "m.db"
    with Ledger.open(fresh) as ledger:
        for i in range(4):
            ledger.append("x.event", {"i": i}, actor="a")
        verified_before_use(ledger, what="test")
    conn = sqlite3.connect(fresh)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET entry_hash = ? WHERE seq = 4", ("f" * 64,))
    conn.commit()
    conn.close()
    with Ledger.open(fresh, readonly=True) as ledger, pytest.raises(TamperError, match="entry 4"):
        verified_before_use(ledger, what="validate run")


def test_validate_run_refuses_a_tampered_ledger(tmp_path: Path) -> None:
    from validation.runner import run_protocol

    ledger = tmp_path / "l.db"
    with Ledger.open(ledger) as book:
        book.append("x.event", {"i": 1}, actor="a")
        book.append("x.event", {"i": 2}, actor="a")
    _edit_payload(ledger, 1, i=7)
    with pytest.raises(TamperError, match=r"validate run refuses .* entry 1"):
        run_protocol(
            "protocols/HER2-PRO-004.yaml",
            predictions=tmp_path / "p.csv",
            labels=tmp_path / "never-read.csv",
            ledger=ledger,
            out_dir=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists()


def test_verify_changes_no_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The wrong version opened the file read-write and switched it to WAL."""
    path = tmp_path / "l.db"
    with Ledger.open(path) as ledger:
        for i in range(3):
            ledger.append("x.event", {"i": i}, actor="a")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")  # as a copied or archived ledger may be
    conn.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for argv in (
        ["ledger", "verify", "--ledger", str(path)],
        ["ledger", "show", "--ledger", str(path)],
    ):
        assert main(argv) == 0
    assert "OK: 3 entries" in capsys.readouterr().out
    assert verify(path).ok
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_patient_lookup_uses_indexes(tmp_path: Path) -> None:
    """Constant-time appends: the rule check's queries are index searches, never table scans."""
    path = tmp_path / "l.db"
    with Trial.open(path) as trial:
        trial.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        trial.enrol("P1", consent_ref="IC", actor="n", site="A")
    conn = sqlite3.connect(path)
    plans = [
        " ".join(str(c) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args) for c in row)
        for sql, args in (
            (
                "SELECT seq FROM entries WHERE seq > ? AND json_extract(payload, '$.patient_id') = ? ORDER BY seq",
                (0, "P1"),
            ),
            (
                "SELECT seq FROM entries WHERE seq > ? AND event_type = ? AND json_extract(payload, '$.target_seq') = ? ORDER BY seq",
                (0, "ledger.correction", 2),
            ),
            (
                "SELECT seq FROM entries WHERE seq > ? AND event_type = ? ORDER BY seq LIMIT 1",
                (0, "trial.opened"),
            ),
        )
    ]
    conn.close()
    assert all("USING" in plan and "INDEX" in plan and "SCAN" not in plan for plan in plans), plans


def test_patient_ids_are_found_by_index_in_the_store_queries(tmp_path: Path) -> None:
    """The store spells the index expressions exactly as the indexes do (else SQLite scans)."""
    traced: list[str] = []
    path = tmp_path / "l.db"
    with Trial.open(path) as trial:
        trial.open_recruitment(["A"], protocol_id="P", actor="cc", site="A", model=trial_model())
        trial.ledger._conn.set_trace_callback(traced.append)  # type: ignore[attr-defined]
        trial.enrol("P1", consent_ref="IC", actor="n", site="A")
    conn = sqlite3.connect(path)
    for sql in traced:
        if sql.startswith("SELECT") and "FROM entries WHERE" in sql:
            plan = " ".join(
                str(c) for row in conn.execute("EXPLAIN QUERY PLAN " + sql) for c in row
            )
            assert "SCAN" not in plan, (sql, plan)
    conn.close()
