"""Signed checkpoints of the ledger's Merkle tree, and inclusion / consistency proofs.

A checkpoint is the C2SP tlog-checkpoint text (https://c2sp.org/tlog-checkpoint)::

    <origin>\\n<tree size, decimal>\\n<base64 root hash>\\n

signed by the ledger's Ed25519 key as a C2SP signed note (:mod:`.note`). The tree is
:class:`~validation.ledger.merkle.MerkleTree` over the entries (leaf ``seq - 1`` = entry ``seq``).

Proofs are JSON (RFC 8785 canonical):

* inclusion: ``{"format": "her2map.inclusion-proof/1", "tree_size", "entry": {actor, event_type,
  payload_hash, prev_hash, seq, time_utc}, "payload": {...}, "path": [base64 hashes]}`` — the
  payload travels with its entry so a reader can check what the entry says (e.g. a seal) and that
  ``sha256(canonical(payload)) == payload_hash``;
* consistency: ``{"format": "her2map.consistency-proof/1", "old_size", "new_size", "path"}``.

Both are checked against signed checkpoints alone, offline.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json, sha256_hex
from validation.exceptions import LedgerError, SignatureError, TamperError
from validation.ledger.merkle import (
    MerkleTree,
    leaf_bytes,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from validation.ledger.models import Entry
from validation.ledger.note import SignerKey, VerifierKey, open_note, sign_note
from validation.ledger.store import Ledger, verify

__all__ = [
    "CONSISTENCY_FORMAT",
    "INCLUSION_FORMAT",
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "ledger_tree",
    "prove_consistency",
    "prove_inclusion",
    "read_checkpoint",
    "sign_checkpoint",
]

INCLUSION_FORMAT = "her2map.inclusion-proof/1"
CONSISTENCY_FORMAT = "her2map.consistency-proof/1"
_ENTRY_KEYS = ("actor", "event_type", "payload_hash", "prev_hash", "seq", "time_utc")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what}: not base64 ({str(text)[:40]!r})") from None
    if len(raw) != 32:
        raise SignatureError(f"{what}: a hash must be 32 bytes; got {len(raw)}")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    """Origin (the log's name), tree size and root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> bytes:
        return f"{self.origin}\n{self.size}\n{_b64(self.root)}\n".encode()

    @classmethod
    def from_text(cls, text: bytes, *, source: str = "checkpoint") -> Checkpoint:
        lines = text.decode("utf-8").split("\n")
        if len(lines) < 4 or not re.fullmatch(r"0|[1-9][0-9]{0,15}", lines[1]) or not lines[0]:
            raise SignatureError(
                f"{source}: expected the lines '<origin>', '<tree size>', '<base64 root>'"
            )
        return cls(lines[0], int(lines[1]), _unb64(lines[2], f"{source} root hash"))


def ledger_tree(ledger: str | Path) -> MerkleTree:
    """Verify the ledger's hash chain, then build the Merkle tree of its entries.

    Raises TamperError naming the first bad entry when the chain does not verify (verify before
    use: a checkpoint is never signed over a broken chain).
    """
    report = verify(ledger)
    if not report.ok:
        raise TamperError(f"ledger {ledger} does not verify: {report}")
    with Ledger.open(ledger, create=False) as book:
        return MerkleTree.from_entries(book.entries())


def sign_checkpoint(tree: MerkleTree, key: SignerKey, *, origin: str | None = None) -> bytes:
    """Signed note of the checkpoint of ``tree`` (origin defaults to the key's name)."""
    origin = key.name if origin is None else origin
    if not origin or "\n" in origin or any(ord(c) < 0x20 for c in origin):
        raise SignatureError(f"origin must be one printable line; got {origin!r}")
    return sign_note(Checkpoint(origin, tree.size, tree.root()).text(), key)


def read_checkpoint(
    note: bytes, keys: list[VerifierKey], *, origin: str | None = None, source: str = "checkpoint"
) -> Checkpoint:
    """Verify the note's signature with ``keys`` and parse the checkpoint (and its origin)."""
    checkpoint = Checkpoint.from_text(open_note(note, keys, source=source), source=source)
    if origin is not None and checkpoint.origin != origin:
        raise SignatureError(f"{source}: origin {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


@dataclass(frozen=True)
class InclusionProof:
    """A ledger entry, its payload and its audit path in a tree of ``tree_size`` leaves."""

    tree_size: int
    entry: Mapping[str, Any]
    payload: Mapping[str, Any]
    path: tuple[bytes, ...]

    @property
    def seq(self) -> int:
        return int(self.entry["seq"])

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "entry": dict(self.entry),
                "format": INCLUSION_FORMAT,
                "path": [_b64(h) for h in self.path],
                "payload": dict(self.payload),
                "tree_size": self.tree_size,
            }
        )

    @classmethod
    def from_json(cls, data: bytes, *, source: str = "inclusion proof") -> InclusionProof:
        obj = _load(data, INCLUSION_FORMAT, source)
        entry, payload = obj.get("entry"), obj.get("payload")
        if not isinstance(entry, dict) or sorted(entry) != list(_ENTRY_KEYS):
            raise SignatureError(f"{source}: 'entry' must hold exactly {list(_ENTRY_KEYS)}")
        if not isinstance(payload, dict):
            raise SignatureError(f"{source}: 'payload' must be a JSON object")
        return cls(
            _size(obj, "tree_size", source),
            entry,
            payload,
            tuple(_unb64(h, f"{source} path") for h in _list(obj, "path", source)),
        )

    def check(self, checkpoint: Checkpoint) -> None:
        """Raise TamperError unless the payload is the entry's and the entry is leaf ``seq - 1``
        of ``checkpoint``'s tree; SignatureError if the proof is for another tree size."""
        if sha256_hex(canonical_json(dict(self.payload))) != self.entry["payload_hash"]:
            raise TamperError(
                f"entry {self.entry['seq']}: its payload does not hash to its payload_hash (the "
                "payload was changed)"
            )
        if self.tree_size != checkpoint.size:
            raise SignatureError(
                f"inclusion proof is for tree size {self.tree_size}; checkpoint has "
                f"{checkpoint.size}"
            )
        leaf = leaf_hash(canonical_json(dict(self.entry)))
        seq = self.entry["seq"]
        if not isinstance(seq, int) or not verify_inclusion(
            leaf, seq - 1, self.tree_size, self.path, checkpoint.root
        ):
            raise TamperError(
                f"entry {seq} is not in the log at checkpoint size {checkpoint.size} (the "
                "inclusion proof does not lead to the signed root)"
            )


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "format": CONSISTENCY_FORMAT,
                "new_size": self.new_size,
                "old_size": self.old_size,
                "path": [_b64(h) for h in self.path],
            }
        )

    @classmethod
    def from_json(cls, data: bytes, *, source: str = "consistency proof") -> ConsistencyProof:
        obj = _load(data, CONSISTENCY_FORMAT, source)
        return cls(
            _size(obj, "old_size", source),
            _size(obj, "new_size", source),
            tuple(_unb64(h, f"{source} path") for h in _list(obj, "path", source)),
        )

    def check(self, old: Checkpoint, new: Checkpoint) -> None:
        """Raise TamperError unless ``old``'s tree is a prefix of ``new``'s (a ``new`` smaller
        than ``old`` is a rollback); SignatureError if the proof is for other sizes."""
        if old.origin == new.origin and new.size < old.size:
            raise TamperError(
                f"log {new.origin!r}: the checkpoint at size {new.size} is older than the one at "
                f"size {old.size} (a rollback: a log only grows)"
            )
        if (old.size, new.size) != (self.old_size, self.new_size):
            raise SignatureError(
                f"consistency proof is for sizes {self.old_size}->{self.new_size}; the "
                f"checkpoints have {old.size}->{new.size}"
            )
        if old.origin != new.origin or not verify_consistency(
            old.size, new.size, old.root, new.root, self.path
        ):
            raise TamperError(
                f"log {new.origin!r} at size {new.size} is NOT an extension of the checkpoint at "
                f"size {old.size}: its history was rewritten"
            )


def _load(data: bytes, fmt: str, source: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureError(f"{source}: not UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise SignatureError(f"{source}: expected a JSON object with format {fmt!r}")
    return obj


def _size(obj: Mapping[str, Any], key: str, source: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SignatureError(f"{source}: {key!r} must be a non-negative integer; got {value!r}")
    return value


def _list(obj: Mapping[str, Any], key: str, source: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list) or len(value) > 64:
        raise SignatureError(f"{source}: {key!r} must be a list of at most 64 hashes")
    return value


def _entry_fields(entry: Entry) -> dict[str, Any]:
    fields = json.loads(leaf_bytes(entry))
    return {key: fields[key] for key in _ENTRY_KEYS}


def prove_inclusion(
    ledger: str | Path, seq: int, *, tree: MerkleTree | None = None, size: int | None = None
) -> InclusionProof:
    """Inclusion proof of entry ``seq`` in the tree of ``size`` entries (default: all)."""
    tree = ledger_tree(ledger) if tree is None else tree
    size = tree.size if size is None else size
    with Ledger.open(ledger, create=False) as book:
        entry = book.entry(seq)
    if not 1 <= seq <= size:
        raise LedgerError(f"entry {seq} is not within the first {size} entries")
    path = tuple(tree.inclusion_proof(seq - 1, size))
    return InclusionProof(size, _entry_fields(entry), entry.payload, path)


def prove_consistency(
    ledger: str | Path, old_size: int, new_size: int, *, tree: MerkleTree | None = None
) -> ConsistencyProof:
    """Consistency proof between the trees of ``old_size`` and ``new_size`` entries."""
    tree = ledger_tree(ledger) if tree is None else tree
    return ConsistencyProof(old_size, new_size, tuple(tree.consistency_proof(old_size, new_size)))
