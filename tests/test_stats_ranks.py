"""One packed-key sort of the scores (validation.stats._ranks) and the AUC at every input dtype.

The obviously correct twin of :func:`sort_scores` is ``np.argsort(kind="stable")`` of the
float64 scores with runs read off ``np.unique``; the AUC at float32, integer and tied inputs is
checked against the O(n²) pairwise twin and against the same scores upcast to float64 (the
ranking, hence every number, must not depend on the dtype).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.stats import auc, compare_auc
from validation.stats._naive import naive_auc
from validation.stats._ranks import sort_labels, sort_scores
from validation.stats.roc import prepare_clusters

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
    if kind == "uint8":
        return rng.integers(0, 256, n).astype(np.uint8)
    if kind == "bool":
        return rng.random(n) < 0.5
    return np.round(rng.normal(size=n), 1)  # "f64-ties"


KINDS = [
    "f64-shared-top-bits",
    "f64-signed-zeros",
    "f64-extremes",
    "f32",
    "f32-signed-zeros",
    "int64-wide",
    "uint8",
    "bool",
    "f64-ties",
]


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 37, 5000])
def test_one_packed_sort_equals_stable_argsort(kind: str, n: int) -> None:
    _check_ranking(_adversarial(kind, n, np.random.default_rng(n)))


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 37, 5000])
def test_label_packed_sort_has_the_runs_and_labels_of_stable_argsort(kind: str, n: int) -> None:
    rng = np.random.default_rng(n + 1)
    scores = _adversarial(kind, n, rng)
    is_pos = rng.random(n) < 0.4
    got = sort_labels(scores, is_pos)
    as64 = scores.astype(np.float64)
    if got is None:  # key + label need more than 64 bits: only 64-bit scores can, never float32
        assert scores.dtype.itemsize == 8
        assert n >= 2
        return
    ranking, labels = got
    want = np.argsort(as64, kind="stable")
    values, first = np.unique(as64[want], return_index=True)
    run = np.searchsorted(values, as64[want])
    if values.size == n:
        assert ranking.starts is None
        np.testing.assert_array_equal(labels, is_pos[want])
    else:
        assert ranking.starts is not None
        np.testing.assert_array_equal(ranking.starts, first)
        per_run = np.bincount(run, weights=is_pos[want], minlength=values.size)
        np.testing.assert_array_equal(
            np.bincount(run, weights=labels, minlength=values.size), per_run
        )


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
def test_integer_cluster_codes_equal_np_unique_inverse(ids: list[int], kind: str) -> None:
    values = np.asarray(ids) if kind == "int" else np.asarray([f"p{i}" for i in ids])
    y = (np.arange(len(ids)) % 2).astype(np.int8)
    pos, neg = prepare_clusters(values, y)
    _, inverse = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(pos, inverse[y == 1])
    np.testing.assert_array_equal(neg, inverse[y == 0])
