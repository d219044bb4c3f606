"""The machine-readable suite summary (``summary.json``, ``her2map.suite-summary/1``).

:func:`build_summary` assembles it from the suite, the outcomes (read through
:func:`validation.suite.outcome.read_outcome`), the gate and the identity of the run;
:func:`check_summary` validates it against ``summary.schema.json`` (JSON Schema 2020-12), which
the writer does before writing and :func:`validation.suite.seal.verify_suite` before trusting a
summary. :data:`SUMMARY_SCHEMA` is the schema itself.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsonschema

from validation.exceptions import SuiteError
from validation.protocol import RegistrationStatus
from validation.suite.gate import GateResult
from validation.suite.model import Suite
from validation.suite.outcome import ProtocolOutcome

__all__ = [
    "SUMMARY_FORMAT",
    "SUMMARY_SCHEMA",
    "ProtocolRun",
    "build_summary",
    "check_summary",
    "results_part",
]

SUMMARY_FORMAT = "her2map.suite-summary/1"
SUMMARY_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).with_name("summary.schema.json")).read_text(encoding="utf-8")
)
_VALIDATOR = jsonschema.Draft202012Validator(SUMMARY_SCHEMA)


@dataclass(frozen=True, slots=True)
class ProtocolRun:
    """One protocol's place in the suite run: its outcome and dossier, or what stopped it."""

    protocol_id: str
    version: str
    protocol_hash: str
    outcome: ProtocolOutcome | None = None
    error: str | None = None
    results_sha256: str | None = None
    dossier: str | None = None  # index.html, relative to the suite's output folder
    dossier_seal: str | None = None


def check_summary(summary: Any, *, source: str = "summary.json") -> None:
    """Raise :class:`SuiteError` naming the first schema violation (path and message)."""
    error = next(iter(sorted(_VALIDATOR.iter_errors(summary), key=lambda e: list(e.path))), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "<top level>"
        raise SuiteError(f"{source}: {where}: {error.message} (schema {SUMMARY_FORMAT}).")


def _protocol_entry(run: ProtocolRun) -> dict[str, Any]:
    outcome = run.outcome
    return {
        "id": run.protocol_id,
        "version": run.version,
        "hash": run.protocol_hash,
        "status": "completed" if outcome is not None else "error",
        "error": run.error,
        "confidence": None if outcome is None else outcome.confidence,
        "conclusion": None if outcome is None else outcome.conclusion,
        "results_sha256": run.results_sha256,
        "dossier": run.dossier,
        "dossier_seal": run.dossier_seal,
        "analyses": [] if outcome is None else [asdict(a) for a in outcome.analyses],
    }


def build_summary(
    suite: Suite,
    registration: RegistrationStatus,
    runs: Sequence[ProtocolRun],
    gate: GateResult,
    *,
    model_lock_hash: str | None,
    data_sha256: Mapping[str, str],
    ledger_head: tuple[int, str],
) -> dict[str, Any]:
    """The summary object (JSON-ready, validated against :data:`SUMMARY_SCHEMA`)."""
    summary = {
        "format": SUMMARY_FORMAT,
        "suite": {
            "id": suite.id,
            "version": suite.version,
            "title": suite.title,
            "hash": suite.suite_hash,
            "file_name": Path(suite.source).name if suite.source else "",
            "registration_seq": registration.registration_seq,
            "amendment_seqs": [a.seq for a in registration.amendments],
        },
        "identity": {
            "model_lock_hash": model_lock_hash,
            "data_sha256": dict(sorted(data_sha256.items())),
            "ledger": {"head_seq": ledger_head[0], "head_hash": ledger_head[1]},
        },
        **results_part(runs, gate),
    }
    check_summary(summary)
    return summary


def results_part(runs: Sequence[ProtocolRun], gate: GateResult) -> dict[str, Any]:
    """The part of the summary its protocols' results decide: ``gate``, ``exit_status``,
    ``protocols`` (each protocol's analyses, verdicts, estimates, intervals and conclusion) and
    ``counts``. :func:`build_summary` writes it; :func:`validation.suite.recheck.summary_disagreements`
    recomputes it from the linked dossiers' results to check a summary, so there is one rule."""
    counts: Counter[str] = Counter()
    for run in runs:
        if run.outcome is None:
            counts["ERROR"] += 1
        else:
            counts.update(a.verdict for a in run.outcome.analyses)
    return {
        "gate": {
            "policy": gate.policy.value,
            "met": gate.met,
            "checks": [{"name": c.name, "verdict": c.verdict} for c in gate.checks],
            "unmet": list(gate.unmet),
        },
        "exit_status": 0 if gate.met else 1,
        "protocols": [_protocol_entry(run) for run in runs],
        "counts": {key: counts[key] for key in ("PASS", "FAIL", "NOT EVALUABLE", "ERROR")},
    }
