"""``reproduce``: re-run the validation that produced a dossier and compare the bytes.

1. :func:`validation.dossier.manifest.verify_dossier` must pass (a tampered dossier is not
   reproduced, it is reported).
2. The ledger's ``validation.run`` entry whose ``results_sha256`` equals the sha256 of the
   dossier's results.json gives the inputs (absolute paths of protocol, predictions, labels,
   cohort, lock). Each input whose hash the entry recorded is re-hashed first, so a changed file is
   named before anything runs.
3. The runner (:func:`validation.runner.run_protocol`) runs again into a temporary directory
   against a SCRATCH COPY of the ledger, truncated to the entries before that run (the copy's
   chain is verified to end at the run's ``prev_hash``). So the re-run sees the ledger state the
   original run saw (its registration, amendments and head) and the real ledger gets nothing:
   no second registration, no second ``validation.run`` entry.
4. The dossier is rebuilt from the new results.json with the trace inputs stored in the dossier
   (``inputs/trace.json``), and every file is compared byte for byte with the original.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json, sha256_file
from validation.dossier.build import write_dossier
from validation.dossier.manifest import dossier_files, verify_dossier
from validation.exceptions import DossierError
from validation.ledger import Entry, Head, Ledger

__all__ = ["ReproduceResult", "compare_dirs", "reproduce_dossier"]

_RUN_EVENT = "validation.run"


@dataclass(frozen=True, slots=True)
class ReproduceResult:
    """Outcome: the run entry used and the files that differ (empty when reproduced)."""

    directory: str
    run_seq: int
    differences: tuple[tuple[str, str], ...]
    n_files: int

    @property
    def ok(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        if self.ok:
            return (
                f"REPRODUCED: {self.n_files} files byte-identical (re-run of ledger entry "
                f"{self.run_seq} against a scratch copy of the ledger)"
            )
        lines = [
            f"NOT REPRODUCED: {len(self.differences)} file(s) differ from the re-run of "
            f"ledger entry {self.run_seq}"
        ]
        return "\n".join(lines + [f"  {name}: {why}" for name, why in self.differences])


def _all_files(root: Path) -> dict[str, Path]:
    names = dossier_files(root) + [n for n in ("MANIFEST.json", "SEAL") if (root / n).exists()]
    return {n: root / n for n in sorted(names)}


def compare_dirs(original: Path, rebuilt: Path) -> list[tuple[str, str]]:
    """Files that differ between two dossier directories, with how (sorted by path)."""
    a, b = _all_files(original), _all_files(rebuilt)
    diffs = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            diffs.append((name, "missing from the rebuilt dossier"))
        elif name not in a:
            diffs.append((name, "only in the rebuilt dossier"))
        else:
            x, y = a[name].read_bytes(), b[name].read_bytes()
            if x != y:
                at = next(
                    (i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q),
                    min(len(x), len(y)),
                )
                diffs.append((name, f"bytes differ from offset {at} (sizes {len(x)} and {len(y)})"))
    return diffs


def _run_entry(ledger: Path, digest: str) -> Entry:
    with Ledger.open(ledger, create=False) as book:
        found = list(book.entries(event_type=_RUN_EVENT, where={"results_sha256": digest}))
    if not found:
        raise DossierError(
            f"ledger {ledger} has no '{_RUN_EVENT}' entry with results_sha256 {digest}: this "
            "dossier's results were not produced by a run recorded in this ledger; pass the "
            "ledger the run was recorded in."
        )
    return found[0]


def _check_inputs(payload: Mapping[str, Any]) -> dict[str, Path | None]:
    inputs = payload.get("inputs")
    if not isinstance(inputs, Mapping) or not inputs.get("protocol") or not inputs.get("labels"):
        raise DossierError(
            f"ledger entry payload has no usable 'inputs' (protocol, labels paths); got {inputs!r}."
        )
    paths = {k: (Path(v) if v else None) for k, v in inputs.items()}
    recorded = {
        "predictions": payload.get("predictions_sha256"),
        "labels": payload.get("labels_sha256"),
    }
    if paths.get("cohort") is not None:
        recorded.pop("predictions")  # predictions are re-made from the cohort
    for key in ("protocol", "labels", "predictions", "cohort", "lock"):
        path = paths.get(key)
        if path is not None and not path.exists():
            raise DossierError(
                f"input {key} {path} recorded by the run no longer exists; restore it to reproduce."
            )
    for key, digest in recorded.items():
        path = paths.get(key)
        if digest and path is not None and sha256_file(path) != digest:
            raise DossierError(
                f"input {key} {path} changed since the run: sha256 {sha256_file(path)}, the "
                f"ledger records {digest}; restore the original file to reproduce."
            )
    return paths


def _scratch_ledger(ledger: Path, entry: Entry, into: Path) -> Path:
    """A copy of ``ledger`` holding only the entries before ``entry`` (verified)."""
    copy = into / "ledger.scratch.db"
    src = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)
        # The copy is scratch: lift its append-only trigger to cut it back to the run's state.
        dst.execute("DROP TRIGGER IF EXISTS entries_no_delete")
        dst.execute("DELETE FROM entries WHERE seq >= ?", (entry.seq,))
        dst.commit()
    finally:
        src.close()
        dst.close()
    with Ledger.open(copy, create=False) as book:
        report = book.verify(expected_head=Head(entry.seq - 1, entry.prev_hash))
    if not report.ok:
        raise DossierError(
            f"ledger {ledger}: the entries before {entry.seq} do not verify ({report.problem}); "
            "run `her2map ledger verify` on it."
        )
    return copy


def reproduce_dossier(directory: str | Path, *, ledger: str | Path) -> ReproduceResult:
    """Re-run the validation behind ``directory`` and compare every file byte for byte."""
    from validation.runner import run_protocol  # the runner is only needed here

    root, ledger = Path(directory), Path(ledger)
    check = verify_dossier(root)
    if not check.ok:
        raise DossierError(f"{root} does not verify, so it is not reproduced:\n{check}")
    digest = sha256_file(root / "results.json")
    entry = _run_entry(ledger, digest)
    paths = _check_inputs(entry.payload)
    trace_path = root / "inputs" / "trace.json"
    trace_inputs = None
    if trace_path.is_file():
        trace_inputs = json.loads(trace_path.read_bytes())
        if canonical_json(trace_inputs) != trace_path.read_bytes():
            raise DossierError(f"{trace_path}: not canonical JSON; the dossier was altered.")
    with tempfile.TemporaryDirectory(prefix="her2map-reproduce-") as tmp:
        work = Path(tmp)
        scratch = _scratch_ledger(ledger, entry, work)
        cohort = paths.get("cohort")
        run = run_protocol(
            paths["protocol"],  # type: ignore[arg-type]
            labels=paths["labels"],  # type: ignore[arg-type]
            ledger=scratch,
            out_dir=work / "run",
            predictions=None if cohort is not None else paths.get("predictions"),
            cohort=cohort,
            lock=paths.get("lock"),
            actor=entry.actor,
        )
        rebuilt = work / "dossier"
        write_dossier(run.results_path.read_bytes(), rebuilt, trace_inputs=trace_inputs)
        diffs = compare_dirs(root, rebuilt)
        if run.results_sha256 != digest and not any(d[0] == "results.json" for d in diffs):
            diffs.append(("results.json", f"re-run results sha256 {run.results_sha256}"))
        n = len(_all_files(rebuilt))
    return ReproduceResult(str(root), entry.seq, tuple(sorted(diffs)), n)
