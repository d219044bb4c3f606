"""The client's memory of the last checkpoint it saw, checked on each use.

Each client (the harness building a dossier, a site's CLI, a reviewer) keeps the last signed
checkpoint it accepted for a log, in its own state folder — never beside the ledger, where the
ledger's custodian could replace it:

    $HER2MAP_STATE_DIR/checkpoints/<origin, percent-encoded>.note
    (HER2MAP_STATE_DIR defaults to $XDG_STATE_HOME/her2map, else ~/.local/state/her2map)

On each use the client checks that the log now extends the held checkpoint — by recomputing the
root of the first ``held.size`` entries from the ledger (:func:`check_ledger`), or with a
consistency proof from whoever serves the log (:func:`accept_checkpoint`) — and refuses with
TamperError otherwise. A rewritten history (an entry edited and the chain re-hashed) therefore
fails for everyone who held a checkpoint from before the rewrite. Only then is the newer
checkpoint remembered (atomically).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from validation.atomic import atomic_write
from validation.exceptions import TamperError
from validation.ledger.checkpoint import Checkpoint, ConsistencyProof, read_checkpoint
from validation.ledger.merkle import MerkleTree
from validation.ledger.note import VerifierKey

__all__ = ["STATE_ENV", "accept_checkpoint", "check_ledger", "held_checkpoint", "state_dir"]

#: Environment variable naming the client's state folder.
STATE_ENV = "HER2MAP_STATE_DIR"


def state_dir() -> Path:
    """The client's state folder (see the module docstring)."""
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "her2map"


def _held_path(origin: str, directory: Path | None) -> Path:
    root = state_dir() if directory is None else Path(directory)
    return root / "checkpoints" / f"{quote(origin, safe='')}.note"


def held_checkpoint(
    origin: str, keys: list[VerifierKey], *, directory: str | Path | None = None
) -> Checkpoint | None:
    """The held checkpoint of ``origin`` (signature verified), or None if none is held."""
    path = _held_path(origin, None if directory is None else Path(directory))
    if not path.is_file():
        return None
    return read_checkpoint(path.read_bytes(), keys, origin=origin, source=str(path))


def _remember(note: bytes, checkpoint: Checkpoint, directory: str | Path | None) -> None:
    path = _held_path(checkpoint.origin, None if directory is None else Path(directory))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, note)


def check_ledger(
    tree: MerkleTree,
    origin: str,
    keys: list[VerifierKey],
    *,
    directory: str | Path | None = None,
) -> Checkpoint | None:
    """Raise TamperError unless the ledger's tree extends the held checkpoint of ``origin``.

    Returns the held checkpoint (None when this client holds none yet).
    """
    held = held_checkpoint(origin, keys, directory=directory)
    if held is None:
        return None
    if tree.size < held.size:
        raise TamperError(
            f"log {origin!r} has {tree.size} entries but this client holds a signed checkpoint "
            f"of size {held.size}: entries were removed"
        )
    if tree.root(held.size) != held.root:
        raise TamperError(
            f"log {origin!r}: the first {held.size} entries no longer hash to the root of the "
            f"signed checkpoint this client holds: the history was rewritten (an entry at or "
            f"before {held.size} was changed and the chain re-hashed)"
        )
    return held


def accept_checkpoint(
    note: bytes,
    keys: list[VerifierKey],
    *,
    tree: MerkleTree | None = None,
    proof: ConsistencyProof | None = None,
    directory: str | Path | None = None,
    source: str = "checkpoint",
) -> Checkpoint:
    """Verify a new signed checkpoint against the held one, then remember it.

    Consistency is shown either by the ledger's own ``tree`` or by a ``proof`` from the held size
    to the new size; with neither, a held checkpoint of a different size is refused.
    """
    new = read_checkpoint(note, keys, source=source)
    if tree is not None and (tree.size < new.size or tree.root(new.size) != new.root):
        raise TamperError(f"{source}: does not match the ledger's tree at size {new.size}")
    held = held_checkpoint(new.origin, keys, directory=directory)
    if held is not None:
        if new.size < held.size:
            raise TamperError(
                f"{source}: size {new.size} is older than the held checkpoint's {held.size} "
                "(a rollback)"
            )
        if tree is not None:
            check_ledger(tree, new.origin, keys, directory=directory)
        elif proof is not None:
            proof.check(held, new)
        elif held != new:
            raise TamperError(
                f"{source}: size {new.size} differs from the held checkpoint's {held.size} and "
                "no consistency proof was given"
            )
    _remember(note, new, directory)
    return new
