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
4. :func:`compute_results`, a pure function of the protocol (and its registration record), the two
   tables, the model identity and the software versions: join, population, participant flow
   (:mod:`.flow`), endpoints, subgroups, comparisons, sections, verdicts and multiplicity
   (:mod:`.analysis`, :mod:`.sections`, :mod:`.verdicts`), the summary (:mod:`.summary`);
5. ``out_dir/results.json`` written atomically as canonical JSON of the typed contract
   (:func:`validation.results.dumps`; no ledger head, no path, no clock: the same inputs give the
   same bytes whatever else the ledger holds, REQ-REPRO-001);
6. a ``validation.run`` ledger entry with the hashes of protocol, predictions, labels and results
   and the input file names. The ledger head before the run and this entry are the run's
   *provenance* (:class:`RunResult`), which the dossier seals in a file of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.atomic import atomic_write
from validation.canonical import sha256_hex
from validation.exceptions import RegistrationError, RunError
from validation.ledger import Entry, Head, Ledger, verified_before_use
from validation.protocol import Protocol, require_registered
from validation.results import (
    FORMAT,
    BootstrapSettings,
    Comparison,
    Deviation,
    Endpoint,
    ModelIdentity,
    Results,
    Settings,
    Software,
    dumps,
)
from validation.runner.analysis import (
    Analysed,
    compute_comparison,
    compute_endpoint,
    compute_subgroup,
)
from validation.runner.convert import stat_value
from validation.runner.flow import build_flow
from validation.runner.identity import (
    RegistrationRecord,
    identity,
    registration_record,
    software_versions,
)
from validation.runner.interim import interim_decision
from validation.runner.planned import sample_size_section
from validation.runner.sections import (
    calibration_section,
    confusion_section,
    diagnostic_section,
    discrimination_section,
    error_analysis_section,
    sections_asked,
)
from validation.runner.summary import summarize
from validation.runner.tables import Table, beside_predictions, read_labels, read_predictions
from validation.runner.verdicts import apply_multiplicity, one_sided_alpha

__all__ = [
    "RUN_EVENT",
    "SCHEMA",
    "RunInputs",
    "RunResult",
    "compute_results",
    "model_identity",
    "run_protocol",
]

#: The results format this runner writes (:data:`validation.results.FORMAT`).
SCHEMA = FORMAT
RUN_EVENT = "validation.run"


@dataclass(frozen=True, slots=True)
class RunInputs:
    """The files a run read: protocol, predictions table (with ``her2map predict``'s exclusions
    and provenance files beside it, if any: :func:`~validation.runner.tables.beside_predictions`)
    and labels table -- what a dossier carries to be re-run alone."""

    protocol: Path
    predictions: Path
    labels: Path
    predictions_exclusions: Path | None
    predictions_provenance: Path | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """Where the results went, the typed results, each verdict by id, the results hash, and the
    run's provenance: the ledger head before the run and the ``validation.run`` entry."""

    results_path: Path
    ledger_entry: Entry
    verdicts: dict[str, str]
    results_sha256: str
    results: Results
    head_before: Head
    inputs: RunInputs


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


def model_identity(model: Any, table: Table) -> ModelIdentity:
    """The contract's model identity: the verified lock's, or an external model's (the
    predictions table's ``model_lock`` as stated, not verified)."""
    if model is not None:
        return ModelIdentity(
            "locked", str(model.name), str(model.version), str(model.lock_hash),
            float(model.threshold), table.response_lock,
        )  # fmt: skip
    return ModelIdentity("external", "external", None, table.model_lock, None, table.response_lock)


def _predictions(
    predictions: Path | None,
    cohort: Path | None,
    lock: Path | None,
    out_dir: Path,
    device: str | None = None,
) -> tuple[Table, Any]:
    """(validated predictions table, LockedModel or None) -- step 2 of the module docstring."""
    if (predictions is None) == (cohort is None):
        raise RunError("give exactly one of --predictions FILE or --cohort DIR.")
    if device is not None and cohort is None:
        raise RunError(
            f"--device {device}: the device is where the locked model scores a --cohort; with "
            "--predictions nothing is scored (the table's provenance file records its device). "
            "Leave --device out."
        )
    if cohort is not None:
        from her2map.lock import DEFAULT_RESPONSE_LOCK
        from her2map.predict import predict_cohort

        model = _load_model(lock, required=True)
        # the shipped response model goes with the shipped HER2 model (score_pcr); none otherwise
        response = _load_model(DEFAULT_RESPONSE_LOCK, required=True) if lock is None else None
        path = predict_cohort(
            cohort, out_dir / "predictions.csv", model=model, response=response, progress=False,
            device="cpu" if device is None else device,
        )  # fmt: skip
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
    device: str | None = None,
) -> RunResult:
    """Run the registered protocol at ``protocol_path`` (module docstring gives the order).

    ``device`` is where the locked model scores ``cohort`` (``her2map.device.resolve_device``;
    None: the CPU); it is refused with ``predictions`` (nothing is scored). The device used is
    recorded in ``out_dir/predictions.provenance.json``, carried by the dossier.

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
        record = registration_record(registration, book)
        head = book.head()
        out.mkdir(parents=True, exist_ok=True)
        pred_path = None if predictions is None else Path(predictions)
        cohort_path = None if cohort is None else Path(cohort)
        lock_path = None if lock is None else Path(lock)
        pred, model = _predictions(pred_path, cohort_path, lock_path, out, device)
        exclusions, provenance = beside_predictions(pred.path)  # verified before any write
        threshold, source = _threshold(protocol, model, pred)
        lab = read_labels(labels_path)  # the sealed labels: only now
        results = compute_results(
            protocol,
            protocol_path.name,
            record,
            pred,
            lab,
            model=model_identity(model, pred),
            threshold=threshold,
            threshold_source=source,
            software=software_versions(),
        )
        data = dumps(results)
        results_path = out / "results.json"
        atomic_write(results_path, data)
        digest = sha256_hex(data)
        payload = {
            "protocol_id": protocol.id,
            "protocol_hash": protocol.protocol_hash,
            "results_sha256": digest,
            "model_lock": results.identity.model.lock_hash,
            "predictions_sha256": pred.sha256,
            "labels_sha256": lab.sha256,
            "inputs": {
                "protocol": protocol_path.name,
                "predictions": Path(pred.path).name,
                "labels": labels_path.name,
                "cohort": None if cohort_path is None else cohort_path.name,
                "lock": None if lock_path is None else lock_path.name,
            },
        }
        entry = book.append(RUN_EVENT, payload, actor=actor)
    inputs = RunInputs(protocol_path, Path(pred.path), labels_path, exclusions, provenance)
    return RunResult(results_path, entry, results.verdicts(), digest, results, head, inputs)


def _outcome(data: Analysed, spec: Any) -> Any:
    """A comparison's outcome over the patients it analyses (all three columns present)."""
    import numpy as np

    comparator, score = data.column(spec.comparator), data.column(spec.score)
    outcome = data.y if spec.outcome is None else data.column(spec.outcome)
    if outcome is None or comparator is None or score is None:
        return np.array([])
    return outcome[~(np.isnan(outcome) | np.isnan(comparator) | np.isnan(score))]


def _clusters(data: Analysed, column: str | None) -> Any:
    if column is None:
        return None
    if column not in data.table.columns:
        raise RunError(
            f"protocol bootstrap.cluster names column {column!r}, which the analysed table lacks "
            f"(columns: {', '.join(map(str, data.table.columns))}); fix the protocol by amendment."
        )
    return data.table[column].astype("string").fillna("missing").to_numpy(dtype=object)


def compute_results(
    protocol: Protocol,
    protocol_file_name: str,
    record: RegistrationRecord,
    pred: Table,
    lab: Table,
    *,
    model: ModelIdentity,
    threshold: float,
    threshold_source: str,
    software: tuple[Software, ...],
) -> Results:
    """Everything the run computes, as a pure function of its arguments (no ledger, no clock).

    ``record`` is the protocol's registration record (:func:`.identity.registration_record`);
    ``threshold_source`` is ``"lock"`` or ``"protocol"``.
    """
    reference = protocol.reference_standard.column
    conf = protocol.confidence
    alpha = one_sided_alpha(conf)
    flow = build_flow(pred, lab, protocol.population, reference=reference)
    data = Analysed.from_table(
        flow.analysed, reference=reference, threshold=threshold, confidence=conf
    )

    raw_endpoints, judged = [], []
    for endpoint in protocol.endpoints:
        result, j = compute_endpoint(endpoint, data)
        raw_endpoints.append((endpoint, result))
        judged.append(j)
    raw_comparisons = []
    for spec in protocol.comparisons:
        body, j = compute_comparison(spec, data)
        raw_comparisons.append(body)
        judged.append(j)
    final = apply_multiplicity(judged, confidence=conf)
    endpoints = tuple(
        Endpoint(
            e.id,
            e.description,
            e.metric,
            dict(e.params_dict),
            stat_value(result),
            final[e.id].judgement(alpha=alpha),
        )
        for e, result in raw_endpoints
    )
    comparisons = tuple(
        Comparison(**body, judgement=final[body["id"]].judgement(alpha=alpha))
        for body in raw_comparisons
    )
    subgroups = tuple(compute_subgroup(sub, data) for sub in protocol.subgroups)
    analyses = [(e.id, e.description or e.metric, e.judgement) for e in endpoints]
    analyses += [(c.id, c.description or c.method, c.judgement) for c in comparisons]
    summary = summarize(
        analyses,
        [s.id for s in subgroups],
        protocol_id=protocol.id,
        confidence=conf,
        interim=interim_decision(protocol, {a[0]: a[2] for a in analyses}),
    )

    asked = sections_asked(protocol)
    y, s = data.y, data.score
    estimable = len(y) > 0
    bootstrap = protocol.bootstrap
    amendments = record[1]
    return Results(
        FORMAT,
        identity(
            protocol,
            protocol_file_name,
            record,
            model=model,
            predictions=pred,
            labels=lab,
            software=software,
        ),
        Settings(
            conf,
            alpha,
            threshold,
            threshold_source,  # type: ignore[arg-type]
            reference,
            protocol.analysis_unit.value,
            BootstrapSettings(
                bootstrap.replicates, bootstrap.seed, bootstrap.cluster, bootstrap.method
            ),
        ),
        summary,
        flow.flow,
        endpoints,
        confusion_section(y, s, threshold) if "diagnostic" in asked and estimable else None,
        diagnostic_section(y, s, threshold, conf) if "diagnostic" in asked and estimable else None,
        discrimination_section(
            y,
            s,
            threshold,
            confidence=conf,
            replicates=bootstrap.replicates,
            seed=bootstrap.seed,
            clusters=_clusters(data, bootstrap.cluster),
            method=bootstrap.method,
        )
        if "discrimination" in asked and estimable
        else None,
        calibration_section(y, s, conf) if "calibration" in asked and estimable else None,
        error_analysis_section(
            protocol, y, s, data.ids, data.column("biopsy_her2"), threshold, conf
        )
        if "error_analysis" in asked and estimable
        else None,
        subgroups,
        comparisons,
        tuple(
            Deviation("amendment", a.seq, a.entry_hash, a.reason, a.protocol_hash, a.previous_hash)
            for a in amendments
        ),
        sample_size_section(
            protocol,
            endpoints,
            comparisons,
            y,
            {spec.id: _outcome(data, spec) for spec in protocol.comparisons if spec.planning},
        ),
    )
