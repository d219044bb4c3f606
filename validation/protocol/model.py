"""Frozen objects of a pre-registered protocol (valid once constructed; built by the loader).

A :class:`Protocol` is made with :meth:`Protocol.from_yaml` or :meth:`Protocol.from_dict`, which
validate every key (:mod:`validation.protocol.loader`). :meth:`Protocol.to_dict` gives the
normalized content (defaults filled, criteria in canonical spelling, numbers as numbers) whose
RFC 8785 canonical JSON SHA-256 is :attr:`Protocol.protocol_hash`: a whitespace, comment or
key-order edit of the YAML keeps the hash; any change of value changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from validation.protocol.criteria import Criterion
from validation.protocol.spec import RegisteredSpec

__all__ = [
    "DEFAULT_MIN_EVENTS",
    "AnalysisUnit",
    "Bootstrap",
    "ColumnRule",
    "ComparisonMethod",
    "ComparisonSpec",
    "Endpoint",
    "InterimSpec",
    "ModalityRule",
    "OperatingPoint",
    "Planning",
    "Population",
    "Protocol",
    "ReferenceStandard",
    "Rule",
    "SubgroupSpec",
]

Params = tuple[tuple[str, Any], ...]


class AnalysisUnit(StrEnum):
    """The unit every statistic counts (one row of the labels table)."""

    PATIENT = "patient"


class ComparisonMethod(StrEnum):
    """Model-versus-comparator (biopsy) methods."""

    COMPARE_AUC = "compare_auc"  # paired DeLong: AUC(model score) - AUC(comparator call)
    MCNEMAR = "mcnemar"  # exact McNemar on paired correct/incorrect calls against the outcome
    KAPPA = "kappa"  # Cohen's kappa between model call and comparator call
    DECISION_CURVE = "decision_curve"  # net benefit of model vs comparator over thresholds


#: Ops of a column rule. Comparisons need a number; in/not_in a list; missing/not_missing nothing.
COLUMN_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "missing", "not_missing")


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """``{column, op, value}`` over one labels-table column, with the reason shown when it excludes."""

    column: str
    op: str
    value: Any
    reason: str

    def describe(self) -> str:
        if self.op in ("missing", "not_missing"):
            return f"{self.column} {self.op.replace('_', ' ')}"
        return f"{self.column} {self.op.replace('_', ' ')} {self.value!r}"

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"column": self.column, "op": self.op, "value": value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ModalityRule:
    """Modality availability: ``include`` = all of these present; ``any`` = at least one present."""

    modalities: tuple[str, ...]
    mode: str  # "include" or "any"
    reason: str

    def describe(self) -> str:
        joined = ", ".join(self.modalities)
        return f"has all of [{joined}]" if self.mode == "include" else f"has any of [{joined}]"

    def to_dict(self) -> dict[str, Any]:
        return {f"modalities_{self.mode}": list(self.modalities), "reason": self.reason}


Rule = ColumnRule | ModalityRule


@dataclass(frozen=True, slots=True)
class ReferenceStandard:
    """The reference standard: its column, its name, and where it cannot exist.

    ``absent_when`` rules say where the reference standard CANNOT exist (e.g. a surgical-specimen
    HER2 after pathological complete response: no invasive tumour is left to test). Patients
    matching one are counted in the participant flow under the rule's reason and never analysed; a
    value recorded for such a patient is an invented value and refuses the run
    (:func:`validation.protocol.population.apply_reference_standard`). Elsewhere a missing value is
    counted as "``name`` not available".
    """

    column: str
    name: str = ""
    absent_when: tuple[ColumnRule, ...] = ()

    @property
    def label(self) -> str:
        return self.name or self.column

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "name": self.name,
            "absent_when": [r.to_dict() for r in self.absent_when],
        }


@dataclass(frozen=True, slots=True)
class Population:
    """Analysis population: where the reference standard exists (``reference``, applied first),
    then patients meeting every inclusion rule and no exclusion rule."""

    inclusion: tuple[Rule, ...] = ()
    exclusion: tuple[Rule, ...] = ()
    reference: ReferenceStandard | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inclusion": [r.to_dict() for r in self.inclusion],
            "exclusion": [r.to_dict() for r in self.exclusion],
        }


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Decision threshold: the locked model's (``threshold: lock``) or a fixed number."""

    threshold: float | None  # None = the lock's threshold

    @property
    def from_lock(self) -> bool:
        return self.threshold is None

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": "lock" if self.threshold is None else self.threshold}


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """Bootstrap settings of the ROC band (the dossier's bootstrap interval): replicates, seed,
    ``cluster`` (resample clusters) and ``method`` (``percentile``, the one offered)."""

    replicates: int
    seed: int
    cluster: str | None = None
    method: str = "percentile"

    def to_dict(self) -> dict[str, Any]:
        return {
            "replicates": self.replicates,
            "seed": self.seed,
            "cluster": self.cluster,
            "method": self.method,
        }


@dataclass(frozen=True, slots=True)
class Planning:
    """Sample-size assumptions of a primary endpoint and the required n computed from them.

    ``assumptions`` are the declared keys as normalized (``expected``, ``prevalence`` -- or
    ``fraction`` for an error rate --, ``alpha``, ``power``; ``comparator`` and ``correlation`` for
    a paired comparison; ``method`` for an AUC). ``alpha`` must equal ``(1 - confidence) / 2`` of
    the protocol; the null value (and a comparison's margin) is the endpoint's criterion bound.
    ``required`` is computed by :mod:`validation.stats.power` when the loader builds the protocol
    (``method``, ``null``, ``n_total``, ``n_positive``, ``n_negative``, ``power`` reached), so the
    registered protocol hash covers assumptions and required n together; a ``required`` block in
    the file must equal the computation.
    """

    assumptions: tuple[tuple[str, Any], ...]
    required: tuple[tuple[str, Any], ...]

    def value(self, key: str) -> Any:
        return dict(self.assumptions).get(key, dict(self.required).get(key))

    def to_dict(self) -> dict[str, Any]:
        return {**dict(self.assumptions), "required": dict(self.required)}


def _place(hierarchy: int | None, family: str | None) -> dict[str, Any]:
    return {"hierarchy": hierarchy, "family": family}


class _Parameterized:
    """A spec whose metric takes ``params``: key-value pairs (a tuple, so the spec stays hashable),
    read as a dict through :attr:`params_dict`."""

    __slots__ = ()
    params: Params

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class Endpoint(_Parameterized):
    """A pre-specified endpoint: metric, parameters, acceptance criterion, multiplicity place.

    ``hierarchy`` (1, 2, ...) places it in the fixed-sequence chain; ``family`` in a Holm family;
    neither = secondary endpoint (judged, not multiplicity-controlled).
    """

    id: str
    metric: str
    criterion: Criterion
    params: Params = ()
    description: str = ""
    hierarchy: int | None = None
    family: str | None = None
    planning: Planning | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "metric": self.metric,
            "params": self.params_dict,
            "criterion": str(self.criterion),
            **_place(self.hierarchy, self.family),
            "planning": None if self.planning is None else self.planning.to_dict(),
        }


#: A subgroup level with fewer positives, or fewer negatives, than this is not estimated.
DEFAULT_MIN_EVENTS = 5


@dataclass(frozen=True, slots=True)
class SubgroupSpec(_Parameterized):
    """Metric per level of column ``by``; levels under ``min_size`` patients, or with fewer than
    ``min_events`` positives or negatives, are NOT EVALUABLE (an AUC on one positive is 0 or 1).

    ``bands`` (increasing cut points) group a numeric column into levels ``<c1``, ``c1-<c2``, ...,
    ``>=ck`` (:func:`validation.protocol.population.subgroup_levels`); no criterion means the
    subgroup is descriptive.
    """

    id: str
    by: str
    metric: str
    min_size: int
    min_events: int = DEFAULT_MIN_EVENTS
    criterion: Criterion | None = None
    params: Params = ()
    heterogeneity: bool = False
    description: str = ""
    bands: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "by": self.by,
            "metric": self.metric,
            "params": self.params_dict,
            "min_size": self.min_size,
            "min_events": self.min_events,
            "criterion": None if self.criterion is None else str(self.criterion),
            "heterogeneity": self.heterogeneity,
            "bands": list(self.bands),
        }


@dataclass(frozen=True, slots=True)
class ComparisonSpec:
    """Model versus comparator (biopsy) on an outcome (pcr, or the reference standard).

    ``score`` is the predictions-table column of the model (``score`` or ``score_pcr``); model
    calls use the operating point. ``thresholds`` are decision-curve threshold probabilities.
    ``strata`` names a column (e.g. ``therapy``) within whose levels the comparison is repeated
    (descriptive; the verdict stays on the whole population).
    """

    id: str
    method: ComparisonMethod
    comparator: str = "biopsy_her2"
    outcome: str | None = "pcr"
    score: str = "score"
    criterion: Criterion | None = None
    thresholds: tuple[float, ...] = ()
    strata: str | None = None
    description: str = ""
    hierarchy: int | None = None
    family: str | None = None
    planning: Planning | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "planning": None if self.planning is None else self.planning.to_dict(),
            "method": self.method.value,
            "outcome": self.outcome,
            "comparator": self.comparator,
            "score": self.score,
            "criterion": None if self.criterion is None else str(self.criterion),
            "thresholds": list(self.thresholds),
            "strata": self.strata,
            **_place(self.hierarchy, self.family),
        }


@dataclass(frozen=True, slots=True)
class InterimSpec:
    """An interim look of a group-sequential design (e.g. Haybittle-Peto): which analyses are its
    efficacy and futility boundaries (``validation.runner.interim`` decides from their verdicts)."""

    design: str
    efficacy: tuple[str, ...]
    futility: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "efficacy": list(self.efficacy),
            "futility": list(self.futility),
        }


@dataclass(frozen=True, slots=True)
class Protocol(RegisteredSpec):
    """A validated, pre-registrable protocol. ``source`` (the file) is not part of the hash.

    ``id``, ``version``, ``title`` and ``rationale`` come first, from :class:`RegisteredSpec`.
    """

    population: Population
    reference_standard: ReferenceStandard
    analysis_unit: AnalysisUnit
    operating_point: OperatingPoint
    confidence: float
    bootstrap: Bootstrap
    endpoints: tuple[Endpoint, ...]
    subgroups: tuple[SubgroupSpec, ...] = ()
    comparisons: tuple[ComparisonSpec, ...] = ()
    interim: InterimSpec | None = None
    source: str | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> Protocol:
        """Validate ``data`` (a parsed YAML mapping); :class:`ProtocolError` names the key path."""
        from validation.protocol.loader import protocol_from_dict

        return protocol_from_dict(data, source=source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Protocol:
        """Read and validate a protocol file (``yaml.safe_load``)."""
        from validation.protocol.loader import load_protocol

        return load_protocol(path)

    def to_dict(self) -> dict[str, Any]:
        """Normalized content: every key present, defaults filled, criteria canonically spelled."""
        return {
            **self._head(),
            "population": self.population.to_dict(),
            "reference_standard": self.reference_standard.to_dict(),
            "analysis_unit": self.analysis_unit.value,
            "operating_point": self.operating_point.to_dict(),
            "confidence": self.confidence,
            "bootstrap": self.bootstrap.to_dict(),
            "endpoints": [e.to_dict() for e in self.endpoints],
            "subgroups": [s.to_dict() for s in self.subgroups],
            "comparisons": [c.to_dict() for c in self.comparisons],
            "interim": None if self.interim is None else self.interim.to_dict(),
        }

    @property
    def protocol_hash(self) -> str:
        """SHA-256 of the RFC 8785 canonical JSON of :meth:`to_dict` (:attr:`content_hash`)."""
        return self.content_hash
