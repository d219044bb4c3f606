"""What both importers share: reading the spreadsheet, placing files, writing the folder at once.

An importer turns a public data set's own layout into the cohort contract that
:func:`her2map.ingest.load_cohort` reads: ``clinical.csv`` (the imaging columns ``patient_id,
site, laterality`` plus the label columns the source supports, empty where unknown), the DICOM
files under ``dicom/<patient_id>/``, and ``import_report.csv`` listing every source file with
what was done to it (``used`` or the reason it was left out). The folder is built beside ``out``
and renamed into place, so an interrupted import leaves nothing half-written.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from her2map._io import fsync_dir
from her2map.exceptions import CohortError

__all__ = ["Table", "build_cohort", "read_sheet"]

Table = tuple[list[str], list[tuple[int, list[str]]]]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_sheet(path: Path, *, header_rows: int, name_row: int) -> Table:
    """Column names (from header row ``name_row``, 0-based) and ``(spreadsheet row, cells)``.

    Reads ``.xlsx`` (first sheet, openpyxl, values only) or ``.csv`` (UTF-8). Rows after the
    ``header_rows`` header rows are data; entirely empty rows are skipped.

    Raises
    ------
    CohortError
        The file is missing, unreadable, or shorter than its header, naming the file.
    """
    try:
        if path.suffix.lower() == ".xlsx":
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            rows = [
                [_cell(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)
            ]
            book.close()
        else:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                rows = [[_cell(v) for v in row] for row in csv.reader(handle)]
    except FileNotFoundError:
        raise CohortError(f"{path}: clinical spreadsheet not found") from None
    except Exception as exc:  # openpyxl raises many types for a corrupt workbook
        raise CohortError(
            f"{path}: cannot be read as a spreadsheet ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None
    if len(rows) <= header_rows:
        raise CohortError(
            f"{path}: has {len(rows)} row(s); expected {header_rows} header rows and data"
        )
    names = rows[name_row]
    data = [
        (number, row + [""] * (len(names) - len(row)))
        for number, row in enumerate(rows[header_rows:], start=header_rows + 1)
        if any(row)
    ]
    return names, data


def _place(source: Path, target: Path) -> None:
    """Hard-link ``source`` to ``target`` when on one file system (no copy of the pixels), else
    copy it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_cohort(
    out: Path,
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    files: Sequence[tuple[Path, str]],
    report: Sequence[tuple[str, str, str]],
) -> Path:
    """Write the cohort folder ``out`` all at once.

    Parameters
    ----------
    columns, rows
        clinical.csv (rows sorted by the caller).
    files
        ``(source file, path below out/dicom)`` of every file used.
    report
        ``(source path relative to the data set, patient_id or "", "used" or the reason)``.
    """
    if out.exists():
        raise CohortError(f"{out}: already exists; an import writes a new cohort folder")
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        (tmp / "dicom").mkdir(parents=True)
        for source, relative in files:
            _place(source, tmp / "dicom" / relative)
        for name, header, body in (
            ("clinical.csv", columns, rows),
            ("import_report.csv", ("source", "patient_id", "outcome"), report),
        ):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(body)
            (tmp / name).write_text(buffer.getvalue(), encoding="utf-8")
        fsync_dir(tmp)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
