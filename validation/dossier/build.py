"""Build a dossier directory: render, carry the sealed inputs and provenance, write atomically,
manifest, seal, ledger entry.

Besides what :func:`~validation.dossier.render.render_dossier` renders, a dossier carries, byte for
byte, so that it can be re-run from itself (:mod:`validation.reproduce`):

* ``inputs/protocol/<file>``, ``inputs/predictions/<file>`` (with ``her2map predict``'s
  ``<stem>.exclusions.csv`` beside it, if the run had one) and ``inputs/labels/<file>`` -- the
  files the run read, each checked against the hash the results record before it is copied;
* ``provenance.json`` -- the run's provenance from the ledger: the ledger head just before the run
  and the run's ``validation.run`` entry (:data:`PROVENANCE_FORMAT`), bound to results.json by
  :mod:`validation.dossier.binding`. results.json holds no ledger state; this file does, and the
  seal covers it through the manifest.

With a ledger, a dossier is built only for results that a recorded ``validation.run`` produced
(:func:`~validation.dossier.binding.bind_run`; a results.json edited after its run, or never run,
is refused before anything is written), and its seal is then appended as ``dossier.sealed``.
Without a ledger nothing can be checked: the dossier carries no ``provenance.json``, nothing is
recorded, and its page says so (the identity section) instead of claiming a ledger record.

The directory is written as a hidden sibling (``.<name>.XXXX.partial``), every file fsynced,
MANIFEST.json and SEAL written last, then renamed into place, so a crash leaves either the whole
dossier or none under the target name. An existing dossier is refused unless ``force=True``; then
the old directory is first renamed aside (``.<name>.old-XXXX``), the new one renamed into place and
the old one removed (a crash between the two renames leaves the old dossier intact under its
hidden name and no half-written one).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.atomic import building_folder, fsync_dir, write_synced
from validation.canonical import sha256_file, sha256_hex
from validation.dossier.binding import (
    PROVENANCE_FORMAT,
    PROVENANCE_NAME,
    RUN_EVENT,
    SEALED_EVENT,
    RunBinding,
    bind_run,
    provenance_bytes,
)
from validation.dossier.manifest import MANIFEST_NAME, SEAL_NAME, make_manifest, seal_of
from validation.dossier.render import parse_results, render_dossier
from validation.dossier.trace import load_trace_inputs
from validation.exceptions import DossierError, ProtocolError
from validation.ledger import Entry, Ledger, is_postgres, verified_before_use
from validation.protocol import Protocol
from validation.results import Results

__all__ = [
    "INPUTS_DIR",
    "PROVENANCE_FORMAT",
    "PROVENANCE_NAME",
    "RUN_EVENT",
    "SEALED_EVENT",
    "BuildResult",
    "DossierInputs",
    "RunBinding",
    "bind_run",
    "build_dossier",
    "carried_inputs",
    "provenance_bytes",
    "sealed_entries",
    "write_dossier",
]

INPUTS_DIR = "inputs"


@dataclass(frozen=True, slots=True)
class DossierInputs:
    """The files a run read, to be carried in the dossier (``predictions_exclusions`` and
    ``predictions_provenance``, the files ``her2map predict`` writes beside the table, optional:
    the provenance records the device that scored)."""

    protocol: Path
    predictions: Path
    labels: Path
    predictions_exclusions: Path | None = None
    predictions_provenance: Path | None = None


def carried_inputs(inputs: DossierInputs, results: Results) -> dict[str, bytes]:
    """``{dossier path: bytes}`` of the run's input files, each checked first against the hash
    results.json records (tables: sha256 of the bytes; protocol: its canonical hash)."""
    ident = results.identity
    checks = (
        ("predictions", inputs.predictions, ident.data.predictions.sha256),
        ("labels", inputs.labels, ident.data.labels.sha256),
    )
    for name, path, digest in checks:
        if not Path(path).is_file() or sha256_file(path) != digest:
            raise DossierError(
                f"input {name} {path}: missing or sha256 differs from {digest} recorded in the "
                "results; pass the file the run read."
            )
    try:
        protocol_hash = Protocol.from_yaml(inputs.protocol).protocol_hash
    except ProtocolError as exc:
        raise DossierError(f"input protocol: {exc}") from None
    if protocol_hash != ident.protocol.hash:
        raise DossierError(
            f"input protocol {inputs.protocol}: canonical hash {protocol_hash}, the results record "
            f"{ident.protocol.hash}; pass the protocol file the run read."
        )
    files = {
        f"{INPUTS_DIR}/protocol/{Path(inputs.protocol).name}": Path(inputs.protocol).read_bytes(),
        f"{INPUTS_DIR}/predictions/{Path(inputs.predictions).name}": Path(
            inputs.predictions
        ).read_bytes(),
        f"{INPUTS_DIR}/labels/{Path(inputs.labels).name}": Path(inputs.labels).read_bytes(),
    }
    for beside in (inputs.predictions_exclusions, inputs.predictions_provenance):
        if beside is not None:
            extra = Path(beside)
            files[f"{INPUTS_DIR}/predictions/{extra.name}"] = extra.read_bytes()
    return files


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Where the dossier went, its seal, the results hash, its ``dossier.sealed`` entry and the
    recorded run it is bound to (both None when built without a ledger)."""

    directory: Path
    seal: str
    results_sha256: str
    n_files: int
    ledger_entry: Entry | None
    run: RunBinding | None = None


def _manifest_inputs(files: Mapping[str, bytes], trace_inputs: Mapping[str, Any] | None) -> dict:
    return {
        "junit_sha256": (trace_inputs or {}).get("junit_sha256"),
        "results_sha256": sha256_hex(files["results.json"]),
        "traceability_sha256": (trace_inputs or {}).get("traceability_sha256"),
    }


def write_dossier(
    results_bytes: bytes,
    out: str | Path,
    *,
    trace_inputs: Mapping[str, Any] | None = None,
    carried: Mapping[str, bytes] | None = None,
    force: bool = False,
    templates: str | Path | None = None,
) -> tuple[str, int]:
    """Render and atomically write a dossier to ``out`` with the ``carried`` files (inputs,
    provenance; module docstring) beside the rendered ones; returns ``(seal, number of files)``."""
    out = Path(out)
    if out.exists() and not force:
        raise DossierError(
            f"{out}: already exists; a dossier is never overwritten in place. Choose another "
            "--out or pass --force to replace it atomically."
        )
    if out.exists() and not out.is_dir():
        raise DossierError(
            f"{out}: exists and is not a directory; remove it or choose another --out."
        )
    recorded = PROVENANCE_NAME in (carried or {})
    files = render_dossier(
        results_bytes, trace_inputs=trace_inputs, templates=templates, recorded=recorded
    )
    for rel in carried or {}:
        if rel in files or not (rel == PROVENANCE_NAME or rel.startswith(f"{INPUTS_DIR}/")):
            raise DossierError(f"carried file {rel!r}: not a provenance or input file, or clashes")
    files = dict(sorted({**files, **(carried or {})}.items()))
    results = parse_results(results_bytes)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    old = None
    with building_folder(parent, out.name, suffix=".partial") as tmp:
        tmp.chmod(0o755)
        for rel, data in files.items():
            write_synced(tmp / rel, data)
        manifest = make_manifest(tmp, _manifest_inputs(files, trace_inputs))
        write_synced(tmp / MANIFEST_NAME, manifest)
        seal = seal_of(manifest, results)
        write_synced(tmp / SEAL_NAME, f"{seal}\n".encode("ascii"))
        for directory in sorted({(tmp / rel).parent for rel in files}, reverse=True):
            fsync_dir(directory)
        target = parent / out.name
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(target, old / "dossier")
        os.replace(tmp, target)
        fsync_dir(parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return seal, len(files) + 2


def build_dossier(
    results: str | Path,
    out: str | Path,
    *,
    ledger: str | Path | None = None,
    junit: str | Path | None = None,
    trace: str | Path | None = None,
    tests_dir: str | Path | None = None,
    force: bool = False,
    actor: str = "dossier",
    inputs: DossierInputs | None = None,
    checkpoint_key: str | Path | None = None,
    run: Entry | None = None,
) -> BuildResult:
    """Build the dossier of ``results`` (a results.json) in ``out``.

    ``trace`` (``traceability.yaml``) adds the traceability matrix, with each tagged test's outcome
    when ``junit`` (a pytest JUnit XML) is given; its sha256 goes into MANIFEST.json. ``inputs``
    (the files the run read) are carried so that the dossier re-runs from itself. With ``ledger``,
    the recorded run that produced these results becomes ``provenance.json`` -- ``run``, the
    ``validation.run`` entry the caller appended (checked), or else the latest entry that produced
    them (:func:`~validation.dossier.binding.bind_run`; none: :class:`DossierError`, nothing
    written) -- and a ``dossier.sealed`` entry ``{protocol_id, seal, results_sha256}`` is appended
    after the directory is in place. Without ``ledger`` nothing is checked or recorded, and the
    dossier says so. With ``checkpoint_key`` (the ledger's private key file; default: the
    file named by ``$HER2MAP_LEDGER_KEY``), the dossier then gets ``log/``: a signed checkpoint and
    the inclusion proof of that entry (:func:`validation.signing.attach_log`).
    """
    results_path = Path(results)
    try:
        results_bytes = results_path.read_bytes()
    except OSError as exc:
        raise DossierError(f"{results_path}: cannot read results ({exc.strerror}).") from None
    parsed = parse_results(results_bytes, source=str(results_path))
    if junit is not None and trace is None:
        raise DossierError(
            "--junit needs --trace: test outcomes are shown in the traceability matrix; pass "
            "--trace traceability.yaml."
        )
    if run is not None and ledger is None:
        raise DossierError("a run entry needs the ledger it is recorded in; pass ledger=.")
    # a ledger is a SQLite file or a postgresql:// URL, as Ledger.open (every command) takes it
    if ledger is not None and not is_postgres(ledger) and not Path(ledger).is_file():
        raise DossierError(
            f"ledger {ledger} does not exist; pass the ledger the protocol was registered in."
        )
    digest = sha256_hex(results_bytes)
    binding = None
    if ledger is not None:
        with Ledger.open(ledger, create=False, readonly=True) as book:
            verified_before_use(book, what="dossier build")  # verify before use (issue 12)
            binding = bind_run(book, parsed, digest, entry=run, source=str(results_path))
    log_key = _log_key(checkpoint_key, ledger)
    trace_inputs = (
        load_trace_inputs(trace, tests_dir=tests_dir, junit=junit) if trace is not None else None
    )
    carried = carried_inputs(inputs, parsed) if inputs is not None else {}
    if binding is not None:
        carried[PROVENANCE_NAME] = provenance_bytes(binding)
    seal, n_files = write_dossier(
        results_bytes, out, trace_inputs=trace_inputs, carried=carried, force=force
    )
    entry = None
    if ledger is not None:
        protocol_id = parsed.identity.protocol.id
        with Ledger.open(ledger, create=False) as book:
            entry = book.append(
                SEALED_EVENT,
                {"protocol_id": protocol_id, "seal": seal, "results_sha256": digest},
                actor=actor,
            )
    if log_key is not None and ledger is not None:  # issue 13: checkpoint + inclusion proof
        from validation.signing.logproof import attach_log

        attach_log(out, ledger, log_key)
    return BuildResult(Path(out), seal, digest, n_files, entry, binding)


def _log_key(checkpoint_key: str | Path | None, ledger: str | Path | None) -> Any:
    """The ledger's signer key for the dossier's log proof, read before anything is written."""
    if checkpoint_key is None and ledger is not None:
        checkpoint_key = os.environ.get("HER2MAP_LEDGER_KEY") or None
    if checkpoint_key is None:
        return None
    if ledger is None:
        raise DossierError("--checkpoint-key needs --ledger: the checkpoint is of that ledger")
    from validation.ledger.note import read_signer_key
    from validation.signing.logproof import check_held

    key = read_signer_key(checkpoint_key)
    check_held(ledger, key)  # refuse a rewritten ledger before anything is written
    return key


def sealed_entries(ledger: str | Path, seal: str) -> list[Entry]:
    """The ``dossier.sealed`` entries of ``ledger`` recording ``seal``."""
    with Ledger.open(ledger, create=False) as book:
        return list(book.entries(event_type=SEALED_EVENT, where={"seal": seal}))
