"""A subgroup analysis's criterion holds only if it holds in every evaluable group; the dossier's
traceability matrix reads that verdict for requirements verified by a subgroup analysis."""

from __future__ import annotations

import pytest

from validation.dossier.trace import trace_table
from validation.runner.analysis import subgroup_verdict


def _rows(*verdicts: str) -> list[dict[str, object]]:
    return [{"group": g, "verdict": v} for g, v in zip("ABCD", verdicts, strict=False)]


@pytest.mark.req("REQ-STAT-HET")
@pytest.mark.parametrize(
    ("verdicts", "expected", "reason"),
    [
        (("PASS", "PASS"), "PASS", "holds in all 2 evaluable group(s)"),
        (("PASS", "NOT EVALUABLE"), "PASS", "holds in all 1 evaluable group(s); not evaluable: B"),
        (("PASS", "FAIL", "FAIL"), "FAIL", "fails in B, C"),
        (("NOT EVALUABLE",), "NOT EVALUABLE", "no group is evaluable (A)"),
    ],
)
def test_subgroup_verdict_requires_every_evaluable_group(
    verdicts: tuple[str, ...], expected: str, reason: str
) -> None:
    assert subgroup_verdict(_rows(*verdicts), "estimate >= 0.8") == (expected, reason)


def test_descriptive_subgroups_are_info() -> None:
    assert subgroup_verdict(_rows("INFO"), None) == ("INFO", None)


@pytest.mark.req("REQ-TRACE-001")
def test_matrix_shows_subgroup_and_comparison_verdicts() -> None:
    results = {
        "identity": {"protocol": {"id": "P-1"}},
        "endpoints": [],
        "subgroups": [{"id": "G1", "verdict": "FAIL", "verdict_reason": "fails in C"}],
        "comparisons": [
            {"id": "C4", "auc_difference": None, "kappa": {"estimate": 0.4}, "verdicts": [
                {"id": "C4", "verdict": "FAIL"}]},
        ],
    }  # fmt: skip
    inputs = {
        "requirements": [
            {"id": "REQ-X-001", "statement": "s", "source": ["x"], "risk": None,
             "endpoints": ["P-1/G1", "P-1/C4"], "tests": []},
        ],
        "tagged_tests": {},
        "junit_outcomes": None,
    }  # fmt: skip
    rows = trace_table(inputs, results).rows
    by_ref = {row[3]: row for row in rows}
    assert by_ref["P-1/G1"][-1] == "FAIL"
    assert by_ref["P-1/G1"][-2] == {"estimate": None, "reason": "fails in C"}
    assert by_ref["P-1/C4"][-1] == "FAIL"
    assert by_ref["P-1/C4"][-2] == {"estimate": 0.4}
