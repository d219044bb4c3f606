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
    Population,
    Protocol,
    SubgroupSpec,
)
from validation.protocol.population import PopulationExclusion, apply_population
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
    "Population",
    "PopulationExclusion",
    "Protocol",
    "Quantity",
    "RegistrationKind",
    "RegistrationStatus",
    "SubgroupSpec",
    "Verdict",
    "amend",
    "apply_population",
    "compute_metric",
    "get_metric",
    "load_protocol",
    "protocol_from_dict",
    "register",
    "require_registered",
    "result_quantities",
    "status",
    "verify_registry",
]
