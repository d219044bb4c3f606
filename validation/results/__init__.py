"""The typed results contract (``her2map.results/2``) shared by the runner and the dossier.

>>> from validation.results import Results, loads, dumps
>>> results = loads(open("run/results.json", "rb").read())      # doctest: +SKIP
>>> results.endpoints[0].judgement.verdict                       # doctest: +SKIP
'PASS'

The runner builds a :class:`Results` and writes :func:`dumps`; the dossier reads :func:`loads` and
renders. Neither imports the other: they meet here. :mod:`.model` holds the objects,
:mod:`.codec` the annotation-driven JSON codec and schema generator, :mod:`.document` the
schema-checked reading and writing; the JSON Schema ships as ``schema/results-2.json``.
"""

from validation.results import model
from validation.results.codec import ContractError, decode, encode
from validation.results.document import (
    SCHEMA_FILE,
    dumps,
    loads,
    schema_document,
    shipped_schema,
    validate_json,
)
from validation.results.model import (  # noqa: F401 (re-exported: __all__ += model.__all__)
    FORMAT,
    Amendment,
    Band,
    BootstrapSettings,
    Calibration,
    CalibrationBin,
    Comparison,
    Confounding,
    Confusion,
    DataFile,
    DataFiles,
    DecisionCurve,
    Deviation,
    Diagnostic,
    DifferenceValue,
    Discrimination,
    Endpoint,
    ErrorAnalysis,
    ErrorBin,
    EstimateValue,
    Exclusion,
    Flow,
    Heterogeneity,
    HighConfidence,
    Histogram,
    HosmerLemeshow,
    Identity,
    Interim,
    Judgement,
    Lowess,
    McNemar,
    ModelIdentity,
    Multiplicity,
    OperatingPoint,
    PlannedCounts,
    PlannedSize,
    ProtocolIdentity,
    Referral,
    Registration,
    Results,
    RiskCoverage,
    Roc,
    Settings,
    SiteFlow,
    Software,
    StatValue,
    Stratum,
    Subgroup,
    SubgroupRow,
    Summary,
    TestValue,
    VerdictWord,
)

#: The codec's and the document's public names, then the contract's objects as
#: :data:`validation.results.model.__all__` lists them (imported above by name, for the readers
#: and type checkers of ``from validation.results import X``; a test keeps the two in step).
__all__ = [
    "SCHEMA_FILE",
    "ContractError",
    "decode",
    "dumps",
    "encode",
    "loads",
    "schema_document",
    "shipped_schema",
    "validate_json",
]
__all__ += model.__all__
