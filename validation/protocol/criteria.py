"""Acceptance criteria of protocol endpoints: a tiny grammar, parsed once, evaluated per result.

Grammar (no ``eval``; one regular expression per form)::

    criterion := QUANTITY OP NUMBER | QUANTITY "between" NUMBER "and" NUMBER
    QUANTITY  := estimate | ci_low | ci_high | p_value | statistic
    OP        := >= | > | <= | <

e.g. ``ci_low >= 0.80``, ``estimate <= 0.10``, ``estimate between 0.8 and 1.2`` (both ends
inclusive), ``ci_high < 0.05``, ``p_value < 0.05``. A criterion is judged PASS or FAIL on a finite
value, and NOT EVALUABLE (with the reason) when the result is not estimable or the quantity is
not a number -- never PASS by default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from validation.exceptions import ProtocolError

__all__ = ["Criterion", "Evaluation", "Quantity", "Verdict"]


class Quantity(StrEnum):
    """The part of a statistical result that a criterion judges."""

    ESTIMATE = "estimate"
    CI_LOW = "ci_low"
    CI_HIGH = "ci_high"
    P_VALUE = "p_value"
    STATISTIC = "statistic"


class Verdict(StrEnum):
    """Outcome of judging one criterion."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_EVALUABLE = "NOT EVALUABLE"


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = "|".join(q.value for q in Quantity)
_COMPARE = re.compile(rf"^\s*({_QUANTITY})\s*(>=|<=|>|<)\s*({_NUMBER})\s*$")
_BETWEEN = re.compile(rf"^\s*({_QUANTITY})\s+between\s+({_NUMBER})\s+and\s+({_NUMBER})\s*$")
_OPS = (">=", ">", "<=", "<", "between")


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A criterion judged on one result: verdict, the value judged, and why."""

    verdict: Verdict
    observed: float
    reason: str


@dataclass(frozen=True, slots=True)
class Criterion:
    """``quantity op value`` or ``quantity between value and upper`` (inclusive).

    Build with :meth:`parse`; a constructed criterion is always valid.
    """

    quantity: Quantity
    op: str
    value: float
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ProtocolError(f"criterion op must be one of {', '.join(_OPS)}; got {self.op!r}.")
        if not math.isfinite(self.value) or (
            self.upper is not None and not math.isfinite(self.upper)
        ):
            raise ProtocolError(
                f"criterion bounds must be finite numbers; got {self.value!r}, {self.upper!r}."
            )
        if (self.op == "between") != (self.upper is not None):
            raise ProtocolError(
                "criterion: 'between' needs exactly two bounds; the other operators one."
            )
        if self.upper is not None and self.upper < self.value:
            raise ProtocolError(
                f"criterion: 'between {self.value!r} and {self.upper!r}' has the lower bound above the "
                "upper; write the smaller number first."
            )

    @classmethod
    def parse(cls, text: object, *, path: str = "criterion") -> Criterion:
        """Parse ``text`` (see the module grammar); errors name ``path`` and show the grammar."""
        if not isinstance(text, str):
            raise ProtocolError(
                f"{path}: expected a criterion string such as 'ci_low >= 0.80'; got "
                f"{type(text).__name__} {text!r}."
            )
        compare = _COMPARE.match(text)
        if compare:
            quantity, op, number = compare.groups()
            return cls(Quantity(quantity), op, float(number))
        between = _BETWEEN.match(text)
        if between:
            quantity, low, high = between.groups()
            try:
                return cls(Quantity(quantity), "between", float(low), float(high))
            except ProtocolError as exc:
                raise ProtocolError(f"{path}: {exc}") from None
        raise ProtocolError(
            f"{path}: cannot read criterion {text!r}; expected '<quantity> <op> <number>' or "
            f"'<quantity> between <low> and <high>' with quantity one of {_QUANTITY.replace('|', ', ')} "
            "and op one of >=, >, <=, <."
        )

    def __str__(self) -> str:
        if self.upper is not None:
            return f"{self.quantity.value} between {self.value!r} and {self.upper!r}"
        return f"{self.quantity.value} {self.op} {self.value!r}"

    def holds(self, observed: float) -> bool:
        """True when the finite ``observed`` value satisfies the criterion."""
        if self.op == ">=":
            return observed >= self.value
        if self.op == ">":
            return observed > self.value
        if self.op == "<=":
            return observed <= self.value
        if self.op == "<":
            return observed < self.value
        return self.value <= observed <= (self.upper if self.upper is not None else math.nan)

    def evaluate(self, quantities: Mapping[str, float], *, reason: str | None = None) -> Evaluation:
        """Judge the criterion on a result's ``quantities`` (see ``metrics.result_quantities``).

        ``reason`` is the result's not-estimable reason, if any: then the verdict is NOT EVALUABLE.
        A missing or non-finite quantity is NOT EVALUABLE too, saying which.
        """
        name = self.quantity.value
        observed = float(quantities.get(name, math.nan))
        if reason is not None:
            return Evaluation(Verdict.NOT_EVALUABLE, observed, f"not estimable: {reason}")
        if name not in quantities:
            return Evaluation(Verdict.NOT_EVALUABLE, math.nan, f"the result has no {name}")
        if not math.isfinite(observed):
            return Evaluation(
                Verdict.NOT_EVALUABLE, observed, f"{name} is not a finite number ({observed!r})"
            )
        verdict = Verdict.PASS if self.holds(observed) else Verdict.FAIL
        relation = "meets" if verdict is Verdict.PASS else "does not meet"
        # The text is for readers (4 significant digits); ``observed`` keeps full precision.
        return Evaluation(verdict, observed, f"{name} = {observed:.4g} {relation} '{self}'")
