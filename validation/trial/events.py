"""Prospective-trial event types, controlled vocabularies and payload validation.

Every trial event is one audit-ledger entry whose ``event_type`` starts with ``trial.``
(:class:`EventKind`); the ledger adds actor, sequence number, UTC time and the hash chain.
Payloads are built here from caller values, converted at the boundary to the vocabularies below,
and refused with :class:`~validation.exceptions.TrialRuleError` when malformed (rule ``VALUE``),
so a payload in the ledger is always well formed. Payload fields (``patient_id`` -- the
normalised key of :func:`patient_key` -- and ``site`` on every patient event):

=====================  ===========================================================================
``trial.opened``       ``sites`` (sorted list), ``protocol_id``, ``site`` (coordinating centre),
                       ``model_lock``, ``model_name``, ``threshold`` (the trial's locked model,
                       from the lock verified at opening; absent in trials opened before
                       2026-11-30, whose first prediction fixes the lock and threshold)
``trial.enrolled``     ``patient_label`` (the id as enrolled), ``consent_ref``, ``laterality`` (L/R or null), ``age`` (18-120 or null),
                       ``hr_status`` (0/1 or null)
``trial.prediction``   ``score`` in [0, 1], ``threshold``, ``call`` (derived: ``score >=
                       threshold``), ``model_lock``, ``model_name``, ``modalities`` (list),
                       ``source`` (``dicom`` or ``external``); for ``dicom`` also ``read`` =
                       ``{study_uids, instance_uids}`` (the DICOM studies and files the model read)
                       and, for images retrieved from a PACS, ``pacs`` (its DICOMweb root, an
                       http(s) URL without credentials, query or fragment); and
                       ``imaging_date`` (``YYYY-MM-DD``, the DICOM StudyDate of what it read)
``trial.biopsy``       ``result`` = ``{ihc, ish, her2}``, ``her2`` derived by :func:`her2_call`;
                       optional ``report_time`` (UTC time the pathology report was issued)
``trial.therapy``      ``regimen`` (text), ``anti_her2`` (bool)
``trial.surgery``      ``result`` as biopsy (the surgical specimen: the reference standard)
``trial.response``     ``pcr`` (bool), ``definition`` (always :data:`PCR_DEFINITION`)
``trial.withdrawn``    ``reason``
=====================  ===========================================================================

Corrections are the ledger's own ``ledger.correction`` entries (:meth:`Ledger.correct`); which
fields may be corrected is :data:`CORRECTABLE` (a HER2 ``result`` is corrected as a whole object,
re-derived from the corrected IHC/ISH, so the stored call can never disagree with its inputs).
"""

from __future__ import annotations

import contextlib
import math
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from validation.exceptions import TrialRuleError
from validation.modalities import MODALITY_KEYS

__all__ = [
    "CORRECTABLE",
    "IHC",
    "ISH",
    "PCR_DEFINITION",
    "EventKind",
    "Her2Call",
    "Laterality",
    "Source",
    "check_patient_id",
    "check_site",
    "formula_problem",
    "her2_call",
    "her2_result",
    "parse_field",
    "patient_key",
    "refuse",
]

#: Pathological complete response, as recorded on every ``trial.response`` entry.
PCR_DEFINITION = "ypT0/is ypN0"
_PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # ingest's pseudonymous-id rule
_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_MAX_TEXT = 500
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class EventKind(StrEnum):
    """Trial event types (the ledger ``event_type``); ``short`` is the CLI/API name."""

    OPENED = "trial.opened"
    ENROLLED = "trial.enrolled"
    PREDICTION = "trial.prediction"
    BIOPSY = "trial.biopsy"
    THERAPY = "trial.therapy"
    SURGERY = "trial.surgery"
    RESPONSE = "trial.response"
    WITHDRAWN = "trial.withdrawn"

    @property
    def short(self) -> str:
        return self.value.removeprefix("trial.")

    @classmethod
    def from_short(cls, name: str) -> EventKind:
        for kind in cls:
            if name in (kind.short, kind.value):
                return kind
        names = ", ".join(k.short for k in cls)
        raise TrialRuleError(f"unknown trial event {name!r}; expected one of {names}")


class IHC(StrEnum):
    """HER2 immunohistochemistry score (ASCO/CAP 2018)."""

    ZERO = "0"
    ONE = "1+"
    TWO = "2+"
    THREE = "3+"


class ISH(StrEnum):
    """HER2 in-situ hybridisation result."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    NOT_DONE = "not_done"


class Her2Call(StrEnum):
    """Binary HER2 status."""

    POSITIVE = "positive"
    NEGATIVE = "negative"


class Laterality(StrEnum):
    """Side of the tumour (ingest checks DICOM ImageLaterality against it)."""

    LEFT = "L"
    RIGHT = "R"


class Source(StrEnum):
    """Where a prediction's score came from."""

    DICOM = "dicom"  # the locked model run on the patient's DICOM by the trial itself
    EXTERNAL = "external"  # a precomputed score of an external (or separately run) model


#: Fields that a correction may change, per event kind (patient_id and site never; a prediction
#: and the trial's opening never).
CORRECTABLE: dict[EventKind, tuple[str, ...]] = {
    EventKind.ENROLLED: ("age", "consent_ref", "hr_status", "laterality"),
    EventKind.BIOPSY: ("ihc", "ish"),
    EventKind.THERAPY: ("anti_her2", "regimen"),
    EventKind.SURGERY: ("ihc", "ish"),
    EventKind.RESPONSE: ("pcr",),
    EventKind.WITHDRAWN: (),
}


def refuse(patient_id: object, event: str, rule: str, detail: str) -> TrialRuleError:
    """The one message shape of a refusal: patient, event, rule id, what was wrong."""
    who = "trial" if patient_id == "-" else f"patient {patient_id!s}"
    return TrialRuleError(
        f"{who}: {event} refused by rule {rule}: {detail}; nothing was written", rule=rule
    )


def patient_key(patient_id: str) -> str:
    """The one patient-id normalisation: surrounding whitespace stripped, Unicode NFC, casefolded.

    Two ids with the same key are the same patient ("P-0001" and "p-0001 "). Every trial event
    stores the key as its payload ``patient_id`` (the ledger's indexed field, so every rule, index
    lookup and the service's per-patient scope see one patient); ``trial.enrolled`` also stores the
    id as first enrolled as ``patient_label``, which is what status, export and the DICOM
    PatientID match use. Entries written before this rule (``patient_id`` as typed, no label) fold
    under their key too; they are found by an exact-case lookup as well.
    """
    return unicodedata.normalize("NFC", patient_id.strip()).casefold()


def check_patient_id(value: object, event: str) -> str:
    """A pseudonymous id: 1-64 letters, digits, '.', '_' or '-' starting with a letter/digit
    (surrounding whitespace stripped; compared by :func:`patient_key`)."""
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, str) or not _PATIENT_ID.fullmatch(value):
        raise refuse(
            value,
            event,
            "VALUE",
            f"patient id must be 1-64 letters, digits, '.', '_' or '-' (e.g. 'P000123'), got "
            f"{value!r}",
        )
    return value


def check_site(value: object, event: str, patient_id: object = "-") -> str:
    """A site code: 1-32 letters, digits, '.', '_' or '-'."""
    if not isinstance(value, str) or not _SITE.fullmatch(value):
        raise refuse(
            patient_id, event, "VALUE", f"site must be a site code such as 'A', got {value!r}"
        )
    return value


def _enum(kind: type[StrEnum], value: object, what: str) -> Any:
    values = [member.value for member in kind]
    if not isinstance(value, str) or value not in values:
        allowed = ", ".join(repr(v) for v in values)
        raise ValueError(f"{what} must be one of {allowed}, got {value!r}")
    return kind(value)


def formula_problem(value: str, what: str) -> str | None:
    """Why ``value`` (stripped) may not be stored as free text, or None: text starting with
    ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is run as a formula by a
    spreadsheet opening the export's CSV files (OWASP, CSV injection), so it is refused at entry
    rather than exported as written or altered."""
    first = value.strip()[:1] if value.strip()[:1] in _FORMULA else value[:1]
    if first in _FORMULA:
        return (
            f"{what} must not start with {first!r} (a spreadsheet would run it as a formula); "
            f"write it without that character, got {value!r}"
        )
    return None


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise ValueError(
            f"{what} must be non-empty text of at most {_MAX_TEXT} characters, got {value!r}"
        )
    problem = formula_problem(value, what)
    if problem is not None:
        raise ValueError(problem)
    return value.strip()


def _yes_no(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("yes", "no"):
        return value == "yes"
    raise ValueError(f"{what} must be yes/no (or a bool), got {value!r}")


def _optional_int(value: object, what: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in {low}..{high} or empty, got {value!r}")
    return value


def _optional_laterality(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(_enum(Laterality, value, "laterality").value)


def _probability(value: object, what: str) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ValueError(f"{what} must be a number in [0, 1], got {value!r}")
    return float(value)


def her2_call(ihc: IHC, ish: ISH) -> Her2Call:
    """HER2 status by ASCO/CAP 2018 (Wolff et al., J Clin Oncol 2018;36:2105-2122).

    IHC 3+ is positive; IHC 2+ (equivocal) is decided by ISH, and without ISH is undetermined
    (raises ``ValueError``: record the ISH result first); IHC 0 and 1+ are negative. The ISH
    result beside IHC 0/1+/3+ does not change the call. No R equivalent (a clinical rule).
    """
    if ihc is IHC.THREE:
        return Her2Call.POSITIVE
    if ihc is IHC.TWO:
        if ish is ISH.NOT_DONE:
            raise ValueError(
                "IHC 2+ is equivocal and ISH was not done: the HER2 call is undetermined by "
                "ASCO/CAP 2018; record the result once ISH is done"
            )
        return Her2Call.POSITIVE if ish is ISH.POSITIVE else Her2Call.NEGATIVE
    return Her2Call.NEGATIVE


def her2_result(ihc: object, ish: object, *, patient_id: object, event: str) -> dict[str, str]:
    """``{ihc, ish, her2}`` with ``her2`` derived by :func:`her2_call` (never from the caller).

    Refuses a value outside the vocabularies (rule ``VALUE``) and IHC 2+ without ISH (rule
    ``ASCO-CAP``: the call is undetermined).
    """
    try:
        ihc_value = _enum(IHC, ihc, "ihc")
        ish_value = _enum(ISH, ish, "ish")
    except ValueError as exc:
        raise refuse(patient_id, event, "VALUE", str(exc)) from None
    try:
        call = her2_call(ihc_value, ish_value)
    except ValueError as exc:
        raise refuse(patient_id, event, "ASCO-CAP", str(exc)) from None
    return {"her2": call.value, "ihc": ihc_value.value, "ish": ish_value.value}


def _modalities(value: object) -> list[str]:
    items = value.split("+") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"modalities must be a non-empty list of {MODALITY_KEYS}, got {value!r}")
    unknown = [m for m in items if m not in MODALITY_KEYS]
    if unknown or len(set(items)) != len(items):
        raise ValueError(
            f"modalities must be distinct keys among {', '.join(MODALITY_KEYS)}, got {value!r}"
        )
    return [m for m in MODALITY_KEYS if m in items]


def _report_time(value: object) -> str | None:
    """ISO 8601 UTC time of a pathology report (``2026-11-27T09:30Z`` or with seconds), not in
    the future; stored as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None or value == "":
        return None
    parsed = None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ"):
        with contextlib.suppress(TypeError, ValueError):
            parsed = datetime.strptime(str(value), fmt).replace(tzinfo=UTC)
            break
    if parsed is None or not isinstance(value, str):
        raise ValueError(
            f"report_time must be a UTC time such as 2026-11-27T09:30:00Z, got {value!r}"
        )
    if parsed > datetime.now(UTC) + timedelta(minutes=5):
        raise ValueError(f"report_time {value!r} is in the future")
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def _imaging_date(value: object) -> str:
    """A calendar date ``YYYY-MM-DD`` (the DICOM StudyDate, converted by the imaging reader)."""
    parsed = None
    with contextlib.suppress(TypeError, ValueError):
        parsed = datetime.strptime(str(value), "%Y-%m-%d").date()
    if parsed is None or not isinstance(value, str) or parsed.isoformat() != value:
        raise ValueError(f"imaging_date must be a date such as 2026-11-27, got {value!r}")
    if parsed > (datetime.now(UTC) + timedelta(days=1)).date():
        raise ValueError(f"imaging_date {value!r} is in the future")
    return value


def _lock_hash(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(f"model_lock must be a 64-character lower-case sha256 hex, got {value!r}")
    return value


def _public_url(value: object) -> str:
    """A PACS URL as a ledger may hold it: http(s), a host, no credentials, query or fragment."""
    parts = None
    if isinstance(value, str):
        try:
            parts = urlsplit(value)
            _ = parts.port  # ValueError for a port that is not a number in range
        except ValueError:
            parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            "read.pacs must be the PACS's http(s) URL without credentials, query or fragment, "
            f"got {value!r}"
        )
    return str(value)


def _read(value: object) -> dict[str, Any]:
    keys = ["instance_uids", "study_uids"]
    if (
        not isinstance(value, dict)
        or sorted(k for k in value if k != "pacs") != keys
        or not all(
            isinstance(value[k], list) and all(isinstance(u, str) for u in value[k]) for k in keys
        )
    ):
        raise ValueError(
            "a dicom prediction names the study_uids and instance_uids it read (lists of UIDs) "
            "and, for images from a PACS, the pacs URL; nothing else"
        )
    read = {k: list(value[k]) for k in keys}
    return read if "pacs" not in value else {**read, "pacs": _public_url(value["pacs"])}


_PARSERS: dict[str, Any] = {
    "age": lambda v: _optional_int(v, "age", 18, 120),
    "anti_her2": lambda v: _yes_no(v, "anti_her2"),
    "consent_ref": lambda v: _text(v, "consent_ref"),
    "hr_status": lambda v: _optional_int(v, "hr_status", 0, 1),
    "imaging_date": _imaging_date,
    "laterality": _optional_laterality,
    "model_lock": _lock_hash,
    "model_name": lambda v: _text(v, "model_name"),
    "modalities": _modalities,
    "pcr": lambda v: _yes_no(v, "pcr"),
    "read": _read,
    "reason": lambda v: _text(v, "reason"),
    "regimen": lambda v: _text(v, "regimen"),
    "report_time": _report_time,
    "score": lambda v: _probability(v, "score"),
    "threshold": lambda v: _probability(v, "threshold"),
}


def parse_field(field: str, value: object, *, patient_id: object, event: str) -> Any:
    """Convert one caller value to its stored form, or refuse (rule ``VALUE``) naming the field."""
    try:
        return _PARSERS[field](value)
    except ValueError as exc:
        raise refuse(patient_id, event, "VALUE", str(exc)) from None
