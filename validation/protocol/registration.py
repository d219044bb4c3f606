"""Pre-registration of protocols in the audit ledger (REQ-PREG-001).

A protocol (id, version) has one *registration* lineage in the ledger:

* ``protocol.registered`` {protocol_id, version, protocol_hash, title} -- the first entry;
* ``protocol.amended`` {protocol_id, version, protocol_hash, previous_hash, reason} -- each later
  change, chained by ``previous_hash`` to the content it replaces.

The *registered content* is the latest hash of the lineage. :func:`status` compares a protocol's
canonical hash with it: ``registered`` (equal, no amendment), ``amended`` (equal to an amendment),
``changed since registration`` (differs: silently edited, or an older content), ``unregistered``.
A new version of a protocol is a new registration; an amendment keeps id and version.
:func:`require_registered` is what the runner calls before it reads any label.

Rules that depend on earlier entries run inside the ledger's write transaction (``check=``), so two
writers cannot both register different content. Corrections (``ledger.correct``) of these entries
are not folded in: a registration is changed only by an amendment.
"""

from __future__ import annotations

from dataclasses import dataclass

from validation.exceptions import RegistrationError
from validation.ledger import Entry, Ledger, LedgerView
from validation.protocol.model import Protocol

__all__ = [
    "AMENDED",
    "REGISTERED",
    "Amendment",
    "RegistrationStatus",
    "amend",
    "register",
    "require_registered",
    "status",
]

REGISTERED = "protocol.registered"
AMENDED = "protocol.amended"
STATES = ("unregistered", "registered", "changed since registration", "amended")


@dataclass(frozen=True, slots=True)
class Amendment:
    """One recorded amendment: ledger seq, new and previous content hash, reason, who and when."""

    seq: int
    protocol_hash: str
    previous_hash: str
    reason: str
    actor: str
    time_utc: str


@dataclass(frozen=True, slots=True)
class RegistrationStatus:
    """Where a protocol stands in the ledger.

    ``state`` is one of ``unregistered``, ``registered``, ``changed since registration``,
    ``amended``. ``registered_hash`` is the hash first registered; ``current_hash`` the registered
    content now in force (the last amendment's, or the registration's).
    """

    protocol_id: str
    version: str
    protocol_hash: str
    state: str
    registration_seq: int | None = None
    registration_entry_hash: str | None = None
    registered_hash: str | None = None
    current_hash: str | None = None
    amendments: tuple[Amendment, ...] = ()

    @property
    def runnable(self) -> bool:
        """True when the runner may proceed (registered, or amended -> recorded as deviation)."""
        return self.state in ("registered", "amended")


def _key(protocol: Protocol) -> dict[str, str]:
    return {"protocol_id": protocol.id, "version": protocol.version}


def _status_from(protocol: Protocol, view: LedgerView) -> RegistrationStatus:
    registrations = list(view.entries(event_type=REGISTERED, where=_key(protocol)))
    base = RegistrationStatus(protocol.id, protocol.version, protocol.protocol_hash, "unregistered")
    if not registrations:
        return base
    first = registrations[0]
    amendments = tuple(
        Amendment(
            e.seq,
            e.payload["protocol_hash"],
            e.payload["previous_hash"],
            e.payload["reason"],
            e.actor,
            e.time_utc,
        )
        for e in view.entries(event_type=AMENDED, where=_key(protocol))
    )
    current = amendments[-1].protocol_hash if amendments else first.payload["protocol_hash"]
    if protocol.protocol_hash != current:
        state = "changed since registration"
    else:
        state = "amended" if amendments else "registered"
    return RegistrationStatus(
        protocol.id,
        protocol.version,
        protocol.protocol_hash,
        state,
        first.seq,
        first.entry_hash,
        first.payload["protocol_hash"],
        current,
        amendments,
    )


def status(protocol: Protocol, ledger: LedgerView) -> RegistrationStatus:
    """Registration status of ``protocol`` in ``ledger`` (reads only)."""
    return _status_from(protocol, ledger)


def _file(protocol: Protocol) -> str:
    return protocol.source or "PROTOCOL.yaml"


def _ledger_path(ledger: LedgerView) -> str:
    return str(ledger.path)


def _short(digest: str | None) -> str:
    return (digest or "")[:16]


def register(protocol: Protocol, ledger: Ledger, *, actor: str) -> Entry:
    """Append ``protocol.registered`` for ``protocol``; return the ledger entry.

    Registering the same content again returns the existing registration entry and appends
    nothing. Different content under a registered id and version is refused
    (:class:`RegistrationError`): record it with :func:`amend`.
    """
    payload = {
        "protocol_id": protocol.id,
        "version": protocol.version,
        "protocol_hash": protocol.protocol_hash,
        "title": protocol.title,
    }
    found: list[Entry] = []

    def check(view: LedgerView) -> None:
        current = _status_from(protocol, view)
        if current.state == "unregistered":
            return
        if current.state in ("registered", "amended"):
            found.extend(view.entries(event_type=REGISTERED, where=_key(protocol)))
            raise _AlreadyThere
        raise RegistrationError(
            f"protocol {protocol.id} version {protocol.version} is already registered (ledger seq "
            f"{current.registration_seq}, content hash {_short(current.current_hash)}...); this file's hash "
            f"{_short(protocol.protocol_hash)}... differs. Record the change with `her2map protocol amend "
            f'{_file(protocol)} --ledger {_ledger_path(ledger)} --actor NAME --reason "..."`, or give the '
            "protocol a new version and register that."
        )

    try:
        return ledger.append(REGISTERED, payload, actor=actor, check=check)
    except _AlreadyThere:
        return found[0]


class _AlreadyThere(Exception):
    """Internal: the same content is registered already (nothing to write)."""


def amend(protocol: Protocol, ledger: Ledger, *, actor: str, reason: str) -> Entry:
    """Append ``protocol.amended`` recording ``protocol``'s new content and ``reason``.

    Requires a registration of the same id and version, a non-empty reason and content that
    differs from the registered content now in force.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise RegistrationError(
            f"amending protocol {protocol.id} version {protocol.version} needs a reason; got {reason!r}. "
            'Say why the protocol changed, e.g. --reason "site E added after registration"'
        )

    def check(view: LedgerView) -> RegistrationStatus:
        current = _status_from(protocol, view)
        if current.state == "unregistered":
            raise RegistrationError(
                f"protocol {protocol.id} version {protocol.version} is not registered, so there is nothing "
                f"to amend; register it with `her2map protocol register {_file(protocol)} --ledger "
                f"{_ledger_path(ledger)} --actor NAME`."
            )
        if current.state != "changed since registration":
            raise RegistrationError(
                f"protocol {protocol.id} version {protocol.version}: this content (hash "
                f"{_short(protocol.protocol_hash)}...) is already the registered content in force; "
                "nothing to amend."
            )
        return current

    # The payload is fixed before the transaction; the check re-reads inside it and refuses if
    # someone else amended in between (previous_hash would no longer be the content in force).
    previous_hash = check(ledger).current_hash
    payload = {
        "protocol_id": protocol.id,
        "version": protocol.version,
        "protocol_hash": protocol.protocol_hash,
        "previous_hash": previous_hash,
        "reason": reason.strip(),
    }

    def confirm(view: LedgerView) -> None:
        if check(view).current_hash != previous_hash:
            raise RegistrationError(
                f"protocol {protocol.id} version {protocol.version} was amended by someone else meanwhile; "
                "check `her2map protocol status` and amend again."
            )

    return ledger.append(AMENDED, payload, actor=actor, check=confirm)


def require_registered(protocol: Protocol, ledger: LedgerView) -> RegistrationStatus:
    """The runner's gate, called BEFORE any label is read.

    Returns the status when the protocol is registered or amended (the runner records each
    amendment as a deviation); raises :class:`RegistrationError` saying what to do otherwise.
    """
    current = status(protocol, ledger)
    if current.runnable:
        return current
    where = f"--ledger {_ledger_path(ledger)}"
    if current.state == "unregistered":
        raise RegistrationError(
            f"protocol {protocol.id} version {protocol.version} (hash {_short(protocol.protocol_hash)}...) is not "
            f"registered in ledger {_ledger_path(ledger)}; labels stay sealed until it is. Register it with "
            f"`her2map protocol register {_file(protocol)} {where} --actor NAME` before running."
        )
    raise RegistrationError(
        f"protocol {protocol.id} version {protocol.version} changed since registration: this file's hash "
        f"{_short(protocol.protocol_hash)}... differs from the registered {_short(current.current_hash)}... "
        f"(ledger seq {current.registration_seq}). Labels stay sealed. Undo the edit, or record an amendment "
        f'with `her2map protocol amend {_file(protocol)} {where} --actor NAME --reason "..."`.'
    )
