"""The PostgreSQL ledger store on a real PostgreSQL: same chain as SQLite, one write path,
append-only by trigger, the app cannot write directly, row-level security, gap-free under
concurrent writer processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pgtools import PgLedger, pg_ledger

from validation.exceptions import LedgerError
from validation.ledger import Head, Ledger, entry_hash, verify
from validation.ledger.drill import run_writers
from validation.ledger.postgres import PostgresLedger, install

pytestmark = pytest.mark.req("REQ-AUD-001")


@pytest.fixture(scope="module")
def pg() -> Iterator[PgLedger]:
    with pg_ledger("h2m_store") as db:
        yield db


@pytest.fixture
def fresh() -> Iterator[PgLedger]:
    with pg_ledger("h2m_fresh") as db:
        yield db


def test_same_entry_format_and_one_verify(pg: PgLedger, tmp_path: Path) -> None:
    """The database computes the hashes; Python's chain module recomputes every one of them."""
    payloads = [
        {"patient_id": "P1", "site": "A", "text": 'quote " backslash \\ é \u2028 😀'},
        {"n": 1.5, "nested": {"b": [1, 2, None], "a": True}},
    ]
    with Ledger.open(pg.app) as ledger:
        entries = [
            ledger.append("x.event", p, actor=a)
            for p, a in zip(payloads, ['dr "o" ü', "α\\β"], strict=True)
        ]
        fix = ledger.correct(entries[0].seq, "text", "fixed", reason="typo", actor="qa")
        assert ledger.current_payload(entries[0].seq)["text"] == "fixed"
        assert [h.seq for h in ledger.heads()][-3:] == [e.seq for e in (*entries, fix)]
    for e in (*entries, fix):
        assert e.entry_hash == entry_hash(
            e.seq, e.time_utc, e.actor, e.event_type, e.payload_hash, e.prev_hash
        )
    report = verify(pg.app)
    assert report.ok, report
    assert report.head == fix.head
    sqlite_twin = tmp_path / "twin.db"
    with Ledger.open(sqlite_twin) as twin:
        copied = twin.append("x.event", payloads[1], actor="α\\β")
    assert copied.payload_hash == entries[1].payload_hash  # same canonical payload bytes


def test_triggers_refuse_update_delete_truncate_even_for_superuser(pg: PgLedger) -> None:
    with Ledger.open(pg.app) as ledger:
        ledger.append("x.event", {"k": 1}, actor="a")
    with psycopg.connect(pg.admin, autocommit=True) as conn:
        for sql in (
            "UPDATE her2map.entries SET actor = 'mallory'",
            "DELETE FROM her2map.entries",
            "TRUNCATE her2map.entries",
            "UPDATE her2map.meta SET value = 'x'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(sql)


def test_app_role_cannot_write_or_own(pg: PgLedger) -> None:
    with psycopg.connect(pg.app, autocommit=True) as conn:
        for sql in (
            "INSERT INTO her2map.entries (seq, time_utc, actor, event_type, payload, "
            "payload_hash, prev_hash, entry_hash, scope) VALUES (999, '', '', '', '{}', '', '', '', '')",
            "UPDATE her2map.head SET seq = 0",
            "ALTER TABLE her2map.entries DISABLE TRIGGER ALL",
            "ALTER TABLE her2map.entries DISABLE ROW LEVEL SECURITY",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'her2map' AND tablename = 'entries'"
        ).fetchone()
        assert owner == (pg.owner_role,)
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        psycopg.connect(pg.admin.replace("postgres@", f"{pg.owner_role}@", 1))


def test_row_level_security_by_site(pg: PgLedger) -> None:
    with PostgresLedger.connect(pg.app) as ledger:
        a = ledger.append("t.enrolled", {"patient_id": "PA", "site": "A"}, actor="a")
        b = ledger.append("t.enrolled", {"patient_id": "PB", "site": "B"}, actor="b")
        shared = ledger.append("t.opened", {"sites": ["A", "B"]}, actor="cc")
        token = ledger.append("auth.token_issued", {"token_id": "x"}, actor="cc")
        corr = ledger.correct(b.seq, "patient_id", "PB2", reason="typo", actor="b")
        ledger.set_scope("A")
        seen_a = {e.seq for e in ledger.entries()}
        ledger.set_scope("B")
        seen_b = {e.seq for e in ledger.entries()}
        ledger.set_scope("*")
        seen_all = {e.seq for e in ledger.entries()}
        with pytest.raises(LedgerError, match="scope must be"):
            ledger.set_scope("A' OR 1=1 --")
    assert a.seq in seen_a
    assert b.seq not in seen_a
    assert corr.seq not in seen_a
    assert {b.seq, corr.seq} <= seen_b
    assert a.seq not in seen_b
    assert shared.seq in seen_a & seen_b
    assert token.seq not in seen_a | seen_b
    assert {a.seq, b.seq, shared.seq, token.seq, corr.seq} <= seen_all


def test_concurrent_writer_processes_gap_free_no_fork(fresh: PgLedger, tmp_path: Path) -> None:
    """REQ-AUD-002: 6 processes x 60 appends through the one SQL function."""
    result = run_writers(fresh.app, tmp_path, writers=6, per_writer=60)
    assert len(result.acked) == 360
    assert sorted(result.acked.values()) == list(range(1, 361))
    report = verify(fresh.app)
    assert report.ok, report
    assert report.n_entries == 360
    with Ledger.open(fresh.app, readonly=True) as ledger:
        stored = {(e.payload["writer"], e.payload["i"]): e.seq for e in ledger.entries()}
        with pytest.raises(LedgerError, match="read-only"):
            ledger.append("x.event", {}, actor="a")
    assert stored == result.acked


def test_tampering_by_superuser_is_named(fresh: PgLedger) -> None:
    with Ledger.open(fresh.app) as ledger:
        for i in range(5):
            ledger.append("x.event", {"i": i}, actor="a")
        head = ledger.head()
    with psycopg.connect(fresh.admin, autocommit=True) as conn:
        conn.execute("ALTER TABLE her2map.entries DISABLE TRIGGER entries_append_only")
        conn.execute("UPDATE her2map.entries SET payload = '{\"i\":7}' WHERE seq = 3")
        conn.execute("DELETE FROM her2map.entries WHERE seq = 5")
    report = verify(fresh.app)
    assert not report.ok
    assert report.first_bad_seq == 3, report
    assert "payload edited" in str(report)
    truncated = verify(fresh.admin, expected_head=head)
    assert not truncated.ok


def test_install_refuses_twice_and_bad_roles(pg: PgLedger) -> None:
    with pytest.raises(LedgerError, match="already holds a ledger"):
        install(pg.admin, app_role=pg.app_role, owner_role=pg.owner_role)
    with pytest.raises(LedgerError, match="must differ"):
        install(pg.admin, app_role="same_role", owner_role="same_role")
    with pytest.raises(LedgerError, match="SQL identifier"):
        install(pg.admin, app_role="app; DROP TABLE x", owner_role="o")
    with pytest.raises(LedgerError, match="holds no ledger"):
        Ledger.open(pg.admin.rsplit("/", 1)[0] + "/postgres")
    assert Head.genesis().seq == 0


def test_entries_filters_by_type_and_typed_payload_fields_as_sqlite(
    fresh: PgLedger, tmp_path: Path
) -> None:
    """The typed ``where`` filters give the same entries on both stores (one clause builder,
    ``validation.ledger.store.select_clauses``, two dialects): an indexed field, a JSON path, an
    integer that is not the string "1", booleans left to the caller."""
    events = [
        ("run.done", {"protocol_id": "P1", "n": 1, "flag": True, "patient_id": "a"}),
        ("run.done", {"protocol_id": "P2", "n": "1", "flag": 1, "patient_id": "b"}),
        ("protocol.registered", {"protocol_id": "P1", "n": 1, "patient_id": "a"}),
    ]
    queries = [
        {},
        {"event_type": "run.done"},
        {"where": {"protocol_id": "P1"}},
        {"where": {"n": 1}},
        {"where": {"n": "1"}},
        {"where": {"flag": True}},
        {"where": {"flag": 1}},
        {"where": {"patient_id": "a"}},
        {"event_type": "run.done", "where": {"protocol_id": "P1", "patient_id": "a"}},
    ]
    found = {}
    for location in (fresh.app, tmp_path / "twin.db"):
        with Ledger.open(location) as ledger:
            for event_type, payload in events:
                ledger.append(event_type, payload, actor="a")
            found[str(location)] = [
                [e.seq for e in ledger.entries(**query)]  # type: ignore[arg-type]
                for query in queries
            ]
    on_pg, on_sqlite = found.values()
    assert on_pg == on_sqlite
    assert on_pg == [[1, 2, 3], [1, 2], [1, 3], [1, 3], [2], [1], [2], [1, 3], [1]]
