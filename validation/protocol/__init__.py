"""Pre-registered validation protocols: spec objects, YAML loader, metric registry, acceptance
criteria, analysis population and registration in the audit ledger.

>>> from validation.protocol import Protocol, register, require_registered
>>> protocol = Protocol.from_yaml("protocols/HER2-VAL-001.yaml")       # doctest: +SKIP
>>> protocol.protocol_hash                                             # doctest: +SKIP
"""

from validation.protocol.criteria import Criterion, Evaluation, Quantity, Verdict
from validation.protocol.loader import MODALITY_KEYS, load_protocol, protocol_from_dict
from validation.protocol.metrics import (
    METRICS,
    InputKind,
    MetricCheck,
    MetricSpec,
    compute_metric,
    get_metric,
    result_quantities,
    verify_registry,
)
from validation.protocol.model import (
    AnalysisUnit,
    Bootstrap,
    ColumnRule,
    ComparisonMethod,
    ComparisonSpec,
    Endpoint,
    InterimSpec,
    ModalityRule,
    OperatingPoint,
    Planning,
    Population,
    Protocol,
    ReferenceStandard,
    SubgroupSpec,
)
from validation.protocol.population import (
    PopulationExclusion,
    apply_population,
    apply_reference_standard,
    subgroup_levels,
)
from validation.protocol.registration import (
    PROTOCOL_KIND,
    Amendment,
    RegistrationKind,
    RegistrationStatus,
    amend,
    register,
    require_registered,
    status,
)

__all__ = [
    "METRICS",
    "MODALITY_KEYS",
    "PROTOCOL_KIND",
    "Amendment",
    "AnalysisUnit",
    "Bootstrap",
    "ColumnRule",
    "ComparisonMethod",
    "ComparisonSpec",
    "Criterion",
    "Endpoint",
    "Evaluation",
    "InputKind",
    "InterimSpec",
    "MetricCheck",
    "MetricSpec",
    "ModalityRule",
    "OperatingPoint",
    "Planning",
    "Population",
    "PopulationExclusion",
    "Protocol",
    "Quantity",
    "ReferenceStandard",
    "RegistrationKind",
    "RegistrationStatus",
    "SubgroupSpec",
    "Verdict",
    "amend",
    "apply_population",
    "apply_reference_standard",
    "compute_metric",
    "get_metric",
    "load_protocol",
    "protocol_from_dict",
    "register",
    "require_registered",
    "result_quantities",
    "status",
    "subgroup_levels",
    "verify_registry",
]
