"""API tokens: per-user, bound to a site and a role, stored only as hashes, kept in the ledger.

A token is ``h2m_<token_id>_<secret>`` (``token_id``: 12 hex digits, ``secret``: 32 random bytes
from :mod:`secrets`, URL-safe base64). It is shown once, when issued; the ledger keeps only its
SHA-256 in an ``auth.token_issued`` entry ``{token_id, user, site, role, token_sha256}`` and
``auth.token_revoked`` ``{token_id, reason}`` ends it. :class:`TokenRegistry` folds these events
(incrementally, from the last entry it read) and answers "who holds this token".

Roles and what they may do (:data:`WRITES`, :data:`READS_ALL`): a site coordinator enrols,
records therapy and response and withdraws; a radiologist records the model's prediction; a
pathologist records biopsy and surgical HER2 -- each only for its own site's patients (the
trial's OWN-SITE rule, with the site taken from the token). Monitors and statisticians read every
site and write nothing; the administrator opens the trial, registers protocols and issues and
revokes tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass
from enum import StrEnum

from validation.exceptions import LedgerError
from validation.ledger import Entry, Ledger, LedgerView
from validation.trial.events import EventKind, check_site

__all__ = [
    "READS_ALL",
    "REVOKED_EVENT",
    "TOKEN_EVENT",
    "WRITES",
    "Identity",
    "Role",
    "TokenRegistry",
    "issue_token",
    "revoke_token",
    "token_sha256",
]

TOKEN_EVENT = "auth.token_issued"
REVOKED_EVENT = "auth.token_revoked"
_TOKEN = re.compile(r"h2m_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class Role(StrEnum):
    """Who a token holder is in the trial."""

    SITE_COORDINATOR = "site_coordinator"
    RADIOLOGIST = "radiologist"
    PATHOLOGIST = "pathologist"
    MONITOR = "monitor"
    STATISTICIAN = "statistician"
    ADMINISTRATOR = "administrator"


#: Trial events each role may record (and correct), always for its own site's patients.
WRITES: dict[Role, frozenset[EventKind]] = {
    Role.SITE_COORDINATOR: frozenset(
        {EventKind.ENROLLED, EventKind.THERAPY, EventKind.RESPONSE, EventKind.WITHDRAWN}
    ),
    Role.RADIOLOGIST: frozenset({EventKind.PREDICTION}),
    Role.PATHOLOGIST: frozenset({EventKind.BIOPSY, EventKind.SURGERY}),
    Role.MONITOR: frozenset(),
    Role.STATISTICIAN: frozenset(),
    Role.ADMINISTRATOR: frozenset({EventKind.OPENED}),
}
#: Roles that read every site's patients (the others read their own site's only).
READS_ALL: frozenset[Role] = frozenset({Role.MONITOR, Role.STATISTICIAN, Role.ADMINISTRATOR})


@dataclass(frozen=True)
class Identity:
    """The holder of a valid token: the actor and site of every entry they append."""

    token_id: str
    user: str
    site: str
    role: Role

    @property
    def actor(self) -> str:
        """The ledger ``actor``: ``user (role, site S, token T)`` -- proven by the token."""
        return f"{self.user} ({self.role.value}, site {self.site}, token {self.token_id})"


def token_sha256(token: str) -> str:
    """SHA-256 hex of the token text (what the ledger stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise LedgerError(f"role must be one of {names}; got {value!r}") from None


def issue_token(
    ledger: Ledger, *, user: str, site: str, role: str, actor: str
) -> tuple[str, Entry]:
    """Create a token for ``user`` at ``site`` with ``role``; return (token, ledger entry).

    The token itself is returned only here; the entry holds its SHA-256. Once the trial is
    opened, ``site`` must be one of its sites (or its coordinating centre's).
    """
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise LedgerError(
            f"user must be 1-64 letters, digits, '.', '_', '@' or '-' (e.g. 'path.a'); got {user!r}"
        )
    checked = check_site(site, TOKEN_EVENT)
    kind = _role(role)
    token_id = secrets.token_hex(6)
    token = f"h2m_{token_id}_{secrets.token_urlsafe(32)}"
    payload = {
        "role": kind.value,
        "site": checked,
        "token_id": token_id,
        "token_sha256": token_sha256(token),
        "user": user,
    }

    def trial_site(view: LedgerView) -> None:
        opened = view.first(EventKind.OPENED.value)
        if opened is None:
            return  # before the trial is opened (e.g. the first administrator's token)
        known = sorted({*opened.payload["sites"], opened.payload["site"]})
        if checked not in known:
            raise LedgerError(
                f"site {checked!r} is not one of the trial's sites {known}; no token was issued"
            )

    return token, ledger.append(TOKEN_EVENT, payload, actor=actor, check=trial_site)


def revoke_token(ledger: Ledger, token_id: str, *, reason: str, actor: str) -> Entry:
    """Revoke the token ``token_id`` (from then on every request with it gets 401)."""
    if not isinstance(reason, str) or not reason.strip():
        raise LedgerError(f"a revocation needs a non-empty reason; got {reason!r}")

    def known(view: LedgerView) -> None:
        where = {"token_id": str(token_id)}
        if next(view.entries(event_type=TOKEN_EVENT, where=where), None) is None:
            raise LedgerError(f"no token {token_id!r} was issued; nothing was written")
        if next(view.entries(event_type=REVOKED_EVENT, where=where), None) is not None:
            raise LedgerError(f"token {token_id} is already revoked; nothing was written")

    payload = {"reason": reason.strip(), "token_id": str(token_id)}
    return ledger.append(REVOKED_EVENT, payload, actor=actor, check=known)


class TokenRegistry:
    """Valid tokens by hash, folded from the ledger's ``auth.*`` entries (thread-safe).

    :meth:`refresh` reads only the auth entries appended since the last read (index lookups), so
    a revocation written by any server process is seen at the next request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_hash: dict[str, Identity] = {}
        self._revoked: set[str] = set()
        self._last_seq = 0

    def refresh(self, view: LedgerView) -> None:
        """Fold the auth entries after the last one seen."""
        with self._lock:
            after, until = self._last_seq, view.head().seq
            if until <= after:
                return
            issued, revoked = (
                [e for e in view.entries(event_type=kind, after_seq=after) if e.seq <= until]
                for kind in (TOKEN_EVENT, REVOKED_EVENT)
            )
            for entry in issued:
                p = entry.payload
                self._by_hash[p["token_sha256"]] = Identity(
                    p["token_id"], p["user"], p["site"], Role(p["role"])
                )
            self._revoked.update(e.payload["token_id"] for e in revoked)
            self._last_seq = until

    def identify(self, token: str) -> Identity | str | None:
        """The token's :class:`Identity`; ``"revoked"``; or None when unknown/malformed."""
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            return None
        with self._lock:
            found = self._by_hash.get(token_sha256(token))
            if found is None:
                return None
            return "revoked" if found.token_id in self._revoked else found
