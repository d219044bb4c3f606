"""Helpers (no tests) for the runner tests: small synthetic tables and protocols, no model needed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from validation.ledger import Ledger
from validation.protocol import Protocol, register

__all__ = ["copy_run_ledger", "make_tables", "protocol_dict", "registered", "write_protocol"]


def make_tables(
    tmp: Path, *, n: int = 240, seed: int = 3, negatives_only_site: str | None = None
) -> tuple[Path, Path]:
    """Write ``pred.csv`` and ``labels.csv`` (clinical.csv-like, extra columns included)."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:06d}" for i in range(1, n + 1)]
    site = np.array(["A", "B", "C"])[np.arange(n) % 3]
    y = (rng.random(n) < 0.35).astype(int)
    if negatives_only_site is not None:
        y[site == negatives_only_site] = 0
    score = 1.0 / (1.0 + np.exp(-(2.2 * (y - 0.5) * 2 + rng.normal(0, 1.2, n))))
    biopsy = np.where(rng.random(n) < 0.1, 1 - y, y)
    pcr = (rng.random(n) < np.where(y == 1, 0.55, 0.2)).astype(int)
    vendor = {"A": "Aurora", "B": "Borealis", "C": "Cygnus"}
    pd.DataFrame(
        {
            "patient_id": ids,
            "site": site,
            "score": [repr(float(s)) for s in score],
            "modalities": np.where(site == "C", "MR", "MG_CC+MG_MLO+US"),
        }
    ).to_csv(tmp / "pred.csv", index=False)
    pd.DataFrame(
        {
            "patient_id": ids,
            "site": site,
            "manufacturer": [vendor[s] for s in site],
            "age": rng.integers(30, 80, n),
            "density": np.array(list("abcd"))[rng.integers(0, 4, n)],
            "hr_status": rng.integers(0, 2, n),
            "laterality": "L",
            "reference_ihc": np.where(y == 1, "3+", "1+"),
            "reference_her2": y,
            "biopsy_her2": biopsy,
            "therapy": np.where(biopsy == 1, "anti-HER2", "chemotherapy"),
            "pcr": pcr,
        }
    ).to_csv(tmp / "labels.csv", index=False)
    return tmp / "pred.csv", tmp / "labels.csv"


def protocol_dict(**overrides: Any) -> dict[str, Any]:
    """A small diagnostic-accuracy protocol (threshold 0.5, 200 bootstrap replicates)."""
    base: dict[str, Any] = {
        "id": "TEST-RUN-001",
        "version": "1.0",
        "title": "Runner test protocol",
        "rationale": "Exercise every section of the runner on a small synthetic table.",
        "reference_standard": "reference_her2",
        "operating_point": {"threshold": 0.5},
        "confidence": 0.95,
        "bootstrap": {"replicates": 200, "seed": 11, "method": "percentile"},
        "population": {
            "inclusion": [
                {"column": "reference_her2", "op": "not_missing", "reason": "no reference"},
                {"column": "age", "op": ">=", "value": 18, "reason": "under 18"},
            ],
            "exclusion": [],
        },
        "endpoints": [
            {"id": "E1", "metric": "auc", "criterion": "ci_low >= 0.60", "hierarchy": 1},
            {"id": "E2", "metric": "sensitivity", "criterion": "ci_low >= 0.50", "hierarchy": 2},
            {"id": "E3", "metric": "specificity", "criterion": "ci_low >= 0.50", "hierarchy": 3},
            {"id": "S1", "metric": "ici", "criterion": "estimate <= 0.5"},
        ],
        "subgroups": [
            {
                "id": "G1",
                "by": "site",
                "metric": "auc",
                "min_size": 20,
                "criterion": "estimate >= 0.6",
                "heterogeneity": True,
            }
        ],
    }
    base.update(overrides)
    return base


def write_protocol(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def copy_run_ledger(run: Any, dest: Path) -> Path:
    """A copy at ``dest`` of the ledger that recorded ``run`` (a :class:`RunResult` made in a
    folder from :func:`registered`, run into its ``run`` subfolder, as conftest's ``runner_run``):
    a dossier is sealed only in a ledger recording the run that wrote its results."""
    source = Path(run.results_path).parent.parent / "ledger.db"
    shutil.copyfile(source, dest)
    return dest


def registered(tmp: Path, data: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write the protocol and register it in a fresh ledger; (protocol path, ledger path)."""
    path = write_protocol(tmp / "protocol.yaml", data or protocol_dict())
    ledger = tmp / "ledger.db"
    with Ledger.open(ledger) as book:
        register(Protocol.from_yaml(path), book, actor="qe")
    return path, ledger
