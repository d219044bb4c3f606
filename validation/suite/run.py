"""Run a registered protocol suite: one prediction pass, one sealed dossier per protocol, one
sealed summary with the JUnit report and the gate.

Order of operations:

1. load and validate the suite; load every protocol and check it against the suite's pins
   (:mod:`.pins`); refuse an output folder that already exists;
2. verify the ledger's hash chain (:func:`validation.ledger.verified_before_use`), then refuse an unregistered or changed suite or protocol
   (:func:`~validation.suite.pins.require_ready`) -- before any prediction or label is read;
3. predictions: a cohort is predicted ONCE by the locked model into ``OUTPUT/predictions.csv``
   (:func:`her2map.predict.predict_cohort`); a given predictions table is used as it is. Every
   protocol then reads this same table (its sha256 is checked in every protocol's results);
4. each protocol, in suite order, through :func:`validation.pipeline.run_and_seal` into
   ``OUTPUT/<PROTOCOL-ID>/`` (results.json and a sealed dossier). A protocol that fails is
   recorded with its error and the suite continues with the next;
5. the gate (:mod:`.gate`), ``summary.json`` (:mod:`.summary`), ``junit.xml`` (:mod:`.junit`) and
   ``index.html`` (:mod:`.page`) written as the sealed folder ``OUTPUT/summary/`` (:mod:`.seal`);
6. a ``suite.run`` ledger entry {suite_id, suite_hash, seal, gate_met, dossier_seals}.

Paths: protocol files relative to the suite file; data, lock and output relative to ``root``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from her2map.exceptions import Her2MapError
from validation.canonical import canonical_json, sha256_file, sha256_hex
from validation.exceptions import HarnessError, RegistrationError, SuiteError
from validation.ledger import Entry, Ledger, verified_before_use
from validation.pipeline import run_and_seal
from validation.suite.gate import GateResult, evaluate_gate
from validation.suite.junit import junit_of_runs
from validation.suite.model import SHIPPED_LOCK, Suite
from validation.suite.outcome import ProtocolOutcome, read_outcome
from validation.suite.page import render_page
from validation.suite.pins import require_ready, resolve_protocols
from validation.suite.seal import SUMMARY_DIR, write_summary
from validation.suite.summary import ProtocolRun, build_summary

__all__ = ["SUITE_RUN_EVENT", "SuiteRun", "run_suite"]

SUITE_RUN_EVENT = "suite.run"


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """Where the suite run went, its gate, each protocol's run and the ledger entry."""

    out: Path
    summary_dir: Path
    seal: str
    gate: GateResult
    runs: tuple[ProtocolRun, ...]
    predictions: Path
    ledger_entry: Entry

    @property
    def exit_status(self) -> int:
        """0 when the gate is met, 1 when it is not (2, refusal or usage, raises instead)."""
        return 0 if self.gate.met else 1


def _quiet(_: str) -> None:
    """The default progress sink: say nothing."""


def _resolve(root: Path, path: str) -> Path:
    return root / path


def _lock(suite: Suite, root: Path) -> Path | None:
    return None if suite.lock == SHIPPED_LOCK else _resolve(root, suite.lock)


def _predict_once(
    suite: Suite, root: Path, out: Path, lock: Path | None
) -> tuple[Path, str | None]:
    """The suite's one predictions table, and the lock hash of the model that made it."""
    if suite.data.predictions is not None:
        return _resolve(root, suite.data.predictions), None
    from her2map import LockedModel
    from her2map.lock import DEFAULT_RESPONSE_LOCK
    from her2map.predict import predict_cohort

    model = LockedModel.load(lock)
    # the shipped response model goes with the shipped HER2 model (score_pcr); none otherwise
    response = LockedModel.load(DEFAULT_RESPONSE_LOCK) if lock is None else None
    cohort = _resolve(root, suite.data.cohort or "")
    try:
        path = predict_cohort(cohort, out / "predictions.csv", model=model, response=response)
        return path, model.lock_hash
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # nothing ran yet: leave no half-made output
        raise


def _check_inputs(suite: Suite, root: Path) -> None:
    """Usage errors (exit 2) before anything is written; ``is_file`` opens nothing."""
    checks = [("data.labels", suite.data.labels, Path.is_file, "file")]
    if suite.data.predictions is not None:
        checks.append(("data.predictions", suite.data.predictions, Path.is_file, "file"))
    if suite.data.cohort is not None:
        checks.append(("data.cohort", suite.data.cohort, Path.is_dir, "folder"))
    if suite.lock != SHIPPED_LOCK:
        checks.append(("lock", suite.lock, Path.is_file, "file"))
    for key, value, exists, what in checks:
        if not exists(_resolve(root, value)):
            raise SuiteError(
                f"{suite.source or 'suite'}: {key}: no {what} {_resolve(root, value)} (paths of "
                "data, lock and output are relative to the run's root, --root; default: the "
                "current directory)."
            )


def _run_one(
    item: Any, *, labels: Path, ledger: Path, out: Path, predictions: Path, lock: Path | None,
    actor: str, trace_kwargs: dict[str, Any],
) -> ProtocolRun:  # fmt: skip
    ref = item.ref
    try:
        sealed = run_and_seal(
            item.path, labels=labels, ledger=ledger, out_dir=out / ref.id,
            predictions=predictions, lock=lock, actor=actor, **trace_kwargs,
        )  # fmt: skip
    except (HarnessError, Her2MapError) as exc:
        return ProtocolRun(ref.id, ref.version, ref.hash, error=str(exc))
    outcome = read_outcome(sealed.run.results_path)
    return ProtocolRun(
        ref.id,
        ref.version,
        ref.hash,
        outcome=outcome,
        results_sha256=sealed.run.results_sha256,
        dossier=sealed.index_html.relative_to(out).as_posix(),
        dossier_seal=sealed.seal,
    )


def _check_same_predictions(runs: list[ProtocolRun], digest: str) -> None:
    for run in runs:
        if run.outcome is not None and run.outcome.data_sha256.get("predictions") != digest:
            raise SuiteError(
                f"protocol {run.protocol_id} read predictions with sha256 "
                f"{run.outcome.data_sha256.get('predictions')}, not the suite's {digest}; the "
                "predictions table changed during the run. Run the suite again."
            )


def _lock_hash(predicted_by: str | None, outcomes: list[ProtocolOutcome]) -> str | None:
    if predicted_by is not None:
        return predicted_by
    found = sorted({o.model_lock_hash for o in outcomes if o.model_lock_hash is not None})
    return found[0] if len(found) == 1 else None


def run_suite(
    spec: str | Path,
    *,
    ledger: str | Path,
    root: str | Path = ".",
    actor: str = "harness",
    trace: str | Path | None = None,
    tests_dir: str | Path | None = None,
    junit: str | Path | None = None,
    say: Callable[[str], None] = _quiet,
) -> SuiteRun:
    """Run the registered suite ``spec`` (module docstring gives the order); ``say`` receives
    one progress line per step. ``trace``/``tests_dir``/``junit`` go to each dossier's
    traceability matrix as in :func:`validation.pipeline.run_and_seal`.

    Raises
    ------
    SuiteError
        Malformed suite, a protocol that differs from its pin, an existing output folder.
    RegistrationError
        The suite or a protocol is not registered as it is (labels stay unread).
    """
    suite = Suite.from_yaml(spec)
    pinned = resolve_protocols(suite)
    root, ledger_path = Path(root), Path(ledger)
    out = _resolve(root, suite.output)
    if out.exists():
        raise SuiteError(
            f"output folder {out} already exists; a suite run never overwrites one. Remove it, "
            "or run from another --root."
        )
    if not ledger_path.is_file():
        raise RegistrationError(
            f"ledger {ledger_path} does not exist, so suite {suite.id} is not registered; labels "
            f"stay sealed. Register it with `her2map validate suite-register {spec} --ledger "
            f"{ledger_path} --actor NAME`."
        )
    with Ledger.open(ledger_path, create=False) as book:
        verified_before_use(book, what="validate suite")  # verify before use
        ready = require_ready(suite, pinned, book)  # before any prediction or label
        head = book.head()  # the head the registrations were checked at, cited by the summary
    say(
        f"suite {suite.id} {suite.version}: registered; {len(pinned)} protocol(s) registered as pinned"
    )

    _check_inputs(suite, root)
    out.mkdir(parents=True)
    lock = _lock(suite, root)
    predictions, predicted_by = _predict_once(suite, root, out, lock)
    digest = sha256_file(predictions)
    say(f"predictions: {predictions} (sha256 {digest[:16]}...), used by every protocol")

    labels = _resolve(root, suite.data.labels)
    trace_kwargs = {"trace": trace, "tests_dir": tests_dir, "junit": junit}
    runs: list[ProtocolRun] = []
    for i, item in enumerate(pinned, start=1):
        say(f"[{i}/{len(pinned)}] {item.ref.id}: running")
        run = _run_one(
            item, labels=labels, ledger=ledger_path, out=out, predictions=predictions,
            lock=lock, actor=actor, trace_kwargs=trace_kwargs,
        )  # fmt: skip
        say(f"[{i}/{len(pinned)}] {item.ref.id}: " + ("sealed" if run.error is None else "ERROR"))
        runs.append(run)
    outcomes = {r.protocol_id: r.outcome for r in runs if r.outcome is not None}
    _check_same_predictions(runs, digest)

    ids = tuple(p.ref.id for p in pinned)
    gate = evaluate_gate(suite.gate, ids, outcomes)
    with Ledger.open(ledger_path, create=False) as book:
        summary = build_summary(
            suite,
            ready.suite,
            runs,
            gate,
            model_lock_hash=_lock_hash(predicted_by, list(outcomes.values())),
            data_sha256={"predictions": digest, "labels": sha256_file(labels)},
            ledger_head=(head.seq, head.entry_hash),
        )
        files = {
            "summary.json": canonical_json(summary),
            "junit.xml": junit_of_runs(suite.id, runs),
            "index.html": render_page(summary, rationale=suite.rationale),
        }
        summary_dir = out / SUMMARY_DIR
        seal = write_summary(summary_dir, files, summary)
        entry = book.append(
            SUITE_RUN_EVENT,
            {
                "suite_id": suite.id,
                "suite_hash": suite.suite_hash,
                "seal": seal,
                "summary_sha256": sha256_hex(files["summary.json"]),
                "gate_met": gate.met,
                "dossier_seals": {r.protocol_id: r.dossier_seal for r in runs},
            },
            actor=actor,
        )
    say(f"summary: {summary_dir / 'index.html'} (seal {seal[:16]}...)")
    return SuiteRun(out, summary_dir, seal, gate, tuple(runs), predictions, entry)
