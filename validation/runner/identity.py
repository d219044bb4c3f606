"""The ``identity`` block of results.json: protocol and its registration, model, data files,
software.

Only file NAMES and hashes go in (no absolute paths, no wall-clock time, no ledger head), so the
same inputs give the same bytes whatever else the ledger holds (REQ-REPRO-001). The registration
record (the ledger entries that registered and amended the protocol) is read from the ledger by
:func:`registration_record`. Software versions come from :mod:`importlib.metadata`.
"""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

from validation.ledger import LedgerView
from validation.protocol import Protocol, RegistrationStatus
from validation.results import (
    Amendment,
    DataFile,
    DataFiles,
    Identity,
    ModelIdentity,
    ProtocolIdentity,
    Registration,
    Software,
)
from validation.runner.tables import Table

__all__ = [
    "SOFTWARE",
    "RegistrationRecord",
    "identity",
    "registration_record",
    "software_versions",
]

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

RegistrationRecord = tuple[Registration, tuple[Amendment, ...]]


def software_versions() -> tuple[Software, ...]:
    """Installed versions of :data:`SOFTWARE` (None when not installed) and Python's, by name."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return tuple(Software(k, v) for k, v in sorted(out.items()))


def registration_record(registration: RegistrationStatus, ledger: LedgerView) -> RegistrationRecord:
    """The registration entry and each amendment (with its entry hash) of the protocol in force."""
    amendments = tuple(
        Amendment(
            a.seq,
            ledger.entry(a.seq).entry_hash,
            a.protocol_hash,
            a.previous_hash,
            a.reason,
        )
        for a in registration.amendments
    )
    reg = Registration(registration.registration_seq, registration.registration_entry_hash)
    return reg, amendments


def _file(table: Table) -> DataFile:
    return DataFile(Path(table.path).name, table.sha256, int(table.rows))


def identity(
    protocol: Protocol,
    protocol_file_name: str,
    record: RegistrationRecord,
    *,
    model: ModelIdentity,
    predictions: Table,
    labels: Table,
    software: tuple[Software, ...],
) -> Identity:
    """The identity block (:class:`validation.results.Identity`)."""
    registration, amendments = record
    return Identity(
        ProtocolIdentity(
            protocol.id,
            protocol.version,
            protocol.title,
            protocol.protocol_hash,
            protocol_file_name,
            registration,
            amendments,
        ),
        model,
        DataFiles(_file(predictions), _file(labels)),
        software,
    )
