"""One validation run end to end, all or nothing: run the registered protocol, seal its dossier.

The runner computes and renders nothing; the dossier renders and computes nothing (DESIGN.md).
This module only sequences them, so that ``her2map validate run`` and the demo share one path,
and makes the run appear whole or not at all (STYLE.md rule 21, REQ-ATOM-001). The dossier
carries the run's inputs and provenance (its ``validation.run`` ledger entry), so it re-runs from
itself (:mod:`validation.reproduce`).

1. **Check before work.** Every path name must be UTF-8; ``out`` must be absent or an empty
   folder, and its nearest existing parent a writable folder; the ledger must exist
   (:class:`~validation.exceptions.OutputError`, :class:`~validation.exceptions.OutputExistsError`,
   :class:`~validation.exceptions.RegistrationError`). Nothing is created before these pass.
2. **Stage.** A hidden sibling ``.<out>.XXXX.partial`` (``flock``-ed while its process lives)
   holds a scratch copy of the ledger (SQLite backup) and the run's folder ``work``. The runner
   works there against the scratch copy, so the real ledger sees nothing yet.
3. **Journal, record the run.** ``journal.json`` in the staging folder holds the
   ``validation.run`` entry to record and the ledger head the run started from; then that entry is
   appended to the real ledger (never twice: the same entry recorded after that head is reused).
4. **Seal.** The dossier is built in ``work`` against the real ledger (its provenance is the real
   entry) and verified; :func:`~validation.dossier.build_dossier` appends ``dossier.sealed``.
5. **Rename.** ``work`` becomes ``out`` in one ``rename(2)``; the staging folder is removed.

A kill at any moment leaves either nothing at ``out`` or the complete run (plus, at most, a
hidden staging folder, which the next run into ``out`` or :func:`recover` removes). A kill after
step 3 leaves the run's entries in the ledger before its folder is in place; the staging folder
keeps the journal, and the next run into ``out`` (or :func:`recover`) finishes that run -- builds
or checks the dossier, records what is missing, renames -- instead of starting another. A staging
folder without a recorded run is removed. So every sealed dossier's seal is in the ledger, and no
entry is recorded twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from her2map.exceptions import Her2MapError
from validation.atomic import fsync_dir, write_synced
from validation.canonical import canonical_json, sha256_file
from validation.dossier import (
    PROVENANCE_NAME,
    BuildResult,
    DossierInputs,
    RunBinding,
    VerifyResult,
    build_dossier,
    sealed_entries,
    verify_dossier,
)
from validation.exceptions import (
    DossierError,
    HarnessError,
    OutputError,
    OutputExistsError,
    RegistrationError,
)
from validation.ledger import Entry, Head, Ledger, verify_before_use
from validation.results import loads
from validation.runner import RUN_EVENT, RunInputs, RunResult, run_protocol

__all__ = ["DOSSIER_DIR", "SealedRun", "recover", "run_and_seal", "run_only"]

#: Name of the dossier folder inside a run's output folder.
DOSSIER_DIR = "dossier"
_JOURNAL = "journal.json"
_JOURNAL_FORMAT = "her2map.run-journal/1"
_STAGE_SUFFIX = ".partial"
_WORK = "work"


@dataclass(frozen=True, slots=True)
class SealedRun:
    """A run's results and its verified dossier (``dossier``/``verification`` None when the run
    was made without a dossier), and whether it was recovered from an interrupted run."""

    run: RunResult
    dossier: BuildResult | None
    verification: VerifyResult | None
    recovered: bool = False

    @property
    def index_html(self) -> Path:
        return self._built().directory / "index.html"

    @property
    def seal(self) -> str:
        """The dossier's seal (DossierError for a run made without a dossier)."""
        return self._built().seal

    def _built(self) -> BuildResult:
        if self.dossier is None:
            raise DossierError("this run was made without a dossier (--no-dossier).")
        return self.dossier


# --- step 1: check before work ---------------------------------------------------------------
def _utf8(path: Path | None, what: str) -> None:
    if path is None:
        return
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise OutputError(
            f"{what} {shown}: the path is not valid UTF-8, so it cannot be recorded in the "
            "ledger; rename it (e.g. to ASCII)."
        ) from None


def _check_out(out: Path) -> list[Path]:
    """Refuse an unusable ``out``; return its missing ancestors (created later, removed on
    failure), nearest last."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputError(f"--out {out}: exists and is not a folder; choose a folder path.")
    if out.is_dir() and any(out.iterdir()):
        raise OutputExistsError(
            f"--out {out}: already holds files (a run is never overwritten in place); choose "
            "another --out or remove that folder yourself."
        )
    missing: list[Path] = []
    parent = out.absolute().parent
    while not parent.exists():
        if parent.is_symlink():
            raise OutputError(f"--out {out}: {parent} is a broken symbolic link.")
        missing.append(parent)
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"--out {out}: {parent} is a file, not a folder; choose another --out.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"--out {out}: no permission to create files in {parent}; choose another --out."
        )
    return missing[::-1]


@contextmanager
def _locked(folder: Path) -> Iterator[bool]:
    """Try an exclusive ``flock`` on ``folder``; yields whether it was acquired (held inside)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _free(out: Path) -> bool:
    return not out.exists() or (out.is_dir() and not out.is_symlink() and not any(out.iterdir()))


# --- steps 2-5 ---------------------------------------------------------------------------------
def _snapshot(ledger: Path, copy: Path) -> None:
    """Copy the SQLite ledger consistently (backup API)."""
    try:
        # read-write (nothing is written): closing it then removes the -wal/-shm files again
        src = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=rw", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
    except sqlite3.Error as exc:
        raise RegistrationError(f"ledger {ledger}: cannot be read ({exc}).") from None


def _rewrite(value: Any, old: str, new: str) -> Any:
    """``value`` with every path string under ``old`` moved under ``new``."""
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, old, new) for v in value]
    return value


def _read_journal(stage: Path) -> dict[str, Any]:
    """The staging folder's journal, or {} when it has none (the run was not recorded)."""
    try:
        journal = json.loads((stage / _JOURNAL).read_bytes())
    except (OSError, ValueError):
        return {}
    ok = isinstance(journal, dict) and journal.get("format") == _JOURNAL_FORMAT
    return journal if ok else {}


def _recorded(ledger: Path, journal: dict[str, Any]) -> Entry | None:
    """The journal's ``validation.run`` entry in the ledger, or None (also without a journal)."""
    if not journal or not ledger.is_file():
        return None
    digest = journal["results_sha256"]
    with Ledger.open(ledger, create=False) as book:
        for entry in book.entries(event_type=RUN_EVENT, where={"results_sha256": digest}):
            mine = entry.seq > journal["base_seq"] and entry.actor == journal["actor"]
            if mine and entry.payload == journal["payload"]:  # recorded after this run's start
                return entry
    return None


def _record(ledger: Path, journal: dict[str, Any]) -> Entry:
    """Append the journal's ``validation.run`` entry unless it is there (never twice)."""
    found = _recorded(ledger, journal)
    if found is not None:
        return found
    with Ledger.open(ledger, create=False) as book:
        return book.append(RUN_EVENT, journal["payload"], actor=journal["actor"])


def _inputs(journal: dict[str, Any], out: Path | None = None) -> RunInputs:
    """The run's input paths (under ``out`` instead of the staging folder, when given)."""
    given = dict(journal["inputs"])
    if out is not None:
        given = _rewrite(given, journal["work"], str(out.absolute()))
    exclusions = given["predictions_exclusions"]
    provenance = given.get("predictions_provenance")  # absent from journals of older versions
    return RunInputs(
        Path(given["protocol"]), Path(given["predictions"]), Path(given["labels"]),
        None if exclusions is None else Path(exclusions),
        None if provenance is None else Path(provenance),
    )  # fmt: skip


def _seal(work: Path, ledger: Path, journal: dict[str, Any], run: Entry) -> None:
    """Step 4: the dossier of ``work``, its seal in the ledger (built, or kept from before a kill
    when it verifies, names ``run`` in its provenance and its seal was recorded after ``run``).
    Its provenance is ``run``, the entry this run appended (never one found by the results' hash:
    identical runs write identical results)."""
    dossier = work / DOSSIER_DIR
    if dossier.is_dir():
        check = verify_dossier(dossier)
        sealed = check.ok and any(e.seq > run.seq for e in sealed_entries(ledger, str(check.seal)))
        if sealed and _names_run(dossier, run):
            return
        shutil.rmtree(dossier)
    given = _inputs(journal)
    inputs = DossierInputs(
        given.protocol,
        given.predictions,
        given.labels,
        given.predictions_exclusions,
        given.predictions_provenance,
    )
    built = build_dossier(
        work / "results.json", dossier, ledger=ledger, inputs=inputs, run=run, **journal["seal"]
    )
    verification = verify_dossier(built.directory)
    if not verification.ok:
        problems = "; ".join(f"{name}: {message}" for name, message in verification.problems)
        raise DossierError(f"the dossier just built does not verify: {problems}")


def _names_run(dossier: Path, run: Entry) -> bool:
    """Whether the dossier's ``provenance.json`` names ``run`` (seq and entry hash)."""
    try:
        named = json.loads((dossier / PROVENANCE_NAME).read_bytes())["run_entry"]
        return bool(named["seq"] == run.seq and named["entry_hash"] == run.entry_hash)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _finish(stage: Path, out: Path, ledger: Path, journal: dict[str, Any]) -> Entry:
    """Steps 3-5 from the journal (the first time, or after a kill): record, seal, rename."""
    work = stage / _WORK
    if sha256_file(work / "results.json") != journal["results_sha256"]:
        raise OutputError(f"{work}: results.json does not match its journal; remove {stage}.")
    entry = _record(ledger, journal)
    if journal["seal"] is not None:
        _seal(work, ledger, journal, entry)
    fsync_dir(work)
    os.rename(work, out)  # onto an empty folder or nothing: one atomic step
    fsync_dir(out.absolute().parent)
    shutil.rmtree(stage, ignore_errors=True)
    return entry


def _stage(out: Path, ledger: Path, missing: list[Path], make: Any,
           journal_extra: dict[str, Any]) -> tuple[Entry, RunResult]:  # fmt: skip
    """Steps 2-5: ``make(work, scratch)`` in a staging folder, journal, :func:`_finish`."""
    parent = out.absolute().parent
    for folder in missing:
        folder.mkdir()
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=_STAGE_SUFFIX, dir=parent))
    try:
        with _locked(stage):
            scratch = stage / "ledger.scratch.db"
            _snapshot(ledger, scratch)
            work = stage / _WORK
            try:
                run: RunResult = make(work, scratch)
            except (HarnessError, Her2MapError) as exc:  # name the real ledger and folder
                text = str(exc).replace(str(scratch), str(ledger)).replace(str(work), str(out))
                raise type(exc)(text) from None
            scratch.unlink()
            payload = _rewrite(run.ledger_entry.payload, str(work.resolve()), str(out.resolve()))
            journal = {
                "format": _JOURNAL_FORMAT,
                "payload": _rewrite(payload, str(work.absolute()), str(out.absolute())),
                "results_sha256": run.results_sha256,
                "base_seq": run.head_before.seq,
                "work": str(work.absolute()),
                "inputs": {
                    "protocol": str(run.inputs.protocol),
                    "predictions": str(run.inputs.predictions),
                    "labels": str(run.inputs.labels),
                    "predictions_exclusions": None
                    if run.inputs.predictions_exclusions is None
                    else str(run.inputs.predictions_exclusions),
                    "predictions_provenance": None
                    if run.inputs.predictions_provenance is None
                    else str(run.inputs.predictions_provenance),
                },
                **journal_extra,
            }
            write_synced(stage / _JOURNAL, canonical_json(journal))
            fsync_dir(stage)
            entry = _finish(stage, out, ledger, journal)
    except BaseException:
        if _recorded(ledger, _read_journal(stage)) is None:  # nothing recorded: leave nothing
            shutil.rmtree(stage, ignore_errors=True)
            for folder in reversed(missing):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
        raise
    return entry, run


def _finish_stale(out: Path, ledger: Path) -> tuple[Entry, dict[str, Any]] | None:
    """Remove staging folders of ``out`` left by killed runs, and finish the one whose run was
    recorded already (returned with its journal); refuse if one is in use by a live process."""
    parent = out.absolute().parent
    finished = None
    for stage in sorted(parent.glob(f".{out.name}.*{_STAGE_SUFFIX}")) if parent.is_dir() else []:
        with _locked(stage) as free:
            if not free:
                raise OutputExistsError(
                    f"--out {out}: another run into it is in progress (staging folder {stage}); "
                    "wait for it to finish."
                )
            journal = _read_journal(stage)
            if (stage / _WORK).is_dir() and _free(out) and _recorded(ledger, journal):
                finished = (_finish(stage, out, ledger, journal), journal)
            else:
                shutil.rmtree(stage)
    return finished


def _sealed_run(out: Path, ledger: Path, entry: Entry, run: RunResult, *,
                recovered: bool) -> SealedRun:  # fmt: skip
    """The result at its final place: paths under ``out``, the real ledger entries."""
    run = replace(run, results_path=out / "results.json", ledger_entry=entry)
    directory = out / DOSSIER_DIR
    if not directory.is_dir():
        return SealedRun(run, None, None, recovered)
    verification = verify_dossier(directory)
    if not verification.ok:
        raise DossierError(f"the dossier in {directory} does not verify: {verification}")
    seals = sealed_entries(ledger, str(verification.seal))
    built = BuildResult(directory, str(verification.seal), run.results_sha256,
                        verification.n_files, seals[-1] if seals else None,
                        RunBinding(entry))  # fmt: skip
    return SealedRun(run, built, verification, recovered)


def _recovered(out: Path, ledger: Path, entry: Entry, journal: dict[str, Any]) -> SealedRun:
    path = out / "results.json"
    results = loads(path.read_bytes(), source=str(path))
    run = RunResult(path, entry, results.verdicts(), journal["results_sha256"], results,
                    Head(entry.seq - 1, entry.prev_hash), _inputs(journal, out))  # fmt: skip
    return _sealed_run(out, ledger, entry, run, recovered=True)


def recover(out: str | Path, *, ledger: str | Path) -> SealedRun | None:
    """Finish a run into ``out`` that a kill interrupted after its ``validation.run`` entry was
    recorded (and clear staging folders of runs that recorded nothing); None when there was none.
    """
    out, ledger = Path(out), Path(ledger)
    finished = _finish_stale(out, ledger)
    return None if finished is None else _recovered(out, ledger, *finished)


def _execute(
    protocol: str | Path,
    *,
    labels: str | Path,
    ledger: str | Path,
    out_dir: str | Path,
    predictions: str | Path | None,
    cohort: str | Path | None,
    lock: str | Path | None,
    actor: str,
    seal: dict[str, Any] | None,
    device: str | None = None,
) -> SealedRun:
    out, ledger_path = Path(out_dir), Path(ledger)
    named = {"protocol": protocol, "labels": labels, "predictions": predictions,
             "cohort": cohort, "lock": lock}  # fmt: skip
    for what, path in {**named, "ledger": ledger, "--out": out_dir}.items():
        _utf8(None if path is None else Path(path), what)
    asked: dict[str, Any] = {
        k: None if v is None else str(Path(v).resolve()) for k, v in named.items()
    }
    if device is not None:  # requests without a device (cpu) match journals of older versions
        asked["device"] = device
    finished = _finish_stale(out, ledger_path)
    if finished is not None:
        done = _recovered(out, ledger_path, *finished)
        if finished[1].get("request") != asked:
            raise OutputExistsError(
                f"--out {out}: held an interrupted run, now completed and recorded (ledger seq "
                f"{done.run.ledger_entry.seq}); it was made from other inputs than this command's, "
                "so this run is refused -- choose another --out."
            )
        return done
    missing = _check_out(out)
    if not ledger_path.is_file():
        raise RegistrationError(
            f"ledger {ledger_path} does not exist, so protocol {protocol} is not registered; "
            f"labels stay sealed. Register it with `her2map protocol register {protocol} "
            f"--ledger {ledger_path} --actor NAME`."
        )

    verify_before_use(ledger_path, what="validate run")  # the real chain, before its snapshot

    def make(work: Path, scratch: Path) -> RunResult:
        return run_protocol(
            protocol, labels=labels, ledger=scratch, out_dir=work, predictions=predictions,
            cohort=cohort, lock=lock, actor=actor, device=device,
        )  # fmt: skip

    extra = {"actor": actor, "seal": seal, "request": asked}
    entry, run = _stage(out, ledger_path, missing, make, extra)
    return _sealed_run(out, ledger_path, entry, run, recovered=False)


def run_and_seal(
    protocol: str | Path,
    *,
    labels: str | Path,
    ledger: str | Path,
    out_dir: str | Path,
    predictions: str | Path | None = None,
    cohort: str | Path | None = None,
    lock: str | Path | None = None,
    actor: str = "harness",
    trace: str | Path | None = None,
    tests_dir: str | Path | None = None,
    junit: str | Path | None = None,
    device: str | None = None,
) -> SealedRun:
    """:func:`~validation.runner.run_protocol`, then :func:`~validation.dossier.build_dossier` and
    :func:`~validation.dossier.verify_dossier` of its results, all or nothing (module docstring).

    Re-run into an ``out_dir`` that a kill left with its journal, with the same inputs, this
    completes and returns that run (``recovered=True``) instead of running again.

    Raises
    ------
    OutputError, OutputExistsError
        ``out_dir`` unusable, or already holding a run (checked before any work).
    RegistrationError, RunError, DossierError, her2map.exceptions.LockError, FirewallError
        As the runner and the dossier raise them; nothing is left behind.
    """
    seal = {"trace": None if trace is None else str(trace),
            "tests_dir": None if tests_dir is None else str(tests_dir),
            "junit": None if junit is None else str(junit), "actor": actor}  # fmt: skip
    return _execute(
        protocol, labels=labels, ledger=ledger, out_dir=out_dir, predictions=predictions,
        cohort=cohort, lock=lock, actor=actor, seal=seal, device=device,
    )  # fmt: skip


def run_only(
    protocol: str | Path,
    *,
    labels: str | Path,
    ledger: str | Path,
    out_dir: str | Path,
    predictions: str | Path | None = None,
    cohort: str | Path | None = None,
    lock: str | Path | None = None,
    actor: str = "harness",
    device: str | None = None,
) -> SealedRun:
    """Like :func:`run_and_seal` without a dossier (``validate run --no-dossier``): results.json
    and its ``validation.run`` entry appear together or not at all."""
    return _execute(
        protocol, labels=labels, ledger=ledger, out_dir=out_dir, predictions=predictions,
        cohort=cohort, lock=lock, actor=actor, seal=None, device=device,
    )  # fmt: skip
