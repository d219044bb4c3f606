"""Frozen value objects of the audit ledger: :class:`Entry`, :class:`Head`, :class:`VerifyReport`.

They carry no behaviour beyond parsing and rendering; hashing lives in :mod:`.chain`, storage in
:mod:`.store`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from validation.exceptions import LedgerError, TamperError

__all__ = ["GENESIS_HASH", "Entry", "Head", "VerifyReport"]

#: ``prev_hash`` of entry 1 and ``entry_hash`` of the head of an empty ledger.
GENESIS_HASH = "0" * 64

_HEAD_RE = re.compile(r"(0|[1-9][0-9]*):([0-9a-f]{64})")


@dataclass(frozen=True)
class Head:
    """The last entry of a ledger: its sequence number and entry hash.

    Keep a copy *outside* the database (printed in the dossier, stored by the client): it is the
    only way to detect that the last entries were removed, or that the whole chain was re-hashed.
    ``str(head)`` is ``"<seq>:<entry_hash>"``, which :meth:`parse` reads back.
    """

    seq: int
    entry_hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.entry_hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """Read ``"<seq>:<64 lower-case hex>"`` (as printed by ``her2map ledger verify``)."""
        match = _HEAD_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise LedgerError(
                f"expected head must be '<seq>:<sha256 hex>' as printed by 'her2map ledger "
                f"verify' (e.g. '12:{'ab' * 32}'); got {text!r}"
            )
        return cls(int(match.group(1)), match.group(2))

    @classmethod
    def genesis(cls) -> Head:
        """The head of an empty ledger (seq 0, :data:`GENESIS_HASH`)."""
        return cls(0, GENESIS_HASH)


@dataclass(frozen=True)
class Entry:
    """One acknowledged ledger entry.

    Attributes
    ----------
    seq : int
        1, 2, ... without gaps.
    time_utc : str
        ISO 8601 UTC time with microseconds and ``Z`` (``2026-11-27T09:44:40.123456Z``).
    actor, event_type : str
        Who appended it and what kind of event it is (the ledger does not interpret either).
    payload : dict
        The event, parsed back from its stored RFC 8785 canonical JSON text (so ``1.0`` reads
        back as ``1``: canonical JSON does not distinguish them).
    payload_hash : str
        SHA-256 hex of the canonical payload bytes.
    prev_hash : str
        ``entry_hash`` of entry ``seq - 1`` (:data:`GENESIS_HASH` for entry 1).
    entry_hash : str
        SHA-256 hex of the canonical JSON of
        ``{seq, time_utc, actor, event_type, payload_hash, prev_hash}``.
    """

    seq: int
    time_utc: str
    actor: str
    event_type: str
    payload: dict[str, Any]
    payload_hash: str
    prev_hash: str
    entry_hash: str

    @property
    def head(self) -> Head:
        """This entry as a :class:`Head` (what to keep outside the database after appending)."""
        return Head(self.seq, self.entry_hash)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for JSON output)."""
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of re-walking the hash chain (:meth:`validation.ledger.Ledger.verify`).

    ``ok`` is true when every entry checked out (and, if given, the expected head is present and
    unchanged). Otherwise ``first_bad_seq`` names the first entry that was edited, deleted,
    moved or truncated away, and ``problem`` says what was found. ``n_entries`` counts the rows
    read and ``head`` is the last row read as stored.
    """

    ok: bool
    n_entries: int
    head: Head
    first_bad_seq: int | None
    problem: str | None

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.n_entries} entries, head {self.head}"
        return f"TAMPERED: entry {self.first_bad_seq}: {self.problem}"

    def raise_if_tampered(self) -> VerifyReport:
        """Return ``self`` when ok, else raise :class:`~validation.exceptions.TamperError`."""
        if not self.ok:
            raise TamperError(f"ledger does not verify: {self}")
        return self
