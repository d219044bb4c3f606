"""``her2map dossier build | verify | reproduce``: the sealed validation dossier.

``build`` writes the dossier directory and prints its seal (exit 0); with ``--ledger`` only for
results that a recorded ``validation.run`` produced (it prints which entry; none: exit 2, nothing
written), without it nothing is checked or recorded, and it says so. ``verify`` prints ``OK``
(exit 0) or every changed, missing or extra file (exit 1); with ``--ledger`` it also requires the
run named in ``provenance.json`` to have produced the dossier's results and its seal to be
recorded after that run (else ``NOT RECORDED``, exit 1; a ledger whose chain does not verify:
exit 1). ``reproduce`` re-runs the validation from the inputs the dossier carries (the folder
alone suffices) and prints ``REPRODUCED`` (exit 0) or the differing files (exit 1); with
``--ledger`` it also checks that the run is recorded there. Deliberate errors (missing file,
unknown run) exit 2. The work is done by
:func:`validation.dossier.build_dossier`, :func:`~validation.dossier.verify_dossier` and
:func:`validation.reproduce.reproduce_dossier`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from validation.canonical import sha256_file
from validation.cli.signing import add_verify_options, register_dossier_actions, verify_attestations
from validation.dossier import DossierInputs, build_dossier, verify_dossier
from validation.dossier.binding import recorded_problems
from validation.exceptions import DossierError, TamperError
from validation.ledger import Ledger, verified_before_use
from validation.results import loads

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``dossier`` command group to the ``her2map`` parser."""
    parser = subparsers.add_parser(
        "dossier", help="build, verify or reproduce a validation dossier", description=__doc__
    )
    actions = parser.add_subparsers(dest="dossier_command", metavar="ACTION", required=True)

    build = actions.add_parser("build", help="render results.json into a sealed dossier directory")
    build.add_argument("results", metavar="RESULTS", help="results.json written by the runner")
    build.add_argument("--out", required=True, metavar="DIR", help="dossier directory to create")
    build.add_argument(
        "--ledger",
        help="the ledger recording the run that wrote RESULTS: bind the dossier to that run "
        "(provenance.json) and record the seal (event dossier.sealed); refused if no recorded run "
        "wrote these results. Without it nothing is checked or recorded",
    )
    build.add_argument("--trace", metavar="YAML", help="traceability.yaml: add the matrix")
    build.add_argument("--junit", metavar="FILE", help="pytest JUnit XML: show test outcomes")
    build.add_argument("--tests-dir", metavar="DIR", help="tests folder (default: beside --trace)")
    build.add_argument(
        "--force", action="store_true", help="replace an existing dossier atomically"
    )
    build.add_argument("--actor", default="dossier", help="actor recorded in the ledger entry")
    build.add_argument("--protocol", metavar="YAML", help="carry the run's protocol file")
    build.add_argument("--predictions", metavar="FILE", help="carry the run's predictions table")
    build.add_argument("--labels", metavar="FILE", help="carry the run's labels table")
    build.add_argument(
        "--checkpoint-key", metavar="FILE", help="ledger key: add log/ (checkpoint + proof)"
    )
    build.set_defaults(func=_build)

    check = actions.add_parser("verify", help="re-hash every file; check MANIFEST.json and SEAL")
    check.add_argument("directory", metavar="DIR")
    check.add_argument(
        "--ledger",
        help="also require that the run in provenance.json, recorded here, wrote results.json and "
        "that a dossier.sealed entry after it records this seal",
    )
    add_verify_options(check)  # issue 13: log/ and signatures/
    check.set_defaults(func=_verify)

    again = actions.add_parser(
        "reproduce", help="re-run the validation from the dossier's own inputs; compare bytes"
    )
    again.add_argument("directory", metavar="DIR")
    again.add_argument("--ledger", help="also check that the run is recorded in this ledger")
    again.set_defaults(func=_reproduce)

    register_dossier_actions(actions)  # issue 13: sign, pdf


def _build(args: argparse.Namespace) -> int:
    given = [args.protocol, args.predictions, args.labels]
    if any(given) and not all(given):
        raise DossierError(
            "--protocol, --predictions and --labels go together (the run's three input files, "
            "carried so that the dossier re-runs from itself); give all three or none."
        )
    inputs = None
    if all(given):
        from validation.runner import beside_predictions

        predictions = Path(args.predictions)
        inputs = DossierInputs(
            Path(args.protocol), predictions, Path(args.labels), *beside_predictions(predictions)
        )
    result = build_dossier(
        args.results,
        args.out,
        ledger=args.ledger,
        junit=args.junit,
        trace=args.trace,
        tests_dir=args.tests_dir,
        force=args.force,
        actor=args.actor,
        inputs=inputs,
        checkpoint_key=args.checkpoint_key,
    )
    where = f"; ledger entry {result.ledger_entry.seq}" if result.ledger_entry else ""
    print(f"dossier {result.directory}: {result.n_files} files, SEAL {result.seal}{where}")
    if result.run is not None:
        print(f"provenance: {result.run.describe()}")
    else:
        print("not recorded: built without --ledger, so no recorded run was checked and no seal "
              "recorded; the dossier says so")  # fmt: skip
    return 0


def _verify(args: argparse.Namespace) -> int:
    report = verify_dossier(args.directory)
    print(report)
    if not report.ok:
        return 1
    if args.ledger is not None:
        root = Path(args.directory)
        results_path = root / "results.json"
        results = loads(results_path.read_bytes(), source=str(results_path))
        digest = sha256_file(results_path)
        with Ledger.open(args.ledger, create=False, readonly=True) as book:
            try:
                verified_before_use(book, what="dossier verify")  # verify before use
            except TamperError as exc:  # tampering found: a failed check (exit 1), not bad input
                print(exc)
                return 1
            problems = recorded_problems(book, root, results, digest, str(report.seal))
        if problems:
            for problem in problems:
                print(f"NOT RECORDED: ledger {args.ledger}: {problem}")
            return 1
    return verify_attestations(args)  # issue 13


def _reproduce(args: argparse.Namespace) -> int:
    from validation.reproduce import reproduce_dossier  # above runner and dossier

    report = reproduce_dossier(args.directory, ledger=args.ledger)
    print(report)
    return 0 if report.ok else 1
