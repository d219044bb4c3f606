"""Verdicts of endpoint criteria and multiplicity control across them.

Each criterion reads a bound of a two-sided ``confidence`` interval (``ci_low >= 0.80``), i.e. it
is a one-sided test at level ``alpha = (1 - confidence) / 2`` of "the criterion fails"; it is PASS
when the test rejects. The verdict of an analysis is therefore the criterion's
(:meth:`validation.protocol.Criterion.evaluate`), gated by the protocol's multiplicity plan:

* **fixed sequence** over ``hierarchy`` (endpoints and comparisons together, in increasing
  order): a hypothesis is tested only if every earlier one PASSED. The first that does not pass
  stops the sequence; later ones get verdict NOT EVALUABLE with a reason starting "not tested"
  and multiplicity outcome "not tested" (what their criterion alone would say is kept in the
  reason). Adjusted p-values are :func:`validation.stats.fixed_sequence`'s running maximum.
* **Holm** within each ``family`` at the same ``alpha`` (:func:`validation.stats.adjust`): PASS
  needs the criterion to pass AND the Holm step-down to reject; a member without a p-value is NOT
  EVALUABLE.
* neither: the criterion alone (procedure "none").

The one-sided p-value (:func:`one_sided_p`) comes from the same method as the interval, so that
``p <= alpha`` agrees with the criterion: Wald ``z = (estimate - bound) / se`` for results with a
standard error (DeLong AUC, paired DeLong difference, kappa); the score test for Wilson intervals
(Wilson 1927 inverts it); the exact binomial test for Clopper-Pearson. Criteria on the point
estimate or on p-values have no such p-value (null).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from scipy.stats import binom, norm

from validation import stats
from validation.protocol import Criterion, Quantity, Verdict, result_quantities
from validation.results import Judgement, Multiplicity
from validation.results.words import decimal

__all__ = [
    "Judged",
    "apply_multiplicity",
    "judge",
    "one_sided_alpha",
    "one_sided_p",
    "one_sided_test",
]

INFO = "INFO"


@dataclass(frozen=True, slots=True)
class Judged:
    """One judged analysis (endpoint or comparison) before and after multiplicity."""

    id: str
    criterion: Criterion | None
    verdict: str
    reason: str | None
    hierarchy: int | None
    family: str | None
    p_value: float | None
    procedure: str = "none"
    adjusted_p: float | None = None
    outcome: str | None = None
    test: str | None = None

    def judgement(self, *, alpha: float) -> Judgement:
        """The contract's :class:`~validation.results.Judgement` of this analysis."""
        primary = self.hierarchy is not None or self.family is not None
        role: Literal["primary", "secondary"] = "primary" if primary else "secondary"
        return Judgement(
            None if self.criterion is None else str(self.criterion),
            self.verdict,  # type: ignore[arg-type]
            self.reason,
            self.hierarchy,
            self.family,
            role,
            Multiplicity(
                self.procedure,
                self.test,
                _finite(self.p_value),
                alpha,
                _finite(self.adjusted_p),
                self.outcome,
            ),
        )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def one_sided_test(result: Any, criterion: Criterion | None) -> tuple[float | None, str | None]:
    """One-sided p-value of "the criterion fails" (module docstring) and the test's description,
    or ``(None, None)`` when the criterion has no such test (it reads a point estimate or a
    p-value) or the result is not estimable."""
    if criterion is None or getattr(result, "reason", None) is not None:
        return None, None
    if criterion.quantity is Quantity.CI_LOW and criterion.op in (">=", ">"):
        sign = 1.0
    elif criterion.quantity is Quantity.CI_HIGH and criterion.op in ("<=", "<"):
        sign = -1.0
    else:
        return None, None
    est, bound = float(getattr(result, "estimate", math.nan)), criterion.value
    se = getattr(result, "se", None)
    method = str(getattr(result, "method", ""))
    n = int(getattr(result, "n", 0) or 0)
    if not math.isfinite(est):
        return None, None
    null = f"H0: true value {'≤' if sign > 0 else '≥'} {bound:g}"
    if method == "wilson" and n > 0 and 0.0 < bound < 1.0:
        z = sign * (est - bound) / math.sqrt(bound * (1.0 - bound) / n)
        return float(norm.sf(z)), f"one-sided score test (Wilson), {null}"
    if method == "clopper-pearson" and n > 0 and 0.0 < bound < 1.0:
        k = round(est * n)
        p = binom.sf(k - 1, n, bound) if sign > 0 else binom.cdf(k, n, bound)
        return float(p), f"one-sided exact binomial test, {null}"
    if se is not None and math.isfinite(se) and se > 0:
        return float(
            norm.sf(sign * (est - bound) / se)
        ), f"one-sided Wald z test ({method} se), {null}"
    return None, None


def one_sided_p(result: Any, criterion: Criterion | None) -> float | None:
    """The p-value of :func:`one_sided_test`."""
    return one_sided_test(result, criterion)[0]


def judge(
    analysis_id: str,
    result: Any,
    criterion: Criterion | None,
    *,
    hierarchy: int | None = None,
    family: str | None = None,
) -> Judged:
    """Judge ``result`` on ``criterion`` alone (INFO when there is no criterion)."""
    if criterion is None:
        return Judged(analysis_id, None, INFO, None, hierarchy, family, None)
    quantities, reason = result_quantities(result)
    evaluation = criterion.evaluate(quantities, reason=reason)
    p_value, test = one_sided_test(result, criterion)
    return Judged(
        analysis_id,
        criterion,
        evaluation.verdict.value,
        evaluation.reason,
        hierarchy,
        family,
        p_value,
        test=test,
    )


def _fixed_sequence(chain: list[Judged], alpha: float) -> dict[str, Judged]:
    out: dict[str, Judged] = {}
    p = [j.p_value for j in chain]
    adjusted: Sequence[float | None] = [None] * len(chain)
    if chain and all(v is not None and math.isfinite(v) for v in p):
        adjusted = stats.fixed_sequence(
            [float(v) for v in p if v is not None], alpha=alpha, names=[j.id for j in chain]
        ).adjusted
    stopped: Judged | None = None
    for item, adj in zip(chain, adjusted, strict=True):
        base = replace(item, procedure="fixed-sequence", adjusted_p=adj)
        if stopped is not None:
            out[item.id] = replace(
                base,
                verdict=Verdict.NOT_EVALUABLE.value,
                reason=f"not tested: the fixed sequence stopped at {stopped.id} "
                f"({stopped.verdict}); its criterion alone: {item.verdict}, {item.reason}",
                outcome=stats.Outcome.NOT_TESTED.value,
            )
            continue
        passed = item.verdict == Verdict.PASS.value
        out[item.id] = replace(
            base,
            outcome=(stats.Outcome.REJECTED if passed else stats.Outcome.NOT_REJECTED).value,
        )
        if not passed:
            stopped = item
    return out


def _holm(members: list[Judged], alpha: float) -> dict[str, Judged]:
    out: dict[str, Judged] = {}
    with_p = [j for j in members if j.p_value is not None and math.isfinite(j.p_value)]
    for j in members:
        if j not in with_p:
            out[j.id] = replace(
                j,
                procedure="holm",
                verdict=Verdict.NOT_EVALUABLE.value,
                reason=f"no one-sided p-value for the Holm procedure ({j.reason})",
            )
    if not with_p:
        return out
    adj = stats.adjust([float(j.p_value or 0.0) for j in with_p], method="holm", alpha=alpha)
    for j, adjusted, outcome in zip(with_p, adj.adjusted, adj.outcomes, strict=True):
        verdict, reason = j.verdict, j.reason
        if verdict == Verdict.PASS.value and outcome is not stats.Outcome.REJECTED:
            verdict = Verdict.FAIL.value
            reason = (
                f"{j.reason}, but not after Holm adjustment in family {j.family!r} "
                f"(adjusted p = {adjusted!r} > {decimal(alpha)})"
            )
        out[j.id] = replace(
            j,
            procedure="holm",
            adjusted_p=adjusted,
            outcome=outcome.value,
            verdict=verdict,
            reason=reason,
        )
    return out


def one_sided_alpha(confidence: float) -> float:
    """The one-sided level a two-sided ``confidence`` interval's bound tests: ``(1 - c) / 2``."""
    return (1.0 - confidence) / 2.0


def apply_multiplicity(judged: Sequence[Judged], *, confidence: float) -> dict[str, Judged]:
    """Apply the fixed sequence and Holm families to ``judged`` (ids unique); id -> final."""
    alpha = one_sided_alpha(confidence)
    chain = sorted((j for j in judged if j.hierarchy is not None), key=lambda j: j.hierarchy or 0)
    out = _fixed_sequence(chain, alpha)
    families = sorted({j.family for j in judged if j.family is not None and j.hierarchy is None})
    for family in families:
        out.update(_holm([j for j in judged if j.family == family and j.hierarchy is None], alpha))
    for j in judged:
        out.setdefault(j.id, j)
    return out
