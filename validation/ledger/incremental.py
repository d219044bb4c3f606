"""Verify before use: the chain is checked before its data are used, naming the first bad entry.

Two readers, one walk (:func:`validation.ledger.chain.walk`):

* :func:`read_verified` -- for readers that use every entry (trial status and export): the rows
  are read once, walked, and the entries returned are parsed from exactly the bytes that were
  hashed, so an edited payload anywhere is refused. Its cost is the read itself.
* :func:`verified_before_use` -- for readers that use a few entries (validate run, dossier
  build: the registration, amendments, head). It re-walks only the entries appended since the
  head it verified last (kept in this process, and for a SQLite file in a sidecar
  ``<file>.verified`` beside it), after checking that the entry at that head still holds the
  verified hash. A ledger that does not verify raises :class:`~validation.exceptions.TamperError`
  naming the first bad entry (found by a full walk, so the name is the one ``her2map ledger
  verify`` gives).

What the incremental check cannot see: an entry *before* the last verified head edited without
re-hashing the chain up to that head (its own stored hashes may be changed or not; the hash at
the verified head is unchanged). A rewrite re-hashed up to or past the verified head, a deletion
or truncation below it, and any bad entry after it are caught. ``her2map ledger verify`` always
walks the whole chain, and the sidecar is a cache, not a trust anchor: the anchor is a head kept
outside the database (``--expected-head``, the dossier's printed head).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from validation.exceptions import LedgerError, TamperError
from validation.ledger.chain import Row, walk
from validation.ledger.models import Entry, Head, VerifyReport
from validation.ledger.store import LedgerView, is_postgres

__all__ = ["read_verified", "verified_before_use", "verify_before_use"]

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


def _refuse(what: str, ledger: LedgerView, report: VerifyReport) -> TamperError:
    return TamperError(
        f"{what} refuses to use ledger {ledger.path}: {report}; nothing was read from it "
        f"(see `her2map ledger verify --ledger {ledger.path}`)"
    )


def read_verified(ledger: LedgerView, *, what: str) -> tuple[Head, list[Entry]]:
    """Every entry of ``ledger``, after walking the chain over the very rows read.

    Raises :class:`TamperError` naming the first bad entry; otherwise returns the verified head
    and the entries (parsed from the hashed bytes), and remembers the head for
    :func:`verified_before_use`.
    """
    rows: list[Row] = []

    def kept() -> Iterator[Row]:
        for row in ledger._rows():
            rows.append(row)
            yield row

    report = walk(kept())
    if not report.ok:
        _VERIFIED.pop(str(ledger.path), None)
        raise _refuse(what, ledger, report)
    _store(str(ledger.path), _sidecar(ledger.path), report.head)
    entries = [
        Entry(seq, time_utc, actor, kind, json.loads(payload), payload_hash, prev, digest)
        for seq, time_utc, actor, kind, payload, payload_hash, prev, digest in rows
    ]
    return report.head, entries


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
        report = ledger.verify_rows()  # names the first bad entry; ok when only the cache was stale
    if not report.ok:
        _VERIFIED.pop(key, None)
        raise _refuse(what, ledger, report)
    _store(key, sidecar, report.head)
    return report.head


def verify_before_use(location: str | Path, *, what: str) -> Head:
    """Open the ledger at ``location`` read-only and :func:`verified_before_use` it."""
    from validation.ledger.store import Ledger

    with Ledger.open(location, create=False, readonly=True) as ledger:
        return verified_before_use(ledger, what=what)
