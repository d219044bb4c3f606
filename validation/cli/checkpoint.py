"""``her2map keys generate`` and ``her2map ledger checkpoint | check | prove | check-proof``.

* ``keys generate --name NAME --out FILE``: a new Ed25519 key; FILE (mode 0600) holds the private
  key, FILE.pub the public key (also printed). Private keys never go into the ledger.
* ``ledger checkpoint --ledger L --key FILE``: verify the chain, check that the ledger extends the
  checkpoint this client holds, sign a new checkpoint (C2SP signed note), remember and print it.
* ``ledger check --ledger L --public-keys FILE``: exit 1 if the ledger no longer extends the held
  checkpoint (a rewritten or truncated history).
* ``ledger prove --ledger L --inclusion SEQ`` / ``--consistency OLD NEW``: print the proof (JSON).
* ``ledger check-proof --checkpoint NOTE --public-keys FILE --inclusion-proof P`` or
  ``--old-checkpoint NOTE --consistency-proof P``: check a proof offline. ``TAMPERED`` (exit 1):
  a checkpoint whose signature does not verify with the trusted keys, a proof payload that does
  not hash to its entry, a proof that does not lead to the signed root, a checkpoint older than
  the old one (a rollback) or not extending it; exit 2: a file that cannot be read or is not a
  signed checkpoint or a proof at all, or a proof for other sizes than the checkpoints'.

With ``$HER2MAP_LOG_KEYS`` set (a file of the log's public keys), every ``her2map`` command
given a ``--ledger`` first checks that it extends the checkpoint this client holds
(:func:`check_before_use`). The work is done by :mod:`validation.ledger.checkpoint` and
:mod:`validation.ledger.witness`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from validation.atomic import atomic_write
from validation.exceptions import HarnessError, SignatureError, TamperError
from validation.ledger.checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    ledger_tree,
    prove_consistency,
    prove_inclusion,
    read_checkpoint,
    sign_checkpoint,
)
from validation.ledger.note import (
    VerifierKey,
    generate_key,
    read_signer_key,
    read_verifier_keys,
    split_note,
)
from validation.ledger.witness import accept_checkpoint, check_ledger

__all__ = ["LOG_KEYS_ENV", "check_before_use", "register", "register_ledger_actions"]


def register(subparsers: Any) -> None:
    """Add the ``keys`` command group."""
    parser = subparsers.add_parser("keys", help="Ed25519 keys for checkpoints and e-signatures")
    actions = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    gen = actions.add_parser("generate", help="write a new private key (0600) and its .pub")
    gen.add_argument("--name", required=True, help="key name (ledger origin or user id)")
    gen.add_argument("--out", required=True, metavar="FILE", help="private key file to create")
    gen.set_defaults(func=_generate)


def register_ledger_actions(actions: Any) -> None:
    """Add checkpoint, check, prove and check-proof to the ``ledger`` command group."""
    point = actions.add_parser("checkpoint", help="sign a checkpoint of the ledger's Merkle tree")
    point.add_argument("--ledger", required=True, help="path of the ledger")
    point.add_argument("--key", required=True, metavar="FILE", help="the ledger's private key")
    point.add_argument("--origin", help="log name in the checkpoint (default: the key's name)")
    point.add_argument("--out", metavar="FILE", help="also write the signed checkpoint here")
    point.set_defaults(func=_checkpoint)

    check = actions.add_parser("check", help="does the ledger extend the held checkpoint?")
    check.add_argument("--ledger", required=True, help="path of the ledger")
    check.add_argument("--public-keys", required=True, metavar="FILE", help="trusted log keys")
    check.add_argument("--origin", help="log name (default: the first key's name)")
    check.set_defaults(func=_check)

    prove = actions.add_parser("prove", help="print an inclusion or consistency proof (JSON)")
    prove.add_argument("--ledger", required=True, help="path of the ledger")
    which = prove.add_mutually_exclusive_group(required=True)
    which.add_argument("--inclusion", type=int, metavar="SEQ", help="entry to prove")
    which.add_argument("--consistency", type=int, nargs=2, metavar=("OLD", "NEW"))
    prove.add_argument("--size", type=int, help="tree size for --inclusion (default: all)")
    prove.set_defaults(func=_prove)

    offline = actions.add_parser("check-proof", help="check a proof against signed checkpoints")
    offline.add_argument("--checkpoint", required=True, metavar="NOTE", help="signed checkpoint")
    offline.add_argument("--public-keys", required=True, metavar="FILE", help="trusted log keys")
    kind = offline.add_mutually_exclusive_group(required=True)
    kind.add_argument("--inclusion-proof", metavar="FILE")
    kind.add_argument("--consistency-proof", metavar="FILE")
    offline.add_argument("--old-checkpoint", metavar="NOTE", help="for --consistency-proof")
    offline.set_defaults(func=_check_proof)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read ({exc.strerror})") from None


def _generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists():
        raise SignatureError(f"{out}: exists; a key file is never overwritten")
    key = generate_key(args.name)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(f"{key}\n")
    atomic_write(Path(f"{out}.pub"), f"{key.verifier}\n".encode("ascii"))
    print(key.verifier)
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    key = read_signer_key(args.key)
    tree = ledger_tree(args.ledger)
    note = sign_checkpoint(tree, key, origin=args.origin)
    accept_checkpoint(note, [key.verifier], tree=tree, source=f"checkpoint of {args.ledger}")
    if args.out:
        atomic_write(Path(args.out), note)
    print(note.decode("utf-8"), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    keys = read_verifier_keys(args.public_keys)
    origin = args.origin or keys[0].name
    try:
        held = check_ledger(ledger_tree(args.ledger), origin, keys)
    except TamperError as exc:
        print(f"TAMPERED: {exc}")
        return 1
    if held is None:
        print(f"NO CHECKPOINT HELD for {origin!r}: run 'her2map ledger checkpoint' first")
        return 1
    print(f"OK: the ledger extends the held checkpoint of {origin!r} (size {held.size})")
    return 0


def _prove(args: argparse.Namespace) -> int:
    if args.inclusion is not None:
        proof: InclusionProof | ConsistencyProof = prove_inclusion(
            args.ledger, args.inclusion, size=args.size
        )
    else:
        if args.size is not None:
            raise SignatureError("--size applies to --inclusion only; give OLD NEW instead")
        proof = prove_consistency(args.ledger, *args.consistency)
    print(proof.to_json().decode("utf-8"))
    return 0


def _signed_checkpoint(path: str) -> tuple[bytes, str]:
    """The signed note at ``path``, read and parsed (SignatureError, exit 2: it cannot be read or
    is not a signed checkpoint at all); its signature is checked by :func:`_verified`."""
    note = _read(path)
    text, _ = split_note(note, source=path)
    Checkpoint.from_text(text, source=path)
    return note, path


def _verified(note: tuple[bytes, str], keys: list[VerifierKey]) -> Checkpoint:
    """The checkpoint, or TamperError (exit 1) when no trusted key's signature verifies over it
    (its text was changed, or another key signed it)."""
    try:
        return read_checkpoint(note[0], keys, source=note[1])
    except SignatureError as exc:
        raise TamperError(str(exc)) from None


def _check_proof(args: argparse.Namespace) -> int:
    if args.inclusion_proof and args.old_checkpoint:
        raise SignatureError("--old-checkpoint applies to --consistency-proof only")
    if args.consistency_proof and not args.old_checkpoint:
        raise SignatureError("--consistency-proof needs --old-checkpoint")
    # bad input (exit 2) first: every file read and parsed before anything is checked
    keys = read_verifier_keys(args.public_keys)
    new_note = _signed_checkpoint(args.checkpoint)
    if args.inclusion_proof:
        inclusion = InclusionProof.from_json(
            _read(args.inclusion_proof), source=args.inclusion_proof
        )
    else:
        old_note = _signed_checkpoint(args.old_checkpoint)
        consistency = ConsistencyProof.from_json(
            _read(args.consistency_proof), source=args.consistency_proof
        )
    try:
        new = _verified(new_note, keys)
        if args.inclusion_proof:
            inclusion.check(new)
            print(f"OK: entry {inclusion.seq} is in {new.origin!r} at size {new.size}")
            return 0
        old = _verified(old_note, keys)
        consistency.check(old, new)
    except TamperError as exc:
        print(f"TAMPERED: {exc}")
        return 1
    print(f"OK: {new.origin!r} at size {new.size} extends size {old.size}")
    return 0


#: Environment variable naming the trusted log public keys of this client (opt-in check).
LOG_KEYS_ENV = "HER2MAP_LOG_KEYS"


def check_before_use(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """With ``$HER2MAP_LOG_KEYS`` set, refuse (exit 1) any command whose ``--ledger`` no longer
    extends the checkpoint this client holds (:func:`validation.ledger.witness.check_ledger`).

    Returns 0 to go on. Checking needs the whole tree (chain verify + one hash per entry), so it is
    opt-in per client: each site's CLI and the harness's machine set it once.
    """
    keys_file = os.environ.get(LOG_KEYS_ENV)
    if not keys_file:
        return 0
    args, _ = parser.parse_known_args(argv)
    ledger = getattr(args, "ledger", None)
    if not ledger or not Path(ledger).is_file():
        return 0
    try:
        keys = read_verifier_keys(keys_file)
        check_ledger(ledger_tree(ledger), keys[0].name, keys)
    except TamperError as exc:
        print(f"her2map: refused: {exc}", file=sys.stderr)
        return 1
    except HarnessError as exc:
        print(f"her2map: error: {LOG_KEYS_ENV}: {exc}", file=sys.stderr)
        return 2
    return 0
