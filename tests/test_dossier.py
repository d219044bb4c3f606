"""The dossier from a hand-written results.json (tests/fixtures/results_example.json, schema-shaped
with not-estimable values): byte-identical rebuilds, tamper detection by ``verify``, atomic writes,
a well-formed self-contained HTML page whose anchors resolve, and display rounding only.

Expected values are read from the fixture itself or written out by hand, never from the code under
test. Whole file about 15 s (three builds; the tamper property flips bytes in place and restores).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validation.canonical import canonical_json, sha256_file, sha256_hex
from validation.cli import main
from validation.dossier import SEALED_EVENT, build_dossier, seal_of, verify_dossier
from validation.dossier.formatting import fmt_estimate, fmt_num, fmt_p
from validation.exceptions import DossierError
from validation.ledger import Ledger

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RESULTS = FIXTURES / "results_example.json"
JUNIT = FIXTURES / "junit_example.xml"
TRACE = FIXTURES / "traceability_example.yaml"
TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("dossier")
    ledger = base / "ledger.db"
    with Ledger.open(ledger):
        pass
    build_dossier(RESULTS, base / "a", trace=TRACE, tests_dir=TESTS, junit=JUNIT, ledger=ledger)
    build_dossier(RESULTS, base / "b", trace=TRACE, tests_dir=TESTS, junit=JUNIT)
    return {"base": base, "a": base / "a", "b": base / "b", "ledger": ledger}


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.req("REQ-REPRO-001")
def test_two_builds_are_byte_identical(built: dict[str, Path]) -> None:
    a, b = _files(built["a"]), _files(built["b"])
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert a["SEAL"] == b["SEAL"]
    assert a["results.json"] == RESULTS.read_bytes()  # copied byte for byte


@pytest.mark.req("REQ-REPRO-001")
def test_no_clock_or_absolute_path_in_the_dossier(built: dict[str, Path]) -> None:
    year = re.compile(rb"20[2-3][0-9]-[01][0-9]-[0-3][0-9]")  # an ISO date anywhere
    for name, data in _files(built["a"]).items():
        if name == "results.json":
            continue
        assert not year.search(data), name
        assert str(built["base"]).encode() not in data, name


def test_manifest_lists_every_file_and_the_seal_formula_holds(built: dict[str, Path]) -> None:
    root = built["a"]
    raw = (root / "MANIFEST.json").read_bytes()
    manifest = json.loads(raw)
    assert canonical_json(manifest) == raw
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {n for n in _files(root) if n not in ("MANIFEST.json", "SEAL")}
    assert set(listed) == on_disk
    assert [f["path"] for f in manifest["files"]] == sorted(listed)
    for name, entry in listed.items():
        assert entry["sha256"] == sha256_file(root / name)
        assert entry["size"] == (root / name).stat().st_size
    assert manifest["inputs"]["junit_sha256"] == sha256_file(JUNIT)
    assert manifest["inputs"]["traceability_sha256"] == sha256_file(TRACE)
    assert manifest["inputs"]["results_sha256"] == sha256_file(RESULTS)
    # The seal, recomputed here from its documented formula (manifest.py / README).
    r = json.loads(RESULTS.read_bytes())["identity"]
    expected = sha256_hex(
        canonical_json(
            {
                "format": "her2map.dossier-seal/1",
                "manifest_sha256": sha256_hex(raw),
                "protocol_hash": r["protocol"]["hash"],
                "model_lock_hash": r["model"]["lock_hash"],
                "data_sha256": {
                    "labels": r["data"]["labels"]["sha256"],
                    "predictions": r["data"]["predictions"]["sha256"],
                },
            }
        )
    )
    assert (root / "SEAL").read_bytes() == f"{expected}\n".encode()
    assert seal_of(raw, json.loads(RESULTS.read_bytes())) == expected


def test_seal_is_recorded_in_the_ledger(built: dict[str, Path]) -> None:
    seal = (built["a"] / "SEAL").read_text().strip()
    with Ledger.open(built["ledger"], create=False) as book:
        entries = list(book.entries(event_type=SEALED_EVENT))
    assert [e.payload for e in entries] == [
        {"protocol_id": "HER2-VAL-001", "seal": seal, "results_sha256": sha256_file(RESULTS)}
    ]


def _dossier_names(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.req("REQ-TAMP-001")
@given(data=st.data())
def test_flipping_any_byte_of_any_file_is_named_by_verify(
    built: dict[str, Path], data: st.DataObject
) -> None:
    root = built["b"]
    names = _dossier_names(root)
    name = data.draw(st.sampled_from(names), label="file")
    path = root / name
    original = path.read_bytes()
    offset = data.draw(st.integers(0, len(original) - 1), label="offset")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    tampered = bytearray(original)
    tampered[offset] ^= mask
    path.write_bytes(bytes(tampered))
    try:
        report = verify_dossier(root)
    finally:
        path.write_bytes(original)
    assert not report.ok
    assert name in str(report)
    assert verify_dossier(root).ok


@pytest.mark.req("REQ-TAMP-001")
def test_removed_extra_and_truncated_files_are_named(
    built: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built["a"], root)
    (root / "figures" / "roc.svg").unlink()
    (root / "tables" / "extra.csv").write_text("x\n")
    (root / "notes.txt").write_text("added later\n")
    with open(root / "tables" / "endpoints.csv", "r+b") as handle:
        handle.truncate(10)
    report = verify_dossier(root)
    assert not report.ok
    assert dict(report.problems) == {
        "figures/roc.svg": "missing (listed in MANIFEST.json)",
        "tables/extra.csv": "extra (not in MANIFEST.json)",
        "notes.txt": "extra (not in MANIFEST.json)",
        "tables/endpoints.csv": dict(report.problems)["tables/endpoints.csv"],
    }
    assert dict(report.problems)["tables/endpoints.csv"].startswith("changed: sha256")
    assert main(["dossier", "verify", str(root)]) == 1
    assert main(["dossier", "verify", str(built["a"])]) == 0
    # The seal must be recorded in the ledger given (a fresh ledger has no dossier.sealed entry).
    assert main(["dossier", "verify", str(built["a"]), "--ledger", str(built["ledger"])]) == 0
    with Ledger.open(tmp_path / "empty.db"):
        pass
    assert main(["dossier", "verify", str(built["a"]), "--ledger", str(tmp_path / "empty.db")]) == 1


@pytest.mark.req("REQ-TAMP-001")
def test_missing_seal_and_manifest_are_named(built: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built["a"], root)
    (root / "SEAL").unlink()
    assert dict(verify_dossier(root).problems) == {"SEAL": "missing"}
    (root / "MANIFEST.json").unlink()
    problems = dict(verify_dossier(root).problems)
    assert problems["MANIFEST.json"] == "missing"


def test_existing_dossier_is_refused_without_force(built: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(DossierError, match=r"already exists.*--force"):
        build_dossier(RESULTS, out)
    assert (out / "keep.txt").read_text() == "old"
    assert main(["dossier", "build", str(RESULTS), "--out", str(out)]) == 2
    assert main(["dossier", "build", str(RESULTS), "--out", str(out), "--force"]) == 0
    assert not (out / "keep.txt").exists()
    assert verify_dossier(out).ok
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no partial or old directory left


def test_a_failed_build_leaves_no_directory(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_bytes(b'{"schema": "something-else"}')
    with pytest.raises(DossierError, match=r"key 'schema' must be 'her2map.results/1'"):
        build_dossier(bad, tmp_path / "d")
    with pytest.raises(DossierError, match=r"--junit needs --trace"):
        build_dossier(RESULTS, tmp_path / "d", junit=JUNIT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


class _StrictHTML(HTMLParser):
    """Tag balance, unique ids, and every href collected (Python's html.parser, no html5lib)."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._attrs(tag, attrs)

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for key, value in attrs:
            if key == "id" and value:
                self.ids.append(value)
            if key in ("href", "xlink:href", "src") and value:
                self.hrefs.append(value)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()


@pytest.mark.req("REQ-REPRO-001")
def test_html_is_well_formed_self_contained_and_anchors_resolve(built: dict[str, Path]) -> None:
    root = built["a"]
    html = (root / "index.html").read_text(encoding="utf-8")
    parser = _StrictHTML()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    assert len(parser.ids) == len(set(parser.ids)), "duplicate ids"
    assert "script" not in parser.tags
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing external
    assert "@import" not in html
    assert "url(http" not in html
    internal = [h for h in parser.hrefs if h.startswith("#")]
    assert {"#identity", "#summary", "#flow", "#traceability", "#environment"} <= set(internal)
    assert [h for h in internal if h[1:] not in set(parser.ids)] == []
    files = [h for h in parser.hrefs if not h.startswith("#")]
    assert files
    assert [h for h in files if not (root / h).is_file()] == []
    # Every CSV table and SVG figure is linked from the page.
    assert {f"tables/{p.name}" for p in (root / "tables").iterdir()} <= set(files)
    assert {f"figures/{p.name}" for p in (root / "figures").iterdir()} <= set(files)


def test_html_shows_verdicts_not_estimables_and_rounded_values(built: dict[str, Path]) -> None:
    html = (built["a"] / "index.html").read_text(encoding="utf-8")
    # VAL-E1: estimate 0.8912345678 (0.8412-0.9412345) shown with 3 decimals.
    assert "0.891 (0.841\u20130.941)" in html
    assert "0.8912345678" not in html
    assert "not estimable: no HER2-positive patients among 47 analysed" in html
    assert "not estimable: subgroup smaller than min_size 20" in html
    assert html.count('class="badge pass"') >= 3
    assert '<span class="badge fail">FAIL</span>' in html
    assert '<span class="badge ne">NOT EVALUABLE</span>' in html
    assert "P7f3a-000118" in html  # the listed high-confidence error (pseudonymous id)
    assert "1.2e-07" in html  # fixed-sequence p of VAL-E1 (1.234e-7)
    for section in ("STARD 2015 19", "TRIPOD+AI 12d"):
        assert section.split()[0] in html
    # SVG figures are inlined (no <img>), one per figure file.
    assert html.count("<svg ") == len(list((built["a"] / "figures").iterdir()))


def test_csv_tables_keep_full_precision(built: dict[str, Path]) -> None:
    rows = list(csv.DictReader(io.StringIO((built["a"] / "tables" / "endpoints.csv").read_text())))
    by_id = {r["id"]: r for r in rows}
    assert by_id["VAL-E1"]["result"] == "0.8912345678"
    assert by_id["VAL-E1"]["result_ci_high"] == "0.9412345"
    assert by_id["VAL-E1"]["metric"] == "auc"  # hidden in the HTML, kept in the CSV
    assert by_id["VAL-E6"]["result"] == ""
    assert by_id["VAL-E6"]["result_reason"] == "no HER2-positive patients among 47 analysed"
    assert by_id["VAL-E3"]["adjusted_p"] == ""
    two_by_two = (built["a"] / "tables" / "confusion_2x2.csv").read_text()
    assert two_by_two == (
        "index_test,reference_pos,reference_neg,total\n"
        "Model positive,36,24,60\nModel negative,10,160,170\nTotal,46,184,230\n"
    )


def test_traceability_matrix_shows_junit_outcomes(built: dict[str, Path]) -> None:
    rows = list(
        csv.DictReader(io.StringIO((built["a"] / "tables" / "traceability.csv").read_text()))
    )
    got = {(r["requirement"], r["verification"]): (r["result"], r["verdict"]) for r in rows}
    key = ("REQ-REPRO-001", "tests/test_dossier.py::test_two_builds_are_byte_identical")
    assert got.get(key) == ("passed", "PASS")
    key = (
        "REQ-TAMP-001",
        "tests/test_dossier.py::test_removed_extra_and_truncated_files_are_named",
    )
    assert got.get(key) == ("failed", "FAIL")
    key = (
        "REQ-PHI-001",
        "tests/test_dossier_e2e.py::test_no_patient_name_or_birth_date_in_any_file",
    )
    assert got.get(key) == ("skipped", "NOT EVALUABLE")
    # Endpoints: this protocol's show their verdict; another protocol's are verified elsewhere.
    assert got[("REQ-REPRO-001", "HER2-VAL-001/VAL-E1")] == ("0.8912345678", "PASS")
    assert got[("REQ-REPRO-001", "HER2-NAT-002/NAT-C1")][1] == "INFO"
    assert got[("REQ-GAP-001", "HER2-VAL-001/VAL-E9")] == ("", "NOT EVALUABLE")
    html = (built["a"] / "index.html").read_text(encoding="utf-8")
    assert sha256_file(JUNIT) in html
    summary = list(
        csv.DictReader(io.StringIO((built["a"] / "tables" / "requirements.csv").read_text()))
    )
    by_req = {r["requirement"]: r for r in summary}
    assert by_req["REQ-GAP-001"]["n_endpoints"] == "1"
    assert by_req["REQ-GAP-001"]["n_tests"] == "0"
    assert by_req["REQ-REPRO-001"]["n_endpoints"] == "2"
    assert int(by_req["REQ-REPRO-001"]["tests_passed"]) == 1  # one passed in the JUnit fixture
    assert (
        "REQ-GAP-001: endpoint &#39;HER2-VAL-001/VAL-E9&#39; does not exist in any protocol."
        in html
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.8912345678, "0.891"),
        (0.0004567, "4.57e-04"),
        (0, "0"),
        (12.34567, "12.346"),
        (None, "\u2014"),
        (-0.01234, "-0.012"),
        (5.551115123125783e-17, "0.000"),
        (7, "7"),
    ],
)
def test_number_display(value: object, expected: str) -> None:
    assert fmt_num(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.234e-7, "1.2e-07"), (0.0412, "0.041"), (0.001, "0.001"), (1.0, "1.000"), (None, "\u2014")],
)
def test_p_value_display(value: object, expected: str) -> None:
    assert fmt_p(value) == expected


def test_estimate_display() -> None:
    assert (
        fmt_estimate({"estimate": 0.5, "ci_low": 0.25, "ci_high": 0.75})
        == "0.500 (0.250\u20130.750)"
    )
    assert fmt_estimate({"estimate": 0.5, "ci_low": None, "ci_high": None}) == "0.500"
    assert (
        fmt_estimate({"estimate": None, "reason": "no positives"}) == "not estimable: no positives"
    )
    assert fmt_estimate({"estimate": None}) == "not estimable: no value and no reason given"
    twice = {"estimate": None, "reason": "not estimable: not estimable: n=2 < min_size 30"}
    assert fmt_estimate(twice) == "not estimable: n=2 < min_size 30"
