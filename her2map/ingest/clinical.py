"""Read and validate clinical.csv (columns of docs/INTERFACES.md) into a typed pandas DataFrame.

Prediction needs only the columns that select a patient's images, :data:`IMAGING_COLUMNS`
(``patient_id, site, laterality``); :func:`her2map.ingest.load_cohort` asks for those by default,
so the locked core never parses a label (the reference standard stays sealed for the harness).
Training asks for the full :data:`CLINICAL_COLUMNS`. Columns not asked for are dropped at once,
except unknown extra columns, which are kept as text.

A malformed table is a :class:`~her2map.exceptions.CohortError`, not an exclusion: the clinical
record defines who is in the cohort and what the reference standard is, so a bad row cannot be
skipped without biasing the validation. The message names the file, the 1-based data row and its
line number, the column, what was expected and what was found.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from her2map.exceptions import CohortError

__all__ = ["CLINICAL_COLUMNS", "IMAGING_COLUMNS", "PLAN_COLUMNS", "read_clinical"]

#: Required columns, in contract order. Extra columns are kept (as text) after these.
CLINICAL_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "manufacturer",
    "age",
    "density",
    "race_ethnicity",
    "hr_status",
    "laterality",
    "reference_ihc",
    "reference_ish",
    "reference_her2",
    "her2_low",
    "reference_category",
    "biopsy_ihc",
    "biopsy_ish",
    "biopsy_her2",
    "pathway",
    "therapy",
    "pcr",
)

#: The columns that select a patient's images; all that prediction reads.
IMAGING_COLUMNS: tuple[str, ...] = ("patient_id", "site", "laterality")
#: The treatment plan known before treatment; the response model reads it beside the images.
PLAN_COLUMNS: tuple[str, ...] = ("pathway", "therapy")

_PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_IHC = ("0", "1+", "2+", "3+")
_ISH = ("positive", "negative", "")
_BINARY = ("0", "1")
_CATEGORIES = ("0", "1+", "2+/ISH-", "2+/ISH+", "3+")


def _one_of(allowed: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in allowed else "one of " + ", ".join(repr(a) for a in allowed)

    return check


def _patient_id(value: str) -> str | None:
    if _PATIENT_ID.fullmatch(value):
        return None
    return "a pseudonymous id of 1-64 letters, digits, '.', '_' or '-' (e.g. 'P000123')"


def _text(value: str) -> str | None:
    return None if value.strip() == value and value else "non-empty text without edge spaces"


def _age(value: str) -> str | None:
    return None if value.isdigit() and 0 < int(value) <= 120 else "an integer age in 1..120"


#: Per column: a checker returning ``None`` when valid, else what was expected.
_CHECKS: dict[str, Callable[[str], str | None]] = {
    "patient_id": _patient_id,
    "site": _text,
    "manufacturer": _text,
    "age": _age,
    "density": _one_of(("a", "b", "c", "d")),
    "race_ethnicity": _text,
    "hr_status": _one_of(_BINARY),
    "laterality": _one_of(("L", "R")),
    "reference_ihc": _one_of((*_IHC, "")),
    "reference_ish": _one_of(_ISH),
    "reference_her2": _one_of((*_BINARY, "")),
    "her2_low": _one_of((*_BINARY, "")),
    "reference_category": _one_of((*_CATEGORIES, "")),
    "biopsy_ihc": _one_of(_IHC),
    "biopsy_ish": _one_of(_ISH),
    "biopsy_her2": _one_of(_BINARY),
    "pathway": _one_of(("upfront-surgery", "neoadjuvant")),
    "therapy": _one_of(("anti-HER2", "chemotherapy", "")),
    "pcr": _one_of(("0", "1", "")),
}
_INTEGER_COLUMNS = ("age", "hr_status", "biopsy_her2")
#: 0/1 columns that are empty where they cannot exist (pandas ``Int64``, ``<NA>`` when empty).
_NULLABLE_COLUMNS = ("reference_her2", "her2_low", "pcr")
_SURGICAL = ("reference_ihc", "reference_her2", "reference_category")


def _course(record: dict[str, str], columns: tuple[str, ...]) -> str | None:
    """What is inconsistent in a row's clinical course, or ``None`` (checked where columns given).

    Upfront surgery has no neoadjuvant therapy and no response; neoadjuvant therapy has both; a
    surgical-specimen HER2 exists exactly where invasive tumour remained (no pCR).
    """
    if "pathway" not in columns:
        return None
    upfront = record["pathway"] == "upfront-surgery"
    for column in ("therapy", "pcr"):
        if column in columns and (record[column] == "") != upfront:
            state = "empty" if upfront else "a value"
            return (
                f"column {column!r}: expected {state} for pathway {record['pathway']!r}, "
                f"got {record[column]!r}"
            )
    if "pcr" in columns:
        tumour_left = record["pcr"] != "1"
        for column in _SURGICAL:
            if column in columns and (record[column] != "") != tumour_left:
                if tumour_left:
                    return (
                        f"column {column!r}: expected a surgical-specimen result where invasive "
                        f"tumour remained (pcr {record['pcr']!r}), got ''"
                    )
                return (
                    f"column {column!r}: expected empty after pathological complete response "
                    f"(pcr '1', ypT0/is ypN0: no invasive tumour left to test), got {record[column]!r}"
                )
    return None


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, fields)`` of every data row, read strictly."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
            rows: list[tuple[int, list[str]]] = []
            line = reader.line_num
            for fields in reader:
                rows.append((line + 1, fields))
                line = reader.line_num
    except FileNotFoundError:
        raise CohortError(
            f"{path}: clinical table not found; expected clinical.csv in the cohort folder "
            "or pass clinical=PATH"
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CohortError(f"{path}: cannot be read as UTF-8 CSV ({exc}); re-export it") from None
    if header is None:
        raise CohortError(
            f"{path}: file is empty; expected a header line with the columns "
            f"{', '.join(CLINICAL_COLUMNS)}"
        )
    return header, rows


def read_clinical(
    path: str | os.PathLike[str], *, columns: tuple[str, ...] = CLINICAL_COLUMNS
) -> pd.DataFrame:
    """Read ``path`` and validate every value of the requested ``columns`` of the contract.

    ``columns`` must include :data:`IMAGING_COLUMNS`; contract columns not requested are neither
    validated nor returned.

    Returns
    -------
    pandas.DataFrame
        One row per patient, sorted by ``patient_id`` (index 0..n-1). Integer columns ``age``,
        ``hr_status``, ``biopsy_her2`` are int64; ``reference_her2``, ``her2_low`` and ``pcr``
        are pandas ``Int64`` (``<NA>`` when empty: no surgical specimen after pCR, no response
        after upfront surgery); the other columns are text (empty values kept as ``""``).

    Raises
    ------
    CohortError
        File missing/unreadable/empty, a required column missing or repeated, a row with the wrong
        number of fields, a value outside its domain, a clinical course that cannot be (therapy
        after upfront surgery, a surgical HER2 after pCR), or a duplicate ``patient_id`` — naming the
        file, data row (1-based) and line, column, what was expected and the value found.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise CohortError(f"{path}: line 1: column(s) {', '.join(repeated)} appear more than once")
    unknown = [name for name in columns if name not in CLINICAL_COLUMNS]
    if unknown or not set(IMAGING_COLUMNS) <= set(columns):
        raise ValueError(
            f"columns must be contract columns including {IMAGING_COLUMNS}; got {columns}"
        )
    missing = [name for name in columns if name not in header]
    if missing:
        raise CohortError(
            f"{path}: line 1: missing required column(s) {', '.join(missing)}; "
            f"expected columns {', '.join(columns)}"
        )
    if not rows:
        raise CohortError(f"{path}: no data rows; expected one row per patient")
    seen: dict[str, int] = {}
    records = []
    for number, (line, fields) in enumerate(rows, start=1):
        where = f"{path}: data row {number} (line {line})"
        if len(fields) != len(header):
            raise CohortError(
                f"{where}: has {len(fields)} fields, expected {len(header)} as in the header"
            )
        record = dict(zip(header, fields, strict=True))
        for column in columns:
            expected = _CHECKS[column](record[column])
            if expected is not None:
                shown = record[column] if len(record[column]) <= 40 else "<long value>"
                raise CohortError(f"{where}, column {column!r}: expected {expected}, got {shown!r}")
        inconsistent = _course(record, columns)
        if inconsistent is not None:
            raise CohortError(f"{where}, {inconsistent}")
        pid = record["patient_id"]
        if pid in seen:
            raise CohortError(
                f"{where}, column 'patient_id': duplicate {pid!r}, first seen in data row "
                f"{seen[pid]}; each patient must appear once"
            )
        seen[pid] = number
        records.append(record)
    kept = list(columns) + [c for c in header if c not in CLINICAL_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=kept)
    for column in _INTEGER_COLUMNS:
        if column in columns:
            frame[column] = frame[column].astype("int64")
    for column in _NULLABLE_COLUMNS:
        if column in columns:
            frame[column] = pd.array(
                [None if v == "" else int(v) for v in frame[column]], dtype="Int64"
            )
    return frame.sort_values("patient_id", kind="stable").reset_index(drop=True)
