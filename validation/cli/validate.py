"""``her2map validate run PROTOCOL (--cohort DIR | --predictions FILE) --labels FILE --ledger PATH
--out DIR [--actor NAME] [--lock PATH] [--trace FILE] [--junit FILE] [--no-dossier]
[--workers N | --scheduler ADDRESS] [--device {auto,cpu,cuda,cuda:N}]``.

The protocol must be registered (or amended) in the ledger before any label is read; the labels
table may be a cohort's ``clinical.csv``. Writes ``DIR/results.json`` (and, with ``--cohort``,
``DIR/predictions.csv``), records a ``validation.run`` ledger entry, then builds, seals and
verifies the dossier in ``DIR/dossier/`` (its seal recorded in the same ledger). Prints one line
per verdict. Exit 0 when the run completed (whatever the verdicts), 2 on a refused or failed run.
The work is done by :func:`validation.pipeline.run_and_seal` (or
:func:`validation.runner.run_protocol` alone with ``--no-dossier``), inside
``her2map.parallel.session`` of the workers named (the same bytes with any number of them).
``--device`` (with ``--cohort`` only; default cpu) is where the locked model scores; the device
used is recorded in ``DIR/predictions.provenance.json``, which the dossier carries.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from her2map.cli._workers import add_device_option, add_worker_options, workers_from_args
from her2map.parallel import session
from validation.cli.suite import add_suite_actions
from validation.pipeline import SealedRun, run_and_seal, run_only

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
    run = actions.add_parser(
        "run", help="run a registered protocol; write results.json and its dossier"
    )
    run.add_argument("protocol", metavar="PROTOCOL", help="protocol YAML (registered)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--cohort", help="cohort folder: predict it with the locked model")
    source.add_argument("--predictions", help="predictions table (CSV or Parquet)")
    run.add_argument("--labels", required=True, help="sealed labels table (e.g. clinical.csv)")
    run.add_argument("--ledger", required=True, help="audit ledger (SQLite file)")
    run.add_argument("--out", required=True, help="output folder for results.json and dossier/")
    run.add_argument("--actor", default="harness", help="who runs it (default: harness)")
    run.add_argument("--lock", help="model lock file (default: the shipped lock)")
    run.add_argument(
        "--trace",
        help="traceability.yaml for the dossier's matrix (default: ./traceability.yaml if present)",
    )
    run.add_argument("--junit", help="JUnit XML of the test run, for the matrix's test outcomes")
    run.add_argument("--no-dossier", action="store_true", help="write results.json only")
    add_device_option(run, default=None)
    add_worker_options(run)
    run.set_defaults(func=_run)
    add_suite_actions(actions)  # suite, suite-check/-register/-amend/-status/-verify


def _print_run(sealed: SealedRun) -> None:
    result = sealed.run
    if sealed.recovered:
        print(f"recovered: the interrupted run into {result.results_path.parent} was finished "
              "from its journal (its ledger entries recorded once)")  # fmt: skip
    for analysis_id, verdict in result.verdicts.items():
        print(f"{analysis_id}: {verdict}")
    print(
        f"results: {result.results_path} (sha256 {result.results_sha256}); "
        f"ledger seq {result.ledger_entry.seq}"
    )
    if sealed.dossier is not None:
        print(f"dossier: {sealed.index_html} (seal {sealed.dossier.seal}; verified)")


def _run(args: argparse.Namespace) -> int:
    inputs: dict[str, Any] = {
        "labels": args.labels,
        "ledger": args.ledger,
        "out_dir": args.out,
        "predictions": args.predictions,
        "cohort": args.cohort,
        "lock": args.lock,
        "actor": args.actor,
        "device": args.device,
    }
    with session(workers_from_args(args)):  # inference and bootstrap blocks run there
        if args.no_dossier:
            _print_run(run_only(args.protocol, **inputs))
            return 0
        trace = args.trace or ("traceability.yaml" if Path("traceability.yaml").is_file() else None)
        sealed = run_and_seal(args.protocol, **inputs, trace=trace, junit=args.junit)
    _print_run(sealed)
    return 0
