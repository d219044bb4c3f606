"""``her2map submission build | verify``: the package of several sealed dossiers.

``build --dossier DIR [--dossier DIR ...] --out PKG --ledger L --title TEXT [--trace YAML]
[--checkpoint-key FILE]`` verifies every dossier, writes the sealed package and records it
(``submission.sealed``); with the ledger's key it adds ``log/``. Sign it with ``her2map dossier
sign PKG``. ``verify PKG --log-keys FILE [--ledger L] [--require-independent-approval]`` checks the
package and every dossier in it, offline with the log's public keys (exit 1 on any problem). The
work is done by :mod:`validation.submission`.
"""

from __future__ import annotations

import argparse
from typing import Any

from validation.ledger.note import read_signer_key, read_verifier_keys
from validation.submission import build_submission, verify_submission

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``submission`` command group."""
    parser = subparsers.add_parser("submission", help="build or verify a submission package")
    actions = parser.add_subparsers(dest="submission_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="gather sealed dossiers into a sealed package")
    build.add_argument("--dossier", action="append", required=True, metavar="DIR")
    build.add_argument("--out", required=True, metavar="DIR")
    build.add_argument("--ledger", required=True)
    build.add_argument("--title", required=True, help="title of the summary page")
    build.add_argument("--trace", metavar="YAML", help="traceability.yaml: add the matrix")
    build.add_argument("--checkpoint-key", metavar="FILE", help="ledger key: add log/")
    build.add_argument("--actor", default="submission", help="actor of the ledger entry")
    build.set_defaults(func=_build)
    check = actions.add_parser("verify", help="check the package and its dossiers (offline)")
    check.add_argument("directory", metavar="DIR")
    check.add_argument("--log-keys", metavar="FILE", help="the log's public keys")
    check.add_argument("--ledger", help="also check against the ledger")
    check.add_argument("--require-independent-approval", action="store_true")
    check.set_defaults(func=_verify)


def _build(args: argparse.Namespace) -> int:
    result = build_submission(
        args.dossier,
        args.out,
        ledger=args.ledger,
        title=args.title,
        trace=args.trace,
        log_key=read_signer_key(args.checkpoint_key) if args.checkpoint_key else None,
        actor=args.actor,
    )
    print(
        f"package {result.directory}: {len(result.dossiers)} dossier(s), SEAL {result.seal}; "
        f"ledger entry {result.ledger_seq}"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.log_keys is None and args.ledger is None:
        print("UNCHECKED: pass --log-keys (offline) or --ledger")
        return 1
    keys = read_verifier_keys(args.log_keys) if args.log_keys else None
    results = verify_submission(
        args.directory,
        log_keys=keys,
        ledger=args.ledger,
        require_independent_approval=args.require_independent_approval,
    )
    for result in results:
        print(result)
    return 0 if all(r.ok for r in results) else 1
