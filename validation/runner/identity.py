"""The ``identity`` block of results.json: protocol, model, data files, software, ledger head.

Only file NAMES and hashes go in (no absolute paths, no wall-clock time), so the same inputs give
the same bytes (REQ-REPRO-001). Software versions come from :mod:`importlib.metadata`.
"""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

from validation.ledger import Head, LedgerView
from validation.protocol import Protocol, RegistrationStatus
from validation.runner.tables import Table

__all__ = ["SOFTWARE", "ModelIdentity", "identity", "software_versions"]

#: Distributions whose versions are stamped on every result (besides Python).
SOFTWARE: tuple[str, ...] = (
    "her2map",
    "jinja2",
    "matplotlib",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "statsmodels",
    "torch",
)

ModelIdentity = dict[str, Any]


def software_versions() -> dict[str, str | None]:
    """Installed versions of :data:`SOFTWARE` (None when not installed) and Python's."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return dict(sorted(out.items()))


def _file(table: Table) -> dict[str, Any]:
    return {"name": Path(table.path).name, "sha256": table.sha256, "rows": table.rows}


def identity(
    protocol: Protocol,
    protocol_path: Path,
    registration: RegistrationStatus,
    ledger: LedgerView,
    head: Head,
    *,
    model: ModelIdentity | None,
    predictions: Table,
    labels: Table,
) -> dict[str, Any]:
    """The identity block (RESULTS_SCHEMA.md), with amendment entry hashes read from the ledger."""
    amendments = [
        {
            "seq": a.seq,
            "entry_hash": ledger.entry(a.seq).entry_hash,
            "protocol_hash": a.protocol_hash,
            "reason": a.reason,
        }
        for a in registration.amendments
    ]
    return {
        "protocol": {
            "id": protocol.id,
            "version": protocol.version,
            "title": protocol.title,
            "hash": protocol.protocol_hash,
            "file_name": protocol_path.name,
            "registration": {
                "seq": registration.registration_seq,
                "entry_hash": registration.registration_entry_hash,
            },
            "amendments": amendments,
        },
        "model": model,
        "data": {"predictions": _file(predictions), "labels": _file(labels)},
        "software": software_versions(),
        "ledger": {"head_seq": head.seq, "head_hash": head.entry_hash},
    }
