"""Export the trial's predictions and labels tables (DESIGN.md contracts) and a manifest.

The tables hold the values in force (every correction applied) as of one consistent read of the
ledger, whose head ``seq:hash`` the manifest cites, so a protocol run on them
(:func:`validation.runner.run_protocol`) can be traced to exactly these ledger entries.

* ``predictions.csv``: ``patient_id, site, score, modalities, model_lock`` -- one row per exported
  patient (``score`` written with ``repr``: the float round-trips exactly; ``modalities`` joined
  with ``+``).
* ``labels.csv``: ``patient_id, site, reference_her2, biopsy_her2, pcr, hr_status, age,
  anti_her2`` -- HER2 as 1/0 from the surgical and biopsy calls (ASCO/CAP 2018), ``pcr`` 1/0,
  ``hr_status``/``age`` as collected at enrolment, ``anti_her2`` 1/0 from the therapy record;
  an empty cell where the event is not (yet) recorded, so the protocol's population rules exclude
  those patients with their reason counted in the participant flow.
* ``trial_data.csv``, ``audit_trail.csv``, ``data_dictionary.csv`` and ``trial_odm.xml``: the
  whole trial dataset (withdrawn patients flagged, event dates, raw IHC/ISH, model call and
  threshold, regimen), the audit trail, the dictionary and CDISC ODM 1.3.2 (:mod:`.dataset`).
* ``trial_export.json``: RFC 8785 canonical JSON -- ledger head, protocol id, model lock, file
  names/SHA-256/rows, counts, the *excluded* patients with their reason (not in either table:
  withdrawn -- their data are not analysed -- or no blinded model prediction) and the
  *incomplete* ones (in the tables, with the labels still missing listed).

Atomic as a set: the three files are written and fsynced in a temporary sibling folder that is
then renamed to ``out_dir``; ``out_dir`` must not exist or be empty (an export is never
overwritten). Same ledger entries, same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.atomic import building_folder, csv_bytes, fsync_dir, write_synced
from validation.canonical import canonical_json, sha256_hex
from validation.exceptions import TrialRuleError
from validation.ledger import Entry, Head
from validation.trial.dataset import (
    AUDIT_COLUMNS,
    DATA_COLUMNS,
    audit_rows,
    data_rows,
    dictionary_rows,
    item_sources,
    odm_xml,
)
from validation.trial.events import EventKind
from validation.trial.rules import PatientRecord, TrialContext

__all__ = [
    "EXPORT_SCHEMA",
    "LABEL_COLUMNS",
    "MANIFEST_NAME",
    "PREDICTION_COLUMNS",
    "Excluded",
    "ExportResult",
    "export_tables",
]

EXPORT_SCHEMA = "her2map.trial-export/1"
MANIFEST_NAME = "trial_export.json"
PREDICTION_COLUMNS: tuple[str, ...] = ("patient_id", "site", "score", "modalities", "model_lock")
LABEL_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "reference_her2",
    "biopsy_her2",
    "pcr",
    "hr_status",
    "age",
    "anti_her2",
)
_LABEL_SOURCES = (
    (EventKind.SURGERY, "surgery"),
    (EventKind.BIOPSY, "biopsy"),
    (EventKind.RESPONSE, "response"),
)


@dataclass(frozen=True)
class Excluded:
    """A patient left out of the tables, or (``missing``) exported with labels still missing."""

    patient_id: str
    site: str
    reason: str


@dataclass(frozen=True)
class ExportResult:
    """Paths written, the ledger head they reflect, row counts, exclusions and incompletes."""

    out_dir: Path
    predictions: Path
    labels: Path
    manifest: Path
    head: Head
    n_exported: int
    excluded: tuple[Excluded, ...]
    incomplete: tuple[Excluded, ...]


def _flag(value: Any) -> str:
    return "" if value is None else str(int(bool(value)))


def _her2(record: PatientRecord, kind: EventKind) -> str:
    result = record.value(kind, "result")
    return "" if result is None else ("1" if result["her2"] == "positive" else "0")


def _exclusion(record: PatientRecord) -> str | None:
    if record.withdrawn:
        return "withdrawn from the trial (data not analysed)"
    if record.prediction_invalid is not None:
        return f"prediction invalidated: {record.prediction_invalid}"
    if EventKind.PREDICTION not in record.events:
        if EventKind.BIOPSY in record.events:
            return "no blinded model prediction (biopsy result recorded before any prediction)"
        return "no model prediction recorded"
    return None


def _rows(
    records: Mapping[str, PatientRecord],
) -> tuple[list[list[str]], list[list[str]], list[Excluded], list[Excluded]]:
    predictions, labels, excluded, incomplete = [], [], [], []
    for pid in sorted(records):
        record = records[pid]
        reason = _exclusion(record)
        if reason is not None:
            excluded.append(Excluded(pid, record.site, reason))
            continue
        pred = record.events[EventKind.PREDICTION][1]
        predictions.append(
            [
                pid,
                record.site,
                repr(float(pred["score"])),
                "+".join(pred["modalities"]),
                pred["model_lock"],
            ]
        )
        enrol = EventKind.ENROLLED
        labels.append(
            [
                pid,
                record.site,
                _her2(record, EventKind.SURGERY),
                _her2(record, EventKind.BIOPSY),
                _flag(record.value(EventKind.RESPONSE, "pcr")),
                ""
                if record.value(enrol, "hr_status") is None
                else str(record.value(enrol, "hr_status")),
                "" if record.value(enrol, "age") is None else str(record.value(enrol, "age")),
                _flag(record.value(EventKind.THERAPY, "anti_her2")),
            ]
        )
        complete = record.value(EventKind.RESPONSE, "pcr") is True  # no surgical HER2 after pCR
        missing = [
            name
            for kind, name in _LABEL_SOURCES
            if kind not in record.events and not (complete and kind is EventKind.SURGERY)
        ]
        if missing:
            incomplete.append(Excluded(pid, record.site, "missing " + ", ".join(missing)))
    return predictions, labels, excluded, incomplete


def export_tables(
    head: Head,
    context: TrialContext,
    records: Mapping[str, PatientRecord],
    out_dir: str | Path,
    *,
    entries: Sequence[Entry],
) -> ExportResult:
    """Write the tables and manifest of ``records`` (read at ``head``) into ``out_dir``;
    ``entries`` (the ledger entries they were folded from) give event dates and the audit trail."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TrialRuleError(
            f"export folder {out} exists and is not an empty folder; exports are never "
            "overwritten: give a new folder"
        )
    if not out.parent.is_dir():
        raise TrialRuleError(f"export folder {out}: parent folder {out.parent} does not exist")
    predictions, labels, excluded, incomplete = _rows(records)
    times = {e.seq: e.time_utc for e in entries}
    head_time = times.get(head.seq, "1970-01-01T00:00:00Z")
    data = data_rows(context, records, times, {e.patient_id: e.reason for e in excluded})
    files = {
        "predictions.csv": csv_bytes(PREDICTION_COLUMNS, predictions),
        "labels.csv": csv_bytes(LABEL_COLUMNS, labels),
        "trial_data.csv": csv_bytes(DATA_COLUMNS, data),
        "audit_trail.csv": csv_bytes(AUDIT_COLUMNS, audit_rows(entries, context, records)),
        "data_dictionary.csv": csv_bytes(("file", "column", "type", "meaning"), dictionary_rows()),
        "trial_odm.xml": odm_xml(
            head, head_time, context, data, item_sources(entries, records, head, head_time)
        ),
    }
    manifest = {
        "schema": EXPORT_SCHEMA,
        "ledger": {"head": str(head), "head_seq": head.seq, "head_hash": head.entry_hash},
        "protocol_id": context.protocol_id,
        "model_lock": context.model_lock,
        "files": {
            name: {"sha256": sha256_hex(body), "rows": body.count(b"\n") - 1}
            for name, body in files.items()
            if name.endswith(".csv")
        }
        | {
            name: {"sha256": sha256_hex(body)}
            for name, body in files.items()
            if not name.endswith(".csv")
        },
        "counts": {
            "patients": len(records),
            "exported": len(predictions),
            "excluded": len(excluded),
            "incomplete": len(incomplete),
        },
        "excluded": [vars(e) for e in excluded],
        "incomplete": [vars(e) for e in incomplete],
    }
    files[MANIFEST_NAME] = canonical_json(manifest)
    with building_folder(out.parent, out.name) as tmp:
        for name, body in files.items():
            write_synced(tmp / name, body)
        fsync_dir(tmp)
        os.replace(tmp, out)  # atomic; replaces only a missing or empty folder
    fsync_dir(out.parent)
    return ExportResult(
        out,
        out / "predictions.csv",
        out / "labels.csv",
        out / MANIFEST_NAME,
        head,
        len(predictions),
        tuple(excluded),
        tuple(incomplete),
    )
