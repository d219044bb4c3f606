"""``reproduce``: re-run a sealed dossier from itself and compare every byte.

This module sits ABOVE the runner and the dossier (DESIGN.md: they meet only in the typed results
contract; re-running lives above both). A dossier carries what its run read
(:mod:`validation.dossier.build`): the protocol file, the predictions and labels tables
(``inputs/``), the trace inputs (``inputs/trace.json``) and the run's provenance
(``provenance.json``). So a reviewer needs the dossier folder alone, on any machine:

1. :func:`validation.dossier.verify_dossier` must pass (a tampered dossier is not reproduced, it is
   reported);
2. the carried protocol's canonical hash and the tables' sha256 must equal what results.json
   records (they do, or the seal would not verify; checked again, naming the file);
3. :func:`validation.runner.compute_results` -- the runner's pure function -- runs on the carried
   inputs, with the facts results.json records but does not compute: the protocol's registration
   record (ledger entries), the model identity and the decision threshold with its origin. The
   model's inference is not re-run: its predictions table is the sealed input. The software
   versions are this machine's (a different version is a difference, and is reported);
4. the dossier is rebuilt from the new results with the original's carried files (inputs,
   provenance) and every file is compared byte for byte.

With ``ledger``, the run entry recorded in ``provenance.json`` must also be in that ledger with the
same entry hash and must have produced the dossier's results.json
(:func:`validation.dossier.binding.run_problem`: a rewritten ledger or a foreign dossier is named).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from validation.canonical import canonical_json, sha256_file, sha256_hex
from validation.dossier import PROVENANCE_NAME, compare_dirs, verify_dossier, write_dossier
from validation.dossier.binding import run_problem
from validation.dossier.build import INPUTS_DIR
from validation.dossier.compare import all_files
from validation.exceptions import DossierError, LedgerError, ProtocolError
from validation.ledger import Ledger, verify_before_use
from validation.protocol import Protocol
from validation.results import Results, dumps, loads
from validation.runner import compute_results, read_labels, read_predictions
from validation.runner.identity import software_versions

__all__ = ["ReproduceResult", "reproduce_dossier"]


@dataclass(frozen=True, slots=True)
class ReproduceResult:
    """Outcome: the files that differ (empty when reproduced) and how many were compared."""

    directory: str
    differences: tuple[tuple[str, str], ...]
    n_files: int

    @property
    def ok(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        if self.ok:
            return (
                f"REPRODUCED: {self.n_files} files byte-identical (re-run from the inputs carried "
                "in the dossier)"
            )
        lines = [f"NOT REPRODUCED: {len(self.differences)} file(s) differ from the re-run"]
        return "\n".join(lines + [f"  {name}: {why}" for name, why in self.differences])


def _carried(root: Path) -> dict[str, bytes]:
    return {
        rel: path.read_bytes()
        for rel, path in all_files(root).items()
        if rel == PROVENANCE_NAME or rel.startswith(f"{INPUTS_DIR}/")
        if rel != f"{INPUTS_DIR}/trace.json"
    }


def _one(root: Path, folder: str, name: str | None = None) -> Path:
    where = root / INPUTS_DIR / folder
    found = sorted(where.glob(name or "*")) if where.is_dir() else []
    if len(found) != 1:
        raise DossierError(
            f"{root}: the dossier carries no single {folder} input under {INPUTS_DIR}/{folder}/ "
            f"(found {len(found)}); it was built without its run's inputs (build it with "
            "`her2map validate run`, or pass the inputs to build_dossier) and cannot re-run alone."
        )
    return found[0]


def _check_ledger(root: Path, ledger: Path, original: bytes, results: Results) -> None:
    path = root / PROVENANCE_NAME
    if not path.is_file():
        raise DossierError(f"{root}: no {PROVENANCE_NAME}; the run's ledger entry is unknown.")
    run = json.loads(path.read_bytes())["run_entry"]
    verify_before_use(ledger, what="dossier reproduce")  # the chain first, then the entry
    found: str | None
    problem: str | None
    try:
        with Ledger.open(ledger, create=False) as book:
            found = book.entry(int(run["seq"])).entry_hash
            problem = run_problem(book, run["seq"], found, results, sha256_hex(original))
    except LedgerError:
        found = problem = None
    if found != run["entry_hash"]:
        raise DossierError(
            f"ledger {ledger}: entry {run['seq']} has hash {found!r}, but {PROVENANCE_NAME} "
            f"records {run['entry_hash']!r}; this dossier's run is not recorded in that ledger."
        )
    if problem is not None:
        raise DossierError(
            f"ledger {ledger}: the run {PROVENANCE_NAME} names did not produce this dossier's "
            f"results.json: {problem}."
        )


def recompute(root: Path, results: Results) -> bytes:
    """results.json bytes re-computed from the inputs the dossier at ``root`` carries."""
    ident = results.identity
    protocol_path = _one(root, "protocol", ident.protocol.file_name)
    pred_path = _one(root, "predictions", ident.data.predictions.name)
    labels_path = _one(root, "labels", ident.data.labels.name)
    try:
        protocol = Protocol.from_yaml(protocol_path)
    except ProtocolError as exc:
        raise DossierError(f"carried protocol: {exc}") from None
    if protocol.protocol_hash != ident.protocol.hash:
        raise DossierError(
            f"{protocol_path}: canonical hash {protocol.protocol_hash}, results.json records "
            f"{ident.protocol.hash}; the dossier's inputs were altered."
        )
    for path, digest in (
        (pred_path, ident.data.predictions.sha256),
        (labels_path, ident.data.labels.sha256),
    ):
        if sha256_file(path) != digest:
            raise DossierError(
                f"{path}: sha256 {sha256_file(path)}, results.json records {digest}; the "
                "dossier's inputs were altered."
            )
    again = compute_results(
        protocol,
        ident.protocol.file_name,
        (ident.protocol.registration, ident.protocol.amendments),
        read_predictions(pred_path),
        read_labels(labels_path),
        model=ident.model,
        threshold=results.settings.threshold,
        threshold_source=results.settings.threshold_source,
        software=software_versions(),
    )
    return dumps(again)


def reproduce_dossier(
    directory: str | Path, *, ledger: str | Path | None = None
) -> ReproduceResult:
    """Re-run the validation behind ``directory`` from its carried inputs; compare every file."""
    root = Path(directory)
    check = verify_dossier(root)
    if not check.ok:
        raise DossierError(f"{root} does not verify, so it is not reproduced:\n{check}")
    original = (root / "results.json").read_bytes()
    results = loads(original, source=str(root / "results.json"))
    if ledger is not None:
        _check_ledger(root, Path(ledger), original, results)
    trace_path = root / INPUTS_DIR / "trace.json"
    trace_inputs = None
    if trace_path.is_file():
        trace_inputs = json.loads(trace_path.read_bytes())
        if canonical_json(trace_inputs) != trace_path.read_bytes():
            raise DossierError(f"{trace_path}: not canonical JSON; the dossier was altered.")
    data = recompute(root, results)
    with tempfile.TemporaryDirectory(prefix="her2map-reproduce-") as tmp:
        rebuilt = Path(tmp) / "dossier"
        write_dossier(data, rebuilt, trace_inputs=trace_inputs, carried=_carried(root))
        diffs = compare_dirs(root, rebuilt)
        n = len(all_files(rebuilt))
    return ReproduceResult(str(root), tuple(diffs), n)
