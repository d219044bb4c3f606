"""The traceability matrix of a dossier: requirement -> verification -> result -> verdict.

Reads ``traceability.yaml``, the requirement tags of the test files and, optionally, a JUnit XML of
the test run through :mod:`validation.trace`; the dossier stores what it read as
``inputs/trace.json`` (canonical JSON) so that a rebuild needs nothing outside the dossier and
results.json. Endpoint references look like ``"HER2-VAL-001/VAL-E1"``; those of this dossier's
protocol show the endpoint's estimate and verdict, those of other protocols are listed as verified
elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.canonical import sha256_file
from validation.dossier.tables import Table, make_table
from validation.exceptions import DossierError
from validation.results import Results, StatValue
from validation.trace import (
    Traceability,
    check,
    collect_tagged_tests,
    junit_outcomes,
    load_traceability,
)

__all__ = [
    "load_trace_inputs",
    "requirement_status",
    "requirements_table",
    "trace_problems",
    "trace_table",
]

_OUTCOME_VERDICT = {"passed": "PASS", "failed": "FAIL", "skipped": "NOT EVALUABLE"}


def load_trace_inputs(
    trace: str | Path,
    *,
    tests_dir: str | Path | None = None,
    junit: str | Path | None = None,
) -> dict[str, Any]:
    """Everything the matrix needs, as a JSON-ready dict (stored as ``inputs/trace.json``).

    ``tests_dir`` defaults to ``tests/`` beside ``traceability.yaml``; test ids are relative to
    the folder above ``tests_dir`` (the repository root), as pytest's node ids are.
    """
    trace = Path(trace)
    tests = (Path(tests_dir) if tests_dir is not None else trace.parent / "tests").resolve()
    if not tests.is_dir():
        raise DossierError(
            f"tests folder {tests} not found; pass --tests-dir (the folder of the test files)."
        )
    spec: Traceability = load_traceability(trace)
    tagged = collect_tagged_tests(tests, root=tests.parent)
    outcomes = junit_outcomes(junit) if junit is not None else None
    return {
        "traceability_file": trace.name,
        "traceability_sha256": sha256_file(trace),
        "requirements": [
            {
                "id": r.id,
                "statement": r.statement,
                "source": list(r.source),
                "risk": r.risk,
                "endpoints": list(r.endpoints),
                "tests": list(r.tests),
            }
            for r in spec.requirements
        ],
        "tagged_tests": {k: list(v) for k, v in sorted(tagged.items())},
        "junit_file": Path(junit).name if junit is not None else None,
        "junit_sha256": sha256_file(junit) if junit is not None else None,
        "junit_outcomes": dict(sorted(outcomes.items())) if outcomes is not None else None,
    }


def _spec(inputs: Mapping[str, Any]) -> Traceability:
    from validation.trace import Requirement

    return Traceability(
        str(inputs.get("traceability_file")),
        tuple(
            Requirement(
                r["id"],
                r["statement"],
                tuple(r["source"]),
                r.get("risk"),
                tuple(r["endpoints"]),
                tuple(r["tests"]),
            )
            for r in inputs["requirements"]
        ),
    )


@dataclass(frozen=True, slots=True)
class _Own:
    """An analysis of these results as the matrix shows it."""

    result: StatValue | str | None
    verdict: str


def _own_endpoints(results: Results) -> dict[str, _Own]:
    pid = results.identity.protocol.id
    found: dict[str, _Own] = {}
    for e in results.endpoints:
        found[f"{pid}/{e.id}"] = _Own(e.result, e.judgement.verdict)
    for c in results.comparisons:
        result: StatValue | str | None = c.auc_difference or c.kappa
        if result is None and c.mcnemar is not None:
            result = c.mcnemar.test
        found[f"{pid}/{c.id}"] = _Own(result or c.reason, c.judgement.verdict)
    for g in results.subgroups:
        found[f"{pid}/{g.id}"] = _Own(g.verdict_reason or g.reason, g.verdict)
    return found


def trace_problems(inputs: Mapping[str, Any], results: Results) -> list[str]:
    """Gaps found by :func:`validation.trace.check`; other protocols' endpoints count as known."""
    pid = results.identity.protocol.id
    referenced = {ep for r in inputs["requirements"] for ep in r["endpoints"]}
    known = set(_own_endpoints(results)) | {ep for ep in referenced if not ep.startswith(f"{pid}/")}
    tagged = {k: tuple(v) for k, v in inputs["tagged_tests"].items()}
    return list(check(_spec(inputs), tagged, known).problems)


def _claimed(inputs: Mapping[str, Any]) -> dict[str, set[str]]:
    claimed: dict[str, set[str]] = {}
    for test_id, reqs in inputs["tagged_tests"].items():
        for req in reqs:
            claimed.setdefault(req, set()).add(test_id)
    return claimed


def _verifications(
    r: Mapping[str, Any], inputs: Mapping[str, Any], results: Results, claimed: set[str]
) -> list[tuple[str, str | None, Any, str]]:
    """(kind, endpoint or test id, result, verdict) of each verification of requirement ``r``."""
    own = _own_endpoints(results)
    pid = results.identity.protocol.id
    outcomes = inputs.get("junit_outcomes")
    out: list[tuple[str, str | None, Any, str]] = []
    for ep in r["endpoints"]:
        if ep in own:
            out.append(("endpoint", ep, own[ep].result, own[ep].verdict))
        elif ep.startswith(f"{pid}/"):
            out.append(("endpoint", ep, "endpoint not in these results", "NOT EVALUABLE"))
        else:
            out.append(("endpoint", ep, "verified in that protocol's dossier", "INFO"))
    for test_id in sorted(set(r["tests"]) | claimed):
        if outcomes is None:
            result, verdict = "no JUnit XML given", "INFO"
        elif test_id in outcomes:
            result, verdict = outcomes[test_id], _OUTCOME_VERDICT[outcomes[test_id]]
        else:
            result, verdict = "not in the JUnit XML", "NOT EVALUABLE"
        out.append(("test", test_id, result, verdict))
    if not out:
        out.append(("none", None, "no verification", "FAIL"))
    return out


def requirement_status(verdicts: list[str]) -> str:
    """A requirement is ``not met`` when any verification FAILED, ``met`` when every one here
    PASSED, ``not shown here`` otherwise (verified elsewhere, not evaluable or not run)."""
    if "FAIL" in verdicts:
        return "not met"
    if verdicts and all(v == "PASS" for v in verdicts):
        return "met"
    return "not shown here"


def trace_table(inputs: Mapping[str, Any], results: Results) -> Table:
    """One row per (requirement, verification): endpoint results and test outcomes."""
    claimed = _claimed(inputs)
    rows: list[tuple[Any, ...]] = []
    for r in inputs["requirements"]:
        for kind, ref, result, verdict in _verifications(
            r, inputs, results, claimed.get(r["id"], set())
        ):
            rows.append((r["id"], r["statement"], kind, ref, result, verdict))
    outcomes = inputs.get("junit_outcomes")
    note = (
        f"Test outcomes from {inputs['junit_file']} (sha256 {inputs['junit_sha256']})."
        if outcomes is not None
        else "No JUnit XML was given: test outcomes are not shown."
    )
    return make_table(
        "traceability",
        "Traceability matrix",
        [
            ("requirement", "Requirement", "code"),
            ("statement", "Statement", "text", False),
            ("kind", "Verified by", "text"),
            ("verification", "Endpoint / test", "code"),
            ("result", "Result", "est"),
            ("verdict", "Verdict", "verdict"),
        ],
        rows,
        note=note,
    )


def requirements_table(inputs: Mapping[str, Any], results: Results) -> Table:
    """The requirements, whether each is met by what this dossier shows (an endpoint that FAILED
    or a test that failed makes it ``not met``), and the counts behind that."""
    claimed = _claimed(inputs)
    outcomes = inputs.get("junit_outcomes")
    rows = []
    for r in inputs["requirements"]:
        found = _verifications(r, inputs, results, claimed.get(r["id"], set()))
        eps = [v for k, _, _, v in found if k == "endpoint"]
        tests = [v for k, _, _, v in found if k == "test"]
        rows.append(
            (
                r["id"],
                r["statement"],
                "; ".join(r["source"]),
                r.get("risk"),
                requirement_status([v for *_, v in found]),
                len(eps),
                eps.count("FAIL"),
                len(tests),
                None if outcomes is None else tests.count("PASS"),
                None if outcomes is None else tests.count("FAIL"),
            )
        )
    return make_table(
        "requirements",
        "Requirements and their verification",
        [
            ("requirement", "Requirement", "code"),
            ("statement", "Statement", "text"),
            ("source", "Source", "text"),
            ("risk", "Risk", "text"),
            ("status", "Status", "text"),
            ("n_endpoints", "Endpoints", "int"),
            ("endpoints_failed", "Endpoints failed", "int"),
            ("n_tests", "Tests", "int"),
            ("tests_passed", "Tests passed", "int"),
            ("tests_failed", "Tests failed", "int"),
        ],
        rows,
    )
