"""The typed results contract ``her2map.results/2``: frozen objects the runner writes and the
dossier renders.

One :class:`Results` is everything a validation run computed, at full precision, as a pure function
of the protocol (and its registration record), the predictions and labels tables, the model
identity and the software versions -- no clock, no ledger head, no absolute path. Its JSON form
(:mod:`validation.results.codec`) is RFC 8785 canonical JSON of these objects, field by field, and
is described by the JSON Schema ``validation/results/schema/results-2.json`` (generated from these
classes by :func:`validation.results.schema.schema_document`; a test keeps the file in step).

Conventions
-----------
* A number that is not estimable is ``None`` (JSON ``null``) and the object carries a ``reason``.
* Statistics are one of three shapes, told apart by ``kind``: :class:`EstimateValue` (point estimate
  and interval), :class:`DifferenceValue` (a paired difference ``a - b`` with each method's own
  estimate) and :class:`TestValue` (statistic and p-value).
* Verdicts are the words ``PASS``, ``FAIL``, ``NOT EVALUABLE``, ``INFO``; roles ``primary`` (in the
  fixed sequence or a Holm family) or ``secondary``.
* Every interval's level is its own ``confidence`` (the protocol's), never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "FORMAT",
    "Amendment",
    "Band",
    "BootstrapSettings",
    "Calibration",
    "CalibrationBin",
    "Comparison",
    "Confusion",
    "DataFile",
    "DataFiles",
    "DecisionCurve",
    "Deviation",
    "Diagnostic",
    "DifferenceValue",
    "Discrimination",
    "Endpoint",
    "ErrorAnalysis",
    "ErrorBin",
    "EstimateValue",
    "Exclusion",
    "Flow",
    "Heterogeneity",
    "HighConfidence",
    "Histogram",
    "HosmerLemeshow",
    "Identity",
    "Interim",
    "Judgement",
    "Lowess",
    "McNemar",
    "ModelIdentity",
    "Multiplicity",
    "OperatingPoint",
    "ProtocolIdentity",
    "Referral",
    "Registration",
    "Results",
    "RiskCoverage",
    "Roc",
    "Settings",
    "SiteFlow",
    "Software",
    "StatValue",
    "Subgroup",
    "SubgroupRow",
    "Summary",
    "TestValue",
    "VerdictWord",
]

#: The format tag of results.json written by this version of the contract.
FORMAT: Final = "her2map.results/2"

VerdictWord = Literal["PASS", "FAIL", "NOT EVALUABLE", "INFO"]
Role = Literal["primary", "secondary"]


# --- statistics ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EstimateValue:
    """A point estimate with its two-sided ``confidence`` interval (``method``), on ``n`` units."""

    kind: Literal["estimate"]
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    method: str
    n: int
    se: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class DifferenceValue:
    """A paired difference ``estimate_a - estimate_b`` (e.g. AUC(model) - AUC(biopsy)), its
    interval, z statistic and two-sided p-value of "no difference"."""

    kind: Literal["difference"]
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    statistic: float | None
    p_value: float | None
    confidence: float
    method: str
    n: int
    estimate_a: float | None
    estimate_b: float | None
    se: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class TestValue:
    """A hypothesis test: statistic, p-value (two-sided unless the method says otherwise), df."""

    __test__ = False  # not a pytest test class

    kind: Literal["test"]
    statistic: float | None
    p_value: float | None
    method: str
    n: int
    df: float | None
    reason: str | None


StatValue = EstimateValue | DifferenceValue | TestValue


# --- identity and settings -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Registration:
    """The ledger entry that registered the protocol (seq and entry hash)."""

    seq: int | None
    entry_hash: str | None


@dataclass(frozen=True, slots=True)
class Amendment:
    """A recorded amendment: its ledger entry, the protocol hash after and before, the reason."""

    seq: int
    entry_hash: str
    protocol_hash: str
    previous_hash: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ProtocolIdentity:
    """What protocol was run: id, version, title, canonical hash, file name, registration."""

    id: str
    version: str
    title: str
    hash: str
    file_name: str
    registration: Registration
    amendments: tuple[Amendment, ...]


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """The model whose predictions were validated: ``locked`` (its lock verified) or ``external``
    (predictions only; ``lock_hash`` as the predictions table states it, if at all)."""

    kind: Literal["locked", "external"]
    name: str
    version: str | None
    lock_hash: str | None
    lock_threshold: float | None


@dataclass(frozen=True, slots=True)
class DataFile:
    """One input table by file name (never a path), sha256 of its bytes, and data rows."""

    name: str
    sha256: str
    rows: int


@dataclass(frozen=True, slots=True)
class DataFiles:
    predictions: DataFile
    labels: DataFile


@dataclass(frozen=True, slots=True)
class Software:
    """An installed distribution's version (``None`` when not installed)."""

    name: str
    version: str | None


@dataclass(frozen=True, slots=True)
class Identity:
    protocol: ProtocolIdentity
    model: ModelIdentity
    data: DataFiles
    software: tuple[Software, ...]


@dataclass(frozen=True, slots=True)
class BootstrapSettings:
    replicates: int
    seed: int
    cluster: str | None
    method: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Run settings: interval level, the one-sided level ``alpha = (1 - confidence) / 2`` at which
    criteria are judged, the decision threshold and where it came from (``lock``: the model lock;
    ``protocol``: a number in the protocol)."""

    confidence: float
    alpha: float
    threshold: float
    threshold_source: Literal["lock", "protocol"]
    reference: str
    unit: str
    bootstrap: BootstrapSettings


# --- participant flow ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Exclusion:
    reason: str
    n: int


@dataclass(frozen=True, slots=True)
class SiteFlow:
    site: str
    assessed: int
    excluded: int
    analysed: int
    n_pos: int
    n_neg: int


@dataclass(frozen=True, slots=True)
class Flow:
    assessed: int
    excluded: int
    analysed: int
    exclusions: tuple[Exclusion, ...]
    by_site: tuple[SiteFlow, ...]


# --- verdicts ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Multiplicity:
    """How the verdict was decided: the p-value that decided it (``p_value``, one-sided against
    the criterion's bound, described by ``test``; ``None`` when the criterion reads a point
    estimate), ``alpha``, the procedure (``none``, ``fixed-sequence``, ``holm``), the adjusted p
    and the hypothesis outcome (``rejected``, ``not rejected``, ``not tested``)."""

    procedure: str
    test: str | None
    p_value: float | None
    alpha: float
    adjusted_p: float | None
    outcome: str | None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The criterion, the verdict after multiplicity and its reason, the analysis's place in the
    multiplicity plan and its role."""

    criterion: str | None
    verdict: VerdictWord
    reason: str | None
    hierarchy: int | None
    family: str | None
    role: Role
    multiplicity: Multiplicity


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    description: str
    metric: str
    params: dict[str, Any]
    result: StatValue
    judgement: Judgement


# --- descriptive sections ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Confusion:
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    sensitivity: EstimateValue
    specificity: EstimateValue
    ppv: EstimateValue
    npv: EstimateValue
    accuracy: EstimateValue


@dataclass(frozen=True, slots=True)
class Roc:
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Band:
    """Bootstrap band of sensitivity at fixed specificities (level ``confidence``)."""

    specificity: tuple[float, ...]
    sens_low: tuple[float | None, ...]
    sens_high: tuple[float | None, ...]
    confidence: float
    method: str


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    fpr: float
    tpr: float
    threshold: float


@dataclass(frozen=True, slots=True)
class Discrimination:
    auc: EstimateValue
    roc: Roc | None
    band: Band | None
    operating_point: OperatingPoint | None


@dataclass(frozen=True, slots=True)
class HosmerLemeshow:
    statistic: float | None
    df: int | None
    p_value: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    lower: float
    upper: float
    n: int
    mean_predicted: float | None
    observed: EstimateValue


@dataclass(frozen=True, slots=True)
class Lowess:
    x: tuple[float | None, ...]
    y: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Calibration:
    intercept: EstimateValue
    slope: EstimateValue
    brier: float | None
    ece: float | None
    ici: float | None
    e50: float | None
    e90: float | None
    emax: float | None
    spiegelhalter_z: float | None
    spiegelhalter_p: float | None
    hosmer_lemeshow: HosmerLemeshow
    bins: tuple[CalibrationBin, ...]
    lowess: Lowess


@dataclass(frozen=True, slots=True)
class ErrorBin:
    lower: float
    upper: float
    n: int
    errors: int
    error_rate: EstimateValue


@dataclass(frozen=True, slots=True)
class HighConfidence:
    """Calls whose confidence is at least ``threshold`` (and where that cut came from)."""

    threshold: float
    threshold_source: Literal["protocol", "default"]
    error_rate: EstimateValue
    n: int
    errors: int
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RiskCoverage:
    coverage: tuple[float, ...]
    risk: tuple[float, ...]
    aurc: float | None
    eaurc: float | None


@dataclass(frozen=True, slots=True)
class Referral:
    fraction: float
    n_referred: int
    sensitivity: EstimateValue
    specificity: EstimateValue
    error_rate: EstimateValue


@dataclass(frozen=True, slots=True)
class Histogram:
    edges: tuple[float, ...]
    correct: tuple[int, ...]
    incorrect: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ErrorAnalysis:
    confidence_definition: str
    error_rate: EstimateValue
    confidence_weighted_error_rate: float | None
    bins: tuple[ErrorBin, ...]
    high_confidence: HighConfidence
    risk_coverage: RiskCoverage
    referral: tuple[Referral, ...]
    referral_reason: str | None
    histogram: Histogram


# --- subgroups -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubgroupRow:
    """One level of the subgroup column; ``result`` is not estimable (with the rule in its
    reason, e.g. "1 positive < 5") below the protocol's minimum size or events."""

    group: str
    n: int
    n_pos: int
    n_neg: int
    result: StatValue
    verdict: VerdictWord
    reason: str | None


@dataclass(frozen=True, slots=True)
class Heterogeneity:
    """Random-effects heterogeneity across the estimable groups, computed on ``scale``
    (``identity``, ``logit``: logit of a proportion, binomial variance; ``logit-se``: logit of an
    estimate in (0, 1) with the delta-method variance ``se^2 / (p (1 - p))^2``). ``pooled`` is on
    that scale; ``pooled_back`` back-transformed to the metric's own scale (its bounds respected);
    ``interval`` says how ``pooled_back``'s interval was made."""

    method: str
    scale: str
    q: float | None
    df: int
    p_value: float | None
    i2: float | None
    tau2: float | None
    pooled: EstimateValue
    pooled_back: EstimateValue
    interval: str
    groups: tuple[str, ...]
    excluded: tuple[str, ...]
    reason: str | None


@dataclass(frozen=True, slots=True)
class Subgroup:
    id: str
    description: str
    column: str
    metric: str
    min_size: int
    min_events: int
    criterion: str | None
    rows: tuple[SubgroupRow, ...]
    heterogeneity: Heterogeneity | None
    reason: str | None
    verdict: VerdictWord
    verdict_reason: str | None


# --- model versus comparator ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class McNemar:
    """Exact McNemar test of paired correct calls, with its 2x2 of who was right:
    ``model_only`` = model right and comparator wrong, ``comparator_only`` = the reverse."""

    test: TestValue
    both_right: int
    model_only: int
    comparator_only: int
    both_wrong: int


@dataclass(frozen=True, slots=True)
class DecisionCurve:
    thresholds: tuple[float, ...]
    model: tuple[float | None, ...]
    comparator: tuple[float | None, ...]
    treat_all: tuple[float | None, ...]
    treat_none: tuple[float | None, ...]
    prevalence: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Model (column ``score``) versus ``comparator`` calls on ``outcome``, on ``n`` patients with
    both; exactly the field of ``method`` is set (``compare_auc``: ``auc_difference``, ...)."""

    id: str
    description: str
    method: str
    outcome: str
    comparator: str
    score: str
    n: int
    auc_difference: DifferenceValue | None
    mcnemar: McNemar | None
    kappa: EstimateValue | None
    decision_curve: DecisionCurve | None
    reason: str | None
    judgement: Judgement


# --- the whole -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Deviation:
    """A departure from the protocol as registered (an amendment, with its ledger entry)."""

    kind: str
    seq: int
    entry_hash: str
    reason: str
    protocol_hash: str
    previous_hash: str | None


@dataclass(frozen=True, slots=True)
class Interim:
    """An interim look of a group-sequential design, decided by its pre-registered boundaries:
    ``decision`` is ``stop for efficacy`` when an efficacy boundary was crossed, ``stop for
    futility`` when a futility boundary was crossed, ``continue`` otherwise."""

    design: str
    efficacy: tuple[str, ...]
    futility: tuple[str, ...]
    decision: Literal["continue", "stop for efficacy", "stop for futility"]
    reason: str


@dataclass(frozen=True, slots=True)
class Summary:
    """The study's conclusion as the verdicts decide it: the primary analyses (in order), the
    primary hypothesis in words, its verdict, and one sentence stating both."""

    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    hypothesis: str
    verdict: VerdictWord
    conclusion: str
    interim: Interim | None


@dataclass(frozen=True, slots=True)
class Results:
    """Everything one validation run computed (the module docstring gives the conventions)."""

    format: Literal["her2map.results/2"]
    identity: Identity
    settings: Settings
    summary: Summary
    flow: Flow
    endpoints: tuple[Endpoint, ...]
    confusion: Confusion | None
    diagnostic: Diagnostic | None
    discrimination: Discrimination | None
    calibration: Calibration | None
    error_analysis: ErrorAnalysis | None
    subgroups: tuple[Subgroup, ...]
    comparisons: tuple[Comparison, ...]
    deviations: tuple[Deviation, ...]

    def verdicts(self) -> dict[str, str]:
        """Each endpoint's and comparison's verdict by id (subgroup analyses too)."""
        out: dict[str, str] = {e.id: e.judgement.verdict for e in self.endpoints}
        out.update({c.id: c.judgement.verdict for c in self.comparisons})
        out.update({s.id: s.verdict for s in self.subgroups})
        return out
