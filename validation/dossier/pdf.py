"""``dossier pdf``: the sealed dossier as one PDF/A-3b for a submission (WeasyPrint).

The PDF is printed from the dossier's own ``index.html`` (verified first: files, MANIFEST.json and
SEAL) plus a print stylesheet and a last page of signatures:

* every page has a controlled header (protocol id, version and title; the SEAL's first 16 hex
  digits) and footer (``Page X of Y``; the software that printed it); no date, no file path;
* bookmarks follow the headings (WeasyPrint's default ``bookmark-level`` for h1-h3);
* the signature page is :func:`validation.signing.manifestation.signature_section` of the records
  in ``signatures/`` whose Ed25519 signature verifies over this SEAL (a record that does not is
  refused: fix or remove it; registration and revocation are checked by ``dossier verify``);
* nothing is fetched: the dossier is self-contained, and the URL fetcher allows ``data:`` only;
* byte-reproducible: the PDF's creation and modification dates are the latest signature's
  ``signed_utc`` (or :data:`FIXED_DATE` before the first signature) and its file identifier is the
  SEAL's first 16 bytes, so the same dossier and signatures give the same bytes.

The PDF is written beside the dossier (``<DIR>.pdf`` by default), never inside it (it would be an
extra file in a sealed folder), atomically.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from validation.atomic import atomic_write
from validation.dossier.manifest import verify_dossier
from validation.exceptions import DossierError

__all__ = ["FIXED_DATE", "PDF_VARIANT", "PdfResult", "dossier_pdf"]

#: PDF/A part and conformance level written.
PDF_VARIANT = "pdf/a-3b"
#: Metadata date of a PDF printed before any signature (fixed, so bytes are reproducible).
FIXED_DATE = "2000-01-01T00:00:00Z"


@dataclass(frozen=True)
class PdfResult:
    path: Path
    n_pages: int
    n_signatures: int
    seal: str


def _css_string(text: str) -> str:
    return (
        '"' + re.sub(r'["\\\n\r]', lambda m: "\\" + format(ord(m.group()), "x") + " ", text) + '"'
    )


def _print_css(identity: dict[str, Any], seal: str, software: str) -> str:
    protocol = identity.get("protocol") or {}
    head = f"{protocol.get('id', '?')} v{protocol.get('version', '?')}"
    title = str(protocol.get("title", ""))
    if len(title) > 60:
        title = title[:60].rsplit(" ", 1)[0] + " …"
    return f"""
@page {{
  size: A4; margin: 22mm 14mm 20mm 14mm;
  @top-left {{ content: {_css_string(head)}; font-size: 8pt; }}
  @top-center {{ content: {_css_string(title)}; font-size: 8pt; }}
  @top-right {{ content: {_css_string("SEAL " + seal[:16] + "…")}; font-size: 8pt; }}
  @bottom-left {{ content: {_css_string(software)}; font-size: 8pt; }}
  @bottom-right {{ content: "Page " counter(page) " of " counter(pages); font-size: 8pt; }}
}}
html {{ font-family: "DejaVu Sans", sans-serif; }}
nav a::after, a[href]::after {{ content: none; }}
#signatures {{ break-before: page; }}
#signatures table {{ border-collapse: collapse; width: 100%; font-size: 9pt; }}
#signatures td, #signatures th {{ border: 0.5pt solid #444; padding: 3pt; text-align: left; }}
"""


def _insert(html: str, marker: str, addition: str) -> str:
    if html.count(marker) != 1:
        raise DossierError(f"index.html: expected one {marker}; the dossier was not built by us")
    return html.replace(marker, addition + marker)


@contextmanager
def _source_date_epoch(epoch: int) -> Iterator[None]:
    """Set ``SOURCE_DATE_EPOCH`` (reproducible-builds.org) while printing, then restore it."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def _software() -> str:
    from importlib.metadata import version

    return f"her2map {version('her2map')}, WeasyPrint {version('weasyprint')}"


def dossier_pdf(directory: str | Path, out: str | Path | None = None) -> PdfResult:
    """Write the PDF/A of the sealed dossier in ``directory`` (see the module docstring)."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    from validation.signing.esign import read_signatures
    from validation.signing.manifestation import signature_section

    root = Path(directory)
    verified = verify_dossier(root)
    if not verified.ok or verified.seal is None:
        raise DossierError(f"{root}: the dossier does not verify; no PDF printed:\n{verified}")
    seal = verified.seal
    records = read_signatures(root)
    for record in records:
        if record.statement["seal"] != seal or not record.signature_valid():
            raise DossierError(
                f"{root}/signatures/{record.file_name}: does not verify over SEAL {seal}; "
                "remove it (run 'her2map dossier verify') before printing"
            )
    results = json.loads((root / "results.json").read_bytes())
    identity = results.get("identity") or {}
    html = (root / "index.html").read_text(encoding="utf-8")
    date = max((r.signed_utc for r in records), default=FIXED_DATE)
    meta = (
        f'<meta name="dcterms.created" content="{date}">'
        f'<meta name="dcterms.modified" content="{date}">'
        f"<style>{_print_css(identity, seal, _software())}</style>"
    )
    html = _insert(html, "</head>", meta)
    html = _insert(html, "</body>", signature_section(seal, records))
    fetcher = URLFetcher(allowed_protocols=["data"])
    epoch = int(datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    with _source_date_epoch(epoch), warnings.catch_warnings():
        # WeasyPrint 70 opens its sRGB profile for PDF/A and leaves the file to the garbage
        # collector (a ResourceWarning, no effect on the PDF).
        warnings.simplefilter("ignore", ResourceWarning)
        # SVG presentation properties in style attributes are drawn but logged as "unknown"
        logging.getLogger("weasyprint").setLevel(logging.ERROR)
        document = HTML(string=html, base_url=None, url_fetcher=fetcher).render()
        data = document.write_pdf(pdf_variant=PDF_VARIANT, pdf_identifier=bytes.fromhex(seal[:32]))
    if not isinstance(data, bytes):
        raise DossierError("WeasyPrint returned no PDF bytes")
    target = Path(out) if out is not None else root.parent / f"{root.name}.pdf"
    if target.resolve().is_relative_to(root.resolve()):
        raise DossierError(f"{target}: write the PDF outside the sealed dossier folder")
    atomic_write(target, data)
    return PdfResult(target, len(document.pages), len(records), seal)
