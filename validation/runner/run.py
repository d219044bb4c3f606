"""Run a pre-registered protocol: registration gate, predictions, sealed labels, results, ledger.

Order of operations (DESIGN.md "Pre-registered means first"):

1. load and validate the protocol; open the ledger; :func:`validation.protocol.require_registered`
   -- an unregistered or silently changed protocol is refused *before any label is read*; an
   amended one runs and each amendment becomes a ``deviation``;
2. predictions: the given table (an external model's, or ours), or produced from ``cohort`` by
   the locked model (``her2map.predict.predict_cohort``, written to ``out_dir/predictions.csv``;
   the model refuses cohorts overlapping its training manifest). With given predictions whose
   ``model_lock`` is the lock's hash (``lock``, or the shipped lock when none is given), the same
   firewall is applied to the predictions' patient ids;
3. the sealed labels table -- only now;
4. join, population, participant flow (:mod:`.flow`);
5. endpoints, subgroups, comparisons, sections; verdicts and multiplicity (:mod:`.analysis`,
   :mod:`.sections`, :mod:`.verdicts`);
6. ``out_dir/results.json`` written atomically as RFC 8785 canonical JSON (same inputs and ledger
   state, same bytes: REQ-REPRO-001);
7. a ``validation.run`` ledger entry with the hashes of protocol, predictions, labels, results and
   the input paths (absolute; the dossier's ``reproduce`` uses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.atomic import atomic_write
from validation.canonical import canonical_json, sha256_hex
from validation.exceptions import LedgerError, RegistrationError, RunError
from validation.ledger import Entry, Head, Ledger, verified_before_use
from validation.protocol import Protocol, RegistrationStatus, require_registered
from validation.runner.analysis import (
    Analysed,
    compute_comparison,
    compute_endpoint,
    compute_subgroup,
)
from validation.runner.flow import build_flow
from validation.runner.identity import identity
from validation.runner.sections import (
    calibration_section,
    confusion_section,
    diagnostic_section,
    discrimination_section,
    error_analysis_section,
    sections_asked,
)
from validation.runner.tables import Table, read_labels, read_predictions
from validation.runner.verdicts import apply_multiplicity
from validation.serialize import to_jsonable

__all__ = ["RUN_EVENT", "SCHEMA", "RunResult", "run_protocol"]

SCHEMA = "her2map.results/1"
RUN_EVENT = "validation.run"


@dataclass(frozen=True, slots=True)
class RunResult:
    """Where the results went, the ledger entry recording the run, and each verdict by id."""

    results_path: Path
    ledger_entry: Entry
    verdicts: dict[str, str]
    results_sha256: str


def _load_model(lock: Path | None, required: bool) -> Any:
    """The LockedModel of ``lock`` (or the shipped lock); None when absent and not required."""
    from her2map import LockedModel
    from her2map.exceptions import LockError

    try:
        return LockedModel.load(lock)
    except LockError:
        if required or lock is not None:
            raise
        return None


def _model_identity(model: Any) -> dict[str, Any]:
    return {
        "name": model.name,
        "version": model.version,
        "lock_hash": model.lock_hash,
        "threshold": model.threshold,
    }


def _predictions(
    predictions: Path | None, cohort: Path | None, lock: Path | None, out_dir: Path
) -> tuple[Table, Any]:
    """(validated predictions table, LockedModel or None) -- step 2 of the module docstring."""
    if (predictions is None) == (cohort is None):
        raise RunError("give exactly one of --predictions FILE or --cohort DIR.")
    if cohort is not None:
        from her2map.predict import predict_cohort

        model = _load_model(lock, required=True)
        path = predict_cohort(cohort, out_dir / "predictions.csv", model=model, progress=False)
        return read_predictions(path), model
    table = read_predictions(predictions) if predictions is not None else _never()
    model = _load_model(lock, required=False) if (lock or table.model_lock) else None
    if model is not None and table.model_lock is not None and table.model_lock != model.lock_hash:
        if lock is not None:
            raise RunError(
                f"predictions table {predictions}: column 'model_lock' is {table.model_lock[:16]}..., "
                f"but --lock {lock} has hash {model.lock_hash[:16]}...; give the lock that made "
                "these predictions, or leave --lock out for an external model."
            )
        model = None  # made by another model than the shipped one: an external model
    if model is not None:
        ids = set(table.frame["patient_id"]) | {p.patient_id for p in table.problems}
        model.check_firewall(ids, source=f"predictions {predictions}")
    return table, model


def _never() -> Table:
    raise RunError("give exactly one of --predictions FILE or --cohort DIR.")


def _threshold(protocol: Protocol, model: Any, table: Table) -> tuple[float, str]:
    if protocol.operating_point.threshold is not None:
        return float(protocol.operating_point.threshold), "protocol"
    if model is None:
        raise RunError(
            f"protocol {protocol.id} takes its decision threshold from the model lock "
            "(operating_point.threshold: lock), but no lock matches the predictions "
            f"(model_lock {table.model_lock!r}); pass --lock PATH of the model that made them, "
            "or amend the protocol with a numeric threshold for an external model."
        )
    return float(model.threshold), "lock"


def run_protocol(
    protocol_path: str | Path,
    *,
    labels: str | Path,
    ledger: str | Path,
    out_dir: str | Path,
    predictions: str | Path | None = None,
    cohort: str | Path | None = None,
    lock: str | Path | None = None,
    actor: str = "harness",
    ledger_head: Head | None = None,
) -> RunResult:
    """Run the registered protocol at ``protocol_path`` (module docstring gives the order).

    ``ledger_head`` (for re-running a recorded run, e.g. the dossier's ``reproduce``): stamp this
    earlier head of ``ledger`` into ``identity.ledger`` instead of the current one -- the head the
    original run recorded -- so that the re-run can give the same bytes. It must be an entry of this
    ledger at or after the protocol's registration and amendments (:class:`RunError` otherwise).

    Raises
    ------
    RegistrationError
        The protocol is not registered in ``ledger``, or changed since registration without an
        amendment (labels stay unread).
    RunError
        Bad predictions/labels table, threshold unavailable, no predictions source.
    her2map.exceptions.FirewallError, LockError
        Test-set firewall or lock verification refused the model/cohort.
    """
    protocol_path = Path(protocol_path)
    labels_path, ledger_path, out = Path(labels), Path(ledger), Path(out_dir)
    protocol = Protocol.from_yaml(protocol_path)
    if not ledger_path.is_file():
        raise RegistrationError(
            f"ledger {ledger_path} does not exist, so protocol {protocol.id} version "
            f"{protocol.version} is not registered; labels stay sealed. Register it with "
            f"`her2map protocol register {protocol_path} --ledger {ledger_path} --actor NAME`."
        )
    with Ledger.open(ledger_path, create=False) as book:
        verified_before_use(book, what="validate run")  # verify before use (issue 12)
        registration = require_registered(protocol, book)  # before any label is read
        head = (
            book.head() if ledger_head is None else _earlier_head(book, ledger_head, registration)
        )
        out.mkdir(parents=True, exist_ok=True)
        pred_path = None if predictions is None else Path(predictions)
        cohort_path = None if cohort is None else Path(cohort)
        lock_path = None if lock is None else Path(lock)
        pred, model = _predictions(pred_path, cohort_path, lock_path, out)
        threshold, source = _threshold(protocol, model, pred)
        lab = read_labels(labels_path)  # the sealed labels: only now
        results = _results(
            protocol, protocol_path, registration, book, head, pred, lab, model, threshold, source
        )
        data = canonical_json(results)
        results_path = out / "results.json"
        atomic_write(results_path, data)
        digest = sha256_hex(data)
        payload = {
            "protocol_id": protocol.id,
            "protocol_hash": protocol.protocol_hash,
            "results_sha256": digest,
            "model_lock": None if model is None else model.lock_hash,
            "predictions_sha256": pred.sha256,
            "labels_sha256": lab.sha256,
            "inputs": {
                "protocol": str(protocol_path.resolve()),
                "predictions": str(Path(pred.path).resolve()),
                "labels": str(labels_path.resolve()),
                "cohort": None if cohort_path is None else str(cohort_path.resolve()),
                "lock": None if lock_path is None else str(lock_path.resolve()),
            },
            "out_dir": str(out.resolve()),
        }
        if model is None and pred.model_lock is not None:
            payload["model_lock"] = pred.model_lock
        entry = book.append(RUN_EVENT, payload, actor=actor)
    verdicts = {e["id"]: e["verdict"] for e in results["endpoints"]}
    for comparison in results["comparisons"]:
        verdicts.update({v["id"]: v["verdict"] for v in comparison["verdicts"]})
    return RunResult(results_path, entry, verdicts, digest)


def _earlier_head(book: Ledger, head: Head, registration: RegistrationStatus) -> Head:
    """Check that ``head`` is an entry of ``book`` that already held the registration in force."""
    try:
        found = book.entry(head.seq).entry_hash
    except LedgerError:
        found = None
    if found != head.entry_hash:
        raise RunError(
            f"ledger {book.path}: entry {head.seq} has hash {found!r}, not {head.entry_hash!r}; "
            "give a head that this ledger holds (seq and entry hash of an earlier run's identity)."
        )
    last = max([registration.registration_seq or 0, *(a.seq for a in registration.amendments)])
    if head.seq < last:
        raise RunError(
            f"ledger head {head.seq} is older than the registration/amendment in force (seq {last}); "
            "the protocol was not registered as it is now at that head."
        )
    return head


def _clusters(data: Analysed, column: str | None) -> Any:
    if column is None:
        return None
    if column not in data.table.columns:
        raise RunError(
            f"protocol bootstrap.cluster names column {column!r}, which the analysed table lacks "
            f"(columns: {', '.join(map(str, data.table.columns))}); fix the protocol by amendment."
        )
    return data.table[column].astype("string").fillna("missing").to_numpy(dtype=object)


def _results(
    protocol: Protocol,
    protocol_path: Path,
    registration: RegistrationStatus,
    book: Ledger,
    head: Head,
    pred: Table,
    lab: Table,
    model: Any,
    threshold: float,
    source: str,
) -> dict[str, Any]:
    """Steps 4-5: flow, analyses, verdicts -> the results.json object (JSON-ready)."""
    reference = protocol.reference_standard
    conf = protocol.confidence
    flow = build_flow(pred, lab, protocol.population, reference=reference)
    data = Analysed.from_table(
        flow.analysed, reference=reference, threshold=threshold, confidence=conf
    )
    if model is not None:
        model_id = _model_identity(model)
    else:
        model_id = {
            "name": "external",
            "version": None,
            "lock_hash": pred.model_lock,
            "threshold": threshold,
        }

    endpoints, judged = [], []
    for endpoint in protocol.endpoints:
        result, j = compute_endpoint(endpoint, data)
        endpoints.append((endpoint, result))
        judged.append(j)
    comparisons = []
    for spec in protocol.comparisons:
        body, j = compute_comparison(spec, data)
        comparisons.append(body)
        judged.append(j)
    final = apply_multiplicity(judged, confidence=conf)
    for body in comparisons:
        j = final[body["id"]]
        body["verdicts"] = [
            {
                "id": j.id,
                "criterion": None if j.criterion is None else str(j.criterion),
                "verdict": j.verdict,
                "reason": j.reason,
                "hierarchy": j.hierarchy,
                "family": j.family,
                "multiplicity": j.multiplicity(),
            }
        ]

    asked = sections_asked(protocol)
    y, s = data.y, data.score
    estimable = len(y) > 0
    bootstrap = protocol.bootstrap
    return {
        "schema": SCHEMA,
        "identity": identity(
            protocol,
            protocol_path,
            registration,
            book,
            head,
            model=model_id,
            predictions=pred,
            labels=lab,
        ),
        "settings": {
            "confidence": conf,
            "threshold": threshold,
            "threshold_source": source,
            "reference": reference,
            "unit": protocol.analysis_unit.value,
            "bootstrap": {
                "replicates": bootstrap.replicates,
                "seed": bootstrap.seed,
                "cluster": bootstrap.cluster,
            },
        },
        "flow": flow.as_dict,
        "endpoints": [
            {
                "id": e.id,
                "metric": e.metric,
                "description": e.description,
                "params": to_jsonable(e.params_dict),
                "result": to_jsonable(result),
                "criterion": str(e.criterion),
                "verdict": final[e.id].verdict,
                "reason": final[e.id].reason,
                "hierarchy": e.hierarchy,
                "family": e.family,
                "multiplicity": final[e.id].multiplicity(),
            }
            for e, result in endpoints
        ],
        "confusion": confusion_section(y, s, threshold)
        if "diagnostic" in asked and estimable
        else None,
        "diagnostic": diagnostic_section(y, s, threshold, conf)
        if "diagnostic" in asked and estimable
        else None,
        "discrimination": discrimination_section(
            y,
            s,
            threshold,
            confidence=conf,
            replicates=bootstrap.replicates,
            seed=bootstrap.seed,
            clusters=_clusters(data, bootstrap.cluster),
        )
        if "discrimination" in asked and estimable
        else None,
        "calibration": calibration_section(y, s, conf)
        if "calibration" in asked and estimable
        else None,
        "error_analysis": error_analysis_section(
            protocol, y, s, data.ids, data.column("biopsy_her2"), threshold, conf
        )
        if "error_analysis" in asked and estimable
        else None,
        "subgroups": [compute_subgroup(sub, data) for sub in protocol.subgroups],
        "comparisons": comparisons,
        "deviations": [
            {
                "kind": "amendment",
                "seq": a.seq,
                "reason": a.reason,
                "protocol_hash": a.protocol_hash,
                "previous_hash": a.previous_hash,
            }
            for a in registration.amendments
        ],
    }
