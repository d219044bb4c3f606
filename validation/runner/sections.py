"""The descriptive sections of results.json: confusion, diagnostic, discrimination, calibration,
error analysis (RESULTS_SCHEMA.md). Every number comes from :mod:`validation.stats`; this module
only chooses the inputs and lays the results out. A section is computed when the protocol has an
endpoint whose metric belongs to it (:data:`SECTION_OF`); otherwise it is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from validation import stats
from validation.distributed import block_map
from validation.protocol import Protocol
from validation.serialize import to_jsonable
from validation.stats.confidence import DEFAULT_BIN_EDGES
from validation.stats.roc import roc_curve, weighted_sensitivity_at_specificity

__all__ = [
    "BAND_SPECIFICITIES",
    "HISTOGRAM_EDGES",
    "SECTION_OF",
    "calibration_section",
    "confusion_section",
    "diagnostic_section",
    "discrimination_section",
    "error_analysis_section",
    "sections_asked",
]

#: Which section of results.json a protocol metric asks for.
SECTION_OF: dict[str, str] = {
    "auc": "discrimination",
    **{m: "diagnostic" for m in ("sensitivity", "specificity", "ppv", "npv", "accuracy", "kappa")},
    **{
        m: "calibration"
        for m in (
            "calibration_intercept",
            "calibration_slope",
            "brier",
            "ece",
            "ici",
            "e90",
            "hosmer_lemeshow_p",
        )
    },
    **{
        m: "error_analysis"
        for m in (
            "high_confidence_error_rate",
            "aurc",
            "eaurc",
            "referral_error_rate",
            "referral_sensitivity",
            "referral_specificity",
        )
    },
}
#: Specificities at which the ROC band (bootstrap CI of sensitivity) is read.
BAND_SPECIFICITIES: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
#: Edges of the confidence histogram (10 equal bins over [0.5, 1]).
HISTOGRAM_EDGES: tuple[float, ...] = tuple(0.5 + 0.05 * k for k in range(11))
_DEFAULT_HIGH_CONFIDENCE = 0.9
_DEFAULT_FRACTIONS = (0.1, 0.2)

Arr = NDArray[np.float64]


def sections_asked(protocol: Protocol) -> frozenset[str]:
    """The sections the protocol's endpoints ask for."""
    return frozenset(SECTION_OF[e.metric] for e in protocol.endpoints if e.metric in SECTION_OF)


def confusion_section(y: Arr, score: Arr, threshold: float) -> dict[str, Any]:
    """Counts of the 2x2 table at the operating point (:func:`validation.stats.confusion`)."""
    c = stats.confusion(y, stats.calls(score, threshold))
    return {"threshold": threshold, "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn}


def diagnostic_section(y: Arr, score: Arr, threshold: float, confidence: float) -> dict[str, Any]:
    """Sensitivity, specificity, PPV, NPV, accuracy with Wilson intervals."""
    dx = stats.diagnostic(y, stats.calls(score, threshold), method="wilson", confidence=confidence)
    return {k: to_jsonable(dx[k]) for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy")}


def discrimination_section(
    y: Arr,
    score: Arr,
    threshold: float,
    *,
    confidence: float,
    replicates: int,
    seed: int,
    clusters: NDArray[Any] | None = None,
) -> dict[str, Any]:
    """AUC (DeLong), the full ROC curve, its bootstrap band and the operating point.

    The band is the percentile bootstrap interval of the sensitivity at each of
    :data:`BAND_SPECIFICITIES`, with the protocol's replicates and seed (replicate blocks seeded by
    ``SeedSequence(seed).spawn``, computed on the active Dask session if any), stratified by reference
    class (as ``pROC::ci.se(boot.stratified = TRUE)``) -- or, when the protocol names a bootstrap
    ``cluster`` column, resampling whole clusters without strata (clusters need not be nested in
    the classes). Every specificity uses the same resamples (same seed). The band is percentile
    whatever the protocol's ``bootstrap.method`` (pROC's choice for ROC bands).
    """
    estimate = stats.auc(y, score, confidence=confidence)
    out: dict[str, Any] = {"auc": to_jsonable(estimate), "roc": None, "band": None}
    n_pos = int(np.sum(y == 1))
    if n_pos == 0 or n_pos == len(y):
        out["operating_point"] = None
        return out
    fpr, tpr, _ = roc_curve(y, score)
    out["roc"] = {"fpr": to_jsonable(fpr), "tpr": to_jsonable(tpr)}
    low, high = [], []
    for spec in BAND_SPECIFICITIES:

        def statistic(w: Arr, yy: Arr, ss: Arr, _spec: float = spec) -> Arr:
            return weighted_sensitivity_at_specificity(w, yy, ss, specificity=_spec)

        band = stats.bootstrap(
            statistic,
            y,
            score,
            n_resamples=replicates,
            seed=seed,
            method="percentile",
            confidence=confidence,
            strata=y if clusters is None else None,
            clusters=clusters,
            weighted=True,
            map_blocks=block_map(),  # SeedSequence blocks: same bytes on any number of workers
        )
        low.append(band.ci_low)
        high.append(band.ci_high)
    out["band"] = {
        "specificity": list(BAND_SPECIFICITIES),
        "sens_low": to_jsonable(low),
        "sens_high": to_jsonable(high),
        "method": ("stratified" if clusters is None else "cluster")
        + " percentile bootstrap of sensitivity at fixed specificity (step ROC)",
    }
    c = stats.confusion(y, stats.calls(score, threshold))
    out["operating_point"] = {
        "fpr": c.fp / (c.fp + c.tn),
        "tpr": c.tp / (c.tp + c.fn),
        "threshold": threshold,
    }
    return out


def calibration_section(y: Arr, score: Arr, confidence: float) -> dict[str, Any]:
    """rms::val.prob-style statistics, 10 equal-width bins and the lowess curve."""
    cal = stats.calibration(y, score, confidence=confidence)
    hl = cal.hosmer_lemeshow
    x, curve = stats.calibration_curve_lowess(y, score)
    bins = stats.calibration_bins(y, score, n_bins=10, method="wilson", confidence=confidence)
    return {
        "intercept": to_jsonable(cal.intercept),
        "slope": to_jsonable(cal.slope),
        **{
            k: to_jsonable(getattr(cal, k))
            for k in (
                "brier",
                "ece",
                "ici",
                "e50",
                "e90",
                "emax",
                "spiegelhalter_z",
                "spiegelhalter_p",
            )
        },
        "hosmer_lemeshow": {
            "statistic": to_jsonable(hl.statistic),
            "df": None if hl.df is None else int(hl.df),
            "p_value": to_jsonable(hl.p_value),
            "reason": hl.reason,
        },
        "bins": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "n": b.n,
                "mean_predicted": to_jsonable(b.mean_predicted),
                "observed": to_jsonable(b.observed),
            }
            for b in bins
        ],
        "lowess": {"x": to_jsonable(x), "y": to_jsonable(curve)},
    }


def _params(protocol: Protocol, metrics: Iterable[str], key: str) -> list[Any]:
    return [
        e.params_dict[key]
        for e in protocol.endpoints
        if e.metric in metrics and key in e.params_dict
    ]


def error_analysis_section(
    protocol: Protocol,
    y: Arr,
    score: Arr,
    ids: NDArray[Any],
    biopsy: Arr | None,
    threshold: float,
    confidence: float,
) -> dict[str, Any]:
    """Confidence-weighted error analysis, risk-coverage, referral policy and histogram.

    The high-confidence cut and referral fractions are the protocol's endpoint parameters (defaults
    0.9 and 0.1, 0.2 when no endpoint sets them). The referral policy needs a biopsy call for every
    analysed patient; otherwise ``referral`` is empty and ``referral_reason`` says why.
    """
    cuts = _params(protocol, ("high_confidence_error_rate",), "high_confidence")
    cut = float(cuts[0]) if cuts else _DEFAULT_HIGH_CONFIDENCE
    ea = stats.error_analysis(
        y, score, threshold=threshold, ids=ids, high_confidence=cut, confidence=confidence
    )
    rc = ea.risk_coverage
    fractions = sorted(
        {
            float(f)
            for f in _params(
                protocol,
                ("referral_error_rate", "referral_sensitivity", "referral_specificity"),
                "fraction",
            )
        }
        or set(_DEFAULT_FRACTIONS)
    )
    referral: list[dict[str, Any]] = []
    referral_reason = None
    if biopsy is None or np.isnan(biopsy).any():
        referral_reason = "a biopsy call (biopsy_her2) is missing for some analysed patients"
    else:
        for r in stats.referral(
            y, score, biopsy, threshold=threshold, fractions=fractions, confidence=confidence
        ):
            referral.append(to_jsonable(r))
    conf = stats.call_confidence(score, threshold=threshold)
    wrong = stats.calls(score, threshold) != y
    edges = np.asarray(HISTOGRAM_EDGES)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    return {
        "confidence_definition": ea.confidence_definition,
        "high_confidence_threshold": cut,
        "error_rate": to_jsonable(ea.error_rate),
        "confidence_weighted_error_rate": to_jsonable(ea.confidence_weighted_error_rate),
        "bins": [to_jsonable(b) for b in ea.bins],
        "bin_edges": list(DEFAULT_BIN_EDGES),
        "high_confidence": {
            "error_rate": to_jsonable(ea.high_confidence_error_rate),
            "n": ea.high_confidence_n,
            "errors": ea.high_confidence_errors,
            "ids": list(ea.high_confidence_ids),
        },
        "risk_coverage": {
            "coverage": to_jsonable(rc.coverage),
            "risk": to_jsonable(rc.risk),
            "aurc": to_jsonable(rc.aurc),
            "eaurc": to_jsonable(rc.eaurc),
        },
        "referral": referral,
        "referral_reason": referral_reason,
        "histogram": {
            "edges": to_jsonable(edges),
            "correct": np.bincount(which[~wrong], minlength=len(edges) - 1).tolist(),
            "incorrect": np.bincount(which[wrong], minlength=len(edges) - 1).tolist(),
        },
    }
