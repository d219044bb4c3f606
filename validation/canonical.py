"""Canonical JSON and hashes shared by protocols, the ledger and the dossier.

RFC 8785 (JSON Canonicalization Scheme) via the ``rfc8785`` package, then SHA-256. Two objects
with the same meaning (key order, whitespace, number spelling) get the same bytes and hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["canonical_hash", "canonical_json", "sha256_file", "sha256_hex"]


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of ``obj`` (dicts, lists, str, int, float, bool, None)."""
    return rfc8785.dumps(obj)


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_hash(obj: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``obj``."""
    return sha256_hex(canonical_json(obj))


def sha256_file(path: Any, *, chunk_size: int = 1 << 20) -> str:
    """Lower-case hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
