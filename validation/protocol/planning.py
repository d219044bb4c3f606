"""Planned sample size of a primary endpoint: its assumptions checked, its required n computed.

The protocol declares, per primary endpoint, what the planners expect (``expected``, the
``prevalence`` of positives, ``alpha`` and ``power``); the null value is the endpoint's criterion
bound (``ci_low >= 0.80`` tests ``0.80``; a comparison's ``ci_low >= -0.05`` is a non-inferiority
margin of 0.05), and ``alpha`` must be the one-sided level that the protocol's confidence implies,
``(1 - confidence) / 2``, so that a plan cannot silently assume another test than the one judged.
The computation (:mod:`validation.stats.power`) runs when the protocol is built, so the required n
is part of the protocol's canonical content: registered, hashed and shown in every dossier.

========================  ===================================================================
endpoint                  calculation
========================  ===================================================================
``auc``                   Obuchowski (default) or Hanley-McNeil, positives and negatives
``sensitivity``           exact binomial on positives (total = positives / prevalence)
``specificity``           exact binomial on negatives (total = negatives / (1 - prevalence))
``referral_*``            the same, for the sensitivity / specificity of a referral policy
``compare_auc``           paired AUC difference, non-inferiority margin = -criterion bound
error rates               exact binomial for an UPPER bound (``ci_high < VALUE``), by symmetry
                          (the rate of correct calls against ``1 - VALUE``); ``fraction`` is the
                          share of patients in the denominator (high-confidence calls; 1 for a
                          referral policy), given instead of ``prevalence``
========================  ===================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from validation.exceptions import InvalidArgumentError, ProtocolError
from validation.protocol.criteria import Criterion, Quantity
from validation.protocol.model import Planning
from validation.stats import power as calc

__all__ = ["ERROR_RATES", "PLANNABLE", "plan_sample_size"]

#: Metrics and comparison methods whose sample size can be planned.
PLANNABLE = (
    "auc",
    "sensitivity",
    "specificity",
    "referral_sensitivity",
    "referral_specificity",
    "compare_auc",
    "high_confidence_error_rate",
    "referral_error_rate",
)
#: Metrics planned on an upper bound, whose denominator share is ``fraction``.
ERROR_RATES = ("high_confidence_error_rate", "referral_error_rate")
_TOLERANCE = 1e-9


def _null(criterion: Criterion | None, kind: str, path: str) -> float:
    upper = kind in ERROR_RATES
    quantity, ops, form = (
        (Quantity.CI_HIGH, ("<=", "<"), "ci_high <= VALUE")
        if upper
        else (Quantity.CI_LOW, (">=", ">"), "ci_low >= VALUE")
    )
    if criterion is None or criterion.quantity is not quantity or criterion.op not in ops:
        raise ProtocolError(
            f"{path}: a sample size for {kind!r} is planned for a criterion '{form}' "
            f"(the one-sided test it implies); the criterion is {criterion}."
        )
    return criterion.value


def plan_sample_size(
    kind: str,
    numbers: Mapping[str, float],
    method: str,
    criterion: Criterion | None,
    confidence: float,
    path: str,
) -> Planning:
    """The :class:`Planning` of one endpoint (``kind``: a metric or ``compare_auc``).

    Raises :class:`ProtocolError` naming ``path`` when the endpoint cannot be planned, ``alpha``
    disagrees with the confidence, or the assumptions make the target unreachable.
    """
    if kind not in PLANNABLE:
        raise ProtocolError(
            f"{path}: no sample-size calculation for {kind!r} (plannable: {', '.join(PLANNABLE)})."
        )
    null = _null(criterion, kind, path)
    implied = (1.0 - confidence) / 2.0
    if abs(numbers["alpha"] - implied) > _TOLERANCE:
        raise ProtocolError(
            f"{path}.alpha: expected {implied:g}, the one-sided level of the criterion's "
            f"{confidence:g} interval; got {numbers['alpha']!r}."
        )
    expected = numbers["expected"]
    prevalence = numbers["fraction"] if kind in ERROR_RATES else numbers["prevalence"]
    alpha, power = numbers["alpha"], numbers["power"]
    try:
        result: Any
        if kind in ERROR_RATES:  # error rate <= null  <=>  share correct >= 1 - null
            result = calc.proportion_sample_size(expected=1.0 - expected, null=1.0 - null,
                                            fraction=prevalence, alpha=alpha, power=power)  # fmt: skip
        elif kind == "auc":
            result = calc.auc_sample_size(expected=expected, null=null, prevalence=prevalence,
                                     alpha=alpha, power=power, method=method)  # fmt: skip
        elif kind.endswith(("sensitivity", "specificity")):
            positive = kind.endswith("sensitivity")
            result = calc.proportion_sample_size(
                expected=expected, null=null, alpha=alpha, power=power,
                fraction=prevalence if positive else 1.0 - prevalence,
                counted="positive" if positive else "negative",
            )  # fmt: skip
        else:
            result = calc.paired_auc_sample_size(
                expected=expected, comparator=numbers["comparator"], margin=max(-null, 0.0),
                correlation=numbers["correlation"], prevalence=prevalence, alpha=alpha,
                power=power,
            )  # fmt: skip
    except InvalidArgumentError as exc:
        raise ProtocolError(f"{path}: the planning assumptions cannot be met: {exc}") from None
    if kind == "compare_auc" and null > 0:
        raise ProtocolError(f"{path}: a comparison criterion bound must be <= 0; got {null}.")
    if not math.isfinite(result.power):
        raise ProtocolError(f"{path}: the planned power is not a number; check the assumptions.")
    declared: dict[str, Any] = {"expected": expected,
                                "fraction" if kind in ERROR_RATES else "prevalence": prevalence,
                                "alpha": alpha, "power": power}  # fmt: skip
    if kind == "compare_auc":
        declared.update(comparator=numbers["comparator"], correlation=numbers["correlation"])
    if kind == "auc":
        declared["method"] = method
    required = {
        "method": result.method,
        "null": null if kind != "compare_auc" else result.null,
        "n_total": result.n_total,
        "n_positive": result.n_positive,
        "n_negative": result.n_negative,
        "power": result.power,
    }
    return Planning(tuple(sorted(declared.items())), tuple(sorted(required.items())))
