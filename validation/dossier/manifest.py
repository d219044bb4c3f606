"""MANIFEST.json, SEAL and :func:`verify_dossier`: what makes a dossier hash-stamped.

MANIFEST.json
    Canonical JSON (RFC 8785, :func:`validation.canonical.canonical_json`) of::

        {"format": "her2map.dossier/1",
         "files": [{"path": "figures/roc.svg", "sha256": "...", "size": 1234}, ...],
         "inputs": {"junit_sha256": str | null, "results_sha256": str,
                    "traceability_sha256": str | null}}

    ``files`` lists every file of the dossier except MANIFEST.json and SEAL, sorted by POSIX path.
    ``inputs`` holds the hashes of inputs that are not copied into the dossier verbatim (the JUnit
    XML of the test run and ``traceability.yaml``).

SEAL
    One line, the lower-case hex seal and a newline. The seal is::

        seal = sha256(canonical_json({
            "format": "her2map.dossier-seal/1",
            "manifest_sha256": sha256(bytes of MANIFEST.json),
            "protocol_hash": results.identity.protocol.hash,
            "model_lock_hash": results.identity.model.lock_hash   (null when none is known),
            "data_sha256": {name: results.identity.data[name].sha256 for each data file},
        }))

    so the seal binds the exact bytes of every file (through the manifest) to the protocol, the
    locked model and the data it was computed from. :func:`seal_of` is the one implementation.

Nothing here reads a clock or draws a random number: the same files give the same manifest and
seal bytes (REQ-REPRO-001).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json, sha256_file, sha256_hex
from validation.exceptions import DossierError, ResultsError
from validation.results import Results, loads

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "SEAL_FORMAT",
    "SEAL_FORMULA",
    "SEAL_NAME",
    "UNSEALED_DIRS",
    "VerifyResult",
    "dossier_files",
    "extra_dirs",
    "make_manifest",
    "read_seal",
    "seal_of",
    "verify_dossier",
]

MANIFEST_NAME = "MANIFEST.json"
SEAL_NAME = "SEAL"
MANIFEST_FORMAT = "her2map.dossier/1"
SEAL_FORMAT = "her2map.dossier-seal/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: The seal formula as shown in the dossier's environment section and the README.
SEAL_FORMULA = """seal = sha256( canonical_json({
    "format":          "her2map.dossier-seal/1",
    "manifest_sha256": sha256(bytes of MANIFEST.json),
    "protocol_hash":   results.identity.protocol.hash,
    "model_lock_hash": results.identity.model.lock_hash   (null when none is known),
    "data_sha256":     {name: results.identity.data[name].sha256 for each data file}
}) )
canonical_json = RFC 8785 (JSON Canonicalization Scheme), UTF-8.
MANIFEST.json  = canonical_json({"format": "her2map.dossier/1",
                   "files": [{"path", "sha256", "size"} for every other file, sorted by path],
                   "inputs": {"junit_sha256", "results_sha256", "traceability_sha256"}})
SEAL file      = the seal in lower-case hex and a newline."""


#: Top-level folders written *after* sealing, so outside MANIFEST.json and the seal: ``log/``
#: (signed checkpoint + inclusion proofs) and ``signatures/`` (e-signatures over the SEAL and
#: their manifestation). :mod:`validation.signing` writes and verifies them (issue 13).
UNSEALED_DIRS = ("log", "signatures")


def dossier_files(root: Path) -> list[str]:
    """POSIX paths (relative to ``root``) of every file except MANIFEST.json and SEAL, sorted.

    Anything that is not a regular file (a link, a socket) is listed too, so that
    :func:`verify_dossier` reports it as extra instead of ignoring it. The folders of
    :data:`UNSEALED_DIRS` (as real folders, not links) are left to :mod:`validation.signing`.
    """
    found = []
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        top = root / rel.split("/")[0]
        if "/" in rel and rel.split("/")[0] in UNSEALED_DIRS and not top.is_symlink():
            continue
        if rel not in (MANIFEST_NAME, SEAL_NAME):
            found.append(rel)
    return sorted(found)


def extra_dirs(root: Path, listed: Iterable[str]) -> list[str]:
    """POSIX paths (relative to ``root``, sorted) of the folders that hold no file of ``listed``
    (the manifest's paths): an empty folder, or one holding only files the manifest does not list.

    Files are listed by :func:`dossier_files`, so an added file is an extra; a folder without one
    would be invisible there. Only the outermost such folder is named (what lies inside it is part
    of it). The folders the format defines after sealing (:data:`UNSEALED_DIRS`, as real folders)
    are left to :mod:`validation.signing`; a link to a folder is listed by :func:`dossier_files`.
    """
    holding: set[str] = set()
    for rel in listed:
        parts = rel.split("/")
        holding.update("/".join(parts[:i]) for i in range(1, len(parts)))
    found: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_dir() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in UNSEALED_DIRS or rel in holding:
            continue
        if not any(rel.startswith(f"{outer}/") for outer in found):
            found.append(rel)
    return found


def make_manifest(root: Path, inputs: Mapping[str, str | None]) -> bytes:
    """Canonical MANIFEST.json bytes for the files now under ``root`` and the given input hashes."""
    files = [
        {"path": rel, "sha256": sha256_file(root / rel), "size": (root / rel).stat().st_size}
        for rel in dossier_files(root)
    ]
    return canonical_json({"format": MANIFEST_FORMAT, "files": files, "inputs": dict(inputs)})


def seal_of(manifest_bytes: bytes, results: Results) -> str:
    """The seal (see the module docstring for the formula) of a manifest and its results."""
    ident = results.identity
    return sha256_hex(
        canonical_json(
            {
                "format": SEAL_FORMAT,
                "manifest_sha256": sha256_hex(manifest_bytes),
                "protocol_hash": ident.protocol.hash,
                "model_lock_hash": ident.model.lock_hash,
                "data_sha256": {
                    "labels": ident.data.labels.sha256,
                    "predictions": ident.data.predictions.sha256,
                },
            }
        )
    )


def read_seal(path: Path) -> str | None:
    """The seal in a SEAL file, or None when the file is missing or malformed."""
    try:
        text = path.read_bytes().decode("ascii")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.endswith("\n") or not _HEX64.match(text[:-1]):
        return None
    return text[:-1]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of :func:`verify_dossier`: problems as ``(file, message)``, sorted by file."""

    directory: str
    problems: tuple[tuple[str, str], ...]
    seal: str | None
    n_files: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"OK: {self.n_files} files match MANIFEST.json; SEAL {self.seal}"
        lines = [f"FAILED: {len(self.problems)} problem(s) in {self.directory}"]
        lines += [f"  {name}: {message}" for name, message in self.problems]
        return "\n".join(lines)


def _load_manifest(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid UTF-8 JSON ({exc}); the manifest was altered"
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and {"path", "sha256", "size"} <= set(f) for f in files
    ):
        return None, "no 'files' list of {path, sha256, size}; the manifest was altered"
    if canonical_json(manifest) != raw:
        return manifest, "not in canonical form (RFC 8785); the manifest was altered"
    return manifest, None


def verify_dossier(directory: str | Path) -> VerifyResult:
    """Re-hash every file of a dossier and check MANIFEST.json and SEAL.

    Names every changed, missing or extra file, a manifest that is not the canonical one, and a
    SEAL that does not equal :func:`seal_of` of the manifest and results.json. Raises
    :class:`DossierError` only when ``directory`` is not a directory.
    """
    root = Path(directory)
    if not root.is_dir():
        raise DossierError(
            f"{root}: not a dossier directory (expected the folder written by "
            "`her2map dossier build`)."
        )
    problems: list[tuple[str, str]] = []
    manifest_path = root / MANIFEST_NAME
    manifest: dict[str, Any] | None = None
    raw = b""
    if not manifest_path.is_file():
        problems.append((MANIFEST_NAME, "missing"))
    else:
        raw = manifest_path.read_bytes()
        manifest, problem = _load_manifest(raw)
        if problem:
            problems.append((MANIFEST_NAME, problem))
    present = set(dossier_files(root))
    listed: dict[str, dict[str, Any]] = {}
    if manifest is not None:
        listed = {str(f["path"]): f for f in manifest["files"]}
        for rel, entry in sorted(listed.items()):
            path = root / rel
            if rel not in present:
                problems.append((rel, "missing (listed in MANIFEST.json)"))
            elif not path.is_file() or path.is_symlink():
                problems.append((rel, "not a regular file"))
            else:
                digest, size = sha256_file(path), path.stat().st_size
                if digest != entry["sha256"] or size != entry["size"]:
                    problems.append(
                        (
                            rel,
                            f"changed: sha256 {digest} size {size}, MANIFEST.json records "
                            f"sha256 {entry['sha256']} size {entry['size']}",
                        )
                    )
        problems += [(rel, "extra (not in MANIFEST.json)") for rel in sorted(present - set(listed))]
        problems += [
            (f"{rel}/", "extra folder (holds no file of MANIFEST.json)")
            for rel in extra_dirs(root, listed)
        ]
    seal = read_seal(root / SEAL_NAME)
    if not (root / SEAL_NAME).is_file():
        problems.append((SEAL_NAME, "missing"))
    elif seal is None:
        problems.append((SEAL_NAME, "malformed (expected 64 lower-case hex digits and a newline)"))
    if seal is not None and manifest is not None:
        try:
            results = loads((root / "results.json").read_bytes(), schema=False)
            expected: str | None = seal_of(raw, results)
        except (OSError, ResultsError) as exc:
            expected = None
            problems.append(("results.json", f"cannot recompute the seal from it ({exc})"))
        if expected is not None and expected != seal:
            problems.append(
                (
                    SEAL_NAME,
                    f"seal {seal} does not match {expected} recomputed from MANIFEST.json and "
                    "results.json: SEAL, MANIFEST.json or results.json was altered",
                )
            )
    return VerifyResult(str(root), tuple(sorted(problems)), seal, len(listed))
