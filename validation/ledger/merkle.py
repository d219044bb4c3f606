"""Merkle tree over the ledger's entries, with RFC 6962/9162 hashing and proofs (pure, no I/O).

Hashing (RFC 9162 §2.1.1, the same as RFC 6962 §2.1)::

    leaf hash  = SHA-256(0x00 || leaf bytes)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256()                       (the empty tree)
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n]))  k = largest power of two < n

A ledger entry's leaf bytes are :func:`leaf_bytes`: the RFC 8785 canonical JSON of
``{actor, event_type, payload_hash, prev_hash, seq, time_utc}`` — exactly the bytes whose SHA-256 is
the entry's ``entry_hash`` in the hash chain, so a proof's leaf names one chained entry.

:class:`MerkleTree` is incremental: appending a leaf updates the hashes of the complete aligned
subtrees it closes (amortised O(1), at most log2 n). The root of any earlier size, an inclusion
proof (RFC 9162 §2.1.3) and a consistency proof (§2.1.4) use only those stored subtree hashes and
O(log n) hash operations each, so trees of 10^5–10^6 leaves stay cheap. :func:`verify_inclusion`
and :func:`verify_consistency` are the verifiers of RFC 9162 §2.1.3.2 and §2.1.4.2, written from
the RFC's algorithm text. ``tests/test_merkle.py`` checks all of it against pymerkle and against a
slow, obviously-correct recursive twin of the RFC's definitions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from validation.exceptions import LedgerError
from validation.ledger.chain import entry_bytes
from validation.ledger.models import Entry

__all__ = [
    "EMPTY_ROOT",
    "MerkleTree",
    "leaf_bytes",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

#: MTH of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_bytes(entry: Entry) -> bytes:
    """Canonical JSON of the entry's chained fields; its SHA-256 hex is ``entry.entry_hash``."""
    return entry_bytes(
        entry.seq,
        entry.time_utc,
        entry.actor,
        entry.event_type,
        entry.payload_hash,
        entry.prev_hash,
    )


def _split(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """Append-only Merkle tree keeping the hash of every complete aligned subtree.

    ``levels[h][i]`` is the hash of leaves ``[i * 2**h, (i + 1) * 2**h)``; leaves are numbered from
    0 (ledger entry ``seq`` is leaf ``seq - 1``).
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for data in leaves:
            self.append(data)

    @classmethod
    def from_entries(cls, entries: Iterable[Entry]) -> MerkleTree:
        """The tree of ledger entries in sequence order (entry ``seq`` must be leaf ``seq - 1``)."""
        tree = cls()
        for entry in entries:
            if entry.seq != tree.size + 1:
                raise LedgerError(
                    f"ledger entries out of sequence: entry {entry.seq} where {tree.size + 1} was "
                    "expected; run 'her2map ledger verify'"
                )
            tree.append(leaf_bytes(entry))
        return tree

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def append(self, data: bytes) -> None:
        """Add a leaf (its bytes); update the complete subtrees it closes."""
        self.append_hash(leaf_hash(data))

    def append_hash(self, digest: bytes) -> None:
        """Add a leaf given its leaf hash."""
        levels = self._levels
        levels[0].append(digest)
        height = 0
        while len(levels[height]) % 2 == 0:
            row = levels[height]
            parent = node_hash(row[-2], row[-1])
            if height + 1 == len(levels):
                levels.append([])
            levels[height + 1].append(parent)
            height += 1

    def _range(self, lo: int, hi: int) -> bytes:
        """MTH of leaves [lo, hi); ``lo`` is a multiple of the largest power of two <= hi - lo."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        height = n.bit_length() - 1
        if n == 1 << height:
            return self._levels[height][lo >> height]
        k = _split(n)
        return node_hash(self._range(lo, lo + k), self._range(lo + k, hi))

    def _check_size(self, size: int, name: str = "size") -> int:
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self.size:
            raise LedgerError(
                f"{name} must be a tree size between 0 and {self.size} (the ledger's entries); "
                f"got {size!r}"
            )
        return size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all)."""
        return self._range(0, self.size if size is None else self._check_size(size))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of leaf ``index`` (0-based) in the tree of the first ``size`` leaves.

        RFC 9162 §2.1.3.1: PATH(m, D[n]) = PATH(m, D[0:k]) + MTH(D[k:n]) if m < k, else
        PATH(m - k, D[k:n]) + MTH(D[0:k]); built here leaf-up (the same list).
        """
        self._check_size(size)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
            raise LedgerError(
                f"leaf index must be in 0..{size - 1} for a tree of size {size}; got {index!r}"
            )
        path: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._range(lo, lo + k))
                lo += k
        return path[::-1]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """Proof that the tree of ``old_size`` leaves is a prefix of the one of ``new_size``.

        RFC 9162 §2.1.4.1, SUBPROOF(m, D[n], b), iteratively; empty when ``old_size`` is 0 or
        equals ``new_size``.
        """
        self._check_size(new_size, "new size")
        self._check_size(old_size, "old size")
        if old_size > new_size:
            raise LedgerError(f"old size {old_size} is larger than new size {new_size}")
        if old_size in (0, new_size):
            return []
        outer: list[bytes] = []
        lo, hi, started_complete = 0, new_size, True
        while old_size - lo != hi - lo:
            k = _split(hi - lo)
            if old_size - lo <= k:
                outer.append(self._range(lo + k, hi))
                hi = lo + k
            else:
                outer.append(self._range(lo, lo + k))
                lo += k
                started_complete = False
        inner = [] if started_complete else [self._range(lo, hi)]
        return inner + outer[::-1]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the ``old_size`` tree is a prefix of ``new_size``'s?"""
    if old_size > new_size or old_size < 0:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
