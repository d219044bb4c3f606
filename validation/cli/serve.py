"""``her2map serve`` (the trial service) and ``her2map token issue | revoke`` (its API tokens).

``serve --ledger L`` runs the HTTP API (:func:`validation.server.app.create_app`) with uvicorn on
``--host``/``--port`` (default 127.0.0.1:8000; put TLS in front of it). ``token issue`` prints a
new token once (the ledger keeps only its SHA-256); locally (``--ledger``, the coordinating
centre's own access to the database, e.g. for the first administrator) or through the service
(``--server``, with an administrator's token).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from validation.exceptions import LedgerError

__all__ = ["register"]

_ROLES = (
    "site_coordinator",
    "radiologist",
    "pathologist",
    "monitor",
    "statistician",
    "administrator",
)


def register(subparsers: Any) -> None:
    """Add the ``serve`` and ``token`` commands to the ``her2map`` parser."""
    serve = subparsers.add_parser(
        "serve", help="run the multi-site trial service (HTTP API)", description=__doc__
    )
    serve.add_argument("--ledger", required=True, help="SQLite file or postgresql:// URL")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--lock",
        help="the model lock a trial is opened with (default: the shipped lock); verified at "
        "start-up",
    )
    serve.set_defaults(func=_serve)

    token = subparsers.add_parser("token", help="issue or revoke API tokens of the service")
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    issue = actions.add_parser("issue", help="issue a token (printed once)")
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    for parser in (issue, revoke):
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--ledger", help="the ledger (local: coordinating centre)")
        where.add_argument(
            "--server",
            help="URL of the service, with an administrator token (default $HER2MAP_SERVER)",
        )
        parser.add_argument("--actor", help="who issues/revokes (local mode only)")
    issue.add_argument("--user", required=True, help="user name, e.g. path.a")
    issue.add_argument("--site", required=True, help="the user's site code")
    issue.add_argument("--role", required=True, choices=_ROLES)
    issue.set_defaults(func=_issue)
    revoke.add_argument("--token-id", required=True, help="the id printed when it was issued")
    revoke.add_argument("--reason", required=True, help="why it is revoked")
    revoke.set_defaults(func=_revoke)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from validation.server.app import create_app

    app = create_app(args.ledger, lock=args.lock)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _where(args: argparse.Namespace) -> None:
    """``--server`` defaults to ``$HER2MAP_SERVER`` (as for the trial commands) when no
    ``--ledger`` is given; neither is refused."""
    from validation.cli.trial import SERVER_ENV

    if not args.ledger and not args.server:
        args.server = os.environ.get(SERVER_ENV) or None
    if not args.ledger and not args.server:
        raise LedgerError(f"give --ledger PATH (local) or --server URL (or set ${SERVER_ENV})")


def _local_actor(args: argparse.Namespace) -> str:
    if not args.actor:
        raise LedgerError("local mode needs --actor (who issues or revokes the token)")
    return str(args.actor)


def _issue(args: argparse.Namespace) -> int:
    _where(args)
    if args.server:
        if args.actor:
            raise LedgerError("--actor cannot be given with --server: it comes from your token")
        from validation.server.client import RemoteTrial, read_token

        body = {"user": args.user, "site": args.site, "role": args.role}
        data = RemoteTrial(args.server, read_token()).call("POST", "/v1/tokens", body)
        token, token_id, entry = data["token"], data["token_id"], data["entry"]
    else:
        from validation.ledger import Ledger
        from validation.server.tokens import issue_token

        with Ledger.open(args.ledger, create=False) as ledger:
            token, issued = issue_token(
                ledger, user=args.user, site=args.site, role=args.role, actor=_local_actor(args)
            )
        token_id, entry = issued.payload["token_id"], str(issued.head)
    print(
        f"token id {token_id} for {args.user} ({args.role}, site {args.site}) at ledger entry {entry}"
    )
    print(f"token (shown once; give it to the user, e.g. as HER2MAP_TOKEN): {token}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    _where(args)
    if args.server:
        if args.actor:
            raise LedgerError("--actor cannot be given with --server: it comes from your token")
        from validation.server.client import RemoteTrial, read_token

        path = f"/v1/tokens/{args.token_id}/revoke"
        data = RemoteTrial(args.server, read_token()).call("POST", path, {"reason": args.reason})
        entry = data["entry"]
    else:
        from validation.ledger import Ledger
        from validation.server.tokens import revoke_token

        with Ledger.open(args.ledger, create=False) as ledger:
            entry = str(
                revoke_token(
                    ledger, args.token_id, reason=args.reason, actor=_local_actor(args)
                ).head
            )
    print(f"token {args.token_id} revoked at ledger entry {entry}")
    return 0
