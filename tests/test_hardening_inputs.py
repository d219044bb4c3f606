"""Bad protocols and tables get a clear error naming the file and key path / line / column:
bounded YAML (alias bombs, deep nesting), duplicate keys and headers, strict numbers, non-UTF-8
text and file names, ids that would collide as dossier file names, and Parquet tables on a plain
install (REQ-HARD-001). Each case here was a hang, a traceback or a silent accept before."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from validation.exceptions import ProtocolError, RunError
from validation.protocol import Protocol
from validation.protocol.bounded_yaml import MAX_DEPTH, parse_yaml
from validation.protocol.loader import file_stem
from validation.runner import read_labels, read_predictions

pytestmark = pytest.mark.req("REQ-HARD-001")

ROOT = Path(__file__).resolve().parents[1]
VAL = (ROOT / "protocols" / "HER2-VAL-001.yaml").read_text(encoding="utf-8")


def _protocol(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    """Nine levels of x9 aliases (~387 million nodes when walked) is refused in well under a
    second; before, ``protocol check`` ran for minutes (cost x9 per level)."""
    path = _protocol(tmp_path, _bomb(9))
    start = time.perf_counter()
    with pytest.raises(ProtocolError, match=r"p\.yaml: a\d: the document expands to more than"):
        Protocol.from_yaml(path)
    assert time.perf_counter() - start < 2.0


def test_moderate_aliases_still_load() -> None:
    assert parse_yaml(b"base: &b {x: 1}\nother: *b\nmerged: {<<: *b, y: 2}\n") == {
        "base": {"x": 1},
        "other": {"x": 1},
        "merged": {"x": 1, "y": 2},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &a [*a]\n", r"a\[0\]: an alias refers to a node that contains it"),
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", rf"line 1: nesting deeper than {MAX_DEPTH}"),
        (
            "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)),
            rf"nesting deeper than {MAX_DEPTH} levels",
        ),
        ("x: 9007199254740993\n", r"x: integer 9007199254740993 is beyond 2\^53"),
        ("x: 9007199254740992\n", r"x: integer 9007199254740992 is beyond 2\^53 - 1"),
        ("x: [1, -9007199254740993]\n", r"x\[1\]: integer -9007199254740993 is beyond 2\^53"),
        ("x: {y: .nan}\n", r"x\.y: expected a finite number; got nan"),
        ("x: -.inf\n", r"x: expected a finite number; got -inf"),
        ("7: seven\n", r"7: keys must be strings"),
    ],
)
def test_unsafe_yaml_values_name_the_key_path(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_yaml(text.encode())


def test_deep_nesting_inside_a_protocol_names_the_file(tmp_path: Path) -> None:
    text = VAL.replace("population:", "population_x: " + "[" * 500 + "]" * 500 + "\npopulation:", 1)
    with pytest.raises(ProtocolError, match=r"p\.yaml: line \d+: nesting deeper than"):
        Protocol.from_yaml(_protocol(tmp_path, text))


def test_duplicate_key_names_the_key_path_and_lines(tmp_path: Path) -> None:
    """Before: the last ``threshold`` silently won and that protocol was registered."""
    text = VAL.replace("operating_point:\n", "operating_point:\n  threshold: 0.2\n", 1)
    assert text != VAL
    with pytest.raises(
        ProtocolError, match=r"p\.yaml: operating_point\.threshold: duplicate key 'threshold'"
    ):
        Protocol.from_yaml(_protocol(tmp_path, text))


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"p\.yaml: title: duplicate key 'title' \(lines"):
        Protocol.from_yaml(_protocol(tmp_path, VAL + "title: Another title\n"))


def test_non_utf8_protocol_names_file_line_and_byte(tmp_path: Path) -> None:
    raw = VAL.encode("utf-8").replace(b"title:", b"title: caf\xe9", 1)
    line = raw[: raw.index(b"\xe9")].count(b"\n") + 1
    with pytest.raises(ProtocolError, match=rf"p\.yaml: line {line}: not UTF-8 text \(byte 0xe9"):
        Protocol.from_yaml(_protocol(tmp_path, raw))


def test_huge_integer_in_protocol_names_key_path(tmp_path: Path) -> None:
    text = re.sub(r"seed: \d+", "seed: 123456789012345678901234567890", VAL, count=1)
    with pytest.raises(ProtocolError, match=r"p\.yaml: bootstrap\.seed: integer 1234"):
        Protocol.from_yaml(_protocol(tmp_path, text))


def test_nan_threshold_in_protocol_names_key_path(tmp_path: Path) -> None:
    text = VAL.replace("threshold: lock", "threshold: .nan", 1)
    assert text != VAL
    with pytest.raises(ProtocolError, match=r"operating_point\.threshold: expected a finite"):
        Protocol.from_yaml(_protocol(tmp_path, text))


def test_ids_differing_in_case_or_punctuation_are_refused(tmp_path: Path) -> None:
    """Before: ``by-site`` and ``BY_SITE`` both went to ``tables/subgroup_by_site.csv``; one
    subgroup's table and figure vanished from a dossier that still sealed and verified."""
    protocol = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml")
    first = protocol.subgroups[0].id
    clash = first.upper().replace("-", "_") if "-" in first else first.upper() + "."
    assert clash != first
    assert file_stem(clash) == file_stem(first)
    text = VAL.replace(f"id: {protocol.subgroups[1].id}", f"id: {clash}", 1)
    assert text != VAL
    with pytest.raises(
        ProtocolError, match=r"subgroups\[1\]\.id: id .* differ only in case or punctuation"
    ):
        Protocol.from_yaml(_protocol(tmp_path, text))


def test_file_stem_matches_the_dossier_file_names() -> None:
    assert file_stem("By-Site 2") == "by_site_2"
    assert file_stem("__") == "x"


# --- tables ----------------------------------------------------------------------------------
def _table(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_duplicated_header_is_refused(tmp_path: Path) -> None:
    """Before: pandas renamed the second ``score`` to ``score.1`` and the first one was used."""
    pred = _table(tmp_path / "p.csv", "patient_id,site,score,score\nP1,A,0.2,0.9\n")
    with pytest.raises(RunError, match=r"p\.csv, line 1: column 'score' appears more than once"):
        read_predictions(pred)
    labels = _table(tmp_path / "l.csv", "patient_id,reference_her2,reference_her2\nP1,1,0\n")
    with pytest.raises(RunError, match=r"l\.csv, line 1: column 'reference_her2' appears"):
        read_labels(labels)


@pytest.mark.parametrize(
    "cell", ["0.2_5", "0x1p-2", "inf", "nan", "-Infinity", "1e999", "٠.٥", "1,5"]
)
def test_numbers_outside_the_grammar_are_refused(tmp_path: Path, cell: str) -> None:
    """``float()`` reads ``0.2_5`` as 0.25, ``0x..`` via fromhex no, but ``inf``/``nan`` and
    Arabic-Indic digits yes; the tables accept plain decimal digits only."""
    pred = _table(tmp_path / "p.csv", f'patient_id,site,score\nP1,A,0.2\nP2,A,"{cell}"\n')
    with pytest.raises(RunError, match=r"p\.csv, line 3, column 'score': expected a number"):
        read_predictions(pred)


@pytest.mark.parametrize(
    ("cell", "value"), [("0.25", 0.25), ("+.5", 0.5), ("2.5E-1", 0.25), ("1.", 1.0), (" 0.5 ", 0.5)]
)
def test_numbers_in_the_grammar_are_read(tmp_path: Path, cell: str, value: float) -> None:
    pred = _table(tmp_path / "p.csv", f"patient_id,site,score\nP1,A,{cell}\n")
    assert read_predictions(pred).frame["score"].tolist() == [value]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
def test_non_utf8_file_name_is_refused_before_the_analysis(tmp_path: Path) -> None:
    name = os.fsdecode(b"pred-\xff.csv")
    pred = _table(tmp_path / name, "patient_id,site,score\nP1,A,0.2\n")
    with pytest.raises(RunError, match=r"pred-\\xff\.csv: the file name is not valid UTF-8"):
        read_predictions(pred)


def test_parquet_tables_are_read_on_a_plain_install(tmp_path: Path) -> None:
    """README promises Parquet; pyarrow is a dependency, so this needs no extra install."""
    frame = pd.DataFrame({"patient_id": ["P1", "P2"], "site": ["A", "B"], "score": [0.25, 0.75]})
    path = tmp_path / "p.parquet"
    frame.to_parquet(path)
    table = read_predictions(path)
    assert table.frame["score"].tolist() == [0.25, 0.75]
    assert table.frame["patient_id"].tolist() == ["P1", "P2"]


# --- table shape: rows, fields, text, numeric labels (review fixes 2026-11-30) ---------------
def test_a_table_with_a_header_and_no_rows_is_an_error_naming_the_file(tmp_path: Path) -> None:
    """Wrong version: an empty predictions table read as zero patients, so without --lock the
    error blamed the lock and with --lock a dossier was sealed saying "analysed 0 of 150"."""
    pred = _table(tmp_path / "hdr.csv", "patient_id,site,score,model_lock\n")
    with pytest.raises(RunError, match=r"^predictions table \S*hdr\.csv has no rows: it holds a "):
        read_predictions(pred)
    labels = _table(tmp_path / "lab.csv", "patient_id,reference_her2,age\n")
    with pytest.raises(RunError, match=r"^labels table \S*lab\.csv has no rows"):
        read_labels(labels)
    frame = pd.DataFrame({"patient_id": [], "site": [], "score": []}, dtype=str)
    frame.to_parquet(tmp_path / "p.parquet")
    with pytest.raises(RunError, match=r"p\.parquet has no rows"):
        read_predictions(tmp_path / "p.parquet")


def test_a_header_only_predictions_run_writes_nothing(tmp_path: Path) -> None:
    """Through the CLI, with and without --lock: exit 2, the file named, no output folder, no
    ledger entry (before: exit 0 and a sealed dossier of 0 analysed patients with --lock)."""
    from test_runner_helpers import make_tables, protocol_dict, registered

    from validation.cli import main
    from validation.ledger import Ledger

    _, labels = make_tables(tmp_path, n=30)
    protocol, ledger = registered(tmp_path, protocol_dict(operating_point={"threshold": "lock"}))
    header = _table(tmp_path / "hdr.csv", "patient_id,site,score,model_lock\n")
    with Ledger.open(ledger, create=False) as book:
        entries = book.head()
    lock = ROOT / "her2map" / "weights" / "her2map.lock.json"
    for extra in ([], ["--lock", str(lock)]):
        out = tmp_path / "run"
        argv = ["validate", "run", str(protocol), "--predictions", str(header), "--labels",
                str(labels), "--ledger", str(ledger), "--out", str(out), *extra]  # fmt: skip
        assert main(argv) == 2
        assert not out.exists()
        with Ledger.open(ledger, create=False) as book:
            assert book.head() == entries


@pytest.mark.parametrize(
    ("row", "found"),
    [
        ("P2,A", r"2 field\(s\) \(too few: the row ends after column 'site'\)"),
        ("P2,A,0.5,x", r"4 field\(s\) \(too many\)"),
    ],
)
def test_a_row_with_the_wrong_number_of_fields_names_file_line_and_header(
    tmp_path: Path, row: str, found: str
) -> None:
    """Wrong version: pandas filled a truncated row with empty cells, so the patient was counted
    as "no prediction score" instead of the table being refused as malformed (README)."""
    pred = _table(tmp_path / "p.csv", f"patient_id,site,score\nP1,A,0.2\n{row}\nP3,B,0.7\n")
    with pytest.raises(
        RunError,
        match=rf"p\.csv, line 3: {found}; expected 3, one per header column \(patient_id, site, "
        r"score\)",
    ):
        read_predictions(pred)
    labels = _table(tmp_path / "l.csv", "patient_id,reference_her2,age\n\nP1,1,50\nP2\n")
    with pytest.raises(RunError, match=r"l\.csv, line 4: 1 field\(s\) \(too few: the row ends "):
        read_labels(labels)  # the blank line 2 is skipped, and still counted as a line


def test_a_quoted_line_break_is_one_row(tmp_path: Path) -> None:
    pred = _table(tmp_path / "p.csv", 'patient_id,site,score\nP1,"A\nB",0.2\nP2,A,0.3\n')
    assert read_predictions(pred).frame["patient_id"].tolist() == ["P1", "P2"]


def test_non_utf8_table_names_the_line(tmp_path: Path) -> None:
    """Before: "can't decode byte 0xe9 in position 41" -- a byte offset, not a line."""
    path = tmp_path / "l.csv"
    path.write_bytes(b"patient_id,reference_her2,site\nP1,1,A\nP2,0,Z\xe9rich\n")
    with pytest.raises(RunError, match=r"^labels table \S*l\.csv, line 3: not UTF-8 text \(byte "
                       r"0xe9\); save the table as UTF-8 CSV\.$"):  # fmt: skip
        read_labels(path)


@pytest.mark.parametrize("cell", ["inf", "-inf", "nan", "NaN", "1e999", "Infinity", "unknown"])
def test_numeric_label_that_is_not_a_finite_number_is_refused(tmp_path: Path, cell: str) -> None:
    """Wrong version: ``age=inf`` was accepted (the patient landed in the ">=70" band) while
    ``age=nan`` was refused, and only when a rule read the column, without file or line."""
    labels = _table(tmp_path / "l.csv", f"patient_id,reference_her2,age\nP1,1,50\nP2,0,{cell}\n")
    with pytest.raises(
        RunError,
        match=rf"^labels table \S*l\.csv, line 3, column 'age': expected a finite number .*got "
        rf"'{re.escape(cell)}'",
    ):
        read_labels(labels)


def test_numeric_label_in_the_grammar_is_kept_as_written(tmp_path: Path) -> None:
    text = "patient_id,reference_her2,age\nP1,1,50\nP2,0,\nP3,1,7.5e1\n"
    age = read_labels(_table(tmp_path / "l.csv", text)).frame["age"]
    assert [None if pd.isna(v) else v for v in age] == ["50", None, "7.5e1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id: [unclosed\n",
            r"not valid YAML at line 2, column 1: expected ',' or '\]', but got '<stream end>' "
            r"\(while parsing a flow sequence at line 1, column 5\)\.",
        ),
        ("id: a\n  b: c\n", r"not valid YAML at line 2, column 4: mapping values are not allowed"),
        ("id: a\nx: *nope\n", r"not valid YAML at line 2, column 4: found undefined alias 'nope'"),
        (
            "--- a\n--- b\n",
            r"not valid YAML at line 2, column 1: expected a single document in the stream at "
            r"line 1, column 5, but found another document\.",
        ),
        ('id: a\nb: "x\x01"\n', r"not valid YAML at line 2: character #x0001 is not allowed"),
    ],
)
def test_yaml_syntax_errors_are_one_line_naming_file_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    """Before: PyYAML's several-line text, citing "<unicode string>" instead of the file."""
    with pytest.raises(ProtocolError, match=rf"^\S*p\.yaml: {message}") as info:
        Protocol.from_yaml(_protocol(tmp_path, text))
    assert "\n" not in str(info.value)
    assert "<unicode string>" not in str(info.value)
