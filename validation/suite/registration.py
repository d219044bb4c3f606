"""Registration of suites in the audit ledger: the protocols' machinery with the suite's kind.

``suite.registered`` {suite_id, version, suite_hash, title} and ``suite.amended`` {suite_id,
version, suite_hash, previous_hash, reason} follow exactly the rules of protocol registration
(:mod:`validation.protocol.registration`): registering the same content again appends nothing,
different content under a registered id and version needs an amendment with a reason, and a
suite that is unregistered or changed since registration is refused before any label is read.
"""

from __future__ import annotations

from validation.ledger import Entry, Ledger, LedgerView
from validation.protocol.registration import (
    RegistrationKind,
    RegistrationStatus,
    amend,
    register,
    require_registered,
    status,
)
from validation.suite.model import Suite

__all__ = [
    "SUITE_KIND",
    "amend_suite",
    "register_suite",
    "require_suite_registered",
    "suite_status",
]

SUITE_KIND = RegistrationKind(
    noun="suite",
    registered="suite.registered",
    amended="suite.amended",
    id_key="suite_id",
    hash_key="suite_hash",
    register_command="her2map validate suite-register",
    amend_command="her2map validate suite-amend",
    status_command="her2map validate suite-status",
)


def register_suite(suite: Suite, ledger: Ledger, *, actor: str) -> Entry:
    """Append ``suite.registered`` (or return the existing registration of the same content)."""
    return register(suite, ledger, actor=actor, kind=SUITE_KIND)


def amend_suite(suite: Suite, ledger: Ledger, *, actor: str, reason: str) -> Entry:
    """Append ``suite.amended`` with ``reason`` for a changed registered suite."""
    return amend(suite, ledger, actor=actor, reason=reason, kind=SUITE_KIND)


def suite_status(suite: Suite, ledger: LedgerView) -> RegistrationStatus:
    """Where ``suite`` stands in ``ledger`` (its id and hash in the protocol_* fields)."""
    return status(suite, ledger, kind=SUITE_KIND)


def require_suite_registered(suite: Suite, ledger: LedgerView) -> RegistrationStatus:
    """The suite runner's first gate (before predictions and labels): raises RegistrationError."""
    return require_registered(suite, ledger, kind=SUITE_KIND)
