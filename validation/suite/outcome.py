"""What a suite needs from one protocol's results, read through ONE adapter.

:func:`read_outcome` is the only place the suite reads a runner's results: it turns a
``results.json`` into a frozen :class:`ProtocolOutcome` (identity, confidence level and one
:class:`Analysis` per criterion). When the typed results contract (``validation.results``) lands,
this function switches to it and nothing else in :mod:`validation.suite` changes.

An analysis is *primary* when it carries a confirmatory claim: an endpoint or comparison in the
protocol's fixed-sequence hierarchy or in a Holm family. Subgroup criteria are never primary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.exceptions import SuiteError

__all__ = ["Analysis", "ProtocolOutcome", "read_outcome"]

#: Where a comparison's estimate lives in its results body, by method (decision curves: none).
_COMPARISON_RESULT = {"compare_auc": "auc_difference", "kappa": "kappa", "mcnemar": "mcnemar"}


@dataclass(frozen=True, slots=True)
class Analysis:
    """One criterion of a protocol and its verdict, with the result that decided it.

    ``kind`` is ``endpoint``, ``comparison`` or ``subgroup``; ``estimate``, ``ci_low``,
    ``ci_high`` (at the protocol's confidence level) and ``method`` are None where the result has
    none (a McNemar test, a subgroup analysis across groups).
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


@dataclass(frozen=True, slots=True)
class ProtocolOutcome:
    """A completed protocol run as the suite reports it."""

    protocol_id: str
    version: str
    title: str
    protocol_hash: str
    confidence: float
    model_lock_hash: str | None
    data_sha256: Mapping[str, str]
    analyses: tuple[Analysis, ...]

    def analysis(self, analysis_id: str) -> Analysis | None:
        """The analysis with this id, or None."""
        return next((a for a in self.analyses if a.id == analysis_id), None)


def _number(value: Any) -> float | None:
    """A JSON number as float (canonical JSON writes 1.0 as 1); None for null."""
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def _result_fields(result: Any) -> dict[str, Any]:
    if not isinstance(result, Mapping):
        return {}
    return {
        "estimate": _number(result.get("estimate")),
        "ci_low": _number(result.get("ci_low")),
        "ci_high": _number(result.get("ci_high")),
        "method": result.get("method"),
    }


def read_outcome(results_path: str | Path) -> ProtocolOutcome:
    """The :class:`ProtocolOutcome` of a runner's ``results.json`` (``her2map.results/1``)."""
    path = Path(results_path)
    try:
        results = json.loads(path.read_bytes().decode("utf-8"))
        ident = results["identity"]
        analyses = [
            Analysis(
                kind="endpoint",
                id=e["id"],
                description=e["description"],
                criterion=e["criterion"],
                verdict=e["verdict"],
                reason=e["reason"],
                primary=e["hierarchy"] is not None or e["family"] is not None,
                **_result_fields(e["result"]),
            )
            for e in results["endpoints"]
        ]
        for body in results["comparisons"]:
            result = body.get(_COMPARISON_RESULT.get(body["method"], ""))
            for v in body["verdicts"]:
                if v["criterion"] is None:
                    continue
                analyses.append(
                    Analysis(
                        kind="comparison",
                        id=v["id"],
                        description=body["description"],
                        criterion=v["criterion"],
                        verdict=v["verdict"],
                        reason=v["reason"],
                        primary=v["hierarchy"] is not None or v["family"] is not None,
                        **_result_fields(result),
                    )
                )
        analyses += [
            Analysis(
                kind="subgroup",
                id=s["id"],
                description=s["description"] or f"{s['metric']} by {s['column']}",
                criterion=f"{s['criterion']} in every evaluable {s['column']} group",
                verdict=s["verdict"],
                reason=s["verdict_reason"] or s["reason"],
                primary=False,
            )
            for s in results["subgroups"]
            if s["criterion"] is not None
        ]
        protocol, model = ident["protocol"], ident.get("model") or {}
        return ProtocolOutcome(
            protocol_id=protocol["id"],
            version=protocol["version"],
            title=protocol["title"],
            protocol_hash=protocol["hash"],
            confidence=float(results["settings"]["confidence"]),
            model_lock_hash=model.get("lock_hash"),
            data_sha256={name: d["sha256"] for name, d in sorted(ident["data"].items())},
            analyses=tuple(analyses),
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read the run's results ({exc}).") from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SuiteError(
            f"{path}: results lack {exc} where her2map.results/1 has it; was it written by "
            "`her2map validate run`?"
        ) from None
