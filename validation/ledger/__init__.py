"""Append-only, hash-chained audit ledger (SQLite file or PostgreSQL): protocol registrations, amendments,
validation runs and prospective-trial events are its clients; it stores canonical events only.

>>> from validation.ledger import Ledger
>>> with Ledger.open(path) as ledger:                                  # doctest: +SKIP
...     entry = ledger.append("protocol.registered", {"protocol_id": "P1"}, actor="qe")
...     report = ledger.verify(expected_head=entry.head)

See docs/LEDGER_API.md; :mod:`.chain` documents the hashes and what verification cannot see,
:mod:`.store` the store abstraction, :mod:`.sqlite` and :mod:`.postgres` the two stores,
:mod:`.incremental` verification before use.
"""

from validation.ledger.chain import EVENT_TYPE_PATTERN, entry_hash, walk
from validation.ledger.corrections import CORRECTION_EVENT, fold_corrections
from validation.ledger.incremental import read_verified, verified_before_use, verify_before_use
from validation.ledger.models import GENESIS_HASH, Entry, Head, VerifyReport
from validation.ledger.store import (
    FORMAT,
    INDEXED_FIELDS,
    Ledger,
    LedgerView,
    is_postgres,
    show,
    verify,
)

__all__ = [
    "CORRECTION_EVENT",
    "EVENT_TYPE_PATTERN",
    "FORMAT",
    "GENESIS_HASH",
    "INDEXED_FIELDS",
    "Entry",
    "Head",
    "Ledger",
    "LedgerView",
    "VerifyReport",
    "entry_hash",
    "fold_corrections",
    "is_postgres",
    "read_verified",
    "show",
    "verified_before_use",
    "verify",
    "verify_before_use",
    "walk",
]
