"""Corrections as new entries (21 CFR 11.10(e); ICH E6(R3) section 4.2 on audit trails).

A correction never changes the entry it corrects. It is a new entry of type
:data:`CORRECTION_EVENT` whose payload is ``{target_seq, field, old_value, new_value, reason}``:
``old_value`` is what the field held before (after any earlier corrections), read from the
ledger inside the write transaction, never taken from the caller. The value in force is the
target's payload with every correction folded in, in sequence order.

Corrections are generic: they name a top-level payload field of any non-correction entry.
Rules about *which* fields of *which* events may be corrected belong to the clients (pass a
``check`` to :meth:`validation.ledger.Ledger.correct`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from validation.canonical import canonical_json
from validation.exceptions import LedgerError
from validation.ledger.chain import canonical_payload
from validation.ledger.models import Entry

__all__ = ["CORRECTION_EVENT", "correction_payload", "fold_corrections"]

#: event_type of a correction entry.
CORRECTION_EVENT = "ledger.correction"


def fold_corrections(target: Entry, corrections: Iterable[Entry]) -> dict[str, Any]:
    """Payload of ``target`` with ``corrections`` (entries in seq order) applied in order."""
    payload = dict(target.payload)
    for correction in corrections:
        if (
            correction.event_type != CORRECTION_EVENT
            or correction.payload.get("target_seq") != target.seq
        ):
            raise LedgerError(
                f"entry {correction.seq} is not a correction of entry {target.seq}; pass only "
                f"'{CORRECTION_EVENT}' entries whose target_seq is {target.seq}"
            )
        payload[correction.payload["field"]] = correction.payload["new_value"]
    return payload


def correction_payload(
    target: Entry, current: dict[str, Any], field: str, new_value: Any, reason: str
) -> dict[str, Any]:
    """Payload of a correction of ``target``'s ``field`` given its ``current`` (folded) payload."""
    if target.event_type == CORRECTION_EVENT:
        raise LedgerError(
            f"entry {target.seq} is itself a correction; correct entry "
            f"{target.payload.get('target_seq')} (its target) with a new correction instead"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise LedgerError(
            f"reason must be a non-empty string saying why entry {target.seq} field {field!r} is "
            f"corrected (21 CFR 11.10(e)); got {reason!r}; nothing was written"
        )
    if not isinstance(field, str) or field not in current:
        raise LedgerError(
            f"field {field!r} is not a top-level field of entry {target.seq} "
            f"({target.event_type}); its fields are {sorted(current)}; append a new event to "
            f"record a value that was never entered"
        )
    old_value = current[field]
    new_json = canonical_payload({"new_value": new_value})
    if new_json == canonical_json({"new_value": old_value}):
        raise LedgerError(
            f"entry {target.seq} field {field!r} already holds {new_value!r}; a correction must "
            f"change the value"
        )
    return {
        "field": field,
        "new_value": new_value,
        "old_value": old_value,
        "reason": reason,
        "target_seq": target.seq,
    }
