"""SQLite engine of the audit ledger: :class:`Ledger` (append, read, correct, verify).

Durability: WAL journal, ``synchronous=FULL`` (the WAL is fsynced at every COMMIT), one
``BEGIN IMMEDIATE`` transaction per append, and :meth:`Ledger.append` returns only after COMMIT,
so an acknowledged entry survives a crash of the process or the machine. Writers in several
processes serialise on SQLite's write lock (``busy_timeout``, 60 s by default). Triggers refuse
UPDATE and DELETE through SQLite, but verification does not rely on them: :func:`verify` re-walks
the hash chain from the stored bytes (:func:`validation.ledger.chain.walk`).
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
from validation.ledger.chain import (
    Row,
    canonical_payload,
    check_actor,
    check_event_type,
    entry_hash,
    walk,
)
from validation.ledger.corrections import CORRECTION_EVENT, correction_payload, fold_corrections
from validation.ledger.models import Entry, Head, VerifyReport

__all__ = ["FORMAT", "Ledger", "LedgerView", "show", "verify"]

#: Value of ``meta.format`` in every ledger database.
FORMAT = "her2map-ledger/1"
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
_Scalar = str | int | bool | None


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


class LedgerView:
    """Read access to a ledger through one connection (inside a transaction when in a ``check``).

    A ``check`` callback of :meth:`Ledger.append` gets a view that reads inside the write
    transaction, so a rule such as "no second enrolment of a patient" sees every committed entry
    and no other writer can append before this one commits.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    def head(self) -> Head:
        """Last entry's (seq, entry_hash); ``Head(0, GENESIS_HASH)`` when empty."""
        row = self._conn.execute(
            "SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return Head.genesis() if row is None else Head(int(row[0]), str(row[1]))

    def entry(self, seq: int) -> Entry:
        """The entry ``seq`` as stored (LedgerError if there is none)."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            raise LedgerError(
                f"ledger {self.path} has no entry {seq!r} (head is {self.head().seq})"
            )
        return _row_to_entry(row)

    def entries(
        self, *, event_type: str | None = None, where: Mapping[str, _Scalar] | None = None
    ) -> Iterator[Entry]:
        """Entries in sequence order, optionally of one ``event_type`` and with top-level payload
        fields equal to ``where``'s values (e.g. ``{"protocol_id": "P1"}``; JSON types must match).
        """
        sql = f"SELECT {_COLUMNS} FROM entries"
        params: list[str | int] = []
        clauses: list[str] = []
        if event_type is not None:
            clauses.append("event_type = ?")
            params.append(check_event_type(event_type))
        filters = dict(where or {})
        for key, value in filters.items():
            if not isinstance(key, str) or '"' in key or "\\" in key:
                raise LedgerError(f"where keys must be field names without quotes; got {key!r}")
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                clauses.append("json_extract(payload, ?) = ?")
                params += [f'$."{key}"', value]
            elif not (value is None or isinstance(value, bool)):
                raise LedgerError(
                    f"where[{key!r}] must be a str, int, bool or None; got {type(value).__name__}"
                )
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        for row in self._conn.execute(sql + " ORDER BY seq", params):
            entry = _row_to_entry(row)
            if all(_same(entry.payload.get(k, _MISSING), v) for k, v in filters.items()):
                yield entry

    def current_payload(self, seq: int) -> dict[str, Any]:
        """Payload of entry ``seq`` with every correction of it applied, in sequence order."""
        target = self.entry(seq)
        return fold_corrections(target, self.corrections(seq))

    def current_value(self, seq: int, field: str) -> Any:
        """Value in force of top-level payload ``field`` of entry ``seq`` (after corrections)."""
        payload = self.current_payload(seq)
        if field not in payload:
            raise LedgerError(
                f"entry {seq} has no field {field!r}; its fields are {sorted(payload)}"
            )
        return payload[field]

    def corrections(self, seq: int) -> list[Entry]:
        """Correction entries targeting entry ``seq``, in sequence order."""
        return list(self.entries(event_type=CORRECTION_EVENT, where={"target_seq": seq}))


_MISSING = object()


def _same(found: Any, wanted: _Scalar) -> bool:
    return found == wanted and isinstance(found, bool) == isinstance(wanted, bool)


class Ledger(LedgerView):
    """The append-only, hash-chained audit ledger in one SQLite file.

    Open with :meth:`open` (a context manager). Not shared between threads or processes: each
    writer opens its own; SQLite serialises their appends.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_timeout_s: float) -> None:
        super().__init__(conn, path)
        self._busy_timeout_s = busy_timeout_s
        self._in_transaction = False

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, busy_timeout_s: float = 60.0) -> Ledger:
        """Open (and with ``create``, create) the ledger at ``path``.

        Sets WAL, ``synchronous=FULL`` and ``busy_timeout``. Raises LedgerError if the file is
        missing (``create=False``), is not a ledger, or its directory does not exist.
        """
        path = Path(path)
        if not create and not path.is_file():
            raise LedgerError(f"ledger {path} does not exist; check the path (or create it first)")
        if create and not path.parent.is_dir():
            raise LedgerError(f"cannot create ledger {path}: directory {path.parent} is missing")
        conn = _connect(path, "rwc" if create else "rw", busy_timeout_s)
        try:
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
        return cls(conn, path, busy_timeout_s)

    @staticmethod
    def _ensure_schema(conn: sqlite3.Connection, path: Path, create: bool) -> None:
        def has_meta() -> bool:
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            return conn.execute(query).fetchone() is not None

        if not has_meta():
            if not create:
                raise LedgerError(f"{path} is not a ledger (no ledger tables); check the path")
            conn.execute("BEGIN IMMEDIATE")
            try:
                if not has_meta():
                    for statement in _SCHEMA.split(";\n"):
                        if statement.strip():
                            conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != FORMAT:
            raise LedgerError(f"{path} has ledger format {row and row[0]!r}; expected {FORMAT!r}")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def append(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        actor: str,
        check: Callable[[LedgerView], None] | None = None,
    ) -> Entry:
        """Append one event; return the entry once it is committed (acknowledged).

        ``check(view)`` runs inside the write transaction (``BEGIN IMMEDIATE``) before the entry
        is written; if it raises, nothing is written and the exception propagates. Bad
        ``event_type``, ``actor`` or payload raise LedgerError naming the field; nothing written.
        """
        check_event_type(event_type)
        check_actor(actor)
        body = canonical_payload(payload)
        return self._append(event_type, actor, lambda view: body, check)

    def correct(
        self,
        target_seq: int,
        field: str,
        new_value: Any,
        *,
        reason: str,
        actor: str,
        check: Callable[[LedgerView], None] | None = None,
    ) -> Entry:
        """Append a correction of entry ``target_seq``'s top-level payload ``field``.

        The payload is ``{target_seq, field, old_value, new_value, reason}`` with ``old_value`` read
        inside the transaction from the target after earlier corrections (never from the caller).
        An empty ``reason``, a missing field, an unchanged value, or a correction as target raise
        LedgerError and write nothing (21 CFR 11.10(e)).
        """
        check_actor(actor)
        if not isinstance(target_seq, int) or isinstance(target_seq, bool):
            raise LedgerError(f"target_seq must be an entry's seq (int); got {target_seq!r}")

        def build(view: LedgerView) -> bytes:
            target = view.entry(target_seq)
            current = view.current_payload(target_seq)
            return canonical_payload(correction_payload(target, current, field, new_value, reason))

        return self._append(CORRECTION_EVENT, actor, build, check)

    def _append(
        self,
        event_type: str,
        actor: str,
        build: Callable[[LedgerView], bytes],
        check: Callable[[LedgerView], None] | None,
    ) -> Entry:
        if self._in_transaction:
            raise LedgerError("append/correct called inside a check callback; checks only read")
        conn = self._conn
        view = LedgerView(conn, self.path)
        self._in_transaction = True
        try:
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
                conn.execute(
                    f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        time_utc,
                        actor,
                        event_type,
                        body.decode("utf-8"),
                        payload_hash,
                        head.entry_hash,
                        digest,
                    ),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(
                f"append to ledger {self.path} failed, nothing written: {exc}"
            ) from exc
        finally:
            self._in_transaction = False
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

    def verify(self, *, expected_head: Head | str | None = None) -> VerifyReport:
        """Re-walk the chain of this ledger's file (see :func:`verify`)."""
        return verify(self.path, expected_head=expected_head)


class _Rows:
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
    "prev_hash, entry_hash FROM entries ORDER BY seq"
)


def verify(path: str | Path, *, expected_head: Head | str | None = None) -> VerifyReport:
    """Re-walk the hash chain stored in the ledger file ``path`` (read-only connection).

    Returns a :class:`VerifyReport` naming the first entry edited, deleted, moved, or (with
    ``expected_head``, e.g. ``"12:ab…"``) truncated away. Rows are streamed with one cursor and
    the stored canonical payload bytes are hashed as they are. A file SQLite cannot read past
    some entry (corrupt page, text that is not UTF-8) is reported as tampered at the entry after
    the last one read. LedgerError if ``path`` is missing or not a ledger.
    """
    path = Path(path)
    expected = Head.parse(expected_head) if isinstance(expected_head, str) else expected_head
    Ledger.open(path, create=False).close()
    conn = _connect(path, "ro", 60.0)
    try:
        try:
            return walk(conn.execute(_VERIFY_SQL), expected_head=expected)
        except sqlite3.DatabaseError:
            pass  # find where reading fails, with the slower position-tracking pass below
        rows = _Rows(conn.execute(_VERIFY_SQL))
        try:
            return walk(rows, expected_head=expected)
        except sqlite3.DatabaseError as exc:
            report = walk(conn.execute(_VERIFY_SQL + f" LIMIT {rows.last_seq}"))
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


def show(path: str | Path, *, event_type: str | None = None) -> Iterator[Entry]:
    """Entries of the ledger at ``path`` in sequence order (optionally one ``event_type``)."""
    with Ledger.open(path, create=False) as ledger:
        yield from ledger.entries(event_type=event_type)
