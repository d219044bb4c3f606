"""``her2map validate run PROTOCOL (--cohort DIR | --predictions FILE) --labels FILE --ledger PATH
--out DIR [--actor NAME] [--lock PATH]``: run a registered protocol.

The protocol must be registered (or amended) in the ledger before any label is read; the labels
table may be a cohort's ``clinical.csv``. Writes ``DIR/results.json`` (and, with ``--cohort``,
``DIR/predictions.csv``) and records a ``validation.run`` ledger entry. Prints one line per
verdict. Exit 0 when the run completed (whatever the verdicts), 2 on a refused or failed run.
The work is done by :func:`validation.runner.run_protocol`.
"""

from __future__ import annotations

import argparse
from typing import Any

from validation.runner import run_protocol

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``validate`` command group to the ``her2map`` parser."""
    parser = subparsers.add_parser(
        "validate",
        help="run a pre-registered validation protocol",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="validate_command", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="run a registered protocol and write results.json")
    run.add_argument("protocol", metavar="PROTOCOL", help="protocol YAML (registered)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--cohort", help="cohort folder: predict it with the locked model")
    source.add_argument("--predictions", help="predictions table (CSV or Parquet)")
    run.add_argument("--labels", required=True, help="sealed labels table (e.g. clinical.csv)")
    run.add_argument("--ledger", required=True, help="audit ledger (SQLite file)")
    run.add_argument("--out", required=True, help="output folder for results.json")
    run.add_argument("--actor", default="harness", help="who runs it (default: harness)")
    run.add_argument("--lock", help="model lock file (default: the shipped lock)")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    result = run_protocol(
        args.protocol,
        labels=args.labels,
        ledger=args.ledger,
        out_dir=args.out,
        predictions=args.predictions,
        cohort=args.cohort,
        lock=args.lock,
        actor=args.actor,
    )
    for analysis_id, verdict in result.verdicts.items():
        print(f"{analysis_id}: {verdict}")
    print(
        f"results: {result.results_path} (sha256 {result.results_sha256}); "
        f"ledger seq {result.ledger_entry.seq}"
    )
    return 0
