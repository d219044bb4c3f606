"""A subgroup analysis's criterion holds only if it holds in every evaluable group (the dossier's
traceability matrix reading that verdict is tested in tests/test_dossier.py)."""

from __future__ import annotations

import pytest

from validation.results import SubgroupRow, TestValue
from validation.runner.analysis import subgroup_verdict


def _rows(*verdicts: str) -> list[SubgroupRow]:
    value = TestValue("test", None, None, "none", 0, None, "placeholder")
    return [
        SubgroupRow(g, 0, 0, 0, value, v, None)  # type: ignore[arg-type]
        for g, v in zip("ABCD", verdicts, strict=False)
    ]


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
