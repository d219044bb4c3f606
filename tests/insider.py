"""What an insider with write access to the ledger file can do: rewrite history and re-chain.

Used by the tests of signed checkpoints and e-signatures: after :func:`rewrite_and_rechain` the
ledger's own ``verify`` passes again, so only a checkpoint held elsewhere can catch it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json, sha256_hex
from validation.ledger import entry_hash


def rewrite_and_rechain(
    path: Path, seq: int, edit: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Replace entry ``seq``'s payload by ``edit(payload)`` and recompute every later hash."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
    rows = conn.execute(
        "SELECT seq, time_utc, actor, event_type, payload, prev_hash FROM entries ORDER BY seq"
    ).fetchall()
    prev = None
    for row_seq, time_utc, actor, event_type, payload, prev_hash in rows:
        if row_seq < seq:
            continue
        body = payload
        if row_seq == seq:
            body = canonical_json(edit(json.loads(payload))).decode("utf-8")
        payload_hash = sha256_hex(body.encode("utf-8"))
        prev = prev_hash if prev is None else prev
        digest = entry_hash(row_seq, time_utc, actor, event_type, payload_hash, prev)
        conn.execute(
            "UPDATE entries SET payload = ?, payload_hash = ?, prev_hash = ?, entry_hash = ? "
            "WHERE seq = ?",
            (body, payload_hash, prev, digest, row_seq),
        )
        prev = digest
    conn.commit()
    conn.close()
