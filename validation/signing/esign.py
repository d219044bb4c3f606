"""21 CFR Part 11 electronic signatures over a sealed dossier's SEAL.

The signed statement is the RFC 8785 canonical JSON of::

    {"format": "her2map.e-signature/1", "key": <signer's public key text>,
     "key_id": <8 hex>, "meaning": "authored" | "reviewed" | "approved",
     "printed_name": <as registered>, "seal": <the dossier's SEAL>,
     "signed_utc": "YYYY-MM-DDTHH:MM:SSZ", "user": <key name>}

and the signature is Ed25519 over those bytes (11.50: printed name, date and time, meaning;
11.70: the signature is bound to this SEAL and cannot be moved to another record). Signing
appends a ``signature.applied`` ledger event whose payload is the statement plus ``signature``
(base64); inside the same write transaction the ledger must hold a ``dossier.sealed`` entry for the
SEAL and a registration of the key that is not revoked, whose printed name matches (11.100,
11.300). The record is then written to ``signatures/<seq>-<meaning>.json`` (outside the manifest,
because signing happens after sealing and must not change the seal), the signature page
``signatures/index.html`` is regenerated, and — with the ledger's key — ``log/`` is refreshed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from validation.canonical import canonical_json
from validation.exceptions import SignatureError
from validation.ledger import Entry, Ledger, LedgerView
from validation.ledger.note import SignerKey, VerifierKey
from validation.signing.logproof import SIGNED_EVENT, _replace_folder, attach_log, check_held
from validation.signing.registry import ledger_key_status
from validation.signing.sealed import SEALED_EVENTS, check_sealed

__all__ = [
    "SIGNATURES_DIR",
    "STATEMENT_FORMAT",
    "Meaning",
    "SignatureRecord",
    "read_signatures",
    "sign_dossier",
]

SIGNATURES_DIR = "signatures"
STATEMENT_FORMAT = "her2map.e-signature/1"


class Meaning(Enum):
    """The meaning of a signature (21 CFR 11.50(a)(3))."""

    AUTHORED = "authored"
    REVIEWED = "reviewed"
    APPROVED = "approved"

    @classmethod
    def parse(cls, value: object) -> Meaning:
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise SignatureError(f"meaning must be one of {allowed}; got {value!r}") from None


@dataclass(frozen=True)
class SignatureRecord:
    """A signature as stored in the ledger payload and in ``signatures/<seq>-<meaning>.json``."""

    seq: int
    statement: dict[str, Any]
    signature: bytes

    @property
    def meaning(self) -> str:
        return str(self.statement["meaning"])

    @property
    def printed_name(self) -> str:
        return str(self.statement["printed_name"])

    @property
    def signed_utc(self) -> str:
        return str(self.statement["signed_utc"])

    @property
    def user(self) -> str:
        return str(self.statement["user"])

    @property
    def key_id(self) -> str:
        return str(self.statement["key_id"])

    @property
    def file_name(self) -> str:
        return f"{self.seq}-{self.meaning}.json"

    def payload(self) -> dict[str, Any]:
        return {**self.statement, "signature": base64.b64encode(self.signature).decode("ascii")}

    def to_json(self) -> bytes:
        return canonical_json({"ledger_seq": self.seq, **self.payload()})

    def signature_valid(self) -> bool:
        """Ed25519 signature of the canonical statement by the statement's own key."""
        key = VerifierKey.parse(str(self.statement.get("key")), source="signature key")
        return key.key_id.hex() == self.key_id and key.verify(
            self.signature, canonical_json(self.statement)
        )

    @classmethod
    def from_payload(cls, seq: int, payload: dict[str, Any], *, source: str) -> SignatureRecord:
        body = dict(payload)
        body.pop("ledger_seq", None)
        try:
            signature = base64.b64decode(str(body.pop("signature")), validate=True)
        except (KeyError, ValueError):
            raise SignatureError(f"{source}: no base64 'signature'") from None
        expected = {
            "format",
            "key",
            "key_id",
            "meaning",
            "printed_name",
            "seal",
            "signed_utc",
            "user",
        }
        if set(body) != expected or body.get("format") != STATEMENT_FORMAT:
            raise SignatureError(
                f"{source}: a {STATEMENT_FORMAT} statement has exactly the fields "
                f"{sorted(expected)}; got {sorted(body)}"
            )
        Meaning.parse(body["meaning"])
        return cls(seq, body, signature)


def _now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_dossier(
    directory: str | Path,
    *,
    meaning: str,
    key: SignerKey,
    printed_name: str,
    ledger: str | Path,
    log_key: SignerKey | None = None,
) -> SignatureRecord:
    """Sign the sealed dossier in ``directory`` (see the module docstring); return the record.

    Refused (SignatureError, nothing written) when the dossier does not verify, the ledger has no
    ``dossier.sealed`` entry for its SEAL, the key is not registered or was revoked, the printed
    name differs from the registered one, or this key already signed this SEAL with this meaning.
    """
    root = Path(directory)
    problems, found = check_sealed(root)
    if problems or found is None:
        listed = "\n".join(f"  {item}: {message}" for item, message in problems)
        raise SignatureError(f"{root}: does not verify; refusing to sign:\n{listed}")
    seal = found
    the_meaning = Meaning.parse(meaning).value
    statement = {
        "format": STATEMENT_FORMAT,
        "key": str(key.verifier),
        "key_id": key.verifier.key_id.hex(),
        "meaning": the_meaning,
        "printed_name": printed_name.strip() if isinstance(printed_name, str) else printed_name,
        "seal": seal,
        "signed_utc": _now_utc(),
        "user": key.name,
    }
    signature = key.sign(canonical_json(statement))

    def check(view: LedgerView) -> None:
        if not any(
            list(view.entries(event_type=event, where={"seal": seal})) for event in SEALED_EVENTS
        ):
            raise SignatureError(
                f"ledger {ledger} has no dossier.sealed or submission.sealed entry for SEAL {seal}; "
                "only a dossier or package recorded in this ledger can be signed"
            )
        status = ledger_key_status(view, statement["key_id"])
        if status is None or status.key != key.verifier:
            raise SignatureError(
                f"key {key.name}+{statement['key_id']} is not registered in ledger {ledger}; "
                "the administrator registers it with 'her2map signing register'"
            )
        if status.revoked_seq is not None:
            raise SignatureError(
                f"key {key.name}+{statement['key_id']} was revoked (ledger entry "
                f"{status.revoked_seq}); it cannot sign"
            )
        if status.printed_name != statement["printed_name"]:
            raise SignatureError(
                f"printed name {statement['printed_name']!r} differs from the name registered "
                f"with this key ({status.printed_name!r})"
            )
        for done in view.entries(event_type=SIGNED_EVENT, where={"seal": seal}):
            if (done.payload.get("key_id"), done.payload.get("meaning")) == (
                statement["key_id"],
                the_meaning,
            ):
                raise SignatureError(
                    f"{key.name} already signed this SEAL as {the_meaning} (entry {done.seq})"
                )

    payload = {**statement, "signature": base64.b64encode(signature).decode("ascii")}
    if log_key is not None:  # the client checks the log against its held checkpoint first
        check_held(ledger, log_key)
    with Ledger.open(ledger, create=False) as book:
        entry: Entry = book.append(SIGNED_EVENT, payload, actor=key.name, check=check)
    record = SignatureRecord(entry.seq, statement, signature)
    write_signatures(root, ledger)
    if log_key is not None:
        attach_log(root, ledger, log_key)
    return record


def write_signatures(directory: Path, ledger: str | Path) -> list[SignatureRecord]:
    """Rewrite ``signatures/`` from the ledger's ``signature.applied`` entries for the SEAL."""
    from validation.dossier.manifest import SEAL_NAME, read_seal
    from validation.signing.manifestation import signature_page

    seal = read_seal(directory / SEAL_NAME)
    with Ledger.open(ledger, create=False) as book:
        records = [
            SignatureRecord.from_payload(e.seq, e.payload, source=f"ledger entry {e.seq}")
            for e in book.entries(event_type=SIGNED_EVENT, where={"seal": seal})
        ]
    files = {r.file_name: r.to_json() for r in records}
    files["index.html"] = signature_page(str(seal), records)
    _replace_folder(directory, SIGNATURES_DIR, files)
    return records


def read_signatures(directory: str | Path) -> list[SignatureRecord]:
    """The signature records in ``signatures/`` (parsed, not yet verified), by ledger seq."""
    folder = Path(directory) / SIGNATURES_DIR
    if not folder.exists():
        return []
    records = []
    for path in sorted(folder.iterdir()):
        if path.name == "index.html":
            continue
        try:
            obj = json.loads(path.read_bytes().decode("utf-8"))
            seq = obj["ledger_seq"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
            raise SignatureError(f"{path}: not a signature record (JSON with ledger_seq)") from None
        record = SignatureRecord.from_payload(seq, obj, source=str(path))
        if path.name != record.file_name or path.is_symlink():
            raise SignatureError(f"{path}: a record for entry {seq} must be {record.file_name}")
        records.append(record)
    return sorted(records, key=lambda r: r.seq)
