"""Verify before use, incrementally: check the chain from the last verified head on.

:func:`verified_before_use` is what every reader of ledger data calls first (trial status and
export, validate run, dossier build). It re-walks only the entries appended since the head it
verified last (kept in this process, and for a SQLite file in a sidecar ``<file>.verified``
beside it), after checking that the entry at that head still holds the verified hash. A ledger
that does not verify raises :class:`~validation.exceptions.TamperError` naming the first bad
entry (found by a full walk, so the name is the same as ``her2map ledger verify`` gives).

What the incremental check cannot see: an entry *before* the last verified head whose payload
text was edited while its stored hashes were left as they were (the hashes that chain to the
verified head are unchanged). Any rewrite that re-hashes, any deletion or truncation below the
verified head, and any bad entry after it are caught. ``her2map ledger verify`` always walks the
whole chain, and the sidecar is a cache, not a trust anchor: the anchor is a head kept outside
the database (``--expected-head``, the dossier's printed head).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from validation.exceptions import LedgerError, TamperError
from validation.ledger.models import Head
from validation.ledger.store import LedgerView, is_postgres

__all__ = ["verified_before_use"]

_VERIFIED: dict[str, Head] = {}


def _sidecar(location: str | Path) -> Path | None:
    if is_postgres(location):
        return None
    path = Path(location)
    return path.with_name(path.name + ".verified")


def _load(key: str, sidecar: Path | None) -> Head | None:
    if key in _VERIFIED:
        return _VERIFIED[key]
    if sidecar is None:
        return None
    try:
        return Head.parse(sidecar.read_text("ascii"))
    except (OSError, UnicodeDecodeError, LedgerError):  # a cold cache: verify everything
        return None


def _store(key: str, sidecar: Path | None, head: Head) -> None:
    _VERIFIED[key] = head
    if sidecar is None:
        return
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):  # a read-only folder: the check stays correct, only slower
        tmp.write_text(str(head) + "\n", "ascii")
        os.replace(tmp, sidecar)


def verified_before_use(ledger: LedgerView, *, what: str = "the ledger") -> Head:
    """Verify ``ledger`` from its last verified head on; return the head now verified.

    Raises :class:`TamperError` ("... refuses to use ledger L: TAMPERED: entry N: ...") when the
    chain does not verify; ``what`` names the reader in the message (e.g. ``"trial export"``).
    """
    key = str(ledger.path)
    sidecar = _sidecar(ledger.path)
    start = _load(key, sidecar)
    report = ledger.verify_rows(after=start)
    if not report.ok and start is not None:
        full = ledger.verify_rows()
        report = full if not full.ok else report
    if not report.ok:
        _VERIFIED.pop(key, None)
        raise TamperError(
            f"{what} refuses to use ledger {ledger.path}: {report}; nothing was read from it "
            f"(see `her2map ledger verify --ledger {ledger.path}`)"
        )
    _store(key, sidecar, report.head)
    return report.head
