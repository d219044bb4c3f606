"""Eight writer processes log trial events at once (REQ-AUD-002, REQ-TRIAL-001).

Each writer is one site: it enrols its own patients and takes each through prediction, biopsy,
therapy, surgery and response, writing ``(writer, i, seq)`` to its acknowledgement file only after
the append returned (the format of :mod:`validation.ledger.drill`, read with its ``read_acks``).
All writers also race to enrol one shared patient id: the rules run inside the write
transaction, so exactly one enrolment may win. The reference is the writers' own record: every
acknowledged event is in the ledger exactly once at its seq, seq has no gaps, the chain verifies.
CI runs the issue's 8 x 1,000 events (about a minute); ``TRIAL_DRILL_PER_WRITER`` overrides it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any, TypedDict

import pytest
from trial_models import trial_model

from validation.exceptions import TrialRuleError
from validation.ledger import Ledger, verify
from validation.ledger.drill import ack_path, read_acks, run_writers
from validation.trial import Trial
from validation.trial.events import patient_key

PER_WRITER = int(os.environ.get("TRIAL_DRILL_PER_WRITER", "1000"))
WRITERS = 8
KINDS = ("enrolled", "prediction", "biopsy", "therapy", "surgery", "response")
SHARED = "SHARED-1"
KILLS = 6


class Who(TypedDict):
    actor: str
    site: str


def _expected(writer: int, i: int) -> tuple[str, str]:
    """(patient id, event type) of writer's i-th event."""
    return f"S{writer}-{i // len(KINDS):04d}", f"trial.{KINDS[i % len(KINDS)]}"


def _step(trial: Trial, writer: int, i: int) -> Any:
    pid, event = _expected(writer, i)
    who: Who = {"actor": f"coordinator-{writer}", "site": f"S{writer}"}
    kind = event.removeprefix("trial.")
    if kind == "enrolled":
        return trial.enrol(pid, consent_ref=f"IC-{pid}", **who)
    if kind == "prediction":
        return trial.predict_external(
            pid, score=(i % 97) / 97, model_lock="c" * 64, threshold=0.5, modalities="MR", **who
        )
    if kind == "biopsy":
        return trial.record_biopsy(pid, ihc="2+", ish="negative", **who)
    if kind == "therapy":
        return trial.record_therapy(pid, regimen="AC-T", anti_her2="no", **who)
    if kind == "surgery":
        return trial.record_surgery(pid, ihc="1+", ish="not_done", **who)
    return trial.record_response(pid, pcr="no", **who)


def _writer(path: str, ack_dir: str, writer: int, count: int, start: Any, ready: Any) -> None:
    fd = os.open(ack_path(ack_dir, writer), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        with Trial.open(path, create=False) as trial:
            ready.set()
            start.wait()
            try:
                entry = trial.enrol(
                    SHARED, consent_ref="IC-shared", actor=f"c{writer}", site=f"S{writer}"
                )
                os.write(fd, f"{writer} -1 {entry.seq}\n".encode("ascii"))
            except TrialRuleError:
                pass
            for i in range(count):
                entry = _step(trial, writer, i)
                os.write(fd, f"{writer} {i} {entry.seq}\n".encode("ascii"))
    finally:
        os.close(fd)


@pytest.mark.req("REQ-AUD-002", "REQ-TRIAL-001")
def test_eight_sites_logging_at_once_lose_nothing_and_keep_the_rules(tmp_path: Path) -> None:
    path = tmp_path / "trial.db"
    with Trial.open(path) as trial:
        trial.open_recruitment(
            [f"S{w}" for w in range(WRITERS)],
            protocol_id="HER2-PRO-004",
            actor="cc",
            site="S0",
            model=trial_model("c" * 64),
        )
    drill = run_writers(
        path, tmp_path, writers=WRITERS, per_writer=PER_WRITER, target=_writer, timeout_s=600
    )

    acked = drill.acked
    with Ledger.open(path, create=False) as ledger:
        entries = list(ledger.entries())
        head = ledger.head()
    by_seq = {e.seq: e for e in entries}
    assert [e.seq for e in entries] == list(range(1, 2 + WRITERS * PER_WRITER + 1))
    shared_wins = [key for key in acked if key[1] == -1]
    assert len(shared_wins) == 1  # exactly one site enrolled the shared patient
    assert set(acked) == {(w, i) for w in range(WRITERS) for i in range(PER_WRITER)} | set(
        shared_wins
    )
    for (writer, i), seq in acked.items():
        pid, event = (SHARED, "trial.enrolled") if i == -1 else _expected(writer, i)
        stored = (by_seq[seq].payload["patient_id"], by_seq[seq].event_type)
        assert stored == (patient_key(pid), event)  # events store the normalised id
        assert by_seq[seq].payload["site"] == f"S{writer}"
    events = Counter((e.payload.get("patient_id"), e.event_type) for e in entries)
    assert set(events.values()) == {1}
    report = verify(path, expected_head=head)
    assert (report.ok, report.n_entries) == (True, 2 + WRITERS * PER_WRITER)


def _log_until_killed(path: str, ack_dir: str, run: int, ready: Any) -> None:
    fd = os.open(ack_path(ack_dir, run), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with Trial.open(path, create=False) as trial:
        ready.set()
        i = 0
        while True:
            entry = _step(trial, run, i)
            os.write(fd, f"{run} {i} {entry.seq}\n".encode("ascii"))
            i += 1


@pytest.mark.req("REQ-AUD-002", "REQ-TRIAL-001")
def test_trial_writers_killed_mid_patient_leave_a_consistent_log(tmp_path: Path) -> None:
    """SIGKILL at random moments (the ledger's own drill does 24; this adds the trial's view):
    each kill leaves every acknowledged event, a verifying chain, and every patient's events a
    prefix of the rule order -- never a half-recorded or out-of-order patient."""
    rng = random.Random(20261127)
    path = tmp_path / "trial.db"
    with Trial.open(path) as trial:
        trial.open_recruitment(
            [f"S{w}" for w in range(KILLS)],
            protocol_id="P",
            actor="cc",
            site="S0",
            model=trial_model("c" * 64),
        )
    ctx: Any = multiprocessing.get_context("fork")
    for run in range(KILLS):
        ack_dir = tmp_path / f"run-{run}"
        ack_dir.mkdir()
        ready = ctx.Event()
        proc = ctx.Process(target=_log_until_killed, args=(str(path), str(ack_dir), run, ready))
        proc.start()
        assert ready.wait(30)
        time.sleep(rng.uniform(0.02, 0.15))
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        assert proc.exitcode == -signal.SIGKILL
        acked = read_acks(ack_dir)
        assert verify(path).ok
        with Ledger.open(path, create=False) as ledger:
            entries = list(ledger.entries())
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        by_seq = {e.seq: e for e in entries}
        for (writer, i), seq in acked.items():
            pid, event = _expected(writer, i)
            stored = (by_seq[seq].payload["patient_id"], by_seq[seq].event_type)
            assert stored == (patient_key(pid), event)
        logged: dict[str, list[str]] = {}
        for entry in entries[1:]:
            logged.setdefault(entry.payload["patient_id"], []).append(entry.event_type)
        for events in logged.values():
            assert events == [f"trial.{k}" for k in KINDS[: len(events)]]
