"""PostgreSQL store of the audit ledger (several sites, one ledger; psycopg 3).

:func:`install` prepares a database once, as a superuser: an owner role that cannot log in owns
the schema (:mod:`.pg_schema`); the app role the service logs in as may read (row-level
security by site) and call the one write function. :class:`PostgresLedger` is the app's side:
:meth:`~PostgresLedger._write` runs ``BEGIN; SELECT ledger_lock(); <check reads>;
SELECT ledger_append(...); COMMIT`` so a rule check sees every committed entry and no other
writer -- in any process or on any machine -- appends in between; ``append`` returns after
COMMIT (acknowledged: PostgreSQL's ``synchronous_commit`` makes it durable).

The entry format and the hashes are those of the SQLite store; :func:`verify_postgres` walks the
rows with the same :func:`validation.ledger.chain.walk`, in a read-only transaction with scope
``*`` (every site's rows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from validation.exceptions import LedgerError
from validation.ledger.chain import Row, walk
from validation.ledger.models import GENESIS_HASH, Entry, Head, VerifyReport
from validation.ledger.pg_schema import SCHEMA, schema_sql
from validation.ledger.store import (
    FORMAT,
    INDEXED_FIELDS,
    Ledger,
    LedgerView,
    Scalar,
    select_clauses,
)

__all__ = ["SCOPE_ALL", "PostgresLedger", "install", "verify_postgres"]

#: Scope that reads every site's rows (monitors, statisticians, verification, rule checks).
SCOPE_ALL = "*"
_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCOPE = re.compile(r"\*|!admin|[A-Za-z0-9][A-Za-z0-9._-]{0,31}|")
_PAGE = 5000
_COLUMNS = "seq, time_utc, actor, event_type, payload, payload_hash, prev_hash, entry_hash"


def _field(key: str, value: str | int) -> tuple[str, list[str | int]]:
    """A payload field equal to ``value``: its indexed column, or its JSON text (``->>``)."""
    if key in INDEXED_FIELDS:
        return f"{key} = %s", [value]
    return "(payload::jsonb ->> %s) = %s", [key, str(value)]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        raise LedgerError(
            "PostgreSQL ledgers need psycopg 3 (pip install 'psycopg[binary]')"
        ) from exc
    return psycopg


def _ident(name: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise LedgerError(
            f"{what} must be a lower-case SQL identifier (letters, digits, '_'); got {name!r}"
        )
    return name


def _redact(dsn: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", dsn)


def _connect(dsn: str, **kwargs: Any) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        raise LedgerError(f"cannot connect to ledger {_redact(dsn)}: {exc}".strip()) from exc


def install(admin_dsn: str, *, app_role: str, owner_role: str = "her2map_owner") -> None:
    """Create the ledger in the database of ``admin_dsn`` (a superuser connection), once.

    Creates ``owner_role`` (NOLOGIN) and ``app_role`` (LOGIN) if missing, the schema owned by the
    owner, the tables, functions, triggers and row-level security, and grants the app role only
    SELECT and EXECUTE. LedgerError if the schema already exists (nothing is changed).
    """
    owner, app = _ident(owner_role, "owner_role"), _ident(app_role, "app_role")
    if owner == app:
        raise LedgerError("owner_role and app_role must differ: the app must not own the tables")
    objects, grants = schema_sql(schema=SCHEMA, app=app, fmt=FORMAT, genesis=GENESIS_HASH)
    psycopg = _psycopg()
    with _connect(admin_dsn) as conn:
        try:
            exists = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (SCHEMA,)
            ).fetchone()
            if exists:
                raise LedgerError(
                    f"database {_redact(admin_dsn)} already holds a ledger (schema {SCHEMA}); "
                    "nothing was changed"
                )
            for role, login in ((owner, "NOLOGIN"), (app, "LOGIN")):
                found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if found.fetchone() is None:
                    conn.execute(f"CREATE ROLE {role} {login}")
            conn.execute(f"CREATE SCHEMA {SCHEMA} AUTHORIZATION {owner}")
            conn.execute(f"SET LOCAL ROLE {owner}")
            conn.execute(objects)
            conn.execute("RESET ROLE")
            conn.execute(grants)
        except psycopg.Error as exc:
            raise LedgerError(f"cannot install the ledger in {_redact(admin_dsn)}: {exc}") from exc


def _entry(row: tuple[Any, ...]) -> Entry:
    seq, time_utc, actor, event_type, payload, payload_hash, prev_hash, stored = row
    return Entry(
        int(seq), time_utc, actor, event_type, json.loads(payload), payload_hash, prev_hash, stored
    )


class _PgReads(LedgerView):
    """Read primitives over one psycopg connection (rows filtered by the session's scope)."""

    def __init__(self, conn: Any, dsn: str) -> None:
        self._conn = conn
        self.path = _redact(dsn)

    def head(self) -> Head:
        row = self._conn.execute(f"SELECT seq, entry_hash FROM {SCHEMA}.head").fetchone()
        return Head(int(row[0]), str(row[1]))

    def _select(
        self,
        event_type: str | None,
        where: Mapping[str, Scalar],
        after_seq: int,
        limit: int | None,
    ) -> Iterator[Entry]:
        clauses, params = select_clauses(event_type, where, after_seq, mark="%s", field=_field)
        sql = f"SELECT {_COLUMNS} FROM {SCHEMA}.entries WHERE {clauses}"
        for row in self._paged(sql, params, after_seq, limit):
            yield _entry(row)

    def _paged(
        self, sql: str, params: list[Any], after_seq: int, limit: int | None
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (whose first parameter is the ``seq >`` bound) in pages by seq."""
        page = _PAGE if limit is None else min(limit, _PAGE)
        left = limit
        while left is None or left > 0:
            rows = self._conn.execute(
                f"{sql} ORDER BY seq LIMIT {page}", [after_seq, *params[1:]]
            ).fetchall()
            yield from rows
            if len(rows) < page:
                return
            after_seq = int(rows[-1][0])
            left = None if left is None else left - len(rows)

    def _rows(self, after_seq: int = 0) -> Iterator[Row]:
        sql = (
            "SELECT seq, time_utc, actor, event_type, convert_to(payload, 'UTF8'), payload_hash, "
            f"prev_hash, entry_hash FROM {SCHEMA}.entries WHERE seq > %s"
        )
        for seq, time_utc, actor, event_type, payload, *hashes in self._paged(
            sql, [after_seq], after_seq, None
        ):
            yield (int(seq), time_utc, actor, event_type, bytes(payload), *hashes)

    def heads(self, after_seq: int = 0) -> Iterator[Head]:
        sql = f"SELECT seq, entry_hash FROM {SCHEMA}.entries WHERE seq > %s"
        for seq, digest in self._paged(sql, [after_seq], after_seq, None):
            yield Head(int(seq), digest)


class PostgresLedger(_PgReads, Ledger):
    """The ledger in a PostgreSQL database prepared by :func:`install`; :meth:`Ledger.open`."""

    def __init__(self, conn: Any, dsn: str, readonly: bool) -> None:
        super().__init__(conn, dsn)
        self._readonly = readonly
        self._in_transaction = False

    @classmethod
    def connect(cls, dsn: str, *, readonly: bool = False, scope: str = SCOPE_ALL) -> PostgresLedger:
        """Connect to the ledger at ``dsn`` with row scope ``scope`` (see :meth:`set_scope`)."""
        conn = _connect(dsn, autocommit=True)
        ledger = cls(conn, dsn, readonly)
        try:
            row = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'format'").fetchone()
        except _psycopg().Error as exc:
            conn.close()
            raise LedgerError(
                f"{_redact(dsn)} holds no ledger ({exc}); prepare it with "
                "`her2map ledger install-postgres`"
            ) from exc
        if row is None or row[0] != FORMAT:
            conn.close()
            raise LedgerError(f"{_redact(dsn)} has ledger format {row!r}; expected {FORMAT!r}")
        if readonly:
            conn.execute("SET default_transaction_read_only = on")
        ledger.set_scope(scope)
        return ledger

    def set_scope(self, scope: str) -> None:
        """Rows this connection reads: ``'*'`` all, a site code that site's (plus the shared
        ones), ``''`` only the shared ones (row-level security in the database)."""
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            raise LedgerError(f"scope must be '*', '!admin', a site code or ''; got {scope!r}")
        self._conn.execute("SELECT set_config('her2map.scope', %s, false)", (scope,))

    def close(self) -> None:
        self._conn.close()

    def _write(
        self,
        event_type: str,
        actor: str,
        build: Callable[[LedgerView], bytes],
        check: Callable[[LedgerView], None] | None,
    ) -> Entry:
        with self._writing(_psycopg().Error), self._conn.transaction():
            self._conn.execute(f"SELECT {SCHEMA}.ledger_lock()")
            if check is not None:
                check(self)
            body = build(self)
            text = body.decode("utf-8")
            row = self._conn.execute(
                f"SELECT * FROM {SCHEMA}.ledger_append(%s, %s, %s)", (actor, event_type, text)
            ).fetchone()
        seq, time_utc, payload_hash, prev_hash, digest = row
        return Entry(
            int(seq), time_utc, actor, event_type, json.loads(body), payload_hash, prev_hash, digest
        )


def verify_postgres(dsn: str, *, expected_head: Head | None = None) -> VerifyReport:
    """Walk the chain of the PostgreSQL ledger at ``dsn`` (read-only, every site's rows)."""
    with PostgresLedger.connect(dsn, readonly=True) as ledger:
        return walk(ledger._rows(), expected_head=expected_head)
