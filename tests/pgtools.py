"""A real PostgreSQL for the tests: a fresh database (and roles) per test module, dropped after.

The server is the machine's PostgreSQL at ``$HER2MAP_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``; ``.ci/run`` installs and starts it). Tests
using it are skipped only when it is unreachable *and* ``CI`` is unset; under CI they fail.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ADMIN_URL = os.environ.get("HER2MAP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def require_postgres() -> None:
    """Skip (no CI) or fail (CI) unless the PostgreSQL server answers."""
    import psycopg

    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {ADMIN_URL} is required under CI: {exc}")
        pytest.skip(f"PostgreSQL at {ADMIN_URL} is not reachable: {exc}")


@dataclass(frozen=True)
class PgLedger:
    """A prepared ledger database: superuser URL, the app's URL, and the role names."""

    admin: str
    app: str
    app_role: str
    owner_role: str


def _url(base: str, *, user: str | None = None, database: str | None = None) -> str:
    import psycopg.conninfo

    params = psycopg.conninfo.conninfo_to_dict(base)
    if user is not None:
        params["user"] = user
    if database is not None:
        params["dbname"] = database
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    return f"postgresql://{params.get('user', 'postgres')}@{host}:{port}/{params['dbname']}"


@contextmanager
def pg_ledger(prefix: str) -> Iterator[PgLedger]:
    """Create database ``<prefix>_<random>`` with the ledger installed; drop it afterwards."""
    import psycopg

    from validation.ledger.postgres import install

    require_postgres()
    tag = secrets.token_hex(4)
    name, app_role, owner_role = f"{prefix}_{tag}", f"h2m_app_{tag}", f"h2m_owner_{tag}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    admin = _url(ADMIN_URL, database=name)
    try:
        install(admin, app_role=app_role, owner_role=owner_role)
        yield PgLedger(admin, _url(ADMIN_URL, user=app_role, database=name), app_role, owner_role)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            for role in (app_role, owner_role):
                conn.execute(f"DROP ROLE IF EXISTS {role}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(location: str, tmp: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``her2map serve --ledger location`` on a free localhost port; (URL, process)."""
    port = free_port()
    log = (tmp / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "validation", "serve", "--ledger", location, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/openapi.json", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    text = (tmp / f"server-{port}.log").read_text(errors="replace")
                    raise RuntimeError(f"server did not start: {text}") from None
                time.sleep(0.1)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
