"""Durability drill: several writer processes append to one ledger at once.

Used by the durability tests (REQ-AUD-002) and ``benchmarks/bench_ledger.py``. Each writer opens
its own :class:`~validation.ledger.Ledger`, waits for a common start signal, appends
``{"writer": w, "i": i}`` events (``event_type`` :data:`DRILL_EVENT`) and, only after ``append``
returned (acknowledged), writes ``"<writer> <i> <seq>\\n"`` to its own acknowledgement file with one
``os.write``. Whatever is in the acknowledgement files must be in the ledger exactly once, even
if a writer was killed.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.exceptions import LedgerError
from validation.ledger.store import Ledger

__all__ = ["DRILL_EVENT", "DrillResult", "ack_path", "append_forever", "read_acks", "run_writers"]

#: event_type of drill events.
DRILL_EVENT = "drill.append"


@dataclass(frozen=True)
class DrillResult:
    """Outcome of :func:`run_writers`: acknowledged (writer, i) -> seq, and wall time."""

    acked: dict[tuple[int, int], int]
    elapsed_s: float


def ack_path(ack_dir: str | Path, writer: int) -> Path:
    """The acknowledgement file of ``writer`` (one ``"<writer> <i> <seq>\\n"`` line per ack)."""
    return Path(ack_dir) / f"writer-{writer}.acks"


def _writer(
    path: str, ack_dir: str, writer: int, count: int | None, start: Any, ready: Any
) -> None:
    fd = os.open(ack_path(ack_dir, writer), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        with Ledger.open(path) as ledger:
            ready.set()
            if start is not None:
                start.wait()
            i = 0
            while count is None or i < count:
                entry = ledger.append(DRILL_EVENT, {"i": i, "writer": writer}, actor=f"w{writer}")
                os.write(fd, f"{writer} {i} {entry.seq}\n".encode("ascii"))
                i += 1
    finally:
        os.close(fd)


def append_forever(path: str | Path, ack_dir: str | Path, writer: int, ready: Any) -> None:
    """Writer body for crash drills: append and acknowledge until killed (sets ``ready`` first)."""
    _writer(str(path), str(ack_dir), writer, None, None, ready)


def read_acks(ack_dir: str | Path) -> dict[tuple[int, int], int]:
    """Acknowledged ``(writer, i) -> seq`` from every complete line of the acknowledgement files."""
    acked: dict[tuple[int, int], int] = {}
    for file in sorted(Path(ack_dir).glob("writer-*.acks")):
        for line in file.read_text("ascii").splitlines(keepends=True):
            if line.endswith("\n"):
                writer, i, seq = (int(part) for part in line.split())
                acked[(writer, i)] = seq
    return acked


def run_writers(
    path: str | Path,
    ack_dir: str | Path,
    *,
    writers: int = 8,
    per_writer: int = 150,
    start_method: str = "fork",
    timeout_s: float = 600.0,
    create_first: bool = True,
    target: Callable[[str, str, int, int, Any, Any], None] | None = None,
) -> DrillResult:
    """Run ``writers`` processes appending ``per_writer`` events each, all started together.

    With ``create_first=False`` the writers also race to create the ledger file and schema.
    ``target(path, ack_dir, writer, per_writer, start, ready)`` replaces the plain appender (e.g.
    a trial site logging patients); it must set ``ready``, wait for ``start`` and acknowledge each
    append in :func:`ack_path` after it returned.
    """
    if create_first:
        Ledger.open(path).close()
    ctx: Any = multiprocessing.get_context(start_method)
    start, readies = ctx.Event(), [ctx.Event() for _ in range(writers)]
    procs = [
        ctx.Process(
            target=target or _writer,
            args=(str(path), str(ack_dir), w, per_writer, start, readies[w]),
        )
        for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(timeout_s)
    began = time.perf_counter()
    start.set()
    for proc in procs:
        proc.join(timeout_s)
    elapsed = time.perf_counter() - began
    failed = [(w, p.exitcode) for w, p in enumerate(procs) if p.exitcode != 0]
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join()
    if failed:
        raise LedgerError(f"drill writers failed (writer, exit code): {failed}")
    return DrillResult(read_acks(ack_dir), elapsed)
