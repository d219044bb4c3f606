"""What a suite run writes for CI and for people: the JUnit XML (validated against the
Jenkins/Ant JUnit schema in tests/junit.xsd), summary.json against its JSON Schema, and the
summary page. One suite run (a passing, a failing and a broken protocol) feeds every test."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lxml import etree
from markupsafe import escape
from suite_helpers import FAILING, NOT_RUNNABLE, PASSING, make_suite

from validation.exceptions import SuiteError
from validation.results import loads
from validation.suite import SUMMARY_SCHEMA, SuiteRun, check_summary, run_suite, verify_suite

XSD = Path(__file__).with_name("junit.xsd")
#: The failing protocol runs at an unusual confidence level, so that a "95%" written by a
#: template instead of taken from the results would show (STYLE.md rule 17).
ODD_LEVEL: dict[str, Any] = {**FAILING, "confidence": 0.999}
#: Comparisons: one with a criterion in a Holm family (primary), one descriptive (no test case).
WITH_COMPARISONS: dict[str, Any] = {
    **PASSING,
    "comparisons": [
        {
            "id": "C1",
            "method": "kappa",
            "comparator": "biopsy_her2",
            "criterion": "ci_low >= 0.20",
            "family": "agreement",
        },
        {"id": "C2", "method": "mcnemar", "outcome": "reference_her2", "comparator": "biopsy_her2"},
    ],
}


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    tmp = tmp_path_factory.mktemp("suite")
    spec, ledger, _ = make_suite(tmp, (WITH_COMPARISONS, NOT_RUNNABLE, ODD_LEVEL))
    return run_suite(spec, ledger=ledger, root=tmp)


def _junit(run: SuiteRun) -> Any:
    return etree.parse(str(run.summary_dir / "junit.xml"))


# --- JUnit --------------------------------------------------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
def test_the_junit_report_is_valid_against_the_junit_schema(suite_run: SuiteRun) -> None:
    assert verify_suite(suite_run.summary_dir).ok  # with a protocol that has no dossier
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    document = _junit(suite_run)
    assert schema.validate(document), schema.error_log
    # The validator is not vacuous: a testsuite without its required 'tests' count is refused.
    broken = copy.deepcopy(document)
    del broken.getroot().find("testsuite").attrib["tests"]
    assert not schema.validate(broken)
    assert "tests" in str(schema.error_log)


@pytest.mark.req("REQ-SUITE-001")
def test_one_testsuite_per_protocol_and_one_testcase_per_criterion(suite_run: SuiteRun) -> None:
    root = _junit(suite_run).getroot()
    assert root.tag == "testsuites"
    assert root.get("name") == "TEST-SUITE-001"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["TEST-RUN-001", "TEST-RUN-003", "TEST-RUN-002"]
    passing, broken, failing = suites
    assert [c.get("name") for c in passing.findall("testcase")] == [
        "E1",
        "E2",
        "E3",
        "S1",
        "C1",
        "G1",
    ]
    assert {c.get("classname") for c in passing.iter("testcase")} == {"TEST-SUITE-001.TEST-RUN-001"}
    assert passing.findall("testcase/failure") == []
    assert passing.findall("testcase/skipped") == []
    props = {p.get("name"): p.get("value") for p in passing.iter("property")}
    outcome = suite_run.runs[0]
    assert props["protocol_hash"] == outcome.protocol_hash
    assert props["dossier_seal"] == outcome.dossier_seal

    cases = {c.get("name"): c for c in failing.findall("testcase")}
    assert sorted(cases) == ["F1", "F2", "F3"]
    failure = cases["F1"].find("failure")
    assert failure.get("type") == "FAIL"
    assert re.match(r"ci_low = 0\.\d+ does not meet 'ci_low >= 0\.999'", failure.get("message"))
    skipped = cases["F2"].find("skipped")  # fixed sequence stopped at F1
    assert skipped.get("message").startswith("not tested")
    assert cases["F3"].find("failure") is None
    assert cases["F3"].find("skipped") is None
    assert (failing.get("tests"), failing.get("failures"), failing.get("skipped")) == (
        "3",
        "1",
        "1",
    )

    (run_case,) = broken.findall("testcase")
    assert run_case.get("name") == "run"
    error = run_case.find("error")
    assert "takes its decision threshold from the model lock" in error.get("message")
    assert (broken.get("tests"), broken.get("errors")) == ("1", "1")
    totals = (root.get("tests"), root.get("failures"), root.get("errors"))
    assert totals == ("10", "1", "1")
    kappa = suite_run.runs[0].outcome.analysis("C1")
    assert kappa.kind == "comparison"
    assert kappa.primary
    assert kappa.method == "fleiss-cohen-everitt"
    assert kappa.ci_low <= kappa.estimate <= kappa.ci_high


@pytest.mark.req("REQ-SUITE-001")
def test_the_interval_level_comes_from_each_protocols_results(suite_run: SuiteRun) -> None:
    root = _junit(suite_run).getroot()
    text = {s.get("name"): " ".join(s.itertext()) for s in root.findall("testsuite")}
    assert "(99.9% CI " in text["TEST-RUN-002"]
    assert "95%" not in text["TEST-RUN-002"]
    assert "(95% CI " in text["TEST-RUN-001"]
    page = (suite_run.summary_dir / "index.html").read_text()
    row = page[page.index("<code>TEST-RUN-002</code>") :]
    assert "(99.9% CI, delong)" in row.split("</tr>")[0]
    assert "95%" not in row.split("</tr>")[0]


# --- summary.json and its schema ---------------------------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
def test_the_summary_validates_against_its_schema(suite_run: SuiteRun) -> None:
    jsonschema.Draft202012Validator.check_schema(SUMMARY_SCHEMA)
    summary = json.loads((suite_run.summary_dir / "summary.json").read_bytes())
    jsonschema.validate(summary, SUMMARY_SCHEMA, cls=jsonschema.Draft202012Validator)
    assert summary["format"] == "her2map.suite-summary/1"
    assert summary["gate"]["met"] is False
    assert summary["exit_status"] == 1
    failing = summary["protocols"][2]
    assert failing["confidence"] == 0.999
    assert [a["id"] for a in failing["analyses"]] == ["F1", "F2", "F3"]
    assert [a["primary"] for a in failing["analyses"]] == [True, True, False]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("gate"), r"<top level>: 'gate' is a required property"),
        (
            lambda s: s["protocols"][0]["analyses"][0].update(verdict="PASSED"),
            r"protocols/0/analyses/0/verdict: 'PASSED' is not one of",
        ),
        (lambda s: s["suite"].update(hash="abc"), r"suite/hash: 'abc' does not match"),
        (lambda s: s.update(exit_status=2), r"exit_status: 2 is not one of \[0, 1\]"),
        (lambda s: s.update(extra=1), r"Additional properties are not allowed \('extra'"),
    ],
)
def test_a_summary_that_breaks_the_schema_is_refused_naming_the_path(
    suite_run: SuiteRun, edit: Any, message: str
) -> None:
    summary = json.loads((suite_run.summary_dir / "summary.json").read_bytes())
    edit(summary)
    with pytest.raises(SuiteError, match=message):
        check_summary(summary)


# --- the page -----------------------------------------------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
def test_the_page_has_one_row_per_protocol_with_links_and_the_identity(
    suite_run: SuiteRun,
) -> None:
    page = (suite_run.summary_dir / "index.html").read_text()
    summary = json.loads((suite_run.summary_dir / "summary.json").read_bytes())
    for protocol in summary["protocols"]:
        assert f"<code>{protocol['id']}</code>" in page
        assert f'title="{protocol["hash"]}"' in page
        if protocol["status"] == "completed":  # the results' own conclusion, word for word
            results = loads((suite_run.out / protocol["id"] / "results.json").read_bytes())
            assert protocol["conclusion"] == results.summary.conclusion
            assert str(escape(results.summary.conclusion)) in page
        else:
            assert protocol["conclusion"] is None
    links = re.findall(r'href="([^"]+)"', page)
    assert links == ["../TEST-RUN-001/dossier/index.html", "../TEST-RUN-002/dossier/index.html"]
    for link in links:
        assert (suite_run.summary_dir / link).is_file()
    assert "Gate not met" in page
    assert "TEST-RUN-003: the protocol did not complete" in page
    identity = summary["identity"]
    for digest in (
        summary["suite"]["hash"],
        identity["data_sha256"]["predictions"],
        identity["data_sha256"]["labels"],
        identity["ledger"]["head_hash"],
    ):
        assert digest in page


#: Nobody is called positive at threshold 1.0 (scores are below 1), so the PPV has no
#: denominator: a primary endpoint that is not estimable, after one that is.
NOT_ESTIMABLE: dict[str, Any] = {
    "id": "TEST-RUN-004",
    "operating_point": {"threshold": 1.0},
    "endpoints": [
        {"id": "N1", "metric": "auc", "criterion": "ci_low >= 0.60", "hierarchy": 1},
        {"id": "N2", "metric": "ppv", "criterion": "ci_low >= 0.50", "hierarchy": 2},
    ],
    "subgroups": [],
}


@pytest.mark.req("REQ-SUITE-001")
def test_the_page_shows_each_primary_estimate_and_interval_as_the_summary_holds_them(
    suite_run: SuiteRun, tmp_path: Path
) -> None:
    """Every primary analysis on the page reads ``estimate (low–high)`` at 3 decimals from
    summary.json, and ``not estimable (reason)`` only where the result is not estimable, with the
    result's own reason. Wrong version: the template pipes the analysis (a dict of summary.json)
    into the dossier's ``est`` filter, which formats typed results only and so shows "—" for every
    estimate and no interval."""
    spec, ledger, _ = make_suite(tmp_path, (NOT_ESTIMABLE,))
    runs = (suite_run, run_suite(spec, ledger=ledger, root=tmp_path))
    seen = {"estimated": 0, "not estimable": 0}
    for run in runs:
        page = (run.summary_dir / "index.html").read_text()
        summary = json.loads((run.summary_dir / "summary.json").read_bytes())
        items = dict(re.findall(r"<li><code>([^<]+)</code>(.*?)</li>", page))
        for protocol in summary["protocols"]:
            for a in protocol["analyses"]:
                if not a["primary"]:
                    continue
                shown = items[a["id"]]
                value = shown.split(": ", 1)[1].split(" — ")[0]
                if a["estimate"] is not None:
                    seen["estimated"] += 1
                    interval = f"{a['ci_low']:.3f}–{a['ci_high']:.3f}"
                    assert value.startswith(f"{a['estimate']:.3f} ({interval})"), (a["id"], value)
                    assert "—" not in value
                else:
                    seen["not estimable"] += 1
                    assert a["not_estimable"], a["id"]
                    assert value == str(escape(f"not estimable ({a['not_estimable']})"))
    assert seen["estimated"] >= 3
    assert seen["not estimable"] == 1  # N2: the PPV with no positive call
    summary = json.loads((runs[1].summary_dir / "summary.json").read_bytes())
    n2 = summary["protocols"][0]["analyses"][1]
    assert n2["id"] == "N2"
    assert n2["verdict"] == "NOT EVALUABLE"
    assert n2["reason"] == f"not estimable: {n2['not_estimable']}"
