"""``her2map validate suite | suite-check | suite-register | suite-amend | suite-status |
suite-verify``: protocol suites for quality engineers and their CI.

* ``suite SPEC --ledger PATH [--root DIR] [--actor NAME] [--trace FILE] [--junit FILE]`` runs the
  registered suite: predicts once, seals one dossier per protocol under ``ROOT/OUTPUT/<ID>/`` and
  the summary (index.html, summary.json, junit.xml) under ``ROOT/OUTPUT/summary/``. Progress goes
  to stderr when stderr is a terminal; the verdict lines and the gate to stdout.
  **Exit status: 0 the gate is met; 1 the gate is not met (a criterion did not PASS, or a protocol
  did not complete); 2 usage error or refusal (malformed suite, a protocol changed inside the
  suite, suite or protocol not registered, existing output folder) -- nothing is run then.**
* ``suite-check SPEC`` validates the suite and its protocols against their pins; prints hashes.
* ``suite-register SPEC --ledger PATH --actor NAME`` records ``suite.registered``.
* ``suite-amend SPEC --ledger PATH --actor NAME --reason "..."`` records ``suite.amended``.
* ``suite-status SPEC --ledger PATH``: exit 0 when runnable, 1 when not.
* ``suite-verify DIR [--ledger PATH]`` re-hashes a summary folder and every dossier it links to,
  then checks that the summary says what those dossiers' results.json say (every verdict,
  estimate, interval, conclusion, the gate, the page and junit.xml; one line per disagreement);
  with ``--ledger``, also requires the ``suite.run`` entry recording its seal. Exit 0 or 1.

Paths inside the suite: protocol files relative to the suite file; data, lock and output relative
to ``--root`` (default: the current directory). The work is done by :mod:`validation.suite`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from her2map.exceptions import Her2MapError
from validation.cli.registration import add_registration_actions, print_status
from validation.exceptions import HarnessError
from validation.ledger import Ledger
from validation.suite import (
    SUITE_RUN_EVENT,
    Suite,
    amend_suite,
    register_suite,
    resolve_protocols,
    run_suite,
    suite_status,
    verify_suite,
)

__all__ = ["add_suite_actions"]


def add_suite_actions(actions: Any) -> None:
    """Add the suite actions to the ``validate`` command group."""
    run = actions.add_parser(
        "suite",
        help="run a registered protocol suite (exit 0 gate met, 1 not met, 2 usage/refusal)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("spec", metavar="SPEC", help="suite YAML (registered)")
    run.add_argument("--ledger", required=True, help="audit ledger (SQLite file)")
    run.add_argument("--root", default=".", help="folder the suite's data/lock/output are in")
    run.add_argument("--actor", default="harness", help="who runs it (default: harness)")
    run.add_argument("--trace", help="traceability.yaml for the dossiers' matrix")
    run.add_argument("--junit", help="JUnit XML of the test run, for the matrix's test outcomes")
    run.set_defaults(func=_run)

    check = actions.add_parser("suite-check", help="validate a suite and its protocol pins")
    check.add_argument("spec", metavar="SPEC", help="suite YAML")
    check.set_defaults(func=_check)

    add_registration_actions(
        actions,
        noun="suite",
        prefix="suite-",
        spec="spec",
        ledger_help="audit ledger (SQLite file)",
        register=_register,
        amend=_amend,
        status=_status,
    )

    verify = actions.add_parser("suite-verify", help="verify a sealed suite summary folder")
    verify.add_argument("directory", metavar="DIR", help="the summary/ folder of a suite run")
    verify.add_argument("--ledger", help="also require the suite.run entry recording its seal")
    verify.set_defaults(func=_verify)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    trace = args.trace or ("traceability.yaml" if Path("traceability.yaml").is_file() else None)
    try:
        result = run_suite(
            args.spec,
            ledger=args.ledger,
            root=args.root,
            actor=args.actor,
            trace=trace,
            junit=args.junit,
            say=_progress if sys.stderr.isatty() else lambda _: None,
        )
    except (HarnessError, Her2MapError) as exc:  # refusal or usage: documented exit status 2
        print(f"her2map validate suite: error: {exc}", file=sys.stderr)
        return 2
    for run in result.runs:
        if run.outcome is None:
            print(f"{run.protocol_id}: ERROR: {run.error}")
            continue
        for a in run.outcome.analyses:
            print(f"{run.protocol_id}/{a.id}: {a.verdict}")
        print(f"{run.protocol_id}: dossier {result.out / str(run.dossier)}")
    print(f"summary: {result.summary_dir / 'index.html'} (seal {result.seal}; junit.xml beside it)")
    unmet = "; ".join(result.gate.unmet)
    print(
        f"gate {result.gate.policy.value}: " + ("MET" if result.gate.met else f"NOT MET ({unmet})")
    )
    return result.exit_status


def _check(args: argparse.Namespace) -> int:
    suite = Suite.from_yaml(args.spec)
    pinned = resolve_protocols(suite)
    print(f"OK: {suite.id} version {suite.version}, hash {suite.suite_hash}")
    for item in pinned:
        print(f"  {item.ref.id} version {item.ref.version}: hash {item.ref.hash} ({item.path})")
    return 0


def _register(args: argparse.Namespace) -> int:
    suite = Suite.from_yaml(args.spec)
    resolve_protocols(suite)
    with Ledger.open(args.ledger) as ledger:
        entry = register_suite(suite, ledger, actor=args.actor)
    print(
        f"registered {suite.id} version {suite.version}: hash {suite.suite_hash} (seq {entry.seq})"
    )
    return 0


def _amend(args: argparse.Namespace) -> int:
    suite = Suite.from_yaml(args.spec)
    resolve_protocols(suite)
    with Ledger.open(args.ledger) as ledger:
        entry = amend_suite(suite, ledger, actor=args.actor, reason=args.reason)
    print(
        f"amended {suite.id} version {suite.version}: hash {suite.suite_hash} replaces "
        f"{entry.payload['previous_hash']} (ledger seq {entry.seq})"
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    suite = Suite.from_yaml(args.spec)
    with Ledger.open(args.ledger, create=False) as ledger:
        return print_status(suite_status(suite, ledger))


def _verify(args: argparse.Namespace) -> int:
    report = verify_suite(args.directory)
    print(report)
    if not report.ok:
        return 1
    if args.ledger is not None:
        with Ledger.open(args.ledger, create=False) as ledger:
            recorded = list(ledger.entries(event_type=SUITE_RUN_EVENT, where={"seal": report.seal}))
        if not recorded:
            print(
                f"NOT RECORDED: ledger {args.ledger} has no {SUITE_RUN_EVENT} entry for this SEAL"
            )
            return 1
    return 0
