"""Frozen objects of a protocol suite spec (valid once constructed; built by :mod:`.loader`).

A :class:`Suite` names the pre-registered protocols a quality engineer runs together (each by id,
version, file and the canonical hash it was registered with), the data they run on, the locked
model, the gate policy a CI job acts on and the output folder. :meth:`Suite.to_dict` gives the
normalized content whose RFC 8785 canonical JSON SHA-256 is :attr:`Suite.suite_hash` -- the same
hashing as a protocol's, from their shared base :class:`validation.protocol.spec.RegisteredSpec`:
comments, layout and key order of the YAML do not change it, any change of value does.

Paths: a protocol's ``file`` is relative to the suite file's folder (protocols travel with the
suite in the repository); ``data``, ``lock`` and ``output`` are relative to the run's root folder
(the working directory of ``her2map validate suite``, or ``--root``), so one registered suite runs
on each new delivery of data without being edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from validation.protocol.spec import RegisteredSpec

__all__ = ["SHIPPED_LOCK", "Gate", "GatePolicy", "ProtocolRef", "Suite", "SuiteData"]

#: ``lock: shipped`` -- the locked model shipped with :mod:`her2map`.
SHIPPED_LOCK = "shipped"


class GatePolicy(StrEnum):
    """What a suite run must achieve for CI to pass it (exit status 0)."""

    #: every primary analysis of every protocol is PASS. Primary = an endpoint or comparison in
    #: the protocol's fixed-sequence hierarchy or in a Holm family (its confirmatory claims).
    EVERY_PRIMARY_PASS = "every-primary-pass"
    #: every analysis named in ``gate.analyses`` (``PROTOCOL-ID/ANALYSIS-ID``) is PASS.
    LISTED = "listed"


@dataclass(frozen=True, slots=True)
class ProtocolRef:
    """One protocol of the suite: id, version, file and the hash it was registered with."""

    id: str
    version: str
    file: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "file": self.file, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class SuiteData:
    """The data: a cohort folder (predicted once by the locked model) or a predictions table,
    and the sealed labels table."""

    labels: str
    cohort: str | None = None
    predictions: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"cohort": self.cohort, "labels": self.labels, "predictions": self.predictions}


@dataclass(frozen=True, slots=True)
class Gate:
    """The gate policy and, for ``listed``, the analyses it requires (``PROTOCOL-ID/ANALYSIS-ID``)."""

    policy: GatePolicy
    analyses: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.value, "analyses": list(self.analyses)}


@dataclass(frozen=True, slots=True)
class Suite(RegisteredSpec):
    """A validated suite spec. ``source`` is the file it was read from (not hashed).

    ``id``, ``version``, ``title`` and ``rationale`` come first, from :class:`RegisteredSpec`.
    """

    protocols: tuple[ProtocolRef, ...]
    data: SuiteData
    lock: str
    gate: Gate
    output: str
    source: str | None = None

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> Suite:
        """Validate a parsed suite mapping (:func:`validation.suite.loader.suite_from_dict`)."""
        from validation.suite.loader import suite_from_dict

        return suite_from_dict(data, source=source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Suite:
        """Read and validate a suite YAML file (:func:`validation.suite.loader.load_suite`)."""
        from validation.suite.loader import load_suite

        return load_suite(path)

    def to_dict(self) -> dict[str, Any]:
        """Normalized content: every key present, absent options as null."""
        return {
            **self._head(),
            "protocols": [p.to_dict() for p in self.protocols],
            "data": self.data.to_dict(),
            "lock": self.lock,
            "gate": self.gate.to_dict(),
            "output": self.output,
        }

    @property
    def suite_hash(self) -> str:
        """SHA-256 of the RFC 8785 canonical JSON of :meth:`to_dict` (:attr:`content_hash`)."""
        return self.content_hash

    def protocol_path(self, ref: ProtocolRef) -> Path:
        """The protocol file of ``ref``, relative to the suite file's folder."""
        base = Path(self.source).parent if self.source else Path(".")
        return base / ref.file
