"""The sealed suite summary folder: written all or nothing, verified like a dossier.

The folder (``OUTPUT/summary/``) holds ``index.html``, ``summary.json``, ``junit.xml``, and the
dossier's ``MANIFEST.json`` (same format, :func:`validation.dossier.manifest.make_manifest`, with
``inputs`` ``{"summary_sha256": ...}``) and ``SEAL`` file. Its seal is::

    seal = sha256( canonical_json({
        "format":          "her2map.suite-seal/1",
        "manifest_sha256": sha256(bytes of MANIFEST.json),
        "suite_hash":      summary.suite.hash,
        "model_lock_hash": summary.identity.model_lock_hash,
        "data_sha256":     summary.identity.data_sha256,
        "dossier_seals":   {protocol id: its dossier's seal or null, for each protocol},
    }) )

so it binds every file's bytes to the suite, the model, the data and each protocol's sealed
dossier. :func:`verify_suite` re-hashes the folder with the dossier's verifier
(:func:`validation.dossier.verify_dossier`), recomputes this seal from ``summary.json`` (checked
against its schema first), and verifies every dossier the summary links to, checking that its
SEAL is the one the summary recorded. Anyone can compute a seal, so when all of that holds it
then checks that the summary says what those dossiers say: every verdict, estimate, interval,
conclusion and the gate, recomputed from the dossiers' results.json, and the page and JUnit
report made from them (:func:`validation.suite.recheck.summary_disagreements`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from validation.atomic import building_folder, fsync_dir, write_synced
from validation.canonical import canonical_json, sha256_hex
from validation.dossier import VerifyResult, verify_dossier
from validation.dossier.manifest import MANIFEST_NAME, SEAL_NAME, make_manifest
from validation.exceptions import SuiteError
from validation.suite.recheck import summary_disagreements
from validation.suite.summary import check_summary

__all__ = ["SUITE_SEAL_FORMAT", "SUMMARY_DIR", "suite_seal", "verify_suite", "write_summary"]

SUITE_SEAL_FORMAT = "her2map.suite-seal/1"
#: Name of the sealed summary folder inside the suite's output folder.
SUMMARY_DIR = "summary"
_SUMMARY_JSON = "summary.json"
#: The dossier verifier's complaint about a folder without results.json (a summary has none).
_NO_RESULTS = "results.json"


def suite_seal(manifest_bytes: bytes, summary: Mapping[str, Any]) -> str:
    """The seal of a summary folder (formula in the module docstring)."""
    try:
        body = {
            "format": SUITE_SEAL_FORMAT,
            "manifest_sha256": sha256_hex(manifest_bytes),
            "suite_hash": summary["suite"]["hash"],
            "model_lock_hash": summary["identity"]["model_lock_hash"],
            "data_sha256": summary["identity"]["data_sha256"],
            "dossier_seals": {p["id"]: p["dossier_seal"] for p in summary["protocols"]},
        }
    except (KeyError, TypeError) as exc:
        raise SuiteError(f"summary.json lacks {exc}; it is not a suite summary.") from None
    return sha256_hex(canonical_json(body))


def write_summary(out: Path, files: Mapping[str, bytes], summary: Mapping[str, Any]) -> str:
    """Write the sealed folder ``out`` all or nothing (hidden sibling, then rename); its seal."""
    if out.exists():
        raise SuiteError(f"{out}: already exists; a suite summary is never overwritten.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with building_folder(out.parent, out.name, suffix=".partial") as tmp:
        tmp.chmod(0o755)
        for rel, data in files.items():
            write_synced(tmp / rel, data)
        manifest = make_manifest(tmp, {"summary_sha256": sha256_hex(files[_SUMMARY_JSON])})
        write_synced(tmp / MANIFEST_NAME, manifest)
        seal = suite_seal(manifest, summary)
        write_synced(tmp / SEAL_NAME, f"{seal}\n".encode("ascii"))
        fsync_dir(tmp)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    return seal


def _load_summary(root: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        summary = json.loads((root / _SUMMARY_JSON).read_bytes().decode("utf-8"))
        check_summary(summary, source=_SUMMARY_JSON)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SuiteError) as exc:
        return None, f"cannot recompute the seal from it ({exc})"
    return summary, None


def _dossier_problems(
    root: Path, summary: Mapping[str, Any]
) -> tuple[list[tuple[str, str]], list[Path | None]]:
    """Problems of the linked dossiers, and each protocol's dossier folder (None: no link)."""
    problems: list[tuple[str, str]] = []
    folders: list[Path | None] = []
    for entry in summary["protocols"]:
        folders.append(None)
        if entry["dossier"] is None:
            continue
        folder = (root.parent / entry["dossier"]).parent
        folders[-1] = folder
        name = f"../{Path(entry['dossier']).parent.as_posix()}"
        if not folder.is_dir():
            problems.append((name, "missing (the summary links to it)"))
            continue
        checked = verify_dossier(folder)
        if not checked.ok:
            first = "; ".join(f"{f}: {m}" for f, m in checked.problems[:3])
            problems.append((name, f"does not verify ({first})"))
        elif checked.seal != entry["dossier_seal"]:
            problems.append(
                (
                    name,
                    f"SEAL {checked.seal} is not the {entry['dossier_seal']} the summary records",
                )
            )
    return problems, folders


def verify_suite(directory: str | Path) -> VerifyResult:
    """Verify a sealed summary folder and the dossiers it links to (module docstring)."""
    root = Path(directory)
    if not (root / _SUMMARY_JSON).is_file() and not (root / MANIFEST_NAME).is_file():
        raise SuiteError(
            f"{root}: not a suite summary folder (expected the summary/ folder written by "
            "`her2map validate suite`, with summary.json, MANIFEST.json and SEAL)."
        )
    files = verify_dossier(root)
    has_results = (root / _NO_RESULTS).exists()
    problems = [p for p in files.problems if has_results or p[0] != _NO_RESULTS]
    summary, problem = _load_summary(root)
    if problem is not None:
        problems.append((_SUMMARY_JSON, problem))
    elif summary is not None and files.seal is not None and (root / MANIFEST_NAME).is_file():
        expected = suite_seal((root / MANIFEST_NAME).read_bytes(), summary)
        if expected != files.seal:
            problems.append(
                (
                    SEAL_NAME,
                    f"seal {files.seal} does not match {expected} recomputed from MANIFEST.json "
                    "and summary.json: SEAL, MANIFEST.json or summary.json was altered",
                )
            )
        linked, folders = _dossier_problems(root, summary)
        problems += linked
        if not problems:  # all verifies: does the summary say what its dossiers say?
            problems += summary_disagreements(root, summary, folders)
    return VerifyResult(str(root), tuple(sorted(problems)), files.seal, files.n_files)
