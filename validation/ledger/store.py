"""The ledger store abstraction: one read/append API over SQLite (embedded) and PostgreSQL.

:class:`LedgerView` (reads) and :class:`Ledger` (appends, corrections) hold everything that does
not depend on the database; a store supplies a handful of primitives (:meth:`LedgerView._select`,
:meth:`LedgerView._rows`, :meth:`Ledger._write`). Both stores keep the same eight columns per
entry (``seq, time_utc, actor, event_type, payload, payload_hash, prev_hash, entry_hash``) with
the same hashes (:mod:`.chain`), so one :func:`verify` (:func:`validation.ledger.chain.walk`)
checks either.

A ledger is named by a *location*: a file path (SQLite, :mod:`.sqlite`) or a
``postgresql://`` URL (:mod:`.postgres`). :meth:`Ledger.open`, :func:`verify` and :func:`show`
pick the store from it.

Constant-time lookups: the payload fields ``patient_id`` and ``target_seq`` (a correction's
target) and ``event_type`` are indexed in both stores (:data:`INDEXED_FIELDS`), so reading one
patient's events costs O(log n + k), never a scan of the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from validation.exceptions import LedgerError
from validation.ledger.chain import Row, canonical_payload, check_actor, check_event_type, walk
from validation.ledger.corrections import CORRECTION_EVENT, correction_payload, fold_corrections
from validation.ledger.models import Entry, Head, VerifyReport

__all__ = [
    "FORMAT",
    "INDEXED_FIELDS",
    "Ledger",
    "LedgerView",
    "Scalar",
    "is_postgres",
    "select_clauses",
    "show",
    "verify",
]

#: Value of ``meta.format`` in every ledger database (both stores).
FORMAT = "her2map-ledger/1"
#: Top-level payload fields that both stores index (``entries(where=...)`` on them is a lookup).
INDEXED_FIELDS: tuple[str, ...] = ("patient_id", "target_seq")
Scalar = str | int | bool | None
_MISSING = object()


def is_postgres(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL ledger (a ``postgresql://`` or ``postgres://`` URL)."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def _same(found: Any, wanted: Scalar) -> bool:
    return found == wanted and isinstance(found, bool) == isinstance(wanted, bool)


def select_clauses(
    event_type: str | None,
    where: Mapping[str, Scalar],
    after_seq: int,
    *,
    mark: str,
    field: Callable[[str, str | int], tuple[str, list[str | int]]],
) -> tuple[str, list[str | int]]:
    """The WHERE clause of an ``entries`` query and its parameters, in a store's SQL dialect.

    ``seq > after_seq``, the event type if given, and one equality per ``where`` filter that SQL
    can decide: JSON null, true and false are left to the caller, which filters the rows it reads
    (SQLite and PostgreSQL render them differently). ``mark`` is the dialect's placeholder
    (``?``, ``%s``); ``field(key, value)`` gives the clause and parameters comparing one payload
    field (an indexed column, or a JSON path).
    """
    clauses = [f"seq > {mark}"]
    params: list[str | int] = [after_seq]
    if event_type is not None:
        clauses.append(f"event_type = {mark}")
        params.append(event_type)
    for key, value in where.items():
        if value is None or isinstance(value, bool):
            continue
        clause, values = field(key, value)
        clauses.append(clause)
        params += values
    return " AND ".join(clauses), params


def check_where(where: Mapping[str, Scalar] | None) -> dict[str, Scalar]:
    """Validated ``where`` filters: field names without quotes, scalar JSON values."""
    filters = dict(where or {})
    for key, value in filters.items():
        if not isinstance(key, str) or not key or '"' in key or "\\" in key or "'" in key:
            raise LedgerError(f"where keys must be field names without quotes; got {key!r}")
        if not (value is None or isinstance(value, str | int | bool)):
            raise LedgerError(
                f"where[{key!r}] must be a str, int, bool or None; got {type(value).__name__}"
            )
    return filters


class LedgerView:
    """Read access to a ledger (inside the write transaction when handed to a ``check``).

    A ``check`` callback of :meth:`Ledger.append` gets a view that reads after the chain-head
    lock is taken, so a rule such as "no second enrolment of a patient" sees every committed
    entry and no other writer can append before this one commits.
    """

    #: Where the ledger lives: a file path (SQLite) or a ``postgresql://`` URL.
    path: Path | str

    # -- store primitives -----------------------------------------------------------------------

    def head(self) -> Head:
        """Last entry's (seq, entry_hash); ``Head(0, GENESIS_HASH)`` when empty."""
        raise NotImplementedError

    def _select(
        self,
        event_type: str | None,
        where: Mapping[str, Scalar],
        after_seq: int,
        limit: int | None,
    ) -> Iterator[Entry]:
        """Entries with ``seq > after_seq`` in seq order, prefiltered (the caller re-checks)."""
        raise NotImplementedError

    def _rows(self, after_seq: int = 0) -> Iterator[Row]:
        """Stored rows with ``seq > after_seq`` for :func:`~validation.ledger.chain.walk`."""
        raise NotImplementedError

    def heads(self, after_seq: int = 0) -> Iterator[Head]:
        """``(seq, entry_hash)`` of every entry after ``after_seq``, streamed (cheap: two columns;
        for Merkle checkpoints over the chain)."""
        raise NotImplementedError

    # -- shared reads ---------------------------------------------------------------------------

    def entry(self, seq: int) -> Entry:
        """The entry ``seq`` as stored (LedgerError if there is none)."""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise LedgerError(f"entry seq must be a positive int; got {seq!r}")
        found = next(self._select(None, {}, seq - 1, 1), None)
        if found is None or found.seq != seq:
            raise LedgerError(
                f"ledger {self.path} has no entry {seq!r} (head is {self.head().seq})"
            )
        return found

    def entries(
        self,
        *,
        event_type: str | None = None,
        where: Mapping[str, Scalar] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> Iterator[Entry]:
        """Entries in sequence order, optionally of one ``event_type``, after ``after_seq``, and
        with top-level payload fields equal to ``where``'s values (e.g. ``{"protocol_id": "P1"}``;
        JSON types must match). Filters on :data:`INDEXED_FIELDS` and ``event_type`` use indexes.
        """
        if event_type is not None:
            check_event_type(event_type)
        filters = check_where(where)
        count = 0
        for entry in self._select(event_type, filters, after_seq, None):
            if all(_same(entry.payload.get(k, _MISSING), v) for k, v in filters.items()):
                yield entry
                count += 1
                if limit is not None and count >= limit:
                    return

    def first(self, event_type: str) -> Entry | None:
        """The first entry of ``event_type`` (an index lookup), or None."""
        return next(self.entries(event_type=event_type, limit=1), None)

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
        """Correction entries targeting entry ``seq``, in sequence order (an index lookup)."""
        return list(self.entries(event_type=CORRECTION_EVENT, where={"target_seq": seq}))

    def verify_rows(
        self, *, after: Head | None = None, expected_head: Head | None = None
    ) -> VerifyReport:
        """Walk this view's stored rows (all, or those after ``after``, which must still hold
        ``after.entry_hash``) with :func:`~validation.ledger.chain.walk`."""
        if after is None or after.seq == 0:
            return walk(self._rows(), expected_head=expected_head)
        found = next(self.heads(after.seq - 1), None)
        if found != after:
            problem = (
                f"entries from {found.seq + 1 if found else 1} on are missing"
                if found is None or found.seq != after.seq
                else f"rewritten since it was verified (hash {found.entry_hash}, verified "
                f"{after.entry_hash})"
            )
            return VerifyReport(False, after.seq - 1, after, after.seq, problem)
        return walk(self._rows(after.seq), expected_head=expected_head, start=after)


class Ledger(LedgerView):
    """The append-only, hash-chained audit ledger; open with :meth:`open` (a context manager).

    Not shared between threads: each thread or process opens its own; the store serialises
    appends on its chain-head lock (SQLite's write lock; PostgreSQL's ``head`` row lock).
    """

    #: Set by the store when it opens read-only: appends are refused (:meth:`_writing`).
    _readonly: bool
    #: True while :meth:`_write` runs, so that a ``check`` callback cannot append.
    _in_transaction: bool

    @classmethod
    def open(cls, location: str | Path, *, create: bool = True, readonly: bool = False) -> Ledger:
        """Open the ledger at ``location`` (SQLite file, created when ``create``; or a
        ``postgresql://`` URL of a database prepared by :func:`validation.ledger.postgres.install`).

        ``readonly`` opens without changing anything (SQLite: ``mode=ro``, no journal switch,
        no index creation; PostgreSQL: a read-only session); appends then fail.
        """
        if is_postgres(location):
            from validation.ledger.postgres import PostgresLedger

            return PostgresLedger.connect(str(location), readonly=readonly)
        from validation.ledger.sqlite import SqliteLedger

        return SqliteLedger.open_file(
            Path(location), create=create and not readonly, readonly=readonly
        )

    def close(self) -> None:
        """Close the connection (idempotent)."""
        raise NotImplementedError

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(
        self,
        event_type: str,
        actor: str,
        build: Callable[[LedgerView], bytes],
        check: Callable[[LedgerView], None] | None,
    ) -> Entry:
        """Take the chain-head lock, run ``check`` then ``build`` (reads under the lock), append
        the built payload and commit; return the acknowledged entry. Nothing written on error.
        A store runs this inside :meth:`_writing`."""
        raise NotImplementedError

    @contextmanager
    def _writing(self, database_error: type[Exception]) -> Iterator[None]:
        """The guard around a store's :meth:`_write`: refuse an append from inside a ``check``
        callback or on a read-only ledger (LedgerError, nothing written), and report an error of
        the database driver (``database_error``, e.g. ``sqlite3.Error``) as a LedgerError."""
        if self._in_transaction:
            raise LedgerError("append/correct called inside a check callback; checks only read")
        if self._readonly:
            raise LedgerError(f"ledger {self.path} was opened read-only; nothing was written")
        self._in_transaction = True
        try:
            yield
        except database_error as exc:
            raise LedgerError(
                f"append to ledger {self.path} failed, nothing written: {exc}"
            ) from exc
        finally:
            self._in_transaction = False

    def append(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        *,
        actor: str,
        check: Callable[[LedgerView], None] | None = None,
    ) -> Entry:
        """Append one event; return the entry once it is committed (acknowledged).

        ``check(view)`` runs inside the write transaction, after the chain-head lock is taken and
        before the entry is written; if it raises, nothing is written and the exception
        propagates. Bad ``event_type``, ``actor`` or payload raise LedgerError naming the field.
        """
        check_event_type(event_type)
        check_actor(actor)
        body = canonical_payload(payload)
        return self._write(event_type, actor, lambda view: body, check)

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

        return self._write(CORRECTION_EVENT, actor, build, check)

    def verify(self, *, expected_head: Head | str | None = None) -> VerifyReport:
        """Re-walk the whole chain of this ledger (see :func:`verify`)."""
        return verify(self.path, expected_head=expected_head)


def verify(location: str | Path, *, expected_head: Head | str | None = None) -> VerifyReport:
    """Re-walk the hash chain of the ledger at ``location`` without changing it.

    Returns a :class:`VerifyReport` naming the first entry edited, deleted, moved, or (with
    ``expected_head``, e.g. ``"12:ab…"``) truncated away. SQLite files are opened read-only
    (``mode=ro``: no journal switch, the file's bytes are unchanged); PostgreSQL in a read-only
    transaction that sees every site's rows. LedgerError if the ledger is missing.
    """
    expected = Head.parse(expected_head) if isinstance(expected_head, str) else expected_head
    if is_postgres(location):
        from validation.ledger.postgres import verify_postgres

        return verify_postgres(str(location), expected_head=expected)
    from validation.ledger.sqlite import verify_sqlite

    return verify_sqlite(Path(location), expected_head=expected)


def show(location: str | Path, *, event_type: str | None = None) -> Iterator[Entry]:
    """Entries of the ledger at ``location`` in sequence order (optionally one ``event_type``),
    read without changing the ledger."""
    with Ledger.open(location, create=False, readonly=True) as ledger:
        yield from ledger.entries(event_type=event_type)
