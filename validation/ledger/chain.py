"""Pure hashing and chain verification of the audit ledger (no I/O, no clock).

Hashes (docs/LEDGER_API.md):

* ``payload_hash`` = SHA-256 hex of the RFC 8785 canonical JSON of the payload (the stored text);
* ``entry_hash`` = SHA-256 hex of the RFC 8785 canonical JSON of
  ``{actor, event_type, payload_hash, prev_hash, seq, time_utc}``;
* ``prev_hash`` of entry 1 is :data:`~validation.ledger.models.GENESIS_HASH`.

The entry object has fixed keys, so its canonical bytes are written here with one bytes template
(keys already in RFC 8785 order) instead of calling the canonicaliser per entry; the actor is
canonicalised by :func:`validation.canonical.canonical_json` and every other field is restricted
(by :func:`check_event_type`, the generated time and hex hashes) to characters that JSON does not
escape, so the template gives exactly the canonical bytes (tested against ``canonical_hash``).
:func:`walk` hashes the stored canonical payload text directly, which is what makes verifying
10^6 entries take seconds.

What verification cannot see: a ledger whose *last* entries were removed, or whose whole chain
after some point was re-hashed by someone who can write the file, is self-consistent. Only a head
kept outside the database (``expected_head``) reveals it: keep the head the dossier prints.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import astuple
from typing import Any

from validation.canonical import canonical_json
from validation.exceptions import LedgerError
from validation.ledger.models import Head, VerifyReport

__all__ = [
    "EVENT_TYPE_PATTERN",
    "canonical_payload",
    "check_actor",
    "check_event_type",
    "entry_bytes",
    "entry_hash",
    "walk",
]

#: event_type: lower-case words joined by ``.``, ``_`` or ``-`` (e.g. ``protocol.registered``).
EVENT_TYPE_PATTERN = r"[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*"
_EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
_MAX_EVENT_TYPE = 64
_MAX_ACTOR = 256
_MAX_SAFE_INT = 2**53 - 1
_ENTRY_TEMPLATE = (
    '{"actor":%s,"event_type":"%s","payload_hash":"%s","prev_hash":"%s","seq":%d,"time_utc":"%s"}'
)


def check_event_type(event_type: object) -> str:
    """Return ``event_type`` if it matches :data:`EVENT_TYPE_PATTERN` (≤ 64 chars), else raise."""
    if not (
        isinstance(event_type, str)
        and len(event_type) <= _MAX_EVENT_TYPE
        and _EVENT_TYPE_RE.fullmatch(event_type)
    ):
        raise LedgerError(
            f"event_type must be lower-case words joined by '.', '_' or '-' (pattern "
            f"{EVENT_TYPE_PATTERN}, at most {_MAX_EVENT_TYPE} characters), e.g. "
            f"'protocol.registered'; got {event_type!r}"
        )
    return event_type


def check_actor(actor: object) -> str:
    """Return ``actor`` if it is a non-blank string without control characters, else raise."""
    if not isinstance(actor, str) or not actor.strip():
        raise LedgerError(
            f"actor must be a non-empty string naming who appends (user or service); got {actor!r}"
        )
    bad = [c for c in actor if unicodedata.category(c) in ("Cc", "Cs")]
    if bad or len(actor) > _MAX_ACTOR:
        raise LedgerError(
            f"actor must be at most {_MAX_ACTOR} printable characters (no control characters or "
            f"lone surrogates); got {actor!r}"
        )
    return actor


def _find_invalid(value: Any, path: str) -> tuple[str, str] | None:
    """First (key path, reason) in ``value`` that RFC 8785 canonical JSON cannot represent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "a string with a lone surrogate (not valid Unicode)"
        return None
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            return path, f"integer {value} outside ±(2**53-1) (store it as a string)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value} (NaN/Infinity are not JSON)")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}]", "a non-string key (JSON object keys are strings)"
            found = _find_invalid(item, f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_invalid(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return (
        path,
        f"a value of type {type(value).__name__} (use dict, list, str, int, float, bool, None)",
    )


def canonical_payload(payload: object) -> bytes:
    """RFC 8785 canonical JSON bytes of a payload object, or LedgerError naming the key path."""
    if not isinstance(payload, Mapping):
        raise LedgerError(
            f"payload must be a JSON object (a dict with string keys); got {type(payload).__name__}"
        )
    found = _find_invalid(payload, "payload")
    if found is not None:
        path, reason = found
        raise LedgerError(f"{path} is not canonical JSON: got {reason}; nothing was written")
    return canonical_json(dict(payload))


@functools.lru_cache(maxsize=4096)
def _actor_json(actor: str) -> str:
    return canonical_json(actor).decode("utf-8")


def entry_bytes(
    seq: int, time_utc: str, actor: str, event_type: str, payload_hash: str, prev_hash: str
) -> bytes:
    """The canonical JSON bytes of the entry's fields (payload by its hash): what
    :func:`entry_hash` hashes, and the entry's Merkle leaf (:mod:`.merkle`)."""
    message = _ENTRY_TEMPLATE % (
        _actor_json(actor),
        event_type,
        payload_hash,
        prev_hash,
        seq,
        time_utc,
    )
    return message.encode("utf-8")


def entry_hash(
    seq: int, time_utc: str, actor: str, event_type: str, payload_hash: str, prev_hash: str
) -> str:
    """SHA-256 hex of the canonical JSON of the entry's fields (payload by its hash)."""
    return hashlib.sha256(
        entry_bytes(seq, time_utc, actor, event_type, payload_hash, prev_hash)
    ).hexdigest()


#: One stored row: seq, time_utc, actor, event_type, payload (the stored canonical JSON text as
#: raw bytes), payload_hash, prev_hash, entry_hash.
Row = tuple[int, str, str, str, bytes, str, str, str]


def walk(
    rows: Iterable[Row], *, expected_head: Head | None = None, start: Head | None = None
) -> VerifyReport:
    """Re-walk a chain of stored rows (in ``seq`` order) and report the first bad entry.

    ``start`` (an already verified head) continues a chain: the rows then begin at entry
    ``start.seq + 1``, which must commit to ``start.entry_hash`` (incremental verification).

    Checks, per row: ``seq`` follows without a gap (else: entries deleted); actor and event_type
    well-formed; SHA-256 of the stored payload bytes equals ``payload_hash`` (else: payload
    edited); ``entry_hash`` recomputed at this position equals the stored one (else: entry edited
    or moved); ``prev_hash`` equals the previous entry's hash (else: the previous entry was
    rewritten with recomputed hashes — this entry still commits to the original). With
    ``expected_head``, the ledger must reach ``expected_head.seq`` (else: truncated) and that entry
    must carry ``expected_head.entry_hash`` (else: rewritten and re-hashed).

    The entry template is injective once these checks pass (actor is a JSON string literal,
    event_type has no quote, the hashes are 64 hex digits, time_utc is the last field), so a
    tampered row cannot reproduce the original's hashed bytes.
    """
    origin = Head.genesis() if start is None else start
    prev = origin.entry_hash
    stored = origin.entry_hash
    expected_seq = origin.seq + 1
    actors: dict[str, str] = {}
    event_types: set[str] = set()
    sha256 = hashlib.sha256
    template = _ENTRY_TEMPLATE
    head_seq, head_hash = (-1, "") if expected_head is None else astuple(expected_head)

    def bad(seq: int, problem: str) -> VerifyReport:
        last = Head(expected_seq - 1, prev)
        return VerifyReport(False, expected_seq - 1, last, seq, problem)

    for seq, time_utc, actor, event_type, payload, payload_hash, prev_hash, stored in rows:
        if seq != expected_seq:
            if seq > expected_seq:
                gap = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                return bad(
                    expected_seq, f"entry missing (deleted): seq {gap} absent, next is {seq}"
                )
            return bad(seq, f"out of order: seq {seq} found after seq {expected_seq - 1}")
        actor_json = actors.get(actor)
        if actor_json is None:
            try:
                actor_json = _actor_json(check_actor(actor))
            except LedgerError:
                return bad(seq, f"malformed actor {actor!r} (edited)")
            actors[actor] = actor_json
        if event_type not in event_types:
            if not (
                isinstance(event_type, str)
                and len(event_type) <= _MAX_EVENT_TYPE
                and _EVENT_TYPE_RE.fullmatch(event_type)
            ):
                return bad(seq, f"malformed event_type {event_type!r} (edited)")
            event_types.add(event_type)
        if sha256(payload).hexdigest() != payload_hash:
            return bad(seq, "payload edited: its SHA-256 does not match the stored payload_hash")
        message = template % (actor_json, event_type, payload_hash, prev_hash, seq, time_utc)
        if sha256(message.encode("utf-8")).hexdigest() != stored:
            return bad(
                seq,
                "entry edited or moved: entry_hash does not match its fields at this position "
                "(time, actor, event_type, payload_hash, prev_hash or seq changed)",
            )
        if prev_hash != prev:
            if seq == 1:
                return bad(
                    1, "entry 1 does not start the chain (prev_hash is not the genesis hash)"
                )
            if seq == origin.seq + 1:
                return bad(
                    seq - 1,
                    f"entry {seq - 1} was rewritten since it was verified: entry {seq} commits "
                    f"to prev_hash {prev_hash}, not to the verified hash {prev}",
                )
            return bad(
                seq - 1,
                f"entry rewritten with recomputed hashes: entry {seq} commits to prev_hash "
                f"{prev_hash} but entry {seq - 1} hashes to {prev}",
            )
        if seq == head_seq and stored != head_hash:
            return bad(
                seq,
                f"does not match the expected head {expected_head} (stored hash {stored}): this "
                f"entry or one before it was rewritten and the chain re-hashed",
            )
        prev = stored
        expected_seq = seq + 1
    last = Head(expected_seq - 1, prev)
    if expected_head is not None and last.seq < expected_head.seq:
        missing = last.seq + 1
        span = f"{missing}" if missing == expected_head.seq else f"{missing}..{expected_head.seq}"
        return bad(
            missing,
            f"entries {span} missing (truncated): the ledger ends at entry {last.seq} but the "
            f"expected head is {expected_head}",
        )
    if expected_head is not None and expected_head.seq == 0 and expected_head != Head.genesis():
        return bad(0, f"expected head {expected_head} is not the genesis head")
    return VerifyReport(True, last.seq, last, None, None)
