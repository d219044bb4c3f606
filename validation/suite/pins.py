"""The suite's protocols, checked against the suite's pins and the ledger before anything runs.

:func:`resolve_protocols` loads each protocol file and refuses one whose id, version or canonical
hash differs from what the suite pins (a protocol changed inside a registered suite) and a gate
entry naming no criterion of its protocol. :func:`require_ready` then checks, in the ledger, that
the suite is registered as it is and that every protocol is registered (or amended) with exactly
the pinned content in force -- all before a prediction is made or a label is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from validation.exceptions import ProtocolError, SuiteError
from validation.ledger import LedgerView
from validation.protocol import Protocol, RegistrationStatus, require_registered
from validation.protocol.loader import _suggest
from validation.suite.model import GatePolicy, ProtocolRef, Suite
from validation.suite.registration import require_suite_registered

__all__ = ["PinnedProtocol", "Ready", "criterion_ids", "require_ready", "resolve_protocols"]


@dataclass(frozen=True, slots=True)
class PinnedProtocol:
    """A suite entry with its file's path and validated protocol (hash equal to the pin)."""

    ref: ProtocolRef
    path: Path
    protocol: Protocol


@dataclass(frozen=True, slots=True)
class Ready:
    """What :func:`require_ready` checked: the suite's and each protocol's registration."""

    suite: RegistrationStatus
    protocols: tuple[RegistrationStatus, ...]


def criterion_ids(protocol: Protocol) -> list[str]:
    """Ids of the analyses of ``protocol`` that carry a criterion (each a JUnit test case)."""
    ids = [e.id for e in protocol.endpoints]
    ids += [c.id for c in protocol.comparisons if c.criterion is not None]
    ids += [s.id for s in protocol.subgroups if s.criterion is not None]
    return ids


def resolve_protocols(suite: Suite) -> tuple[PinnedProtocol, ...]:
    """Load every protocol of ``suite`` and check it against its pin (:class:`SuiteError`)."""
    where = suite.source or "suite"
    pinned, stale = [], []
    for i, ref in enumerate(suite.protocols):
        key = f"{where}: protocols[{i}]"
        path = suite.protocol_path(ref)
        try:
            protocol = Protocol.from_yaml(path)
        except ProtocolError as exc:
            raise SuiteError(f"{key}.file: {exc}") from None
        if (protocol.id, protocol.version) != (ref.id, ref.version):
            raise SuiteError(
                f"{key}: the suite pins {ref.id} version {ref.version}, but {path} is "
                f"{protocol.id} version {protocol.version}; point 'file' at the pinned protocol."
            )
        if protocol.protocol_hash != ref.hash:
            stale.append(
                f"{key}.hash: protocol {ref.id} changed inside the suite: {path} now hashes to "
                f"{protocol.protocol_hash}, the suite pins {ref.hash}."
            )
        pinned.append(PinnedProtocol(ref, path, protocol))
    if stale:  # every stale pin at once, so that one edit of the suite fixes them all
        raise SuiteError(
            " ".join(stale) + " Labels stay sealed. Undo the edit; or, if the change is intended, "
            "amend the protocol, pin its new hash in the suite and amend the suite "
            "(`her2map validate suite-amend`)."
        )
    if suite.gate.policy is GatePolicy.LISTED:
        by_id = {p.ref.id: p.protocol for p in pinned}
        for i, name in enumerate(suite.gate.analyses):
            protocol_id, _, analysis_id = name.partition("/")
            known = criterion_ids(by_id[protocol_id])
            if analysis_id not in known:
                raise SuiteError(
                    f"{where}: gate.analyses[{i}]: protocol {protocol_id} has no analysis with a "
                    f"criterion named {analysis_id!r} (it has: {', '.join(known)})."
                    + _suggest(analysis_id, known)
                )
    return tuple(pinned)


def require_ready(suite: Suite, pinned: tuple[PinnedProtocol, ...], ledger: LedgerView) -> Ready:
    """Refuse (:class:`RegistrationError`) an unregistered or changed suite or protocol, or a
    protocol whose registered content in force is not the pinned one. Reads only the ledger."""
    suite_state = require_suite_registered(suite, ledger)
    # A runnable protocol's content in force equals its file's hash, which equals the pin
    # (resolve_protocols), so the registered content in force is the pinned one.
    states = tuple(require_registered(item.protocol, ledger) for item in pinned)
    return Ready(suite_state, states)
