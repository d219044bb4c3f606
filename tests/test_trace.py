"""Traceability check: passes on a complete trace and names each kind of gap."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from validation.exceptions import TraceError
from validation.trace import check, collect_tagged_tests, junit_outcomes, load_traceability

pytestmark = pytest.mark.req("REQ-TRACE-001")

TRACE = """
requirements:
  - id: REQ-A-001
    statement: first
    source: [IEC 62304 5.2]
  - id: REQ-B-001
    statement: second
    source: FDA GMLP principle 4
    verified_by:
      endpoints: [HER2-VAL-001/auc]
      tests: [tests/test_x.py::test_listed]
"""

TESTS = """
import pytest

pytestmark = [pytest.mark.req("REQ-A-001")]

def test_listed():
    pass

@pytest.mark.req("REQ-B-001")
def test_tagged():
    pass

class TestGroup:
    @pytest.mark.req("REQ-B-001")
    def test_in_class(self):
        pass
"""


def _project(tmp_path: Path, trace: str = TRACE, tests: str = TESTS) -> tuple[Path, Path]:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(textwrap.dedent(tests))
    trace_path = tmp_path / "traceability.yaml"
    trace_path.write_text(textwrap.dedent(trace))
    return trace_path, tmp_path / "tests"


def test_collects_markers_at_module_class_and_function_level(tmp_path: Path) -> None:
    _, tests = _project(tmp_path)
    tagged = collect_tagged_tests(tests, root=tmp_path)
    assert tagged == {
        "tests/test_x.py::test_listed": ("REQ-A-001",),
        "tests/test_x.py::test_tagged": ("REQ-A-001", "REQ-B-001"),
        "tests/test_x.py::TestGroup::test_in_class": ("REQ-A-001", "REQ-B-001"),
    }


def test_complete_trace_passes(tmp_path: Path) -> None:
    trace_path, tests = _project(tmp_path)
    report = check(
        load_traceability(trace_path),
        collect_tagged_tests(tests, root=tmp_path),
        {"HER2-VAL-001/auc"},
    )
    assert report.ok, report.problems
    assert report.n_requirements == 2
    assert report.n_tagged_tests == 3


def test_requirement_without_verification_is_a_gap(tmp_path: Path) -> None:
    trace_path, tests = _project(tmp_path, tests="def test_untagged():\n    pass\n")
    trace = TRACE.replace("      tests: [tests/test_x.py::test_listed]\n", "")
    trace_path.write_text(textwrap.dedent(trace))
    report = check(
        load_traceability(trace_path),
        collect_tagged_tests(tests, root=tmp_path),
        {"HER2-VAL-001/auc"},
    )
    assert report.problems == (
        "REQ-A-001: no verification (no endpoint, listed test or tagged test).",
    )


def test_missing_endpoint_and_missing_test_are_gaps(tmp_path: Path) -> None:
    trace_path, tests = _project(tmp_path)
    trace_path.write_text(
        textwrap.dedent(TRACE).replace("test_listed]", "test_gone]").replace("/auc]", "/auroc]")
    )
    report = check(
        load_traceability(trace_path),
        collect_tagged_tests(tests, root=tmp_path),
        {"HER2-VAL-001/auc"},
    )
    assert (
        "REQ-B-001: endpoint 'HER2-VAL-001/auroc' does not exist in any protocol."
        in report.problems
    )
    assert "REQ-B-001: test 'tests/test_x.py::test_gone' does not exist." in report.problems
    assert len(report.problems) == 2


def test_test_claiming_unknown_requirement_is_a_gap(tmp_path: Path) -> None:
    trace_path, tests = _project(
        tmp_path, tests=TESTS.replace('req("REQ-B-001")\ndef', 'req("REQ-Z-009")\ndef')
    )
    report = check(
        load_traceability(trace_path),
        collect_tagged_tests(tests, root=tmp_path),
        {"HER2-VAL-001/auc"},
    )
    assert report.problems == (
        f"tests/test_x.py::test_tagged claims REQ-Z-009, which is not in {trace_path}.",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("requirements: [{id: REQ-A-001, statement: s}]", r"missing \['source'\]"),
        ("requirements: [{id: bad, statement: s, source: x}]", r"must look like 'REQ-ABC-001'"),
        (
            "requirements: [{id: REQ-A-001, statement: s, source: x, owner: me}]",
            r"unknown key\(s\) \['owner'\]",
        ),
        (
            "requirements:\n- {id: REQ-A-001, statement: s, source: x}\n- {id: REQ-A-001, statement: t, source: y}",
            "defined twice",
        ),
        ("just a string", "expected a mapping with a 'requirements' list"),
    ],
)
def test_malformed_traceability_is_refused_with_location(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "traceability.yaml"
    path.write_text(body)
    with pytest.raises(TraceError, match=message):
        load_traceability(path)


def test_junit_outcomes_fold_parametrized_cases(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
        <testcase classname="tests.test_x" name="test_a[1]"/>
        <testcase classname="tests.test_x" name="test_a[2]"><failure message="boom"/></testcase>
        <testcase classname="tests.test_x.TestGroup" name="test_in_class"/>
        <testcase classname="tests.test_x" name="test_s"><skipped message="no chromium"/></testcase>
        </testsuite></testsuites>"""
    )
    assert junit_outcomes(xml) == {
        "tests/test_x.py::test_a": "failed",
        "tests/test_x.py::TestGroup::test_in_class": "passed",
        "tests/test_x.py::test_s": "skipped",
    }
