"""SQLite store of the audit ledger (the embedded default: one file on one machine).

Durability: WAL journal, ``synchronous=FULL`` (the WAL is fsynced at every COMMIT), one
``BEGIN IMMEDIATE`` transaction per append (SQLite's write lock is the chain-head lock), and
:meth:`SqliteLedger._write` returns only after COMMIT, so an acknowledged entry survives a crash
of the process or the machine. Writers in several processes serialise on the write lock
(``busy_timeout``, 60 s by default). Triggers refuse UPDATE and DELETE through SQLite, but
verification does not rely on them: :func:`verify_sqlite` re-walks the chain from the stored
bytes. Expression indexes on ``event_type``, ``$.patient_id`` and ``$.target_seq`` keep a
patient's lookup O(log n) (created when a writable connection opens the file).

Read-only opens (``verify``, ``show``, status and export) use ``mode=ro`` and change no byte of
the file: no journal-mode switch, no index creation.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from validation.canonical import sha256_hex
from validation.exceptions import LedgerError
from validation.ledger.chain import Row, entry_hash, walk
from validation.ledger.models import Entry, Head, VerifyReport
from validation.ledger.store import (
    FORMAT,
    INDEXED_FIELDS,
    Ledger,
    LedgerView,
    Scalar,
    select_clauses,
)

__all__ = ["SqliteLedger", "verify_sqlite"]

_COLUMNS = "seq, time_utc, actor, event_type, payload, payload_hash, prev_hash, entry_hash"
_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta (key, value) VALUES ('format', '{FORMAT}');
CREATE TABLE entries (
    seq INTEGER PRIMARY KEY CHECK (seq > 0),
    time_utc TEXT NOT NULL,
    actor TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    entry_hash TEXT NOT NULL
);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: append a correction'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: append a correction'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
    BEGIN SELECT RAISE(ABORT, 'ledger meta is read-only'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
    BEGIN SELECT RAISE(ABORT, 'ledger meta is read-only'); END;
"""
#: Index expressions; queries must spell them identically for SQLite to use the index.
_FIELD_SQL = {name: f"json_extract(payload, '$.{name}')" for name in INDEXED_FIELDS}


def _field(key: str, value: str | int) -> tuple[str, list[str | int]]:
    """A payload field equal to ``value``: its indexed expression, or its JSON path."""
    if key in _FIELD_SQL:
        return f"{_FIELD_SQL[key]} = ?", [value]
    return "json_extract(payload, ?) = ?", [f'$."{key}"', value]


_INDEXES = (
    "CREATE INDEX IF NOT EXISTS entries_event_type ON entries (event_type)",
    *(
        f"CREATE INDEX IF NOT EXISTS entries_{name} ON entries ({sql}) WHERE {sql} IS NOT NULL"
        for name, sql in _FIELD_SQL.items()
    ),
)


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _connect(path: Path, mode: str, busy_timeout_s: float) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode={mode}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_s)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from exc
    return conn


def _row_to_entry(row: tuple[Any, ...]) -> Entry:
    seq, time_utc, actor, event_type, payload, payload_hash, prev_hash, stored = row
    return Entry(
        seq, time_utc, actor, event_type, json.loads(payload), payload_hash, prev_hash, stored
    )


def _check_format(conn: sqlite3.Connection, path: Path) -> None:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    if conn.execute(query).fetchone() is None:
        raise LedgerError(f"{path} is not a ledger (no ledger tables); check the path")
    row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
    if row is None or row[0] != FORMAT:
        raise LedgerError(f"{path} has ledger format {row and row[0]!r}; expected {FORMAT!r}")


class _SqliteReads(LedgerView):
    """The read primitives over one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    def head(self) -> Head:
        row = self._conn.execute(
            "SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return Head.genesis() if row is None else Head(int(row[0]), str(row[1]))

    def _select(
        self,
        event_type: str | None,
        where: Mapping[str, Scalar],
        after_seq: int,
        limit: int | None,
    ) -> Iterator[Entry]:
        clauses, params = select_clauses(event_type, where, after_seq, mark="?", field=_field)
        sql = f"SELECT {_COLUMNS} FROM entries WHERE {clauses} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        for row in self._conn.execute(sql, params):
            yield _row_to_entry(row)

    def _rows(self, after_seq: int = 0) -> Iterator[Row]:
        yield from self._conn.execute(_VERIFY_SQL.format(after=int(after_seq)))

    def heads(self, after_seq: int = 0) -> Iterator[Head]:
        sql = "SELECT seq, entry_hash FROM entries WHERE seq > ? ORDER BY seq"
        for seq, digest in self._conn.execute(sql, (after_seq,)):
            yield Head(seq, digest)


class SqliteLedger(_SqliteReads, Ledger):
    """The ledger in one SQLite file. Open with :meth:`Ledger.open`."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, busy_timeout_s: float, readonly: bool
    ) -> None:
        super().__init__(conn, path)
        self._busy_timeout_s = busy_timeout_s
        self._readonly = readonly
        self._in_transaction = False

    @classmethod
    def open_file(
        cls,
        path: Path,
        *,
        create: bool = True,
        readonly: bool = False,
        busy_timeout_s: float = 60.0,
    ) -> SqliteLedger:
        """Open (with ``create``, create) the file; see :meth:`Ledger.open`."""
        if not path.is_file() and (readonly or not create):
            raise LedgerError(f"ledger {path} does not exist; check the path (or create it first)")
        if create and not path.parent.is_dir():
            raise LedgerError(f"cannot create ledger {path}: directory {path.parent} is missing")
        conn = _connect(path, "ro" if readonly else "rwc" if create else "rw", busy_timeout_s)
        try:
            if readonly:
                _check_format(conn, path)
            else:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                cls._ensure_schema(conn, path, create)
        except sqlite3.Error as exc:
            conn.close()
            raise LedgerError(f"cannot open ledger {path}: {exc} (is it a ledger file?)") from exc
        except LedgerError:
            conn.close()
            raise
        return cls(conn, path, busy_timeout_s, readonly)

    @staticmethod
    def _ensure_schema(conn: sqlite3.Connection, path: Path, create: bool) -> None:
        def has_meta() -> bool:
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            return conn.execute(query).fetchone() is not None

        def has_indexes() -> bool:
            query = (
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'entries_%'"
            )
            return int(conn.execute(query).fetchone()[0]) == len(_INDEXES)

        if has_meta() and has_indexes():
            _check_format(conn, path)
            return
        if not has_meta() and not create:
            raise LedgerError(f"{path} is not a ledger (no ledger tables); check the path")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not has_meta():
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
            for statement in _INDEXES:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        _check_format(conn, path)

    def close(self) -> None:
        self._conn.close()

    def _write(
        self,
        event_type: str,
        actor: str,
        build: Callable[[LedgerView], bytes],
        check: Callable[[LedgerView], None] | None,
    ) -> Entry:
        with self._writing(sqlite3.Error):
            conn = self._conn
            view = _SqliteReads(conn, Path(self.path))
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise LedgerError(
                    f"cannot start a write transaction on ledger {self.path} ({exc}; writers wait "
                    f"up to busy_timeout_s={self._busy_timeout_s} s for the lock); nothing was "
                    f"written, retry"
                ) from exc
            try:
                if check is not None:
                    check(view)
                body = build(view)
                head = view.head()
                seq, time_utc, payload_hash = head.seq + 1, _utc_now(), sha256_hex(body)
                digest = entry_hash(seq, time_utc, actor, event_type, payload_hash, head.entry_hash)
                row = (seq, time_utc, actor, event_type, body.decode("utf-8"), payload_hash)
                conn.execute(
                    f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*row, head.entry_hash, digest),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return Entry(
            seq,
            time_utc,
            actor,
            event_type,
            json.loads(body),
            payload_hash,
            head.entry_hash,
            digest,
        )


class _TrackedRows:
    """Rows one by one, remembering the last seq read (slow pass that places a read error)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.cursor = cursor
        self.last_seq = 0

    def __iter__(self) -> Iterator[Row]:
        while (row := self.cursor.fetchone()) is not None:
            self.last_seq = row[0]
            yield row


_VERIFY_SQL = (
    "SELECT seq, time_utc, actor, event_type, CAST(IFNULL(payload, '') AS BLOB), payload_hash, "
    "prev_hash, entry_hash FROM entries WHERE seq > {after} ORDER BY seq"
)


def verify_sqlite(path: Path, *, expected_head: Head | None = None) -> VerifyReport:
    """Re-walk the chain in the SQLite file ``path`` through a read-only (``mode=ro``) connection.

    Nothing is written: the journal mode is not switched and the file's bytes stay as they were.
    A file SQLite cannot read past some entry (corrupt page, text that is not UTF-8) is reported
    as tampered at the entry after the last one read.
    """
    if not path.is_file():
        raise LedgerError(f"ledger {path} does not exist; check the path")
    conn = _connect(path, "ro", 60.0)
    try:
        try:
            _check_format(conn, path)
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open ledger {path}: {exc} (is it a ledger file?)") from exc
        sql = _VERIFY_SQL.format(after=0)
        try:
            return walk(conn.execute(sql), expected_head=expected_head)
        except sqlite3.DatabaseError:
            pass  # find where reading fails, with the slower position-tracking pass below
        rows = _TrackedRows(conn.execute(sql))
        try:
            return walk(rows, expected_head=expected_head)
        except sqlite3.DatabaseError as exc:
            report = walk(conn.execute(sql + f" LIMIT {rows.last_seq}"))
            if not report.ok:
                return report
            return VerifyReport(
                False,
                report.n_entries,
                report.head,
                rows.last_seq + 1,
                f"unreadable: the database file is corrupt at or after this entry (SQLite: {exc})",
            )
    finally:
        conn.close()
