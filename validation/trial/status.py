"""Trial status: per-site counts and who is waiting for what (``her2map trial status``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from validation.ledger import Head
from validation.trial.events import EventKind
from validation.trial.rules import PatientRecord, TrialContext

__all__ = ["COUNTED", "STEPS", "Pending", "SiteStatus", "TrialStatus", "trial_status"]

#: Column of :class:`SiteStatus` -> the event it counts.
COUNTED: dict[str, EventKind] = {
    "enrolled": EventKind.ENROLLED,
    "predicted": EventKind.PREDICTION,
    "biopsied": EventKind.BIOPSY,
    "treated": EventKind.THERAPY,
    "operated": EventKind.SURGERY,
    "response_known": EventKind.RESPONSE,
    "withdrawn": EventKind.WITHDRAWN,
}
#: A patient's steps in order; the first one missing is what the patient awaits.
STEPS: tuple[EventKind, ...] = (
    EventKind.BIOPSY,
    EventKind.THERAPY,
    EventKind.SURGERY,
    EventKind.RESPONSE,
)


@dataclass(frozen=True)
class SiteStatus:
    """Number of patients of one site with each event recorded (withdrawn ones included)."""

    site: str
    enrolled: int
    predicted: int
    biopsied: int
    treated: int
    operated: int
    response_known: int
    withdrawn: int


@dataclass(frozen=True)
class Pending:
    """A patient still in follow-up: the next step awaited; ``predicted`` False when the biopsy
    was recorded before any prediction (the patient can no longer be predicted blind)."""

    patient_id: str
    site: str
    awaiting: str
    predicted: bool


@dataclass(frozen=True)
class TrialStatus:
    """Status at ledger ``head``: sites (every trial site, sorted) and pending patients (sorted)."""

    head: Head
    protocol_id: str | None
    sites: tuple[SiteStatus, ...]
    pending: tuple[Pending, ...]


def _awaiting(record: PatientRecord) -> str | None:
    if EventKind.PREDICTION not in record.events and EventKind.BIOPSY not in record.events:
        return EventKind.PREDICTION.short
    complete = record.value(EventKind.RESPONSE, "pcr") is True  # no surgical HER2 after pCR
    for step in STEPS:
        if step not in record.events and not (complete and step is EventKind.SURGERY):
            return step.short
    return None


def trial_status(
    head: Head,
    context: TrialContext,
    records: Mapping[str, PatientRecord],
    *,
    site: str | None = None,
) -> TrialStatus:
    """Count events per site and list pending patients (only ``site``'s when given)."""
    names = sorted(set(context.sites or ()) | {r.site for r in records.values()})
    if site is not None:
        names = [n for n in names if n == site]
    rows = []
    for name in names:
        members = [r for r in records.values() if r.site == name]
        counts = {col: sum(kind in r.events for r in members) for col, kind in COUNTED.items()}
        rows.append(SiteStatus(name, **counts))
    pending = []
    for pid in sorted(records):
        record = records[pid]
        if record.withdrawn or record.site not in names:
            continue
        step = _awaiting(record)
        if step is not None:
            pending.append(Pending(pid, record.site, step, EventKind.PREDICTION in record.events))
    return TrialStatus(head, context.protocol_id, tuple(rows), tuple(pending))
