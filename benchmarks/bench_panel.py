"""The full statistics panel of one validation run, timed per component.

Synthetic arrays made here with a fixed seed (no cohort, no model): 6,991 patients at four sites,
about 10% with a second lesion (so rows are lesions and patients are clusters), prevalence ~30%,
scores from a logistic model, biopsy calls discordant with the reference in ~12% of cases.

Components (each timed; a component whose module does not exist yet prints
"skipped: not available"):

* AUC with the clustered DeLong/Obuchowski CI (``validation.stats.auc``);
* sensitivity/specificity/PPV/NPV/accuracy at the threshold (``diagnostic``);
* calibration (``validation.stats.calibration``);
* confidence-weighted error analysis, risk-coverage, referral policy at 7 fractions;
* per-site subgroups (AUC and sensitivity) with heterogeneity (REML);
* cluster bootstrap, 2,000 replicates, stratified by outcome: AUC (BCa, cluster jackknife, via the
  vectorised ``weighted_auc``), sensitivity and specificity (percentile), confidence-weighted
  error rate (percentile).

Goal: the whole panel <= 10 s on 2 cores. Usage:
``python benchmarks/bench_panel.py [--quick] [--seed N]`` (``--quick``: 700 patients, 200 replicates).
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

GOAL_S = 10.0


def make_data(n_patients: int, seed: int) -> dict[str, np.ndarray]:
    """Lesion-level arrays: patient, site, y (patient-level HER2 status), prob, biopsy, ids."""
    rng = np.random.default_rng(seed)
    lesions = 1 + (rng.random(n_patients) < 0.10)
    patient = np.repeat(np.arange(n_patients), lesions)
    site = np.array(list("ABCD"))[rng.integers(0, 4, n_patients)][patient]
    y_patient = (rng.random(n_patients) < 0.30).astype(np.int8)
    y = y_patient[patient]
    site_shift = {"A": 0.0, "B": 0.2, "C": -0.2, "D": 0.4}
    logit = -1.2 + 2.4 * y + rng.normal(0.0, 1.1, len(y)) + np.vectorize(site_shift.get)(site)
    prob = 1.0 / (1.0 + np.exp(-logit))
    biopsy = np.where(rng.random(len(y)) < 0.88, y, 1 - y).astype(np.int8)
    ids = np.array(
        [f"P{p:06d}-L{k}" for p, k in zip(patient, np.r_[0, (np.diff(patient) == 0)], strict=True)]
    )
    return {"patient": patient, "site": site, "y": y, "prob": prob, "biopsy": biopsy, "ids": ids}


def timed(label: str, fn: Callable[[], Any], results: dict[str, tuple[float, float]]) -> Any:
    """Run ``fn``; record (wall, process CPU) seconds -- CPU time is what counts on a shared box."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    results[label] = (time.perf_counter() - t0, time.process_time() - c0)
    print(f"  {label:<50s} {results[label][0]:8.3f} s wall {results[label][1]:8.3f} s cpu")
    return out


def available(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="700 patients, 200 replicates")
    parser.add_argument("--seed", type=int, default=20251127)
    args = parser.parse_args()
    n_patients, n_boot = (700, 200) if args.quick else (6991, 2000)

    from validation.stats import (
        auc,
        bootstrap,
        call_confidence,
        calls,
        diagnostic,
        error_analysis,
        referral,
        weighted_auc,
    )

    d = make_data(n_patients, args.seed)
    y, prob, patient, threshold = d["y"], d["prob"], d["patient"], 0.5
    print(
        f"panel: {n_patients} patients, {len(y)} lesions, prevalence {y.mean():.3f}, {n_boot} replicates"
    )
    times: dict[str, tuple[float, float]] = {}

    a = timed("AUC + clustered DeLong", lambda: auc(y, prob, clusters=patient), times)
    print(f"    AUC {a.estimate:.4f} [{a.ci_low:.4f}, {a.ci_high:.4f}] ({a.method})")
    pred = calls(prob, threshold)
    dx = timed("diagnostic at threshold", lambda: diagnostic(y, pred), times)
    print(
        f"    sensitivity {dx['sensitivity'].estimate:.4f}, specificity {dx['specificity'].estimate:.4f}"
    )

    calibration = available("validation.stats.calibration", "calibration")
    if calibration is None:
        print(f"  {'calibration':<50s} skipped: not available")
    else:
        cal = timed("calibration", lambda: calibration(y, prob), times)
        print(
            f"    slope {cal.slope.estimate:.4f}, intercept {cal.intercept.estimate:.4f}, ece {cal.ece:.4f}"
        )

    ea = timed(
        "error analysis + risk-coverage",
        lambda: error_analysis(y, prob, threshold=threshold, ids=d["ids"], high_confidence=0.9),
        times,
    )
    print(
        f"    error rate {ea.error_rate.estimate:.4f}, CW error {ea.confidence_weighted_error_rate:.4f}, "
        f"high-confidence errors {ea.high_confidence_errors}/{ea.high_confidence_n}, "
        f"AURC {ea.risk_coverage.aurc:.4f}, E-AURC {ea.risk_coverage.eaurc:.4f}"
    )
    fractions = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
    timed(
        "referral policy (7 fractions)",
        lambda: referral(y, prob, d["biopsy"], threshold=threshold, fractions=fractions),
        times,
    )

    by_group = available("validation.stats.subgroups", "by_group")
    across = available("validation.stats.subgroups", "heterogeneity_across")
    if by_group is None or across is None:
        print(f"  {'per-site subgroups + heterogeneity':<50s} skipped: not available")
    else:

        def subgroups() -> tuple[Any, Any]:
            t_auc = by_group(auc, d["site"], y, prob, min_size=20, min_events=1)
            t_sens = by_group(
                diagnostic, d["site"], y, pred, min_size=20, min_events=1, key="sensitivity"
            )
            return across(t_auc, scale="identity"), across(t_sens, scale="logit")

        het_auc, het_sens = timed(
            "per-site subgroups + heterogeneity (lesion level)", subgroups, times
        )
        print(f"    AUC across sites: I2 {het_auc.i2:.3f}; sensitivity: I2 {het_sens.i2:.3f}")

    conf = call_confidence(prob, threshold=threshold)
    wrong = (pred == 1) != (y == 1)

    def sens(w: np.ndarray, yy: np.ndarray, pp: np.ndarray) -> np.ndarray:
        return (w @ (yy * pp)) / (w @ yy)

    def spec(w: np.ndarray, yy: np.ndarray, pp: np.ndarray) -> np.ndarray:
        return (w @ ((1 - yy) * (1 - pp))) / (w @ (1 - yy))

    def cw_error(w: np.ndarray, c: np.ndarray, e: np.ndarray) -> np.ndarray:
        return (w @ (c * e)) / (w @ c)

    yf, pf = y.astype(float), pred.astype(float)
    common = {
        "n_resamples": n_boot,
        "seed": args.seed,
        "clusters": patient,
        "strata": y,
        "weighted": True,
    }
    boot = timed(
        "bootstrap AUC (BCa, cluster, stratified)",
        lambda: bootstrap(weighted_auc, y, prob, **common),
        times,
    )
    print(
        f"    AUC {boot.estimate:.4f} [{boot.ci_low:.4f}, {boot.ci_high:.4f}] ({boot.method}, undefined {boot.n_undefined})"
    )
    timed(
        "bootstrap sensitivity (percentile)",
        lambda: bootstrap(sens, yf, pf, method="percentile", **common),
        times,
    )
    timed(
        "bootstrap specificity (percentile)",
        lambda: bootstrap(spec, yf, pf, method="percentile", **common),
        times,
    )
    timed(
        "bootstrap confidence-weighted error (percentile)",
        lambda: bootstrap(cw_error, conf, wrong.astype(float), method="percentile", **common),
        times,
    )
    wall, cpu = (sum(t[i] for t in times.values()) for i in (0, 1))
    print(f"  {'TOTAL':<50s} {wall:8.3f} s wall {cpu:8.3f} s cpu")
    print(f"  goal <= {GOAL_S:.0f} s: wall/goal {wall / GOAL_S:.2f}, cpu/goal {cpu / GOAL_S:.2f}")


if __name__ == "__main__":
    main()
