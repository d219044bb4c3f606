"""Every label from the data (issue 9 acceptance): the interval level is the run's confidence in
every header, caption and legend; each comparison shows the p-value that decided its verdict;
the threshold's origin is named as it is. Dossiers are built from results the runner wrote at
confidence 0.99 and 0.999 (tests/conftest.py ``runner_run``); expected p-values are computed here
from the typed results with scipy, never read from the renderer. About 15 s.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import binomtest, norm

from validation.dossier import build_dossier
from validation.results import Results, loads
from validation.results.words import level


@pytest.fixture(scope="module")
def dossiers(runner_run: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[float, Path]:
    base = tmp_path_factory.mktemp("truth")
    out = {}
    for confidence in (0.99, 0.999):
        out[confidence] = base / str(confidence)
        build_dossier(runner_run(confidence).results_path, out[confidence])
    return out


def _texts(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.suffix in (".html", ".csv", ".svg") and "inputs/" not in p.as_posix()
    }


@pytest.mark.req("REQ-REPORT-001")
@pytest.mark.parametrize("confidence", [0.99, 0.999])
def test_the_run_level_renders_everywhere_and_95_never(
    dossiers: dict[float, Path], confidence: float
) -> None:
    """Wrong version: "95%" written into templates and figure code."""
    texts = _texts(dossiers[confidence])
    shown = level(confidence)
    assert shown == {0.99: "99%", 0.999: "99.9%"}[confidence]
    leaks = {name: m.group(0) for name, t in texts.items() if (m := re.search(r"95 ?%", t))}
    assert leaks == {}
    html = texts["index.html"]
    assert html.count(f"{shown} CI") >= 8  # headers of estimates, figures' captions
    for figure in ("roc", "calibration", "forest_g1"):
        assert f"{shown} CI" in texts[f"figures/{figure}.svg"], figure
    assert f"Estimate ({shown} CI)" in html
    assert f"intervals at {shown}" in html


def _rows(root: Path, table: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((root / "tables" / f"{table}.csv").read_text())))


@pytest.mark.req("REQ-REPORT-001")
def test_each_comparison_shows_the_p_value_that_decided_it(
    dossiers: dict[float, Path], runner_run: Any
) -> None:
    """Non-inferiority: the one-sided p against the margin; superiority: the one-sided p against
    0; McNemar (no criterion): its exact two-sided p, labelled descriptive; kappa (criterion on the
    point estimate): no p-value. Wrong version: the two-sided superiority p beside every verdict."""
    results: Results = loads(runner_run(0.999).results_path.read_bytes())
    root = dossiers[0.999]
    by_id = {c.id: c for c in results.comparisons}
    verdicts = {r["comparison"]: r for r in _rows(root, "comparison_verdicts")}
    shown = {r["comparison"]: r for r in _rows(root, "comparisons") if r["p_value"]}

    ni, sup = by_id["C1"].auc_difference, by_id["C5"].auc_difference
    assert ni is not None and sup is not None  # noqa: PT018
    assert ni.estimate is not None and ni.se is not None and ni.p_value is not None  # noqa: PT018
    p_margin = norm.sf((ni.estimate - (-0.2)) / ni.se)
    p_zero = norm.sf(ni.estimate / ni.se)
    assert float(verdicts["C1"]["p_value"]) == pytest.approx(p_margin, rel=1e-9)
    assert float(verdicts["C5"]["p_value"]) == pytest.approx(p_zero, rel=1e-9)
    assert float(verdicts["C1"]["p_value"]) != pytest.approx(ni.p_value, rel=1e-3)
    assert "H0: true value ≤ -0.2" in verdicts["C1"]["p_test"]
    assert "H0: true value ≤ 0" in verdicts["C5"]["p_test"]
    assert float(shown["C1"]["p_value"]) == pytest.approx(p_margin, rel=1e-9)

    mc = by_id["C2"].mcnemar
    assert mc is not None
    assert float(shown["C2"]["p_value"]) == pytest.approx(mc.test.p_value, rel=1e-12)
    assert "descriptive" in shown["C2"]["p_test"]
    assert verdicts["C2"]["p_value"] == ""
    measure = next(r["measure"] for r in _rows(root, "comparisons") if r["comparison"] == "C2")
    assert f"model right, biopsy_her2 wrong {mc.model_only}" in measure
    assert f"biopsy_her2 right, model wrong {mc.comparator_only}" in measure

    assert verdicts["C3"]["p_value"] == ""
    assert verdicts["C3"]["p_test"] == "the point estimate against the criterion (no p-value)"
    # each method's own AUC beside the difference
    auc_rows = [r for r in _rows(root, "comparisons") if r["comparison"] == "C1"]
    assert [r["estimate"] for r in auc_rows[:2]] == [repr(ni.estimate_a), repr(ni.estimate_b)]


@pytest.mark.req("REQ-REPORT-001")
def test_a_statistic_is_shown_only_beside_the_p_value_of_its_own_test(
    dossiers: dict[float, Path],
) -> None:
    """Every comparison row that shows a statistic and a p-value: the p is recomputed here from the
    shown statistic for the test the row names (two-sided z: 2·sf(|z|); one-sided z against the
    criterion's bound: sf(±z); exact McNemar: binomial test of the statistic b over the
    discordant pairs). Wrong version: the z of "difference = 0" beside the one-sided p of the
    non-inferiority criterion (its z is (d + margin) / se), as the AUC-difference row had it."""
    checked: list[str] = []
    for row in _rows(dossiers[0.999], "comparisons"):
        if not (row["statistic"] and row["p_value"]):
            if row["p_value"]:  # a p without a statistic: the criterion's one-sided test
                assert row["statistic"] == ""
                assert row["p_test"].startswith("one-sided"), row
            continue
        z, p, test = float(row["statistic"]), float(row["p_value"]), row["p_test"]
        if test.startswith("two-sided z test"):
            assert "H0: difference = 0" in test
            assert p == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9), row
        elif test.startswith("one-sided"):
            match = re.search(r"H0: true value ([≤≥]) (\S+)$", test)
            assert match is not None, test
            assert p == pytest.approx(norm.sf(z if match[1] == "≤" else -z), rel=1e-9), row
        elif test.startswith("exact McNemar test, two-sided"):
            counts = re.search(r"wrong (\d+); .* model wrong (\d+)", row["measure"])
            assert counts is not None
            b, c = int(counts[1]), int(counts[2])
            assert z == b
            assert p == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-12), row
        else:
            pytest.fail(f"a statistic beside a p-value of an unnamed test: {row}")
        checked.append(row["comparison"])
    assert {"C1", "C2", "C5"} <= set(checked)


@pytest.mark.req("REQ-REPORT-001")
def test_the_threshold_origin_is_named_as_it_is(dossiers: dict[float, Path]) -> None:
    """The fixture's protocol fixes threshold 0.5 for an external model (predictions only).
    Wrong version: an external model's threshold called "locked"."""
    html = (dossiers[0.99] / "index.html").read_text(encoding="utf-8")
    assert "locked threshold" not in html
    assert "the threshold fixed by the protocol (external model)" in html
    assert "protocol threshold 0.500" in (dossiers[0.99] / "figures" / "roc.svg").read_text()
