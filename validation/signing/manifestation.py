"""The signature page: each e-signature's manifestation (21 CFR 11.50).

For every signature it shows the signer's printed name, the UTC date and time of signing, the
meaning (authored, reviewed, approved), the user id and key id, and the ledger entry that records
it, all for the SEAL they sign. It is ``signatures/index.html`` (outside the manifest, so that
adding a signature never changes the seal) and the last page of the PDF
(:mod:`validation.dossier.pdf`). Everything shown comes from the signature records; the page has
no clock and no path in it, so the same records give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from validation.signing.esign import SignatureRecord

__all__ = ["signature_page", "signature_section"]


def signature_section(seal: str, records: Sequence[SignatureRecord]) -> str:
    """The HTML ``<section>`` listing the signatures (shared by the page and the PDF)."""
    rows = "\n".join(
        "<tr>"
        f"<td>{escape(r.printed_name)}</td>"
        f"<td>{escape(r.meaning)}</td>"
        f"<td>{escape(r.signed_utc)}</td>"
        f"<td><code>{escape(r.user)}</code></td>"
        f"<td><code>{escape(r.key_id)}</code></td>"
        f"<td>{r.seq}</td>"
        "</tr>"
        for r in records
    )
    body = (
        "<table><thead><tr><th>Printed name</th><th>Meaning</th><th>Signed (UTC)</th>"
        "<th>User</th><th>Key id</th><th>Ledger entry</th></tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody></table>"
        if records
        else "<p>No electronic signature has been applied to this dossier.</p>"
    )
    return (
        '<section id="signatures"><h1>Signatures</h1>\n'
        f"<p>Electronic signatures (21 CFR 11.50) over SEAL <code>{escape(seal)}</code>. Each "
        "signature is an Ed25519 signature of the SEAL, meaning, printed name and UTC time, by a "
        "key registered in the audit ledger; each is recorded in the ledger.</p>\n"
        f"{body}\n</section>"
    )


def signature_page(seal: str, records: Sequence[SignatureRecord]) -> bytes:
    """The standalone signature page ``signatures/index.html``."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Signatures</title></head><body>\n"
        f"{signature_section(seal, records)}\n</body></html>\n"
    ).encode()
