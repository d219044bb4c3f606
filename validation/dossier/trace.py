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
from pathlib import Path
from typing import Any

from validation.canonical import sha256_file
from validation.dossier.tables import Table, make_table
from validation.exceptions import DossierError
from validation.trace import (
    Traceability,
    check,
    collect_tagged_tests,
    junit_outcomes,
    load_traceability,
)

__all__ = ["load_trace_inputs", "requirements_table", "trace_problems", "trace_table"]

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


#: Where a comparison's headline result sits in results.json, by method.
_COMPARISON_RESULTS = ("auc_difference", "kappa", "mcnemar")


def _own_endpoints(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    pid = ((results.get("identity") or {}).get("protocol") or {}).get("id")
    found: dict[str, Mapping[str, Any]] = {}
    for e in results.get("endpoints") or []:
        found[f"{pid}/{e.get('id')}"] = e
    for c in results.get("comparisons") or []:
        result = next((c[k] for k in _COMPARISON_RESULTS if c.get(k) is not None), None)
        for v in c.get("verdicts") or []:
            found[f"{pid}/{v.get('id')}"] = {"result": result, **v}
    for g in results.get("subgroups") or []:
        summary = {"estimate": None, "reason": g.get("verdict_reason") or g.get("reason")}
        found[f"{pid}/{g.get('id')}"] = {"result": summary, "verdict": g.get("verdict")}
    return found


def trace_problems(inputs: Mapping[str, Any], results: Mapping[str, Any]) -> list[str]:
    """Gaps found by :func:`validation.trace.check`; other protocols' endpoints count as known."""
    pid = ((results.get("identity") or {}).get("protocol") or {}).get("id")
    referenced = {ep for r in inputs["requirements"] for ep in r["endpoints"]}
    known = set(_own_endpoints(results)) | {ep for ep in referenced if not ep.startswith(f"{pid}/")}
    tagged = {k: tuple(v) for k, v in inputs["tagged_tests"].items()}
    return list(check(_spec(inputs), tagged, known).problems)


def trace_table(inputs: Mapping[str, Any], results: Mapping[str, Any]) -> Table:
    """One row per (requirement, verification): endpoint results and test outcomes."""
    own = _own_endpoints(results)
    pid = ((results.get("identity") or {}).get("protocol") or {}).get("id")
    outcomes = inputs.get("junit_outcomes")
    claimed: dict[str, list[str]] = {}
    for test_id, reqs in inputs["tagged_tests"].items():
        for req in reqs:
            claimed.setdefault(req, []).append(test_id)
    rows: list[tuple[Any, ...]] = []
    for r in inputs["requirements"]:
        for ep in r["endpoints"]:
            if ep in own:
                e = own[ep]
                rows.append(
                    (r["id"], r["statement"], "endpoint", ep, e.get("result"), e.get("verdict"))
                )
            elif ep.startswith(f"{pid}/"):
                rows.append(
                    (
                        r["id"],
                        r["statement"],
                        "endpoint",
                        ep,
                        {"estimate": None, "reason": "endpoint not in these results"},
                        "NOT EVALUABLE",
                    )
                )
            else:
                rows.append(
                    (
                        r["id"],
                        r["statement"],
                        "endpoint",
                        ep,
                        "verified in that protocol's dossier",
                        "INFO",
                    )
                )
        for test_id in sorted(set(r["tests"]) | set(claimed.get(r["id"], []))):
            if outcomes is None:
                result, verdict = "no JUnit XML given", "INFO"
            elif test_id in outcomes:
                result, verdict = outcomes[test_id], _OUTCOME_VERDICT[outcomes[test_id]]
            else:
                result, verdict = "not in the JUnit XML", "NOT EVALUABLE"
            rows.append((r["id"], r["statement"], "test", test_id, result, verdict))
        if not (r["endpoints"] or r["tests"] or claimed.get(r["id"])):
            rows.append((r["id"], r["statement"], "none", None, "no verification", "FAIL"))
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


def requirements_table(inputs: Mapping[str, Any]) -> Table:
    """The requirements with how many endpoints and tests verify each, and the tests' outcomes.

    Counts only: the verdict of each verification is in :func:`trace_table`.
    """
    claimed: dict[str, set[str]] = {}
    for test_id, reqs in inputs["tagged_tests"].items():
        for req in reqs:
            claimed.setdefault(req, set()).add(test_id)
    outcomes = inputs.get("junit_outcomes")
    rows = []
    for r in inputs["requirements"]:
        tests = set(r["tests"]) | claimed.get(r["id"], set())
        if outcomes is None:
            passed = failed = other = None
        else:
            got = [outcomes.get(t) for t in tests]
            passed, failed = got.count("passed"), got.count("failed")
            other = len(got) - passed - failed
        rows.append(
            (
                r["id"],
                r["statement"],
                "; ".join(r["source"]),
                r.get("risk"),
                len(r["endpoints"]),
                len(tests),
                passed,
                failed,
                other,
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
            ("n_endpoints", "Endpoints", "int"),
            ("n_tests", "Tests", "int"),
            ("tests_passed", "Passed", "int"),
            ("tests_failed", "Failed", "int"),
            ("tests_other", "Skipped / not run", "int"),
        ],
        rows,
    )
