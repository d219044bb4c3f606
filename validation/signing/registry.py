"""Signers' public keys, registered and revoked in the ledger by the administrator.

Events (the ledger stores them; it does not interpret them):

* ``signing.key_registered`` ``{key, key_id, user, printed_name}`` — ``key`` is the public
  verifier key text (``<user>+<key id>+<base64>``); the private key never reaches the ledger;
* ``signing.key_revoked`` ``{key, key_id, user, reason}``.

A key is *valid at* a ledger position when its registration comes before that position and no
revocation of it does (:func:`key_status`). On one machine the administrator's identity is the
``actor`` as given (DESIGN.md: recorded as given and marked as such); on the trial service it comes
from the token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.exceptions import SignatureError
from validation.ledger import Entry, Ledger, LedgerView
from validation.ledger.note import VerifierKey
from validation.signing.logproof import KEY_REGISTERED, KEY_REVOKED

__all__ = ["KeyStatus", "key_status", "register_key", "revoke_key"]


@dataclass(frozen=True)
class KeyStatus:
    """A key's registration (seq, printed name) and revocation seq (None if not revoked)."""

    key: VerifierKey
    registered_seq: int
    printed_name: str
    revoked_seq: int | None

    def valid_at(self, seq: int) -> bool:
        """Registered before ``seq`` and not revoked before it."""
        return self.registered_seq < seq and (self.revoked_seq is None or self.revoked_seq > seq)


def key_status(key_id: str, events: Iterable[tuple[int, str, dict[str, Any]]]) -> KeyStatus | None:
    """The status of ``key_id`` from ``(seq, event_type, payload)`` key events in seq order.

    Only the first registration counts (a key is registered once); the first revocation after it
    ends its validity.
    """
    status: KeyStatus | None = None
    for seq, event_type, payload in events:
        if payload.get("key_id") != key_id:
            continue
        if event_type == KEY_REGISTERED and status is None:
            key = VerifierKey.parse(str(payload.get("key")), source=f"ledger entry {seq} key")
            if key.key_id.hex() != key_id:
                raise SignatureError(f"ledger entry {seq}: key_id does not match its key")
            status = KeyStatus(key, seq, str(payload.get("printed_name")), None)
        elif event_type == KEY_REVOKED and status is not None and status.revoked_seq is None:
            status = KeyStatus(status.key, status.registered_seq, status.printed_name, seq)
    return status


def _ledger_events(view: LedgerView, key_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    found: list[Entry] = []
    for event in (KEY_REGISTERED, KEY_REVOKED):
        found += view.entries(event_type=event, where={"key_id": key_id})
    return [(e.seq, e.event_type, e.payload) for e in sorted(found, key=lambda e: e.seq)]


def ledger_key_status(view: LedgerView, key_id: str) -> KeyStatus | None:
    """:func:`key_status` of ``key_id`` from every key event in the ledger."""
    return key_status(key_id, _ledger_events(view, key_id))


def register_key(ledger: str | Path, key: VerifierKey, *, printed_name: str, actor: str) -> Entry:
    """Append ``signing.key_registered``; refuses a key already registered."""
    if not isinstance(printed_name, str) or not printed_name.strip() or "\n" in printed_name:
        raise SignatureError(f"printed name must be one non-empty line; got {printed_name!r}")
    key_id = key.key_id.hex()

    def check(view: LedgerView) -> None:
        if ledger_key_status(view, key_id) is not None:
            raise SignatureError(
                f"key {key.name}+{key_id} is already registered; keys are "
                "registered once (revoke it and register a new key)"
            )

    with Ledger.open(ledger, create=False) as book:
        payload = {
            "key": str(key),
            "key_id": key_id,
            "printed_name": printed_name.strip(),
            "user": key.name,
        }
        return book.append(KEY_REGISTERED, payload, actor=actor, check=check)


def revoke_key(ledger: str | Path, key_id: str, *, reason: str, actor: str) -> Entry:
    """Append ``signing.key_revoked`` for a registered, not yet revoked key."""
    if not isinstance(reason, str) or not reason.strip():
        raise SignatureError("a revocation needs a reason (e.g. 'key file lost')")

    def status_in(view: LedgerView) -> KeyStatus:
        status = ledger_key_status(view, key_id)
        if status is None:
            raise SignatureError(f"key id {key_id!r} is not registered in ledger {ledger}")
        if status.revoked_seq is not None:
            raise SignatureError(
                f"key id {key_id} was already revoked (entry {status.revoked_seq})"
            )
        return status

    with Ledger.open(ledger, create=False) as book:
        key = status_in(book).key
        payload = {"key": str(key), "key_id": key_id, "reason": reason.strip(), "user": key.name}

        def check(view: LedgerView) -> None:
            status_in(view)

        return book.append(KEY_REVOKED, payload, actor=actor, check=check)
