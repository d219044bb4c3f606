"""Read and validate the predictions and labels tables (DESIGN.md "Contracts").

Both tables are CSV (UTF-8, header row) or Parquet (``.parquet``/``.pq``; needs ``pyarrow``). Every
cell is read as text first, so nothing is converted or dropped behind the reader's back; an empty
cell is a missing value.

Numbers follow one strict grammar (:data:`NUMBER`): optional sign, decimal digits with an optional
point and exponent -- no digit separators (``0.2_5``), hex, ``inf`` or ``nan``, whatever Python's
``float`` would accept. The header must not repeat a column name, and the file's name must be
valid UTF-8 (so every name can be recorded in results.json and the ledger): both are refused
before any row is analysed.

Two kinds of problems, never a silent drop:

* **Errors** (:class:`RunError` naming the file, the 1-based line -- line 1 is the header, so the
  first patient is line 2 -- and the column): the file cannot be read or is not UTF-8 (the line
  of the first bad byte), a row has more or fewer fields than the header, a required column is
  absent, the table has no rows, a patient id is empty, a score is not a number, a numeric label
  (:data:`NUMERIC_LABELS`, e.g. ``age``) is not a finite number, or a predictions table mixes
  model locks.
* **Exclusions** (a row that is well formed but unusable): duplicate patient ids, scores outside
  [0, 1] or missing, binary labels other than 0/1. These are returned as :class:`RowProblem`
  records and counted in the participant flow with their reasons by :mod:`.flow`.

The labels table may be the synthetic cohort's ``clinical.csv`` itself: only the columns the
runner uses are kept (:data:`LABEL_COLUMNS`); patient names never exist there.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from validation.canonical import sha256_file
from validation.exceptions import RunError
from validation.protocol.columns import BINARY_LABELS, LABEL_COLUMNS, NUMERIC_LABELS

__all__ = [
    "BINARY_LABELS",
    "LABEL_COLUMNS",
    "NUMBER",
    "NUMERIC_LABELS",
    "PREDICTION_COLUMNS",
    "RowProblem",
    "Table",
    "beside_predictions",
    "read_labels",
    "read_predictions",
    "utf8_path",
]


def beside_predictions(predictions: str | Path) -> tuple[Path | None, Path | None]:
    """The files ``her2map predict`` writes beside a predictions table ``<stem>.<ext>``:
    ``(<stem>.exclusions.csv, <stem>.provenance.json)`` (the device that scored, the locks), each
    None where absent. A dossier carries both with the table (docs/INTERFACES.md section 6).

    Verified before use: a provenance file names the sha256 of the table it describes
    (``predictions_sha256``); one that names another table -- left by a ``predict`` killed
    between its writes, or beside a table replaced since -- is refused (RunError naming both
    digests), never carried as the table's.
    """
    path = Path(predictions)
    found = (
        path.with_name(f"{path.stem}.{suffix}") for suffix in ("exclusions.csv", "provenance.json")
    )
    exclusions, provenance = (p if p.is_file() else None for p in found)
    if provenance is not None:
        try:
            named = json.loads(provenance.read_bytes()).get("predictions_sha256")
        except (ValueError, AttributeError):
            named = None
        actual = sha256_file(path)
        if named != actual:
            raise RunError(
                f"{provenance}: describes predictions with sha256 {named}, but {path.name} has "
                f"sha256 {actual}; re-run her2map predict, or remove the stale provenance file"
            )
    return exclusions, provenance


#: Predictions columns: required first, then optional.
PREDICTION_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "score",
    "score_pcr",
    "modalities",
    "model_lock",
    "response_lock",
)
_PREDICTIONS_REQUIRED = ("patient_id", "site", "score")
_LABELS_REQUIRED = ("patient_id", "reference_her2")


#: The one number grammar of the tables: sign, ASCII digits, optional fraction and exponent.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A well-formed row that cannot be analysed: the patient, its line, and why."""

    patient_id: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Table:
    """A validated table: usable rows (one per patient, as text/float), problems, file identity.

    ``frame`` has one row per usable patient, indexed by nothing in particular, with column
    ``patient_id`` and, for predictions, float ``score`` (and ``score_pcr``); for labels, the 0/1
    columns as float (nan = missing). ``lines`` maps patient id to its 1-based line.
    """

    path: Path
    sha256: str
    rows: int
    frame: pd.DataFrame
    problems: tuple[RowProblem, ...]
    model_lock: str | None = None
    response_lock: str | None = None


def utf8_path(path: Path, what: str) -> None:
    """Refuse a path whose name is not valid UTF-8 (it could not be recorded or printed)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise RunError(
            f"{what} {shown}: the file name is not valid UTF-8, so it cannot be recorded in "
            "results.json or the ledger; rename the file (e.g. to ASCII)."
        ) from None


def _csv_header(path: Path, what: str) -> list[str]:
    """The header of CSV ``path``, once the text is known to be UTF-8 and every row to have the
    header's number of fields (pandas would fill a short row with empty cells -- a truncated line
    would read as a patient without a score -- and refuse a long one with a parser message)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RunError(
            f"{what} table {path}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
            "save the table as UTF-8 CSV."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    for fields in reader:
        if fields and len(fields) != len(header):  # a blank line is skipped, as pandas does
            found = (
                f"too few: the row ends after column {header[len(fields) - 1]!r}"
                if len(fields) < len(header)
                else "too many"
            )
            raise RunError(
                f"{what} table {path}, line {reader.line_num}: {len(fields)} field(s) ({found}); "
                f"expected {len(header)}, one per header column ({', '.join(header)}), an empty "
                "cell where a value is missing -- fix the table."
            )
    return header


def _check_header(columns: list[str], path: Path, what: str) -> None:
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise RunError(
                f"{what} table {path}, line 1: column {name!r} appears more than once in the "
                "header; which one holds the data is ambiguous -- keep one column of each name."
            )
        seen.add(name)


def _read_text_table(path: Path, what: str) -> pd.DataFrame:
    utf8_path(path, f"{what} table")
    if not path.is_file():
        raise RunError(
            f"{what} table {path} does not exist; give the path of a CSV or Parquet file."
        )
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            try:
                frame = pd.read_parquet(path)
            except ImportError:
                raise RunError(
                    f"{what} table {path}: reading Parquet needs the 'pyarrow' package "
                    "(pip install pyarrow), or give the table as CSV."
                ) from None
            _check_header([str(c) for c in frame.columns], path, what)
            return frame.astype("string").fillna("").astype(object)
        _check_header(_csv_header(path, what), path, what)
        return pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8"
        )
    except RunError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, csv.Error, pd.errors.ParserError) as exc:
        raise RunError(
            f"{what} table {path} cannot be read as {'Parquet' if suffix in ('.parquet', '.pq') else 'CSV'}: "
            f"{exc}; write it as UTF-8 CSV with a header row."
        ) from None


def _line(index: int) -> int:
    return index + 2  # line 1 is the header


def _require(frame: pd.DataFrame, path: Path, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RunError(
            f"{what} table {path}: missing column(s) {', '.join(missing)} (line 1, the header has "
            f"{', '.join(map(str, frame.columns)) or 'no columns'}); required: {', '.join(required)}."
        )


def _ids(frame: pd.DataFrame, path: Path, what: str) -> pd.Series:
    ids = frame["patient_id"].astype(str).str.strip()
    empty = ids == ""
    if empty.any():
        first = int(empty.to_numpy().nonzero()[0][0])
        raise RunError(
            f"{what} table {path}, line {_line(first)}, column 'patient_id': empty patient id; "
            "every row needs a pseudonymous patient id."
        )
    return ids


def _duplicates(ids: pd.Series, what: str) -> dict[int, RowProblem]:
    problems: dict[int, RowProblem] = {}
    dup = ids.duplicated(keep=False)
    for pid in sorted(set(ids[dup])):
        where = [i for i in range(len(ids)) if ids.iloc[i] == pid]
        lines = ", ".join(str(_line(i)) for i in where)
        for i in where:
            problems[i] = RowProblem(
                pid, _line(i), f"duplicate patient_id in {what} (lines {lines})"
            )
    return problems


def _number(text: str, path: Path, index: int, column: str, what: str) -> float:
    cell = text.strip(" ")
    if cell == "":
        return math.nan
    value = float(cell) if NUMBER.fullmatch(cell) else math.nan
    if not math.isfinite(value):
        raise RunError(
            f"{what} table {path}, line {_line(index)}, column {column!r}: expected a number in "
            f"[0, 1] written as plain decimal digits (e.g. 0.25 or 2.5e-1), got {text!r}; fix "
            "the table (an empty cell means no score)."
        )
    return value


def _finite(cell: str, path: Path, index: int, column: str) -> None:
    """Refuse a cell of a numeric label column (:data:`NUMERIC_LABELS`) that is neither empty nor
    a finite number in the :data:`NUMBER` grammar (``inf``, ``nan``, ``1e999``, ``unknown``)."""
    if cell == "" or (NUMBER.fullmatch(cell) and math.isfinite(float(cell))):
        return
    raise RunError(
        f"labels table {path}, line {_line(index)}, column {column!r}: expected a finite number "
        f"written as plain decimal digits (e.g. 64 or 64.5), got {cell!r}; fix the table (an "
        "empty cell means the value is missing)."
    )


def _open_table(
    path: Path, kind: str, required: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.Series, dict[int, RowProblem], pd.DataFrame]:
    """The raw text table, its validated ids, duplicate-id problems and the frame to fill."""
    raw = _read_text_table(path, kind)
    _require(raw, path, required, kind)
    if raw.empty:
        raise RunError(
            f"{kind} table {path} has no rows: it holds a header (line 1) and no patient; "
            "expected one row per patient -- give the complete table."
        )
    ids = _ids(raw, path, kind)
    return raw, ids, _duplicates(ids, kind), pd.DataFrame({"patient_id": ids})


def read_predictions(path: str | Path) -> Table:
    """Read and validate a predictions table: ``patient_id, site, score`` (+ optional columns).

    Returns a :class:`Table` whose ``model_lock`` is the single lock hash of the ``model_lock``
    column (None when the column is absent or empty). Scores outside [0, 1] or empty, and duplicate
    ids, are :class:`RowProblem` exclusions; a non-numeric score is a :class:`RunError`.
    """
    path = Path(path)
    raw, ids, problems, frame = _open_table(path, "predictions", _PREDICTIONS_REQUIRED)
    for column in ("score", "score_pcr"):
        if column not in raw.columns:
            continue
        values = [
            _number(str(v), path, i, column, "predictions") for i, v in enumerate(raw[column])
        ]
        frame[column] = values
        for i, value in enumerate(values):
            if i in problems:
                continue
            if column == "score" and math.isnan(value):
                problems[i] = RowProblem(ids.iloc[i], _line(i), "no prediction score")
            elif not math.isnan(value) and not 0.0 <= value <= 1.0:
                problems[i] = RowProblem(
                    ids.iloc[i], _line(i), f"{column} outside [0, 1] in predictions"
                )
    for column in ("site", "modalities"):
        if column in raw.columns:
            frame[column] = raw[column].astype(str).str.strip().replace("", pd.NA)
    lock, response = (_single_lock(raw, c, path) for c in ("model_lock", "response_lock"))
    keep = [i for i in range(len(frame)) if i not in problems]
    frame["line"] = [_line(i) for i in range(len(frame))]
    return Table(
        path,
        sha256_file(path),
        len(raw),
        frame.iloc[keep].reset_index(drop=True),
        tuple(problems[i] for i in sorted(problems)),
        lock,
        response,
    )


def _single_lock(raw: pd.DataFrame, column: str, path: Path) -> str | None:
    """The one lock hash of ``column`` (None when absent or empty); a mix is a RunError."""
    if column not in raw.columns:
        return None
    locks = sorted({str(v).strip() for v in raw[column]} - {""})
    if len(locks) > 1:
        first = next(i for i, v in enumerate(raw[column]) if str(v).strip() != locks[0])
        raise RunError(
            f"predictions table {path}, line {_line(first)}, column {column!r}: the table mixes "
            f"{len(locks)} model locks ({', '.join(x[:12] for x in locks)}); validate one locked "
            "model per run."
        )
    return locks[0] if locks else None


def read_labels(path: str | Path) -> Table:
    """Read and validate the sealed labels table (call only after registration is verified).

    Keeps the :data:`LABEL_COLUMNS` present; 0/1 columns (:data:`BINARY_LABELS`) become floats
    with nan for an empty cell. A value other than 0, 1 or empty, and duplicate ids, are
    :class:`RowProblem` exclusions.
    """
    path = Path(path)
    raw, ids, problems, frame = _open_table(path, "labels", _LABELS_REQUIRED)
    for column in LABEL_COLUMNS[1:]:
        if column not in raw.columns:
            continue
        text = raw[column].astype(str).str.strip()
        if column in NUMERIC_LABELS:
            for i, cell in enumerate(text):
                _finite(cell, path, i, column)
        if column not in BINARY_LABELS:
            frame[column] = text.replace("", pd.NA)
            continue
        values = []
        for i, cell in enumerate(text):
            if cell == "":
                values.append(math.nan)
            elif cell in ("0", "1", "0.0", "1.0"):
                values.append(float(cell))
            else:
                values.append(math.nan)
                problems.setdefault(
                    i, RowProblem(ids.iloc[i], _line(i), f"{column} not 0/1 in labels")
                )
        frame[column] = values
    frame["line"] = [_line(i) for i in range(len(frame))]
    keep = [i for i in range(len(frame)) if i not in problems]
    return Table(
        path,
        sha256_file(path),
        len(raw),
        frame.iloc[keep].reset_index(drop=True),
        tuple(problems[i] for i in sorted(problems)),
    )
