"""The runner end to end on small synthetic tables: registration gate, sealed labels, flow,
verdicts, multiplicity, byte-identical results and the ledger record. Every results.json written
here is read back through the typed contract (JSON Schema checked: :func:`validation.results.loads`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from test_runner_helpers import make_tables, protocol_dict, registered, write_protocol

from validation.canonical import sha256_file
from validation.cli import main
from validation.exceptions import RegistrationError
from validation.ledger import Ledger
from validation.protocol import Protocol, amend
from validation.results import Deviation, Results, loads
from validation.runner import RUN_EVENT, run_protocol
from validation.runner import run as run_module

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


def _run(
    tmp: Path, protocol: Path, ledger: Path, pred: Path, labels: Path, out: str = "out"
) -> Any:
    return run_protocol(protocol, labels=labels, ledger=ledger, out_dir=tmp / out, predictions=pred)


def _results(path: Path) -> Results:
    return loads(path.read_bytes(), source=str(path))


# --- the predictions' provenance is verified before it is carried ---------------------------------
def test_a_provenance_file_of_another_table_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """A ``<stem>.provenance.json`` whose ``predictions_sha256`` is not the table's (a predict
    killed between its writes, a table replaced since) would tell the dossier a device and locks
    that did not make the table: the run refuses it, with no results and no ledger entry. Wrong
    version: carrying whatever file sits beside the table."""
    import hashlib
    import json

    from validation.exceptions import RunError

    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    beside = pred.with_name(f"{pred.stem}.provenance.json")
    beside.write_text(json.dumps({"devices": ["cuda:0"], "predictions_sha256": "0" * 64}))
    with Ledger.open(ledger, create=False) as book:
        head = book.head()
    with pytest.raises(RunError, match=r"provenance\.json: describes predictions with sha256 0+"):
        _run(tmp_path, protocol, ledger, pred, labels)
    assert not (tmp_path / "out" / "results.json").exists()
    with Ledger.open(ledger, create=False) as book:
        assert book.head() == head
    table = hashlib.sha256(pred.read_bytes()).hexdigest()
    beside.write_text(json.dumps({"devices": ["cpu"], "predictions_sha256": table}))
    assert _run(tmp_path, protocol, ledger, pred, labels).inputs.predictions_provenance == beside


# --- pre-registration (REQ-PREG-001) ------------------------------------------------------------
@pytest.mark.req("REQ-PREG-001")
def test_unregistered_protocol_is_refused_and_labels_stay_sealed(
    tmp_path: Path, opened: Any
) -> None:
    pred, labels = make_tables(tmp_path)
    protocol = write_protocol(tmp_path / "protocol.yaml", protocol_dict())
    ledger = tmp_path / "ledger.db"
    Ledger.open(ledger).close()  # an empty ledger
    opened.clear()  # record only what the run opens
    with pytest.raises(RegistrationError, match=r"not registered.*her2map protocol register"):
        _run(tmp_path, protocol, ledger, pred, labels)
    assert str(labels.resolve()) not in opened
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.req("REQ-PREG-001")
def test_missing_ledger_says_register(tmp_path: Path, opened: Any) -> None:
    pred, labels = make_tables(tmp_path)
    protocol = write_protocol(tmp_path / "protocol.yaml", protocol_dict())
    opened.clear()
    with pytest.raises(RegistrationError, match="her2map protocol register"):
        _run(tmp_path, protocol, tmp_path / "nowhere.db", pred, labels)
    assert str(labels.resolve()) not in opened
    assert not (tmp_path / "nowhere.db").exists()


@pytest.mark.req("REQ-PREG-001")
def test_silently_changed_protocol_is_refused(tmp_path: Path, opened: Any) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    changed = protocol_dict()
    changed["endpoints"][0]["criterion"] = "ci_low >= 0.55"  # quietly lowered bar
    write_protocol(protocol, changed)
    opened.clear()
    with pytest.raises(RegistrationError, match=r"changed since registration.*amend"):
        _run(tmp_path, protocol, ledger, pred, labels)
    assert str(labels.resolve()) not in opened


@pytest.mark.req("REQ-PREG-001")
def test_labels_are_opened_only_after_the_registration_check(
    tmp_path: Path, opened: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    real = run_module.require_registered

    def spy(*args: Any, **kwargs: Any) -> Any:
        opened.append("<registration check>")
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "require_registered", spy)
    opened.clear()
    _run(tmp_path, protocol, ledger, pred, labels)
    label_opens = [i for i, p in enumerate(opened) if p == str(labels.resolve())]
    assert label_opens, "the labels were never read"
    assert opened.index("<registration check>") < label_opens[0]


@pytest.mark.req("REQ-PREG-001")
def test_amended_protocol_runs_and_the_amendment_is_a_deviation(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    changed = protocol_dict()
    changed["endpoints"][3]["criterion"] = "estimate <= 0.4"
    write_protocol(protocol, changed)
    with Ledger.open(ledger) as book:
        entry = amend(Protocol.from_yaml(protocol), book, actor="qe", reason="ICI bar tightened")
    result = _run(tmp_path, protocol, ledger, pred, labels)
    r = _results(result.results_path)
    assert r.deviations == (
        Deviation(
            "amendment",
            entry.seq,
            entry.entry_hash,
            "ICI bar tightened",
            Protocol.from_yaml(protocol).protocol_hash,
            entry.payload["previous_hash"],
        ),
    )
    assert r.identity.protocol.amendments[0].entry_hash == entry.entry_hash
    assert r.identity.protocol.registration.seq == 1


# --- reproducibility (REQ-REPRO-001) ---------------------------------------------------------
@pytest.mark.req("REQ-REPRO-001")
def test_same_inputs_and_ledger_state_give_identical_bytes(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    twin = tmp_path / "twin"
    twin.mkdir()
    shutil.copy(ledger, twin / "ledger.db")  # the same ledger state for the second run
    for name in ("pred.csv", "labels.csv", "protocol.yaml"):
        shutil.copy(tmp_path / name, twin / name)
    first = _run(tmp_path, protocol, ledger, pred, labels, "out_a")
    second = _run(
        twin, twin / "protocol.yaml", twin / "ledger.db", twin / "pred.csv", twin / "labels.csv"
    )
    data = first.results_path.read_bytes()
    assert data == second.results_path.read_bytes()
    text = data.decode("utf-8")
    assert str(tmp_path) not in text
    assert "/tmp" not in text
    assert first.head_before.seq == 1
    assert first.head_before.entry_hash == _head(ledger, 1)


@pytest.mark.req("REQ-REPRO-001")
def test_other_ledger_entries_between_runs_leave_the_results_byte_identical(
    tmp_path: Path,
) -> None:
    """Acceptance (issue 9): two runs of one registered protocol with other ledger entries between
    them give byte-identical results.json. Wrong version: the ledger head stamped into results."""
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    first = _run(tmp_path, protocol, ledger, pred, labels, "first")
    with Ledger.open(ledger) as book:
        for k in range(3):
            book.append("note.unrelated", {"k": k}, actor="someone else")
    again = _run(tmp_path, protocol, ledger, pred, labels, "again")
    assert again.head_before.seq == first.ledger_entry.seq + 3  # the ledger did move
    assert again.results_path.read_bytes() == first.results_path.read_bytes()
    assert again.ledger_entry.seq == first.ledger_entry.seq + 4  # the re-run is recorded too
    assert "head" not in first.results_path.read_text()


def _head(ledger: Path, seq: int) -> str:
    with Ledger.open(ledger) as book:
        return book.entry(seq).entry_hash


@pytest.mark.req("REQ-REPRO-001", "REQ-AUD-001")
def test_run_is_recorded_in_the_ledger(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    result = _run(tmp_path, protocol, ledger, pred, labels)
    entry = result.ledger_entry
    assert entry.event_type == RUN_EVENT
    assert entry.payload["results_sha256"] == sha256_file(result.results_path)
    assert entry.payload["labels_sha256"] == sha256_file(labels)
    assert entry.payload["predictions_sha256"] == sha256_file(pred)
    assert entry.payload["protocol_hash"] == Protocol.from_yaml(protocol).protocol_hash
    assert entry.payload["inputs"]["labels"] == labels.name  # a name, never a local path
    assert entry.payload["inputs"]["cohort"] is None
    with Ledger.open(ledger) as book:
        assert book.head().seq == entry.seq == 2
        assert book.verify().ok


# --- flow and exclusions (REQ-EXCL-001) --------------------------------------------------------
@pytest.mark.req("REQ-EXCL-001")
def test_every_exclusion_is_counted_with_its_reason(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path, n=60)
    p = pred.read_text().splitlines()
    # line k of the file is patient P{k-1:06d}
    p[2] = p[2].replace(p[2].split(",")[2], "1.5")  # P000002: score outside [0, 1]
    p[3] = ",".join([*p[3].split(",")[:2], "", *p[3].split(",")[3:]])  # P000003: no score
    p.append(p[4])  # P000004 twice
    p.append("X000001,A,0.5,MR")  # not in labels
    del p[10]  # P000010: no prediction
    pred.write_text("\n".join(p) + "\n")
    lab = labels.read_text().splitlines()
    cols = lab[0].split(",")
    ref, age, site = cols.index("reference_her2"), cols.index("age"), cols.index("site")

    def edit(line: int, col: int, value: str) -> None:
        cells = lab[line].split(",")
        cells[col] = value
        lab[line] = ",".join(cells)

    edit(20, ref, "2")  # P000020: label not 0/1
    edit(21, ref, "")  # P000021: no reference (population)
    edit(22, age, "16")  # P000022: under 18 (population)
    edit(30, site, "A")  # P000030: site C in predictions
    labels.write_text("\n".join(lab) + "\n")
    protocol, ledger = registered(tmp_path, protocol_dict(subgroups=[]))
    r = _results(_run(tmp_path, protocol, ledger, pred, labels).results_path)
    flow = r.flow
    counts = {e.reason: e.n for e in flow.exclusions}
    assert counts == {
        "duplicate patient_id in predictions (lines 5, 61)": 1,
        "score outside [0, 1] in predictions": 1,
        "no prediction score": 1,
        "no reference label (in predictions, not in labels)": 1,
        "no model prediction (in labels, not in predictions)": 1,
        "reference_her2 not 0/1 in labels": 1,
        "no reference": 1,
        "under 18": 1,
        "site differs between predictions and labels": 1,
    }
    assert [e.reason for e in flow.exclusions] == sorted(counts)
    assert flow.assessed == 61  # 60 patients + X000001
    assert flow.excluded == 9
    assert flow.analysed == 52 == r.endpoints[0].result.n
    assert sum(s.assessed for s in flow.by_site) == 61
    assert sum(s.analysed for s in flow.by_site) == 52


@pytest.mark.req("REQ-EXCL-001", "REQ-ING-001")
def test_ingest_exclusions_give_the_reason_of_a_missing_prediction(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path, n=40)
    lines = pred.read_text().splitlines()
    pred.write_text("\n".join(line for line in lines if not line.startswith("P000005,")) + "\n")
    (tmp_path / "pred.exclusions.csv").write_text(
        "patient_id,path,reason,tag\nP000005,dicom/x.dcm,not a DICOM file,\n"
    )  # as written by her2map predict beside its predictions table
    protocol, ledger = registered(tmp_path, protocol_dict(subgroups=[]))
    r = _results(_run(tmp_path, protocol, ledger, pred, labels).results_path)
    counts = {e.reason: e.n for e in r.flow.exclusions if e.n}
    assert counts == {"no model prediction (not a DICOM file)": 1}


# --- verdicts, subgroups, multiplicity -----------------------------------------------------------
@pytest.mark.req("REQ-STAT-EDGE")
def test_subgroup_without_positives_is_not_evaluable(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path, negatives_only_site="C")
    protocol, ledger = registered(tmp_path)
    r = _results(_run(tmp_path, protocol, ledger, pred, labels).results_path)
    rows = {row.group: row for row in r.subgroups[0].rows}
    assert rows["C"].n_pos == 0
    assert rows["C"].verdict == "NOT EVALUABLE"
    assert rows["C"].result.reason == "0 positives < 5"
    assert rows["C"].result.estimate is None
    assert rows["A"].verdict in ("PASS", "FAIL")
    het = r.subgroups[0].heterogeneity
    assert het is not None
    assert het.groups == ("A", "B")
    assert het.excluded == ("C: 0 positives < 5",)


@pytest.mark.req("REQ-STAT-MULT")
def test_fixed_sequence_stops_after_a_failure(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    data = protocol_dict()
    data["endpoints"][0]["criterion"] = "ci_low >= 0.999"  # E1 fails
    protocol, ledger = registered(tmp_path, data)
    r = _results(_run(tmp_path, protocol, ledger, pred, labels).results_path)
    by_id = {e.id: e.judgement for e in r.endpoints}
    assert by_id["E1"].verdict == "FAIL"
    assert by_id["E1"].multiplicity.outcome == "not rejected"
    for later in ("E2", "E3"):
        assert by_id[later].multiplicity.outcome == "not tested"
        assert by_id[later].verdict == "NOT EVALUABLE"
        assert (by_id[later].reason or "").startswith(
            "not tested: the fixed sequence stopped at E1"
        )
    assert by_id["S1"].multiplicity.procedure == "none"
    p = [by_id[k].multiplicity.p_value for k in ("E1", "E2", "E3")]
    adjusted = [by_id[k].multiplicity.adjusted_p for k in ("E1", "E2", "E3")]
    assert adjusted == [p[0], max(p[:2]), max(p)]  # running maximum (Westfall & Krishen 2001)


@pytest.mark.req("REQ-STAT-MULT")
def test_all_passing_sequence_rejects_every_hypothesis(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    result = _run(tmp_path, protocol, ledger, pred, labels)
    r = _results(result.results_path)
    outcomes = [e.judgement.multiplicity.outcome for e in r.endpoints[:3]]
    assert outcomes == ["rejected"] * 3
    assert result.verdicts == r.verdicts()
    assert r.summary.verdict == "PASS"
    assert r.summary.primary == ("E1", "E2", "E3")
    assert "S1" in r.summary.secondary
    # sections asked by the endpoints are present; error analysis was not asked for
    assert r.discrimination is not None
    assert r.discrimination.roc is not None
    assert r.discrimination.band is not None
    assert r.discrimination.roc.fpr[0] == 0.0
    assert r.discrimination.roc.tpr[-1] == 1.0
    assert len(r.discrimination.band.sens_low) == 19
    assert r.calibration is not None
    assert r.calibration.bins
    assert r.diagnostic is not None
    assert r.diagnostic.sensitivity.method == "wilson"
    c = r.confusion
    assert c is not None
    assert c.tp + c.fp + c.fn + c.tn == r.flow.analysed
    assert r.error_analysis is None
    assert r.comparisons == ()


@pytest.mark.req("REQ-STAT-MULT")
def test_holm_family_adjusts_p_values(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    data = protocol_dict(
        endpoints=[
            {"id": "H1", "metric": "sensitivity", "criterion": "ci_low >= 0.55", "family": "f"},
            {"id": "H2", "metric": "specificity", "criterion": "ci_low >= 0.55", "family": "f"},
        ],
        subgroups=[],
    )
    protocol, ledger = registered(tmp_path, data)
    r = _results(_run(tmp_path, protocol, ledger, pred, labels).results_path)
    m = [e.judgement.multiplicity for e in r.endpoints]
    assert {x.procedure for x in m} == {"holm"}
    low, high = sorted(x.p_value for x in m if x.p_value is not None)
    expected = {low: min(1.0, 2 * low), high: max(min(1.0, 2 * low), high)}  # Holm, m = 2
    for x in m:
        assert x.p_value is not None
        assert x.adjusted_p == pytest.approx(expected[x.p_value], rel=1e-12)


def test_comparisons_against_biopsy(tmp_path: Path) -> None:
    pred, labels = make_tables(tmp_path)
    data = protocol_dict(
        endpoints=[],
        subgroups=[],
        comparisons=[
            {"id": "C1", "method": "compare_auc", "outcome": "pcr", "criterion": "ci_low >= -0.5",
             "hierarchy": 1},
            {"id": "C2", "method": "mcnemar", "outcome": "reference_her2"},
            {"id": "C3", "method": "kappa", "criterion": "estimate >= 0.2"},
            {"id": "C4", "method": "decision_curve", "outcome": "pcr", "thresholds": [0.1, 0.3]},
        ],
    )  # fmt: skip
    protocol, ledger = registered(tmp_path, data)
    r = _results(_run(tmp_path, protocol, ledger, pred, labels).results_path)
    by_id = {c.id: c for c in r.comparisons}
    diff = by_id["C1"].auc_difference
    assert diff is not None
    assert diff.method == "delong-paired"
    assert diff.estimate == pytest.approx(diff.estimate_a - diff.estimate_b, abs=1e-12)
    assert by_id["C1"].judgement.multiplicity.procedure == "fixed-sequence"
    mc = by_id["C2"].mcnemar
    assert mc is not None
    assert mc.test.method == "mcnemar-exact"
    assert mc.both_right + mc.model_only + mc.comparator_only + mc.both_wrong == by_id["C2"].n
    assert by_id["C2"].judgement.verdict == "INFO"
    assert by_id["C3"].kappa is not None
    assert by_id["C3"].kappa.estimate is not None
    curve = by_id["C4"].decision_curve
    assert curve is not None
    assert curve.treat_none == (0.0, 0.0)
    assert all(c.n == r.flow.analysed for c in r.comparisons)


# --- the command line ----------------------------------------------------------------------------
def test_cli_runs_and_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred, labels = make_tables(tmp_path)
    protocol, ledger = registered(tmp_path)
    args = ["validate", "run", str(protocol), "--predictions", str(pred), "--labels",
            str(labels), "--ledger", str(ledger), "--out", str(tmp_path / "cli")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "E1: PASS" in out
    assert "results.json" in out
    assert "verified" in out
    assert (tmp_path / "cli" / "dossier" / "SEAL").is_file()
    assert (tmp_path / "cli" / "dossier" / "index.html").is_file()
    write_protocol(tmp_path / "other.yaml", protocol_dict(id="TEST-RUN-002"))
    args[2] = str(tmp_path / "other.yaml")
    args[-1] = str(tmp_path / "cli2")
    assert main(args) == 3
    assert "her2map protocol register" in capsys.readouterr().err
    assert not (tmp_path / "cli2").exists()
