"""Signed checkpoints (C2SP signed note + tlog-checkpoint), proofs and the client's held state."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.insider import rewrite_and_rechain
from validation.cli import main
from validation.exceptions import SignatureError, TamperError
from validation.ledger import Ledger, verify
from validation.ledger.checkpoint import (
    ConsistencyProof,
    InclusionProof,
    ledger_tree,
    prove_consistency,
    prove_inclusion,
    read_checkpoint,
    sign_checkpoint,
)
from validation.ledger.note import (
    SignerKey,
    VerifierKey,
    generate_key,
    open_note,
    read_signer_key,
    sign_note,
)
from validation.ledger.witness import STATE_ENV, accept_checkpoint, check_ledger


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "client-state"
    monkeypatch.setenv(STATE_ENV, str(directory))
    return directory


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as book:
        for i in range(10):
            book.append("protocol.registered", {"protocol_id": f"P{i}", "n": i}, actor="qe")
    return path


# A fixed key so that the expected bytes below are known (never use such a key for real).
FIXED = SignerKey("example.org/log", bytes(range(32)))


def test_key_text_formats_round_trip_and_key_id_follows_c2sp() -> None:
    import hashlib

    vkey = FIXED.verifier
    expected_id = hashlib.sha256(b"example.org/log\n\x01" + vkey.public).digest()[:4]
    assert vkey.key_id == expected_id
    assert VerifierKey.parse(str(vkey)) == vkey
    assert SignerKey.parse(str(FIXED)) == FIXED
    assert str(vkey).startswith(f"example.org/log+{expected_id.hex()}+AQ")  # 0x01 -> "AQ"
    assert "hidden" in repr(FIXED)
    assert FIXED.seed.hex() not in repr(FIXED)
    with pytest.raises(SignatureError, match=r"key id .* does not match"):
        VerifierKey.parse(str(vkey).replace(expected_id.hex(), "00000000"))


def test_signed_note_has_the_c2sp_shape_and_refuses_edits() -> None:
    text = b"example.org/log\n3\n" + base64.b64encode(bytes(32)) + b"\n"
    note = sign_note(text, FIXED)
    body, _, sig_block = note.partition(b"\n\n")
    assert body + b"\n" == text
    line = sig_block.decode("utf-8")
    assert line.startswith("— example.org/log ")
    assert line.endswith("\n")
    raw = base64.b64decode(line.split()[-1])
    assert raw[:4] == FIXED.verifier.key_id
    assert len(raw) == 4 + 64
    assert open_note(note, [FIXED.verifier]) == text
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(note.replace(b"\n3\n", b"\n4\n"), [FIXED.verifier])
    other = generate_key("someone-else").verifier
    with pytest.raises(SignatureError, match="none of the trusted keys"):
        open_note(note, [other])


def test_checkpoint_matches_the_tree_and_proofs_verify(ledger: Path, state: Path) -> None:
    tree = ledger_tree(ledger)
    note = sign_checkpoint(tree, FIXED)
    checkpoint = read_checkpoint(note, [FIXED.verifier])
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "example.org/log",
        10,
        tree.root(),
    )
    proof = InclusionProof.from_json(prove_inclusion(ledger, 4).to_json())
    assert proof.payload == {"protocol_id": "P3", "n": 3}
    proof.check(checkpoint)
    forged = InclusionProof(
        proof.tree_size, proof.entry, {"protocol_id": "P3", "n": 99}, proof.path
    )
    with pytest.raises(SignatureError, match="does not hash to its payload_hash"):
        forged.check(checkpoint)
    moved = InclusionProof(proof.tree_size, {**proof.entry, "seq": 5}, proof.payload, proof.path)
    with pytest.raises(TamperError, match="not in the log"):
        moved.check(checkpoint)


def test_consistency_proof_between_two_checkpoints(ledger: Path) -> None:
    old_note = sign_checkpoint(ledger_tree(ledger), FIXED)
    with Ledger.open(ledger) as book:
        book.append("validation.run", {"run": 1}, actor="qe")
    new_note = sign_checkpoint(ledger_tree(ledger), FIXED)
    old = read_checkpoint(old_note, [FIXED.verifier])
    new = read_checkpoint(new_note, [FIXED.verifier])
    proof = ConsistencyProof.from_json(prove_consistency(ledger, 10, 11).to_json())
    proof.check(old, new)
    rewrite_and_rechain(ledger, 2, lambda p: {**p, "n": 42})
    assert verify(ledger).ok  # the chain alone cannot see it
    rewritten = read_checkpoint(sign_checkpoint(ledger_tree(ledger), FIXED), [FIXED.verifier])
    with pytest.raises(TamperError, match="history was rewritten"):
        prove_consistency(ledger, 10, 11).check(old, rewritten)


@pytest.mark.req("REQ-LOG-001")
def test_reseal_and_rechain_is_caught_by_a_held_checkpoint(ledger: Path, state: Path) -> None:
    """The insider of the issue: edits entry 3, re-chains; `ledger verify` passes, but a client
    holding a checkpoint from before the rewrite refuses the ledger (and a new checkpoint)."""
    tree = ledger_tree(ledger)
    accept_checkpoint(sign_checkpoint(tree, FIXED), [FIXED.verifier], tree=tree)
    assert check_ledger(ledger_tree(ledger), "example.org/log", [FIXED.verifier]) is not None
    rewrite_and_rechain(ledger, 3, lambda p: {**p, "protocol_id": "EDITED"})
    assert verify(ledger).ok
    tree = ledger_tree(ledger)
    with pytest.raises(TamperError, match="first 10 entries no longer hash"):
        check_ledger(tree, "example.org/log", [FIXED.verifier])
    with pytest.raises(TamperError, match="history was rewritten"):
        accept_checkpoint(sign_checkpoint(tree, FIXED), [FIXED.verifier], tree=tree)


def test_truncation_and_rollback_are_caught(ledger: Path, state: Path) -> None:
    tree = ledger_tree(ledger)
    accept_checkpoint(sign_checkpoint(tree, FIXED), [FIXED.verifier], tree=tree)
    from validation.ledger.merkle import MerkleTree

    shorter = MerkleTree()
    with Ledger.open(ledger, create=False) as book:
        for entry in list(book.entries())[:7]:
            from validation.ledger.merkle import leaf_bytes

            shorter.append(leaf_bytes(entry))
    with pytest.raises(TamperError, match="entries were removed"):
        check_ledger(shorter, "example.org/log", [FIXED.verifier])
    with pytest.raises(TamperError, match="rollback"):
        accept_checkpoint(sign_checkpoint(shorter, FIXED), [FIXED.verifier])


def test_cli_checkpoint_prove_and_check(
    ledger: Path, state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "log.key"
    assert main(["keys", "generate", "--name", "her2map.test/log", "--out", str(key)]) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert read_signer_key(key).name == "her2map.test/log"
    assert capsys.readouterr().out.startswith("her2map.test/log+")
    pub = Path(f"{key}.pub")
    note_path = tmp_path / "cp.note"
    assert (
        main(
            [
                "ledger",
                "checkpoint",
                "--ledger",
                str(ledger),
                "--key",
                str(key),
                "--out",
                str(note_path),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines()[:2] == ["her2map.test/log", "10"]
    assert main(["ledger", "prove", "--ledger", str(ledger), "--inclusion", "7"]) == 0
    proof_path = tmp_path / "inc.json"
    proof_path.write_text(capsys.readouterr().out)
    assert json.loads(proof_path.read_text())["entry"]["seq"] == 7
    assert (
        main(
            [
                "ledger",
                "check-proof",
                "--checkpoint",
                str(note_path),
                "--public-keys",
                str(pub),
                "--inclusion-proof",
                str(proof_path),
            ]
        )
        == 0
    )
    assert "OK: entry 7" in capsys.readouterr().out
    assert main(["ledger", "check", "--ledger", str(ledger), "--public-keys", str(pub)]) == 0
    capsys.readouterr()
    rewrite_and_rechain(ledger, 5, lambda p: {**p, "n": -1})
    assert main(["ledger", "check", "--ledger", str(ledger), "--public-keys", str(pub)]) == 1
    assert "history was rewritten" in capsys.readouterr().out
    assert main(["ledger", "checkpoint", "--ledger", str(ledger), "--key", str(key)]) == 2
    assert "history was rewritten" in capsys.readouterr().err
    # consistency between the old checkpoint and a new one, from the honest side
    assert main(["ledger", "prove", "--ledger", str(ledger), "--consistency", "4", "10"]) == 0
    assert json.loads(capsys.readouterr().out)["old_size"] == 4


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_text(f"{FIXED}\n")
    path.chmod(0o644)
    with pytest.raises(SignatureError, match="chmod 600"):
        read_signer_key(path)


@pytest.mark.req("REQ-LOG-001")
def test_every_command_with_a_ledger_checks_the_held_checkpoint_when_opted_in(
    ledger: Path,
    state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tree = ledger_tree(ledger)
    accept_checkpoint(sign_checkpoint(tree, FIXED), [FIXED.verifier], tree=tree)
    keys = tmp_path / "log.pub"
    keys.write_text(f"# the log of this site\n{FIXED.verifier}\n")
    monkeypatch.setenv("HER2MAP_LOG_KEYS", str(keys))
    assert main(["ledger", "verify", "--ledger", str(ledger)]) == 0
    capsys.readouterr()
    rewrite_and_rechain(ledger, 9, lambda p: {**p, "n": 0})
    assert main(["ledger", "verify", "--ledger", str(ledger)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err
    assert "history was rewritten" in err
    monkeypatch.delenv("HER2MAP_LOG_KEYS")
    assert main(["ledger", "verify", "--ledger", str(ledger)]) == 0  # the chain alone passes
