"""Does a sealed summary say what the dossiers it links to say?

A SEAL proves that nothing changed after sealing; anyone can seal a summary they wrote themselves
(the formula is public). So :func:`validation.suite.seal.verify_suite`, once the folder and every
linked dossier verify, recomputes from the dossiers' own ``results.json`` (read through the one
adapter, :func:`validation.suite.outcome.read_outcome`) everything the summary derives from them,
with the functions that wrote it:

* ``gate``, ``exit_status``, ``protocols`` (each protocol's analyses with their verdicts,
  estimates, intervals and methods, its conclusion, version, hash and results' sha256) and
  ``counts``: :func:`validation.suite.summary.results_part`, the gate by
  :func:`validation.suite.gate.evaluate_gate` (policy and, for ``listed``, the analyses the
  summary's checks name);
* ``identity.data_sha256`` and ``identity.model_lock_hash``: what every protocol's results read;
* ``junit.xml``: :func:`validation.suite.junit.junit_of_runs`;
* ``index.html``: :func:`validation.suite.page.render_page` of ``summary.json``;
* ``summary.json`` itself is the canonical JSON (RFC 8785) the writer writes.

Each disagreement is one problem, naming the place in ``summary.json`` (``protocols/ID/analyses/
ANALYSIS/verdict``) and both values. A protocol that did not complete has no dossier: its entry
must say so (status ``error``, no analyses).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json, sha256_file
from validation.exceptions import SuiteError
from validation.suite.gate import evaluate_gate
from validation.suite.junit import junit_of_runs
from validation.suite.model import Gate, GatePolicy
from validation.suite.outcome import ProtocolOutcome, read_outcome
from validation.suite.page import page_disagreement
from validation.suite.summary import ProtocolRun, results_part

__all__ = ["summary_disagreements"]

_SUMMARY_JSON = "summary.json"
_FROM = "recomputed from the linked dossiers' results.json"


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _label(item: Any) -> str | None:
    if isinstance(item, Mapping):
        for key in ("id", "name"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


def _same(said: Any, found: Any) -> bool:
    numbers = (int, float)
    if isinstance(said, bool) or isinstance(found, bool):
        return type(said) is type(found) and said == found
    if isinstance(said, numbers) and isinstance(found, numbers):
        return said == found  # canonical JSON writes 1.0 as 1
    return type(said) is type(found) and said == found


def _differences(path: str, said: Any, found: Any) -> Iterator[str]:
    """One line per place where ``said`` (the summary) differs from ``found`` (recomputed)."""
    if isinstance(said, Mapping) and isinstance(found, Mapping):
        for key in [*found, *(k for k in said if k not in found)]:
            where = f"{path}/{key}" if path else str(key)
            if key not in said:
                yield f"{where}: missing; {_FROM}: {_shown(found[key])}"
            elif key not in found:
                yield f"{where}: says {_shown(said[key])}, which the dossiers' results do not hold"
            else:
                yield from _differences(where, said[key], found[key])
        return
    if isinstance(said, list) and isinstance(found, list):
        said_ids, found_ids = [_label(x) for x in said], [_label(x) for x in found]
        keyed = None not in said_ids + found_ids and len(set(found_ids)) == len(found_ids)
        if keyed and len(set(said_ids)) == len(said_ids):
            if said_ids != found_ids:
                yield f"{path}: lists {_shown(said_ids)}; {_FROM}: {_shown(found_ids)}"
            by_id = dict(zip(said_ids, said, strict=True))
            for label, item in zip(found_ids, found, strict=True):
                if label in by_id:
                    yield from _differences(f"{path}/{label}", by_id[label], item)
            return
        if len(said) == len(found) and any(isinstance(x, list | Mapping) for x in found):
            for i, (a, b) in enumerate(zip(said, found, strict=True)):
                yield from _differences(f"{path}/{i}", a, b)
        elif len(said) != len(found) or not all(map(_same, said, found)):
            yield f"{path}: says {_shown(said)}; {_FROM}: {_shown(found)}"
        return
    if not _same(said, found):
        yield f"{path}: says {_shown(said)}; {_FROM}: {_shown(found)}"


def _runs(
    summary: Mapping[str, Any], dossiers: Sequence[Path | None]
) -> tuple[list[ProtocolRun], list[tuple[str, str]]]:
    """Each protocol's run as its dossier's results.json has it (the summary's own entry where
    it links no dossier), and the problems of reading them."""
    runs, problems = [], []
    for entry, folder in zip(summary["protocols"], dossiers, strict=True):
        pid = entry["id"]
        if folder is None:
            runs.append(ProtocolRun(pid, entry["version"], entry["hash"], error=entry["error"]))
            continue
        results = folder / "results.json"
        try:
            outcome: ProtocolOutcome = read_outcome(results)
        except SuiteError as exc:
            problems.append((f"../{Path(entry['dossier']).parent.as_posix()}", str(exc)))
            continue
        if outcome.protocol_id != pid:
            problems.append(
                (
                    _SUMMARY_JSON,
                    f"protocols/{pid}/dossier: links the dossier of protocol "
                    f"{outcome.protocol_id}, not of {pid}",
                )
            )
        runs.append(
            ProtocolRun(
                pid,
                outcome.version,
                outcome.protocol_hash,
                outcome=outcome,
                results_sha256=sha256_file(results),
                dossier=entry["dossier"],
                dossier_seal=entry["dossier_seal"],
            )
        )
    return runs, problems


def _identity_problems(summary: Mapping[str, Any], runs: Sequence[ProtocolRun]) -> list[str]:
    identity, lines = summary["identity"], []
    for run in runs:
        if run.outcome is None:
            continue
        where = f"its results.json ({run.protocol_id})"
        for name, digest in sorted(run.outcome.data_sha256.items()):
            said = identity["data_sha256"].get(name)
            if said != digest:
                lines.append(
                    f"identity/data_sha256/{name}: says {_shown(said)}; {where} read "
                    f"{_shown(digest)}"
                )
        lock = run.outcome.model_lock_hash
        if lock is not None and identity["model_lock_hash"] != lock:
            lines.append(
                f"identity/model_lock_hash: says {_shown(identity['model_lock_hash'])}; {where} "
                f"was run on the predictions of model lock {_shown(lock)}"
            )
    return lines


def summary_disagreements(
    root: Path, summary: Mapping[str, Any], dossiers: Sequence[Path | None]
) -> list[tuple[str, str]]:
    """Where the summary folder ``root`` (its ``summary.json`` already parsed and schema-checked
    as ``summary``) does not say what its dossiers say; ``dossiers`` holds each protocol's
    verified dossier folder (None where the summary links none), in summary order. One
    ``(file, message)`` per disagreement (module docstring)."""
    runs, problems = _runs(summary, dossiers)
    if problems:
        return problems
    raw = (root / _SUMMARY_JSON).read_bytes()
    if canonical_json(json.loads(raw)) != raw:
        problems.append(
            (_SUMMARY_JSON, "not in canonical form (RFC 8785), as the suite runner writes it")
        )
    policy = GatePolicy(summary["gate"]["policy"])
    listed = tuple(c["name"] for c in summary["gate"]["checks"])
    gate = evaluate_gate(
        Gate(policy, listed if policy is GatePolicy.LISTED else ()),
        tuple(r.protocol_id for r in runs),
        {r.protocol_id: r.outcome for r in runs if r.outcome is not None},
    )
    expected = results_part(runs, gate)
    for entry, said in zip(expected["protocols"], summary["protocols"], strict=True):
        legacy = {a["id"] for a in said["analyses"] if "not_estimable" not in a}
        for analysis in entry["analyses"]:
            if analysis["id"] in legacy:  # summaries written before it was added lack it
                del analysis["not_estimable"]
    lines = [line for key in expected for line in _differences(key, summary[key], expected[key])]
    lines += _identity_problems(summary, runs)
    problems += [(_SUMMARY_JSON, line) for line in lines]
    page = page_disagreement(summary, (root / "index.html").read_bytes())
    if page is not None:
        problems.append(("index.html", page))
    if junit_of_runs(summary["suite"]["id"], runs) != (root / "junit.xml").read_bytes():
        problems.append(
            ("junit.xml", f"is not the JUnit report of the protocols' results ({_FROM})")
        )
    return problems
