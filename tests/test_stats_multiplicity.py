"""Multiplicity: Holm / Bonferroni against R's p.adjust and a slow twin; fixed-sequence by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from validation.exceptions import InvalidArgumentError
from validation.stats.multiplicity import Outcome, adjust, fixed_sequence

pytestmark = pytest.mark.req("REQ-STAT-MULT")

R, NR, NT = Outcome.REJECTED, Outcome.NOT_REJECTED, Outcome.NOT_TESTED


def slow_holm(p: list[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values from the definition: max_{j<=i} min(1, (m-j+1) p_(j))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_matches_r_p_adjust_worked_example() -> None:
    """R 4.x: ``p.adjust(c(0.0021, 0.0475, 0.012, 0.3, 0.0181), "holm")``
    -> 0.0105 0.095 0.048 0.3 0.0543. By hand: sorted 0.0021*5, 0.012*4, 0.0181*3, 0.0475*2, 0.3*1.
    At alpha 0.05 Holm rejects the two smallest and stops at 0.0181 (0.0543 > 0.05).
    """
    res = adjust([0.0021, 0.0475, 0.012, 0.3, 0.0181], method="holm", alpha=0.05)
    np.testing.assert_allclose(res.adjusted, [0.0105, 0.095, 0.048, 0.3, 0.0543], rtol=1e-12)
    assert res.outcomes == (R, NR, R, NR, NR)
    assert res.reject == (True, False, True, False, False)
    assert res.method == "holm"
    assert res.alpha == 0.05


def test_holm_and_bonferroni_second_example() -> None:
    """R 4.x: ``p <- c(0.01, 0.04, 0.03, 0.005)``; ``p.adjust(p, "holm")`` -> 0.03 0.06 0.06 0.02;
    ``p.adjust(p, "bonferroni")`` -> 0.04 0.16 0.12 0.02 (capped at 1)."""
    p = [0.01, 0.04, 0.03, 0.005]
    holm = adjust(p, method="holm", alpha=0.05)
    bonf = adjust(p, method="bonferroni", alpha=0.05)
    np.testing.assert_allclose(holm.adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)
    np.testing.assert_allclose(bonf.adjusted, [0.04, 0.16, 0.12, 0.02], rtol=1e-12)
    assert holm.reject == (True, False, False, True)
    assert bonf.reject == (True, False, False, True)
    assert adjust([0.3, 0.6], method="bonferroni", alpha=0.05).adjusted == (0.6, 1.0)


# statsmodels' Holm branch calls gc.collect() on every call (~0.1 s here): few examples suffice.
@settings(max_examples=8)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.sampled_from([0.01, 0.05, 0.1]))
def test_holm_matches_slow_twin_and_statsmodels(p: list[float], alpha: float) -> None:
    res = adjust(p, method="holm", alpha=alpha)
    np.testing.assert_allclose(res.adjusted, slow_holm(p), rtol=1e-12, atol=0)
    reject, adjusted, _, _ = multipletests(p, alpha=alpha, method="holm")
    assert res.reject == tuple(bool(r) for r in reject)
    np.testing.assert_allclose(res.adjusted, adjusted, rtol=1e-15)
    bonf = adjust(p, method="bonferroni", alpha=alpha)
    np.testing.assert_allclose(bonf.adjusted, np.minimum(1.0, np.asarray(p) * len(p)), rtol=1e-12)
    # Holm is never less powerful than Bonferroni
    assert all(h or not b for h, b in zip(res.reject, bonf.reject, strict=True))


def test_fixed_sequence_stops_at_first_failure() -> None:
    """By hand, alpha 0.05: 0.01 <= .05 rejected, 0.03 rejected, 0.2 fails -> stop; 0.001 after
    the stop is not tested although small. Adjusted = running maximum (Westfall & Krishen 2001)."""
    res = fixed_sequence([0.01, 0.03, 0.2, 0.001], alpha=0.05, names=["auc", "sens", "spec", "cal"])
    assert res.outcomes == (R, R, NR, NT)
    assert res.stopped_at == 2
    assert res.adjusted == (0.01, 0.03, 0.2, 0.2)
    assert res.names == ("auc", "sens", "spec", "cal")
    assert [o.value for o in res.outcomes] == ["rejected", "rejected", "not rejected", "not tested"]


def test_fixed_sequence_all_rejected_and_first_fails() -> None:
    all_in = fixed_sequence([0.001, 0.05, 0.04], alpha=0.05)
    assert all_in.outcomes == (R, R, R)
    assert all_in.stopped_at is None
    assert all_in.names == ("H1", "H2", "H3")
    first_out = fixed_sequence([0.051, 0.0001], alpha=0.05)
    assert first_out.outcomes == (NR, NT)
    assert first_out.stopped_at == 0


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10))
def test_fixed_sequence_rejects_iff_running_max_below_alpha(p: list[float]) -> None:
    res = fixed_sequence(p, alpha=0.05)
    for i, outcome in enumerate(res.outcomes):
        assert (outcome is R) == (max(p[: i + 1]) <= 0.05)
        assert (outcome is NT) == any(v > 0.05 for v in p[:i])


@pytest.mark.req("REQ-STAT-EDGE")
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: adjust([0.1, 1.2], method="holm", alpha=0.05),
            r"p_values must be p-values in \[0, 1\]",
        ),
        (lambda: adjust([], method="holm", alpha=0.05), "p_values must be at least one p-value"),
        (lambda: adjust([0.1, np.nan], method="holm", alpha=0.05), "p_values must be finite"),
        (
            lambda: adjust([0.1], method="hochberg", alpha=0.05),
            "method must be one of 'bonferroni', 'holm'",
        ),
        (
            lambda: adjust([0.1], method="holm", alpha=1.0),
            "alpha must be a number strictly between 0 and 1",
        ),
        (lambda: fixed_sequence([0.1], alpha=0), "alpha must be a number strictly between 0 and 1"),
        (
            lambda: fixed_sequence([0.1, 0.2], alpha=0.05, names=["a", "a"]),
            "names must be 2 unique names",
        ),
    ],
)
def test_bad_arguments(call, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        call()
