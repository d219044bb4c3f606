"""Join predictions and labels, apply the protocol's population, count the participant flow.

Every patient id seen in either table is *assessed*. Each excluded patient is counted once, under
the first reason that applies, in this order (STARD 2015 participant flow):

1. a row problem of the predictions table (duplicate id, score missing or outside [0, 1]);
2. a row problem of the labels table (duplicate id, a 0/1 label with another value);
3. no model prediction (in labels, not in predictions) -- with the ingest's reason when the
   predictions' ``.exclusions.csv`` (written by ``her2map predict``) names the patient;
4. no reference label (in predictions, not in labels);
5. the site differs between predictions and labels;
6. the protocol's inclusion and exclusion rules, in order
   (:func:`validation.protocol.apply_population`).

The rest are *analysed*. Counts are per reason (sorted) and per site.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from validation.protocol import Population, apply_population
from validation.results import Exclusion, SiteFlow
from validation.results import Flow as FlowSection
from validation.runner.tables import Table

__all__ = ["Flow", "build_flow"]


@dataclass(frozen=True, slots=True)
class Flow:
    """The analysed table and the participant-flow section of results.json (``flow``)."""

    analysed: pd.DataFrame
    flow: FlowSection


def _ingest_reasons(predictions_path: Path) -> dict[str, str]:
    """Reasons of ``her2map predict``'s exclusions file beside the predictions, if any."""
    path = predictions_path.with_name(f"{predictions_path.stem}.exclusions.csv")
    if not path.is_file():
        return {}
    reasons: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            pid = (row.get("patient_id") or "").strip()
            if pid:
                reasons.setdefault(pid, []).append((row.get("reason") or "").strip())
    return {pid: sorted(set(r))[0] for pid, r in reasons.items() if r}


def build_flow(
    predictions: Table,
    labels: Table,
    population: Population,
    *,
    reference: str,
) -> Flow:
    """Join ``predictions`` and ``labels`` on ``patient_id`` and apply ``population``."""
    reason: dict[str, str] = {}
    for problem in (*predictions.problems, *labels.problems):
        reason.setdefault(problem.patient_id, problem.reason)
    pred = predictions.frame.set_index("patient_id")
    lab = labels.frame.set_index("patient_id")
    ingest = _ingest_reasons(predictions.path)
    for pid in sorted(set(lab.index) - set(pred.index)):
        why = ingest.get(pid)
        reason.setdefault(
            pid,
            f"no model prediction ({why})"
            if why
            else "no model prediction (in labels, not in predictions)",
        )
    for pid in sorted(set(pred.index) - set(lab.index)):
        reason.setdefault(pid, "no reference label (in predictions, not in labels)")
    both = sorted((set(pred.index) & set(lab.index)) - set(reason))
    joined = pd.DataFrame({"patient_id": both})
    for column in ("score", "score_pcr", "modalities"):
        if column in pred.columns:
            joined[column] = pred.loc[both, column].to_numpy()
    for column in lab.columns:
        if column in ("line",) or (column == "modalities" and "modalities" in joined.columns):
            continue
        joined[column] = lab.loc[both, column].to_numpy()
    if "site" in pred.columns:
        pred_site = pred.loc[both, "site"].to_numpy()
        if "site" in joined.columns:
            lab_site = joined["site"].to_numpy()
            for pid, a, b in zip(both, pred_site, lab_site, strict=True):
                if not pd.isna(a) and not pd.isna(b) and str(a) != str(b):
                    reason.setdefault(pid, "site differs between predictions and labels")
            joined["site"] = [
                b if not pd.isna(b) else a for a, b in zip(pred_site, lab_site, strict=True)
            ]
        else:
            joined["site"] = pred_site
        joined = joined[~joined["patient_id"].isin(reason)].reset_index(drop=True)
    analysed, steps = apply_population(population, joined)
    for step in steps:
        for pid in step.patient_ids:
            reason.setdefault(pid, step.reason)

    sites: dict[str, str] = {}
    for frame in (pred, lab):  # labels' site wins (written second)
        if "site" in frame.columns:
            for pid, site in frame["site"].items():
                if not pd.isna(site):
                    sites[str(pid)] = str(site)
    assessed = sorted(set(pred.index) | set(lab.index) | set(reason))
    counts: dict[str, int] = {step.reason: 0 for step in steps}
    for pid in assessed:
        if pid in reason:
            counts[reason[pid]] = counts.get(reason[pid], 0) + 1
    y = analysed[reference].to_numpy(dtype=float) if len(analysed) else np.array([])
    analysed_sites = analysed["site"].astype(str).to_numpy() if "site" in analysed else np.array([])
    by_site = []
    for site in sorted({sites.get(pid, "unknown") for pid in assessed}):
        members = [pid for pid in assessed if sites.get(pid, "unknown") == site]
        in_site = analysed_sites == site
        by_site.append(
            SiteFlow(
                site,
                len(members),
                sum(1 for pid in members if pid in reason),
                int(in_site.sum()),
                int(np.sum(y[in_site] == 1)),
                int(np.sum(y[in_site] == 0)),
            )
        )
    n_excluded = sum(1 for pid in assessed if pid in reason)
    section = FlowSection(
        len(assessed),
        n_excluded,
        len(analysed),
        tuple(Exclusion(r, counts[r]) for r in sorted(counts)),
        tuple(by_site),
    )
    return Flow(analysed.reset_index(drop=True), section)
