"""A sealed dossier's proof that it is in the log: ``log/checkpoint.note`` + ``log/entries/``.

Written after sealing (so outside MANIFEST.json, see
:data:`validation.dossier.manifest.UNSEALED_DIRS`) and refreshed after each e-signature:

* ``log/checkpoint.note``: the ledger's signed checkpoint (C2SP) taken after the entries below;
* ``log/entries/<seq>.json``: inclusion proof (:class:`~validation.ledger.checkpoint.
  InclusionProof`, with the entry's payload) of every ledger entry the dossier relies on: its
  ``dossier.sealed`` entries, its ``signature.applied`` entries, and the registration and
  revocation entries of every key that signed it (for a submission package: also those of every
  dossier it holds).

:func:`read_log` checks all of it offline with the log's public key only. :func:`attach_log`
builds the tree from the ledger (verifying the chain first), checks the ledger still extends the
checkpoint this client holds (:mod:`validation.ledger.witness`), then signs and writes the folder
atomically (temp folder + rename).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from validation.atomic import fsync_dir, write_synced
from validation.dossier.manifest import SEAL_NAME, read_seal
from validation.exceptions import SignatureError
from validation.ledger import Ledger
from validation.ledger.checkpoint import (
    Checkpoint,
    InclusionProof,
    ledger_tree,
    prove_inclusion,
    read_checkpoint,
    sign_checkpoint,
)
from validation.ledger.note import SignerKey, VerifierKey
from validation.ledger.witness import accept_checkpoint, check_ledger
from validation.signing.sealed import PACKAGE_MARKER, SEALED_EVENTS

__all__ = [
    "KEY_REGISTERED",
    "KEY_REVOKED",
    "LOG_DIR",
    "SIGNED_EVENT",
    "LogProof",
    "attach_log",
    "check_held",
    "read_log",
]

LOG_DIR = "log"
SIGNED_EVENT = "signature.applied"
KEY_REGISTERED = "signing.key_registered"
KEY_REVOKED = "signing.key_revoked"
_PROOF_NAME = re.compile(r"([1-9][0-9]{0,15})\.json")


@dataclass(frozen=True)
class LogProof:
    """The verified checkpoint and the entries proven in it, by seq."""

    checkpoint: Checkpoint
    entries: dict[int, InclusionProof]

    def of_type(self, event_type: str) -> list[InclusionProof]:
        return [p for _, p in sorted(self.entries.items()) if p.entry["event_type"] == event_type]


def relied_on(ledger: str | Path, seals: list[str]) -> list[int]:
    """Seqs of the entries sealed folders with ``seals`` rely on (see the module docstring)."""
    seqs: list[int] = []
    with Ledger.open(ledger, create=False) as book:
        for seal in seals:
            for event in SEALED_EVENTS:
                seqs += [e.seq for e in book.entries(event_type=event, where={"seal": seal})]
            signed = list(book.entries(event_type=SIGNED_EVENT, where={"seal": seal}))
            seqs += [e.seq for e in signed]
            for key_id in sorted({str(e.payload.get("key_id")) for e in signed}):
                for event in (KEY_REGISTERED, KEY_REVOKED):
                    seqs += [
                        e.seq for e in book.entries(event_type=event, where={"key_id": key_id})
                    ]
    return sorted(set(seqs))


def check_held(ledger: str | Path, key: SignerKey) -> None:
    """Before writing: TamperError unless the ledger extends this client's held checkpoint."""
    check_ledger(ledger_tree(ledger), key.name, [key.verifier])


def attach_log(directory: str | Path, ledger: str | Path, key: SignerKey) -> Checkpoint:
    """Write (or refresh) ``log/`` of the sealed folder in ``directory``; return the checkpoint.

    For a submission package, the entries of every dossier it holds are proven too.
    """
    root = Path(directory)
    seal = read_seal(root / SEAL_NAME)
    if seal is None:
        raise SignatureError(f"{root}: no valid SEAL; only a sealed folder gets a log proof")
    also: list[str] = []
    if (root / PACKAGE_MARKER).is_file():
        marker = json.loads((root / PACKAGE_MARKER).read_bytes())
        also = sorted(str(s) for s in (marker.get("dossiers") or {}).values())
    seqs = relied_on(ledger, [seal, *also])
    if not seqs:
        raise SignatureError(
            f"ledger {ledger} has no sealing entry for SEAL {seal}; build it with --ledger first"
        )
    tree = ledger_tree(ledger)
    note = sign_checkpoint(tree, key)
    checkpoint = accept_checkpoint(
        note, [key.verifier], tree=tree, source=f"checkpoint of ledger {ledger}"
    )
    files = {
        f"entries/{seq}.json": prove_inclusion(ledger, seq, tree=tree).to_json() for seq in seqs
    }
    files["checkpoint.note"] = note
    _replace_folder(root, LOG_DIR, files)
    return checkpoint


def _replace_folder(root: Path, name: str, files: dict[str, bytes]) -> None:
    """Write ``root/name`` with ``files`` all or nothing (temp folder, then rename)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=root))
    try:
        for rel, data in files.items():
            write_synced(tmp / rel, data)
        for folder in sorted({(tmp / rel).parent for rel in files}, reverse=True):
            fsync_dir(folder)
        target = root / name
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=root))
            os.replace(target, old / name)
        os.replace(tmp, target)
        fsync_dir(root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_log(directory: str | Path, log_keys: list[VerifierKey]) -> LogProof:
    """Verify ``log/`` offline: the checkpoint's signature, and every proof against it.

    Raises SignatureError (or TamperError for a proof that does not lead to the signed root)
    naming the file; an unexpected file in ``log/`` is refused.
    """
    folder = Path(directory) / LOG_DIR
    note_path = folder / "checkpoint.note"
    if not note_path.is_file() or note_path.is_symlink():
        raise SignatureError(f"{note_path}: missing; the dossier carries no log proof")
    checkpoint = read_checkpoint(note_path.read_bytes(), log_keys, source=str(note_path))
    entries: dict[int, InclusionProof] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_dir() and not path.is_symlink() and rel == "entries":
            continue
        match = _PROOF_NAME.fullmatch(rel.removeprefix("entries/"))
        if rel == "checkpoint.note":
            continue
        if not rel.startswith("entries/") or match is None or path.is_symlink():
            raise SignatureError(f"{path}: unexpected file in {LOG_DIR}/ (not a proof)")
        proof = InclusionProof.from_json(path.read_bytes(), source=str(path))
        if proof.seq != int(match.group(1)):
            raise SignatureError(f"{path}: holds the proof of entry {proof.seq}")
        proof.check(checkpoint)
        entries[proof.seq] = proof
    return LogProof(checkpoint, entries)
