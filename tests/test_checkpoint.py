"""Signed checkpoints (C2SP signed note + tlog-checkpoint), proofs and the client's held state."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from insider import rewrite_and_rechain

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
    with pytest.raises(TamperError, match="does not hash to its payload_hash"):
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


_TEXT = b"example.org/log\n3\n" + base64.b64encode(bytes(32)) + b"\n"


@pytest.mark.parametrize(
    ("note", "message"),
    [
        (_TEXT, "no blank line"),
        (_TEXT + b"\n", "carries no signature line"),
        (_TEXT + b"\n- example.org/log AAAA\n", "malformed signature line"),
        (_TEXT + b"\n\xe2\x80\x94 example.org/log AAAA", "does not end in a newline"),
        (b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n", "not UTF-8"),
        (b"a\x07\n\n\xe2\x80\x94 a AAAAAAAA\n", "control characters"),
        (b"x" * (1 << 21), "larger than"),
    ],
)
def test_malformed_notes_are_refused_with_the_reason(note: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        open_note(note, [FIXED.verifier])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nonsense", "expected '<name>"),
        ("a b+00000000+AQ==", "key name must be"),
        ("a+00000000+!!!", "not valid base64"),
        ("a+00000000+AgAA", "not an Ed25519 key"),
    ],
)
def test_malformed_verifier_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        VerifierKey.parse(text)


def test_malformed_signer_keys_and_key_files(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="PRIVATE"):
        SignerKey.parse("a+b+c")
    with pytest.raises(SignatureError, match="not an Ed25519 private key"):
        SignerKey.parse("PRIVATE+KEY+a+00000000+AgAA")
    with pytest.raises(SignatureError, match="does not match the key"):
        SignerKey.parse(str(FIXED).replace(FIXED.verifier.key_id.hex(), "00000000"))
    with pytest.raises(SignatureError, match="cannot read the private key"):
        read_signer_key(tmp_path / "absent.key")
    from validation.ledger.note import read_verifier_keys

    empty = tmp_path / "keys.pub"
    empty.write_text("# nothing\n\n")
    with pytest.raises(SignatureError, match="holds no public key"):
        read_verifier_keys(empty)
    with pytest.raises(SignatureError, match="cannot read the public keys"):
        read_verifier_keys(tmp_path / "absent.pub")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff", "not UTF-8 JSON"),
        (b'{"format": "other"}', "expected a JSON object with format"),
        (b'{"format": "her2map.inclusion-proof/1", "entry": {}}', "'entry' must hold exactly"),
        (
            b'{"format": "her2map.inclusion-proof/1", "entry": {"actor": 1, "event_type": 1, '
            b'"payload_hash": 1, "prev_hash": 1, "seq": 1, "time_utc": 1}, "payload": [], '
            b'"tree_size": 1, "path": []}',
            "'payload' must be a JSON object",
        ),
    ],
)
def test_malformed_inclusion_proofs_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        InclusionProof.from_json(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"format": "her2map.consistency-proof/1", "old_size": -1}', "non-negative integer"),
        (
            b'{"format": "her2map.consistency-proof/1", "old_size": 1, "new_size": 2, "path": "x"}',
            "list of at most 64 hashes",
        ),
        (
            b'{"format": "her2map.consistency-proof/1", "old_size": 1, "new_size": 2, '
            b'"path": ["AAAA"]}',
            "a hash must be 32 bytes",
        ),
    ],
)
def test_malformed_consistency_proofs_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        ConsistencyProof.from_json(data)


def test_checkpoint_text_origin_and_size_mismatches(ledger: Path, state: Path) -> None:
    from validation.ledger.checkpoint import Checkpoint

    with pytest.raises(SignatureError, match="expected the lines"):
        Checkpoint.from_text(b"origin\nten\nroot\n")
    tree = ledger_tree(ledger)
    note = sign_checkpoint(tree, FIXED)
    with pytest.raises(SignatureError, match=r"origin 'example\.org/log', expected 'other'"):
        read_checkpoint(note, [FIXED.verifier], origin="other")
    with pytest.raises(SignatureError, match="origin must be one printable line"):
        sign_checkpoint(tree, FIXED, origin="two\nlines")
    checkpoint = read_checkpoint(note, [FIXED.verifier])
    proof = prove_inclusion(ledger, 3, size=5)
    with pytest.raises(SignatureError, match="tree size 5; checkpoint has 10"):
        proof.check(checkpoint)
    with pytest.raises(SignatureError, match="sizes 2->5"):
        prove_consistency(ledger, 2, 5).check(checkpoint, checkpoint)
    accept_checkpoint(note, [FIXED.verifier], tree=tree)
    with Ledger.open(ledger) as book:
        book.append("validation.run", {"run": 2}, actor="qe")
    newer = sign_checkpoint(ledger_tree(ledger), FIXED)
    with pytest.raises(TamperError, match="no consistency proof was given"):
        accept_checkpoint(newer, [FIXED.verifier])
    with pytest.raises(TamperError, match="does not match the ledger's tree"):
        accept_checkpoint(newer, [FIXED.verifier], tree=tree)
    accepted = accept_checkpoint(newer, [FIXED.verifier], proof=prove_consistency(ledger, 10, 11))
    assert accepted.size == 11


def test_cli_refusals(
    ledger: Path, state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "k.key"
    assert main(["keys", "generate", "--name", "n", "--out", str(key)]) == 0
    assert main(["keys", "generate", "--name", "n", "--out", str(key)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    pub = f"{key}.pub"
    assert main(["ledger", "check", "--ledger", str(ledger), "--public-keys", pub]) == 1
    assert "NO CHECKPOINT HELD" in capsys.readouterr().out
    assert (
        main(["ledger", "prove", "--ledger", str(ledger), "--consistency", "1", "2", "--size", "3"])
        == 2
    )
    assert "--size applies to --inclusion only" in capsys.readouterr().err
    note = tmp_path / "cp.note"
    assert (
        main(
            ["ledger", "checkpoint", "--ledger", str(ledger), "--key", str(key), "--out", str(note)]
        )
        == 0
    )
    proof = tmp_path / "c.json"
    proof.write_bytes(prove_consistency(ledger, 4, 10).to_json())
    base = ["ledger", "check-proof", "--checkpoint", str(note), "--public-keys", pub]
    assert main([*base, "--consistency-proof", str(proof)]) == 2
    assert "needs --old-checkpoint" in capsys.readouterr().err
    assert main([*base, "--inclusion-proof", str(proof), "--old-checkpoint", str(note)]) == 2
    assert "applies to --consistency-proof only" in capsys.readouterr().err
    assert (
        main(
            [
                *base,
                "--consistency-proof",
                str(tmp_path / "absent.json"),
                "--old-checkpoint",
                str(note),
            ]
        )
        == 2
    )
    assert "cannot read" in capsys.readouterr().err
    same = tmp_path / "same.json"
    same.write_bytes(prove_consistency(ledger, 10, 10).to_json())
    assert main([*base, "--consistency-proof", str(same), "--old-checkpoint", str(note)]) == 0
    assert "extends size 10" in capsys.readouterr().out


def test_leaf_bytes_are_the_canonical_entry_whose_hash_is_the_entry_hash(ledger: Path) -> None:
    import hashlib

    from validation.canonical import canonical_json
    from validation.ledger.merkle import leaf_bytes

    with Ledger.open(ledger, create=False) as book:
        for entry in book.entries():
            fields = {
                k: getattr(entry, k)
                for k in ("actor", "event_type", "payload_hash", "prev_hash", "seq", "time_utc")
            }
            assert leaf_bytes(entry) == canonical_json(fields)
            assert hashlib.sha256(leaf_bytes(entry)).hexdigest() == entry.entry_hash


@pytest.mark.req("REQ-LOG-001")
def test_check_proof_exits_1_for_tampering_and_2_for_bad_input(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's rule for verify commands: found tampering exits 1, bad input 2. The wrong
    version let every SignatureError fall through to exit 2, so a forged checkpoint, a payload
    changed in the proof and a rolled-back checkpoint read as a usage error, not as TAMPERED."""
    pub = tmp_path / "log.pub"
    pub.write_text(f"{FIXED.verifier}\n")

    def write(name: str, data: bytes) -> str:
        (tmp_path / name).write_bytes(data)
        return str(tmp_path / name)

    old = write("old.note", sign_checkpoint(ledger_tree(ledger), FIXED))  # size 10
    inclusion = json.loads(prove_inclusion(ledger, 4).to_json())
    good = write("inc.json", json.dumps(inclusion).encode())
    with Ledger.open(ledger) as book:
        book.append("protocol.registered", {"protocol_id": "P10", "n": 10}, actor="qe")
    new = write("new.note", sign_checkpoint(ledger_tree(ledger), FIXED))  # size 11
    consistency = write("c.json", prove_consistency(ledger, 10, 11).to_json())
    forged = write("forged.note", Path(old).read_bytes().replace(b"\n10\n", b"\n9\n", 1))
    changed = write(
        "changed.json",
        json.dumps({**inclusion, "payload": {"protocol_id": "P3", "n": 99}}).encode(),
    )

    def check(*args: str) -> tuple[int, str]:
        code = main(["ledger", "check-proof", "--public-keys", str(pub), *args])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    assert check("--checkpoint", old, "--inclusion-proof", good)[0] == 0
    assert (
        check("--checkpoint", new, "--old-checkpoint", old, "--consistency-proof", consistency)[0]
        == 0
    )
    tampered = {
        "forged checkpoint": ("--checkpoint", forged, "--inclusion-proof", good),
        "forged old checkpoint": (
            "--checkpoint",
            new,
            "--old-checkpoint",
            forged,
            "--consistency-proof",
            consistency,
        ),
        "payload changed": ("--checkpoint", old, "--inclusion-proof", changed),
        "rollback": (
            "--checkpoint",
            old,
            "--old-checkpoint",
            new,
            "--consistency-proof",
            consistency,
        ),
    }
    for what, args in tampered.items():
        code, text = check(*args)
        assert (code, text.startswith("TAMPERED: ")) == (1, True), (what, text)
    assert "does not verify: the text was changed" in check(*tampered["forged checkpoint"])[1]
    assert "does not hash to its payload_hash" in check(*tampered["payload changed"])[1]
    assert "older than the one at size 11 (a rollback" in check(*tampered["rollback"])[1]
    bad_input = {
        "missing file": ("--checkpoint", str(tmp_path / "absent.note"), "--inclusion-proof", good),
        "not a checkpoint": ("--checkpoint", good, "--inclusion-proof", good),
        "not a proof": ("--checkpoint", old, "--inclusion-proof", old),
        "proof of another size": ("--checkpoint", new, "--inclusion-proof", good),
    }
    for what, args in bad_input.items():
        code, text = check(*args)
        assert (code, "her2map ledger: error: " in text) == (2, True), (what, text)
