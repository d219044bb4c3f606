"""The project's own trace is complete, and the command reports gaps with exit status 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from validation.cli import main
from validation.trace import check_project, collect_endpoints

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.req("REQ-TRACE-001")
def test_project_trace_has_no_gaps() -> None:
    report = check_project(ROOT)
    assert report.problems == ()
    assert report.n_requirements >= 30
    assert report.n_tagged_tests > 100


@pytest.mark.req("REQ-TRACE-001")
def test_endpoints_of_every_shipped_protocol_are_collected() -> None:
    endpoints = collect_endpoints(ROOT / "protocols")
    assert {
        "HER2-VAL-001/VAL-E1",
        "HER2-NAT-002/NAT-C1",
        "HER2-ERR-003/ERR-E1",
        "HER2-PRO-004/PRO-C1",
    } <= endpoints


@pytest.mark.req("REQ-TRACE-001")
def test_trace_check_command_fails_with_the_list_of_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("traceability.yaml", "protocols", "tests"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    assert main(["trace", "check", "--root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    trace = tmp_path / "traceability.yaml"
    text = trace.read_text().replace("HER2-VAL-001/VAL-E2,", "HER2-VAL-001/VAL-E9,")
    text += "  - id: REQ-NEW-001\n    statement: untested\n    source: [IEC 62304 5.2]\n"
    trace.write_text(text)
    assert main(["trace", "check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "GAPS: 2 problem(s)" in out
    assert "REQ-PERF-002: endpoint 'HER2-VAL-001/VAL-E9' does not exist in any protocol." in out
    assert "REQ-NEW-001: no verification" in out
