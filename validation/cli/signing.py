"""``her2map signing register | revoke`` and ``her2map dossier sign``; the attestation part of
``her2map dossier verify``.

* ``signing register --ledger L --public-key FILE.pub --printed-name "Alice Smith" --actor ADMIN``
  and ``signing revoke --ledger L --key-id HEX --reason TEXT --actor ADMIN``: the administrator's
  key events (the private key stays with its owner).
* ``dossier sign DIR --meaning authored|reviewed|approved --key FILE --name "Printed Name"
  --ledger L [--checkpoint-key FILE]``: sign the SEAL; with the ledger's key, refresh ``log/``.
* ``dossier pdf DIR [--out FILE]``: the PDF/A with header, footer, bookmarks and signature page.
* ``dossier verify DIR [--log-keys FILE] [--ledger L] [--require-independent-approval]``: also
  checks ``log/`` and ``signatures/`` (exit 1 on any problem, or when they are present and neither
  ``--log-keys`` nor ``--ledger`` lets them be checked); with ``--ledger`` also when the folder
  has neither, so that a signature the ledger records for the SEAL and the folder lacks (a
  stripped one) is reported.

The work is done by :mod:`validation.signing`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from validation.exceptions import SignatureError
from validation.ledger.note import VerifierKey, read_signer_key, read_verifier_keys
from validation.signing import (
    LOG_DIR,
    SIGNATURES_DIR,
    register_key,
    revoke_key,
    sign_dossier,
    verify_signed,
)

__all__ = ["add_verify_options", "register", "register_dossier_actions", "verify_attestations"]


def register(subparsers: Any) -> None:
    """Add the ``signing`` command group (the administrator's key events)."""
    parser = subparsers.add_parser("signing", help="register or revoke signers' public keys")
    actions = parser.add_subparsers(dest="signing_command", metavar="ACTION", required=True)
    reg = actions.add_parser("register", help="register a signer's public key in the ledger")
    reg.add_argument("--ledger", required=True)
    reg.add_argument("--public-key", required=True, metavar="FILE", help="the signer's .pub file")
    reg.add_argument("--printed-name", required=True, help="the signer's full printed name")
    reg.add_argument("--actor", required=True, help="the administrator registering it")
    reg.set_defaults(func=_register)
    rev = actions.add_parser("revoke", help="revoke a registered key (it can no longer sign)")
    rev.add_argument("--ledger", required=True)
    rev.add_argument("--key-id", required=True, metavar="HEX", help="8 hex digits")
    rev.add_argument("--reason", required=True)
    rev.add_argument("--actor", required=True, help="the administrator revoking it")
    rev.set_defaults(func=_revoke)


def register_dossier_actions(actions: Any) -> None:
    """Add ``sign`` and ``pdf`` to the ``dossier`` command group."""
    sign = actions.add_parser("sign", help="e-sign a sealed dossier (21 CFR 11.50)")
    sign.add_argument("directory", metavar="DIR")
    sign.add_argument("--meaning", required=True, choices=["authored", "reviewed", "approved"])
    sign.add_argument("--key", required=True, metavar="FILE", help="your private key file")
    sign.add_argument("--name", required=True, help="your printed name, as registered")
    sign.add_argument("--ledger", required=True, help="the ledger the dossier is sealed in")
    sign.add_argument("--checkpoint-key", metavar="FILE", help="ledger key: refresh log/")
    sign.set_defaults(func=_sign)

    pdf = actions.add_parser("pdf", help="print the sealed dossier and its signatures as PDF/A")
    pdf.add_argument("directory", metavar="DIR")
    pdf.add_argument("--out", metavar="FILE", help="PDF to write (default: DIR.pdf beside DIR)")
    pdf.set_defaults(func=_pdf)


def add_verify_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``dossier verify`` for ``log/`` and ``signatures/``."""
    parser.add_argument("--log-keys", metavar="FILE", help="the log's public keys: check log/")
    parser.add_argument(
        "--require-independent-approval",
        action="store_true",
        help="fail unless someone other than the author approved",
    )


def _register(args: argparse.Namespace) -> int:
    keys = read_verifier_keys(args.public_key)
    if len(keys) != 1:
        raise SignatureError(f"{args.public_key}: holds {len(keys)} keys; register one at a time")
    entry = register_key(args.ledger, keys[0], printed_name=args.printed_name, actor=args.actor)
    print(
        f"registered {keys[0].name}+{keys[0].key_id.hex()} ({args.printed_name}); entry {entry.seq}"
    )
    return 0


def _revoke(args: argparse.Namespace) -> int:
    entry = revoke_key(args.ledger, args.key_id, reason=args.reason, actor=args.actor)
    print(f"revoked {args.key_id}; entry {entry.seq}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    log_key = read_signer_key(args.checkpoint_key) if args.checkpoint_key else None
    record = sign_dossier(
        args.directory,
        meaning=args.meaning,
        key=read_signer_key(args.key),
        printed_name=args.name,
        ledger=args.ledger,
        log_key=log_key,
    )
    print(
        f"signed SEAL {record.statement['seal']} as {record.meaning} by {record.printed_name} "
        f"at {record.signed_utc}; ledger entry {record.seq}"
    )
    return 0


def verify_attestations(args: argparse.Namespace) -> int:
    """The ``log/`` and ``signatures/`` part of ``dossier verify`` (exit status)."""
    root = Path(args.directory)
    present = (root / LOG_DIR).exists() or (root / SIGNATURES_DIR).exists()
    # with the ledger, a signature it records for this SEAL is looked for even if none is here
    wanted = args.log_keys or args.require_independent_approval or args.ledger
    if not present and not wanted:
        return 0
    keys: list[VerifierKey] | None = read_verifier_keys(args.log_keys) if args.log_keys else None
    if keys is None and args.ledger is None:
        print(
            "UNCHECKED: the dossier carries log/ or signatures/; pass --log-keys (offline) or "
            "--ledger to check them"
        )
        return 1
    report = verify_signed(
        root,
        log_keys=keys,
        ledger=args.ledger,
        require_independent_approval=args.require_independent_approval,
    )
    print(report)
    return 0 if report.ok else 1


def _pdf(args: argparse.Namespace) -> int:
    from validation.dossier.pdf import dossier_pdf

    result = dossier_pdf(args.directory, args.out)
    print(
        f"PDF/A {result.path}: {result.n_pages} pages, {result.n_signatures} signature(s), "
        f"SEAL {result.seal}"
    )
    return 0
