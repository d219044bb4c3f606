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
from typing import Any

from validation.ledger import CORRECTION_EVENT, Entry, Head
from validation.trial.events import EventKind, patient_key
from validation.trial.rules import PatientRecord, TrialContext

__all__ = ["AUDIT_COLUMNS", "DATA_COLUMNS", "DICTIONARY", "audit_rows", "data_rows", "odm_xml"]

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
_GETTERS: dict[str, _Getter] = {
    "consent_ref": _field(EventKind.ENROLLED, "consent_ref"),
    "laterality": _field(EventKind.ENROLLED, "laterality"),
    "age": _field(EventKind.ENROLLED, "age"),
    "hr_status": _field(EventKind.ENROLLED, "hr_status"),
    "imaging_date": _field(EventKind.PREDICTION, "imaging_date"),
    "score": _field(EventKind.PREDICTION, "score"),
    "threshold": _field(EventKind.PREDICTION, "threshold"),
    "model_call": _field(EventKind.PREDICTION, "call"),
    "model_lock": _field(EventKind.PREDICTION, "model_lock"),
    "model_name": _field(EventKind.PREDICTION, "model_name"),
    "modalities": _field(EventKind.PREDICTION, "modalities"),
    "biopsy_ihc": _result(EventKind.BIOPSY, "ihc"),
    "biopsy_ish": _result(EventKind.BIOPSY, "ish"),
    "biopsy_her2": _result(EventKind.BIOPSY, "her2"),
    "biopsy_report_time": _field(EventKind.BIOPSY, "report_time"),
    "regimen": _field(EventKind.THERAPY, "regimen"),
    "anti_her2": _field(EventKind.THERAPY, "anti_her2"),
    "surgery_ihc": _result(EventKind.SURGERY, "ihc"),
    "surgery_ish": _result(EventKind.SURGERY, "ish"),
    "surgery_her2": _result(EventKind.SURGERY, "her2"),
    "pcr": _field(EventKind.RESPONSE, "pcr"),
    "withdrawal_reason": _field(EventKind.WITHDRAWN, "reason"),
}


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


def odm_xml(head: Head, head_time: str, context: TrialContext, data: list[list[str]]) -> bytes:
    """CDISC ODM 1.3.2 XML of the trial dataset ``data`` (rows of :data:`DATA_COLUMNS`)."""
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
        dtype = {"datetime": "datetime", "number": "float", "integer": "integer"}.get(kind, "text")
        definition = el(meta, "ItemDef", OID=f"I.{item}", Name=item, DataType=dtype)
        el(el(definition, "Description"), "TranslatedText").text = DICTIONARY[item][1]
    clinical = el(root, "ClinicalData", StudyOID=study_oid, MetaDataVersionOID="MDV.1")
    index = {c: i for i, c in enumerate(DATA_COLUMNS)}
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
                el(group_data, "ItemData", ItemOID=f"I.{item}", Value=value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
