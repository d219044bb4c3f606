"""Trial status: per-site counts and who is waiting for what, since when (``her2map trial status``).

Each pending patient carries the UTC ledger time of their last recorded event and the whole days
waited since then as of ``as_of`` (default: now); each site carries how many of its patients
await each step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

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
    missing: tuple[tuple[str, int], ...] = ()  # (step awaited, number of patients), step order


@dataclass(frozen=True)
class Pending:
    """A patient still in follow-up: the next step awaited; ``predicted`` False when the biopsy
    was recorded before any prediction (the patient can no longer be predicted blind)."""

    patient_id: str
    site: str
    awaiting: str
    predicted: bool
    since: str = ""  # UTC ledger time of the patient's last recorded event
    days_waiting: int = 0  # whole days from ``since`` to the status's ``as_of``


@dataclass(frozen=True)
class TrialStatus:
    """Status at ledger ``head``: sites (every trial site, sorted) and pending patients (sorted)."""

    head: Head
    protocol_id: str | None
    sites: tuple[SiteStatus, ...]
    pending: tuple[Pending, ...]
    as_of: str = ""


def _awaiting(record: PatientRecord) -> str | None:
    if EventKind.PREDICTION not in record.events and EventKind.BIOPSY not in record.events:
        return EventKind.PREDICTION.short
    for step in STEPS:
        if step not in record.events:
            return step.short
    return None


def _parse(time_utc: str) -> datetime:
    return datetime.strptime(time_utc, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def trial_status(
    head: Head,
    context: TrialContext,
    records: Mapping[str, PatientRecord],
    *,
    site: str | None = None,
    times: Mapping[int, str] | None = None,
    as_of: datetime | None = None,
) -> TrialStatus:
    """Count events per site and list pending patients (only ``site``'s when given).

    ``times`` (entry seq -> UTC time) dates each patient's last event; ``as_of`` (default now)
    is when days waiting are counted to.
    """
    now = datetime.now(UTC) if as_of is None else as_of
    names = sorted(set(context.sites or ()) | {r.site for r in records.values()})
    if site is not None:
        names = [n for n in names if n == site]
    pending = []
    for pid in sorted(records):
        record = records[pid]
        if record.withdrawn or record.site not in names:
            continue
        step = _awaiting(record)
        if step is not None:
            last = max(seq for seq, _ in record.events.values())
            since = (times or {}).get(last, "")
            days = (now - _parse(since)).days if since else 0
            valid = EventKind.PREDICTION in record.events and record.prediction_invalid is None
            pending.append(Pending(pid, record.site, step, valid, since, days))
    order = [EventKind.PREDICTION.short, *(k.short for k in STEPS)]
    rows = []
    for name in names:
        members = [r for r in records.values() if r.site == name]
        counts = {col: sum(kind in r.events for r in members) for col, kind in COUNTED.items()}
        waiting = [p.awaiting for p in pending if p.site == name]
        missing = tuple((step, waiting.count(step)) for step in order if step in waiting)
        rows.append(SiteStatus(name, **counts, missing=missing))
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return TrialStatus(head, context.protocol_id, tuple(rows), tuple(pending), stamp)
