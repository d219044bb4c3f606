"""What a suite needs from one protocol's results, read through ONE adapter.

:func:`read_outcome` is the only place the suite reads a runner's results: it reads a
``results.json`` through the typed results contract (:func:`validation.results.loads`,
``her2map.results/2``) and keeps what a suite reports as a frozen :class:`ProtocolOutcome`
(identity, confidence level and one :class:`Analysis` per criterion).

An analysis is *primary* when the contract's judgement says so (``role == "primary"``: an endpoint
or comparison in the protocol's fixed-sequence hierarchy or in a Holm family, its confirmatory
claims). Subgroup criteria are never primary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.exceptions import ResultsError, SuiteError
from validation.results import Comparison, DifferenceValue, Endpoint, EstimateValue, loads

__all__ = ["Analysis", "ProtocolOutcome", "read_outcome"]


@dataclass(frozen=True, slots=True)
class Analysis:
    """One criterion of a protocol and its verdict, with the result that decided it.

    ``kind`` is ``endpoint``, ``comparison`` or ``subgroup``; ``estimate``, ``ci_low``,
    ``ci_high`` (at the protocol's confidence level) and ``method`` are None where the result has
    none (a McNemar test, a subgroup analysis across groups) or where it is not estimable;
    ``not_estimable`` is then the result's own reason (None for a result that is estimable, and
    for a subgroup analysis, whose groups each carry theirs).
    """

    kind: str
    id: str
    description: str
    criterion: str
    verdict: str
    reason: str | None
    primary: bool
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    method: str | None = None
    not_estimable: str | None = None


@dataclass(frozen=True, slots=True)
class ProtocolOutcome:
    """A completed protocol run as the suite reports it (``conclusion``: the results' own
    one-sentence conclusion, as the dossier opens on it)."""

    protocol_id: str
    version: str
    title: str
    protocol_hash: str
    confidence: float
    model_lock_hash: str | None
    data_sha256: Mapping[str, str]
    conclusion: str
    analyses: tuple[Analysis, ...]

    def analysis(self, analysis_id: str) -> Analysis | None:
        """The analysis with this id, or None."""
        return next((a for a in self.analyses if a.id == analysis_id), None)


def _fields(result: Any, reason: str | None = None) -> dict[str, Any]:
    """Estimate, interval and method of a typed statistic (none for a test or no result), and
    the result's not-estimable reason (``reason``, the analysis's own, where there is no result)."""
    if isinstance(result, EstimateValue | DifferenceValue):
        return {
            "estimate": result.estimate,
            "ci_low": result.ci_low,
            "ci_high": result.ci_high,
            "method": result.method,
            "not_estimable": result.reason,
        }
    return {"not_estimable": reason if result is None else getattr(result, "reason", None)}


def _judged(
    kind: str, item: Endpoint | Comparison, result: Any, reason: str | None = None
) -> Analysis:
    j = item.judgement
    return Analysis(
        kind=kind,
        id=item.id,
        description=item.description,
        criterion=str(j.criterion),
        verdict=j.verdict,
        reason=j.reason,
        primary=j.role == "primary",
        **_fields(result, reason),
    )


def read_outcome(results_path: str | Path) -> ProtocolOutcome:
    """The :class:`ProtocolOutcome` of a runner's ``results.json`` (the typed results contract,
    ``her2map.results/2``, read and schema-checked by :func:`validation.results.loads`)."""
    path = Path(results_path)
    try:
        results = loads(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise SuiteError(
            f"{path}: cannot read the run's results ({exc.strerror or exc})."
        ) from None
    except ResultsError as exc:
        raise SuiteError(f"cannot read the run's results: {exc}") from None
    analyses = [_judged("endpoint", e, e.result) for e in results.endpoints]
    analyses += [
        _judged(
            "comparison",
            c,
            c.auc_difference or c.kappa or (c.mcnemar.test if c.mcnemar else None),
            c.reason,
        )
        for c in results.comparisons
        if c.judgement.criterion is not None
    ]
    analyses += [
        Analysis(
            kind="subgroup",
            id=s.id,
            description=s.description or f"{s.metric} by {s.column}",
            criterion=f"{s.criterion} in every evaluable {s.column} group",
            verdict=s.verdict,
            reason=s.verdict_reason or s.reason,
            primary=False,
        )
        for s in results.subgroups
        if s.criterion is not None
    ]
    ident = results.identity
    return ProtocolOutcome(
        protocol_id=ident.protocol.id,
        version=ident.protocol.version,
        title=ident.protocol.title,
        protocol_hash=ident.protocol.hash,
        confidence=results.settings.confidence,
        model_lock_hash=ident.model.lock_hash,
        data_sha256={
            "labels": ident.data.labels.sha256,
            "predictions": ident.data.predictions.sha256,
        },
        conclusion=results.summary.conclusion,
        analyses=tuple(analyses),
    )
