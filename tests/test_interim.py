"""An interim look speaks its group-sequential design's language, decided by the pre-registered
boundaries (validation/runner/interim.py): stop for efficacy when an efficacy boundary passes,
stop for futility when a futility boundary fails, continue otherwise."""

from __future__ import annotations

import pytest

from validation.exceptions import ProtocolError
from validation.protocol import Protocol
from validation.results import Judgement, Multiplicity
from validation.runner.interim import interim_decision

PROTOCOL = "protocols/HER2-PRO-004.yaml"


def _j(verdict: str, reason: str = "r") -> Judgement:
    m = Multiplicity("none", None, None, 0.0005, None, None)
    return Judgement("ci_low >= -0.05", verdict, reason, None, None, "primary", m)  # type: ignore[arg-type]


@pytest.mark.req("REQ-REPORT-001")
@pytest.mark.parametrize(
    ("c1", "c2", "f1", "decision"),
    [
        ("PASS", "FAIL", "PASS", "stop for efficacy"),
        ("FAIL", "NOT EVALUABLE", "FAIL", "stop for futility"),
        ("FAIL", "NOT EVALUABLE", "PASS", "continue"),
        ("NOT EVALUABLE", "NOT EVALUABLE", "NOT EVALUABLE", "continue"),
    ],
)
def test_interim_decision_from_the_boundaries(c1: str, c2: str, f1: str, decision: str) -> None:
    """Wrong version: an interim efficacy FAIL read as "the model failed" (a study-level FAIL)
    rather than "continue"."""
    protocol = Protocol.from_yaml(PROTOCOL)
    got = interim_decision(protocol, {"PRO-C1": _j(c1), "PRO-C2": _j(c2), "PRO-F1": _j(f1)})
    assert got is not None
    assert got.decision == decision
    assert got.efficacy == ("PRO-C1", "PRO-C2")
    assert got.futility == ("PRO-F1",)
    assert got.reason.startswith(
        {"stop for efficacy": "efficacy boundary crossed: PRO-C1 PASS",
         "stop for futility": "futility boundary crossed: PRO-F1 FAIL",
         "continue": "no boundary crossed: PRO-C1"}[decision]
    )  # fmt: skip


def test_protocols_without_an_interim_have_no_decision() -> None:
    assert interim_decision(Protocol.from_yaml("protocols/HER2-NAT-002.yaml"), {}) is None


def test_an_interim_boundary_must_name_an_analysis_with_a_criterion() -> None:
    data = Protocol.from_yaml(PROTOCOL).to_dict()
    data["interim"]["futility"] = ["PRO-C3"]  # McNemar, no criterion
    with pytest.raises(ProtocolError, match=r"interim.futility\[0\]: expected the id of an"):
        Protocol.from_dict(data)
    data["interim"] = {"design": "x", "efficacy": []}
    with pytest.raises(ProtocolError, match=r"interim.efficacy: expected at least one"):
        Protocol.from_dict(data)
