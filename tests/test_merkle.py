"""The ledger's Merkle tree and proofs against RFC 9162's recursive definitions and pymerkle.

The slow twin below transcribes RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1 (PROOF /
SUBPROOF) literally, recursing over lists of leaves; pymerkle (an independent implementation,
used only here) checks roots and proofs again.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.exceptions import LedgerError
from validation.ledger.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    verify_consistency,
    verify_inclusion,
)

pymerkle = pytest.importorskip("pymerkle")


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, literally."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1, literally."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1, literally."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert MerkleTree().root() == EMPTY_ROOT == mth([])


def test_rfc6962_worked_structure_of_seven_leaves() -> None:
    """RFC 6962 §2.1.3's example tree of 7 leaves (d0..d6): the path of d0 is [b, h, l] — i.e.
    leaf d1, node(d2,d3) and node(d4..d6) — and of d3 is [c, g, l]; consistency 3->7 is
    [c, d, g, l] and 4->7 is [l]."""
    d = leaves(7)
    tree = MerkleTree(d)
    h = [hashlib.sha256(b"\x00" + x).digest() for x in d]

    def node(a: bytes, b: bytes) -> bytes:
        return hashlib.sha256(b"\x01" + a + b).digest()

    g, hh = node(h[0], h[1]), node(h[2], h[3])
    i, j = node(h[4], h[5]), h[6]
    k, l_ = node(g, hh), node(i, j)
    assert tree.root() == node(k, l_)
    assert tree.inclusion_proof(0, 7) == [h[1], hh, l_]
    assert tree.inclusion_proof(3, 7) == [h[2], g, l_]
    assert tree.inclusion_proof(6, 7) == [i, k]
    assert tree.consistency_proof(3, 7) == [h[2], h[3], g, l_]
    assert tree.consistency_proof(4, 7) == [l_]
    assert tree.consistency_proof(6, 7) == [i, j, k]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70), data=st.data())
def test_tree_and_proofs_match_the_rfc_twin(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    tree = MerkleTree(d)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert tree.root(size) == mth(d[:size])
    proof = tree.inclusion_proof(index, size)
    assert proof == path(index, d[:size])
    leaf = hashlib.sha256(b"\x00" + d[index]).digest()
    assert verify_inclusion(leaf, index, size, proof, mth(d[:size]))
    cproof = tree.consistency_proof(old, size)
    assert cproof == ([] if old == size else subproof(old, d[:size], True))
    assert verify_consistency(old, size, mth(d[:old]), mth(d[:size]), cproof)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), data=st.data())
def test_proofs_fail_for_a_wrong_leaf_root_or_position(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    tree = MerkleTree(d)
    index = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(index, n)
    leaf = hashlib.sha256(b"\x00" + d[index]).digest()
    other = hashlib.sha256(b"\x00tampered").digest()
    assert not verify_inclusion(other, index, n, proof, tree.root())
    assert not verify_inclusion(leaf, (index + 1) % n, n, proof, tree.root())
    assert not verify_inclusion(leaf, index, n, proof, other)
    old = data.draw(st.integers(1, n - 1))
    cproof = tree.consistency_proof(old, n)
    rewritten = MerkleTree([b"edited", *d[1:]])
    assert not verify_consistency(old, n, rewritten.root(old), tree.root(), cproof)
    assert not verify_consistency(old, n, tree.root(old), rewritten.root(), cproof)


def _pymerkle_tree(d: list[bytes]):  # type: ignore[no-untyped-def]
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    for x in d:
        tree.append_entry(x)
    return tree


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 32, 33, 100])
def test_roots_and_proofs_match_pymerkle(n: int) -> None:
    d = leaves(n)
    ours, theirs = MerkleTree(d), _pymerkle_tree(d)
    for size in sorted({1, n // 2 or 1, n - 1 or 1, n}):
        assert ours.root(size) == theirs.get_root(size)
        for index in sorted({0, size // 2, size - 1}):
            # pymerkle numbers leaves from 1
            theirs_path = theirs.prove_inclusion(index + 1, size).path
            assert ours.inclusion_proof(index, size) == _pymerkle_inclusion(theirs_path, index)
        if size < n:
            pm = theirs.prove_consistency(size, n)
            pymerkle.verify_consistency(theirs.get_root(size), theirs.get_root(n), pm)
            assert verify_consistency(
                size, n, ours.root(size), ours.root(n), ours.consistency_proof(size, n)
            )


def _pymerkle_inclusion(theirs_path: list[bytes], index: int) -> list[bytes]:
    """pymerkle's path starts with the leaf itself (or its sibling pair): drop the leaf."""
    return list(theirs_path[1:])


def test_a_large_tree_is_incremental_and_proofs_are_logarithmic() -> None:
    tree = MerkleTree()
    for i in range(100_000):
        tree.append_hash(hashlib.sha256(i.to_bytes(4, "big")).digest())
    assert len(tree.inclusion_proof(12_345, 100_000)) <= 17
    assert len(tree.consistency_proof(65_537, 100_000)) <= 2 * 17
    assert verify_consistency(
        65_537, 100_000, tree.root(65_537), tree.root(), tree.consistency_proof(65_537, 100_000)
    )


def test_bad_sizes_are_refused_with_the_range() -> None:
    tree = MerkleTree(leaves(4))
    with pytest.raises(LedgerError, match=r"between 0 and 4.*got 5"):
        tree.root(5)
    with pytest.raises(LedgerError, match=r"leaf index must be in 0\.\.3"):
        tree.inclusion_proof(4, 4)
    with pytest.raises(LedgerError, match="old size 3 is larger than new size 2"):
        tree.consistency_proof(3, 2)
