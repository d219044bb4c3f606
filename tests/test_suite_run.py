"""`her2map validate suite` end to end on small tables: refusals before labels, one predictions
table for every protocol, a failed protocol reported and passed over, the gate and the exit
status, the sealed summary and its verification, same inputs -> same bytes."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from suite_helpers import FAILING, NOT_RUNNABLE, PASSING, make_suite, write_suite
from test_runner_helpers import protocol_dict, write_protocol

from validation.canonical import canonical_json, sha256_file, sha256_hex
from validation.cli import main
from validation.dossier import build_dossier, verify_dossier
from validation.dossier.manifest import make_manifest
from validation.exceptions import RegistrationError, SuiteError, TamperError
from validation.ledger import Ledger
from validation.suite import (
    SUITE_RUN_EVENT,
    Gate,
    GatePolicy,
    evaluate_gate,
    read_outcome,
    run_suite,
    verify_suite,
)
from validation.suite.page import render_page

REPO = Path(__file__).resolve().parents[1]

# --- an audit hook that records file opens while a test switches it on -----------------------
_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _OPENED is not None and event == "open" and args and isinstance(args[0], str | Path):
        _OPENED.append(str(Path(args[0]).resolve()))


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Any:
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def _run(tmp: Path, spec: Path, ledger: Path, **kwargs: Any) -> Any:
    return run_suite(spec, ledger=ledger, root=tmp, **kwargs)


# --- refusals before any label is read (REQ-SUITE-001, REQ-PREG-001) -------------------------
@pytest.mark.req("REQ-SUITE-001", "REQ-PREG-001")
def test_a_changed_protocol_inside_a_registered_suite_is_refused_before_labels(
    tmp_path: Path, opened: list[str]
) -> None:
    spec, ledger, labels = make_suite(tmp_path)
    opened.clear()  # writing the test tables opened them; the run starts now
    write_protocol(tmp_path / "protocol-2.yaml", protocol_dict(**{**FAILING, "confidence": 0.9}))
    opened.clear()
    with pytest.raises(SuiteError, match=r"protocol TEST-RUN-002 changed inside the suite"):
        _run(tmp_path, spec, ledger)
    assert str(labels.resolve()) not in opened
    assert not (tmp_path / "suite-out").exists()


@pytest.mark.req("REQ-SUITE-001", "REQ-PREG-001")
def test_an_unregistered_suite_is_refused_before_labels(tmp_path: Path, opened: list[str]) -> None:
    spec, ledger, labels = make_suite(tmp_path, register_suite_too=False)
    opened.clear()  # writing the test tables opened them; the run starts now
    with pytest.raises(RegistrationError, match=r"suite TEST-SUITE-001 .*is not registered"):
        _run(tmp_path, spec, ledger)
    assert str(labels.resolve()) not in opened
    assert not (tmp_path / "suite-out").exists()


@pytest.mark.req("REQ-SUITE-001", "REQ-PREG-001")
def test_a_changed_suite_is_refused_before_labels(tmp_path: Path, opened: list[str]) -> None:
    spec, ledger, labels = make_suite(tmp_path)
    opened.clear()  # writing the test tables opened them; the run starts now
    data = yaml.safe_load(spec.read_text())
    data["gate"] = {"policy": "listed", "analyses": ["TEST-RUN-001/E1"]}
    write_suite(spec, data)
    opened.clear()
    with pytest.raises(RegistrationError, match=r"suite TEST-SUITE-001 .*changed since regist"):
        _run(tmp_path, spec, ledger)
    assert str(labels.resolve()) not in opened


@pytest.mark.req("REQ-SUITE-001", "REQ-PREG-001")
def test_an_unregistered_protocol_of_a_registered_suite_is_refused_before_labels(
    tmp_path: Path, opened: list[str]
) -> None:
    spec, ledger, labels = make_suite(tmp_path, register_protocols=False)
    opened.clear()  # writing the test tables opened them; the run starts now
    with pytest.raises(RegistrationError, match=r"protocol TEST-RUN-001 .*is not registered"):
        _run(tmp_path, spec, ledger)
    assert str(labels.resolve()) not in opened


def test_usage_errors_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    spec, ledger, labels = make_suite(tmp_path)
    with pytest.raises(RegistrationError, match=r"ledger .*nowhere\.db does not exist"):
        _run(tmp_path, spec, tmp_path / "nowhere.db")
    labels.rename(tmp_path / "moved.csv")
    with pytest.raises(SuiteError, match=r"data\.labels: no file .*labels\.csv \(paths of data"):
        _run(tmp_path, spec, ledger)
    assert not (tmp_path / "suite-out").exists()
    (tmp_path / "moved.csv").rename(labels)
    (tmp_path / "suite-out").mkdir()
    with pytest.raises(SuiteError, match=r"output folder .*suite-out already exists"):
        _run(tmp_path, spec, ledger)


@pytest.mark.req("REQ-SUITE-001")
def test_a_tampered_ledger_is_refused(tmp_path: Path) -> None:
    import sqlite3

    spec, ledger, _ = make_suite(tmp_path)
    with sqlite3.connect(ledger) as conn:  # an attacker with file access drops the guard
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 1")
    with pytest.raises(TamperError, match=r"entry 1"):
        _run(tmp_path, spec, ledger)


# --- a run ----------------------------------------------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
def test_every_protocol_reads_the_same_predictions_and_a_failed_one_is_passed_over(
    tmp_path: Path,
) -> None:
    spec, ledger, _ = make_suite(tmp_path, (PASSING, NOT_RUNNABLE, FAILING))
    lines: list[str] = []
    result = _run(tmp_path, spec, ledger, say=lines.append)
    assert [r.protocol_id for r in result.runs] == ["TEST-RUN-001", "TEST-RUN-003", "TEST-RUN-002"]
    broken = result.runs[1]
    assert broken.outcome is None
    assert "takes its decision threshold from the model lock" in str(broken.error)
    assert "[2/3] TEST-RUN-003: ERROR" in lines
    digest = sha256_file(tmp_path / "pred.csv")
    assert result.predictions == tmp_path / "pred.csv"
    for run in (result.runs[0], result.runs[2]):
        results = tmp_path / "suite-out" / run.protocol_id / "results.json"
        assert (
            json.loads(results.read_bytes())["identity"]["data"]["predictions"]["sha256"] == digest
        )
        assert verify_dossier(tmp_path / "suite-out" / run.protocol_id / "dossier").ok
        assert run.dossier == f"{run.protocol_id}/dossier/index.html"
    # The gate: TEST-RUN-003 did not complete and TEST-RUN-002/F1 failed.
    assert not result.gate.met
    assert result.exit_status == 1
    assert result.gate.unmet == (
        "TEST-RUN-003: the protocol did not complete",
        "TEST-RUN-002/F1: FAIL",
        "TEST-RUN-002/F2: NOT EVALUABLE",
    )
    summary = json.loads((result.summary_dir / "summary.json").read_bytes())
    assert summary["identity"]["data_sha256"]["predictions"] == digest
    assert summary["identity"]["data_sha256"]["labels"] == sha256_file(tmp_path / "labels.csv")
    assert [p["status"] for p in summary["protocols"]] == ["completed", "error", "completed"]
    assert summary["counts"]["ERROR"] == 1
    assert summary["exit_status"] == 1
    with Ledger.open(ledger, create=False) as book:
        entries = list(book.entries(event_type=SUITE_RUN_EVENT))
        head = summary["identity"]["ledger"]
        assert book.entry(head["head_seq"]).entry_hash == head["head_hash"]
    assert len(entries) == 1
    assert entries[0].payload["seal"] == result.seal
    assert entries[0].payload["gate_met"] is False
    assert entries[0].payload["dossier_seals"]["TEST-RUN-003"] is None
    with Ledger.open(ledger, create=False) as book:
        registered = list(book.entries(event_type="suite.registered"))
    assert head["head_seq"] == registered[0].seq  # the head the registrations were checked at


@pytest.mark.req("REQ-SUITE-001")
def test_gate_policies_over_one_run(tmp_path: Path) -> None:
    """The same results meet a gate listing passing analyses, miss one listing a failing one,
    and miss every-primary-pass: a wrong version that gated on every primary analysis whatever
    the list would miss the first; one that ignored the list would meet the second."""
    gate = {"policy": "listed", "analyses": ["TEST-RUN-001/E1", "TEST-RUN-001/G1"]}
    spec, ledger, _ = make_suite(tmp_path, gate=gate)
    met = _run(tmp_path, spec, ledger)
    assert met.gate.met
    assert met.exit_status == 0
    assert [c.name for c in met.gate.checks] == gate["analyses"]

    ids = tuple(r.protocol_id for r in met.runs)
    outcomes = {r.protocol_id: r.outcome for r in met.runs}
    listed = Gate(GatePolicy.LISTED, ("TEST-RUN-001/E1", "TEST-RUN-002/F1"))
    assert evaluate_gate(listed, ids, outcomes).unmet == ("TEST-RUN-002/F1: FAIL",)
    only_first = {"TEST-RUN-001": outcomes["TEST-RUN-001"]}  # as if TEST-RUN-002 had failed
    assert evaluate_gate(listed, ids, only_first).unmet == (
        "TEST-RUN-002: the protocol did not complete",
        "TEST-RUN-002/F1: ERROR",
    )
    unlisted = Gate(GatePolicy.LISTED, ("TEST-RUN-001/E1",))
    assert evaluate_gate(unlisted, ids, only_first).met  # a listed gate asks only for its list
    primary = evaluate_gate(Gate(GatePolicy.EVERY_PRIMARY_PASS), ids, outcomes)
    assert [c.name for c in primary.checks] == [
        "TEST-RUN-001/E1",
        "TEST-RUN-001/E2",
        "TEST-RUN-001/E3",
        "TEST-RUN-002/F1",
        "TEST-RUN-002/F2",
    ]  # S1, G1 (no hierarchy or family) and F3 are secondary
    assert primary.unmet == ("TEST-RUN-002/F1: FAIL", "TEST-RUN-002/F2: NOT EVALUABLE")
    assert evaluate_gate(Gate(GatePolicy.EVERY_PRIMARY_PASS), ids[:1], outcomes).met
    e1 = outcomes["TEST-RUN-001"].analysis("E1")
    assert e1.ci_low is not None
    assert e1.ci_low <= e1.estimate <= e1.ci_high
    assert outcomes["TEST-RUN-001"].confidence == 0.95


# --- exit status (documented: 0 met, 1 not met, 2 usage or refusal) ----------------------------
@pytest.mark.req("REQ-SUITE-001")
@pytest.mark.parametrize(
    ("variants", "status", "terminal"),
    [((PASSING,), 0, True), ((PASSING, FAILING), 1, False)],
)
def test_exit_status_follows_the_gate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variants: tuple[dict[str, Any], ...],
    status: int,
    terminal: bool,
) -> None:
    _, ledger, _ = make_suite(tmp_path, variants)
    monkeypatch.chdir(tmp_path)  # no traceability.yaml here: dossiers without the matrix
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    argv = ["validate", "suite", "suite.yaml", "--ledger", "ledger.db"]
    assert main(argv) == status
    captured = capsys.readouterr()
    if terminal:
        assert "[1/1] TEST-RUN-001: running" in captured.err
        assert "[1/1] TEST-RUN-001: sealed" in captured.err
    else:
        assert captured.err == ""  # progress is quiet off a terminal
    assert "TEST-RUN-001/E1: PASS" in captured.out
    assert ("gate every-primary-pass: MET" in captured.out) == (status == 0)
    if status == 1:
        assert "NOT MET (TEST-RUN-002/F1: FAIL; TEST-RUN-002/F2: NOT EVALUABLE)" in captured.out
    summary = tmp_path / "suite-out" / "summary"
    assert main(["validate", "suite-verify", str(summary), "--ledger", str(ledger)]) == 0
    Ledger.open(tmp_path / "other.db").close()
    assert main(["validate", "suite-verify", str(summary), "--ledger", "other.db"]) == 1
    assert "NOT RECORDED: ledger" in capsys.readouterr().out
    # a second run into the same output is refused: status 2, nothing overwritten
    before = sha256_file(summary / "SEAL")
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert sha256_file(summary / "SEAL") == before


@pytest.mark.req("REQ-SUITE-001")
def test_exit_status_2_on_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, ledger, _ = make_suite(tmp_path, register_suite_too=False)
    argv = ["validate", "suite", str(spec), "--ledger", str(ledger), "--root", str(tmp_path)]
    assert main(argv) == 2
    assert "her2map validate suite: error: suite TEST-SUITE-001" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["validate", "suite", str(spec)])  # --ledger missing
    assert usage.value.code == 2


@pytest.fixture(scope="module")
def sealed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-protocol suite run (tests copy it before they tamper with it)."""
    tmp = tmp_path_factory.mktemp("sealed")
    spec, ledger, _ = make_suite(tmp, (PASSING,))
    _run(tmp, spec, ledger)
    return tmp


def _copy(root: Path, tmp: Path) -> Path:
    shutil.copytree(root, tmp / "run")
    return tmp / "run" / "suite-out" / "summary"


# --- sealed summary: verify, tamper, reproduce ------------------------------------------------
@pytest.mark.req("REQ-SUITE-001", "REQ-TAMP-001")
def test_the_summary_is_sealed_and_tampering_is_named(sealed_root: Path, tmp_path: Path) -> None:
    folder = _copy(sealed_root, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "MANIFEST.json",
        "SEAL",
        "index.html",
        "junit.xml",
        "summary.json",
    ]
    report = verify_suite(folder)
    assert report.ok, str(report)
    assert report.seal == (folder / "SEAL").read_text().strip()

    page = folder / "index.html"
    original = page.read_bytes()
    edited = original.replace(b"<strong>Gate met", b"<strong>Gate not met")
    assert edited != original
    page.write_bytes(edited)
    assert [name for name, _ in verify_suite(folder).problems] == ["index.html"]
    page.write_bytes(original)

    # A dossier the summary links to is re-verified and its seal compared.
    dossier_page = folder.parent / "TEST-RUN-001" / "dossier" / "index.html"
    dossier_page.write_bytes(dossier_page.read_bytes() + b"<!-- edited -->")
    problems = verify_suite(folder).problems
    assert [name for name, _ in problems] == ["../TEST-RUN-001/dossier"]
    assert "does not verify (index.html: changed" in problems[0][1]
    # ... and a dossier that verifies but is not the one sealed into the summary is named too.
    dossier = dossier_page.parent
    build_dossier(dossier.parent / "results.json", dossier, trace=REPO / "traceability.yaml",
                  force=True)  # fmt: skip
    assert verify_dossier(dossier).ok
    problems = verify_suite(folder).problems
    assert [name for name, _ in problems] == ["../TEST-RUN-001/dossier"]
    assert re.search(
        r"SEAL [0-9a-f]{64} is not the [0-9a-f]{64} the summary records", problems[0][1]
    )
    dossier.rename(dossier.with_name("moved"))
    assert verify_suite(folder).problems == (
        ("../TEST-RUN-001/dossier", "missing (the summary links to it)"),
    )

    summary = folder / "summary.json"
    data = json.loads(summary.read_bytes())
    data["gate"]["met"] = True
    summary.write_text(json.dumps(data))
    names = [name for name, _ in verify_suite(folder).problems]
    assert "summary.json" in names
    (folder / "extra.txt").write_text("x")
    assert "extra.txt" in [name for name, _ in verify_suite(folder).problems]
    summary.write_text("{not json")
    messages = [m for name, m in verify_suite(folder).problems if name == "summary.json"]
    assert any(m.startswith("cannot recompute the seal from it") for m in messages)
    assert main(["validate", "suite-verify", str(folder)]) == 1
    with pytest.raises(SuiteError, match=r"not a suite summary folder"):
        verify_suite(folder.parent)


@pytest.mark.req("REQ-SUITE-001")
def test_a_summary_whose_seal_does_not_bind_its_summary_is_refused(
    sealed_root: Path, tmp_path: Path
) -> None:
    """Re-sealing the files (a consistent MANIFEST.json) after editing summary.json still fails:
    the SEAL binds the suite hash, data hashes and dossier seals from summary.json."""
    folder = _copy(sealed_root, tmp_path)
    summary = json.loads((folder / "summary.json").read_bytes())
    summary["identity"]["data_sha256"]["labels"] = "0" * 64
    raw = canonical_json(summary)
    (folder / "summary.json").write_bytes(raw)
    (folder / "MANIFEST.json").write_bytes(
        make_manifest(folder, {"summary_sha256": sha256_hex(raw)})
    )
    problems = verify_suite(folder).problems
    assert [name for name, _ in problems] == ["SEAL"]
    assert "recomputed from MANIFEST.json and summary.json" in problems[0][1]


@pytest.mark.req("REQ-SUITE-001", "REQ-REPRO-001")
def test_same_inputs_give_the_same_summary_bytes_but_for_the_dossier_seals(tmp_path: Path) -> None:
    """Same suite, data and ledger state (a copy of the ledger): the same results and summary
    bytes, except each dossier's seal -- a dossier carries its run's ledger entry, whose time
    differs -- which the summary binds. The page is a pure function of summary.json."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    make_suite(first, (PASSING,))
    shutil.copytree(first, second)
    a = _run(first, first / "suite.yaml", first / "ledger.db")
    b = _run(second, second / "suite.yaml", second / "ledger.db")
    out_a, out_b = a.summary_dir.parent, b.summary_dir.parent
    rel = "TEST-RUN-001/results.json"
    assert (out_a / rel).read_bytes() == (out_b / rel).read_bytes()
    seal_a, seal_b = a.runs[0].dossier_seal, b.runs[0].dossier_seal
    assert seal_a != seal_b
    for name in ("summary.json", "junit.xml", "index.html"):
        text_a = (
            (a.summary_dir / name).read_text().replace(seal_a, "SEAL").replace(seal_a[:16], "S")
        )
        text_b = (
            (b.summary_dir / name).read_text().replace(seal_b, "SEAL").replace(seal_b[:16], "S")
        )
        assert text_a == text_b, name
    summary = json.loads((a.summary_dir / "summary.json").read_bytes())
    rationale = "Exercise the suite runner on small synthetic tables."
    assert render_page(summary, rationale=rationale) == (a.summary_dir / "index.html").read_bytes()


def test_the_outcome_adapter_names_what_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text('{"identity": {}}')
    with pytest.raises(
        SuiteError, match=r"cannot read the run's results: .*results\.json: key 'format' must be"
    ):
        read_outcome(bad)
    with pytest.raises(SuiteError, match=r"cannot read the run's results"):
        read_outcome(tmp_path / "none.json")


def test_a_lock_file_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    spec, ledger, _ = make_suite(tmp_path, (PASSING,), lock="locks/missing.json")
    with pytest.raises(SuiteError, match=r"lock: no file .*locks/missing\.json"):
        _run(tmp_path, spec, ledger)
    assert not (tmp_path / "suite-out").exists()
