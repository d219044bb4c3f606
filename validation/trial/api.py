"""The :class:`Trial`: prospective model-versus-biopsy logging on the audit ledger.

>>> with Trial.open("trial.db") as trial:                                        # doctest: +SKIP
...     trial.open_recruitment(["A", "B"], protocol_id="HER2-PRO-004", actor="cc", site="A")
...     trial.enrol("P0001", consent_ref="IC-17", laterality="L", actor="dr.a", site="A")
...     trial.predict("P0001", study="dicom/P0001", actor="dr.a", site="A")
...     trial.record_biopsy("P0001", ihc="2+", ish="positive", actor="path.a", site="A")

Every write builds its payload (:mod:`.events`, values converted and checked at the boundary) and
appends it with ``check=`` a guard that reads the patient's prior events *inside* the write
transaction and applies :func:`validation.trial.rules.check` -- so two writers can never both
enrol a patient or both record a prediction. A refusal raises TrialRuleError and writes nothing.
Each write returns the acknowledged (committed) :class:`~validation.ledger.Entry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validation.ledger import Entry, Head, Ledger, LedgerView, VerifyReport, read_verified
from validation.ledger import verify as verify_ledger
from validation.trial.events import (
    PCR_DEFINITION,
    EventKind,
    Source,
    check_patient_id,
    check_site,
    formula_problem,
    her2_result,
    parse_field,
    patient_key,
    refuse,
)
from validation.trial.export import ExportResult, export_tables
from validation.trial.rules import (
    PatientRecord,
    Proposal,
    TrialContext,
    check,
    check_sites,
    fold,
    plan_correction,
)
from validation.trial.status import TrialStatus, trial_status

if TYPE_CHECKING:
    from her2map.lock import LockedModel

__all__ = ["Trial", "read_patient", "verify"]


def read_patient(view: LedgerView, patient_id: str) -> tuple[TrialContext, PatientRecord | None]:
    """The trial context and ``patient_id``'s record, read through ``view`` (targeted queries).

    The patient is found by :func:`~validation.trial.events.patient_key` (case and surrounding
    space ignored): events store the key as ``patient_id``; entries written before keys were
    stored are found by the id as given. Reads the first ``trial.opened``, the first prediction (the trial's model lock), the
    patient's trial events and the corrections of them -- index lookups only, so the cost does
    not grow with the ledger (no scan of its history) -- and folds them with
    :func:`~validation.trial.rules.fold` -- the same fold status and export use on all entries.
    """
    picked: dict[int, Entry] = {}
    for kind in (EventKind.OPENED, EventKind.PREDICTION):
        first = view.first(kind.value)
        if first is not None:
            picked[first.seq] = first
    key = patient_key(patient_id)
    found: dict[int, Entry] = {}
    for form in dict.fromkeys((key, patient_id.strip())):
        found.update((e.seq, e) for e in view.entries(where={"patient_id": form}))
    own = [found[s] for s in sorted(found) if found[s].event_type.startswith("trial.")]
    picked.update((e.seq, e) for e in own)
    for event in own:
        picked.update((fix.seq, fix) for fix in view.corrections(event.seq))
    context, records = fold(picked[seq] for seq in sorted(picked))
    return context, next((r for r in records.values() if r.key == key), None)


class Trial:
    """Prospective-trial logging on one ledger; use :meth:`open` (a context manager)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, readonly: bool = False) -> Trial:
        """Open the trial's ledger (a SQLite file, created if absent when ``create``, or a
        ``postgresql://`` URL); ``readonly`` for status and export (nothing is changed)."""
        return cls(Ledger.open(path, create=create, readonly=readonly))

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------

    def _append(self, proposal: Proposal, *, actor: str) -> Entry:
        # the actor is exported as written (audit_trail.csv): no spreadsheet formula either
        problem = formula_problem(actor, "the actor") if isinstance(actor, str) else None
        if problem is not None:
            raise refuse(proposal.patient_id, proposal.kind.value, "VALUE", problem)

        def guard(view: LedgerView) -> None:
            context, record = read_patient(view, proposal.patient_id)
            check(proposal, record, context)

        payload = dict(proposal.payload)
        if proposal.kind is EventKind.ENROLLED:
            payload.update(patient_label=proposal.patient_id)
        if proposal.kind is not EventKind.OPENED:
            payload.update(patient_id=patient_key(proposal.patient_id), site=proposal.site)
        return self.ledger.append(proposal.kind.value, payload, actor=actor, check=guard)

    def _proposal(
        self, kind: EventKind, patient_id: object, site: object, **fields: Any
    ) -> Proposal:
        pid = check_patient_id(patient_id, kind.value)
        return Proposal(kind, pid, check_site(site, kind.value, pid), fields)

    def open_recruitment(
        self,
        sites: Sequence[str],
        *,
        protocol_id: str,
        actor: str,
        site: str,
        lock: str | Path | None = None,
        model: LockedModel | None = None,
    ) -> Entry:
        """Record ``trial.opened``: the trial's sites, protocol and locked model (once per ledger).

        The trial's model is ``model`` (an already verified :class:`her2map.LockedModel`) or the
        lock file ``lock`` (default: the shipped lock), loaded and verified here; its lock hash,
        name and the decision threshold the lock fixes are recorded, and every prediction must
        name that lock and threshold (rule ``MODEL-LOCK``).
        """
        from validation.trial.imaging import load_model

        event = EventKind.OPENED.value
        if not isinstance(protocol_id, str) or not protocol_id.strip():
            raise refuse(
                "-", event, "VALUE", f"protocol_id must be non-empty text, got {protocol_id!r}"
            )
        problem = formula_problem(protocol_id, "protocol_id")
        if problem is not None:
            raise refuse("-", event, "VALUE", problem)
        payload = {
            "sites": check_sites(list(sites)),
            "protocol_id": protocol_id,
            "site": check_site(site, event),
        }
        if model is None:
            model = load_model(lock)
        payload.update(
            {
                field: parse_field(field, value, patient_id="-", event=event)
                for field, value in (
                    ("model_lock", model.lock_hash),
                    ("model_name", model.name),
                    ("threshold", model.threshold),
                )
            }
        )
        return self._append(Proposal(EventKind.OPENED, "-", site, payload), actor=actor)

    def enrol(
        self,
        patient_id: str,
        *,
        consent_ref: str,
        actor: str,
        site: str,
        laterality: str | None = None,
        age: int | None = None,
        hr_status: int | None = None,
    ) -> Entry:
        """Record ``trial.enrolled`` (laterality is needed later to read the patient's DICOM)."""
        kind, pid = EventKind.ENROLLED, str(patient_id)
        fields = {
            name: parse_field(name, value, patient_id=pid, event=kind.value)
            for name, value in (
                ("consent_ref", consent_ref),
                ("laterality", laterality),
                ("age", age),
                ("hr_status", hr_status),
            )
        }
        return self._append(self._proposal(kind, patient_id, site, **fields), actor=actor)

    def predict(
        self,
        patient_id: str,
        *,
        actor: str,
        site: str,
        study: str | Path | None = None,
        pacs: str | None = None,
        lock: str | Path | None = None,
        model: LockedModel | None = None,
    ) -> Entry:
        """Run the locked model on the patient's DICOM and record the prediction: the images are
        those under the folder ``study`` or the patient's studies on the PACS at the DICOMweb root
        ``pacs`` (exactly one; :func:`validation.trial.imaging.score_images`).

        ``model`` (an already verified :class:`her2map.LockedModel`) saves loading ``lock`` (default:
        the shipped lock) again for each patient. The rules are checked before the (slow) model
        run and again inside the write transaction.
        """
        from validation.trial.imaging import load_model, score_images

        kind = EventKind.PREDICTION
        if model is None:
            model = load_model(lock)
        probe = self._proposal(
            kind, patient_id, site, model_lock=model.lock_hash, threshold=float(model.threshold)
        )
        context, record = read_patient(self.ledger, probe.patient_id)
        check(probe, record, context)
        laterality = None if record is None else record.value(EventKind.ENROLLED, "laterality")
        if record is None or laterality is None:
            raise refuse(
                probe.patient_id,
                kind.value,
                "VALUE",
                "the enrolment has no laterality, needed to select the tumour side's images; "
                "correct the enrolment's laterality first",
            )
        result = score_images(
            record.patient_id,
            study=study,
            pacs=pacs,
            site=probe.site,
            laterality=laterality,
            model=model,
        )
        return self._prediction(
            probe.patient_id,
            probe.site,
            actor,
            result.score,
            result.threshold,
            result.model_lock,
            result.model_name,
            result.modalities,
            Source.DICOM,
            result.read(),
            result.imaging_date,
        )

    def predict_external(
        self,
        patient_id: str,
        *,
        score: float,
        model_lock: str,
        threshold: float,
        modalities: Sequence[str] | str,
        actor: str,
        site: str,
        model_name: str = "external",
    ) -> Entry:
        """Record a precomputed score of a locked (possibly external) model, with its lock hash
        (:meth:`record_prediction` with ``source="external"``)."""
        return self.record_prediction(
            patient_id,
            score=score,
            threshold=threshold,
            model_lock=model_lock,
            model_name=model_name,
            modalities=modalities,
            source=Source.EXTERNAL,
            actor=actor,
            site=site,
        )

    def record_prediction(
        self,
        patient_id: str,
        *,
        score: object,
        threshold: object,
        model_lock: object,
        model_name: object,
        modalities: object,
        source: str | Source,
        actor: str,
        site: str,
        read: dict[str, Any] | None = None,
        imaging_date: str | None = None,
    ) -> Entry:
        """Record a prediction computed elsewhere (the service: a site's CLI ran the locked model
        on its DICOM, ``source="dicom"``, naming the studies and instances it ``read`` (and, for
        images retrieved from a PACS, the PACS's URL) and their ``imaging_date``, read from the
        DICOM StudyDate by :func:`~.imaging.score_study`)."""
        kind = Source(source) if str(source) in {s.value for s in Source} else None
        if kind is None:
            raise refuse(
                patient_id,
                EventKind.PREDICTION.value,
                "VALUE",
                f"source must be dicom or external, got {source!r}",
            )
        if kind is Source.DICOM:
            read = parse_field(
                "read", read, patient_id=patient_id, event=EventKind.PREDICTION.value
            )
        if kind is Source.DICOM and imaging_date is None:
            raise refuse(
                patient_id,
                EventKind.PREDICTION.value,
                "VALUE",
                "a dicom prediction carries the imaging_date (the DICOM StudyDate it read)",
            )
        return self._prediction(
            str(patient_id),
            site,
            actor,
            score,
            threshold,
            model_lock,
            model_name,
            modalities,
            kind,
            read if kind is Source.DICOM else None,
            imaging_date if kind is Source.DICOM else None,
        )

    def _prediction(
        self,
        pid: str,
        site: str,
        actor: str,
        score: object,
        threshold: object,
        lock: object,
        name: object,
        modalities: object,
        source: Source,
        read: dict[str, Any] | None = None,
        imaging_date: str | None = None,
    ) -> Entry:
        kind = EventKind.PREDICTION
        parsed = {
            field: parse_field(field, value, patient_id=pid, event=kind.value)
            for field, value in (
                ("score", score),
                ("threshold", threshold),
                ("model_lock", lock),
                ("model_name", name),
                ("modalities", modalities),
            )
        }
        call = "positive" if parsed["score"] >= parsed["threshold"] else "negative"
        extra: dict[str, Any] = {} if read is None else {"read": read}
        if imaging_date is not None:
            extra["imaging_date"] = parse_field(
                "imaging_date", imaging_date, patient_id=pid, event=kind.value
            )
        return self._append(
            self._proposal(kind, pid, site, **parsed, **extra, call=call, source=source.value),
            actor=actor,
        )

    def _her2(
        self,
        kind: EventKind,
        patient_id: str,
        ihc: object,
        ish: object,
        actor: str,
        site: str,
        **extra: Any,
    ) -> Entry:
        result = her2_result(ihc, ish, patient_id=patient_id, event=kind.value)
        return self._append(
            self._proposal(kind, patient_id, site, result=result, **extra), actor=actor
        )

    def record_biopsy(
        self,
        patient_id: str,
        *,
        ihc: str,
        ish: str,
        actor: str,
        site: str,
        report_time: str | None = None,
    ) -> Entry:
        """Record the core-needle biopsy: IHC, ISH and the HER2 call derived by ASCO/CAP 2018.

        ``report_time`` (UTC, when the pathology report was issued) lets blinding be checked in
        time: a prediction logged after it is marked not blinded (:func:`~.rules.fold`), and a
        report dated before the prediction's imaging date is refused (rule ``REPORT-TIME``)."""
        when = parse_field("report_time", report_time, patient_id=patient_id, event="trial.biopsy")
        extra = {} if when is None else {"report_time": when}
        return self._her2(EventKind.BIOPSY, patient_id, ihc, ish, actor, site, **extra)

    def record_surgery(
        self, patient_id: str, *, ihc: str, ish: str, actor: str, site: str
    ) -> Entry:
        """Record the surgical specimen's HER2 (the reference standard), derived as for biopsy."""
        return self._her2(EventKind.SURGERY, patient_id, ihc, ish, actor, site)

    def record_therapy(
        self, patient_id: str, *, regimen: str, anti_her2: bool | str, actor: str, site: str
    ) -> Entry:
        """Record the neoadjuvant regimen (text) and whether it includes anti-HER2 therapy."""
        kind = EventKind.THERAPY
        fields = {
            "regimen": parse_field("regimen", regimen, patient_id=patient_id, event=kind.value),
            "anti_her2": parse_field(
                "anti_her2", anti_her2, patient_id=patient_id, event=kind.value
            ),
        }
        return self._append(self._proposal(kind, patient_id, site, **fields), actor=actor)

    def record_response(self, patient_id: str, *, pcr: bool | str, actor: str, site: str) -> Entry:
        """Record pathological complete response (``ypT0/is ypN0``) yes/no."""
        kind = EventKind.RESPONSE
        value = parse_field("pcr", pcr, patient_id=patient_id, event=kind.value)
        return self._append(
            self._proposal(kind, patient_id, site, pcr=value, definition=PCR_DEFINITION),
            actor=actor,
        )

    def withdraw(self, patient_id: str, *, reason: str, actor: str, site: str) -> Entry:
        """Record the patient's withdrawal; nothing may be recorded for the patient afterwards."""
        kind = EventKind.WITHDRAWN
        value = parse_field("reason", reason, patient_id=patient_id, event=kind.value)
        return self._append(self._proposal(kind, patient_id, site, reason=value), actor=actor)

    def correct(
        self,
        patient_id: str,
        *,
        event: str | EventKind,
        field: str,
        value: object,
        reason: str,
        actor: str,
        site: str,
    ) -> Entry:
        """Correct one field of the patient's ``event`` (a ``ledger.correction`` entry keeping the
        old value, with the reason); see :func:`validation.trial.rules.plan_correction`."""
        kind = event if isinstance(event, EventKind) else EventKind.from_short(event)
        pid = check_patient_id(patient_id, f"correction of {kind.value}")

        def plan(view: LedgerView) -> Any:
            _, record = read_patient(view, pid)
            return plan_correction(pid, site, kind, field, value, reason, record)

        outside = plan(self.ledger)

        def guard(view: LedgerView) -> None:
            if plan(view) != outside:
                raise refuse(
                    pid,
                    f"correction of {kind.value}",
                    "CORRECTION-CHANGE",
                    "the record changed while correcting; retry",
                )

        return self.ledger.correct(
            outside.target_seq,
            outside.field,
            outside.new_value,
            reason=reason.strip(),
            actor=actor,
            check=guard,
        )

    # -- reads ----------------------------------------------------------------------------------

    def _read(self, verified: Head | None) -> tuple[Head, list[Entry]]:
        """Entries up to a head: by default walking the chain over the very rows read
        (:func:`~validation.ledger.read_verified`: a ledger that does not verify is refused,
        naming the first bad entry); a caller that verified the whole chain itself passes
        ``verified`` (the service, before a site-scoped read)."""
        if verified is None:
            return read_verified(self.ledger, what="the trial")
        return verified, [e for e in self.ledger.entries() if e.seq <= verified.seq]

    def snapshot(
        self, *, verified: Head | None = None
    ) -> tuple[Head, TrialContext, dict[str, PatientRecord]]:
        """Head, context and every patient's record from one verified read of the ledger."""
        head, entries = self._read(verified)
        context, records = fold(entries)
        return head, context, records

    def status(self, *, site: str | None = None, verified: Head | None = None) -> TrialStatus:
        """Per-site counts and what is missing (:class:`validation.trial.status.TrialStatus`),
        after verifying the ledger (unless the caller already did, up to ``verified``)."""
        head, entries = self._read(verified)
        context, records = fold(entries)
        times = {e.seq: e.time_utc for e in entries}
        return trial_status(head, context, records, site=site, times=times)

    def export(self, out_dir: str | Path, *, verified: Head | None = None) -> ExportResult:
        """Write the export (:func:`validation.trial.export.export_tables`) after verifying the
        ledger (unless the caller already did, up to ``verified``)."""
        head, entries = self._read(verified)
        context, records = fold(entries)
        return export_tables(head, context, records, out_dir, entries=entries)

    def verify(self, *, expected_head: Head | str | None = None) -> VerifyReport:
        """Re-walk the ledger's hash chain (:func:`validation.ledger.verify`)."""
        return verify(self.ledger.path, expected_head=expected_head)


def verify(path: str | Path, *, expected_head: Head | str | None = None) -> VerifyReport:
    """Verify the trial ledger at ``path``: :func:`validation.ledger.verify` (names the first
    edited, deleted, swapped or -- with ``expected_head`` -- truncated entry)."""
    return verify_ledger(path, expected_head=expected_head)
