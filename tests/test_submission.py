"""The submission package: built from sealed dossiers, verified offline with public keys only."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

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
RESULTS = ROOT / "tests" / "fixtures" / "results_example.json"
cyclonedx = pytest.importorskip("cyclonedx.validation.json")


def _key_file(path: Path, key: SignerKey) -> Path:
    path.write_text(f"{key}\n")
    path.chmod(0o600)
    Path(f"{path}.pub").write_text(f"{key.verifier}\n")
    return path


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("submission")
    ledger = base / "ledger.db"
    with Ledger.open(ledger):
        pass
    log, alice, bob = generate_key("her2map.test/log"), generate_key("alice"), generate_key("bob")
    second = json.loads(RESULTS.read_text())
    second["identity"]["protocol"]["id"] = "HER2-VAL-002"
    second["endpoints"][0]["verdict"] = "FAIL"
    (base / "second.json").write_bytes(canonical_json(second))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STATE_ENV, str(base / "state"))
        build_dossier(RESULTS, base / "d1", ledger=ledger)
        build_dossier(base / "second.json", base / "d2", ledger=ledger)
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
    return {"base": base, "pkg": base / "pkg", "ledger": ledger, "log": log, "built": built}


def test_summary_rows_come_from_the_dossiers(package: dict[str, object]) -> None:
    pkg = package["pkg"]
    assert isinstance(pkg, Path)
    summary = json.loads((pkg / "summary.json").read_text())
    rows = {r["protocol"]: r for r in summary["rows"]}
    expected = json.loads(RESULTS.read_text())["endpoints"][0]
    assert rows["HER2-VAL-001"]["estimate"] == expected["result"]["estimate"]
    assert rows["HER2-VAL-001"]["ci_low"] == expected["result"]["ci_low"]
    assert rows["HER2-VAL-001"]["verdict"] == expected["verdict"] == "PASS"
    assert rows["HER2-VAL-002"]["verdict"] == "FAIL"
    html = (pkg / "summary.html").read_text()
    assert "0.891 (0.841–0.941; 95% CI, delong, n=230)" in html
    cards = sorted(p.name for p in (pkg / "model-cards").iterdir())
    assert cards == ["her2map-1.0.0-5d41402abc4b.html"]


def test_traceability_matrix_names_each_endpoints_verdict(package: dict[str, object]) -> None:
    pkg = package["pkg"]
    assert isinstance(pkg, Path)
    rows = list(csv.DictReader(io.StringIO((pkg / "traceability.csv").read_text())))
    by_endpoint = {r["endpoint"]: r["verdict"] for r in rows}
    assert by_endpoint["HER2-VAL-001/VAL-E1"] == "PASS"
    assert by_endpoint["HER2-VAL-001/VAL-E2"] == "FAIL"
    assert any(r["requirement"] == "REQ-SIG-001" for r in rows)


def test_sbom_is_valid_cyclonedx_1_5_and_lists_the_environment_and_model(
    package: dict[str, object],
) -> None:
    from cyclonedx.schema import SchemaVersion

    pkg = package["pkg"]
    assert isinstance(pkg, Path)
    text = (pkg / "sbom.cdx.json").read_text()
    assert cyclonedx.JsonStrictValidator(SchemaVersion.V1_5).validate_str(text) is None
    sbom = json.loads(text)
    purls = {c.get("purl") for c in sbom["components"]}
    from importlib.metadata import version

    assert f"pkg:pypi/cryptography@{version('cryptography')}" in purls
    model = next(c for c in sbom["components"] if c["type"] == "machine-learning-model")
    assert model["hashes"][0]["content"].startswith("5d41402abc4b")
    assert cyclonedx_sbom(packages={"a": "1"}) == cyclonedx_sbom(packages={"a": "1"})
    assert cyclonedx_sbom(packages={"a": "1"}) != cyclonedx_sbom(packages={"a": "2"})


@pytest.mark.req("REQ-SIG-001")
def test_package_verifies_offline_with_only_the_log_key(package: dict[str, object]) -> None:
    log = package["log"]
    assert isinstance(log, SignerKey)
    results = verify_submission(package["pkg"], log_keys=[log.verifier])  # type: ignore[arg-type]
    assert all(r.ok for r in results), "\n".join(map(str, results))
    package_result, d1, d2 = results
    assert [s.printed_name for s in package_result.signatures] == ["Bob Jones"]
    assert [s.meaning for s in d1.signatures] == ["authored"]
    assert d2.signatures == ()


@pytest.mark.req("REQ-LOG-002")
def test_edited_or_resealed_package_is_refused(package: dict[str, object], tmp_path: Path) -> None:
    log = package["log"]
    assert isinstance(log, SignerKey)
    copy = tmp_path / "pkg"
    shutil.copytree(package["pkg"], copy)  # type: ignore[arg-type]
    target = copy / "dossiers" / "HER2-VAL-002" / "tables" / "endpoints.csv"
    target.write_text(target.read_text().replace("FAIL", "PASS"))
    results = verify_submission(copy, log_keys=[log.verifier])
    text = "\n".join(map(str, results))
    assert "dossiers/HER2-VAL-002/tables/endpoints.csv" in text
    # the insider now re-seals the edited dossier and the package with the documented formulas
    from validation.dossier.manifest import make_manifest, seal_of
    from validation.submission.package import _package_seal

    inner = copy / "dossiers" / "HER2-VAL-002"
    manifest = make_manifest(inner, json.loads((inner / "MANIFEST.json").read_text())["inputs"])
    (inner / "MANIFEST.json").write_bytes(manifest)
    new_seal = seal_of(manifest, json.loads((inner / "results.json").read_text()))
    (inner / "SEAL").write_text(new_seal + "\n")
    marker = json.loads((copy / "submission.json").read_text())
    marker["dossiers"]["HER2-VAL-002"] = new_seal
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


def test_cli_reviewer_path_and_refusals(
    package: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
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
        build_submission([base / "d1"], package["pkg"], ledger=package["ledger"], title="x")  # type: ignore[arg-type]
    unrecorded = tmp_path / "d3"
    third = json.loads(RESULTS.read_text())
    third["identity"]["protocol"]["id"] = "HER2-VAL-003"
    (tmp_path / "third.json").write_bytes(canonical_json(third))
    build_dossier(tmp_path / "third.json", unrecorded)  # same bytes as d1 would be recorded
    with pytest.raises(SubmissionError, match="not recorded in ledger"):
        build_submission([unrecorded], tmp_path / "p", ledger=package["ledger"], title="x")  # type: ignore[arg-type]
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
