"""One validation run end to end, all or nothing: run the registered protocol, seal its dossier.

The runner computes and renders nothing; the dossier renders and computes nothing (DESIGN.md).
This module only sequences them, so that ``her2map validate run`` and the demo share one path,
and makes the run appear whole or not at all (STYLE.md rule 21, REQ-ATOM-001). The dossier
carries the run's inputs and provenance, so it re-runs from itself (:mod:`validation.reproduce`).


1. **Check before work.** Every path name must be UTF-8; ``out`` must be absent or an empty
   folder, and its nearest existing parent a writable folder; the ledger must exist
   (:class:`~validation.exceptions.OutputError`, :class:`~validation.exceptions.OutputExistsError`,
   :class:`~validation.exceptions.RegistrationError`). Nothing is created before these pass.
2. **Stage.** A hidden sibling ``.<out>.XXXX.partial`` holds a scratch copy of the ledger (SQLite
   backup) and the run's folder. The runner and the dossier work there against the scratch copy,
   so the real ledger sees nothing yet; the run's ledger entries (``validation.run``,
   ``dossier.sealed``) land in the scratch copy, whose head is the real head.
3. **Journal, then rename.** The entries to record are written into the run folder as
   ``.pending-ledger.json`` (paths rewritten from the staging folder to ``out``), the folder is
   fsynced and renamed onto ``out`` in one ``rename(2)``.
4. **Record, then clear the journal.** Each pending entry is appended to the real ledger unless an
   identical one is already there (so a repeat is harmless), then the journal is removed.

A kill at any moment leaves: nothing at ``out`` (stage 1-3; the hidden staging folder is removed
by the next run into ``out``), or the complete folder. Between 3 and 4 the folder still carries
its journal; the next ``run_and_seal`` into the same ``out`` finds it, checks the dossier, records
what is missing and clears it (:func:`recover`), so every sealed dossier's seal ends in the ledger
and no entry is recorded twice. A staging folder in use by a live process is locked
(``flock``), so two runs into one ``out`` refuse rather than clobber each other.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from her2map.exceptions import Her2MapError
from validation.atomic import fsync_dir, write_synced
from validation.canonical import canonical_json, sha256_file
from validation.dossier import (
    BuildResult,
    DossierInputs,
    VerifyResult,
    build_dossier,
    verify_dossier,
)
from validation.dossier.build import SEALED_EVENT
from validation.exceptions import (
    DossierError,
    HarnessError,
    OutputError,
    OutputExistsError,
    RegistrationError,
)
from validation.ledger import Entry, Head, Ledger
from validation.results import loads
from validation.runner import RUN_EVENT, RunInputs, RunResult, run_protocol

__all__ = ["DOSSIER_DIR", "PENDING_NAME", "SealedRun", "recover", "run_and_seal", "run_only"]

#: Name of the dossier folder inside a run's output folder.
DOSSIER_DIR = "dossier"
#: Journal of the ledger entries a renamed run folder still has to record.
PENDING_NAME = ".pending-ledger.json"
_PENDING_FORMAT = "her2map.pending-ledger/1"
_STAGE_SUFFIX = ".partial"


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
        if self.dossier is None:
            raise DossierError("this run was made without a dossier (--no-dossier).")
        return self.dossier.directory / "index.html"


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


def _clear_stale(out: Path) -> None:
    """Remove staging folders of ``out`` left by killed runs; refuse if one is in use."""
    parent = out.absolute().parent
    if not parent.is_dir():
        return
    for stage in sorted(parent.glob(f".{out.name}.*{_STAGE_SUFFIX}")):
        with _locked(stage) as free:
            if not free:
                raise OutputExistsError(
                    f"--out {out}: another run into it is in progress (staging folder {stage}); "
                    "wait for it to finish."
                )
            shutil.rmtree(stage)


# --- step 2: stage ---------------------------------------------------------------------------
def _snapshot(ledger: Path, copy: Path) -> int:
    """Copy the SQLite ledger consistently (backup API); return the copy's head sequence."""
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
    with Ledger.open(copy, create=False) as book:
        return book.head().seq


def _rewrite(value: Any, old: str, new: str) -> Any:
    """``value`` with every path string under ``old`` moved under ``new``."""
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old) :]
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, old, new) for v in value]
    return value


def _stage(
    out: Path, ledger: Path, missing: list[Path], make: Any
) -> tuple[RunResult, BuildResult | None]:
    """Steps 2-3: run ``make(work, scratch)`` in a staging folder, journal, rename onto ``out``."""
    parent = out.absolute().parent
    for folder in missing:
        folder.mkdir()
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=_STAGE_SUFFIX, dir=parent))
    try:
        with _locked(stage):
            scratch = stage / "ledger.scratch.db"
            base = _snapshot(ledger, scratch)
            work = stage / out.name
            try:
                run, built = make(work, scratch)
            except (HarnessError, Her2MapError) as exc:  # name the real ledger and folder
                text = str(exc).replace(str(scratch), str(ledger)).replace(str(work), str(out))
                raise type(exc)(text) from None
            with Ledger.open(scratch, create=False) as book:
                new = [e for e in book.entries() if e.seq > base]

            def moved(value: Any) -> Any:  # staging paths -> their place under ``out``
                value = _rewrite(value, str(work.absolute()), str(out.absolute()))
                return _rewrite(value, str(work.resolve()), str(out.resolve()))

            entries = [
                {
                    "event_type": e.event_type,
                    "actor": e.actor,
                    "payload": moved(e.payload),
                }
                for e in new
            ]
            journal = {
                "format": _PENDING_FORMAT,
                "entries": entries,
                "results_sha256": run.results_sha256,
                "verdicts": run.verdicts,
                "head_before": str(run.head_before),
                "inputs": {
                    name: None if value is None else moved(str(value))
                    for name, value in (
                        ("protocol", run.inputs.protocol),
                        ("predictions", run.inputs.predictions),
                        ("labels", run.inputs.labels),
                        ("predictions_exclusions", run.inputs.predictions_exclusions),
                    )
                },
            }
            write_synced(work / PENDING_NAME, canonical_json(journal))
            fsync_dir(work)
            os.rename(work, out)  # onto an empty folder or nothing: one atomic step
            fsync_dir(parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in reversed(missing):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    shutil.rmtree(stage, ignore_errors=True)
    return run, built


# --- step 4: record --------------------------------------------------------------------------
def _read_journal(out: Path) -> dict[str, Any]:
    path = out / PENDING_NAME
    try:
        journal = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: unreadable journal of an interrupted run ({exc}).") from None
    if not isinstance(journal, dict) or journal.get("format") != _PENDING_FORMAT:
        raise OutputError(f"{path}: not a journal of this software ({_PENDING_FORMAT}).")
    return journal


def _already(book: Ledger, item: dict[str, Any]) -> Entry | None:
    payload = item["payload"]
    key = "seal" if item["event_type"] == SEALED_EVENT else "results_sha256"
    for entry in book.entries(event_type=item["event_type"], where={key: payload.get(key)}):
        if entry.payload == payload:
            return entry
    return None


def _record(out: Path, ledger: Path) -> tuple[dict[str, Any], dict[str, Entry]]:
    """Append the journal's entries that the ledger lacks, then remove the journal."""
    journal = _read_journal(out)
    if sha256_file(out / "results.json") != journal["results_sha256"]:
        raise OutputError(
            f"{out}: results.json does not match its journal ({PENDING_NAME}); the folder was "
            "altered after an interrupted run -- remove it and run again."
        )
    dossier = out / DOSSIER_DIR
    if dossier.exists():
        check = verify_dossier(dossier)
        if not check.ok:
            raise DossierError(f"{dossier} of an interrupted run does not verify:\n{check}")
    recorded: dict[str, Entry] = {}
    with Ledger.open(ledger, create=False) as book:
        for item in journal["entries"]:
            found = _already(book, item)
            if found is None:
                found = book.append(item["event_type"], item["payload"], actor=item["actor"])
            recorded[item["event_type"]] = found
    (out / PENDING_NAME).unlink()
    fsync_dir(out)
    return journal, recorded


def _result(out: Path, journal: dict[str, Any], recorded: dict[str, Entry], *, recovered: bool,
            dossier: bool) -> SealedRun:  # fmt: skip
    path = out / "results.json"
    given = journal["inputs"]
    exclusions = given["predictions_exclusions"]
    inputs = RunInputs(
        Path(given["protocol"]), Path(given["predictions"]), Path(given["labels"]),
        None if exclusions is None else Path(exclusions),
    )  # fmt: skip
    run = RunResult(
        path, recorded[RUN_EVENT], dict(journal["verdicts"]), journal["results_sha256"],
        loads(path.read_bytes(), source=str(path)), Head.parse(journal["head_before"]), inputs,
    )  # fmt: skip
    if not dossier:
        return SealedRun(run, None, None, recovered)
    directory = out / DOSSIER_DIR
    verification = verify_dossier(directory)
    if not verification.ok:
        raise DossierError(f"the dossier in {directory} does not verify: {verification}")
    built = BuildResult(
        directory, str(verification.seal), run.results_sha256, verification.n_files,
        recorded.get(SEALED_EVENT),
    )  # fmt: skip
    return SealedRun(run, built, verification, recovered)


def recover(out: str | Path, *, ledger: str | Path) -> SealedRun | None:
    """Finish a run folder that a kill left with its journal: record its missing ledger entries.

    Returns the completed run, or None when ``out`` has no journal (nothing to recover).
    """
    out = Path(out)
    if not (out / PENDING_NAME).is_file():
        return None
    journal, recorded = _record(out, Path(ledger))
    return _result(out, journal, recorded, recovered=True, dossier=(out / DOSSIER_DIR).is_dir())


def _same_request(journal: dict[str, Any], request: dict[str, Any]) -> bool:
    runs = [e for e in journal["entries"] if e["event_type"] == RUN_EVENT]
    if not runs:
        return False
    inputs = runs[0]["payload"].get("inputs", {})
    return all(inputs.get(k) == v for k, v in request.items())


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
) -> SealedRun:
    out, ledger_path = Path(out_dir), Path(ledger)
    named = {"protocol": protocol, "labels": labels, "predictions": predictions,
             "cohort": cohort, "lock": lock}  # fmt: skip
    for what, path in {**named, "ledger": ledger, "--out": out_dir}.items():
        _utf8(None if path is None else Path(path), what)
    request = {k: None if v is None else str(Path(v).resolve()) for k, v in named.items()}
    if out.is_dir() and (out / PENDING_NAME).is_file():
        same = _same_request(_read_journal(out), request)
        journal, recorded = _record(out, ledger_path)
        done = _result(out, journal, recorded, recovered=True, dossier=(out / DOSSIER_DIR).is_dir())
        if not same:
            raise OutputExistsError(
                f"--out {out}: held an interrupted run, now completed and recorded (ledger seq "
                f"{done.run.ledger_entry.seq}); it was made from other inputs than this command's, "
                "so this run is refused -- choose another --out."
            )
        return done
    _clear_stale(out)
    missing = _check_out(out)
    if not ledger_path.is_file():
        raise RegistrationError(
            f"ledger {ledger_path} does not exist, so protocol {protocol} is not registered; "
            f"labels stay sealed. Register it with `her2map protocol register {protocol} "
            f"--ledger {ledger_path} --actor NAME`."
        )

    def make(work: Path, scratch: Path) -> tuple[RunResult, BuildResult | None]:
        run = run_protocol(
            protocol, labels=labels, ledger=scratch, out_dir=work, predictions=predictions,
            cohort=cohort, lock=lock, actor=actor,
        )  # fmt: skip
        if seal is None:
            return run, None
        inputs = DossierInputs(
            run.inputs.protocol,
            run.inputs.predictions,
            run.inputs.labels,
            run.inputs.predictions_exclusions,
        )
        built = build_dossier(
            run.results_path, work / DOSSIER_DIR, ledger=scratch, inputs=inputs, **seal
        )
        verification = verify_dossier(built.directory)
        if not verification.ok:
            problems = "; ".join(f"{name}: {message}" for name, message in verification.problems)
            raise DossierError(f"the dossier just built does not verify: {problems}")
        return run, built

    _stage(out, ledger_path, missing, make)
    journal, recorded = _record(out, ledger_path)
    return _result(out, journal, recorded, recovered=False, dossier=seal is not None)


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
    seal = {"trace": trace, "tests_dir": tests_dir, "junit": junit, "actor": actor}
    return _execute(
        protocol, labels=labels, ledger=ledger, out_dir=out_dir, predictions=predictions,
        cohort=cohort, lock=lock, actor=actor, seal=seal,
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
) -> SealedRun:
    """Like :func:`run_and_seal` without a dossier (``validate run --no-dossier``): results.json
    and its ``validation.run`` entry appear together or not at all."""
    return _execute(
        protocol, labels=labels, ledger=ledger, out_dir=out_dir, predictions=predictions,
        cohort=cohort, lock=lock, actor=actor, seal=None,
    )  # fmt: skip
