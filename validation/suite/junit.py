"""The suite run as JUnit XML, the report format CI dashboards (Jenkins, GitLab, GitHub) render.

Layout (the Jenkins / Ant JUnit format; ``tests/junit.xsd`` is the schema the tests validate it
against)::

    <testsuites name=SUITE-ID tests failures errors>
      <testsuite name=PROTOCOL-ID tests failures errors skipped>      one per protocol, suite order
        <properties> protocol version and hash, confidence, dossier seal </properties>
        <testcase classname=SUITE-ID.PROTOCOL-ID name=ANALYSIS-ID>     one per criterion
          <failure message=reason type=FAIL/>                         verdict FAIL
          <skipped message=reason/>                                   verdict NOT EVALUABLE
          <system-out> criterion, verdict, estimate and interval </system-out>

A protocol that did not complete is one ``<testcase name="run">`` with an ``<error>`` naming what
stopped it. Analyses without a criterion (descriptive, INFO) are not test cases. No times or
timestamps are written, so the same run gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from validation.dossier.formatting import fmt_num
from validation.suite.outcome import Analysis, ProtocolOutcome
from validation.suite.summary import ProtocolRun

__all__ = ["junit_of_runs", "junit_xml"]


def _interval(a: Analysis, confidence: float) -> str:
    if a.estimate is None:
        return ""
    text = f"; estimate {fmt_num(a.estimate)}"
    if a.ci_low is not None and a.ci_high is not None:
        text += f" ({100 * confidence:g}% CI {fmt_num(a.ci_low)} to {fmt_num(a.ci_high)})"
    return text + (f" [{a.method}]" if a.method else "")


def _testcase(parent: ET.Element, classname: str, a: Analysis, confidence: float) -> None:
    case = ET.SubElement(parent, "testcase", name=a.id, classname=classname)
    reason = a.reason or ""
    if a.verdict == "FAIL":
        ET.SubElement(case, "failure", message=reason or "criterion not met", type="FAIL")
    elif a.verdict != "PASS":
        ET.SubElement(case, "skipped", message=reason or a.verdict)
    out = ET.SubElement(case, "system-out")
    role = "primary" if a.primary else "secondary"
    about = f": {a.description}" if a.description else ""
    out.text = (
        f"{a.kind} ({role}){about}\ncriterion: {a.criterion}\nverdict: {a.verdict}"
        + (f" ({reason})" if reason else "")
        + _interval(a, confidence)
        + "\n"
    )


def junit_xml(
    suite_id: str,
    protocol_ids: Sequence[str],
    outcomes: Mapping[str, ProtocolOutcome],
    errors: Mapping[str, str],
    seals: Mapping[str, str],
) -> bytes:
    """UTF-8 JUnit XML of a suite run (module docstring); ``errors`` maps protocol id -> message."""
    root = ET.Element("testsuites", name=suite_id)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for pid in protocol_ids:
        suite = ET.SubElement(root, "testsuite", name=pid)
        classname = f"{suite_id}.{pid}"
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if pid in outcomes:
            outcome = outcomes[pid]
            props = ET.SubElement(suite, "properties")
            for name, value in (
                ("protocol_version", outcome.version),
                ("protocol_hash", outcome.protocol_hash),
                ("confidence", repr(outcome.confidence)),
                ("dossier_seal", seals.get(pid, "")),
            ):
                ET.SubElement(props, "property", name=name, value=value)
            for a in outcome.analyses:
                _testcase(suite, classname, a, outcome.confidence)
                counts["tests"] += 1
                counts["failures"] += a.verdict == "FAIL"
                counts["skipped"] += a.verdict not in ("PASS", "FAIL")
        else:
            case = ET.SubElement(suite, "testcase", name="run", classname=classname)
            ET.SubElement(case, "error", message=errors[pid], type="ERROR")
            counts["tests"], counts["errors"] = 1, 1
        for key, count in counts.items():
            suite.set(key, str(count))
        for key in totals:
            totals[key] += counts[key]
    for key, count in totals.items():
        root.set(key, str(count))
    ET.indent(root)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def junit_of_runs(suite_id: str, runs: Sequence[ProtocolRun]) -> bytes:
    """:func:`junit_xml` of a suite's protocol runs, in suite order: a run without an outcome is
    an error (its message, or none), every run carries its dossier's seal (or none)."""
    return junit_xml(
        suite_id,
        [r.protocol_id for r in runs],
        {r.protocol_id: r.outcome for r in runs if r.outcome is not None},
        {r.protocol_id: r.error or "" for r in runs if r.outcome is None},
        {r.protocol_id: r.dossier_seal or "" for r in runs},
    )
