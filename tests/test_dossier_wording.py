"""Every sentence of the dossier true, down to its numbers' spelling (review of 2026-11-30): the
one-sided level as the protocol states it, no degrees of freedom beside a Q that was not computed,
a kappa labelled with what it compares, the subgroup rule as the protocol set it. One small run
of the runner (results written by the runner, never by hand) and its dossier. About 5 s.
"""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pytest
from test_runner_helpers import make_tables, protocol_dict, registered

from validation.dossier import build_dossier
from validation.results import loads
from validation.runner import run_protocol


@pytest.fixture(scope="module")
def dossier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wording")
    pred, labels = make_tables(base)
    data = protocol_dict(
        endpoints=[
            {"id": "E1", "metric": "auc", "criterion": "ci_low >= 0.60", "hierarchy": 1,
             "planning": {"expected": 0.9, "prevalence": 0.35, "power": 0.8}},
        ],
        comparisons=[{"id": "C3", "method": "kappa", "criterion": "estimate >= 0.2"}],
        subgroups=[
            {"id": "G0", "by": "site", "metric": "auc", "min_size": 20, "min_events": 0},
            {"id": "G2", "by": "site", "metric": "auc", "min_size": 1000, "heterogeneity": True},
        ],
    )  # fmt: skip
    protocol, ledger = registered(base, data)
    run = run_protocol(protocol, labels=labels, ledger=ledger, out_dir=base / "run",
                       predictions=pred)  # fmt: skip
    build_dossier(run.results_path, base / "dossier")
    return base / "dossier"


def _rows(root: Path, table: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((root / "tables" / f"{table}.csv").read_text())))


def _text(root: Path) -> str:
    page = (root / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.req("REQ-REPORT-001")
def test_the_planned_alpha_reads_as_the_protocol_states_it(dossier: Path) -> None:
    """The protocol states confidence 0.95, so alpha (1 - 0.95) / 2 = 0.025; results.json keeps
    the float as computed. Wrong version: its repr, 0.025000000000000022, on the page."""
    results = loads((dossier / "results.json").read_bytes())
    assert results.sample_size[0].assumptions["alpha"] == (1.0 - 0.95) / 2.0  # kept unrounded
    (row,) = _rows(dossier, "sample_size")
    assert "alpha 0.025;" in row["assumptions"]
    assert "0.0250000" not in _text(dossier)


@pytest.mark.req("REQ-REPORT-001")
def test_no_degrees_of_freedom_beside_a_heterogeneity_that_was_not_estimated(
    dossier: Path,
) -> None:
    """Every site is under min_size 1000, so nothing is pooled: no Q, no p and no df, and the
    reason says why. Wrong version: the result's df (max(k - 1, 0)) beside "not estimable"."""
    row = next(r for r in _rows(dossier, "heterogeneity") if r["subgroup"] == "G2")
    assert row["q"] == row["p_value"] == ""
    assert row["df"] == ""
    assert "at least 2 groups" in row["reason"]


@pytest.mark.req("REQ-REPORT-001")
def test_the_kappa_row_names_what_it_compares_not_an_outcome(dossier: Path) -> None:
    """Kappa compares the model's call with the biopsy call. Wrong version: the Outcome column
    names the reference standard (reference_her2; pcr in HER2-NAT-002), which kappa never reads."""
    (row,) = [r for r in _rows(dossier, "comparisons") if r["comparison"] == "C3"]
    assert row["outcome"] == "none (agreement of the score call and the biopsy_her2 call)"


@pytest.mark.req("REQ-REPORT-001")
def test_the_subgroup_rule_reads_as_the_protocol_set_it(dossier: Path) -> None:
    """min_events 0 sets no minimum of positives or negatives. Wrong version: "fewer than 0
    positives or negatives"; the default (5) keeps its sentence."""
    text = _text(dossier)
    assert "fewer than 0" not in text
    assert (
        "A group with fewer than 20 patients is not estimated and has no verdict; the protocol "
        "sets no minimum number of positives or negatives (min_events 0)."
    ) in text
    assert (
        "A group with fewer than 1000 patients, or fewer than 5 positives or negatives, is not "
        "estimated and has no verdict."
    ) in text


@pytest.mark.req("REQ-REPORT-001")
@pytest.mark.parametrize(
    ("criterion", "words"),
    [
        ("estimate >= 0.6", "the point estimate against the criterion (no p-value)"),
        ("ci_low >= 0.8", "the interval's lower bound against the criterion (no p-value)"),
        ("ci_high <= 0.1", "the interval's upper bound against the criterion (no p-value)"),
        ("p_value < 0.05", "the analysis's own p-value against the criterion"),
        ("statistic > 2.0", "the test statistic against the criterion (no p-value)"),
    ],
)
def test_a_verdict_without_a_test_of_its_criterion_names_what_decided_it(
    criterion: str, words: str
) -> None:
    """The "p from" cell of a verdict names the quantity the criterion read. Wrong version (the
    earlier one): "the point estimate" for every criterion, a p-value or interval bound included."""
    from validation.dossier.tables import _decided_by
    from validation.protocol.criteria import Quantity
    from validation.results import Judgement, Multiplicity

    judgement = Judgement(
        criterion, "PASS", None, None, None, "secondary",
        Multiplicity("none", None, None, 0.025, None, None),
    )  # fmt: skip
    assert _decided_by(judgement) == words
    assert criterion.split()[0] in {q.value for q in Quantity}
