"""The trial's order, site and correction rules: ONE pure function over the prior events.

:func:`fold` turns ledger entries (trial events and the corrections of them) into a
:class:`TrialContext` and one :class:`PatientRecord` per patient, with every correction applied.
:func:`check` decides whether a new event may be appended and :func:`plan_correction` whether a
correction may, given the patient's record. Both are pure: :mod:`validation.trial.api` calls them
inside the ledger's write transaction (``Ledger.append(check=...)``), so a rule that depends on
earlier events cannot be raced by another writer, and status/export use the same :func:`fold`.

Rules (ids as they appear in every refusal message):

``VALUE``        malformed value (IHC "4+", score 1.3, empty text, free text starting with
                 = + - @ tab or CR that a spreadsheet would run as a formula, ...), see
                 :mod:`.events`
``ASCO-CAP``     IHC 2+ without ISH: HER2 call undetermined
``TRIAL-OPEN``   enrolment before the trial was opened; opening a second time
``SITE-KNOWN``   enrolment at a site that is not one of the trial's sites
``ENROL-ONCE``   a second enrolment of a patient id (ids compared by
                 :func:`~validation.trial.events.patient_key`: case and surrounding space ignored;
                 the refusal names the enrolled spelling and site only to that same site)
``ENROLLED``     any event or correction for a patient who is not enrolled
``OWN-SITE``     the actor's site is not the patient's enrolment site
``WITHDRAWN``    any event or correction after the patient's withdrawal
``ONCE``         an event kind recorded twice for a patient (exactly one prediction, ...)
``BLINDING``     a prediction after the patient's biopsy result was recorded
``MODEL-LOCK``   a prediction by another locked model than the trial's, or at another threshold
                 than the one its lock fixes: the trial's model lock and threshold are recorded
                 in ``trial.opened`` (trials opened before that: fixed by the first prediction)
``ORDER``        therapy before biopsy, surgery before therapy, response before therapy
``PCR-SURGICAL`` a surgical-specimen HER2 for a patient recorded with pCR (ypT0/is ypN0: no
                 invasive tumour is left to test), or pCR for a patient whose surgical HER2 is
                 recorded (invasive tumour remained) -- as new events and as corrections
``REPORT-TIME`` a biopsy ``report_time`` dated before the prediction's ``imaging_date`` (the
                 DICOM StudyDate the model read): the biopsy cannot be reported before the
                 imaging it followed, so one of the two is wrong
A prediction logged (ledger time) at or after the biopsy's ``report_time`` was not blind in
time, even if the ledger holds it first; it is marked invalid the same way.
A laterality correction after the prediction leaves the prediction in the ledger but marks it
invalid (:attr:`PatientRecord.prediction_invalid`): the model read the other breast's images, so
export excludes the patient with that reason.

``CORRECTION-*`` REASON (empty), PREDICTION (the model's call is never edited), TARGET (nothing
                 recorded to correct), IDENTITY (patient id / site never), FIELD (not
                 correctable), CHANGE (value unchanged)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from validation.ledger import CORRECTION_EVENT, Entry
from validation.trial.events import (
    CORRECTABLE,
    EventKind,
    check_site,
    formula_problem,
    her2_result,
    parse_field,
    patient_key,
    refuse,
)

__all__ = [
    "PREREQUISITE",
    "CorrectionPlan",
    "PatientRecord",
    "Proposal",
    "TrialContext",
    "check",
    "check_sites",
    "fold",
    "plan_correction",
]

#: The event that must already be recorded before each kind (ORDER rule).
PREREQUISITE: dict[EventKind, EventKind] = {
    EventKind.THERAPY: EventKind.BIOPSY,
    EventKind.SURGERY: EventKind.THERAPY,
    # pCR is assessed at surgery after therapy; after pCR no surgical HER2 exists (PCR-SURGICAL)
    EventKind.RESPONSE: EventKind.THERAPY,
}


def _pcr_surgical(kind: EventKind, pid: str, name: str, record: PatientRecord, pcr: Any) -> None:
    """PCR-SURGICAL: no surgical HER2 after pCR, no pCR where a surgical HER2 exists."""
    if kind is EventKind.SURGERY and record.value(EventKind.RESPONSE, "pcr") is True:
        raise refuse(
            pid,
            name,
            "PCR-SURGICAL",
            "the patient is recorded with pathological complete response (ypT0/is ypN0): no "
            "invasive tumour is left, so a surgical-specimen HER2 cannot exist; correct the "
            "response first if it was wrong",
        )
    if kind is EventKind.RESPONSE and pcr is True and EventKind.SURGERY in record.events:
        raise refuse(
            pid,
            name,
            "PCR-SURGICAL",
            "a surgical-specimen HER2 is recorded, so invasive tumour remained: pathological "
            "complete response (ypT0/is ypN0) is impossible; correct the surgery record first if "
            "it was wrong",
        )


@dataclass(frozen=True)
class TrialContext:
    """Trial-wide state: the sites (None until ``trial.opened``) and the trial's locked model:
    its lock hash and the decision threshold the lock fixes, with where they were fixed
    (``model_origin``: the opening, or -- for a trial opened before ``trial.opened`` recorded
    them -- its first prediction)."""

    sites: tuple[str, ...] | None = None
    protocol_id: str | None = None
    model_lock: str | None = None
    threshold: float | None = None
    model_origin: str | None = None


@dataclass(frozen=True)
class PatientRecord:
    """One patient's recorded events: kind -> (seq, payload with corrections applied).

    ``patient_id`` is the id as first enrolled (for display and DICOM PatientID matching);
    :attr:`key` is its normalised form, which links the patient's events."""

    patient_id: str
    site: str
    events: Mapping[EventKind, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    #: Why the prediction no longer stands (e.g. laterality corrected after it), or None.
    prediction_invalid: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "events", MappingProxyType(dict(self.events)))

    @property
    def key(self) -> str:
        return patient_key(self.patient_id)

    @property
    def withdrawn(self) -> bool:
        return EventKind.WITHDRAWN in self.events

    def value(self, kind: EventKind, name: str) -> Any:
        """Current value of payload field ``name`` of the patient's ``kind`` event (None if absent)."""
        recorded = self.events.get(kind)
        return None if recorded is None else recorded[1].get(name)


@dataclass(frozen=True)
class Proposal:
    """A new event: its kind, the patient, the actor's site and the parsed payload."""

    kind: EventKind
    patient_id: str
    site: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class CorrectionPlan:
    """What :meth:`Ledger.correct` is called with: target entry, payload field, new value."""

    target_seq: int
    field: str
    new_value: Any


def fold(entries: Iterable[Entry]) -> tuple[TrialContext, dict[str, PatientRecord]]:
    """Context and patient records from ``entries`` in sequence order (others are ignored).

    Corrections (``ledger.correction``) are applied to the trial entry they target; the first
    ``trial.opened`` makes the context, with its model lock and threshold (a trial opened before
    the opening recorded them takes those of its first prediction).
    """
    context = TrialContext()
    events: dict[str, dict[EventKind, tuple[int, dict[str, Any]]]] = {}
    owner: dict[int, tuple[str, EventKind]] = {}
    sites: dict[str, str] = {}
    labels: dict[str, str] = {}
    invalid: dict[str, str] = {}
    logged: dict[int, str] = {}
    for entry in entries:
        logged[entry.seq] = entry.time_utc
        if entry.event_type == CORRECTION_EVENT:
            target = owner.get(entry.payload.get("target_seq", -1))
            if target is not None:
                pid, kind = target
                seq, payload = events[pid][kind]
                name, new = entry.payload["field"], entry.payload["new_value"]
                events[pid][kind] = (seq, {**payload, name: new})
                if kind is EventKind.ENROLLED and name == "laterality":
                    predicted = events[pid].get(EventKind.PREDICTION)
                    if predicted is not None and pid not in invalid:
                        invalid[pid] = (
                            f"prediction (entry {predicted[0]}) read side "
                            f"{entry.payload['old_value']}; laterality corrected to {new} "
                            f"afterwards (entry {entry.seq})"
                        )
            continue
        try:
            kind = EventKind(entry.event_type)
        except ValueError:
            continue
        payload = dict(entry.payload)
        if kind is EventKind.OPENED:
            if context.sites is None:
                pinned = payload.get("model_lock")
                context = TrialContext(
                    tuple(payload["sites"]),
                    payload["protocol_id"],
                    pinned,
                    payload.get("threshold"),
                    None
                    if pinned is None
                    else f"recorded at the trial's opening, entry {entry.seq}",
                )
            continue
        pid = patient_key(payload["patient_id"])
        if kind is EventKind.PREDICTION and context.model_lock is None:
            context = replace(
                context,
                model_lock=payload["model_lock"],
                threshold=payload["threshold"],
                model_origin=(
                    f"fixed by the trial's first prediction, entry {entry.seq}: the trial was "
                    "opened before `trial open` recorded the model lock"
                ),
            )
        if kind is EventKind.ENROLLED:
            sites.setdefault(pid, payload["site"])
            labels.setdefault(pid, payload.get("patient_label", payload["patient_id"]))
        events.setdefault(pid, {}).setdefault(kind, (entry.seq, payload))
        owner.setdefault(entry.seq, (pid, kind))
    for pid, recorded in events.items():
        prediction, biopsy = recorded.get(EventKind.PREDICTION), recorded.get(EventKind.BIOPSY)
        reported = None if biopsy is None else biopsy[1].get("report_time")
        if prediction is not None and reported is not None and pid not in invalid:
            at = logged[prediction[0]]
            if at[:19] >= reported[:19]:
                invalid[pid] = (
                    f"not blinded in time: prediction logged at {at}, after the biopsy report "
                    f"was issued at {reported}"
                )
    records = {
        labels[pid]: PatientRecord(labels[pid], sites[pid], recorded, invalid.get(pid))
        for pid, recorded in sorted(events.items())
        if pid in sites
    }
    return context, dict(sorted(records.items()))


def _model_lock(proposal: Proposal, context: TrialContext) -> None:
    """MODEL-LOCK: the prediction names the trial's model lock and the threshold it fixes."""
    pid, name = proposal.patient_id, proposal.kind.value
    lock, threshold = proposal.payload["model_lock"], proposal.payload["threshold"]
    if context.model_lock is not None and lock != context.model_lock:
        raise refuse(
            pid,
            name,
            "MODEL-LOCK",
            f"model lock {lock[:12]}... differs from the trial's model lock "
            f"{context.model_lock[:12]}... ({context.model_origin}); a trial validates one "
            "locked model",
        )
    if context.threshold is not None and threshold != context.threshold:
        raise refuse(
            pid,
            name,
            "MODEL-LOCK",
            f"threshold {threshold!r} differs from the threshold {context.threshold!r} that the "
            f"trial's model lock {context.model_lock[:12] if context.model_lock else '?'}... "
            f"fixes ({context.model_origin}); a locked model's call is made at its locked "
            "threshold",
        )


def _patient_rules(
    kind: str, patient_id: str, site: str, record: PatientRecord | None
) -> PatientRecord:
    """ENROLLED, OWN-SITE and WITHDRAWN, shared by new events and corrections."""
    if record is None:
        raise refuse(patient_id, kind, "ENROLLED", "the patient is not enrolled; enrol first")
    if site != record.site:
        raise refuse(
            patient_id,
            kind,
            "OWN-SITE",
            f"the patient was enrolled at site {record.site!r}; site {site!r} may write only its "
            "own patients",
        )
    if record.withdrawn:
        raise refuse(patient_id, kind, "WITHDRAWN", "the patient has withdrawn; nothing may follow")
    return record


def check(proposal: Proposal, record: PatientRecord | None, context: TrialContext) -> None:
    """Raise :class:`TrialRuleError` if ``proposal`` breaks a rule given the prior events."""
    kind, pid, site = proposal.kind, proposal.patient_id, proposal.site
    name = kind.value
    if kind is EventKind.OPENED:
        if context.sites is not None:
            raise refuse(
                "-", name, "TRIAL-OPEN", f"the trial is already open (sites {context.sites})"
            )
        return
    if kind is EventKind.ENROLLED:
        if context.sites is None:
            raise refuse(pid, name, "TRIAL-OPEN", "the trial is not open; run `her2map trial open`")
        if site not in context.sites:
            raise refuse(
                pid, name, "SITE-KNOWN", f"site {site!r} is not a trial site {list(context.sites)}"
            )
        if record is not None:
            where = (
                f"already enrolled as {record.patient_id!r} at site {record.site!r}"
                if record.site == site
                else "already enrolled in the trial"  # another site's patient: no site, no spelling
            )
            raise refuse(
                pid,
                name,
                "ENROL-ONCE",
                f"{where} (patient ids are compared ignoring case and surrounding spaces)",
            )
        return
    record = _patient_rules(name, pid, site, record)
    if kind in record.events:
        raise refuse(
            pid,
            name,
            "ONCE",
            f"already recorded (entry {record.events[kind][0]}); "
            + (
                "the model's call is never re-run or edited"
                if kind is EventKind.PREDICTION
                else "correct it instead"
            ),
        )
    if kind is EventKind.PREDICTION:
        if EventKind.BIOPSY in record.events:
            raise refuse(
                pid,
                name,
                "BLINDING",
                "the biopsy result is already recorded, so a prediction is no longer blinded",
            )
        _model_lock(proposal, context)
    imaged = record.value(EventKind.PREDICTION, "imaging_date")
    reported = proposal.payload.get("report_time")
    if kind is EventKind.BIOPSY and imaged and reported and reported[:10] < imaged:
        raise refuse(
            pid,
            name,
            "REPORT-TIME",
            f"the biopsy report time {reported} is before the imaging date {imaged} of the "
            f"prediction (entry {record.events[EventKind.PREDICTION][0]}, DICOM StudyDate); "
            "check the report time",
        )
    needed = PREREQUISITE.get(kind)
    if needed is not None and needed not in record.events:
        raise refuse(pid, name, "ORDER", f"{needed.short} must be recorded before {kind.short}")
    _pcr_surgical(kind, pid, name, record, proposal.payload.get("pcr"))


def plan_correction(
    patient_id: str,
    site: str,
    kind: EventKind,
    name: str,
    value: object,
    reason: object,
    record: PatientRecord | None,
) -> CorrectionPlan:
    """Check a correction of field ``name`` of the patient's ``kind`` event; return the plan.

    For biopsy and surgery, ``ihc``/``ish`` are corrected through the whole ``result`` object,
    re-derived by :func:`~validation.trial.events.her2_result` from the corrected values.
    """
    event = f"correction of {kind.value}.{name}"
    record = _patient_rules(event, patient_id, site, record)
    if not isinstance(reason, str) or not reason.strip():
        raise refuse(
            patient_id,
            event,
            "CORRECTION-REASON",
            f"a non-empty reason is required, got {reason!r}",
        )
    problem = formula_problem(reason, "the reason")
    if problem is not None:
        raise refuse(patient_id, event, "CORRECTION-REASON", problem)
    if kind is EventKind.PREDICTION:
        raise refuse(
            patient_id, event, "CORRECTION-PREDICTION", "the model's prediction is never edited"
        )
    if kind not in record.events or kind is EventKind.OPENED:
        raise refuse(
            patient_id, event, "CORRECTION-TARGET", f"no {kind.short} is recorded to correct"
        )
    if name in ("patient_id", "site"):
        raise refuse(
            patient_id, event, "CORRECTION-IDENTITY", "patient id and site are never corrected"
        )
    allowed = CORRECTABLE.get(kind, ())
    if name not in allowed:
        raise refuse(
            patient_id,
            event,
            "CORRECTION-FIELD",
            f"correctable fields of {kind.short}: {list(allowed)}",
        )
    seq, current = record.events[kind]
    if name in ("ihc", "ish"):
        result = dict(current["result"])
        result[name] = value
        ledger_field, new = (
            "result",
            her2_result(result["ihc"], result["ish"], patient_id=patient_id, event=event),
        )
    else:
        ledger_field, new = name, parse_field(name, value, patient_id=patient_id, event=event)
    if kind is EventKind.RESPONSE and name == "pcr":
        _pcr_surgical(kind, patient_id, event, record, new)
    if new == current.get(ledger_field) and type(new) is type(current.get(ledger_field)):
        raise refuse(patient_id, event, "CORRECTION-CHANGE", f"the value is already {new!r}")
    return CorrectionPlan(seq, ledger_field, new)


def check_sites(sites: object) -> list[str]:
    """Sorted distinct site codes of a ``trial.opened`` event (VALUE)."""
    if not isinstance(sites, list | tuple) or not sites:
        raise refuse(
            "-", EventKind.OPENED.value, "VALUE", f"sites must be a non-empty list, got {sites!r}"
        )
    return sorted({check_site(s, EventKind.OPENED.value) for s in sites})
