"""Build a dossier directory: render, write atomically, manifest, seal, ledger entry.

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
from validation.canonical import sha256_hex
from validation.dossier.manifest import MANIFEST_NAME, SEAL_NAME, make_manifest, seal_of
from validation.dossier.render import parse_results, render_dossier
from validation.dossier.trace import load_trace_inputs
from validation.exceptions import DossierError
from validation.ledger import Entry, Ledger

__all__ = ["SEALED_EVENT", "BuildResult", "build_dossier", "sealed_entries", "write_dossier"]

#: Ledger event recording a dossier's seal: payload {protocol_id, seal, results_sha256}.
SEALED_EVENT = "dossier.sealed"


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Where the dossier went, its seal, the results hash and the ledger entry (if any)."""

    directory: Path
    seal: str
    results_sha256: str
    n_files: int
    ledger_entry: Entry | None


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
    force: bool = False,
    templates: str | Path | None = None,
) -> tuple[str, int]:
    """Render and atomically write a dossier to ``out``; returns ``(seal, number of files)``."""
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
    files = render_dossier(results_bytes, trace_inputs=trace_inputs, templates=templates)
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
    checkpoint_key: str | Path | None = None,
) -> BuildResult:
    """Build the dossier of ``results`` (a results.json) in ``out``.

    ``trace`` (``traceability.yaml``) adds the traceability matrix, with each tagged test's outcome
    when ``junit`` (a pytest JUnit XML) is given; its sha256 goes into MANIFEST.json. With
    ``ledger``, a ``dossier.sealed`` entry ``{protocol_id, seal, results_sha256}`` is appended
    after the directory is in place. With ``checkpoint_key`` (the ledger's private key file;
    default: the file named by ``$HER2MAP_LEDGER_KEY``), the dossier then gets ``log/``: a signed
    checkpoint and the inclusion proof of that entry (:func:`validation.signing.attach_log`).
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
    if ledger is not None and not Path(ledger).is_file():
        raise DossierError(
            f"ledger {ledger} does not exist; pass the ledger the protocol was registered in."
        )
    log_key = _log_key(checkpoint_key, ledger)
    trace_inputs = (
        load_trace_inputs(trace, tests_dir=tests_dir, junit=junit) if trace is not None else None
    )
    seal, n_files = write_dossier(results_bytes, out, trace_inputs=trace_inputs, force=force)
    digest = sha256_hex(results_bytes)
    entry = None
    if ledger is not None:
        protocol_id = ((parsed.get("identity") or {}).get("protocol") or {}).get("id")
        with Ledger.open(ledger, create=False) as book:
            entry = book.append(
                SEALED_EVENT,
                {"protocol_id": protocol_id, "seal": seal, "results_sha256": digest},
                actor=actor,
            )
    if log_key is not None and ledger is not None:  # issue 13: checkpoint + inclusion proof
        from validation.signing.logproof import attach_log

        attach_log(out, ledger, log_key)
    return BuildResult(Path(out), seal, digest, n_files, entry)


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
