"""Statistics engine: arrays in, frozen results out (DESIGN.md, "Statistics API").

Pure: imports nothing else of the project except :mod:`validation.exceptions`, reads no files,
prints nothing. Conventions: positive class is 1; higher score = more likely positive; a case is
called positive when ``score >= threshold``; data positional, options keyword-only.
"""

from validation.stats.bootstrap import BootstrapEstimate, bootstrap, bootstrap_many, weighted_auc
from validation.stats.calibration import (
    Calibration,
    CalibrationBin,
    calibration,
    calibration_bins,
    calibration_curve_lowess,
    hosmer_lemeshow,
)
from validation.stats.classification import (
    ConfusionMatrix,
    calls,
    cohen_kappa,
    confusion,
    diagnostic,
    mcnemar,
    proportion,
)
from validation.stats.comparison import compare_auc
from validation.stats.confidence import (
    ConfidenceBin,
    ErrorAnalysis,
    ReferralResult,
    RiskCoverage,
    call_confidence,
    error_analysis,
    referral,
    risk_coverage,
)
from validation.stats.decision import (
    DecisionCurve,
    decision_curve,
    net_benefit,
    treat_all,
    treat_none,
)
from validation.stats.heterogeneity import (
    Heterogeneity,
    heterogeneity,
)
from validation.stats.multiplicity import Adjustment, FixedSequence, Outcome, adjust, fixed_sequence
from validation.stats.results import Comparison, Estimate, Test
from validation.stats.roc import auc
from validation.stats.subgroups import (
    SubgroupRow,
    SubgroupTable,
    back_transform,
    by_group,
    heterogeneity_across,
)

__all__ = [
    "Adjustment",
    "BootstrapEstimate",
    "Calibration",
    "CalibrationBin",
    "Comparison",
    "ConfidenceBin",
    "ConfusionMatrix",
    "DecisionCurve",
    "ErrorAnalysis",
    "Estimate",
    "FixedSequence",
    "Heterogeneity",
    "Outcome",
    "ReferralResult",
    "RiskCoverage",
    "SubgroupRow",
    "SubgroupTable",
    "Test",
    "adjust",
    "auc",
    "back_transform",
    "bootstrap",
    "bootstrap_many",
    "by_group",
    "calibration",
    "calibration_bins",
    "calibration_curve_lowess",
    "call_confidence",
    "calls",
    "cohen_kappa",
    "compare_auc",
    "confusion",
    "decision_curve",
    "diagnostic",
    "error_analysis",
    "fixed_sequence",
    "heterogeneity",
    "heterogeneity_across",
    "hosmer_lemeshow",
    "mcnemar",
    "net_benefit",
    "proportion",
    "referral",
    "risk_coverage",
    "treat_all",
    "treat_none",
    "weighted_auc",
]
