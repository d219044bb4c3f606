"""Ed25519 keys and signed notes in the C2SP formats (https://c2sp.org/signed-note).

Keys are text, as in Go's ``golang.org/x/mod/sumdb/note``:

* verifier (public) key: ``<name>+<key id, 8 hex>+<base64(0x01 || 32-byte public key)>``;
* signer (private) key: ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>``;
* key id = first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key) (0x01 = Ed25519).

A signed note is its text (UTF-8, every line ending in a newline, no other control characters),
one blank line, then one line per signature: ``— <name> <base64(key id || signature)>`` where the
Ed25519 signature is over the text bytes. :func:`open_note` accepts a note only if a known key
signed it. Private keys never go into the ledger or a dossier; a signer key file is written with
mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from validation.exceptions import SignatureError

__all__ = [
    "NoteSignature",
    "SignerKey",
    "VerifierKey",
    "generate_key",
    "open_note",
    "read_signer_key",
    "read_verifier_keys",
    "sign_note",
]

_ALG_ED25519 = b"\x01"
_NAME_RE = re.compile(r"[^\s+\x00-\x1f\x7f]+")
_SIG_PREFIX = "— "  # EM DASH, space
_MAX_NOTE = 1 << 20


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or len(name) > 256:
        raise SignatureError(
            f"key name must be 1-256 printable characters without spaces or '+' "
            f"(e.g. 'her2map.example/ledger' or 'alice'); got {name!r}"
        )
    return name


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ALG_ED25519 + public).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"{what}: not valid base64 ({text[:40]!r})") from None


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name and 4-byte key id."""

    name: str
    key_id: bytes
    public: bytes

    def __str__(self) -> str:
        encoded = base64.b64encode(_ALG_ED25519 + self.public).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str, *, source: str = "verifier key") -> VerifierKey:
        """Read ``<name>+<hex id>+<base64>``; SignatureError naming ``source`` if malformed."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise SignatureError(
                f"{source}: expected '<name>+<8 hex key id>+<base64 key>' as written by "
                f"'her2map keys generate'; got {text.strip()[:80]!r}"
            )
        name = _check_name(parts[0])
        raw = _b64decode(parts[2], source)
        if len(raw) != 33 or raw[:1] != _ALG_ED25519:
            raise SignatureError(f"{source}: not an Ed25519 key (algorithm byte 0x01 + 32 bytes)")
        if _key_id(name, raw[1:]).hex() != parts[1]:
            raise SignatureError(f"{source}: key id {parts[1]} does not match the name and key")
        return cls(name, bytes.fromhex(parts[1]), raw[1:])

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True if ``signature`` is this key's Ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A private key (keep it out of the ledger and the repository)."""

    name: str
    seed: bytes

    @property
    def verifier(self) -> VerifierKey:
        public = _raw_public(Ed25519PrivateKey.from_private_bytes(self.seed).public_key())
        return VerifierKey(self.name, _key_id(self.name, public), public)

    def __str__(self) -> str:
        encoded = base64.b64encode(_ALG_ED25519 + self.seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    def __repr__(self) -> str:
        return f"SignerKey(name={self.name!r}, seed=<hidden>)"

    @classmethod
    def parse(cls, text: str, *, source: str = "signer key") -> SignerKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise SignatureError(
                f"{source}: expected 'PRIVATE+KEY+<name>+<id>+<base64>' as written by "
                "'her2map keys generate'"
            )
        raw = _b64decode(parts[4], source)
        if len(raw) != 33 or raw[:1] != _ALG_ED25519:
            raise SignatureError(f"{source}: not an Ed25519 private key")
        key = cls(_check_name(parts[2]), raw[1:])
        if key.verifier.key_id.hex() != parts[3]:
            raise SignatureError(f"{source}: key id {parts[3]} does not match the key")
        return key

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


def generate_key(name: str) -> SignerKey:
    """A new random Ed25519 signer key named ``name`` (os.urandom via ``cryptography``)."""
    return SignerKey(_check_name(name), os.urandom(32))


def read_signer_key(path: str | Path) -> SignerKey:
    """Read a signer key file; refuses one readable by group or others."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError(f"{path}: cannot read the private key file ({exc})") from None
    if mode & 0o077:
        raise SignatureError(
            f"{path}: private key file is readable by others (mode {oct(mode & 0o777)}); "
            f"run 'chmod 600 {path}'"
        )
    return SignerKey.parse(text, source=str(path))


def read_verifier_keys(path: str | Path) -> list[VerifierKey]:
    """Public keys from a file: one per line; blank lines and ``#`` comments ignored."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SignatureError(f"{path}: cannot read the public keys file ({exc})") from None
    keys = [
        VerifierKey.parse(line, source=f"{path} line {number}")
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not keys:
        raise SignatureError(f"{path}: holds no public key (one '<name>+<id>+<key>' per line)")
    return keys


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


def _check_text(text: bytes) -> str:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("note text is not UTF-8") from None
    if not decoded.endswith("\n") or "\n\n" in decoded or decoded.startswith("\n"):
        raise SignatureError("note text must be non-empty lines each ending in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in decoded) or "\x7f" in decoded:
        raise SignatureError("note text holds control characters")
    return decoded


def sign_note(text: bytes, *signers: SignerKey) -> bytes:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    lines = [
        f"{_SIG_PREFIX}{k.name} "
        f"{base64.b64encode(k.verifier.key_id + k.sign(text)).decode('ascii')}\n"
        for k in signers
    ]
    return text + b"\n" + "".join(lines).encode("utf-8")


def split_note(note: bytes, *, source: str = "note") -> tuple[bytes, list[NoteSignature]]:
    """Text and signature lines of a signed note (not yet verified)."""
    if len(note) > _MAX_NOTE:
        raise SignatureError(f"{source}: larger than {_MAX_NOTE} bytes; not a signed note")
    cut = note.rfind(b"\n\n")
    if cut < 0:
        raise SignatureError(f"{source}: no blank line between the text and its signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    signatures = []
    lines = block.decode("utf-8", "replace").split("\n")
    if lines[-1] != "":
        raise SignatureError(f"{source}: the last signature line does not end in a newline")
    for line in lines[:-1]:
        match = re.fullmatch(r"— (\S+) (\S+)", line)
        raw = _b64decode(match.group(2), source) if match else b""
        if not match or len(raw) < 5:
            raise SignatureError(f"{source}: malformed signature line {line[:80]!r}")
        signatures.append(NoteSignature(match.group(1), raw[:4], raw[4:]))
    if not signatures:
        raise SignatureError(f"{source}: carries no signature line")
    return text, signatures


def open_note(note: bytes, keys: list[VerifierKey], *, source: str = "note") -> bytes:
    """The text of ``note`` if one of ``keys`` signed it; SignatureError otherwise."""
    text, signatures = split_note(note, source=source)
    for sig in signatures:
        for key in keys:
            if key.name == sig.name and key.key_id == sig.key_id:
                if key.verify(sig.signature, text):
                    return text
                raise SignatureError(
                    f"{source}: signature by {sig.name} ({sig.key_id.hex()}) does not verify: "
                    "the text was changed after signing or the signature forged"
                )
    known = ", ".join(f"{k.name}+{k.key_id.hex()}" for k in keys)
    found = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)
    raise SignatureError(f"{source}: signed by {found}, none of the trusted keys ({known})")
