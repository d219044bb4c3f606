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

The same machinery registers other pre-registered specs: a :class:`RegistrationKind` names the
event types, the payload keys and the commands of a kind (:data:`PROTOCOL_KIND` by default; a
protocol suite passes its own, ``suite.registered`` / ``suite.amended`` keyed by ``suite_id`` and
``suite_hash``). The spec object needs ``id``, ``version``, ``title``, ``source`` and the hash
attribute the kind names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol as Structural

from validation.exceptions import RegistrationError
from validation.ledger import Entry, Ledger, LedgerView

__all__ = [
    "AMENDED",
    "PROTOCOL_KIND",
    "REGISTERED",
    "Amendment",
    "Registrable",
    "RegistrationKind",
    "RegistrationStatus",
    "amend",
    "register",
    "require_registered",
    "status",
]

REGISTERED = "protocol.registered"
AMENDED = "protocol.amended"
STATES = ("unregistered", "registered", "changed since registration", "amended")


class Registrable(Structural):
    """A spec that can be registered: a :class:`~validation.protocol.model.Protocol`, or another kind's spec (a suite)."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def source(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RegistrationKind:
    """What is registered: its noun, ledger event types, payload keys and CLI commands.

    ``hash_key`` is both the payload key and the spec object's attribute holding its canonical
    hash; ``id_key`` the payload key of the spec's ``id``.
    """

    noun: str
    registered: str
    amended: str
    id_key: str
    hash_key: str
    register_command: str
    amend_command: str
    status_command: str


PROTOCOL_KIND = RegistrationKind(
    noun="protocol",
    registered=REGISTERED,
    amended=AMENDED,
    id_key="protocol_id",
    hash_key="protocol_hash",
    register_command="her2map protocol register",
    amend_command="her2map protocol amend",
    status_command="her2map protocol status",
)


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
    """Where a protocol (or another registered spec: its id and hash) stands in the ledger.

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


def _key(protocol: Registrable, kind: RegistrationKind) -> dict[str, str]:
    return {kind.id_key: protocol.id, "version": protocol.version}


def _hash(protocol: Registrable, kind: RegistrationKind) -> str:
    return str(getattr(protocol, kind.hash_key))


def _status_from(
    protocol: Registrable, view: LedgerView, kind: RegistrationKind
) -> RegistrationStatus:
    registrations = list(view.entries(event_type=kind.registered, where=_key(protocol, kind)))
    digest = _hash(protocol, kind)
    base = RegistrationStatus(protocol.id, protocol.version, digest, "unregistered")
    if not registrations:
        return base
    first = registrations[0]
    amendments = tuple(
        Amendment(
            e.seq,
            e.payload[kind.hash_key],
            e.payload["previous_hash"],
            e.payload["reason"],
            e.actor,
            e.time_utc,
        )
        for e in view.entries(event_type=kind.amended, where=_key(protocol, kind))
    )
    current = amendments[-1].protocol_hash if amendments else first.payload[kind.hash_key]
    if digest != current:
        state = "changed since registration"
    else:
        state = "amended" if amendments else "registered"
    return RegistrationStatus(
        protocol.id,
        protocol.version,
        digest,
        state,
        first.seq,
        first.entry_hash,
        first.payload[kind.hash_key],
        current,
        amendments,
    )


def status(
    protocol: Registrable, ledger: LedgerView, *, kind: RegistrationKind = PROTOCOL_KIND
) -> RegistrationStatus:
    """Registration status of ``protocol`` in ``ledger`` (reads only)."""
    return _status_from(protocol, ledger, kind)


def _file(protocol: Registrable, kind: RegistrationKind) -> str:
    return protocol.source or f"{kind.noun.upper()}.yaml"


def _ledger_path(ledger: LedgerView) -> str:
    return str(ledger.path)


def _short(digest: str | None) -> str:
    return (digest or "")[:16]


def register(
    protocol: Registrable, ledger: Ledger, *, actor: str, kind: RegistrationKind = PROTOCOL_KIND
) -> Entry:
    """Append ``protocol.registered`` (``kind.registered``) for ``protocol``; return the entry.

    Registering the same content again returns the existing registration entry and appends
    nothing. Different content under a registered id and version is refused
    (:class:`RegistrationError`): record it with :func:`amend`.
    """
    k, digest = kind, _hash(protocol, kind)
    payload = {
        k.id_key: protocol.id,
        "version": protocol.version,
        k.hash_key: digest,
        "title": protocol.title,
    }
    found: list[Entry] = []

    def check(view: LedgerView) -> None:
        current = _status_from(protocol, view, k)
        if current.state == "unregistered":
            return
        if current.state in ("registered", "amended"):
            found.extend(view.entries(event_type=k.registered, where=_key(protocol, k)))
            raise _AlreadyThere
        raise RegistrationError(
            f"{k.noun} {protocol.id} version {protocol.version} is already registered (ledger seq "
            f"{current.registration_seq}, content hash {_short(current.current_hash)}...); this file's hash "
            f"{_short(digest)}... differs. Record the change with `{k.amend_command} "
            f'{_file(protocol, k)} --ledger {_ledger_path(ledger)} --actor NAME --reason "..."`, or give the '
            f"{k.noun} a new version and register that."
        )

    try:
        return ledger.append(k.registered, payload, actor=actor, check=check)
    except _AlreadyThere:
        return found[0]


class _AlreadyThere(Exception):
    """Internal: the same content is registered already (nothing to write)."""


def amend(
    protocol: Registrable,
    ledger: Ledger,
    *,
    actor: str,
    reason: str,
    kind: RegistrationKind = PROTOCOL_KIND,
) -> Entry:
    """Append ``protocol.amended`` (``kind.amended``) recording the new content and ``reason``.

    Requires a registration of the same id and version, a non-empty reason and content that
    differs from the registered content now in force.
    """
    k, digest = kind, _hash(protocol, kind)
    if not isinstance(reason, str) or not reason.strip():
        raise RegistrationError(
            f"amending {k.noun} {protocol.id} version {protocol.version} needs a reason; got {reason!r}. "
            f'Say why the {k.noun} changed, e.g. --reason "site E added after registration"'
        )

    def check(view: LedgerView) -> RegistrationStatus:
        current = _status_from(protocol, view, k)
        if current.state == "unregistered":
            raise RegistrationError(
                f"{k.noun} {protocol.id} version {protocol.version} is not registered, so there is nothing "
                f"to amend; register it with `{k.register_command} {_file(protocol, k)} --ledger "
                f"{_ledger_path(ledger)} --actor NAME`."
            )
        if current.state != "changed since registration":
            raise RegistrationError(
                f"{k.noun} {protocol.id} version {protocol.version}: this content (hash "
                f"{_short(digest)}...) is already the registered content in force; "
                "nothing to amend."
            )
        return current

    # The payload is fixed before the transaction; the check re-reads inside it and refuses if
    # someone else amended in between (previous_hash would no longer be the content in force).
    previous_hash = check(ledger).current_hash
    payload = {
        k.id_key: protocol.id,
        "version": protocol.version,
        k.hash_key: digest,
        "previous_hash": previous_hash,
        "reason": reason.strip(),
    }

    def confirm(view: LedgerView) -> None:
        if check(view).current_hash != previous_hash:
            raise RegistrationError(
                f"{k.noun} {protocol.id} version {protocol.version} was amended by someone else meanwhile; "
                f"check `{k.status_command}` and amend again."
            )

    return ledger.append(k.amended, payload, actor=actor, check=confirm)


def require_registered(
    protocol: Registrable, ledger: LedgerView, *, kind: RegistrationKind = PROTOCOL_KIND
) -> RegistrationStatus:
    """The runner's gate, called BEFORE any label is read.

    Returns the status when the protocol is registered or amended (the runner records each
    amendment as a deviation); raises :class:`RegistrationError` saying what to do otherwise.
    """
    k, digest = kind, _hash(protocol, kind)
    current = status(protocol, ledger, kind=k)
    if current.runnable:
        return current
    where = f"--ledger {_ledger_path(ledger)}"
    if current.state == "unregistered":
        raise RegistrationError(
            f"{k.noun} {protocol.id} version {protocol.version} (hash {_short(digest)}...) is not "
            f"registered in ledger {_ledger_path(ledger)}; labels stay sealed until it is. Register it with "
            f"`{k.register_command} {_file(protocol, k)} {where} --actor NAME` before running."
        )
    raise RegistrationError(
        f"{k.noun} {protocol.id} version {protocol.version} changed since registration: this file's hash "
        f"{_short(digest)}... differs from the registered {_short(current.current_hash)}... "
        f"(ledger seq {current.registration_seq}). Labels stay sealed. Undo the edit, or record an amendment "
        f'with `{k.amend_command} {_file(protocol, k)} {where} --actor NAME --reason "..."`.'
    )
