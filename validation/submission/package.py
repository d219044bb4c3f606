"""The submission package: several sealed dossiers, a summary, a traceability matrix, an SBOM, a
model card per locked model, sealed like a dossier, recorded in the ledger, provable and signable.

Layout of the package folder::

    submission.json          {"format": "her2map.submission/1", "title", "dossiers": {id: SEAL}}
    summary.html / .json     one page: per protocol the primary endpoint (the endpoint of
                             hierarchy 1, else the first), its estimate, interval and verdict
    traceability.csv         requirement -> endpoint -> verdict in this package (with --trace)
    sbom.cdx.json            CycloneDX 1.5 (:mod:`.sbom`)
    model-cards/<name>-<version>-<lock hash prefix>.html
    dossiers/<protocol id>/  each sealed dossier as received (with its own log/ and signatures/)
    MANIFEST.json, SEAL      as a dossier's; SEAL = sha256(canonical_json({"format":
                             "her2map.submission-seal/1", "manifest_sha256", "dossiers"}))
    log/, signatures/        after sealing (:mod:`validation.signing`): the package's proofs
                             cover its own entries and every included dossier's, under one
                             checkpoint

Every dossier is verified (files, manifest, SEAL) and must be recorded (``dossier.sealed``) in
the ledger before it is included; the package is written all or nothing and then recorded as
``submission.sealed`` ``{seal, dossiers}``. Numbers are shown as the dossiers hold them (rounded
only on the page); the summary computes nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validation.atomic import building_folder, csv_bytes, fsync_dir, write_synced
from validation.canonical import canonical_json, sha256_hex
from validation.dossier import verify_dossier
from validation.dossier.binding import recorded_problems
from validation.dossier.manifest import MANIFEST_NAME, SEAL_NAME, make_manifest, read_seal
from validation.exceptions import HarnessError, SubmissionError
from validation.ledger import Ledger, verified_before_use
from validation.ledger.note import SignerKey, VerifierKey
from validation.results import Results, loads
from validation.signing.sealed import PACKAGE_MARKER, SUBMISSION_SEALED
from validation.submission.sbom import cyclonedx_sbom
from validation.trace import load_traceability

if TYPE_CHECKING:
    from validation.signing.verify import SignedVerifyResult

__all__ = [
    "PACKAGE_FORMAT",
    "PACKAGE_SEAL_FORMAT",
    "PackageResult",
    "build_submission",
    "verify_package_files",
    "verify_submission",
]

PACKAGE_FORMAT = "her2map.submission/1"
PACKAGE_SEAL_FORMAT = "her2map.submission-seal/1"


@dataclass(frozen=True)
class PackageResult:
    directory: Path
    seal: str
    dossiers: dict[str, str]
    ledger_seq: int


def _primary(results: Results) -> dict[str, Any]:
    """The primary endpoint (hierarchy 1, else the lowest hierarchy, else the first) as shown."""
    if not results.endpoints:
        raise SubmissionError(
            f"protocol {results.identity.protocol.id}: results.json has no endpoints"
        )
    first = min(
        results.endpoints,
        key=lambda e: (e.judgement.hierarchy is None, e.judgement.hierarchy or 0),
    )
    value = first.result
    return {
        "ci_high": getattr(value, "ci_high", None),
        "ci_low": getattr(value, "ci_low", None),
        "confidence": getattr(value, "confidence", None),
        "description": first.description,
        "endpoint": first.id,
        "estimate": getattr(value, "estimate", None),
        "method": value.method,
        "metric": first.metric,
        "n": value.n,
        "verdict": first.judgement.verdict,
    }


def _num(value: Any) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.3f}"


def _level(confidence: Any) -> str:
    """0.95 -> "95%", 0.999 -> "99.9%" (the interval level as the result holds it)."""
    return "—" if not isinstance(confidence, float) else f"{100 * confidence:.10g}%"


def _summary_html(title: str, rows: list[dict[str, Any]]) -> bytes:
    body = "\n".join(
        "<tr>"
        f"<td>{escape(str(r['protocol']))} v{escape(str(r['version']))}</td>"
        f"<td>{escape(str(r['endpoint']))}: {escape(str(r['description']))}</td>"
        f"<td>{_num(r['estimate'])} ({_num(r['ci_low'])}–{_num(r['ci_high'])}; "
        f"{_level(r['confidence'])} CI, "
        f"{escape(str(r['method']))}, n={escape(str(r['n']))})</td>"
        f"<td><b>{escape(str(r['verdict']))}</b></td>"
        f"<td><code>{escape(str(r['seal'])[:16])}…</code></td>"
        "</tr>"
        for r in rows
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>\n<h1>{escape(title)}</h1>\n"
        "<h2>Performance testing summary</h2>\n<table><thead><tr><th>Protocol</th>"
        "<th>Primary endpoint</th><th>Estimate (interval)</th><th>Verdict</th>"
        f"<th>Dossier SEAL</th></tr></thead>\n<tbody>\n{body}\n</tbody></table>\n"
        "<p>Each row is read from the sealed dossier named by its SEAL (dossiers/&lt;protocol&gt;/"
        "); numbers are rounded here only.</p>\n</body></html>\n"
    ).encode()


def _model_card(model: Mapping[str, Any], rows: list[dict[str, Any]]) -> bytes:
    validated = "\n".join(
        f"<li>{escape(str(r['protocol']))} v{escape(str(r['version']))}: "
        f"{escape(str(r['endpoint']))} {escape(str(r['metric']))} {_num(r['estimate'])} "
        f"({_num(r['ci_low'])}–{_num(r['ci_high'])}) — {escape(str(r['verdict']))}</li>"
        for r in rows
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Model card {escape(str(model['name']))}</title></head><body>\n"
        f"<h1>Model card: {escape(str(model['name']))} {escape(str(model['version']))}</h1>\n"
        f"<p>Lock hash <code>{escape(str(model['lock_hash']))}</code>; decision threshold "
        f"{escape(str(model.get('threshold')))}. The lock fixes weights, architecture, "
        "preprocessing and threshold; loading verifies every hash.</p>\n"
        f"<h2>Validated under</h2>\n<ul>\n{validated}\n</ul>\n</body></html>\n"
    ).encode()


def _trace_rows(trace: str | Path, verdicts: Mapping[str, str], included: set[str]) -> bytes:
    rows = []
    for req in load_traceability(trace).requirements:
        for endpoint in req.endpoints or ("",):
            protocol = endpoint.split("/")[0]
            if not endpoint:
                verdict = "no protocol endpoint (verified by tests, not by this package)"
            elif endpoint in verdicts:
                verdict = verdicts[endpoint]
            else:
                verdict = (
                    "in a protocol of this package, endpoint absent"
                    if (protocol in included)
                    else "not in this package"
                )
            rows.append([req.id, req.statement, endpoint, verdict])
    return csv_bytes(["requirement", "statement", "endpoint", "verdict"], rows)


def _recorded_problems(
    ledger: str | Path, folder: Path, results: Results, results_sha256: str, seal: str
) -> Sequence[str]:
    """Why the verified dossier in ``folder`` is not the recorded dossier of a recorded run of
    ``ledger`` (:func:`validation.dossier.binding.recorded_problems`: its run produced these
    results, and its seal is recorded after that run); the ledger's chain is checked first."""
    with Ledger.open(ledger, create=False, readonly=True) as book:
        verified_before_use(book, what="submission build")
        return recorded_problems(book, folder, results, results_sha256, seal)


def _package_seal(manifest: bytes, dossiers: Mapping[str, str]) -> str:
    return sha256_hex(
        canonical_json(
            {
                "dossiers": dict(dossiers),
                "format": PACKAGE_SEAL_FORMAT,
                "manifest_sha256": sha256_hex(manifest),
            }
        )
    )


def build_submission(
    dossiers: Sequence[str | Path],
    out: str | Path,
    *,
    ledger: str | Path,
    title: str,
    trace: str | Path | None = None,
    log_key: SignerKey | None = None,
    actor: str = "submission",
) -> PackageResult:
    """Build the package in ``out`` (refused if it exists); see the module docstring."""
    out = Path(out)
    if out.exists():
        raise SubmissionError(f"{out}: already exists; a package is never overwritten")
    if not dossiers:
        raise SubmissionError("give at least one sealed dossier folder")
    if log_key is not None:
        from validation.signing.logproof import check_held

        check_held(ledger, log_key)  # refuse a rewritten ledger before anything is written
    seals: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    models: dict[tuple[str, str, str], dict[str, Any]] = {}
    verdicts: dict[str, str] = {}
    sources: dict[str, Path] = {}
    for folder in map(Path, dossiers):
        check = verify_dossier(folder)
        if not check.ok or check.seal is None:
            raise SubmissionError(f"{folder}: the dossier does not verify:\n{check}")
        try:
            raw = (folder / "results.json").read_bytes()
            results = loads(raw, source=str(folder))
        except (OSError, HarnessError, ValueError) as exc:
            raise SubmissionError(f"{folder}: cannot read its results.json ({exc})") from None
        problems = _recorded_problems(ledger, folder, results, sha256_hex(raw), check.seal)
        if problems:
            raise SubmissionError(
                f"{folder}: not recorded in ledger {ledger} as the dossier of a recorded run: "
                + "; ".join(problems)
            )
        protocol = results.identity.protocol
        pid = protocol.id
        if pid in seals:
            raise SubmissionError(f"{folder}: protocol {pid} is already in the package")
        seals[pid], sources[pid] = check.seal, folder
        model = results.identity.model
        lock = model.lock_hash if model.kind == "locked" else None
        row = {"protocol": pid, "version": protocol.version, "seal": check.seal}
        rows.append({**row, **_primary(results), "model_lock_hash": lock})
        for endpoint in results.endpoints:
            verdicts[f"{pid}/{endpoint.id}"] = str(endpoint.judgement.verdict)
        if lock is not None:
            key = (model.name, str(model.version), lock)
            models.setdefault(key, {"threshold": model.lock_threshold})
    files: dict[str, bytes] = {
        PACKAGE_MARKER: canonical_json(
            {"dossiers": seals, "format": PACKAGE_FORMAT, "title": title}
        ),
        "summary.json": canonical_json({"rows": rows, "title": title}),
        "summary.html": _summary_html(title, rows),
        "sbom.cdx.json": cyclonedx_sbom(
            models=[
                {**m, "name": k[0], "version": k[1], "lock_hash": k[2]} for k, m in models.items()
            ],
            subject=("her2map", version("her2map")),
        ),
    }
    for (name, model_version, lock), card in sorted(models.items()):
        uses = [r for r in rows if r["model_lock_hash"] == lock]
        card = {**card, "name": name, "version": model_version, "lock_hash": lock}
        files[f"model-cards/{name}-{model_version}-{lock[:12]}.html"] = _model_card(card, uses)
    inputs: dict[str, str | None] = {"traceability_sha256": None}
    if trace is not None:
        files["traceability.csv"] = _trace_rows(trace, verdicts, set(seals))
        inputs["traceability_sha256"] = sha256_hex(Path(trace).read_bytes())
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with building_folder(parent, out.name, suffix=".partial") as tmp:
        tmp.chmod(0o755)
        for rel, data in files.items():
            write_synced(tmp / rel, data)
        for pid, folder in sources.items():
            shutil.copytree(folder, tmp / "dossiers" / pid, symlinks=True)
        manifest = make_manifest(tmp, inputs)
        write_synced(tmp / MANIFEST_NAME, manifest)
        seal = _package_seal(manifest, seals)
        write_synced(tmp / SEAL_NAME, f"{seal}\n".encode("ascii"))
        fsync_dir(tmp)
        tmp.rename(parent / out.name)
        fsync_dir(parent)
    with Ledger.open(ledger, create=False) as book:
        entry = book.append(SUBMISSION_SEALED, {"dossiers": seals, "seal": seal}, actor=actor)
    if log_key is not None:
        from validation.signing.logproof import attach_log

        attach_log(out, ledger, log_key)
    return PackageResult(out, seal, seals, entry.seq)


def verify_package_files(root: Path) -> tuple[list[tuple[str, str]], str | None]:
    """``(problems, seal)``: every file against MANIFEST.json, the SEAL, each included dossier."""
    problems: list[tuple[str, str]] = []
    try:
        marker = json.loads((root / PACKAGE_MARKER).read_bytes())
        stored = (root / MANIFEST_NAME).read_bytes()
        inputs = json.loads(stored)["inputs"]
        seals = dict(marker["dossiers"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [(MANIFEST_NAME, f"package manifest or {PACKAGE_MARKER} unreadable ({exc})")], None
    fresh = make_manifest(root, inputs)
    if fresh != stored:
        listed = {f["path"]: f["sha256"] for f in json.loads(stored)["files"]}
        now = {f["path"]: f["sha256"] for f in json.loads(fresh)["files"]}
        for rel in sorted(set(listed) | set(now)):
            if listed.get(rel) != now.get(rel):
                what = "missing" if rel not in now else "extra" if rel not in listed else "changed"
                problems.append((rel, f"{what} (against MANIFEST.json)"))
        problems = problems or [(MANIFEST_NAME, "not the manifest of these files")]
    seal = read_seal(root / SEAL_NAME)
    if seal is None or seal != _package_seal(stored, seals):
        problems.append((SEAL_NAME, "does not match MANIFEST.json and the dossiers' seals"))
    for pid, dossier_seal in sorted(seals.items()):
        check = verify_dossier(root / "dossiers" / pid)
        problems += [(f"dossiers/{pid}/{item}", message) for item, message in check.problems]
        if check.seal != dossier_seal:
            problems.append((f"dossiers/{pid}", f"SEAL is not {dossier_seal} as recorded"))
    return problems, seal


def verify_submission(
    directory: str | Path,
    *,
    log_keys: Sequence[VerifierKey] | None = None,
    ledger: str | Path | None = None,
    require_independent_approval: bool = False,
) -> list[SignedVerifyResult]:
    """Verify the package and each included dossier (files, SEALs, log proofs, signatures).

    The package's ``log/`` (checked with ``log_keys``) proves the entries of the package and of
    every included dossier under one checkpoint, so the dossiers' signatures are checked against
    it. Returns the package's result first, then one per dossier.
    """
    from validation.signing import read_log, verify_signed
    from validation.signing.verify import sealed_at

    root = Path(directory)
    if not (root / PACKAGE_MARKER).is_file():
        raise SubmissionError(f"{root}: not a submission package (no {PACKAGE_MARKER})")
    package = verify_signed(
        root,
        log_keys=log_keys,
        ledger=ledger,
        require_independent_approval=require_independent_approval,
    )
    log = None
    if log_keys is not None and (root / "log").is_dir():
        try:
            log = read_log(root, list(log_keys))
        except HarnessError:
            log = None  # already reported in the package's result
    seals = json.loads((root / PACKAGE_MARKER).read_bytes()).get("dossiers", {})
    # each dossier was copied when the package was sealed: later signatures are not in the copy
    # (no sealing entry: the package's result says so, and no signature is expected here)
    copied = None if package.seal is None else sealed_at(package.seal, log=log, ledger=ledger)
    results = [package]
    for pid in sorted(seals):
        results.append(
            verify_signed(
                root / "dossiers" / pid,
                log_keys=log_keys if log is None else None,
                log=log,
                ledger=ledger,
                require_independent_approval=require_independent_approval,
                signatures_before=0 if copied is None else copied,
            )
        )
    return results
