"""One packed-key sort of the scores (validation.stats._ranks), the score bins of the AUC
(validation.stats._bins) and the AUC at every input dtype.

The obviously correct twin of :func:`sort_scores` is ``np.argsort(kind="stable")`` of the
float64 scores with runs read off ``np.unique``; that of :func:`score_bins` is ``np.unique`` with
class counts per distinct value, and its three ways (counting, packed sort, row sort) must give the
same bins. The AUC at float32, integer and tied inputs is checked against the O(n²) pairwise twin
and against the same scores upcast to float64 (the ranking, hence every number, must not depend on
the dtype).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.stats import _bins, auc, compare_auc, roc
from validation.stats._bins import score_bins
from validation.stats._naive import naive_auc
from validation.stats._ranks import _keys, sort_scores
from validation.stats.roc import cluster_codes, prepare_clusters

TWIN_TOL = 1e-10


def _check_ranking(scores: np.ndarray) -> None:
    ranking = sort_scores(scores)
    as64 = scores.astype(np.float64)
    want = np.argsort(as64, kind="stable")
    np.testing.assert_array_equal(ranking.order, want)
    _, first = np.unique(as64[want], return_index=True)
    if first.size == scores.size:
        assert ranking.starts is None
    else:
        assert ranking.starts is not None
        np.testing.assert_array_equal(ranking.starts, first)


def _adversarial(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "f64-shared-top-bits":  # distinct doubles differing only in the lowest bits
        out = 1.0 + rng.integers(0, 2**12, n) * 2.0**-52
        out[: min(n, 2)] = (-1e300, 1e300)[: min(n, 2)]  # a range of 64 key bits
        return out
    if kind == "f64-signed-zeros":
        return rng.choice(np.array([-0.0, 0.0, -1e-300, 1e-300, -2.5, 3.0]), n)
    if kind == "f64-extremes":
        return rng.choice(
            np.array([-np.finfo(float).max, -1.0, 0.0, 5e-324, np.finfo(float).max]), n
        )
    if kind == "f32":
        return (1.0 / (1.0 + np.exp(-rng.normal(size=n)))).astype(np.float32)
    if kind == "f32-signed-zeros":
        return rng.choice(np.array([-0.0, 0.0, -1.5, 1.5], dtype=np.float32), n)
    if kind == "int64-wide":
        return rng.integers(-(2**52), 2**52, n)
    if kind == "int-small-signed":  # counted, offsets from a negative minimum
        return rng.integers(-50, 50, n).astype(np.int16)
    if kind == "uint8":
        return rng.integers(0, 256, n).astype(np.uint8)
    if kind == "bool":
        return rng.random(n) < 0.5
    if kind == "f64-logits":  # both signs, no zero: the key space around zero is closed up
        return rng.normal(size=n) * 5.0
    if kind == "f32-logits":
        return (rng.normal(size=n) * 5.0).astype(np.float32)
    return np.round(rng.normal(size=n), 1)  # "f64-ties"


KINDS = [
    "f64-shared-top-bits",
    "f64-signed-zeros",
    "f64-extremes",
    "f32",
    "f32-signed-zeros",
    "int64-wide",
    "int-small-signed",
    "uint8",
    "bool",
    "f64-ties",
    "f64-logits",
    "f32-logits",
]


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 37, 5000])
def test_one_packed_sort_equals_stable_argsort(kind: str, n: int) -> None:
    _check_ranking(_adversarial(kind, n, np.random.default_rng(n)))


def _unique_bins(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The twin: positives and negatives at each distinct value, ascending."""
    values, inverse = np.unique(scores.astype(np.float64), return_inverse=True)
    pos = np.bincount(inverse, weights=y, minlength=values.size).astype(np.intp)
    return pos, np.bincount(inverse, minlength=values.size) - pos


def _occupied(bins: _bins.Bins) -> tuple[np.ndarray, np.ndarray]:
    keep = (bins.pos + bins.neg) > 0  # counting keeps a bin per key value, empty ones included
    return bins.pos[keep], bins.neg[keep]


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 37, 5000])
def test_score_bins_equal_unique_counts_by_every_way(kind: str, n: int) -> None:
    rng = np.random.default_rng(n + 1)
    scores = _adversarial(kind, n, rng)
    y = (rng.random(n) < 0.4).astype(np.int8)
    want_pos, want_neg = _unique_bins(scores, y)
    ways = [score_bins(y, scores), _bins._by_row_sort(y, scores, None)]
    keys, width = _keys(scores)
    if width + 1 <= 62:
        ways.append(_bins._by_packed_sort(y, keys.copy(), width, None, 0))
    if width <= 24:
        ways.append(_bins._by_counting(y, keys.astype(np.intp), 1 << width, None))
    for bins in ways:
        got_pos, got_neg = _occupied(bins)
        np.testing.assert_array_equal(got_pos, want_pos)
        np.testing.assert_array_equal(got_neg, want_neg)


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("kind", KINDS)
def test_clustered_bins_place_every_case_in_its_bin_and_cluster(kind: str) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    scores = _adversarial(kind, n, rng)
    y = (rng.random(n) < 0.4).astype(np.int8)
    clusters = rng.integers(0, 700, n)
    _, rank = np.unique(scores.astype(np.float64), return_inverse=True)
    want = sorted(zip(rank.tolist(), y.tolist(), clusters.tolist(), strict=True))
    keys, width = _keys(scores)
    ways = [score_bins(y, scores, clusters), _bins._by_row_sort(y, scores, clusters)]
    bits = int(clusters.max()).bit_length()
    if width + bits + 1 <= 62:
        ways.append(_bins._by_packed_sort(y, keys.copy(), width, clusters, bits))
    for bins in ways:
        assert bins.slot is not None
        assert bins.member is not None
        np.testing.assert_array_equal(bins.member & 1, bins.slot & 1)  # one label per case
        occupied = np.cumsum((bins.pos + bins.neg) > 0) - 1  # bin index -> distinct value rank
        got = sorted(
            zip(
                occupied[bins.slot >> 1].tolist(),
                (bins.slot & 1).tolist(),
                (bins.member >> 1).tolist(),
                strict=True,
            )
        )
        assert got == want


@pytest.mark.req("REQ-STAT-AUC")
def test_logit_keys_close_the_space_around_zero() -> None:
    """Logits of both signs span 64 key bits as raw IEEE keys; closed up they fit beside a label
    (so the AUC takes the packed sort, not the row sort) and keep their order."""
    scores = np.random.default_rng(2).normal(size=10_000) * 5.0
    keys, width = _keys(scores)
    assert width <= 60
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(keys[order].astype(np.float64)) > 0)


@pytest.mark.req("REQ-STAT-AUC")
def test_truncated_keys_are_repaired_at_scale() -> None:
    """At n = 2**21 only 43 key bits fit beside the row index: doubles that differ below them
    collide and, in row order, come out descending unless the repair sorts their groups."""
    rng = np.random.default_rng(3)
    n = 2**21
    scores = 1.0 + rng.integers(0, 2**20, n) * 2.0**-52
    scores[::7] = np.round(scores[::7], 3)  # and ties among them
    scores[:2] = (-1e300, 1e300)  # a range of 64 key bits: the low ones are dropped
    _check_ranking(scores)


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("kind", KINDS)
def test_auc_of_any_dtype_equals_float64_and_pairwise_twin(kind: str) -> None:
    rng = np.random.default_rng(11)
    scores = _adversarial(kind, 300, rng)
    y = (rng.random(300) < 0.4).astype(np.int8)
    y[:2] = (0, 1)
    native, upcast = auc(y, scores), auc(y, scores.astype(np.float64))
    assert repr(native) == repr(upcast)  # bit for bit: the ranking is all that counts
    assert math.isclose(native.estimate, naive_auc(y.tolist(), scores.tolist()), abs_tol=TWIN_TOL)
    ids = rng.integers(0, 90, 300)
    assert repr(auc(y, scores, clusters=ids)) == repr(
        auc(y, scores.astype(np.float64), clusters=ids)
    )
    other = rng.normal(size=300)
    assert repr(compare_auc(y, scores, other)) == repr(
        compare_auc(y, scores.astype(np.float64), other)
    )


@pytest.mark.req("REQ-STAT-AUC")
@given(
    st.lists(st.integers(-(2**40), 2**40), min_size=2, max_size=60),
    st.sampled_from(["int", "str"]),
)
def test_cluster_codes_partition_like_np_unique(ids: list[int], kind: str) -> None:
    """Codes may skip values (integer ids are coded ``id - min``), but they must group and order
    the cases exactly as the ids do."""
    values = np.asarray(ids) if kind == "int" else np.asarray([f"p{i}" for i in ids])
    y = (np.arange(len(ids)) % 2).astype(np.int8)
    codes = cluster_codes(values)
    assert codes.min() >= 0
    _, want = np.unique(values, return_inverse=True)
    _, got = np.unique(codes, return_inverse=True)
    np.testing.assert_array_equal(got, want)
    pos, neg = prepare_clusters(values, y)
    np.testing.assert_array_equal(pos, codes[y == 1])
    np.testing.assert_array_equal(neg, codes[y == 0])


@pytest.mark.req("REQ-STAT-AUC")
def test_variance_beyond_int64_moments_agrees_with_the_exact_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past about 10**6 cases the DeLong moments leave int64 and are summed in float64 centred
    first: forced here at n = 20,000, that path agrees with the exact one to 1e-12."""
    rng = np.random.default_rng(4)
    y = (rng.random(20_000) < 0.3).astype(np.int8)
    s = np.round(rng.normal(size=y.size) + y, 2)
    exact = auc(y, s)
    monkeypatch.setattr(roc, "_INT64_SAFE", 0)
    fallback = auc(y, s)
    assert fallback.estimate == exact.estimate
    assert exact.se is not None
    assert fallback.se is not None
    assert math.isclose(fallback.se, exact.se, rel_tol=1e-12)
    assert fallback.se != 0.0
