"""Audit ledger speed: appends/s (1 and 8 writers) against the fsync bound, and verify time.

* fsync bound: a bare SQLite ``BEGIN IMMEDIATE; INSERT; COMMIT`` loop with the ledger's
  durability settings (WAL, synchronous=FULL), run interleaved with the single-writer ledger in
  the same run, so disk noise hits both alike. Goal: single writer >= 70% of it.
* 8 writer processes x 1,000 appends (the long durability drill: every acknowledged event must be
  present exactly once and the chain must verify).
* verify of a 10^6-entry ledger (bulk-created in one transaction). Goal: <= 10 s on 2 cores.

Run ``python benchmarks/bench_ledger.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from validation.canonical import sha256_hex
from validation.ledger import GENESIS_HASH, Ledger, entry_hash, verify
from validation.ledger.drill import DRILL_EVENT, run_writers

PAYLOAD = '{"i":%d,"patient":"P%07d","site":"S%d"}'  # already RFC 8785 canonical (sorted keys)


def bare_loop(path: Path, n: int) -> float:
    """Seconds for ``n`` single-row transactions with WAL + synchronous=FULL (the fsync bound)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, time_utc TEXT, actor TEXT, "
        "event_type TEXT, payload TEXT, payload_hash TEXT, prev_hash TEXT, entry_hash TEXT)"
    )
    began = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO t (time_utc, actor, event_type, payload, payload_hash, prev_hash, "
            "entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("2026-11-27T00:00:00.000000Z", "bench", "bench.event", PAYLOAD % (i, i, i % 7),
             "a" * 64, "b" * 64, "c" * 64),
        )  # fmt: skip
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - began
    conn.close()
    return elapsed


def ledger_loop(ledger: Ledger, n: int, offset: int) -> float:
    """Seconds for ``n`` acknowledged ledger appends."""
    began = time.perf_counter()
    for i in range(offset, offset + n):
        ledger.append("bench.event", {"i": i, "patient": f"P{i:07d}", "site": f"S{i % 7}"},
                      actor="bench")  # fmt: skip
    return time.perf_counter() - began


def bulk_create(path: Path, n: int) -> None:
    """A valid n-entry ledger written in one transaction (setup for the verify benchmark)."""
    with Ledger.open(path):
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    prev, rows = GENESIS_HASH, []
    for seq in range(1, n + 1):
        time_utc = f"2026-11-27T{seq // 3600000 % 24:02d}:00:00.{seq % 1000000:06d}Z"
        body = PAYLOAD % (seq, seq, seq % 7)
        payload_hash = sha256_hex(body.encode())
        digest = entry_hash(seq, time_utc, "site-a", "trial.event", payload_hash, prev)
        rows.append((seq, time_utc, "site-a", "trial.event", body, payload_hash, prev, digest))
        prev = digest
        if len(rows) == 50_000 or seq == n:
            conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            rows = []
    conn.execute("COMMIT")
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args()
    n_single, per_writer, n_verify = (200, 25, 20_000) if args.quick else (2_000, 1_000, 1_000_000)
    rounds = 5
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        bare_s = ledger_s = 0.0
        with Ledger.open(root / "single.db") as ledger:
            for r in range(rounds):  # interleaved: disk noise hits both alike
                bare_s += bare_loop(root / "bare.db", n_single // rounds)
                ledger_s += ledger_loop(ledger, n_single // rounds, r * n_single)
        bare_rate, single_rate = n_single / bare_s, n_single / ledger_s
        print(f"bare SQLite insert+commit (WAL, synchronous=FULL): {bare_rate:9.1f} commits/s")
        print(f"ledger single writer:                              {single_rate:9.1f} appends/s "
              f"({single_rate / bare_rate:.0%} of the fsync bound; goal >= 70%)")  # fmt: skip

        drill_dir = root / "drill"
        drill_dir.mkdir()
        result = run_writers(drill_dir / "l.db", drill_dir, writers=8, per_writer=per_writer)
        with Ledger.open(drill_dir / "l.db", create=False) as ledger:
            ids = Counter(
                (e.payload["writer"], e.payload["i"])
                for e in ledger.entries(event_type=DRILL_EVENT)
            )
            head = ledger.head()
        intact = (
            set(result.acked) == set(ids)
            and set(ids.values()) == {1}
            and head.seq == 8 * per_writer
            and verify(drill_dir / "l.db", expected_head=head).ok
        )
        multi_rate = len(result.acked) / result.elapsed_s
        print(f"ledger 8 writer processes x {per_writer}:                {multi_rate:9.1f} appends/s "
              f"(all acknowledged present once, chain verifies: {intact})")  # fmt: skip

        big = root / "big.db"
        began = time.perf_counter()
        bulk_create(big, n_verify)
        created = time.perf_counter() - began
        began, cpu_began = time.perf_counter(), time.process_time()
        report = verify(big)
        verify_s, verify_cpu = time.perf_counter() - began, time.process_time() - cpu_began
        print(
            f"verify {n_verify:,} entries:                          {verify_s:9.2f} s wall, "
            f"{verify_cpu:.2f} s CPU ({n_verify / verify_cpu:,.0f} entries per CPU-second; goal "
            f"<= 10 s for 10^6 on 2 cores; ok={report.ok}; bulk create {created:.1f} s; load "
            f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        return 0 if intact and report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
