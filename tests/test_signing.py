"""Part 11 e-signatures over a sealed dossier, and its log proof, tried as an insider would."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from insider import rewrite_and_rechain

from validation.cli import main
from validation.dossier import build_dossier, verify_dossier
from validation.exceptions import SignatureError, TamperError
from validation.ledger import Ledger, verify
from validation.ledger.note import SignerKey, generate_key
from validation.ledger.witness import STATE_ENV
from validation.signing import (
    read_log,
    read_signatures,
    register_key,
    revoke_key,
    sign_dossier,
    verify_signed,
)


@dataclass
class World:
    results: Path
    dossier: Path
    ledger: Path
    log: SignerKey
    alice: SignerKey
    bob: SignerKey
    tmp: Path


def _write_key(path: Path, key: SignerKey) -> Path:
    path.write_text(f"{key}\n")
    path.chmod(0o600)
    Path(f"{path}.pub").write_text(f"{key.verifier}\n")
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, runner_run: Any) -> World:
    """A dossier of the runner's results (conftest ``runner_run``), sealed in a copy of the run's
    ledger (1 protocol.registered, 2 validation.run, 3 dossier.sealed)."""
    from test_runner_helpers import copy_run_ledger

    results = runner_run(0.95).results_path
    base = tmp_path_factory.mktemp("signing")
    ledger = copy_run_ledger(runner_run(0.95), base / "ledger.db")
    log, alice, bob = generate_key("her2map.test/log"), generate_key("alice"), generate_key("bob")
    log_file = _write_key(base / "log.key", log)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STATE_ENV, str(base / "state"))  # the harness's held checkpoint
        build_dossier(results, base / "dossier", ledger=ledger, checkpoint_key=log_file)
    register_key(ledger, alice.verifier, printed_name="Alice Smith", actor="admin")
    register_key(ledger, bob.verifier, printed_name="Bob Jones", actor="admin")
    return World(results, base / "dossier", ledger, log, alice, bob, base)


@pytest.fixture
def world(template: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    shutil.copytree(template.dossier, tmp_path / "dossier")
    shutil.copytree(template.tmp / "state", tmp_path / "state")
    shutil.copy(template.ledger, tmp_path / "ledger.db")
    return World(
        template.results,
        tmp_path / "dossier",
        tmp_path / "ledger.db",
        template.log,
        template.alice,
        template.bob,
        tmp_path,
    )


def _sign(w: World, key: SignerKey, name: str, meaning: str) -> None:
    sign_dossier(
        w.dossier, meaning=meaning, key=key, printed_name=name, ledger=w.ledger, log_key=w.log
    )


@pytest.mark.req("REQ-LOG-002")
def test_built_dossier_carries_checkpoint_and_proof_of_its_sealed_entry(world: World) -> None:
    assert verify_dossier(world.dossier).ok  # log/ does not touch the seal
    proof = read_log(world.dossier, [world.log.verifier])
    sealed = proof.of_type("dossier.sealed")
    assert len(sealed) == 1
    seal = (world.dossier / "SEAL").read_text().strip()
    assert sealed[0].payload["seal"] == seal
    assert proof.checkpoint.size == sealed[0].seq == 3
    result = verify_signed(world.dossier, log_keys=[world.log.verifier])
    assert result.ok, str(result)
    assert result.checkpoint_size == 3


@pytest.mark.req("REQ-LOG-002")
def test_log_proof_of_another_dossier_or_forged_log_is_refused(world: World) -> None:
    other = generate_key("her2map.test/log")
    result = verify_signed(world.dossier, log_keys=[other.verifier])
    assert not result.ok
    assert "none of the trusted keys" in str(result)
    proof_file = world.dossier / "log" / "entries" / "3.json"
    obj = json.loads(proof_file.read_text())
    obj["payload"]["seal"] = "0" * 64
    proof_file.write_text(json.dumps(obj))
    result = verify_signed(world.dossier, log_keys=[world.log.verifier])
    assert "does not hash to its payload_hash" in str(result)


@pytest.mark.req("REQ-LOG-001")
def test_insider_reseal_and_rechain_is_caught_by_the_dossiers_checkpoint(world: World) -> None:
    """The issue's insider: rewrite the sealed entry, re-chain; `ledger verify` passes, but the
    dossier's checkpoint (and the client's held one) no longer match the ledger."""
    rewrite_and_rechain(world.ledger, 3, lambda p: {**p, "results_sha256": "f" * 64})
    assert verify(world.ledger).ok
    result = verify_signed(world.dossier, log_keys=[world.log.verifier], ledger=world.ledger)
    assert not result.ok
    assert "does not extend the dossier's checkpoint (size 3)" in str(result)
    with pytest.raises(TamperError, match="history was rewritten"):
        _sign(world, world.alice, "Alice Smith", "authored")
    assert read_signatures(world.dossier) == []  # refused before anything was appended
    key_file = _write_key(world.tmp / "log.key", world.log)
    with pytest.raises(TamperError, match="history was rewritten"):
        build_dossier(
            world.results, world.tmp / "rebuilt", ledger=world.ledger, checkpoint_key=key_file
        )
    assert not (world.tmp / "rebuilt").exists()


@pytest.mark.req("REQ-SIG-001")
def test_signatures_verify_offline_and_independent_approval(world: World) -> None:
    _sign(world, world.alice, "Alice Smith", "authored")
    only_author = verify_signed(
        world.dossier, log_keys=[world.log.verifier], require_independent_approval=True
    )
    assert "no valid approval by someone other than the author" in str(only_author)
    _sign(world, world.alice, "Alice Smith", "approved")
    self_approved = verify_signed(
        world.dossier, log_keys=[world.log.verifier], require_independent_approval=True
    )
    assert not self_approved.ok
    _sign(world, world.bob, "Bob Jones", "approved")
    result = verify_signed(
        world.dossier, log_keys=[world.log.verifier], require_independent_approval=True
    )
    assert result.ok, str(result)
    assert [(r.printed_name, r.meaning) for r in result.signatures] == [
        ("Alice Smith", "authored"),
        ("Alice Smith", "approved"),
        ("Bob Jones", "approved"),
    ]
    assert verify_signed(world.dossier, ledger=world.ledger).ok
    assert verify_dossier(world.dossier).ok  # signing never changes the seal
    page = (world.dossier / "signatures" / "index.html").read_text()
    for record in result.signatures:
        assert record.printed_name in page
        assert record.signed_utc in page


@pytest.mark.req("REQ-SIG-001")
def test_signature_over_a_changed_seal_is_refused(world: World) -> None:
    _sign(world, world.alice, "Alice Smith", "authored")
    # the insider flips a verdict in the page, rebuilds MANIFEST.json and SEAL with the
    # documented formula
    from validation.dossier.manifest import make_manifest, seal_of
    from validation.results import loads

    page = world.dossier / "index.html"
    page.write_text(page.read_text().replace("FAIL", "PASS"))
    manifest = json.loads((world.dossier / "MANIFEST.json").read_text())
    new_manifest = make_manifest(world.dossier, manifest["inputs"])
    (world.dossier / "MANIFEST.json").write_bytes(new_manifest)
    results = loads((world.dossier / "results.json").read_bytes())
    (world.dossier / "SEAL").write_text(seal_of(new_manifest, results) + "\n")
    assert verify_dossier(world.dossier).ok  # the reseal passes the plain check
    result = verify_signed(world.dossier, log_keys=[world.log.verifier])
    assert "not this dossier's SEAL" in str(result)
    assert "no sealing entry for SEAL" in str(result)
    with pytest.raises(SignatureError, match=r"no dossier\.sealed or submission\.sealed entry"):
        _sign(world, world.bob, "Bob Jones", "approved")


@pytest.mark.req("REQ-SIG-001")
def test_unregistered_or_revoked_key_or_wrong_name_is_refused(world: World) -> None:
    mallory = generate_key("mallory")
    with pytest.raises(SignatureError, match="not registered"):
        _sign(world, mallory, "Mallory", "approved")
    with pytest.raises(SignatureError, match="differs from the name registered"):
        _sign(world, world.alice, "Alicia Smith", "authored")
    revoke_key(world.ledger, world.bob.verifier.key_id.hex(), reason="lost", actor="admin")
    with pytest.raises(SignatureError, match="was revoked"):
        _sign(world, world.bob, "Bob Jones", "approved")
    assert read_signatures(world.dossier) == []


@pytest.mark.req("REQ-SIG-001")
def test_forged_records_are_refused_at_verify(world: World) -> None:
    """An insider writes a signature record by a key that was never registered, and one by a
    key revoked before the signing entry (both signed correctly), into signatures/."""
    _sign(world, world.alice, "Alice Smith", "authored")
    record = read_signatures(world.dossier)[0]
    mallory = generate_key("mallory")
    from validation.canonical import canonical_json
    from validation.signing.esign import SignatureRecord

    statement = {
        **record.statement,
        "key": str(mallory.verifier),
        "user": "mallory",
        "key_id": mallory.verifier.key_id.hex(),
    }
    forged = SignatureRecord(record.seq, statement, mallory.sign(canonical_json(statement)))
    (world.dossier / "signatures" / record.file_name).write_bytes(forged.to_json())
    result = verify_signed(world.dossier, log_keys=[world.log.verifier])
    assert "does not record this signature" in str(result)
    assert "was never registered" in str(result)
    # revoked before signing: valid signature, but its key was revoked at an earlier entry
    shutil.rmtree(world.dossier / "signatures")
    revoke_key(world.ledger, world.alice.verifier.key_id.hex(), reason="left", actor="admin")
    with Ledger.open(world.ledger) as book:
        entry = book.append("signature.applied", record.payload(), actor="alice")
    late = SignatureRecord(entry.seq, record.statement, record.signature)
    (world.dossier / "signatures").mkdir()
    (world.dossier / "signatures" / late.file_name).write_bytes(late.to_json())
    from validation.signing.manifestation import signature_page

    page = signature_page(record.statement["seal"], [late])
    (world.dossier / "signatures" / "index.html").write_bytes(page)
    result = verify_signed(world.dossier, ledger=world.ledger)
    assert "was not valid when it signed (revoked at entry" in str(result)


def test_cli_sign_and_verify(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    key = _write_key(world.tmp / "alice.key", world.alice)
    log_key = _write_key(world.tmp / "log.key", world.log)
    code = main(
        [
            "dossier",
            "sign",
            str(world.dossier),
            "--meaning",
            "authored",
            "--key",
            str(key),
            "--name",
            "Alice Smith",
            "--ledger",
            str(world.ledger),
            "--checkpoint-key",
            str(log_key),
        ]
    )
    assert code == 0, capsys.readouterr()
    assert "as authored by Alice Smith" in capsys.readouterr().out
    assert main(["dossier", "verify", str(world.dossier)]) == 1
    assert "UNCHECKED" in capsys.readouterr().out
    assert main(["dossier", "verify", str(world.dossier), "--log-keys", f"{log_key}.pub"]) == 0
    assert "signed: Alice Smith (alice), authored" in capsys.readouterr().out
    code = main(
        [
            "dossier",
            "verify",
            str(world.dossier),
            "--log-keys",
            f"{log_key}.pub",
            "--require-independent-approval",
        ]
    )
    assert code == 1
    bob_pub = _write_key(world.tmp / "bob2.key", generate_key("bob2"))
    assert (
        main(
            [
                "signing",
                "register",
                "--ledger",
                str(world.ledger),
                "--public-key",
                f"{bob_pub}.pub",
                "--printed-name",
                "Bob Two",
                "--actor",
                "admin",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "signing",
                "register",
                "--ledger",
                str(world.ledger),
                "--public-key",
                f"{bob_pub}.pub",
                "--printed-name",
                "Bob Two",
                "--actor",
                "admin",
            ]
        )
        == 2
    )
    assert "already registered" in capsys.readouterr().err


@pytest.mark.req("REQ-SIG-001")
def test_stripped_signature_or_a_page_without_records_is_refused(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """An insider deletes the signature records and rewrites the page to show another signer and
    meaning. The wrong version compared the page with the records only when there were records,
    and never asked the log or the ledger which signatures the SEAL has: with no record left it
    printed "OK ... 0 signature(s)" offline and with the ledger, under a page naming Carol King."""
    _sign(world, world.alice, "Alice Smith", "authored")
    (record,) = read_signatures(world.dossier)
    missing = f"signatures/{record.file_name}: missing: ledger entry {record.seq}"
    page = world.dossier / "signatures" / "index.html"
    original = page.read_text()
    page.write_text(original.replace("Alice Smith", "Carol King"))  # record still present
    assert "signatures/index.html: is not the page of these signatures" in str(
        verify_signed(world.dossier, log_keys=[world.log.verifier])
    )
    (world.dossier / "signatures" / record.file_name).unlink()
    page.write_text(original.replace("Alice Smith", "Carol King").replace("authored", "approved"))
    log_pub = f"{_write_key(world.tmp / 'log.key', world.log)}.pub"
    for how in ({"log_keys": [world.log.verifier]}, {"ledger": world.ledger}):
        text = str(verify_signed(world.dossier, **how))  # type: ignore[arg-type]
        assert "signatures/index.html: no signature record" in text, text
        assert missing in text, text
        assert (
            "authored by Alice Smith (alice), that the folder lacks (a stripped signature)" in text
        )
    for flags in (["--log-keys", log_pub], ["--ledger", str(world.ledger)]):
        assert main(["dossier", "verify", str(world.dossier), *flags]) == 1
        assert "a stripped signature" in capsys.readouterr().out
    # the whole folder gone: the log proves the signature, the ledger records it
    shutil.rmtree(world.dossier / "signatures")
    for how in ({"log_keys": [world.log.verifier]}, {"ledger": world.ledger}):
        result = verify_signed(world.dossier, **how)  # type: ignore[arg-type]
        assert [item for item, _ in result.problems] == [f"signatures/{record.file_name}"]
    # log/ gone too: nothing in the folder says it was signed, but the ledger does
    shutil.rmtree(world.dossier / "log")
    assert main(["dossier", "verify", str(world.dossier), "--ledger", str(world.ledger)]) == 1
    assert missing in capsys.readouterr().out


def test_dossier_verify_with_a_tampered_ledger_is_a_failed_check(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: a verify command that finds tampering exits 1 (2 is bad input). The wrong version
    let the ledger's TamperError (an entry edited in place) fall through to exit 2."""
    import sqlite3

    conn = sqlite3.connect(world.ledger)
    conn.execute("DROP TRIGGER entries_no_update")
    conn.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 2")
    conn.commit()
    conn.close()
    assert main(["dossier", "verify", str(world.dossier), "--ledger", str(world.ledger)]) == 1
    assert "TAMPERED: entry 2" in capsys.readouterr().out
    absent = world.tmp / "absent.db"
    assert main(["dossier", "verify", str(world.dossier), "--ledger", str(absent)]) == 2
    assert not absent.exists()
