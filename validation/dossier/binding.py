"""Which recorded run produced a results.json: the binding of a dossier to its ledger.

A dossier built with a ledger is sealed there (``dossier.sealed``) only for results that a recorded
run produced, and it carries that run in ``provenance.json`` (:data:`PROVENANCE_FORMAT`): the
run's ``validation.run`` entry and the ledger head just before it. A ``validation.run`` entry
*produced* a results.json when

* it is a ``validation.run`` entry of the ledger (its seq and entry hash as named);
* its payload records the sha256 of exactly these results.json bytes, and the protocol id and
  canonical hash that results.json names;
* the protocol registration that results.json names (ledger seq and entry hash) is a
  ``protocol.registered`` entry of that protocol id and version in the same ledger, each amendment
  it names a ``protocol.amended`` entry of it, all before the run, and the content in force (the
  last amendment's hash, or the registration's) is the hash the results name.

:func:`bind_run` applies this when a dossier is built: to the entry the caller appended (the
pipeline knows it) or, when only a results.json is at hand, to every ``validation.run`` entry
recording its sha256 -- identical runs write identical bytes, so there may be several -- of which
the latest is chosen, and ``provenance.json`` says so (``run_entry_chosen``). No entry, no seal:
a results.json that no recorded run produced (edited, or never run) is refused.
:func:`recorded_problems` applies it when a dossier is verified against a ledger (``dossier
verify --ledger``): the run that ``provenance.json`` names must have produced the dossier's
results.json, and the dossier's seal must be recorded after that run.

The ledger is a client-agnostic store (DESIGN.md): it knows nothing of this; the dossier reads it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json
from validation.exceptions import DossierError, LedgerError
from validation.ledger import Entry, LedgerView
from validation.protocol import PROTOCOL_KIND
from validation.results import Results

__all__ = [
    "PROVENANCE_FORMAT",
    "PROVENANCE_NAME",
    "RUN_EVENT",
    "SEALED_EVENT",
    "RunBinding",
    "bind_run",
    "provenance_bytes",
    "recorded_problems",
    "run_problem",
]

#: Ledger event recording a dossier's seal: payload {protocol_id, seal, results_sha256}.
SEALED_EVENT = "dossier.sealed"
#: The runner's ledger event (named here so that the dossier need not import the runner).
RUN_EVENT = "validation.run"
PROVENANCE_NAME = "provenance.json"
PROVENANCE_FORMAT = "her2map.provenance/1"


@dataclass(frozen=True, slots=True)
class RunBinding:
    """The ``validation.run`` entry that produced a results.json, and how it was found:
    ``candidates`` is empty when the caller named the entry (the run that appended it), else the
    seqs of every recorded run of these results, of which ``entry`` is the latest."""

    entry: Entry
    candidates: tuple[int, ...] = ()

    @property
    def chosen(self) -> dict[str, Any] | None:
        """``provenance.json``'s ``run_entry_chosen`` (None when the entry was not searched)."""
        if not self.candidates:
            return None
        return {
            "by": "results_sha256",
            "rule": "latest",
            "candidates": list(self.candidates),
        }

    def describe(self) -> str:
        """One line for the user: which entry, and why that one."""
        if not self.candidates:
            return f"validation.run entry {self.entry.seq} (this run's own)"
        if len(self.candidates) == 1:
            return f"validation.run entry {self.entry.seq} (the one recorded run of these results)"
        seqs = ", ".join(map(str, self.candidates))
        return (
            f"validation.run entry {self.entry.seq} (the latest of {len(self.candidates)} recorded "
            f"runs of these identical results: entries {seqs})"
        )


def _entry(book: LedgerView, seq: Any) -> Entry | None:
    try:
        return book.entry(seq)
    except LedgerError:
        return None


def _registration_problem(book: LedgerView, results: Results, run_seq: int) -> str | None:
    """Why the registration (and amendments) ``results`` names does not back it, or None."""
    ident = results.identity.protocol
    reg = ident.registration
    what = f"protocol {ident.id} version {ident.version}"
    found = _entry(book, reg.seq) if reg.seq is not None else None
    if (
        found is None
        or found.entry_hash != reg.entry_hash
        or found.event_type != PROTOCOL_KIND.registered
        or found.payload.get("protocol_id") != ident.id
        or found.payload.get("version") != ident.version
    ):
        return (
            f"the registration results.json names (ledger entry {reg.seq}, hash {reg.entry_hash}) "
            f"is not the {PROTOCOL_KIND.registered} entry of {what} in this ledger"
        )
    in_force = found.payload.get("protocol_hash")
    last_seq = found.seq
    for amendment in ident.amendments:
        amended = _entry(book, amendment.seq)
        if (
            amended is None
            or amended.entry_hash != amendment.entry_hash
            or amended.event_type != PROTOCOL_KIND.amended
            or amended.payload.get("protocol_id") != ident.id
            or amended.payload.get("protocol_hash") != amendment.protocol_hash
        ):
            return (
                f"the amendment results.json names (ledger entry {amendment.seq}, hash "
                f"{amendment.entry_hash}) is not a {PROTOCOL_KIND.amended} entry of {what} in "
                "this ledger"
            )
        in_force, last_seq = amendment.protocol_hash, max(last_seq, amended.seq)
    if in_force != ident.hash:
        return (
            f"the registered content of {what} in force is {in_force}, but results.json names "
            f"protocol hash {ident.hash}"
        )
    if last_seq >= run_seq:
        return f"the registration of {what} (ledger entry {last_seq}) is not before the run"
    return None


def run_problem(
    book: LedgerView, seq: Any, entry_hash: Any, results: Results, results_sha256: str
) -> str | None:
    """Why ledger entry ``seq`` (with ``entry_hash``) did not produce ``results`` (whose bytes
    hash to ``results_sha256``), or None when it did (module docstring)."""
    found = _entry(book, seq)
    if found is None or found.entry_hash != entry_hash:
        held = None if found is None else found.entry_hash
        return f"ledger entry {seq!r} has hash {held!r}, not {entry_hash!r}"
    if found.event_type != RUN_EVENT:
        return f"ledger entry {seq} is a {found.event_type} entry, not a {RUN_EVENT} entry"
    payload, ident = found.payload, results.identity.protocol
    if payload.get("results_sha256") != results_sha256:
        return (
            f"{RUN_EVENT} entry {seq} recorded results sha256 "
            f"{payload.get('results_sha256')}, not {results_sha256} (these results.json bytes)"
        )
    if payload.get("protocol_id") != ident.id or payload.get("protocol_hash") != ident.hash:
        return (
            f"{RUN_EVENT} entry {seq} ran protocol {payload.get('protocol_id')} "
            f"(hash {payload.get('protocol_hash')}), results.json names {ident.id} ({ident.hash})"
        )
    return _registration_problem(book, results, found.seq)


def bind_run(
    book: LedgerView,
    results: Results,
    results_sha256: str,
    *,
    entry: Entry | None = None,
    source: str = "results.json",
) -> RunBinding:
    """The recorded run that produced ``results``: ``entry`` when given (checked), else the latest
    ``validation.run`` entry of ``book`` that did. :class:`DossierError` when there is none."""
    if entry is not None:
        problem = run_problem(book, entry.seq, entry.entry_hash, results, results_sha256)
        if problem is not None:
            raise DossierError(
                f"{source}: the run's entry does not match ledger {book.path}: {problem}."
            )
        return RunBinding(book.entry(entry.seq))
    found = list(book.entries(event_type=RUN_EVENT, where={"results_sha256": results_sha256}))
    problems = [run_problem(book, e.seq, e.entry_hash, results, results_sha256) for e in found]
    good = [e for e, problem in zip(found, problems, strict=True) if problem is None]
    if not good:
        why = f" ({'; '.join(p for p in problems if p)})" if found else ""
        raise DossierError(
            f"{source}: no {RUN_EVENT} entry of ledger {book.path} produced these results "
            f"(sha256 {results_sha256}){why}; a dossier is sealed in a ledger only for results a "
            "recorded run wrote, byte for byte. Build it from the results.json that `her2map "
            "validate run` wrote with this ledger, or without --ledger (then nothing is recorded "
            "and the dossier says so)."
        )
    return RunBinding(good[-1], tuple(e.seq for e in good))


def _run_record(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "entry_hash": entry.entry_hash,
        "prev_hash": entry.prev_hash,
        "time_utc": entry.time_utc,
        "actor": entry.actor,
        "event_type": entry.event_type,
        "payload": entry.payload,
    }


def provenance_bytes(binding: RunBinding | Entry) -> bytes:
    """``provenance.json``: the ledger head just before the run (the entry's predecessor), the
    run's ``validation.run`` entry and, when it was searched for, how it was chosen; canonical
    JSON."""
    if isinstance(binding, Entry):
        binding = RunBinding(binding)
    entry = binding.entry
    data: dict[str, Any] = {
        "format": PROVENANCE_FORMAT,
        "ledger_head_before_run": {"seq": entry.seq - 1, "entry_hash": entry.prev_hash},
        "run_entry": _run_record(entry),
    }
    if binding.chosen is not None:
        data["run_entry_chosen"] = binding.chosen
    return canonical_json(data)


def _provenance_run(root: Path) -> tuple[dict[str, Any] | None, str | None]:
    path = root / PROVENANCE_NAME
    if not path.is_file():
        return None, (
            f"the dossier carries no {PROVENANCE_NAME}: it was built without a ledger, so no "
            "recorded run is bound to its results"
        )
    try:
        data = json.loads(path.read_bytes())
        run = data["run_entry"]
        head = data["ledger_head_before_run"]
        if not isinstance(run, dict) or not isinstance(head, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return None, f"{PROVENANCE_NAME} is not a {PROVENANCE_FORMAT} record"
    seq = run.get("seq")
    before = (seq - 1, run.get("prev_hash")) if isinstance(seq, int) else None
    if before is None or (head.get("seq"), head.get("entry_hash")) != before:
        return None, (
            f"{PROVENANCE_NAME}: ledger_head_before_run is not the predecessor of the run entry "
            "it names"
        )
    return run, None


def recorded_problems(
    book: LedgerView, root: Path, results: Results, results_sha256: str, seal: str
) -> Sequence[str]:
    """Why the verified dossier at ``root`` (its results, their sha256, its seal) is not recorded
    in ``book`` as the dossier of a recorded run; empty when it is (module docstring)."""
    run, problem = _provenance_run(root)
    if run is None:
        return [str(problem)]
    problem = run_problem(book, run.get("seq"), run.get("entry_hash"), results, results_sha256)
    if problem is not None:
        return [f"the run {PROVENANCE_NAME} names did not produce this results.json: {problem}"]
    entry = book.entry(run["seq"])
    if canonical_json(run) != canonical_json(_run_record(entry)):
        return [f"{PROVENANCE_NAME}'s run entry differs from ledger entry {entry.seq}"]
    sealed = book.entries(event_type=SEALED_EVENT, where={"seal": seal}, after_seq=entry.seq)
    if not any(e.payload.get("results_sha256") == results_sha256 for e in sealed):
        return [
            f"no {SEALED_EVENT} entry records this SEAL ({seal}) after the run's entry {entry.seq}"
        ]
    return []
