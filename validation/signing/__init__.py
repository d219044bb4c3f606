"""Attestations added to a sealed dossier after sealing: its log proof and its e-signatures.

>>> from validation.signing import register_key, sign_dossier, verify_signed   # doctest: +SKIP
>>> register_key("ledger.db", alice.verifier, printed_name="Alice Smith", actor="admin")
>>> sign_dossier("dossier/", meaning="approved", key=alice, printed_name="Alice Smith",
...              ledger="ledger.db", log_key=ledger_key)
>>> print(verify_signed("dossier/", log_keys=[ledger_key.verifier]))

:mod:`.logproof` (``log/``: checkpoint + inclusion proofs), :mod:`.registry` (keys registered and
revoked in the ledger), :mod:`.esign` (the signature and its ledger event), :mod:`.manifestation`
(the signature page), :mod:`.verify` (everything, offline or against the ledger).
"""

from validation.signing.esign import (
    SIGNATURES_DIR,
    STATEMENT_FORMAT,
    Meaning,
    SignatureRecord,
    read_signatures,
    sign_dossier,
)
from validation.signing.logproof import LOG_DIR, LogProof, attach_log, read_log
from validation.signing.registry import KeyStatus, key_status, register_key, revoke_key
from validation.signing.verify import SignedVerifyResult, verify_signed

__all__ = [
    "LOG_DIR",
    "SIGNATURES_DIR",
    "STATEMENT_FORMAT",
    "KeyStatus",
    "LogProof",
    "Meaning",
    "SignatureRecord",
    "SignedVerifyResult",
    "attach_log",
    "key_status",
    "read_log",
    "read_signatures",
    "register_key",
    "revoke_key",
    "sign_dossier",
    "verify_signed",
]
