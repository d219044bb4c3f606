"""``dossier pdf``: PDF/A-3b of a sealed, signed dossier, checked through pdftotext (poppler)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from validation.cli import main
from validation.dossier import build_dossier, verify_dossier
from validation.dossier.pdf import FIXED_DATE, dossier_pdf
from validation.exceptions import DossierError
from validation.ledger.note import generate_key
from validation.ledger.witness import STATE_ENV
from validation.signing import read_signatures, register_key, sign_dossier

PDFTOTEXT = shutil.which("pdftotext")
pytestmark = pytest.mark.skipif(
    PDFTOTEXT is None and not os.environ.get("CI"),
    reason="pdftotext (poppler-utils) is not installed; .ci/run installs it",
)


def _text(pdf: Path, page: int | None = None) -> str:
    pages = [] if page is None else ["-f", str(page), "-l", str(page)]
    cmd = [str(PDFTOTEXT), "-layout", *pages, str(pdf), "-"]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, runner_run: Any) -> dict[str, Path]:
    """The runner's results (conftest ``runner_run``) sealed, signed twice and printed twice."""
    from test_runner_helpers import copy_run_ledger

    results = runner_run(0.95).results_path
    base = tmp_path_factory.mktemp("pdf")
    ledger = copy_run_ledger(runner_run(0.95), base / "ledger.db")  # where the run is recorded
    alice, bob = generate_key("alice"), generate_key("bob")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(STATE_ENV, str(base / "state"))
        build_dossier(results, base / "dossier", ledger=ledger)
        register_key(ledger, alice.verifier, printed_name="Alice Smith", actor="admin")
        register_key(ledger, bob.verifier, printed_name="Bob O'Neil-Jones", actor="admin")
        for key, name, meaning in (
            (alice, "Alice Smith", "authored"),
            (bob, "Bob O'Neil-Jones", "approved"),
        ):
            sign_dossier(
                base / "dossier", meaning=meaning, key=key, printed_name=name, ledger=ledger
            )
    first = dossier_pdf(base / "dossier").path
    second = dossier_pdf(base / "dossier", base / "again.pdf").path
    return {"dossier": base / "dossier", "pdf": first, "again": second, "base": base}


@pytest.mark.req("REQ-SIG-002")
def test_pdf_text_carries_each_signatures_name_time_and_meaning(signed: dict[str, Path]) -> None:
    records = read_signatures(signed["dossier"])
    assert len(records) == 2
    text = _text(signed["pdf"])
    signature_page = text.split("\f")[-2]  # pdftotext ends each page with a form feed
    assert "Signatures" in signature_page
    for record in records:
        line = next(ln for ln in signature_page.splitlines() if record.printed_name in ln)
        assert record.meaning in line
        assert record.signed_utc in line
    assert verify_dossier(signed["dossier"]).ok  # printing did not touch the sealed folder


@pytest.mark.req("REQ-SIG-002")
def test_every_page_has_header_footer_and_content_and_is_reproducible(
    signed: dict[str, Path],
) -> None:
    assert signed["pdf"].read_bytes() == signed["again"].read_bytes()
    seal = (signed["dossier"] / "SEAL").read_text().strip()
    pages = _text(signed["pdf"]).split("\f")[:-1]
    assert len(pages) > 5
    for number, page in enumerate(pages, 1):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        assert lines[0].startswith("TEST-RUN-001 v1.0"), number
        assert f"SEAL {seal[:16]}" in lines[0]
        assert lines[-1].endswith(f"Page {number} of {len(pages)}")
        body = lines[1:-1]
        assert body, f"page {number} is blank between header and footer"
    assert "/tmp" not in _text(signed["pdf"])  # no local file path printed


def test_pdfa_metadata_dates_and_bookmarks(signed: dict[str, Path]) -> None:
    data = signed["pdf"].read_bytes()
    streams = [
        zlib.decompress(m.group(1))
        for m in re.finditer(rb"/FlateDecode[^>]*>>\s*stream\r?\n(.*?)endstream", data, re.S)
        if _inflates(m.group(1))
    ]
    xmp = b"".join(s for s in streams if b"pdfaid" in s) + data
    assert re.search(rb"pdfaid:part[>=\"']+3", xmp)
    assert re.search(rb"pdfaid:conformance[>=\"']+B", xmp)
    latest = max(r.signed_utc for r in read_signatures(signed["dossier"]))
    info = subprocess.run(
        ["pdfinfo", "-isodates", str(signed["pdf"])], check=True, capture_output=True, text=True
    ).stdout
    assert f"CreationDate:    {latest}" in info
    assert latest != FIXED_DATE
    outline = subprocess.run(
        ["pdftohtml", "-xml", "-stdout", "-i", "-q", str(signed["pdf"])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "<outline>" in outline
    assert re.search(r"<item page=\"\d+\">Signatures</item>", outline)


def _inflates(raw: bytes) -> bool:
    try:
        zlib.decompress(raw)
    except zlib.error:
        return False
    return True


def test_pdf_of_an_altered_dossier_or_into_the_dossier_is_refused(
    signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DossierError, match="outside the sealed dossier"):
        dossier_pdf(signed["dossier"], signed["dossier"] / "x.pdf")
    copy = tmp_path / "copy"
    shutil.copytree(signed["dossier"], copy)
    record = read_signatures(copy)[0]
    path = copy / "signatures" / record.file_name
    path.write_text(path.read_text().replace(record.printed_name, "Eve"))
    with pytest.raises(DossierError, match="does not verify over SEAL"):
        dossier_pdf(copy, tmp_path / "x.pdf")
    (copy / "index.html").write_text("edited")
    assert main(["dossier", "pdf", str(copy), "--out", str(tmp_path / "y.pdf")]) == 2
    assert "does not verify" in capsys.readouterr().err
    assert not (tmp_path / "y.pdf").exists()
