"""Multiplicity control across endpoints: Holm, Bonferroni and fixed-sequence (hierarchical) testing.

* :func:`adjust` -- single-step Bonferroni and step-down Holm (Holm 1979, "A simple sequentially
  rejective multiple test procedure", Scand J Stat 6:65-70) adjusted p-values, computed by
  :func:`statsmodels.stats.multitest.multipletests`; R: ``p.adjust(p, method = "holm")``.
* :func:`fixed_sequence` -- pre-ordered endpoints each tested at the full ``alpha``; testing stops
  at the first non-rejection and later endpoints are *not tested* (Maurer, Hothorn & Lehmacher
  1995; Westfall & Krishen 2001, "Optimally weighted, fixed sequence and gatekeeper multiple
  testing procedures", JSPI 99:25-40; EMA/CHMP "Guideline on multiplicity issues in clinical
  trials" 2016). The adjusted p-value of endpoint ``i`` is ``max(p_1, ..., p_i)``.

Outcomes use the controlled vocabulary of :class:`Outcome` ("rejected", "not rejected",
"not tested"), as written into results.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

from validation.stats._checks import check_option, check_scores, fail

__all__ = ["Adjustment", "FixedSequence", "Outcome", "adjust", "fixed_sequence"]

_ADJUST_METHODS = ("bonferroni", "holm")


class Outcome(StrEnum):
    """What became of one hypothesis."""

    REJECTED = "rejected"
    NOT_REJECTED = "not rejected"
    NOT_TESTED = "not tested"


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Adjusted p-values and decisions of a Holm/Bonferroni family, in the input order.

    Attributes
    ----------
    p_values, adjusted : tuple of float
        Raw and adjusted p-values (adjusted capped at 1).
    outcomes : tuple of Outcome
        ``REJECTED`` where ``adjusted <= alpha``, else ``NOT_REJECTED``.
    method : str
    alpha : float
        Family-wise error rate controlled.
    """

    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    outcomes: tuple[Outcome, ...]
    method: str
    alpha: float

    @property
    def reject(self) -> tuple[bool, ...]:
        """Reject flags, one per hypothesis."""
        return tuple(o is Outcome.REJECTED for o in self.outcomes)


@dataclass(frozen=True, slots=True)
class FixedSequence:
    """Fixed-sequence (hierarchical) test of ordered hypotheses.

    Attributes
    ----------
    names : tuple of str
        Hypothesis names in testing order (``"H1", "H2", ...`` when not given).
    p_values : tuple of float
        Raw p-values in testing order.
    adjusted : tuple of float
        ``max(p_1, ..., p_i)`` (Westfall & Krishen 2001): hypothesis ``i`` is rejected iff
        ``adjusted[i] <= alpha``.
    outcomes : tuple of Outcome
        ``REJECTED`` up to the first failure, ``NOT_REJECTED`` for it, ``NOT_TESTED`` after it.
    alpha : float
    stopped_at : int or None
        Index of the first hypothesis not rejected (testing stopped there); None if all rejected.
    method : str
        ``"fixed-sequence"``.
    """

    names: tuple[str, ...]
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    outcomes: tuple[Outcome, ...]
    alpha: float
    stopped_at: int | None
    method: str = "fixed-sequence"


def _check_p(p_values: ArrayLike) -> tuple[float, ...]:
    p = check_scores("p_values", p_values)
    if len(p) == 0:
        raise fail("p_values", "at least one p-value", "an empty array")
    outside = (p < 0.0) | (p > 1.0)
    if outside.any():
        raise fail(
            "p_values",
            "p-values in [0, 1]",
            f"{int(outside.sum())} outside, e.g. {p[outside][:3].tolist()}",
        )
    return tuple(float(v) for v in p)


def _check_alpha(alpha: float) -> float:
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, int | float)
        or not 0.0 < float(alpha) < 1.0
    ):
        raise fail(
            "alpha", "a number strictly between 0 and 1 (the family-wise error rate)", repr(alpha)
        )
    return float(alpha)


def adjust(p_values: ArrayLike, *, method: str, alpha: float) -> Adjustment:
    """Holm or Bonferroni adjusted p-values with reject decisions at ``alpha``.

    Parameters
    ----------
    p_values : array_like, shape (m,)
        Raw p-values in [0, 1], any order.
    method : {"holm", "bonferroni"}
        Required (no silent default): Holm's step-down procedure (uniformly more powerful, same
        family-wise control) or single-step Bonferroni.
    alpha : float
        Family-wise error rate, e.g. 0.05.

    Returns
    -------
    Adjustment
        Matches ``p.adjust(p, method = "holm" | "bonferroni")`` in R and
        ``statsmodels.stats.multitest.multipletests(p, alpha, method)``.
    """
    p = _check_p(p_values)
    method = check_option("method", method, _ADJUST_METHODS)
    alpha = _check_alpha(alpha)
    _, adjusted, _, _ = multipletests(np.asarray(p), alpha=alpha, method=method)
    adj = tuple(float(v) for v in adjusted)
    outcomes = tuple(Outcome.REJECTED if v <= alpha else Outcome.NOT_REJECTED for v in adj)
    return Adjustment(p, adj, outcomes, method, alpha)


def fixed_sequence(
    p_values_in_order: ArrayLike, *, alpha: float, names: tuple[str, ...] | list[str] | None = None
) -> FixedSequence:
    """Hierarchical (fixed-sequence) testing of endpoints in their pre-registered order.

    Each hypothesis is tested at the full ``alpha`` in the given order; the first non-rejection
    stops testing and every later hypothesis is "not tested" (its p-value is reported but carries no
    claim). Strong family-wise control at ``alpha`` (Maurer et al. 1995). R: no base function;
    ``gMCP`` with a chain graph gives the same decisions.

    Parameters
    ----------
    p_values_in_order : array_like, shape (m,)
        Raw p-values, in the pre-registered testing order.
    alpha : float
        Family-wise error rate.
    names : sequence of str, optional
        Hypothesis names in the same order; unique.

    Returns
    -------
    FixedSequence
    """
    p = _check_p(p_values_in_order)
    alpha = _check_alpha(alpha)
    if names is None:
        labels = tuple(f"H{i + 1}" for i in range(len(p)))
    else:
        labels = tuple(str(x) for x in names)
        if len(labels) != len(p) or len(set(labels)) != len(labels):
            raise fail("names", f"{len(p)} unique names (one per p-value)", list(labels))
    adjusted = tuple(float(v) for v in np.maximum.accumulate(np.asarray(p)))
    stopped_at = next((i for i, v in enumerate(p) if v > alpha), None)
    outcomes = tuple(
        Outcome.REJECTED
        if stopped_at is None or i < stopped_at
        else Outcome.NOT_REJECTED
        if i == stopped_at
        else Outcome.NOT_TESTED
        for i in range(len(p))
    )
    return FixedSequence(labels, p, adjusted, outcomes, alpha, stopped_at)
