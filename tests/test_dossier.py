"""The dossier of a results.json written by the runner (tests/conftest.py ``runner_run``: a small
protocol touching every section, with a failed fixed sequence and not-estimable values):
byte-identical rebuilds, tamper detection by ``verify``, atomic writes, a well-formed
self-contained HTML page whose anchors resolve, and display rounding only.

Expected values are read from the typed results (what the runner wrote), never from the renderer
under test. Whole file about 20 s (one run, three builds; the tamper property flips bytes in place
and restores).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from validation.canonical import canonical_json, sha256_file, sha256_hex
from validation.cli import main
from validation.dossier import SEALED_EVENT, build_dossier, seal_of, verify_dossier
from validation.dossier.formatting import fmt_estimate, fmt_num, fmt_p
from validation.exceptions import DossierError
from validation.ledger import Ledger
from validation.results import EstimateValue, Results, TestValue, loads

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
JUNIT = FIXTURES / "junit_example.xml"
TRACE = FIXTURES / "traceability_example.yaml"
TESTS = ROOT / "tests"


@pytest.fixture(scope="module")
def results_path(runner_run: Any) -> Path:
    path: Path = runner_run(0.95).results_path
    return path


@pytest.fixture(scope="module")
def results(results_path: Path) -> Results:
    return loads(results_path.read_bytes())


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, results_path: Path, runner_run: Any
) -> dict[str, Path]:
    """``a`` and ``b``: built alike, each in its own copy of the ledger that recorded the run."""
    from test_runner_helpers import copy_run_ledger

    base = tmp_path_factory.mktemp("dossier")
    ledger = copy_run_ledger(runner_run(0.95), base / "ledger.db")
    other = copy_run_ledger(runner_run(0.95), base / "other.db")
    build_dossier(
        results_path, base / "a", trace=TRACE, tests_dir=TESTS, junit=JUNIT, ledger=ledger
    )
    build_dossier(results_path, base / "b", trace=TRACE, tests_dir=TESTS, junit=JUNIT, ledger=other)
    return {"base": base, "a": base / "a", "b": base / "b", "ledger": ledger}


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.req("REQ-REPRO-001")
def test_two_builds_are_byte_identical(built: dict[str, Path], results_path: Path) -> None:
    a, b = _files(built["a"]), _files(built["b"])
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    assert a["SEAL"] == b["SEAL"]
    assert a["results.json"] == results_path.read_bytes()  # copied byte for byte


@pytest.mark.req("REQ-REPRO-001")
def test_no_clock_or_absolute_path_in_the_dossier(built: dict[str, Path]) -> None:
    year = re.compile(rb"20[2-3][0-9]-[01][0-9]-[0-3][0-9]")  # an ISO date anywhere
    for name, data in _files(built["a"]).items():
        if name in ("results.json", "provenance.json"):  # the run's and its ledger entry's time
            continue
        assert not year.search(data), name
        assert str(built["base"]).encode() not in data, name


def test_manifest_lists_every_file_and_the_seal_formula_holds(
    built: dict[str, Path], results_path: Path
) -> None:
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
    assert manifest["inputs"]["results_sha256"] == sha256_file(results_path)
    # The seal, recomputed here from its documented formula (manifest.py / README).
    r = json.loads(results_path.read_bytes())["identity"]
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
    assert seal_of(raw, loads(results_path.read_bytes())) == expected


def test_seal_is_recorded_in_the_ledger(built: dict[str, Path], results_path: Path) -> None:
    seal = (built["a"] / "SEAL").read_text().strip()
    with Ledger.open(built["ledger"], create=False) as book:
        entries = list(book.entries(event_type=SEALED_EVENT))
    assert [e.payload for e in entries] == [
        {"protocol_id": "TEST-RUN-001", "seal": seal, "results_sha256": sha256_file(results_path)}
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
def test_added_folders_are_named_by_verify(built: dict[str, Path], tmp_path: Path) -> None:
    """Wrong version: verify listed files only, so an empty folder added inside a sealed dossier
    (or a nest of them) was invisible and the dossier verified OK. The folders the format defines
    after sealing (log/, signatures/) are not extras."""
    root = tmp_path / "copy"
    shutil.copytree(built["a"], root)
    assert verify_dossier(root).ok
    (root / "notes").mkdir()
    (root / "figures" / "old" / "older").mkdir(parents=True)
    (root / "log").mkdir(exist_ok=True)
    (root / "signatures").mkdir(exist_ok=True)
    report = verify_dossier(root)
    assert dict(report.problems) == {
        "figures/old/": "extra folder (holds no file of MANIFEST.json)",
        "notes/": "extra folder (holds no file of MANIFEST.json)",
    }
    assert main(["dossier", "verify", str(root)]) == 1
    (root / "notes" / "n.txt").write_text("added\n")  # a folder of extras: both named
    assert dict(verify_dossier(root).problems)["notes/"].startswith("extra folder")
    assert dict(verify_dossier(root).problems)["notes/n.txt"] == "extra (not in MANIFEST.json)"


@pytest.mark.req("REQ-TAMP-001")
def test_missing_seal_and_manifest_are_named(built: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built["a"], root)
    (root / "SEAL").unlink()
    assert dict(verify_dossier(root).problems) == {"SEAL": "missing"}
    (root / "MANIFEST.json").unlink()
    problems = dict(verify_dossier(root).problems)
    assert problems["MANIFEST.json"] == "missing"


def test_existing_dossier_is_refused_without_force(
    built: dict[str, Path], tmp_path: Path, results_path: Path
) -> None:
    RESULTS = results_path
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


def test_a_failed_build_leaves_no_directory(tmp_path: Path, results_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_bytes(b'{"schema": "her2map.results/1"}')
    with pytest.raises(DossierError, match=r"key 'format' must be 'her2map.results/2'.*re-run"):
        build_dossier(bad, tmp_path / "d")
    # A results.json whose shape breaks the contract is named by key path (JSON Schema).
    data = json.loads(results_path.read_bytes())
    data["endpoints"][0]["judgement"]["verdict"] = "MAYBE"
    bad.write_bytes(json.dumps(data).encode())
    with pytest.raises(DossierError, match=r"endpoints\[0\]\.judgement\.verdict: 'MAYBE' is not"):
        build_dossier(bad, tmp_path / "d")
    with pytest.raises(DossierError, match=r"--junit needs --trace"):
        build_dossier(results_path, tmp_path / "d", junit=JUNIT)
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


def test_html_shows_verdicts_not_estimables_and_rounded_values(
    built: dict[str, Path], results: Results
) -> None:
    html = (built["a"] / "index.html").read_text(encoding="utf-8")
    e1 = results.endpoints[0].result
    assert isinstance(e1, EstimateValue)
    assert e1.estimate is not None
    assert e1.ci_low is not None
    assert e1.ci_high is not None
    shown = f"{e1.estimate:.3f} ({e1.ci_low:.3f}\u2013{e1.ci_high:.3f})"
    assert shown in html
    assert repr(e1.estimate) not in html  # full precision only in results.json and the CSV
    # the site without positives: no estimate, its rule, and no verdict badge beside it
    assert "not estimable (0 positives &lt; 5)" in html
    assert "not estimable: not estimable" not in html
    assert '<span class="badge fail">FAIL</span>' in html
    assert '<span class="badge ne">NOT EVALUABLE</span>' in html
    hc = results.error_analysis.high_confidence if results.error_analysis else None
    assert hc is not None
    assert all(pid in html for pid in hc.ids)  # listed high-confidence errors (pseudonymous)
    for section in ("STARD 2015 19", "TRIPOD+AI 12d"):
        assert section.split()[0] in html
    # SVG figures are inlined (no <img>), one per figure file.
    assert html.count("<svg ") == len(list((built["a"] / "figures").iterdir()))


@pytest.mark.req("REQ-REPORT-001")
def test_first_screen_states_the_primary_verdict_and_counts_primary_apart(
    built: dict[str, Path], results: Results
) -> None:
    """Wrong version: cover badges that add primary and secondary verdicts together."""
    html = (built["a"] / "index.html").read_text(encoding="utf-8")
    cover = html[html.index('<header class="cover"') : html.index("</header>")]
    s = results.summary
    assert s.primary == ("E1", "E2", "E3")
    assert s.verdict == "FAIL"
    assert "The primary hypothesis of TEST-RUN-001 is not met: E2 FAILED" in s.conclusion
    line = cover[cover.index('class="verdict-line"') :]
    assert line.index('<span class="badge fail">FAIL</span>') < line.index(escape(s.conclusion))
    primary = cover[cover.index("Primary analyses:") : cover.index("secondary analyses")]
    for count in ("1 PASS", "1 FAIL", "1 NOT EVALUABLE"):
        assert count in primary
    assert "PASS" not in primary.replace("1 PASS", "")  # S1, S2, C1, C3 are not counted here


def test_csv_tables_keep_full_precision(built: dict[str, Path], results: Results) -> None:
    rows = list(csv.DictReader(io.StringIO((built["a"] / "tables" / "endpoints.csv").read_text())))
    by_id = {r["id"]: r for r in rows}
    e1 = results.endpoints[0].result
    assert isinstance(e1, EstimateValue)
    assert by_id["E1"]["result"] == repr(e1.estimate)
    assert by_id["E1"]["result_ci_high"] == repr(e1.ci_high)
    assert by_id["E1"]["metric"] == "auc"  # hidden in the HTML, kept in the CSV
    assert by_id["E1"]["role"] == "primary"
    assert by_id["S1"]["role"] == "secondary"
    assert by_id["E3"]["adjusted_p"] != ""
    c = results.confusion
    assert c is not None
    two_by_two = (built["a"] / "tables" / "confusion_2x2.csv").read_text()
    assert two_by_two == (
        "index_test,reference_pos,reference_neg,total\n"
        f"Model positive,{c.tp},{c.fp},{c.tp + c.fp}\nModel negative,{c.fn},{c.tn},{c.fn + c.tn}\n"
        f"Total,{c.tp + c.fn},{c.fp + c.tn},{c.tp + c.fp + c.fn + c.tn}\n"
    )


@pytest.mark.req("REQ-TRACE-001")
def test_traceability_matrix_shows_junit_outcomes_and_unmet_requirements(
    built: dict[str, Path], results: Results
) -> None:
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
    # Endpoints: this protocol's show their verdict; another protocol's are verified elsewhere.
    e1 = results.endpoints[0].result
    assert isinstance(e1, EstimateValue)
    assert got[("REQ-REPRO-001", "TEST-RUN-001/E1")] == (repr(e1.estimate), "PASS")
    assert got[("REQ-REPRO-001", "HER2-NAT-002/NAT-C1")][1] == "INFO"
    assert got[("REQ-GAP-001", "TEST-RUN-001/E9")] == (
        "endpoint not in these results",
        "NOT EVALUABLE",
    )
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
    # Wrong version: a roll-up that counts only failed tests shows "0 failed" for a requirement
    # whose endpoint FAILED.
    assert by_req["REQ-FAIL-001"]["endpoints_failed"] == "1"
    assert by_req["REQ-FAIL-001"]["status"] == "not met"
    assert by_req["REQ-TAMP-001"]["status"] == "not met"  # its test failed in the JUnit XML
    assert "REQ-GAP-001: endpoint &#39;TEST-RUN-001/E9&#39; does not exist in any protocol." in html


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


def _est(v: float | None, lo: float | None, hi: float | None, why: str | None = None) -> Any:
    return EstimateValue("estimate", v, lo, hi, 0.95, "wilson", 10, None, why)


def test_estimate_display() -> None:
    assert fmt_estimate(_est(0.5, 0.25, 0.75)) == "0.500 (0.250\u20130.750)"
    assert fmt_estimate(_est(0.5, None, None)) == "0.500"
    assert (
        fmt_estimate(_est(None, None, None, "1 positive < 5")) == "not estimable (1 positive < 5)"
    )
    assert fmt_estimate(_est(None, None, None)) == "not estimable (no value and no reason given)"
    test = TestValue("test", 22.0, 0.001, "mcnemar-exact", 123, None, None)
    assert fmt_estimate(test) == "22.000"


@pytest.mark.req("REQ-REPRO-001")
def test_a_dossier_without_its_inputs_says_it_cannot_rerun_alone(
    built: dict[str, Path], runner_run: Any, tmp_path: Path
) -> None:
    """Built from results.json alone (no --protocol/--predictions/--labels): reproduce refuses,
    naming what is missing; built with them, it reproduces from the folder alone."""
    from validation.reproduce import reproduce_dossier

    with pytest.raises(DossierError, match=r"carries no single protocol input.*cannot re-run"):
        reproduce_dossier(built["a"])
    run = runner_run(0.95)
    args = ["dossier", "build", str(run.results_path), "--out", str(tmp_path / "d")]
    assert main([*args, "--protocol", str(run.inputs.protocol)]) == 2  # all three or none
    carried = ["--protocol", str(run.inputs.protocol), "--predictions",
               str(run.inputs.predictions), "--labels", str(run.inputs.labels)]  # fmt: skip
    assert main([*args, *carried]) == 0
    assert reproduce_dossier(tmp_path / "d").ok
