"""``her2map trial open | enrol | predict | record | correct | withdraw | status | export | verify``.

Prospective model-versus-biopsy logging on the audit ledger, locally or through the trial
service:

* local: ``--ledger PATH --actor NAME --site SITE`` (actor and site are recorded as given);
* remote: ``--server URL`` (or ``$HER2MAP_SERVER``) with the API token in ``$HER2MAP_TOKEN`` or
  the token file ``~/.config/her2map/token`` -- the actor and site come from the token, so
  ``--actor``/``--site`` are refused.

Every writing action prints the acknowledged entry ``seq:hash``. ``status`` and ``export`` read
the ledger after verifying it (a ledger that does not verify is refused, naming the first bad
entry); ``verify`` re-walks the hash chain (exit 1 when tampered). A refused event prints the
rule and exits 3; nothing is written. The work is done by :class:`validation.trial.Trial`
(remote: :class:`validation.server.client.RemoteTrial`, same methods, same output).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from validation.cli.pipes import closed_pipe_is_quiet
from validation.exceptions import LedgerError, TrialRuleError
from validation.ledger import Entry
from validation.trial import IHC, ISH, EventKind, Trial, submit, verify

__all__ = ["register"]

_YES_NO = ("yes", "no")


SERVER_ENV = "HER2MAP_SERVER"


def _common(parser: argparse.ArgumentParser, *, writes: bool = True) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--ledger", help="the trial's ledger: SQLite file or postgresql:// URL (local mode)"
    )
    where.add_argument(
        "--server", help=f"URL of the trial service (remote mode; default ${SERVER_ENV})"
    )
    parser.set_defaults(writes=writes)
    if writes:
        parser.add_argument("--actor", help="who records it (local mode only)")
        parser.add_argument("--site", help="the site the actor records for (local mode only)")


def _backend(args: argparse.Namespace, *, create: bool = False) -> Any:
    """A local :class:`Trial` or a :class:`RemoteTrial` (same methods), from the options."""
    server = args.server or (None if args.ledger else os.environ.get(SERVER_ENV))
    if server:
        given = [f"--{n}" for n in ("actor", "site") if args.writes and getattr(args, n, None)]
        if given:
            raise LedgerError(
                f"{' and '.join(given)} cannot be given with --server: the service takes actor "
                "and site from your token"
            )
        from validation.server.client import RemoteTrial, read_token

        return RemoteTrial(server, read_token())
    if not args.ledger:
        raise LedgerError(f"give --ledger PATH (local) or --server URL (or set ${SERVER_ENV})")
    if args.writes:
        missing = [f"--{n}" for n in ("actor", "site") if not getattr(args, n, None)]
        if missing:
            raise LedgerError(
                f"local mode needs {' and '.join(missing)} (who records, for which site)"
            )
        return Trial.open(args.ledger, create=create)
    return Trial.open(args.ledger, create=False, readonly=True)


def _patient(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patient", required=True, help="pseudonymous patient id")


def register(subparsers: Any) -> None:
    """Add the ``trial`` command group to the ``her2map`` parser."""
    parser = subparsers.add_parser(
        "trial",
        help="log a prospective model-versus-biopsy trial on the audit ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="trial_command", metavar="ACTION", required=True)

    opening = actions.add_parser("open", help="open the trial: its sites and protocol (once)")
    _common(opening)
    opening.add_argument("--sites", required=True, help="comma-separated site codes, e.g. A,B,C,D")
    opening.add_argument("--protocol", required=True, help="protocol id, e.g. HER2-PRO-004")
    opening.add_argument(
        "--lock",
        help="the trial's model lock file (default: the shipped lock); its hash and threshold "
        "are recorded and every prediction must use them (local mode; the service opens the "
        "trial with the lock it was started with, `her2map serve --lock`)",
    )
    opening.set_defaults(func=_open)

    enrol = actions.add_parser("enrol", help="enrol a patient at the actor's site")
    _common(enrol)
    _patient(enrol)
    enrol.add_argument("--consent", required=True, help="consent form reference")
    enrol.add_argument("--laterality", choices=("L", "R"), help="tumour side (needed by predict)")
    enrol.add_argument("--age", type=int, help="age in years, if collected")
    enrol.add_argument("--hr-status", type=int, choices=(0, 1), help="hormone receptor status")
    enrol.set_defaults(func=_enrol)

    predict = actions.add_parser("predict", help="run the locked model on the patient's DICOM")
    _common(predict)
    _patient(predict)
    images = predict.add_mutually_exclusive_group(required=True)
    images.add_argument("--study", help="folder of the patient's DICOM files")
    images.add_argument(
        "--pacs",
        metavar="URL",
        help="DICOMweb root of a PACS: the patient's studies are found with QIDO-RS and "
        "retrieved with WADO-RS (the ledger names the URL, without credentials)",
    )
    predict.add_argument("--lock", help="model lock file (default: the shipped lock)")
    predict.set_defaults(func=_predict)

    record = actions.add_parser("record", help="record biopsy, therapy, surgery or response")
    kinds = record.add_subparsers(dest="record_kind", metavar="EVENT", required=True)
    for name, helptext in (
        ("biopsy", "core-needle biopsy HER2 (IHC, ISH); call derived by ASCO/CAP 2018"),
        ("surgery", "surgical-specimen HER2 (the reference standard)"),
    ):
        her2 = kinds.add_parser(name, help=helptext)
        _common(her2)
        _patient(her2)
        her2.add_argument("--ihc", required=True, choices=[m.value for m in IHC])
        her2.add_argument("--ish", required=True, choices=[m.value for m in ISH])
        if name == "biopsy":
            her2.add_argument(
                "--report-time", help="UTC time the report was issued, e.g. 2026-11-27T09:30:00Z"
            )
        her2.set_defaults(func=_record)
    therapy = kinds.add_parser("therapy", help="neoadjuvant regimen")
    _common(therapy)
    _patient(therapy)
    therapy.add_argument("--regimen", required=True, help="regimen text, e.g. 'TCHP x6'")
    therapy.add_argument("--anti-her2", required=True, choices=_YES_NO)
    therapy.set_defaults(func=_record)
    response = kinds.add_parser("response", help="pathological complete response (ypT0/is ypN0)")
    _common(response)
    _patient(response)
    response.add_argument("--pcr", required=True, choices=_YES_NO)
    response.set_defaults(func=_record)

    correct = actions.add_parser("correct", help="correct a recorded value (old value kept)")
    _common(correct)
    _patient(correct)
    correct.add_argument("--event", required=True, choices=[k.short for k in EventKind])
    correct.add_argument("--field", required=True, help="field to correct, e.g. ihc, age, pcr")
    correct.add_argument("--value", required=True, help="the corrected value")
    correct.add_argument("--reason", required=True, help="why the value is corrected")
    correct.set_defaults(func=_correct)

    withdraw = actions.add_parser("withdraw", help="record the patient's withdrawal")
    _common(withdraw)
    _patient(withdraw)
    withdraw.add_argument("--reason", required=True, help="reason for withdrawal")
    withdraw.set_defaults(func=_withdraw)

    bulk = actions.add_parser("import", help="record events from a CSV file, row by row")
    _common(bulk)
    bulk.add_argument("file", help="CSV with columns event, patient and the events' fields")
    bulk.set_defaults(func=_import)

    show = actions.add_parser("status", help="per-site counts and patients awaiting a step")
    _common(show, writes=False)
    show.add_argument("--site", help="only this site")
    show.set_defaults(func=_status)

    export = actions.add_parser("export", help="write predictions, labels and export manifest")
    _common(export, writes=False)
    export.add_argument("--out", required=True, help="new (or empty) folder for the export")
    export.set_defaults(func=_export)

    check = actions.add_parser("verify", help="re-walk the hash chain; exit 1 if tampered")
    _common(check, writes=False)
    check.add_argument("--expected-head", metavar="SEQ:HASH", help="head kept outside the ledger")
    check.set_defaults(func=_verify)


def _done(entry: Entry) -> int:
    print(f"recorded {entry.event_type} at ledger entry {entry.head}")
    return 0


def _write(args: argparse.Namespace, action: str, *, create: bool = False, **fields: Any) -> Entry:
    """Record ``action`` (:data:`validation.trial.ACTIONS`) with the options as its fields
    (``fields`` replace options), through the local or remote backend; the acknowledged entry."""
    with _backend(args, create=create) as trial:
        return submit(trial, action, {**vars(args), **fields}, actor=args.actor, site=args.site)


def _open(args: argparse.Namespace) -> int:
    sites = [s.strip() for s in args.sites.split(",")]
    return _done(_write(args, "open", create=True, sites=sites))


def _enrol(args: argparse.Namespace) -> int:
    return _done(_write(args, "enrol", create=True))


def _predict(args: argparse.Namespace) -> int:
    entry = _write(args, "predict")
    print(
        f"score {entry.payload['score']!r} ({entry.payload['call']}) by model lock {entry.payload['model_lock']}"
    )
    return _done(entry)


def _record(args: argparse.Namespace) -> int:
    return _done(_write(args, args.record_kind))


def _correct(args: argparse.Namespace) -> int:
    entry = _write(args, "correct")
    print(
        f"{entry.payload['field']}: {entry.payload['old_value']!r} -> {entry.payload['new_value']!r}"
    )
    return _done(entry)


def _import(args: argparse.Namespace) -> int:
    from validation.trial.bulk import import_events

    with _backend(args) as trial:
        local = isinstance(trial, Trial)
        who = {"actor": args.actor, "site": args.site} if local else {}
        report = import_events(trial, args.file, **who)
    with closed_pipe_is_quiet():
        for entry in report.recorded:
            _done(entry)
        print(f"imported {len(report.recorded)} events from {args.file}")
        for line in report.lines():
            print(f"refused: {line}", file=sys.stderr)
    if report.refused:
        print(
            f"{len(report.refused)} row(s) refused (nothing written for them); the "
            f"{len(report.recorded)} other row(s) are recorded",
            file=sys.stderr,
        )
        return TrialRuleError.exit_code
    return 0


def _withdraw(args: argparse.Namespace) -> int:
    return _done(_write(args, "withdraw"))


_COLUMNS = (
    "enrolled",
    "predicted",
    "biopsied",
    "treated",
    "operated",
    "response_known",
    "withdrawn",
)


def _status(args: argparse.Namespace) -> int:
    with _backend(args) as trial:
        status = trial.status(site=args.site)
    with closed_pipe_is_quiet():
        _print_status(status)
    return 0


def _print_status(status: Any) -> None:
    print(f"trial {status.protocol_id or '(not open)'} at ledger head {status.head}")
    print("\t".join(("site", *_COLUMNS, "awaiting")))
    for row in status.sites:
        missing = " ".join(f"{step}:{n}" for step, n in row.missing) or "-"
        print("\t".join([row.site, *(str(getattr(row, c)) for c in _COLUMNS), missing]))
    if status.pending:
        print("awaiting:")
    for item in status.pending:
        blind = item.predicted or item.awaiting == "prediction"
        note = "" if blind else " (no blinded prediction: excluded from the analysis)"
        waited = f"\tsince {item.since[:10]} ({item.days_waiting} days)" if item.since else ""
        print(f"  {item.patient_id}\tsite {item.site}\t{item.awaiting}{waited}{note}")


def _export(args: argparse.Namespace) -> int:
    with _backend(args) as trial:
        result = trial.export(args.out)
    print(
        f"exported {result.n_exported} patients at ledger head {result.head} to {result.out_dir} "
        f"({len(result.excluded)} excluded, {len(result.incomplete)} with labels missing)"
    )
    for item in result.excluded:
        print(f"  excluded {item.patient_id} (site {item.site}): {item.reason}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    if args.ledger:
        report = verify(args.ledger, expected_head=args.expected_head)
    else:
        report = _backend(args).verify(expected_head=args.expected_head)
    print(report)
    return 0 if report.ok else 1
