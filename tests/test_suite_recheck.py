"""`suite-verify` offline: a summary that anyone re-sealed with the public formula must still say
what the dossiers it links to say (verdicts, estimates, intervals, the gate, the page, JUnit)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from suite_helpers import FAILING, PASSING, make_suite

from validation.canonical import canonical_json, sha256_hex
from validation.cli import main
from validation.dossier.manifest import MANIFEST_NAME, SEAL_NAME, make_manifest
from validation.suite import run_suite, suite_seal, verify_suite
from validation.suite.page import render_page

RATIONALE = "Exercise the suite runner on small synthetic tables."  # suite_helpers' suite


@pytest.fixture(scope="module")
def failed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished suite run whose gate is not met: TEST-RUN-002/F1 FAILs, F2 is not tested."""
    tmp = tmp_path_factory.mktemp("failed")
    spec, ledger, _ = make_suite(tmp, (PASSING, FAILING))
    run = run_suite(spec, ledger=ledger, root=tmp)
    assert not run.gate.met
    return tmp


def _copy(root: Path, tmp: Path) -> Path:
    shutil.copytree(root, tmp / "run")
    return tmp / "run" / "suite-out" / "summary"


def _reseal(folder: Path, edit: Callable[[dict[str, Any]], None], *, page: bool = True) -> None:
    """A forger's summary: ``edit`` summary.json, write it as the runner does (canonical JSON),
    render its page, and rebuild MANIFEST.json and SEAL with the public formula."""
    summary = json.loads((folder / "summary.json").read_bytes())
    edit(summary)
    raw = canonical_json(summary)
    (folder / "summary.json").write_bytes(raw)
    if page:
        (folder / "index.html").write_bytes(render_page(summary, rationale=RATIONALE))
    _seal_again(folder, summary)


def _seal_again(folder: Path, summary: dict[str, Any]) -> None:
    (folder / MANIFEST_NAME).unlink()
    (folder / SEAL_NAME).unlink()
    raw = (folder / "summary.json").read_bytes()
    manifest = make_manifest(folder, {"summary_sha256": sha256_hex(raw)})
    (folder / MANIFEST_NAME).write_bytes(manifest)
    (folder / SEAL_NAME).write_text(suite_seal(manifest, summary) + "\n")


def _pass_f1(summary: dict[str, Any]) -> None:
    """Make the failed primary endpoint TEST-RUN-002/F1 read PASS, and the gate met with it."""
    for protocol in summary["protocols"]:
        for a in protocol["analyses"]:
            if a["id"] == "F1":
                a.update(verdict="PASS", estimate=0.9995, ci_low=0.9991, reason="ci_low >= 0.999")
    for check in summary["gate"]["checks"]:
        check["verdict"] = "PASS"
    summary["gate"].update(met=True, unmet=[])
    summary["exit_status"] = 0


@pytest.mark.req("REQ-SUITE-001", "REQ-TAMP-001")
def test_a_resealed_summary_that_contradicts_its_dossiers_is_refused(
    failed_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The forger turns F1's FAIL into PASS (estimate, interval, the gate and the page to match)
    and re-seals with the public formula. A verifier that only re-hashes the files, recomputes
    the seal and re-verifies each linked dossier (the wrong version) says OK; the summary must be
    checked against the dossiers' results.json, each disagreement on its own line."""
    folder = _copy(failed_root, tmp_path)
    assert verify_suite(folder).ok, str(verify_suite(folder))  # the genuine summary verifies
    said = json.loads((folder / "summary.json").read_bytes())
    f1 = next(a for p in said["protocols"] for a in p["analyses"] if a["id"] == "F1")
    assert f1["verdict"] == "FAIL"

    _reseal(folder, _pass_f1)
    report = verify_suite(folder)
    assert not report.ok
    lines = [f"{name}: {message}" for name, message in report.problems]
    where = "recomputed from the linked dossiers' results.json"
    for expected in (
        f'summary.json: protocols/TEST-RUN-002/analyses/F1/verdict: says "PASS"; {where}: "FAIL"',
        f"summary.json: protocols/TEST-RUN-002/analyses/F1/estimate: says 0.9995; {where}: "
        f"{f1['estimate']!r}",
        f"summary.json: protocols/TEST-RUN-002/analyses/F1/ci_low: says 0.9991; {where}: "
        f"{f1['ci_low']!r}",
        f"summary.json: gate/met: says true; {where}: false",
        f"summary.json: exit_status: says 0; {where}: 1",
        f'summary.json: gate/checks/TEST-RUN-002/F1/verdict: says "PASS"; {where}: "FAIL"',
    ):
        assert expected in lines, "\n".join(lines)
    assert main(["validate", "suite-verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED:")
    assert '  summary.json: protocols/TEST-RUN-002/analyses/F1/verdict: says "PASS"' in out


@pytest.mark.req("REQ-SUITE-001", "REQ-TAMP-001")
def test_a_resealed_page_or_junit_report_that_is_not_the_summarys_is_refused(
    failed_root: Path, tmp_path: Path
) -> None:
    """summary.json untouched: a page that says the gate is met, or a JUnit report without the
    failure, re-sealed, is named (the wrong version re-hashes them only)."""
    folder = _copy(failed_root, tmp_path)
    summary = json.loads((folder / "summary.json").read_bytes())
    page = folder / "index.html"
    original = page.read_bytes()
    page.write_bytes(original.replace(b"<strong>Gate not met", b"<strong>Gate met"))
    assert page.read_bytes() != original
    _seal_again(folder, summary)
    problems = verify_suite(folder).problems
    assert [name for name, _ in problems] == ["index.html"]
    assert problems[0][1].startswith("is not the page of summary.json: line ")

    # Markup passed off as the rationale (the one part summary.json does not hold) is refused.
    page.write_bytes(original.replace(RATIONALE.encode(), b"<b>All endpoints PASS.</b>"))
    _seal_again(folder, summary)
    assert [name for name, _ in verify_suite(folder).problems] == ["index.html"]
    page.write_bytes(original)
    _seal_again(folder, summary)
    assert verify_suite(folder).ok

    junit = folder / "junit.xml"
    text = junit.read_text()
    assert '<failure message="' in text
    junit.write_text(text.replace('type="FAIL"', 'type="PASS"'))
    _seal_again(folder, summary)
    problems = verify_suite(folder).problems
    assert problems == (
        (
            "junit.xml",
            "is not the JUnit report of the protocols' results (recomputed from the linked "
            "dossiers' results.json)",
        ),
    )


@pytest.mark.req("REQ-SUITE-001")
def test_a_completed_protocol_without_its_dossier_is_refused_and_older_summaries_verify(
    failed_root: Path, tmp_path: Path
) -> None:
    """Dropping the failing protocol's dossier link (so nothing is checked against it) is
    refused: a protocol without a dossier did not complete. A summary written before analyses
    carried ``not_estimable`` (optional in the schema) still verifies."""
    folder = _copy(failed_root, tmp_path)

    def unlink(summary: dict[str, Any]) -> None:
        summary["protocols"][1].update(dossier=None, dossier_seal=None)

    _reseal(folder, unlink)
    lines = [m for name, m in verify_suite(folder).problems if name == "summary.json"]
    assert any(line.startswith('protocols/TEST-RUN-002/status: says "completed"') for line in lines)
    assert any(line.startswith("protocols/TEST-RUN-002/analyses: lists [") for line in lines)

    older = _copy(failed_root, tmp_path / "older")

    def drop_not_estimable(summary: dict[str, Any]) -> None:
        for protocol in summary["protocols"]:
            for a in protocol["analyses"]:
                a.pop("not_estimable", None)

    _reseal(older, drop_not_estimable)
    assert verify_suite(older).ok, str(verify_suite(older))
