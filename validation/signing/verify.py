"""Verify a sealed dossier's log proof and e-signatures, offline or against the ledger.

:func:`verify_signed` checks the sealed folder (:func:`validation.signing.sealed.check_sealed`:
files, manifest, SEAL of a dossier or a submission package), then:

* with ``log_keys`` (the log's public keys): ``log/`` — the signed checkpoint and every inclusion
  proof — and that a ``dossier.sealed`` entry for this SEAL is proven in it;
* with ``ledger``: that the ledger's chain verifies and still extends the dossier's checkpoint;
* every signature in ``signatures/``: it signs *this* SEAL, its Ed25519 signature verifies, its
  ``signature.applied`` entry is in the log (proven offline, or read from the ledger) with the
  same content, its key was registered before that entry and not revoked before it, and the
  printed name is the registered one; ``signatures/index.html`` is exactly the page these records
  give (a page or ``signatures/`` folder without any record is refused too);
* no signature was stripped: every ``signature.applied`` entry for this SEAL that the log proves
  (``log/``, or a package's) or the ledger holds has its record in ``signatures/`` (for a dossier
  inside a package, the entries before the package's sealing entry, when the dossier was copied);
* with ``ledger``: a sealing entry of the ledger records this SEAL;
* with ``require_independent_approval``: at least one valid ``approved`` signature by a user who
  did not author it.

Offline, key events are those proven in ``log/``: a revocation that the dossier's proofs do not
carry cannot be seen without the ledger (a Merkle tree proves inclusion, not absence); pass
``ledger`` where it is available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.exceptions import HarnessError
from validation.ledger import Ledger, verify
from validation.ledger.checkpoint import ledger_tree
from validation.ledger.note import VerifierKey
from validation.signing.esign import SIGNATURES_DIR, SignatureRecord, read_signatures
from validation.signing.logproof import (
    KEY_REGISTERED,
    KEY_REVOKED,
    LOG_DIR,
    SIGNED_EVENT,
    LogProof,
    read_log,
)
from validation.signing.manifestation import signature_page
from validation.signing.registry import key_status
from validation.signing.sealed import SEALED_EVENTS, check_sealed

__all__ = ["SignedVerifyResult", "sealed_at", "verify_signed"]


@dataclass(frozen=True)
class SignedVerifyResult:
    """Problems as ``(item, message)``; the valid signatures; the checkpoint size checked."""

    directory: str
    seal: str | None
    problems: tuple[tuple[str, str], ...]
    signatures: tuple[SignatureRecord, ...]
    checkpoint_size: int | None

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if not self.ok:
            lines = [f"FAILED: {len(self.problems)} problem(s) in {self.directory}"]
            return "\n".join(lines + [f"  {item}: {message}" for item, message in self.problems])
        where = (
            f"; in the log at checkpoint size {self.checkpoint_size}"
            if self.checkpoint_size is not None
            else ""
        )
        signed = "".join(
            f"\n  signed: {r.printed_name} ({r.user}), {r.meaning}, {r.signed_utc}, entry {r.seq}"
            for r in self.signatures
        )
        return f"OK: SEAL {self.seal}{where}; {len(self.signatures)} signature(s){signed}"


def _key_events(
    key_id: str, proof: LogProof | None, ledger: Path | None
) -> list[tuple[int, str, dict[str, Any]]]:
    if ledger is not None:
        with Ledger.open(ledger, create=False) as book:
            found = [
                (e.seq, e.event_type, e.payload)
                for t in (KEY_REGISTERED, KEY_REVOKED)
                for e in book.entries(event_type=t, where={"key_id": key_id})
            ]
        return sorted(found, key=lambda item: item[0])
    if proof is None:
        return []
    return [
        (p.seq, str(p.entry["event_type"]), dict(p.payload))
        for p in proof.of_type(KEY_REGISTERED) + proof.of_type(KEY_REVOKED)
    ]


def _signed_entry(seq: int, proof: LogProof | None, ledger: Path | None) -> tuple[str, Any]:
    if ledger is not None:
        with Ledger.open(ledger, create=False) as book:
            entry = book.entry(seq)
        return entry.event_type, entry.payload
    found = None if proof is None else proof.entries.get(seq)
    return ("", None) if found is None else (str(found.entry["event_type"]), dict(found.payload))


def _check_record(
    record: SignatureRecord, seal: str | None, proof: LogProof | None, ledger: Path | None
) -> list[str]:
    """The problems of one signature record (a malformed key or key event is one, too)."""
    try:
        return _record_problems(record, seal, proof, ledger)
    except HarnessError as exc:
        return [str(exc)]


def _record_problems(
    record: SignatureRecord, seal: str | None, proof: LogProof | None, ledger: Path | None
) -> list[str]:
    problems = []
    if record.statement["seal"] != seal:
        problems.append(f"signs SEAL {record.statement['seal']}, not this dossier's SEAL {seal}")
    if not record.signature_valid():
        problems.append("the Ed25519 signature does not verify over its statement")
    if proof is None and ledger is None:
        return [*problems, "key registration not checked: pass the log's public keys or a ledger"]
    event_type, payload = _signed_entry(record.seq, proof, ledger)
    if event_type != SIGNED_EVENT or payload != record.payload():
        problems.append(
            f"ledger entry {record.seq} does not record this signature (not in the log, or "
            "different content)"
        )
    status = key_status(record.key_id, _key_events(record.key_id, proof, ledger))
    if status is None or str(status.key) != record.statement["key"]:
        problems.append(f"key {record.user}+{record.key_id} was never registered")
    elif not status.valid_at(record.seq):
        when = (
            f"revoked at entry {status.revoked_seq}"
            if status.revoked_seq is not None and status.revoked_seq < record.seq
            else f"registered only at entry {status.registered_seq}"
        )
        problems.append(f"key {record.user}+{record.key_id} was not valid when it signed ({when})")
    elif status.printed_name != record.printed_name:
        problems.append(
            f"printed name {record.printed_name!r} is not the registered {status.printed_name!r}"
        )
    return problems


def sealed_at(seal: str, *, log: LogProof | None, ledger: str | Path | None) -> int | None:
    """Seq of the first sealing entry (``dossier.sealed``, ``submission.sealed``) recording
    ``seal`` that ``log`` proves or ``ledger`` holds; None if neither does."""
    seqs = (
        []
        if log is None
        else [p.seq for e in SEALED_EVENTS for p in log.of_type(e) if p.payload.get("seal") == seal]
    )
    if ledger is not None:
        with Ledger.open(ledger, create=False) as book:
            seqs += [
                e.seq
                for t in SEALED_EVENTS
                for e in book.entries(event_type=t, where={"seal": seal})
            ]
    return min(seqs, default=None)


def _applied(
    seal: str | None, proof: LogProof | None, ledger: Path | None
) -> dict[int, tuple[str, dict[str, Any]]]:
    """The ``signature.applied`` entries for ``seal``: seq -> (where it is seen, payload)."""
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    if seal is None:
        return found
    if proof is not None:
        for p in proof.of_type(SIGNED_EVENT):
            if p.payload.get("seal") == seal:
                found[p.seq] = ("proven in the log", dict(p.payload))
    if ledger is not None:
        with Ledger.open(ledger, create=False) as book:
            for e in book.entries(event_type=SIGNED_EVENT, where={"seal": seal}):
                found.setdefault(e.seq, ("in the ledger", dict(e.payload)))
    return found


def _stripped(
    records: Sequence[SignatureRecord],
    applied: dict[int, tuple[str, dict[str, Any]]],
    before: int | None,
) -> list[tuple[str, str]]:
    """A problem for each applied signature (before entry ``before``) without its record."""
    held = {r.seq for r in records}
    problems = []
    for seq, (where, payload) in sorted(applied.items()):
        if seq in held or (before is not None and seq >= before):
            continue
        meaning, name, user = (
            payload.get("meaning"),
            payload.get("printed_name"),
            payload.get("user"),
        )
        problems.append(
            (
                f"{SIGNATURES_DIR}/{seq}-{meaning}.json",
                f"missing: ledger entry {seq} ({where}) records a signature of this SEAL, "
                f"{meaning} by {name} ({user}), that the folder lacks (a stripped signature)",
            )
        )
    return problems


def verify_signed(
    directory: str | Path,
    *,
    log_keys: Sequence[VerifierKey] | None = None,
    ledger: str | Path | None = None,
    require_independent_approval: bool = False,
    log: LogProof | None = None,
    signatures_before: int | None = None,
) -> SignedVerifyResult:
    """Verify the dossier, its log proof and its signatures (see the module docstring).

    ``log``: an already verified log proof to use instead of the folder's own ``log/`` (a
    package's, which covers the dossiers inside it). ``signatures_before``: the ledger seq at
    which the folder was copied into a package (its sealing entry); signatures applied from then
    on are not expected in the copy.
    """
    root = Path(directory)
    problems, seal = check_sealed(root)
    proof: LogProof | None = log
    ledger_path = None if ledger is None else Path(ledger)
    if log_keys is not None and proof is None:
        try:
            proof = read_log(root, list(log_keys))
        except HarnessError as exc:
            problems.append((f"{LOG_DIR}/", str(exc)))
    if proof is not None and not any(
        p.payload.get("seal") == seal for e in SEALED_EVENTS for p in proof.of_type(e)
    ):
        problems.append((f"{LOG_DIR}/", f"no sealing entry for SEAL {seal} is proven"))
    if ledger_path is not None:
        report = verify(ledger_path)
        if not report.ok:
            problems.append((str(ledger_path), f"does not verify: {report}"))
        elif seal is not None and sealed_at(seal, log=None, ledger=ledger_path) is None:
            problems.append((str(ledger_path), f"no sealing entry records SEAL {seal}"))
        if report.ok and proof is not None:
            tree = ledger_tree(ledger_path)
            size, root_hash = proof.checkpoint.size, proof.checkpoint.root
            if tree.size < size or tree.root(size) != root_hash:
                problems.append(
                    (
                        str(ledger_path),
                        f"does not extend the dossier's checkpoint (size {size}): "
                        "its history was rewritten",
                    )
                )
    readable = True
    try:
        records = read_signatures(root)
    except HarnessError as exc:
        problems.append((f"{SIGNATURES_DIR}/", str(exc)))
        records, readable = [], False
    valid = []
    for record in records:
        found = _check_record(record, seal, proof, ledger_path)
        problems += [(f"{SIGNATURES_DIR}/{record.file_name}", message) for message in found]
        if not found:
            valid.append(record)
    page = root / SIGNATURES_DIR / "index.html"
    if records and (not page.is_file() or page.read_bytes() != signature_page(str(seal), records)):
        problems.append((f"{SIGNATURES_DIR}/index.html", "is not the page of these signatures"))
    elif not records and readable and (root / SIGNATURES_DIR).exists():
        problems.append(
            (
                f"{SIGNATURES_DIR}/index.html" if page.exists() else f"{SIGNATURES_DIR}/",
                f"no signature record (<seq>-<meaning>.json) in {SIGNATURES_DIR}/: a signature "
                "page or folder without the signatures it would show",
            )
        )
    if proof is not None or ledger_path is not None:
        problems += _stripped(records, _applied(seal, proof, ledger_path), signatures_before)
    if require_independent_approval:
        authors = {r.user for r in valid if r.meaning == "authored"}
        if not any(r.meaning == "approved" and r.user not in authors for r in valid):
            problems.append(
                (SIGNATURES_DIR + "/", "no valid approval by someone other than the author")
            )
    checkpoint_size = proof.checkpoint.size if proof is not None else None
    return SignedVerifyResult(str(root), seal, tuple(problems), tuple(valid), checkpoint_size)
