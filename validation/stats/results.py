"""Frozen result objects shared by every statistics family.

Results carry full precision; only templates round (STYLE.md rule 7). A statistic that cannot be
estimated for the data given is returned with ``estimate = nan``, ``ci_low = ci_high = nan`` and a
``reason`` string, never a number that looks valid and never an exception
(:meth:`Estimate.not_estimable`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Comparison", "Estimate", "Test"]


class _Estimability:
    """What every result object says of itself: estimable, or not with its ``reason``."""

    __slots__ = ()
    reason: str | None

    @property
    def estimable(self) -> bool:
        """True when the statistic is a number (``reason`` is None)."""
        return self.reason is None


@dataclass(frozen=True, slots=True)
class Estimate(_Estimability):
    """A point estimate with its confidence interval.

    Attributes
    ----------
    estimate, ci_low, ci_high : float
        Full-precision values; ``nan`` when not estimable.
    confidence : float
        Nominal two-sided coverage of ``[ci_low, ci_high]``, e.g. 0.95.
    method : str
        The interval method, e.g. ``"delong"``, ``"wilson"``, ``"bca-bootstrap"``.
    n : int
        Number of units the estimate rests on (cases, or the denominator of a proportion).
    se : float or None
        Standard error where the method defines one.
    reason : str or None
        Why the statistic is not estimable; ``None`` when it is.
    """

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str
    n: int
    se: float | None = None
    reason: str | None = None

    @classmethod
    def not_estimable(cls, reason: str, *, confidence: float, method: str, n: int) -> Estimate:
        """The documented result for undefined cases: all values ``nan``, with the reason."""
        nan = math.nan
        return cls(nan, nan, nan, confidence, method, n, None, reason)


@dataclass(frozen=True, slots=True)
class Comparison(_Estimability):
    """A paired comparison of two estimates: ``estimate = a - b``, its CI, z and two-sided p."""

    estimate: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    confidence: float
    method: str
    n: int
    estimate_a: float
    estimate_b: float
    se: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Test(_Estimability):
    """A hypothesis test: statistic, p-value (from survival functions), df where defined."""

    __test__ = False  # not a pytest test class

    statistic: float
    p_value: float
    method: str
    n: int
    df: float | None = None
    reason: str | None = None
