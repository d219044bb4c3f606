"""Requirements traceability: ``traceability.yaml`` -> verification -> result.

A requirement is verified by protocol endpoints (``"HER2-VAL-001/auc"``), by tests listed by id
(``"tests/test_lock.py::test_changed_weight_is_refused"``), and by every test carrying the
marker ``@pytest.mark.req("REQ-…")``. Tests are found by reading the test files' syntax trees
(no import, no execution), so the check is fast and deterministic.

:func:`check` returns every gap: a requirement with no verification, a referenced endpoint or test
that does not exist, a test claiming a requirement that is not in the file. :func:`matrix` joins
requirements with validation results and, where a JUnit XML of the test run is given, with each
tagged test's outcome (IEC 62304 5.7, FDA "General Principles of Software Validation" 5.2.6).
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from validation.exceptions import TraceError

__all__ = [
    "Requirement",
    "TraceReport",
    "Traceability",
    "check",
    "check_project",
    "collect_endpoints",
    "collect_tagged_tests",
    "junit_outcomes",
    "load_traceability",
]

_REQ_ID = re.compile(r"^REQ-[A-Z0-9]+(-[A-Z0-9]+)*$")
_REQUIRED_KEYS = ("id", "statement", "source")
_ALLOWED_KEYS = {"id", "statement", "source", "risk", "verified_by"}
_VERIFY_KEYS = {"endpoints", "tests"}


@dataclass(frozen=True, slots=True)
class Requirement:
    """One requirement: id, statement, sources (user need or clause), risk ref, verifications."""

    id: str
    statement: str
    source: tuple[str, ...]
    risk: str | None
    endpoints: tuple[str, ...]
    tests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Traceability:
    """The parsed ``traceability.yaml``: requirements in file order."""

    path: str
    requirements: tuple[Requirement, ...]

    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.requirements)


@dataclass(frozen=True, slots=True)
class TraceReport:
    """Outcome of :func:`check`: the problems found (empty when the trace is complete)."""

    problems: tuple[str, ...]
    n_requirements: int
    n_tagged_tests: int

    @property
    def ok(self) -> bool:
        return not self.problems


def _as_str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TraceError(f"{where} must be a string or a list of strings; got {value!r}.")


def load_traceability(path: str | Path) -> Traceability:
    """Parse ``traceability.yaml`` (``yaml.safe_load``) into a :class:`Traceability`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TraceError(f"{path}: cannot read traceability file ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise TraceError(f"{path}: expected a mapping with a 'requirements' list.")
    requirements: list[Requirement] = []
    seen: set[str] = set()
    for i, item in enumerate(data["requirements"]):
        where = f"{path}: requirements[{i}]"
        if not isinstance(item, dict):
            raise TraceError(f"{where} must be a mapping; got {type(item).__name__}.")
        unknown = sorted(set(item) - _ALLOWED_KEYS)
        if unknown:
            raise TraceError(
                f"{where} has unknown key(s) {unknown}; allowed: {sorted(_ALLOWED_KEYS)}."
            )
        missing = [k for k in _REQUIRED_KEYS if not item.get(k)]
        if missing:
            raise TraceError(f"{where} is missing {missing}.")
        req_id = str(item["id"])
        if not _REQ_ID.match(req_id):
            raise TraceError(f"{where}.id must look like 'REQ-ABC-001'; got {req_id!r}.")
        if req_id in seen:
            raise TraceError(f"{where}.id {req_id!r} is defined twice.")
        seen.add(req_id)
        verified = item.get("verified_by") or {}
        if not isinstance(verified, dict) or set(verified) - _VERIFY_KEYS:
            raise TraceError(
                f"{where}.verified_by must map 'endpoints'/'tests' to lists; got {verified!r}."
            )
        requirements.append(
            Requirement(
                id=req_id,
                statement=str(item["statement"]).strip(),
                source=_as_str_list(item["source"], f"{where}.source"),
                risk=str(item["risk"]) if item.get("risk") else None,
                endpoints=_as_str_list(verified.get("endpoints"), f"{where}.verified_by.endpoints"),
                tests=_as_str_list(verified.get("tests"), f"{where}.verified_by.tests"),
            )
        )
    return Traceability(str(path), tuple(requirements))


def _req_ids_of(decorators: Iterable[ast.expr]) -> list[str]:
    """The string arguments of ``pytest.mark.req(...)`` / ``mark.req(...)`` decorators."""
    found: list[str] = []
    for dec in decorators:
        calls = dec.elts if isinstance(dec, ast.List | ast.Tuple) else [dec]
        for call in calls:
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "req":
                found.extend(
                    a.value
                    for a in call.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)
                )
    return found


def _module_marks(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return _req_ids_of([node.value])
    return []


def collect_tagged_tests(
    tests_dir: str | Path, *, root: str | Path = "."
) -> dict[str, tuple[str, ...]]:
    """Map every test id under ``tests_dir`` to the requirement ids its markers claim.

    Test ids are pytest node ids relative to ``root`` (``tests/test_x.py::TestC::test_f``);
    every ``test_*`` function appears, tagged or not, so that listed tests can be checked to exist.
    """
    tests_dir, root = Path(tests_dir), Path(root)
    result: dict[str, tuple[str, ...]] = {}
    for path in sorted(tests_dir.rglob("test_*.py")):
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        module_reqs = _module_marks(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                result[f"{rel}::{node.name}"] = tuple(
                    module_reqs + _req_ids_of(node.decorator_list)
                )
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                class_reqs = module_reqs + _req_ids_of(node.decorator_list)
                for sub in node.body:
                    if isinstance(sub, ast.FunctionDef) and sub.name.startswith("test"):
                        reqs = class_reqs + _req_ids_of(sub.decorator_list)
                        result[f"{rel}::{node.name}::{sub.name}"] = tuple(reqs)
    return result


def check(
    trace: Traceability,
    tagged_tests: Mapping[str, tuple[str, ...]],
    endpoints: Iterable[str],
) -> TraceReport:
    """List every gap between requirements, tests and protocol endpoints."""
    known_endpoints = set(endpoints)
    ids = trace.ids()
    problems: list[str] = []
    claimed: dict[str, list[str]] = {}
    for test_id, reqs in sorted(tagged_tests.items()):
        for req_id in reqs:
            if req_id not in ids:
                problems.append(f"{test_id} claims {req_id}, which is not in {trace.path}.")
            claimed.setdefault(req_id, []).append(test_id)
    for req in trace.requirements:
        for ep in req.endpoints:
            if ep not in known_endpoints:
                problems.append(f"{req.id}: endpoint {ep!r} does not exist in any protocol.")
        for test_id in req.tests:
            if test_id not in tagged_tests:
                problems.append(f"{req.id}: test {test_id!r} does not exist.")
        if not (req.endpoints or req.tests or claimed.get(req.id)):
            problems.append(f"{req.id}: no verification (no endpoint, listed test or tagged test).")
    n_tagged = sum(1 for reqs in tagged_tests.values() if reqs)
    return TraceReport(tuple(problems), len(trace.requirements), n_tagged)


def collect_endpoints(protocols_dir: str | Path) -> frozenset[str]:
    """Every verifiable id of the shipped protocols: ``"PROTOCOL-ID/endpoint-or-analysis-id"``.

    Endpoints, subgroup analyses and comparisons all count; protocols load through the validating
    loader, so a malformed protocol fails here with its key path.
    """
    from validation.protocol import Protocol  # deferred: trace is usable without protocols

    found: set[str] = set()
    for path in sorted(Path(protocols_dir).glob("*.yaml")):
        protocol = Protocol.from_yaml(path)
        ids = [e.id for e in protocol.endpoints]
        ids += [g.id for g in protocol.subgroups] + [c.id for c in protocol.comparisons]
        found.update(f"{protocol.id}/{item_id}" for item_id in ids)
    return frozenset(found)


def check_project(root: str | Path = ".") -> TraceReport:
    """Check ``traceability.yaml`` against ``tests/`` and ``protocols/`` under ``root``."""
    root = Path(root)
    return check(
        load_traceability(root / "traceability.yaml"),
        collect_tagged_tests(root / "tests", root=root),
        collect_endpoints(root / "protocols"),
    )


def junit_outcomes(path: str | Path) -> dict[str, str]:
    """Map pytest node ids to ``passed``/``failed``/``skipped`` from a JUnit XML report.

    pytest writes ``classname="tests.test_x.TestC"`` and ``name="test_f[param]"``; parametrized
    cases of one function are folded: the function failed if any case failed.
    """
    try:
        root = ET.parse(path).getroot()  # our own pytest output, not untrusted input
    except (OSError, ET.ParseError) as exc:
        raise TraceError(f"{path}: cannot read JUnit XML ({exc}).") from None
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    outcomes: dict[str, str] = {}
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "").split("[", 1)[0]
        parts = classname.split(".")
        # Module path is the longest prefix that is a test module: tests.test_x[.TestC]
        split = next(
            (i for i in range(len(parts), 0, -1) if parts[i - 1].startswith("test_")), len(parts)
        )
        node = "/".join(parts[:split]) + ".py::" + "::".join([*parts[split:], name])
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        if rank[outcome] >= rank.get(outcomes.get(node, "passed"), 0):
            outcomes[node] = outcome
    return outcomes
