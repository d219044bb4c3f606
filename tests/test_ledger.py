"""Audit ledger: hash chain, tamper detection, corrections, bad input, check callback, CLI.

Independent references: hashes are recomputed here with ``hashlib`` over ``rfc8785.dumps`` of the
documented objects (docs/LEDGER_API.md), not with the ledger's own hashing code; tampering is done
the way an attacker would, with the ``sqlite3`` module or by patching the file's bytes.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from validation.cli import main
from validation.exceptions import LedgerError, TamperError
from validation.ledger import (
    CORRECTION_EVENT,
    GENESIS_HASH,
    Entry,
    Head,
    Ledger,
    LedgerView,
    entry_hash,
    verify,
)

N = 6


def _sha(obj: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(obj)).hexdigest()


def _reference_entry_hash(
    seq: int, time_utc: str, actor: str, event_type: str, ph: str, prev: str
) -> str:
    fields = {"seq": seq, "time_utc": time_utc, "actor": actor, "event_type": event_type,
              "payload_hash": ph, "prev_hash": prev}  # fmt: skip
    return _sha(fields)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        for i in range(1, N + 1):
            ledger.append("trial.event", {"i": i, "note": f"MARKER-{i}", "x": 0.5}, actor="alice")
    return path


def _attack(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Edit the file as an attacker would: drop the triggers, then change rows directly."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("DROP TRIGGER entries_no_delete")
    for sql, params in statements:
        conn.execute(sql, params)
    conn.commit()
    conn.close()


def _row(path: Path, seq: int) -> tuple[Any, ...]:
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT * FROM entries WHERE seq = ?", (seq,)).fetchone()
    conn.close()
    return tuple(row)


@pytest.mark.req("REQ-AUD-001")
def test_chain_hashes_match_independent_recomputation(ledger_path: Path) -> None:
    with Ledger.open(ledger_path, create=False) as ledger:
        entries = list(ledger.entries())
        head = ledger.head()
    assert [e.seq for e in entries] == list(range(1, N + 1))
    prev = GENESIS_HASH
    for e in entries:
        assert e.payload_hash == _sha(e.payload)
        assert e.prev_hash == prev
        assert e.entry_hash == _reference_entry_hash(
            e.seq, e.time_utc, e.actor, e.event_type, e.payload_hash, e.prev_hash
        )
        assert e.time_utc.endswith("Z")
        assert len(e.time_utc) == len("2026-01-01T00:00:00.000000Z")
        prev = e.entry_hash
    assert head == Head(N, prev) == entries[-1].head
    report = verify(ledger_path, expected_head=str(head))
    assert (report.ok, report.n_entries, report.head, report.first_bad_seq) == (True, N, head, None)
    assert str(report) == f"OK: {N} entries, head {N}:{prev}"


@pytest.mark.req("REQ-AUD-001")
@given(
    seq=st.integers(1, 2**53 - 1),
    actor=st.text(min_size=1, max_size=30).filter(
        lambda a: a.strip() and all(not (ord(c) < 32 or 127 <= ord(c) < 160) for c in a)
    ),
    event_type=st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z0-9_]{1,8}){0,2}", fullmatch=True),
)
def test_fast_entry_hash_equals_canonical_twin(seq: int, actor: str, event_type: str) -> None:
    ph, prev = "ab" * 32, "0f" * 32
    time_utc = "2026-11-27T09:44:40.123456Z"
    expected = _reference_entry_hash(seq, time_utc, actor, event_type, ph, prev)
    assert entry_hash(seq, time_utc, actor, event_type, ph, prev) == expected


@pytest.mark.req("REQ-AUD-001")
def test_edited_payload_via_sqlite_is_named(ledger_path: Path) -> None:
    _attack(ledger_path, ("UPDATE entries SET payload = ? WHERE seq = 3",
                          ('{"i":3,"note":"MARKER-9","x":0.5}',)))  # fmt: skip
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "payload edited" in str(report.problem)
    assert str(report).startswith("TAMPERED: entry 3: payload edited")
    with pytest.raises(TamperError, match="entry 3: payload edited"):
        report.raise_if_tampered()


@pytest.mark.req("REQ-AUD-001")
def test_patched_file_byte_is_named(ledger_path: Path) -> None:
    assert not Path(f"{ledger_path}-wal").exists()  # closed: every entry is in the main file
    data = bytearray(ledger_path.read_bytes())
    at = data.find(b"MARKER-4")
    assert at > 0
    assert data.find(b"MARKER-4", at + 1) == -1
    data[at + len("MARKER-")] = ord("7")
    ledger_path.write_bytes(bytes(data))
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq, report.n_entries) == (False, 4, 3)
    assert "payload edited" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
def test_unreadable_text_in_file_is_named(ledger_path: Path) -> None:
    data = bytearray(ledger_path.read_bytes())
    at = data.find(b'trial.event{"i":4,')  # record: ... event_type, then payload, of entry 4
    assert at > 0
    data[at] = 0xFF  # not UTF-8: SQLite cannot return the event_type as text
    ledger_path.write_bytes(bytes(data))
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq, report.n_entries) == (False, 4, 3)
    assert "unreadable" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("actor", "mallory", "entry edited or moved"),
        ("time_utc", "2020-01-01T00:00:00.000000Z", "entry edited or moved"),
        ("event_type", "trial.x", "entry edited or moved"),
        ("event_type", 'trial","x', "malformed event_type"),
        ("actor", "", "malformed actor"),
    ],
)
def test_edited_entry_field_is_named(
    ledger_path: Path, column: str, value: str, problem: str
) -> None:
    _attack(ledger_path, (f"UPDATE entries SET {column} = ? WHERE seq = 2", (value,)))
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert problem in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
def test_entry_rewritten_with_recomputed_hashes_is_named(ledger_path: Path) -> None:
    seq, time_utc, actor, event_type, _, _, prev, _ = _row(ledger_path, 3)
    payload = {"i": 3, "note": "MARKER-3", "x": 0.75}
    ph = _sha(payload)
    eh = _reference_entry_hash(seq, time_utc, actor, event_type, ph, prev)
    _attack(ledger_path, ("UPDATE entries SET payload = ?, payload_hash = ?, entry_hash = ? "
                          "WHERE seq = 3", (rfc8785.dumps(payload).decode(), ph, eh)))  # fmt: skip
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "rewritten with recomputed hashes" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
@pytest.mark.parametrize("deleted", [1, 3])
def test_deleted_entry_is_named(ledger_path: Path, deleted: int) -> None:
    _attack(ledger_path, ("DELETE FROM entries WHERE seq = ?", (deleted,)))
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq) == (False, deleted)
    assert "missing (deleted)" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
def test_deleted_and_renumbered_entry_is_named(ledger_path: Path) -> None:
    _attack(ledger_path, ("DELETE FROM entries WHERE seq = 3", ()),
            ("UPDATE entries SET seq = seq - 1 WHERE seq > 3", ()))  # fmt: skip
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert "entry edited or moved" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
def test_swapped_entries_are_named(ledger_path: Path) -> None:
    row2, row5 = _row(ledger_path, 2)[1:], _row(ledger_path, 5)[1:]
    sql = ("UPDATE entries SET time_utc=?, actor=?, event_type=?, payload=?, payload_hash=?, "
           "prev_hash=?, entry_hash=? WHERE seq = ?")  # fmt: skip
    _attack(ledger_path, (sql, (*row5, 2)), (sql, (*row2, 5)))
    report = verify(ledger_path)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "moved" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
@pytest.mark.parametrize("k", [1, 2, N])
def test_truncation_is_named_only_with_expected_head(ledger_path: Path, k: int) -> None:
    with Ledger.open(ledger_path, create=False) as ledger:
        head = ledger.head()
    _attack(ledger_path, ("DELETE FROM entries WHERE seq > ?", (N - k,)))
    # Documented limitation: without a head kept outside the file the shorter chain is consistent.
    assert verify(ledger_path).ok
    report = verify(ledger_path, expected_head=head)
    assert (report.ok, report.first_bad_seq) == (False, N - k + 1)
    assert "truncated" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
def test_rehashed_chain_is_caught_by_expected_head(ledger_path: Path) -> None:
    with Ledger.open(ledger_path, create=False) as ledger:
        head = ledger.head()
    # The attacker edits entry 5 and re-hashes entries 5..6: self-consistent, head differs.
    prev = _row(ledger_path, 4)[7]
    statements = []
    for seq in (5, 6):
        _, time_utc, actor, event_type, _, _, _, _ = _row(ledger_path, seq)
        payload = {"i": seq, "note": "forged", "x": 0.5}
        ph = _sha(payload)
        eh = _reference_entry_hash(seq, time_utc, actor, event_type, ph, prev)
        statements.append(("UPDATE entries SET payload=?, payload_hash=?, prev_hash=?, "
                           "entry_hash=? WHERE seq=?",
                           (rfc8785.dumps(payload).decode(), ph, prev, eh, seq)))  # fmt: skip
        prev = eh
    _attack(ledger_path, *statements)
    assert verify(ledger_path).ok
    report = verify(ledger_path, expected_head=head)
    assert (report.ok, report.first_bad_seq) == (False, N)
    assert "does not match the expected head" in str(report.problem)


@pytest.mark.req("REQ-AUD-001")
def test_expected_head_earlier_than_end_still_verifies(ledger_path: Path) -> None:
    with Ledger.open(ledger_path, create=False) as ledger:
        third = ledger.entry(3).head
    assert verify(ledger_path, expected_head=third).ok
    forged = Head(3, "1" * 64)
    report = verify(ledger_path, expected_head=forged)
    assert (report.ok, report.first_bad_seq) == (False, 3)


@pytest.mark.req("REQ-AUD-001")
@pytest.mark.parametrize("sql", ["UPDATE entries SET actor = 'x'", "DELETE FROM entries"])
def test_triggers_refuse_update_and_delete(ledger_path: Path, sql: str) -> None:
    conn = sqlite3.connect(ledger_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(sql)
    conn.close()
    assert verify(ledger_path).ok


@pytest.mark.req("REQ-AUD-003")
def test_corrections_keep_old_value_and_fold(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        target = ledger.append("trial.biopsy", {"patient": "P1", "her2": 0}, actor="site-a")
        ledger.append("trial.other", {"patient": "P2", "her2": 1}, actor="site-a")
        first = ledger.correct(1, "her2", 1, reason="transcription error", actor="monitor")
        second = ledger.correct(1, "her2", 2, reason="re-read by pathologist", actor="monitor")
        assert first.event_type == second.event_type == CORRECTION_EVENT
        assert first.payload == {"target_seq": 1, "field": "her2", "old_value": 0,
                                 "new_value": 1, "reason": "transcription error"}  # fmt: skip
        assert second.payload["old_value"] == 1  # after the earlier correction
        assert ledger.entry(1) == target  # the original is untouched
        assert ledger.current_value(1, "her2") == 2
        assert ledger.current_value(1, "patient") == "P1"
        assert ledger.current_payload(2) == {"patient": "P2", "her2": 1}
        assert [c.seq for c in ledger.corrections(1)] == [3, 4]
        assert ledger.verify(expected_head=second.head).ok


@pytest.mark.req("REQ-AUD-003")
@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((1, "her2", 1), {"reason": ""}, "reason must be a non-empty"),
        ((1, "her2", 1), {"reason": "   "}, "reason must be a non-empty"),
        ((1, "missing", 1), {"reason": "r"}, "field 'missing' is not a top-level field"),
        ((1, "her2", 0), {"reason": "r"}, "a correction must change the value"),
        ((9, "her2", 1), {"reason": "r"}, "no entry 9"),
        ((2, "reason", "x"), {"reason": "r"}, "is itself a correction"),
        ((1, "her2", math.nan), {"reason": "r"}, r"payload\['new_value'\] is not canonical"),
    ],
)
def test_bad_corrections_write_nothing(tmp_path: Path, args: Any, kwargs: Any, match: str) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        ledger.append("trial.biopsy", {"patient": "P1", "her2": 0}, actor="site-a")
        ledger.correct(1, "her2", 1, reason="first", actor="monitor")
        ledger.correct(1, "her2", 0, reason="back", actor="monitor")
        head = ledger.head()
        with pytest.raises(LedgerError, match=match):
            ledger.correct(*args, actor="monitor", **kwargs)
        assert ledger.head() == head


@pytest.mark.req("REQ-AUD-001")
@pytest.mark.parametrize(
    ("event_type", "payload", "actor", "match"),
    [
        ("trial.event", {"a": math.nan}, "x", r"payload\['a'\] is not canonical JSON: got nan"),
        ("trial.event", {"a": [1, math.inf]}, "x", r"payload\['a'\]\[1\] is not canonical"),
        ("trial.event", {"a": {"b": object()}}, "x", r"payload\['a'\]\['b'\].*type object"),
        ("trial.event", {"a": {1: 2}}, "x", r"payload\['a'\]\[1\].*non-string key"),
        ("trial.event", {"a": 2**60}, "x", r"payload\['a'\].*outside"),
        ("trial.event", {"a": "\ud800"}, "x", r"payload\['a'\].*surrogate"),
        ("trial.event", [1, 2], "x", "payload must be a JSON object"),
        ("trial.event", {"a": 1}, "", "actor must be a non-empty string"),
        ("trial.event", {"a": 1}, "  ", "actor must be a non-empty string"),
        ("trial.event", {"a": 1}, "a\nb", "actor must be at most"),
        ("Trial Event", {"a": 1}, "x", "event_type must be"),
        ("", {"a": 1}, "x", "event_type must be"),
        ("a" * 65, {"a": 1}, "x", "event_type must be"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    ledger_path: Path, event_type: Any, payload: Any, actor: Any, match: str
) -> None:
    with Ledger.open(ledger_path, create=False) as ledger:
        with pytest.raises(LedgerError, match=match):
            ledger.append(event_type, payload, actor=actor)
        assert ledger.head().seq == N
    assert verify(ledger_path).ok


class _Refused(Exception):
    pass


@pytest.mark.req("REQ-AUD-001")
def test_check_runs_in_transaction_and_raising_check_writes_nothing(tmp_path: Path) -> None:
    seen: list[int] = []

    def enrol(ledger: Ledger, patient: str) -> Entry:
        def no_second_enrolment(view: LedgerView) -> None:
            seen.append(view.head().seq)
            if any(view.entries(event_type="trial.enrol", where={"patient": patient})):
                raise _Refused(f"{patient} already enrolled")

        return ledger.append(
            "trial.enrol", {"patient": patient}, actor="a", check=no_second_enrolment
        )

    with Ledger.open(tmp_path / "l.db") as ledger:
        enrol(ledger, "P1")
        enrol(ledger, "P2")
        with pytest.raises(_Refused, match="P1 already enrolled"):
            enrol(ledger, "P1")
        assert seen == [0, 1, 2]
        assert ledger.head().seq == 2

        def appends(view: LedgerView) -> None:
            ledger.append("trial.x", {}, actor="a")

        with pytest.raises(LedgerError, match="inside a check callback"):
            ledger.append("trial.enrol", {"patient": "P3"}, actor="a", check=appends)
        assert ledger.head().seq == 2
        assert ledger.append("trial.enrol", {"patient": "P3"}, actor="a").seq == 3


@pytest.mark.req("REQ-AUD-001")
def test_entries_filters_by_type_and_typed_payload_fields(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        ledger.append("run.done", {"protocol_id": "P1", "n": 1, "flag": True}, actor="a")
        ledger.append("run.done", {"protocol_id": "P2", "n": "1", "flag": 1}, actor="a")
        ledger.append("protocol.registered", {"protocol_id": "P1", "n": 1}, actor="a")

        def seqs(**kwargs: Any) -> list[int]:
            return [e.seq for e in ledger.entries(**kwargs)]

        assert seqs() == [1, 2, 3]
        assert seqs(event_type="run.done") == [1, 2]
        assert seqs(where={"protocol_id": "P1"}) == [1, 3]
        assert seqs(where={"n": 1}) == [1, 3]
        assert seqs(where={"n": "1"}) == [2]
        assert seqs(where={"flag": True}) == [1]
        assert seqs(where={"flag": 1}) == [2]
        assert seqs(event_type="run.done", where={"protocol_id": "P1"}) == [1]
        with pytest.raises(LedgerError, match="where keys must be field names"):
            seqs(where={'a"b': "x"})


@pytest.mark.req("REQ-AUD-001")
def test_open_errors(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger.open(tmp_path / "none.db", create=False)
    with pytest.raises(LedgerError, match=r"directory .* is missing"):
        Ledger.open(tmp_path / "no" / "l.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database file at all" * 200)
    with pytest.raises(LedgerError, match="is it a ledger file"):
        Ledger.open(junk)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LedgerError, match="is not a ledger"):
        Ledger.open(empty, create=False)
    with Ledger.open(tmp_path / "new.db") as ledger:
        assert ledger.head() == Head(0, GENESIS_HASH)
        assert ledger.verify(expected_head=Head(0, GENESIS_HASH)).ok
        assert isinstance(ledger.append("a.b", {}, actor="x"), Entry)
        conn = sqlite3.connect(tmp_path / "new.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


@pytest.mark.req("REQ-AUD-001")
def test_cli_verify_and_show(ledger_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Ledger.open(ledger_path, create=False) as ledger:
        head = ledger.head()
    assert main(["ledger", "verify", "--ledger", str(ledger_path)]) == 0
    assert capsys.readouterr().out == f"OK: {N} entries, head {head}\n"
    assert main(["ledger", "show", "--ledger", str(ledger_path), "--type", "trial.event"]) == 0
    assert capsys.readouterr().out.count("MARKER-") == N
    assert main(["ledger", "show", "--ledger", str(ledger_path), "--json"]) == 0
    assert f'"entry_hash": "{head.entry_hash}"' in capsys.readouterr().out
    _attack(ledger_path, ("DELETE FROM entries WHERE seq = ?", (N,)))
    assert main(["ledger", "verify", "--ledger", str(ledger_path)]) == 0
    capsys.readouterr()
    args = ["ledger", "verify", "--ledger", str(ledger_path), "--expected-head", str(head)]
    assert main(args) == 1
    assert capsys.readouterr().out.startswith(f"TAMPERED: entry {N}: entries {N} missing")
    assert main(["ledger", "verify", "--ledger", str(ledger_path), "--expected-head", "x"]) == 2
    assert "expected head must be '<seq>:<sha256 hex>'" in capsys.readouterr().err
    assert main(["ledger", "verify", "--ledger", str(ledger_path) + ".missing"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.req("REQ-AUD-001")
def test_head_text_round_trip_and_errors() -> None:
    head = Head(12, "ab" * 32)
    assert str(head) == "12:" + "ab" * 32
    assert Head.parse(f" {head}\n") == head
    for text in ["12:" + "AB" * 32, "12:abc", "-1:" + "ab" * 32, "012:" + "ab" * 32, "ab" * 32]:
        with pytest.raises(LedgerError, match="expected head must be '<seq>:<sha256 hex>'"):
            Head.parse(text)
