"""Helpers (no tests) for the suite tests: small protocols, a suite over them, a registered
ledger. No model is needed: the suite reads a predictions table (tests/test_runner_helpers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from test_runner_helpers import make_tables, protocol_dict, write_protocol

from validation.ledger import Ledger
from validation.protocol import Protocol, register
from validation.suite import Suite, register_suite

__all__ = ["FAILING", "NOT_RUNNABLE", "PASSING", "make_suite", "suite_dict", "write_suite"]

#: Protocol overrides: every primary endpoint passes on make_tables' data (AUC about 0.99).
PASSING: dict[str, Any] = {}
#: The first endpoint of the hierarchy fails, so the next is "not tested" (NOT EVALUABLE).
FAILING: dict[str, Any] = {
    "id": "TEST-RUN-002",
    "endpoints": [
        {"id": "F1", "metric": "auc", "criterion": "ci_low >= 0.999", "hierarchy": 1},
        {"id": "F2", "metric": "sensitivity", "criterion": "ci_low >= 0.50", "hierarchy": 2},
        {"id": "F3", "metric": "specificity", "criterion": "ci_low >= 0.50"},
    ],
    "subgroups": [],
}
#: Takes its threshold from a model lock, which external predictions lack: the run fails.
NOT_RUNNABLE: dict[str, Any] = {"id": "TEST-RUN-003", "operating_point": {"threshold": "lock"}}


def suite_dict(protocols: list[Protocol], files: list[str], **overrides: Any) -> dict[str, Any]:
    """A suite over ``protocols`` (pinned by their current hashes) on pred.csv + labels.csv."""
    base: dict[str, Any] = {
        "id": "TEST-SUITE-001",
        "version": "1.0",
        "title": "Suite test",
        "rationale": "Exercise the suite runner on small synthetic tables.",
        "protocols": [
            {"id": p.id, "version": p.version, "file": f, "hash": p.protocol_hash}
            for p, f in zip(protocols, files, strict=True)
        ],
        "data": {"predictions": "pred.csv", "labels": "labels.csv"},
        "lock": "shipped",
        "gate": {"policy": "every-primary-pass"},
        "output": "suite-out",
    }
    base.update(overrides)
    return base


def write_suite(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def make_suite(
    tmp: Path,
    variants: tuple[dict[str, Any], ...] = (PASSING, FAILING),
    *,
    register_suite_too: bool = True,
    register_protocols: bool = True,
    **overrides: Any,
) -> tuple[Path, Path, Path]:
    """Tables, protocols and the suite in ``tmp``, registered in ``tmp/ledger.db``; returns
    (suite file, ledger, labels)."""
    _, labels = make_tables(tmp)
    files, protocols = [], []
    for i, variant in enumerate(variants):
        name = f"protocol-{i + 1}.yaml"
        protocols.append(Protocol.from_yaml(write_protocol(tmp / name, protocol_dict(**variant))))
        files.append(name)
    spec = write_suite(tmp / "suite.yaml", suite_dict(protocols, files, **overrides))
    ledger = tmp / "ledger.db"
    with Ledger.open(ledger) as book:
        if register_protocols:
            for protocol in protocols:
                register(protocol, book, actor="qe")
        if register_suite_too:
            register_suite(Suite.from_yaml(spec), book, actor="qe")
    return spec, ledger, labels
