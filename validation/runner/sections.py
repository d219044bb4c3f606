"""The descriptive sections of results.json: confusion, diagnostic, discrimination, calibration,
error analysis (typed as :mod:`validation.results.model`). Every number comes from
:mod:`validation.stats`; this module only chooses the inputs and lays the results out. A section is computed when the protocol has an
endpoint whose metric belongs to it (:data:`SECTION_OF`); otherwise it is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from validation import stats
from validation.distributed import block_map
from validation.protocol import Protocol, get_metric
from validation.results import (
    Band,
    Calibration,
    CalibrationBin,
    Confusion,
    Diagnostic,
    Discrimination,
    ErrorAnalysis,
    ErrorBin,
    HighConfidence,
    Histogram,
    HosmerLemeshow,
    Lowess,
    OperatingPoint,
    Referral,
    RiskCoverage,
    Roc,
)
from validation.runner.convert import estimate_value, num, nums
from validation.stats.roc import roc_curve
from validation.stats.roc_band import SortedSensitivity

__all__ = [
    "BAND_SPECIFICITIES",
    "DEFAULT_HIGH_CONFIDENCE",
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
#: The high-confidence cut when no endpoint of the protocol sets one (shown as "default"): the
#: metric registry's default, so that the section and an endpoint without the parameter agree.
DEFAULT_HIGH_CONFIDENCE = float(
    get_metric("high_confidence_error_rate").default_params["high_confidence"]
)
_DEFAULT_FRACTIONS = (0.1, 0.2)

Arr = NDArray[np.float64]


def sections_asked(protocol: Protocol) -> frozenset[str]:
    """The sections the protocol's endpoints ask for."""
    return frozenset(SECTION_OF[e.metric] for e in protocol.endpoints if e.metric in SECTION_OF)


def confusion_section(y: Arr, score: Arr, threshold: float) -> Confusion:
    """Counts of the 2x2 table at the operating point (:func:`validation.stats.confusion`)."""
    c = stats.confusion(y, stats.calls(score, threshold))
    return Confusion(float(threshold), int(c.tp), int(c.fp), int(c.fn), int(c.tn))


def diagnostic_section(y: Arr, score: Arr, threshold: float, confidence: float) -> Diagnostic:
    """Sensitivity, specificity, PPV, NPV, accuracy with Wilson intervals."""
    dx = stats.diagnostic(y, stats.calls(score, threshold), method="wilson", confidence=confidence)
    return Diagnostic(
        *(estimate_value(dx[k]) for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy"))
    )


def discrimination_section(
    y: Arr,
    score: Arr,
    threshold: float,
    *,
    confidence: float,
    replicates: int,
    seed: int,
    clusters: NDArray[Any] | None = None,
    method: str = "percentile",
) -> Discrimination:
    """AUC (DeLong), the full ROC curve, its bootstrap band and the operating point.

    The band is the percentile bootstrap interval of the sensitivity at each of
    :data:`BAND_SPECIFICITIES`, with the protocol's replicates and seed (replicate blocks seeded by
    ``SeedSequence(seed).spawn``, computed on the active Dask session if any), stratified by reference
    class (as ``pROC::ci.se(boot.stratified = TRUE)``) -- or, when the protocol names a bootstrap
    ``cluster`` column, resampling whole clusters without strata (clusters need not be nested in
    the classes). Every specificity uses the same resamples (same seed). The method is the protocol's
    ``bootstrap.method``; protocols may name only ``percentile`` (pROC's choice for ROC bands). The statistic is
    :class:`validation.stats.roc_band.SortedSensitivity` at every specificity at once
    (:func:`validation.stats.bootstrap_many`: one set of replicates, drawn once, read at each
    specificity): the scores sorted once, the unclustered replicates evaluated from the
    bootstrap's draws -- the numbers of one bootstrap per specificity of
    :func:`validation.stats.roc.weighted_sensitivity_at_specificity`, bit for bit.
    """
    auc = estimate_value(stats.auc(y, score, confidence=confidence))
    n_pos = int(np.sum(y == 1))
    if n_pos == 0 or n_pos == len(y):
        return Discrimination(auc, None, None, None)
    fpr, tpr, _ = roc_curve(y, score)
    bands = stats.bootstrap_many(
        SortedSensitivity(y, score, BAND_SPECIFICITIES),  # one sort, every specificity
        y,
        score,
        outputs=len(BAND_SPECIFICITIES),
        n_resamples=replicates,
        seed=seed,
        method=method,  # the protocol's bootstrap.method: percentile, the one it may name
        confidence=confidence,
        strata=y if clusters is None else None,
        clusters=clusters,
        weighted=True,
        map_blocks=block_map(),  # SeedSequence blocks: same bytes on any number of workers
    )
    low = [band.ci_low for band in bands]
    high = [band.ci_high for band in bands]
    c = stats.confusion(y, stats.calls(score, threshold))
    return Discrimination(
        auc,
        Roc(tuple(float(v) for v in fpr), tuple(float(v) for v in tpr)),
        Band(
            BAND_SPECIFICITIES,
            nums(low),
            nums(high),
            float(confidence),
            ("stratified" if clusters is None else "cluster")
            + f" {method} bootstrap of sensitivity at fixed specificity (step ROC)",
        ),
        OperatingPoint(c.fp / (c.fp + c.tn), c.tp / (c.tp + c.fn), float(threshold)),
    )


def calibration_section(y: Arr, score: Arr, confidence: float) -> Calibration:
    """rms::val.prob-style statistics, 10 equal-width bins and the lowess curve."""
    cal = stats.calibration(y, score, confidence=confidence)
    hl = cal.hosmer_lemeshow
    x, curve = stats.calibration_curve_lowess(y, score)
    bins = stats.calibration_bins(y, score, n_bins=10, method="wilson", confidence=confidence)
    return Calibration(
        estimate_value(cal.intercept),
        estimate_value(cal.slope),
        num(cal.brier),
        num(cal.ece),
        num(cal.ici),
        num(cal.e50),
        num(cal.e90),
        num(cal.emax),
        num(cal.spiegelhalter_z),
        num(cal.spiegelhalter_p),
        HosmerLemeshow(
            num(hl.statistic), None if hl.df is None else int(hl.df), num(hl.p_value), hl.reason
        ),
        tuple(
            CalibrationBin(
                float(b.lower),
                float(b.upper),
                int(b.n),
                num(b.mean_predicted),
                estimate_value(b.observed),
            )
            for b in bins
        ),
        Lowess(nums(x), nums(curve)),
    )


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
) -> ErrorAnalysis:
    """Confidence-weighted error analysis, risk-coverage, referral policy and histogram.

    The high-confidence cut and referral fractions are the protocol's endpoint parameters (defaults
    :data:`DEFAULT_HIGH_CONFIDENCE` and 0.1, 0.2 when no endpoint sets them; the cut's source is
    recorded). The referral policy needs a biopsy call for every analysed patient; otherwise
    ``referral`` is empty and ``referral_reason`` says why.
    """
    cuts = _params(protocol, ("high_confidence_error_rate",), "high_confidence")
    cut = float(cuts[0]) if cuts else DEFAULT_HIGH_CONFIDENCE
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
    referral: list[Referral] = []
    referral_reason = None
    if biopsy is None or np.isnan(biopsy).any():
        referral_reason = "a biopsy call (biopsy_her2) is missing for some analysed patients"
    else:
        for r in stats.referral(
            y, score, biopsy, threshold=threshold, fractions=fractions, confidence=confidence
        ):
            referral.append(
                Referral(
                    float(r.fraction),
                    int(r.n_referred),
                    estimate_value(r.sensitivity),
                    estimate_value(r.specificity),
                    estimate_value(r.error_rate),
                )
            )
    conf = stats.call_confidence(score, threshold=threshold)
    wrong = stats.calls(score, threshold) != y
    edges = np.asarray(HISTOGRAM_EDGES)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    return ErrorAnalysis(
        ea.confidence_definition,
        estimate_value(ea.error_rate),
        num(ea.confidence_weighted_error_rate),
        tuple(
            ErrorBin(
                float(b.lower),
                float(b.upper),
                int(b.n),
                int(b.errors),
                estimate_value(b.error_rate),
            )
            for b in ea.bins
        ),
        HighConfidence(
            cut,
            "protocol" if cuts else "default",
            estimate_value(ea.high_confidence_error_rate),
            int(ea.high_confidence_n),
            int(ea.high_confidence_errors),
            tuple(str(i) for i in ea.high_confidence_ids),
        ),
        RiskCoverage(
            tuple(float(v) for v in rc.coverage),
            tuple(float(v) for v in rc.risk),
            num(rc.aurc),
            num(rc.eaurc),
        ),
        tuple(referral),
        referral_reason,
        Histogram(
            tuple(float(v) for v in edges),
            tuple(int(v) for v in np.bincount(which[~wrong], minlength=len(edges) - 1)),
            tuple(int(v) for v in np.bincount(which[wrong], minlength=len(edges) - 1)),
        ),
    )
