"""The submission package: built from sealed dossiers, verified offline with public keys only."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from validation.canonical import canonical_json
from validation.cli import main
from validation.dossier import build_dossier
from validation.exceptions import SubmissionError
from validation.ledger import Ledger
from validation.ledger.note import SignerKey, generate_key
from validation.ledger.witness import STATE_ENV
from validation.signing import register_key, sign_dossier
from validation.submission import build_submission, cyclonedx_sbom, verify_submission

ROOT = Path(__file__).resolve().parents[1]
cyclonedx = pytest.importorskip("cyclonedx.validation.json")


def _key_file(path: Path, key: SignerKey) -> Path:
    path.write_text(f"{key}\n")
    path.chmod(0o600)
    Path(f"{path}.pub").write_text(f"{key.verifier}\n")
    return path


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, runner_run: Any) -> dict[str, Any]:
    """Two dossiers written from runner results: TEST-RUN-001 (conftest ``runner_run``, external
    model) and TEST-RUN-002 (run here with a test lock), packaged and signed."""
    from locks import make_lock
    from test_runner_helpers import copy_run_ledger, make_tables, protocol_dict, write_protocol

    from validation.protocol import Protocol, register
    from validation.runner import run_protocol

    base = tmp_path_factory.mktemp("submission")
    first = runner_run(0.95)
    pred, labels = make_tables(base)
    (base / "p2").mkdir()
    # both runs recorded in one ledger (a dossier is sealed only where its run is recorded)
    ledger = copy_run_ledger(first, base / "ledger.db")
    protocol = write_protocol(base / "p2" / "protocol.yaml", protocol_dict(id="TEST-RUN-002"))
    with Ledger.open(ledger) as book:
        register(Protocol.from_yaml(protocol), book, actor="qe")
    lock = make_lock(base / "lock", training=["T-0001"], validation=())
    second = run_protocol(
        protocol,
        labels=labels,
        ledger=ledger,
        out_dir=base / "run2",
        predictions=pred,
        lock=lock,
    )
    log, alice, bob = generate_key("her2map.test/log"), generate_key("alice"), generate_key("bob")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STATE_ENV, str(base / "state"))
        build_dossier(first.results_path, base / "d1", ledger=ledger)
        build_dossier(second.results_path, base / "d2", ledger=ledger)
        register_key(ledger, alice.verifier, printed_name="Alice Smith", actor="admin")
        register_key(ledger, bob.verifier, printed_name="Bob Jones", actor="admin")
        sign_dossier(
            base / "d1", meaning="authored", key=alice, printed_name="Alice Smith", ledger=ledger
        )
        built = build_submission(
            [base / "d1", base / "d2"],
            base / "pkg",
            ledger=ledger,
            log_key=log,
            title="HER2 MAP performance testing",
            trace=ROOT / "traceability.yaml",
        )
        sign_dossier(
            base / "pkg",
            meaning="approved",
            key=bob,
            printed_name="Bob Jones",
            ledger=ledger,
            log_key=log,
        )
    _key_file(base / "log.key", log)
    return {
        "base": base,
        "pkg": base / "pkg",
        "ledger": ledger,
        "log": log,
        "alice": alice,
        "bob": bob,
        "built": built,
        "runs": {"TEST-RUN-001": first, "TEST-RUN-002": second},
    }


def test_summary_rows_come_from_the_dossiers(package: dict[str, Any]) -> None:
    pkg = package["pkg"]
    summary = json.loads((pkg / "summary.json").read_text())
    rows = {r["protocol"]: r for r in summary["rows"]}
    html = (pkg / "summary.html").read_text()
    for pid, run in package["runs"].items():
        primary = next(e for e in run.results.endpoints if e.judgement.hierarchy == 1)
        row = rows[pid]
        assert row["endpoint"] == primary.id
        assert row["estimate"] == primary.result.estimate
        assert row["ci_low"] == primary.result.ci_low
        assert row["verdict"] == primary.judgement.verdict
        r = primary.result
        shown = f"{r.estimate:.3f} ({r.ci_low:.3f}–{r.ci_high:.3f}; 95% CI, {r.method}, n={r.n})"
        assert shown in html
    cards = sorted(p.name for p in (pkg / "model-cards").iterdir())
    model = package["runs"]["TEST-RUN-002"].results.identity.model
    assert cards == [f"test-model-0.0.1-{model.lock_hash[:12]}.html"]  # none for external
    card = (pkg / "model-cards" / cards[0]).read_text()
    assert model.lock_hash in card
    assert "TEST-RUN-002" in card
    assert "TEST-RUN-001" not in card


def test_traceability_matrix_names_each_endpoints_verdict(package: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO((package["pkg"] / "traceability.csv").read_text())))
    by_endpoint = {r["endpoint"]: r["verdict"] for r in rows}
    assert by_endpoint["HER2-VAL-001/VAL-E1"] == "not in this package"
    assert any(r["requirement"] == "REQ-SIG-001" for r in rows)
    verdicts = {r["requirement"]: r["verdict"] for r in rows if not r["endpoint"]}
    assert verdicts["REQ-SIG-001"].startswith("no protocol endpoint")


def test_sbom_is_valid_cyclonedx_1_5_and_lists_the_environment_and_model(
    package: dict[str, Any],
) -> None:
    from cyclonedx.schema import SchemaVersion

    pkg = package["pkg"]
    text = (pkg / "sbom.cdx.json").read_text()
    assert cyclonedx.JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    sbom = json.loads(text)
    purls = {c.get("purl") for c in sbom["components"]}
    from importlib.metadata import version

    assert f"pkg:pypi/cryptography@{version('cryptography')}" in purls
    model = next(c for c in sbom["components"] if c["type"] == "machine-learning-model")
    lock = package["runs"]["TEST-RUN-002"].results.identity.model.lock_hash
    assert model["hashes"][0]["content"] == lock
    assert cyclonedx_sbom(packages={"a": "1"}) == cyclonedx_sbom(packages={"a": "1"})
    assert cyclonedx_sbom(packages={"a": "1"}) != cyclonedx_sbom(packages={"a": "2"})


@pytest.mark.req("REQ-SIG-001")
def test_package_verifies_offline_with_only_the_log_key(package: dict[str, Any]) -> None:
    log = package["log"]
    assert isinstance(log, SignerKey)
    results = verify_submission(package["pkg"], log_keys=[log.verifier])
    assert all(r.ok for r in results), "\n".join(map(str, results))
    package_result, d1, d2 = results
    assert [s.printed_name for s in package_result.signatures] == ["Bob Jones"]
    assert [s.meaning for s in d1.signatures] == ["authored"]
    assert d2.signatures == ()


@pytest.mark.req("REQ-LOG-002")
def test_edited_or_resealed_package_is_refused(package: dict[str, Any], tmp_path: Path) -> None:
    log = package["log"]
    assert isinstance(log, SignerKey)
    copy = tmp_path / "pkg"
    shutil.copytree(package["pkg"], copy)
    target = copy / "dossiers" / "TEST-RUN-002" / "index.html"
    target.write_text(target.read_text().replace("PASS", "FAIL", 1))
    assert target.read_bytes() != (package["base"] / "d2" / "index.html").read_bytes()
    results = verify_submission(copy, log_keys=[log.verifier])
    text = "\n".join(map(str, results))
    assert "dossiers/TEST-RUN-002/index.html" in text
    # the insider now re-seals the edited dossier and the package with the documented formulas
    from validation.dossier.manifest import make_manifest, seal_of
    from validation.results import loads
    from validation.submission.package import _package_seal

    inner = copy / "dossiers" / "TEST-RUN-002"
    manifest = make_manifest(inner, json.loads((inner / "MANIFEST.json").read_text())["inputs"])
    (inner / "MANIFEST.json").write_bytes(manifest)
    new_seal = seal_of(manifest, loads((inner / "results.json").read_bytes()))
    (inner / "SEAL").write_text(new_seal + "\n")
    marker = json.loads((copy / "submission.json").read_text())
    marker["dossiers"]["TEST-RUN-002"] = new_seal
    (copy / "submission.json").write_bytes(canonical_json(marker))
    outer = make_manifest(
        copy,
        {"traceability_sha256": None} | json.loads((copy / "MANIFEST.json").read_text())["inputs"],
    )
    (copy / "MANIFEST.json").write_bytes(outer)
    (copy / "SEAL").write_text(_package_seal(outer, marker["dossiers"]) + "\n")
    results = verify_submission(copy, log_keys=[log.verifier])
    text = "\n".join(map(str, results))
    assert results[0].problems, text
    assert "no sealing entry for SEAL" in text  # neither new seal is in the signed log
    assert "not this dossier's SEAL" in text  # Bob's approval was over the old package SEAL
    text = "\n".join(map(str, verify_submission(copy, ledger=package["ledger"])))
    assert f"no sealing entry records SEAL {results[0].seal}" in text  # nor in the ledger


def test_cli_reviewer_path_and_refusals(
    package: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = package["base"]
    assert isinstance(base, Path)
    pub = f"{base / 'log.key'}.pub"
    assert main(["submission", "verify", str(package["pkg"]), "--log-keys", pub]) == 0
    out = capsys.readouterr().out
    assert out.count("OK: SEAL") == 3
    assert "signed: Bob Jones (bob), approved" in out
    assert main(["submission", "verify", str(package["pkg"])]) == 1
    with pytest.raises(SubmissionError, match="already exists"):
        build_submission([base / "d1"], package["pkg"], ledger=package["ledger"], title="x")
    unrecorded = tmp_path / "d3"
    build_dossier(package["runs"]["TEST-RUN-001"].results_path, unrecorded, force=False)
    (unrecorded / "index.html").write_text("<html>edited</html>")
    from validation.dossier.manifest import make_manifest, seal_of
    from validation.results import loads

    inputs = json.loads((unrecorded / "MANIFEST.json").read_text())["inputs"]
    manifest = make_manifest(unrecorded, inputs)
    (unrecorded / "MANIFEST.json").write_bytes(manifest)
    results = loads((unrecorded / "results.json").read_bytes())
    (unrecorded / "SEAL").write_text(seal_of(manifest, results) + "\n")  # valid, unrecorded
    with pytest.raises(SubmissionError, match="not recorded in ledger"):
        build_submission([unrecorded], tmp_path / "p", ledger=package["ledger"], title="x")
    code = main(
        [
            "submission",
            "build",
            "--dossier",
            str(base / "d1"),
            "--dossier",
            str(base / "d1"),
            "--out",
            str(tmp_path / "p2"),
            "--ledger",
            str(package["ledger"]),
            "--title",
            "t",
        ]
    )
    assert code == 2
    assert "already in the package" in capsys.readouterr().err
    assert not (tmp_path / "p2").exists()


@pytest.mark.req("REQ-SIG-001")
def test_stripped_package_signature_is_refused_offline_and_with_the_ledger(
    package: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tester's forgery: Bob's record deleted, the page rewritten to name Carol King. The
    wrong version checked the page only against records that exist: "OK ... 0 signature(s)"."""
    copy = tmp_path / "p7"
    shutil.copytree(package["pkg"], copy)
    (record,) = (copy / "signatures").glob("*-approved.json")
    record.unlink()
    page = copy / "signatures" / "index.html"
    page.write_text(page.read_text().replace("Bob Jones", "Carol King (Chief Medical Officer)"))
    log = package["log"]
    assert isinstance(log, SignerKey)
    for how in ({"log_keys": [log.verifier]}, {"ledger": package["ledger"]}):
        results = verify_submission(copy, **how)
        text = str(results[0])
        assert "signatures/index.html: no signature record" in text, text
        assert f"signatures/{record.name}: missing: ledger entry" in text, text
        assert "approved by Bob Jones (bob), that the folder lacks (a stripped signature)" in text
        assert all(r.ok for r in results[1:]), "\n".join(map(str, results))
    pub = f"{package['base'] / 'log.key'}.pub"
    assert main(["submission", "verify", str(copy), "--log-keys", pub]) == 1
    assert "a stripped signature" in capsys.readouterr().out


@pytest.mark.req("REQ-SIG-001")
def test_a_dossier_signed_after_packaging_is_not_a_stripped_copy(
    package: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package holds each dossier as it was when the package was sealed. Bob reviews d1
    afterwards and Alice's later signature of the package refreshes its log/, which then proves
    Bob's entry too: the wrong version (every signature of the SEAL expected in every copy)
    calls the package's d1 stripped."""
    base = package["base"]
    for name in ("d1", "pkg", "state"):
        shutil.copytree(base / name, tmp_path / name)
    ledger = shutil.copy(package["ledger"], tmp_path / "ledger.db")
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    log, alice, bob = package["log"], package["alice"], package["bob"]
    sign_dossier(
        tmp_path / "d1", meaning="reviewed", key=bob, printed_name="Bob Jones", ledger=ledger
    )
    sign_dossier(
        tmp_path / "pkg",
        meaning="reviewed",
        key=alice,
        printed_name="Alice Smith",
        ledger=ledger,
        log_key=log,
    )
    for how in ({"log_keys": [log.verifier]}, {"ledger": ledger}):
        results = verify_submission(tmp_path / "pkg", **how)
        assert all(r.ok for r in results), "\n".join(map(str, results))
        assert [s.meaning for s in results[1].signatures] == ["authored"]  # as packaged
    # the stripped check still holds for the copy: what was signed before packaging must be there
    inner = tmp_path / "pkg" / "dossiers" / "TEST-RUN-001" / "signatures"
    (record,) = inner.glob("*-authored.json")
    record.unlink()
    results = verify_submission(tmp_path / "pkg", ledger=ledger)
    assert "a stripped signature" in str(results[1])
