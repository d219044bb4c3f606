"""Fuzzed predictions tables (REQ-HARD-001, REQ-EXCL-001): random headers, ids and score cells give
a RunError naming the file, or a table where every row is kept or counted as a problem and every
kept score is the strict-grammar number of its cell -- never another exception (800 whole tables,
~10 ms each in pandas); and 1,700 score cells against an independent oracle of the grammar."""

from __future__ import annotations

import csv
import io
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from fuzz_budget import outcome, run_counted
from hypothesis import strategies as st

from validation.exceptions import RunError
from validation.runner import read_predictions
from validation.runner.tables import NUMBER, _number

pytestmark = [pytest.mark.req("REQ-HARD-001"), pytest.mark.slow]

SCORES = st.one_of(
    st.floats(0, 1).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "0.2_5",
            "0x1p-2",
            "inf",
            "nan",
            "1e999",
            "1,5",
            "٠.٥",
            ".5",
            "5.",
            "+0.5",
            "-0",
            "1e-3",
            "0.5 ",
            "\t0.5",
            "1_0",
            "0.5e",
            "e5",
            "--1",
        ]
    ),
    st.text(max_size=6),
)
IDS = st.one_of(st.from_regex(r"P[0-9]{1,3}", fullmatch=True), st.text(max_size=5))
HEADERS = st.one_of(
    st.just(["patient_id", "site", "score"]),
    st.permutations(["patient_id", "site", "score", "score_pcr"]),
    st.lists(st.sampled_from(["patient_id", "site", "score", "x", ""]), min_size=1, max_size=5),
)


def _check(folder: Path, header: list[str], rows: list[tuple[str, str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for pid, site, score in rows:
        cells = {"patient_id": pid, "site": site, "score": score, "score_pcr": score}
        writer.writerow([cells.get(name, "z") for name in header])
    path = folder / "pred.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    table, error = outcome(lambda: read_predictions(path), RunError)
    if error is not None:
        assert "pred.csv" in error
        return
    assert len(set(header)) == len(header)  # a repeated column name is always refused
    assert table.rows == len(table.frame) + len(table.problems)
    for score, line in zip(table.frame["score"], table.frame["line"], strict=True):
        assert 0.0 <= score <= 1.0
        cell = rows[line - 2][2].strip(" ")
        assert NUMBER.fullmatch(cell)
        assert score == float(cell)
    for _, _, score in rows:  # a table was returned: no cell outside the grammar was in it
        cell = score.strip(" ")
        assert cell == "" or NUMBER.fullmatch(cell)


def test_fuzz_predictions_tables(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("fuzz-tables")
    rows = st.lists(st.tuples(IDS, st.sampled_from(["A", "B", ""]), SCORES), max_size=6)
    run_counted(800, lambda h, r: _check(folder, h, r), HEADERS, rows)


def _oracle(cell: str) -> float | None:
    """Obviously-correct twin of the grammar: ASCII digits, sign, point and exponent only, then
    Decimal (which alone would also take ``1_0``, ``inf`` and ``nan``) must read a finite value."""
    if not cell or any(c not in "0123456789+-.eE" for c in cell):
        return None
    try:
        value = Decimal(cell)
    except InvalidOperation:
        return None
    return float(value) if value.is_finite() and math.isfinite(float(value)) else None


def _cell(cell: str) -> None:
    path = Path("cells.csv")  # never written: _number only names it
    expected = _oracle(cell.strip(" "))
    value, error = outcome(lambda: _number(cell, path, 0, "score", "predictions"), RunError)
    if cell.strip(" ") == "":
        assert math.isnan(value)
    elif expected is None:
        assert error is not None
        assert "line 2, column 'score'" in error
    else:
        assert value == expected


def test_fuzz_score_cells_against_an_oracle() -> None:
    cells = st.one_of(SCORES, st.from_regex(r"[ +\-0-9.eE_x]{1,8}", fullmatch=True))
    run_counted(1700, _cell, cells)
