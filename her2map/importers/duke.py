"""TCIA Duke-Breast-Cancer-MRI -> the cohort contract (classic MR DCE series + clinical table).

Layout read (as TCIA distributes it): ``IMAGES/<Patient ID>/<study>/<series>/<n>.dcm``, classic MR
Image Storage, one file per slice and one series per phase; the clinical spreadsheet
(``Clinical_and_Other_Features.xlsx``, or a CSV export) with a 3-row header: row 1 groups the
features, row 2 names them, row 3 is a legend of the codes (e.g. ``0 = neg, 1 = pos,
2 = borderline``); data start on row 4.

Columns used (matched on row 2, case-insensitive): ``Patient ID``; ``Tumor Location`` (L/R, the
laterality); ``ER``, ``PR`` and ``HER2`` (codes decoded by their legend: a code whose label begins
with "pos" is 1, "neg" 0, anything else — borderline, not done — unknown); the pathologic response
column (a name starting ``Pathologic response to Neoadjuvant therapy``; a code labelled as a
complete response is 1, one labelled "no"/"not"/"non"/"partial"/"residual" is 0, others unknown).

Output ``clinical.csv``: ``patient_id, site (Duke), laterality, hr_status (ER or PR positive),
reference_her2, pcr`` — empty where unknown. ``reference_her2`` is the spreadsheet's HER2 status
as the data set reports it; a protocol using it must state that source. Which series are DCE
phases: those whose SeriesDescription contains ``dyn`` or ``ph<digit>`` (Duke names them ``ax dyn
pre``, ``ax dyn 1st pass``, ..., ``Ph1/ax 3d dyn``); others (``ax t1``, ``ax t1 tse``) are listed in
``import_report.csv`` with that reason, as is every file not used.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

from her2map.exceptions import CohortError
from her2map.importers._common import build_cohort, read_sheet
from her2map.ingest.assemble import printable
from her2map.ingest.reader import FileProblem, read_header

__all__ = ["DCE_SERIES", "import_duke"]

#: SeriesDescription of a DCE phase.
DCE_SERIES = re.compile(r"dyn|ph\d", re.IGNORECASE)
_SITE = "Duke"
_HEADER_ROWS, _NAME_ROW, _LEGEND_ROW = 3, 1, 2
_LEGEND_ITEM = re.compile(r"(-?\d+)\s*=\s*([^,;{}]+)")
_NEGATED = re.compile(r"\b(no|not|non|partial|residual)\b", re.IGNORECASE)
_COMPLETE = re.compile(r"\bpcr\b|complete", re.IGNORECASE)


def _column(names: list[str], path: Path, wanted: str, *, prefix: bool = False) -> int:
    for index, name in enumerate(names):
        text = " ".join(name.split()).lower()
        if text == wanted.lower() or (prefix and text.startswith(wanted.lower())):
            return index
    raise CohortError(
        f"{path}: header row {_NAME_ROW + 1}: no column {wanted!r}"
        f"{' (or starting so)' if prefix else ''}; is this the Duke clinical spreadsheet?"
    )


def _legend(text: str, path: Path, column: str) -> dict[str, str]:
    items = {code: label.strip() for code, label in _LEGEND_ITEM.findall(text)}
    if not items:
        raise CohortError(
            f"{path}: header row {_LEGEND_ROW + 1}, column {column!r}: no code legend "
            f"(expected e.g. '0 = neg, 1 = pos'), got {text[:60]!r}"
        )
    return items


def _status(label: str) -> str:
    lowered = label.lower()
    return "1" if lowered.startswith("pos") else "0" if lowered.startswith("neg") else ""


def _response(label: str) -> str:
    if _NEGATED.search(label):
        return "0"
    return "1" if _COMPLETE.search(label) else ""


def _clinical(path: Path) -> dict[str, dict[str, str]]:
    names, data = read_sheet(path, header_rows=_HEADER_ROWS, name_row=_NAME_ROW)
    _, legend_row = read_sheet(path, header_rows=_LEGEND_ROW, name_row=_NAME_ROW)
    legends = legend_row[0][1]
    idx = {
        "patient": _column(names, path, "Patient ID"),
        "side": _column(names, path, "Tumor Location"),
        "er": _column(names, path, "ER"),
        "pr": _column(names, path, "PR"),
        "her2": _column(names, path, "HER2"),
        "pcr": _column(names, path, "Pathologic response to Neoadjuvant therapy", prefix=True),
    }
    decode = {
        key: (_legend(legends[idx[key]], path, names[idx[key]]), rule)
        for key, rule in (("er", _status), ("pr", _status), ("her2", _status), ("pcr", _response))
    }
    patients: dict[str, dict[str, str]] = {}
    for number, row in data:
        pid, side = row[idx["patient"]], row[idx["side"]].upper()[:1]
        if side not in ("L", "R"):
            raise CohortError(
                f"{path}: row {number}, column 'Tumor Location': expected L or R, got "
                f"{row[idx['side']]!r}"
            )
        values = {}
        for key, (legend, rule) in decode.items():
            code = row[idx[key]]
            values[key] = rule(legend[code]) if code in legend else ""
        hr = (
            "1"
            if "1" in (values["er"], values["pr"])
            else "0"
            if values["er"] == values["pr"] == "0"
            else ""
        )
        patients[pid] = {
            "laterality": side,
            "hr_status": hr,
            "her2": values["her2"],
            "pcr": values["pcr"],
        }
    return patients


def import_duke(
    images: str | os.PathLike[str], clinical: str | os.PathLike[str], out: str | os.PathLike[str]
) -> Path:
    """Import the Duke layout under ``images`` with its spreadsheet ``clinical`` into ``out``.

    Returns the cohort folder; raises :class:`~her2map.exceptions.CohortError` for a malformed
    spreadsheet or an existing ``out``. Every file under ``images`` is in ``import_report.csv``.
    """
    source, table = Path(images), _clinical(Path(clinical))
    if not source.is_dir():
        raise CohortError(f"{source}: image folder not found")
    report: list[tuple[str, str, str]] = []
    series: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = str(printable(path.relative_to(source).as_posix()))
        header = read_header(path)
        if isinstance(header, FileProblem):
            report.append((rel, header.patient_id or "", f"not read: {header.reason}"))
        elif header.patient_id not in table:
            report.append((rel, header.patient_id, "patient not in the clinical spreadsheet"))
        elif not (header.modality == "MR" and header.classic):
            report.append((rel, header.patient_id, f"not classic MR ({header.modality})"))
        elif not DCE_SERIES.search(header.series_description):
            what = header.series_description or "none"
            report.append((rel, header.patient_id, f"not a DCE phase (SeriesDescription {what!r})"))
        else:
            series[(header.patient_id, header.series_uid)].append(path)
            report.append((rel, header.patient_id, "used"))
    files: list[tuple[Path, str]] = []
    counter: dict[str, int] = defaultdict(int)
    for (pid, _), paths in sorted(series.items()):
        counter[pid] += 1
        files += [(p, f"{pid}/series{counter[pid]:03d}/{n:05d}.dcm") for n, p in enumerate(paths)]
    rows = [
        [pid, _SITE, v["laterality"], v["hr_status"], v["her2"], v["pcr"]]
        for pid, v in sorted(table.items())
    ]
    columns = ("patient_id", "site", "laterality", "hr_status", "reference_her2", "pcr")
    return build_cohort(Path(out), columns=columns, rows=rows, files=files, report=report)
