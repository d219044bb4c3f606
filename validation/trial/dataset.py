"""What a trial statistician gets beside the analysis tables: the trial dataset, the audit trail,
a data dictionary and CDISC ODM 1.3.2 XML (all written by :func:`validation.trial.export_tables`).

* ``trial_data.csv`` -- one row per enrolled patient, withdrawn ones included and flagged (their
  data collected before withdrawal are kept: FDA guidance "Data Retention When Subjects Withdraw
  from FDA-Regulated Clinical Trials", 2008); study, site and subject ids on every row; the date
  (UTC ledger time) of every event; raw IHC/ISH beside the derived HER2 call; the model's score,
  threshold, call, lock and modalities; the regimen; ``analysed`` 1/0 with the reason.
* ``audit_trail.csv`` -- every trial entry and correction in ledger order: who (the ledger actor),
  when, what, and for corrections the field, old value, new value and reason (21 CFR 11.10(e)).
  Token entries (``auth.*``) are not trial data and are left out.
* ``data_dictionary.csv`` -- file, column, type and meaning of every exported column.
* ``trial_odm.xml`` -- the trial dataset as a CDISC ODM 1.3.2 snapshot: ``ClinicalData`` with
  one ``SubjectData`` per patient (``SiteRef`` its site, one form of the values in force) and the
  ``MetaDataVersion`` declaring every item with its type and meaning. Deterministic: its
  ``CreationDateTime`` is the ledger head's time. (The audit trail is in ``audit_trail.csv``;
  ODM ``AuditRecord`` elements are not written yet.)

Values are those in force (corrections applied); the audit trail keeps the old ones.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from validation.ledger import CORRECTION_EVENT, Entry, Head
from validation.trial.events import EventKind, patient_key
from validation.trial.rules import PatientRecord, TrialContext

__all__ = [
    "AUDIT_COLUMNS",
    "DATA_COLUMNS",
    "DICTIONARY",
    "EXPORT_USER",
    "ItemSource",
    "audit_rows",
    "data_rows",
    "item_sources",
    "odm_xml",
]

_Getter = Callable[[PatientRecord], Any]


def _field(kind: EventKind, name: str) -> _Getter:
    return lambda record: record.value(kind, name)


def _result(kind: EventKind, key: str) -> _Getter:
    def get(record: PatientRecord) -> Any:
        result = record.value(kind, "result")
        return None if result is None else result[key]

    return get


#: trial_data.csv: column -> (type, meaning, the event it comes from or None).
DICTIONARY: dict[str, tuple[str, str, EventKind | None]] = {
    "study_id": ("text", "protocol id of the trial (trial.opened)", None),
    "site_id": ("text", "enrolling site code", None),
    "subject_id": ("text", "pseudonymous patient id", None),
    "enrolled_date": ("datetime", "UTC ledger time of the enrolment", EventKind.ENROLLED),
    "consent_ref": ("text", "consent form reference", EventKind.ENROLLED),
    "laterality": ("L/R", "tumour side", EventKind.ENROLLED),
    "age": ("integer", "age in years at enrolment", EventKind.ENROLLED),
    "hr_status": ("0/1", "hormone receptor status", EventKind.ENROLLED),
    "prediction_date": (
        "datetime",
        "UTC ledger time of the model's prediction",
        EventKind.PREDICTION,
    ),
    "imaging_date": (
        "date",
        "DICOM StudyDate of the study the model read (empty for an external score)",
        EventKind.PREDICTION,
    ),
    "score": ("number", "model score P(HER2-positive) in [0, 1]", EventKind.PREDICTION),
    "threshold": ("number", "the lock's decision threshold", EventKind.PREDICTION),
    "model_call": ("positive/negative", "score >= threshold", EventKind.PREDICTION),
    "model_lock": ("sha256", "hash of the locked model", EventKind.PREDICTION),
    "model_name": ("text", "name of the locked model", EventKind.PREDICTION),
    "modalities": ("text", "modalities read, joined with +", EventKind.PREDICTION),
    "biopsy_date": ("datetime", "UTC ledger time of the biopsy result", EventKind.BIOPSY),
    "biopsy_ihc": ("0/1+/2+/3+", "biopsy HER2 immunohistochemistry", EventKind.BIOPSY),
    "biopsy_ish": ("positive/negative/not_done", "biopsy HER2 ISH", EventKind.BIOPSY),
    "biopsy_her2": ("positive/negative", "biopsy HER2 call by ASCO/CAP 2018", EventKind.BIOPSY),
    "biopsy_report_time": ("datetime", "UTC time the biopsy report was issued", EventKind.BIOPSY),
    "therapy_date": ("datetime", "UTC ledger time of the therapy record", EventKind.THERAPY),
    "regimen": ("text", "neoadjuvant regimen", EventKind.THERAPY),
    "anti_her2": ("0/1", "regimen includes anti-HER2 therapy", EventKind.THERAPY),
    "surgery_date": ("datetime", "UTC ledger time of the surgical HER2 result", EventKind.SURGERY),
    "surgery_ihc": ("0/1+/2+/3+", "surgical specimen HER2 IHC", EventKind.SURGERY),
    "surgery_ish": ("positive/negative/not_done", "surgical specimen HER2 ISH", EventKind.SURGERY),
    "surgery_her2": (
        "positive/negative",
        "reference standard: surgical HER2 call",
        EventKind.SURGERY,
    ),
    "response_date": ("datetime", "UTC ledger time of the response record", EventKind.RESPONSE),
    "pcr": ("0/1", "pathological complete response (ypT0/is ypN0)", EventKind.RESPONSE),
    "withdrawn": ("0/1", "patient withdrew (data before withdrawal kept)", EventKind.WITHDRAWN),
    "withdrawal_date": ("datetime", "UTC ledger time of the withdrawal", EventKind.WITHDRAWN),
    "withdrawal_reason": ("text", "reason given for withdrawal", EventKind.WITHDRAWN),
    "analysed": ("0/1", "in predictions.csv and labels.csv", None),
    "exclusion_reason": ("text", "why not analysed (empty when analysed)", None),
}
DATA_COLUMNS: tuple[str, ...] = tuple(DICTIONARY)
AUDIT_COLUMNS: tuple[str, ...] = (
    "seq", "time_utc", "actor", "event_type", "study_id", "site_id", "subject_id", "field",
    "old_value", "new_value", "reason", "entry_hash",
)  # fmt: skip
#: Where each trial_data.csv value comes from: column -> (event, payload field, key in it).
_SOURCES: dict[str, tuple[EventKind, str, str | None]] = {
    "consent_ref": (EventKind.ENROLLED, "consent_ref", None),
    "laterality": (EventKind.ENROLLED, "laterality", None),
    "age": (EventKind.ENROLLED, "age", None),
    "hr_status": (EventKind.ENROLLED, "hr_status", None),
    "imaging_date": (EventKind.PREDICTION, "imaging_date", None),
    "score": (EventKind.PREDICTION, "score", None),
    "threshold": (EventKind.PREDICTION, "threshold", None),
    "model_call": (EventKind.PREDICTION, "call", None),
    "model_lock": (EventKind.PREDICTION, "model_lock", None),
    "model_name": (EventKind.PREDICTION, "model_name", None),
    "modalities": (EventKind.PREDICTION, "modalities", None),
    "biopsy_ihc": (EventKind.BIOPSY, "result", "ihc"),
    "biopsy_ish": (EventKind.BIOPSY, "result", "ish"),
    "biopsy_her2": (EventKind.BIOPSY, "result", "her2"),
    "biopsy_report_time": (EventKind.BIOPSY, "report_time", None),
    "regimen": (EventKind.THERAPY, "regimen", None),
    "anti_her2": (EventKind.THERAPY, "anti_her2", None),
    "surgery_ihc": (EventKind.SURGERY, "result", "ihc"),
    "surgery_ish": (EventKind.SURGERY, "result", "ish"),
    "surgery_her2": (EventKind.SURGERY, "result", "her2"),
    "pcr": (EventKind.RESPONSE, "pcr", None),
    "withdrawal_reason": (EventKind.WITHDRAWN, "reason", None),
}
_GETTERS: dict[str, _Getter] = {
    column: _result(kind, key) if key is not None else _field(kind, name)
    for column, (kind, name, key) in _SOURCES.items()
}
#: The ODM AuditRecord user of values the export derives itself (analysed, exclusion_reason, a
#: withdrawn flag of 0): they come from the ledger as a whole, read up to its head.
EXPORT_USER = "her2map-export"


@dataclass(frozen=True)
class ItemSource:
    """The ledger entry a trial_data.csv value comes from (an event or the latest correction of
    the field), for its ODM AuditRecord; ``reason`` is the correction's reason, else None."""

    seq: int
    actor: str
    time_utc: str
    reason: str | None = None


def item_sources(
    entries: Iterable[Entry], records: Mapping[str, PatientRecord], head: Head, head_time: str
) -> dict[tuple[str, str], ItemSource]:
    """(subject id, column) -> :class:`ItemSource` for every patient's every data column.

    A value read from an event is sourced to that event's entry, or to the latest
    ``ledger.correction`` of its payload field when corrected; an event date to the event; a
    value the export derives (no event behind it) to :data:`EXPORT_USER` at the ledger head.
    """
    by_seq: dict[int, Entry] = {}
    fixes: dict[tuple[int, str], Entry] = {}
    for entry in entries:
        by_seq[entry.seq] = entry
        if entry.event_type == CORRECTION_EVENT:
            fixes[(entry.payload.get("target_seq", -1), entry.payload.get("field", ""))] = entry
    derived = ItemSource(head.seq, EXPORT_USER, head_time)
    sources: dict[tuple[str, str], ItemSource] = {}
    for pid, record in records.items():
        for column, (_, _, kind) in DICTIONARY.items():
            source = derived
            if kind is not None and kind in record.events:
                seq = record.events[kind][0]
                spec = _SOURCES.get(column)
                fix = None if spec is None else fixes.get((seq, spec[1]))
                entry = fix or by_seq[seq]
                reason = None if fix is None else str(fix.payload.get("reason", ""))
                source = ItemSource(entry.seq, entry.actor, entry.time_utc, reason)
            sources[(pid, column)] = source
    return sources


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    return str(value)


def data_rows(
    context: TrialContext,
    records: Mapping[str, PatientRecord],
    times: Mapping[int, str],
    exclusions: Mapping[str, str],
) -> list[list[str]]:
    """One row of :data:`DATA_COLUMNS` per patient (sorted by id); ``exclusions``: id -> reason."""
    rows = []
    for pid in sorted(records):
        record = records[pid]
        values: dict[str, Any] = {
            "study_id": context.protocol_id,
            "site_id": record.site,
            "subject_id": pid,
            "withdrawn": record.withdrawn,
            "analysed": pid not in exclusions,
            "exclusion_reason": exclusions.get(pid),
        }
        for column, (_, _, kind) in DICTIONARY.items():
            if column.endswith("_date") and kind is not None and kind in record.events:
                values[column] = times[record.events[kind][0]]
        for column, getter in _GETTERS.items():
            values[column] = getter(record)
        rows.append([_cell(values.get(column)) for column in DATA_COLUMNS])
    return rows


def audit_rows(
    entries: Iterable[Entry], context: TrialContext, records: Mapping[str, PatientRecord]
) -> list[list[str]]:
    """Every trial entry and correction of a trial entry, in ledger order (:data:`AUDIT_COLUMNS`)."""
    owner: dict[int, str] = {}
    labels = {record.key: pid for pid, record in records.items()}  # shown as first enrolled
    rows = []
    for entry in entries:
        p = entry.payload
        if entry.event_type == CORRECTION_EVENT:
            pid = owner.get(p.get("target_seq", -1))
            if pid is None:
                continue
            site = records[pid].site if pid in records else ""
            changed = (
                p["field"],
                json.dumps(p["old_value"]),
                json.dumps(p["new_value"]),
                p["reason"],
            )
        elif entry.event_type.startswith("trial."):
            pid = str(p.get("patient_id", ""))
            pid = labels.get(patient_key(pid), pid)
            site = p.get("site", "")
            owner[entry.seq] = pid
            changed = ("", "", "", "")
        else:
            continue
        rows.append(
            [str(entry.seq), entry.time_utc, entry.actor, entry.event_type,
             _cell(context.protocol_id), site, pid, *changed, entry.entry_hash]
        )  # fmt: skip
    return rows


def dictionary_rows() -> list[list[str]]:
    """``file, column, type, meaning`` of every exported column."""
    from validation.trial.export import LABEL_COLUMNS, PREDICTION_COLUMNS

    rows = [["trial_data.csv", c, t, m] for c, (t, m, _) in DICTIONARY.items()]
    rows += [
        ["predictions.csv", c, "", "predictions table contract (README)"]
        for c in PREDICTION_COLUMNS
    ]
    rows += [["labels.csv", c, "", "labels table contract (README)"] for c in LABEL_COLUMNS]
    rows += [["audit_trail.csv", c, "", "audit trail (21 CFR 11.10(e))"] for c in AUDIT_COLUMNS]
    return rows


_ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
_ODM_TYPES = {"datetime": "datetime", "date": "date", "number": "float", "integer": "integer"}


def odm_xml(
    head: Head,
    head_time: str,
    context: TrialContext,
    data: list[list[str]],
    sources: Mapping[tuple[str, str], ItemSource],
) -> bytes:
    """CDISC ODM 1.3.2 XML of the trial dataset ``data`` (rows of :data:`DATA_COLUMNS`).

    Every ItemData carries an AuditRecord (ODM 1.3.2 section 3.1.3 order: UserRef, LocationRef,
    DateTimeStamp, ReasonForChange for a corrected value, SourceID = the ledger seq of
    ``sources``); AdminData declares each User (an entry's actor) and Location (each trial site,
    with its MetaDataVersionRef) that these and SiteRef name, so every reference resolves.
    """
    ET.register_namespace("", _ODM_NS)

    def el(parent: ET.Element | None, tag: str, **attrs: str) -> ET.Element:
        node = (
            ET.Element(f"{{{_ODM_NS}}}{tag}", attrs)
            if parent is None
            else ET.SubElement(parent, f"{{{_ODM_NS}}}{tag}", attrs)
        )
        return node

    study_oid = f"ST.{context.protocol_id or 'TRIAL'}"
    root = el(
        None, "ODM", FileType="Snapshot", FileOID=f"her2map.{head.entry_hash[:16]}",
        CreationDateTime=head_time.removesuffix("Z"), ODMVersion="1.3.2",
        Description=f"HER2 MAP trial export at ledger head {head}",
    )  # fmt: skip
    study = el(root, "Study", OID=study_oid)
    names = el(study, "GlobalVariables")
    for tag, text in (
        ("StudyName", study_oid),
        ("StudyDescription", "prospective model-versus-biopsy trial"),
        ("ProtocolName", study_oid),
    ):
        el(names, tag).text = text
    meta = el(study, "MetaDataVersion", OID="MDV.1", Name="her2map trial export")
    items = [c for c in DATA_COLUMNS if c not in ("study_id", "site_id", "subject_id")]
    el(el(meta, "Protocol"), "StudyEventRef", StudyEventOID="SE.TRIAL", Mandatory="Yes")
    event_def = el(
        meta, "StudyEventDef", OID="SE.TRIAL", Name="Trial", Repeating="No", Type="Common"
    )
    el(event_def, "FormRef", FormOID="F.TRIAL", Mandatory="Yes")
    form = el(meta, "FormDef", OID="F.TRIAL", Name="Trial record", Repeating="No")
    el(form, "ItemGroupRef", ItemGroupOID="IG.TRIAL", Mandatory="Yes")
    group = el(meta, "ItemGroupDef", OID="IG.TRIAL", Name="Trial record", Repeating="No")
    for item in items:
        el(group, "ItemRef", ItemOID=f"I.{item}", Mandatory="No")
    for item in items:
        kind = DICTIONARY[item][0]
        dtype = _ODM_TYPES.get(kind, "text")
        definition = el(meta, "ItemDef", OID=f"I.{item}", Name=item, DataType=dtype)
        el(el(definition, "Description"), "TranslatedText").text = DICTIONARY[item][1]
    index = {c: i for i, c in enumerate(DATA_COLUMNS)}
    admin = el(root, "AdminData", StudyOID=study_oid)
    for actor in sorted({source.actor for source in sources.values()}):
        el(el(admin, "User", OID=f"U.{actor}"), "LoginName").text = actor
    sites = set(context.sites or ()) | {row[index["site_id"]] for row in data}
    for site in sorted(sites):
        location = el(admin, "Location", OID=f"SITE.{site}", Name=site, LocationType="Site")
        el(
            location, "MetaDataVersionRef", StudyOID=study_oid, MetaDataVersionOID="MDV.1",
            EffectiveDate=head_time[:10],
        )  # fmt: skip
    clinical = el(root, "ClinicalData", StudyOID=study_oid, MetaDataVersionOID="MDV.1")
    for row in data:
        subject = el(clinical, "SubjectData", SubjectKey=row[index["subject_id"]])
        el(subject, "SiteRef", LocationOID=f"SITE.{row[index['site_id']]}")
        group_data = el(
            el(
                el(subject, "StudyEventData", StudyEventOID="SE.TRIAL"),
                "FormData",
                FormOID="F.TRIAL",
            ),
            "ItemGroupData",
            ItemGroupOID="IG.TRIAL",
        )
        for item in items:
            value = row[index[item]]
            if value != "":
                value = value.removesuffix("Z") if DICTIONARY[item][0] == "datetime" else value
                data_item = el(group_data, "ItemData", ItemOID=f"I.{item}", Value=value)
                source = sources[(row[index["subject_id"]], item)]
                audit = el(data_item, "AuditRecord")
                el(audit, "UserRef", UserOID=f"U.{source.actor}")
                el(audit, "LocationRef", LocationOID=f"SITE.{row[index['site_id']]}")
                el(audit, "DateTimeStamp").text = source.time_utc.removesuffix("Z")
                if source.reason is not None:
                    el(audit, "ReasonForChange").text = source.reason
                el(audit, "SourceID").text = str(source.seq)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
