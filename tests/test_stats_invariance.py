"""Invariance checks over a registry of metrics (after scikit-learn's ``metrics/tests/test_common``).

Each :class:`MetricCase` says how to call a metric on generated data and which invariances must
hold: ``order`` (permuting cases), ``list`` (Python lists instead of arrays), ``monotone``
(strictly increasing transforms of every score), ``flip`` (relabelling; the entry says what the
result must become). To register another metric, append a ``MetricCase`` to ``METRICS`` (or
call :func:`register`): the tests below pick it up for every invariance it lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validation.stats import (
    auc,
    calls,
    cohen_kappa,
    compare_auc,
    diagnostic,
    mcnemar,
)

Arrays = tuple[np.ndarray, list[np.ndarray], np.ndarray]  # y_true, scores, clusters
Values = tuple[float, ...]

INVARIANCES = ("order", "list", "monotone", "flip")
#: Results may differ in the last bits when the summation order changes.
INVARIANCE_TOL = 1e-12


@dataclass(frozen=True)
class MetricCase:
    """One registered metric.

    Attributes
    ----------
    name : str
    compute : callable(y_true, scores, clusters) -> tuple of floats
        Calls the metric and returns the numbers that must be invariant (nan compares equal).
        ``y_true``, each score and ``clusters`` arrive as arrays or, for ``list``, as lists.
    n_scores : int
        How many score arrays the metric takes.
    score_kind : "continuous" or "binary"
        Continuous scores have ties (one decimal); binary ones are 0/1 calls.
    invariances : frozenset of str
        Subset of ``INVARIANCES`` that must hold.
    flip_inputs : callable(Arrays) -> Arrays, optional
        The relabelling for ``flip`` (default: ``y_true -> 1 - y_true``).
    flip_expected : callable(Values) -> Values, optional
        What the values must become after ``flip``.
    """

    name: str
    compute: Callable[[Any, Sequence[Any], Any], Values]
    n_scores: int = 1
    score_kind: str = "continuous"
    invariances: frozenset[str] = field(default_factory=frozenset)
    flip_inputs: Callable[[Arrays], Arrays] | None = None
    flip_expected: Callable[[Values], Values] | None = None


METRICS: list[MetricCase] = []


def register(case: MetricCase) -> MetricCase:
    """Add a metric to the registry (names must be unique)."""
    if any(m.name == case.name for m in METRICS):
        raise ValueError(f"metric {case.name!r} is registered twice")
    unknown = set(case.invariances) - set(INVARIANCES)
    if unknown:
        raise ValueError(f"metric {case.name!r}: unknown invariances {sorted(unknown)}")
    METRICS.append(case)
    return case


def _flip_y(data: Arrays) -> Arrays:
    y, scores, clusters = data
    return 1 - y, scores, clusters


def _est(e: Any) -> Values:
    return (e.estimate, e.ci_low, e.ci_high, e.se if e.se is not None else math.nan)


def _auc_flipped(v: Values) -> Values:
    est, low, high, se = v
    # 1 - AUC; the CI mirrors exactly because pROC-style clipping to [0, 1] is symmetric.
    return (1 - est, 1 - high, 1 - low, se)


register(
    MetricCase(
        name="auc",
        compute=lambda y, s, c: _est(auc(y, s[0])),
        invariances=frozenset(INVARIANCES),
        flip_expected=_auc_flipped,
    )
)
register(
    MetricCase(
        name="auc_clustered",
        compute=lambda y, s, c: _est(auc(y, s[0], clusters=c)),
        invariances=frozenset(INVARIANCES),
        flip_expected=_auc_flipped,
    )
)


def _cmp(r: Any) -> Values:
    return (r.estimate, r.ci_low, r.ci_high, r.statistic, r.p_value, r.estimate_a, r.estimate_b)


register(
    MetricCase(
        name="compare_auc",
        compute=lambda y, s, c: _cmp(compare_auc(y, s[0], s[1])),
        n_scores=2,
        invariances=frozenset(INVARIANCES),
        flip_expected=lambda v: (-v[0], -v[2], -v[1], -v[3], v[4], 1 - v[5], 1 - v[6]),
    )
)
register(
    MetricCase(
        name="compare_auc_clustered",
        compute=lambda y, s, c: _cmp(compare_auc(y, s[0], s[1], clusters=c)),
        n_scores=2,
        invariances=frozenset(INVARIANCES),
        flip_expected=lambda v: (-v[0], -v[2], -v[1], -v[3], v[4], 1 - v[5], 1 - v[6]),
    )
)

_DIAG_KEYS = ("sensitivity", "specificity", "ppv", "npv", "accuracy")
register(
    MetricCase(
        name="diagnostic",
        compute=lambda y, s, c: tuple(x for k in _DIAG_KEYS for x in _est(diagnostic(y, s[0])[k])),
        score_kind="binary",
        # Flipping the reference and the calls swaps sensitivity<->specificity, ppv<->npv.
        invariances=frozenset({"order", "list", "flip"}),
        flip_inputs=lambda d: (1 - d[0], [1 - d[1][0]], d[2]),
        flip_expected=lambda v: v[4:8] + v[0:4] + v[12:16] + v[8:12] + v[16:20],
    )
)
register(
    MetricCase(
        name="mcnemar",
        compute=lambda y, s, c: (lambda t: (t.statistic, t.p_value))(
            mcnemar(s[0], s[1], exact=False)
        ),
        n_scores=2,
        score_kind="binary",
        invariances=frozenset({"order", "list", "flip"}),
        # Recoding both "correct" indicators swaps the discordant cells: chi-square unchanged.
        flip_inputs=lambda d: (d[0], [1 - d[1][0], 1 - d[1][1]], d[2]),
        flip_expected=lambda v: v,
    )
)
register(
    MetricCase(
        name="cohen_kappa",
        compute=lambda y, s, c: _est(cohen_kappa(y, s[0])),
        score_kind="binary",
        invariances=frozenset({"order", "list", "flip"}),
        # Renaming the categories of both raters leaves kappa and its variance unchanged.
        flip_inputs=lambda d: (1 - d[0], [1 - d[1][0]], d[2]),
        flip_expected=lambda v: v,
    )
)


# --------------------------------------------------------------------------- data ------------

N_CASES = 80


def _data(case: MetricCase, seed: int) -> Arrays:
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, 25, N_CASES)
    y = (rng.random(N_CASES) < 0.4).astype(np.int64)
    y[:3], y[3:6] = 1, 0  # both classes, always
    scores = []
    for _ in range(case.n_scores):
        latent = y * 0.9 + rng.normal(size=N_CASES)
        if case.score_kind == "binary":
            scores.append(calls(latent, 0.45).astype(np.int64))
        else:
            scores.append(np.round(latent, 1))  # ties
    return y, scores, clusters


MONOTONE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "exp": np.exp,
    "cubic": lambda s: s**3 + 2.0 * s,
    "logistic": lambda s: 1.0 / (1.0 + np.exp(-3.0 * s)),
    "affine": lambda s: 7.5 * s - 100.0,
}


def _assert_same(got: Values, want: Values, tol: float = INVARIANCE_TOL) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if math.isnan(w):
            assert math.isnan(g)
        else:
            assert math.isclose(g, w, rel_tol=tol, abs_tol=tol), (got, want)


def _pairs(invariance: str) -> list[Any]:
    return [pytest.param(m, id=m.name) for m in METRICS if invariance in m.invariances]


# --------------------------------------------------------------------------- tests -----------


def test_registry_is_well_formed() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS) >= 7
    for m in METRICS:
        assert "flip" not in m.invariances or m.flip_expected is not None
        with pytest.raises(ValueError, match="registered twice"):
            register(m)


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("case", _pairs("order"))
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1))
def test_case_order_does_not_matter(case: MetricCase, seed: int) -> None:
    y, scores, clusters = _data(case, 11)
    base = case.compute(y, scores, clusters)
    perm = np.random.default_rng(seed).permutation(N_CASES)
    _assert_same(case.compute(y[perm], [s[perm] for s in scores], clusters[perm]), base)


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("case", _pairs("list"))
def test_lists_and_arrays_agree(case: MetricCase) -> None:
    y, scores, clusters = _data(case, 12)
    got = case.compute(y.tolist(), [s.tolist() for s in scores], clusters.tolist())
    _assert_same(got, case.compute(y, scores, clusters), tol=0.0)


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.parametrize("transform", sorted(MONOTONE))
@pytest.mark.parametrize("case", _pairs("monotone"))
def test_monotone_transform_of_scores_does_not_matter(case: MetricCase, transform: str) -> None:
    y, scores, clusters = _data(case, 13)
    moved = [MONOTONE[transform](s) for s in scores]
    _assert_same(case.compute(y, moved, clusters), case.compute(y, scores, clusters))


@pytest.mark.req("REQ-STAT-AUC")
@pytest.mark.req("REQ-STAT-PROP")
@pytest.mark.parametrize("case", _pairs("flip"))
@pytest.mark.parametrize("seed", [14, 15, 16])
def test_label_flip_gives_the_registered_mirror(case: MetricCase, seed: int) -> None:
    data = _data(case, seed)
    assert case.flip_expected is not None
    flip = case.flip_inputs or _flip_y
    flipped = case.compute(*flip(data))
    _assert_same(flipped, case.flip_expected(case.compute(*data)), tol=1e-10)
