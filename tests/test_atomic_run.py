"""All-or-nothing validation runs (REQ-ATOM-001): output paths checked before any work, refused
commands leave no file, kill -9 at random moments (and at each step of the commit) leaves nothing
or a complete, verifying run whose entries are in the ledger once, and a re-run recovers.

Before: a kill often left results.json and its ledger entry but no dossier, or a dossier whose
seal was not in the ledger; re-running into the same folder added a second entry and failed;
unusable output paths gave tracebacks; a refused command could leave an empty ledger file."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_runner_helpers import make_tables, protocol_dict, registered

from validation import pipeline
from validation.canonical import sha256_file
from validation.cli import main
from validation.dossier import SEALED_EVENT, sealed_entries, verify_dossier
from validation.exceptions import OutputError, OutputExistsError, RegistrationError
from validation.ledger import Ledger, verify
from validation.pipeline import recover, run_and_seal
from validation.runner import RUN_EVENT

pytestmark = pytest.mark.req("REQ-ATOM-001")


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    pred, labels = make_tables(tmp_path, n=60)
    data = protocol_dict(bootstrap={"replicates": 100, "seed": 11, "method": "percentile"})
    protocol, ledger = registered(tmp_path, data)
    return {"protocol": protocol, "pred": pred, "labels": labels, "ledger": ledger}


def _run(s: dict[str, Path], out: Path) -> pipeline.SealedRun:
    return run_and_seal(
        s["protocol"], predictions=s["pred"], labels=s["labels"], ledger=s["ledger"], out_dir=out
    )


def _files(root: Path) -> set[str]:
    """Every path under ``root`` except the ledger's verification cache (``ledger.db.verified``,
    which every verifying reader of a ledger keeps beside it: not an output of the command)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(".verified")}


def _counts(ledger: Path) -> tuple[int, int]:
    """(validation.run entries, dossier.sealed entries) in the ledger."""
    with Ledger.open(ledger, create=False) as book:
        return (
            len(list(book.entries(event_type=RUN_EVENT))),
            len(list(book.entries(event_type=SEALED_EVENT))),
        )


def _assert_complete(s: dict[str, Path], out: Path, before: tuple[int, int]) -> None:
    """The folder is whole, its dossier verifies, the ledger got one run and one seal entry.
    (A kill right after the rename may leave the emptied staging folder, its journal only; the
    next run into ``out`` removes it.)"""
    assert not [p for p in out.parent.glob(f".{out.name}.*.partial") if (p / "work").exists()]
    check = verify_dossier(out / "dossier")
    assert check.ok, str(check)
    assert sealed_entries(s["ledger"], str(check.seal))
    with Ledger.open(s["ledger"], create=False) as book:
        last = list(book.entries(event_type=RUN_EVENT))[-1]
    assert last.payload["results_sha256"] == sha256_file(out / "results.json")
    assert _counts(s["ledger"]) == (before[0] + 1, before[1] + 1)


def _state(s: dict[str, Path], out: Path, before: tuple[int, int]) -> str:
    """'nothing', 'complete' or 'pending' (the run recorded but not yet in place: its staging
    folder keeps the journal for recovery) -- anything else fails the test."""
    if out.exists():
        _assert_complete(s, out, before)
        return "complete"
    now = _counts(s["ledger"])
    if now == before:
        return "nothing"
    assert now[0] == before[0] + 1
    assert now[1] in (before[1], before[1] + 1)
    (stage,) = out.parent.glob(f".{out.name}.*.partial")
    assert (stage / "journal.json").is_file()
    return "pending"


def _fork_run(s: dict[str, Path], out: Path, *, kill_after: float | None = None,
              patch: Callable[[], None] | None = None) -> int:  # fmt: skip
    """Run in a forked child (already imported: fast); SIGKILL it after ``kill_after`` s."""
    pid = os.fork()
    if pid == 0:  # the child: run, then leave without running the parent's cleanup
        code = 0
        try:
            if patch is not None:
                patch()
            _run(s, out)
        except BaseException:
            code = 1
        os._exit(code)
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return 0
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_9_at_random_moments_leaves_nothing_or_a_complete_run(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    """20 runs killed with SIGKILL at uniformly random moments of their duration (seeded)."""
    before = _counts(setup["ledger"])
    start = time.monotonic()
    assert _fork_run(setup, tmp_path / "timing") == 0
    duration = time.monotonic() - start
    _assert_complete(setup, tmp_path / "timing", before)
    rng = random.Random(20261129)
    states = []
    for i in range(20):
        out = tmp_path / f"k{i:02d}"
        before = _counts(setup["ledger"])
        _fork_run(setup, out, kill_after=rng.uniform(0.0, duration * 1.05))
        state = _state(setup, out, before)
        states.append(state)
        if state == "pending":
            assert recover(out, ledger=setup["ledger"]) is not None
            _assert_complete(setup, out, before)
        elif state == "complete":
            assert recover(out, ledger=setup["ledger"]) is None  # clears a journal-only leftover
            assert not list(tmp_path.glob(f".{out.name}.*.partial"))
        elif state == "nothing" and states.count("nothing") == 1:
            again = _run(setup, out)  # a re-run after the crash works and cleans up
            assert not again.recovered
            _assert_complete(setup, out, before)
    assert "nothing" in states  # the kills did land during the run
    assert verify(setup["ledger"]).ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize(
    ("target", "nth", "expected"),
    [
        ("rename", 1, "pending"),  # both recorded, the moment before the folder appears
        # append 1 goes to the scratch copy of the ledger while staging
        ("append", 2, "nothing"),  # the run entry not yet recorded: the staging folder goes
        ("append", 3, "pending"),  # validation.run recorded, dossier.sealed not yet
    ],
)
def test_kill_9_at_each_commit_step_then_rerun_recovers(
    setup: dict[str, Path], tmp_path: Path, target: str, nth: int, expected: str
) -> None:
    out = tmp_path / "run"

    def patch() -> None:  # in the child: SIGKILL itself at the nth call of ``target``
        calls = {"n": 0}

        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            def killer(*args: Any, **kwargs: Any) -> Any:
                calls["n"] += 1
                if calls["n"] == nth:
                    os.kill(os.getpid(), signal.SIGKILL)
                return original(*args, **kwargs)

            return killer

        if target == "rename":
            pipeline.os.rename = wrap(os.rename)  # type: ignore[attr-defined]
        else:
            Ledger.append = wrap(Ledger.append)  # type: ignore[method-assign]

    before = _counts(setup["ledger"])
    status = _fork_run(setup, out, patch=patch)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL
    assert _state(setup, out, before) == expected
    again = _run(setup, out)  # the same command again: recovers, never a second entry
    assert again.recovered == (expected == "pending")
    _assert_complete(setup, out, before)
    assert verify(setup["ledger"]).ok


def test_rerun_into_a_complete_run_is_refused_before_any_work(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    _run(setup, out)
    head = verify(setup["ledger"]).head
    before = _files(tmp_path)
    with pytest.raises(OutputExistsError, match=r"already holds files"):
        _run(setup, out)
    assert _files(tmp_path) == before
    assert verify(setup["ledger"]).head == head
    args = ["validate", "run", str(setup["protocol"]), "--predictions", str(setup["pred"]),
            "--labels", str(setup["labels"]), "--ledger", str(setup["ledger"]), "--out", str(out)]  # fmt: skip
    assert main(args) == 3
    assert "already holds files" in capsys.readouterr().err


def test_pending_run_of_other_inputs_is_completed_then_refused(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    before = _counts(setup["ledger"])
    status = _fork_run(setup, out, patch=lambda: setattr(pipeline, "_seal", lambda *a: os._exit(9)))
    assert os.WEXITSTATUS(status) == 9
    assert _state(setup, out, before) == "pending"
    other = tmp_path / "other.csv"
    other.write_bytes(setup["pred"].read_bytes())
    with pytest.raises(OutputExistsError, match=r"held an interrupted run, now completed"):
        run_and_seal(setup["protocol"], predictions=other, labels=setup["labels"],
                     ledger=setup["ledger"], out_dir=out)  # fmt: skip
    _assert_complete(setup, out, before)


@pytest.mark.parametrize("case", ["file", "under_file", "not_empty"])
def test_unusable_output_paths_are_refused_before_any_work(
    setup: dict[str, Path], tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    out = {"file": blocker, "under_file": blocker / "run", "not_empty": tmp_path}[case]
    head = verify(setup["ledger"]).head
    before = _files(tmp_path)
    expected = OutputExistsError if case == "not_empty" else OutputError
    with pytest.raises(
        expected, match=r"--out .*: (exists and is not a folder|.* is a file|already)"
    ):
        _run(setup, out)
    assert _files(tmp_path) == before
    assert verify(setup["ledger"]).head == head
    args = ["validate", "run", str(setup["protocol"]), "--predictions", str(setup["pred"]),
            "--labels", str(setup["labels"]), "--ledger", str(setup["ledger"]), "--out", str(out)]  # fmt: skip
    assert main(args) == (3 if case == "not_empty" else 2)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_non_utf8_output_path_is_refused(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / os.fsdecode(b"run-\xff")
    with pytest.raises(OutputError, match=r"run-\\xff: the path is not valid UTF-8"):
        _run(setup, out)
    assert not out.exists()


def test_refused_runs_create_no_files(setup: dict[str, Path], tmp_path: Path) -> None:
    """Unregistered protocol (into new nested folders) and a missing ledger: nothing created."""
    other = tmp_path / "other.yaml"
    other.write_text(setup["protocol"].read_text().replace("TEST-RUN-001", "TEST-RUN-009"))
    before = _files(tmp_path)
    with pytest.raises(RegistrationError, match=rf"not registered.*{setup['ledger']}"):
        run_and_seal(other, predictions=setup["pred"], labels=setup["labels"],
                     ledger=setup["ledger"], out_dir=tmp_path / "a" / "b" / "run")  # fmt: skip
    assert _files(tmp_path) == before
    missing = tmp_path / "missing.db"
    with pytest.raises(RegistrationError, match=r"missing\.db does not exist"):
        run_and_seal(setup["protocol"], predictions=setup["pred"], labels=setup["labels"],
                     ledger=missing, out_dir=tmp_path / "run")  # fmt: skip
    assert _files(tmp_path) == before


def test_no_dossier_run_is_atomic_too(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    before = _counts(setup["ledger"])
    args = ["validate", "run", str(setup["protocol"]), "--predictions", str(setup["pred"]),
            "--labels", str(setup["labels"]), "--ledger", str(setup["ledger"]), "--out",
            str(out), "--no-dossier"]  # fmt: skip
    assert main(args) == 0
    assert "E1: PASS" in capsys.readouterr().out
    assert _files(out) == {"results.json"}
    assert _counts(setup["ledger"]) == (before[0] + 1, before[1])
    with Ledger.open(setup["ledger"], create=False) as book:
        last = list(book.entries(event_type=RUN_EVENT))[-1]
    assert last.payload["results_sha256"] == sha256_file(out / "results.json")
