"""TCIA CMMD (The Chinese Mammography Database) -> the cohort contract (mammograms + HER2 where
derivable).

Layout read: ``IMAGES/<ID1>/<study>/<series>/<n>.dcm`` (digital mammograms, CC and MLO views)
and the clinical spreadsheet (``CMMD_clinicaldata_revision.xlsx`` or a CSV export), one header row
and one row per breast: ``ID1, LeftRight, Age, number, abnormality, classification, subtype``.

HER2 only where the molecular subtype determines it (St Gallen surrogate definitions, Goldhirsch
et al., Ann Oncol 2013;24:2206-23): ``HER2-enriched`` -> 1; ``Luminal A`` and ``triple negative``
-> 0 (both HER2-negative by definition); ``Luminal B`` -> unknown, since Luminal B includes
HER2-positive and HER2-negative tumours. ``hr_status`` is 1 for Luminal A/B, 0 for HER2-enriched
and triple negative. Only malignant breasts make patients (a benign finding has no HER2 status);
a patient with two malignant breasts is left out with that reason (the contract has one tumour
side per patient). All of a patient's mammograms are placed in the cohort; ingest then excludes
the contralateral views by laterality, with the reason. Every source file and spreadsheet row not
used is listed in ``import_report.csv``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from her2map.exceptions import CohortError
from her2map.importers._common import build_cohort, read_sheet
from her2map.ingest.assemble import printable
from her2map.ingest.reader import FileProblem, read_header

__all__ = ["SUBTYPE_HER2", "import_cmmd"]

#: Subtype -> (reference_her2, hr_status); "" = not derivable.
SUBTYPE_HER2: dict[str, tuple[str, str]] = {
    "her2-enriched": ("1", "0"),
    "luminal a": ("0", "1"),
    "triple negative": ("0", "0"),
    "luminal b": ("", "1"),
}
_SITE = "CMMD"
_REQUIRED = ("ID1", "LeftRight", "Age", "classification", "subtype")


def _clinical(path: Path) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, str]]]:
    names, data = read_sheet(path, header_rows=1, name_row=0)
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        raise CohortError(f"{path}: row 1: missing column(s) {', '.join(missing)}")
    col = {name: names.index(name) for name in _REQUIRED}
    malignant: dict[str, list[tuple[int, list[str]]]] = defaultdict(list)
    skipped: list[tuple[str, str, str]] = []
    for number, row in data:
        pid = row[col["ID1"]]
        if row[col["classification"]].lower() != "malignant":
            skipped.append((f"{path.name} row {number}", pid, "benign: no HER2 status"))
            continue
        malignant[pid].append((number, row))
    patients: dict[str, dict[str, str]] = {}
    for pid, rows in sorted(malignant.items()):
        if len(rows) > 1:
            skipped.append(
                (
                    f"{path.name} rows {rows[0][0]}, {rows[1][0]}",
                    pid,
                    "two malignant breasts; the cohort contract has one tumour side",
                )
            )
            continue
        number, row = rows[0]
        side, subtype = row[col["LeftRight"]].upper(), row[col["subtype"]].strip().lower()
        if side not in ("L", "R"):
            raise CohortError(
                f"{path}: row {number}, column 'LeftRight': expected L or R, got {side!r}"
            )
        her2, hr = SUBTYPE_HER2.get(subtype, ("", ""))
        patients[pid] = {"laterality": side, "age": row[col["Age"]], "hr_status": hr, "her2": her2}
    return patients, skipped


def import_cmmd(
    images: str | os.PathLike[str], clinical: str | os.PathLike[str], out: str | os.PathLike[str]
) -> Path:
    """Import the CMMD layout under ``images`` with its spreadsheet ``clinical`` into ``out``.

    Returns the cohort folder; raises :class:`~her2map.exceptions.CohortError` for a malformed
    spreadsheet or an existing ``out``.
    """
    source = Path(images)
    table, report = _clinical(Path(clinical))
    if not source.is_dir():
        raise CohortError(f"{source}: image folder not found")
    files: list[tuple[Path, str]] = []
    counter: dict[str, int] = defaultdict(int)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = str(printable(path.relative_to(source).as_posix()))
        header = read_header(path)
        if isinstance(header, FileProblem):
            report.append((rel, header.patient_id or "", f"not read: {header.reason}"))
        elif header.patient_id not in table:
            report.append(
                (rel, header.patient_id, "patient not among the malignant, single-side rows")
            )
        else:
            counter[header.patient_id] += 1
            files.append((path, f"{header.patient_id}/{counter[header.patient_id]:04d}.dcm"))
            report.append((rel, header.patient_id, "used"))
    rows = [
        [pid, _SITE, v["laterality"], v["age"], v["hr_status"], v["her2"]]
        for pid, v in sorted(table.items())
    ]
    columns = ("patient_id", "site", "laterality", "age", "hr_status", "reference_her2")
    return build_cohort(Path(out), columns=columns, rows=rows, files=files, report=report)
