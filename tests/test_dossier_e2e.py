"""The dossier of a real run: tiny synthesized cohort (fake patient names and birth dates in its
DICOM), locked model (untrained network, as tests/test_runner_e2e.py: plumbing, not accuracy),
registered protocol, runner, dossier with the seal in the ledger; then verify and reproduce.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from locks import make_lock

from her2map.synth import synth
from validation.canonical import sha256_file
from validation.cli import main
from validation.dossier import SEALED_EVENT, compare_dirs
from validation.exceptions import DossierError
from validation.ledger import Ledger
from validation.pipeline import run_and_seal
from validation.protocol import Protocol, register
from validation.reproduce import reproduce_dossier
from validation.runner import RUN_EVENT

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "HER2-VAL-001.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("dossier_e2e")
    synth(base / "cohort", patients=24, seed=11)
    ledger = base / "ledger.db"
    with Ledger.open(ledger) as book:
        register(Protocol.from_yaml(PROTOCOL), book, actor="qe")
    sealed = run_and_seal(
        PROTOCOL,
        cohort=base / "cohort",
        lock=make_lock(base / "lock", training=["T-0001"], validation=()),
        labels=base / "cohort" / "clinical.csv",
        ledger=ledger,
        out_dir=base / "run",
        trace=ROOT / "traceability.yaml",
    )
    result, dossier = sealed.run, sealed.dossier.directory
    return {
        "base": base,
        "cohort": base / "cohort",
        "ledger": ledger,
        "dossier": dossier,
        "results": result.results_path,
    }


def _identifiers(cohort: Path) -> set[str]:
    """Every PatientName (whole and each component) and PatientBirthDate in the cohort's DICOM."""
    found: set[str] = set()
    for path in sorted((cohort / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        name = str(ds.PatientName)
        found |= {name, *(p for p in name.split("^") if len(p) >= 3)}
        date = str(ds.PatientBirthDate)
        if len(date) == 8:  # DICOM DA: YYYYMMDD; also look for its ISO spelling
            found |= {date, f"{date[:4]}-{date[4:6]}-{date[6:]}"}
    return {v for v in found if v}


@pytest.mark.slow
@pytest.mark.req("REQ-PHI-001")
def test_no_patient_name_or_birth_date_in_any_file(run: dict[str, Path]) -> None:
    identifiers = _identifiers(run["cohort"])
    # The synthetic cohort does carry fake names and birth dates (24 patients, >= 1 of each).
    assert len([v for v in identifiers if v.isdigit() and len(v) == 8]) >= 12
    assert len(identifiers) >= 24
    leaks = []
    for path in sorted(run["dossier"].rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            leaks += [(path.name, v) for v in identifiers if v.encode() in data]
    assert leaks == []


@pytest.mark.slow
@pytest.mark.req("REQ-REPRO-001")
def test_fresh_dossier_verifies_and_reproduces(run: dict[str, Path]) -> None:
    assert main(["dossier", "verify", str(run["dossier"]), "--ledger", str(run["ledger"])]) == 0
    with Ledger.open(run["ledger"], create=False) as book:
        before = [(e.seq, e.event_type) for e in book.entries()]
    report = reproduce_dossier(run["dossier"], ledger=run["ledger"])
    assert report.ok, str(report)
    assert report.differences == ()
    with Ledger.open(run["ledger"], create=False) as book:
        after = [(e.seq, e.event_type) for e in book.entries()]
        assert book.verify().ok
    assert after == before  # reproducing writes nothing to the ledger
    assert [t for _, t in before] == ["protocol.registered", RUN_EVENT, SEALED_EVENT]
    provenance = json.loads((run["dossier"] / "provenance.json").read_bytes())
    assert provenance["run_entry"]["seq"] == 2
    assert provenance["ledger_head_before_run"]["seq"] == 1


@pytest.mark.slow
def test_dossier_carries_the_device_that_scored(run: dict[str, Path]) -> None:
    """The predictions' provenance file (device, locks) is sealed in the dossier beside the
    table. Wrong version: a dossier that carries the table and its exclusions only."""
    carried = run["dossier"] / "inputs" / "predictions" / "predictions.provenance.json"
    record = json.loads(carried.read_bytes())
    assert record["devices"] == ["cpu"]
    results = json.loads(run["results"].read_bytes())
    assert record["model_lock"] == results["identity"]["model"]["lock_hash"]
    assert (
        carried.read_bytes() == (run["base"] / "run" / "predictions.provenance.json").read_bytes()
    )


@pytest.mark.slow
@pytest.mark.req("REQ-REPRO-001")
def test_copied_dossier_reproduces_alone_with_the_originals_gone(
    run: dict[str, Path], tmp_path: Path
) -> None:
    """Acceptance (issue 9): a sealed dossier copied alone to another folder, with the original
    inputs gone, reproduces byte for byte. Wrong version: reproduce reading absolute input paths
    from the ledger."""
    copy = tmp_path / "elsewhere" / "dossier"
    shutil.copytree(run["dossier"], copy)
    hidden = tmp_path / "hidden"
    shutil.move(run["base"] / "run", hidden)  # predictions and results of the run: gone
    labels = run["cohort"] / "clinical.csv"
    saved = labels.read_bytes()
    labels.unlink()
    try:
        report = reproduce_dossier(copy)
        assert report.ok, str(report)
        assert main(["dossier", "reproduce", str(copy)]) == 0
    finally:
        labels.write_bytes(saved)
        shutil.move(hidden, run["base"] / "run")
    names = {p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()}
    assert {"inputs/protocol/HER2-VAL-001.yaml", "inputs/labels/clinical.csv"} <= names
    assert "inputs/predictions/predictions.csv" in names


@pytest.mark.slow
def test_reproduce_names_an_altered_input_and_a_foreign_ledger(
    run: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run["dossier"], copy)
    carried = copy / "inputs" / "labels" / "clinical.csv"
    carried.write_bytes(carried.read_bytes().replace(b"\n", b"\r\n", 1))
    with pytest.raises(DossierError, match=r"(?s)does not verify.*inputs/labels/clinical.csv"):
        reproduce_dossier(copy)
    other = tmp_path / "other.db"
    with Ledger.open(other):
        pass
    with pytest.raises(DossierError, match=r"entry 2 has hash None.*not recorded in that ledger"):
        reproduce_dossier(run["dossier"], ledger=other)
    assert main(["dossier", "reproduce", str(run["dossier"]), "--ledger", str(other)]) == 2


@pytest.mark.slow
def test_tampered_dossier_is_not_reproduced_and_diffs_are_named(
    run: dict[str, Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run["dossier"], copy)
    assert compare_dirs(run["dossier"], copy) == []
    html = copy / "index.html"
    html.write_bytes(html.read_bytes().replace(b"<main>", b"<main> ", 1))
    assert [d[0] for d in compare_dirs(run["dossier"], copy)] == ["index.html"]
    with pytest.raises(DossierError, match=r"does not verify, so it is not reproduced"):
        reproduce_dossier(copy, ledger=run["ledger"])
    results = json.loads(run["results"].read_bytes())
    assert sha256_file(copy / "results.json") == sha256_file(run["results"])
    assert results["identity"]["model"]["name"] == "test-model"
    assert results["identity"]["model"]["kind"] == "locked"
