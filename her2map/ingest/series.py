"""Classic MR (one file per slice, one series per DCE phase) -> ordered phases of ordered slices.

Rules (a failure excludes all of the patient's classic MR files, naming the series):

* **Phases** are told apart by SeriesInstanceUID, and within a series by
  TemporalPositionIdentifier when a vendor stores several phases in one series.
* **Slices** of a phase share ImageOrientationPatient, Rows, Columns and PixelSpacing; they are
  sorted along the slice normal ``n = row x column`` (direction cosines of (0020,0037)) by the
  projection ``n . ImagePositionPatient`` (the method of dcm2niix and ITK's GDCMSeriesFileNames),
  so file names and storage order never matter; two slices at one position are an error.
* **Geometry**: every phase has the same orientation, matrix, spacing and slice positions (within
  :data:`POSITION_TOLERANCE_MM`); otherwise the phases cannot be compared voxel by voxel.
* **Phase order** (pre-contrast first): by TemporalPositionIdentifier when every phase has a
  distinct one; else by AcquisitionTime (the phase's earliest slice); else by SeriesTime; else by
  SeriesDescription, a description containing "pre" first and the rest in natural order
  ("post2" before "post10"). When no rule separates all phases, the order is not guessed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from her2map.ingest.reader import DicomHeader

__all__ = ["POSITION_TOLERANCE_MM", "SeriesProblem", "order_classic_phases"]

#: Largest difference of slice positions (mm) still taken as the same position across phases.
POSITION_TOLERANCE_MM = 0.01
_ORIENTATION_TOLERANCE = 1e-4

Item = tuple[str, DicomHeader]


class SeriesProblem(Exception):
    """Why a patient's classic MR series do not form one DCE study: reason and DICOM tag."""

    def __init__(self, reason: str, tag: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tag = tag


def _name(header: DicomHeader) -> str:
    described = f" {header.series_description!r}" if header.series_description else ""
    return f"series {header.series_uid or '(no SeriesInstanceUID)'}{described}"


def _slice_order(items: list[Item]) -> tuple[list[Item], np.ndarray]:
    """Slices of one phase sorted along the normal, with their positions along it (mm)."""
    first = items[0][1]
    orientation = np.asarray(first.orientation, dtype=np.float64)
    for _, header in items:
        if not np.allclose(header.orientation or (), orientation, atol=_ORIENTATION_TOLERANCE):
            raise SeriesProblem(
                f"{_name(header)}: ImageOrientationPatient differs between its slices",
                "(0020,0037)",
            )
        if (header.rows, header.columns, header.spacing) != (
            first.rows,
            first.columns,
            first.spacing,
        ):
            raise SeriesProblem(
                f"{_name(header)}: Rows/Columns/PixelSpacing differ between its slices",
                "(0028,0010)",
            )
    normal = np.cross(orientation[:3], orientation[3:])
    distance = np.array([float(np.dot(normal, h.position or (0, 0, 0))) for _, h in items])
    order = np.argsort(distance, kind="stable")
    distance = distance[order]
    if len(distance) > 1 and float(np.min(np.diff(distance))) < POSITION_TOLERANCE_MM:
        raise SeriesProblem(
            f"{_name(first)}: two slices at the same position along the slice normal",
            "(0020,0032)",
        )
    return [items[i] for i in order], distance


def _seconds(text: str | None) -> float | None:
    """DICOM TM (``HHMMSS.FFFFFF``, also the old ``HH:MM:SS``) -> seconds, or None."""
    match = re.fullmatch(r"(\d\d):?(\d\d)?:?(\d\d)?(\.\d+)?", (text or "").strip())
    if match is None:
        return None
    hours, minutes, seconds, fraction = match.groups()
    return int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + float(fraction or 0.0)


def _natural(text: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text.lower()))


def _phase_order(phases: list[list[Item]]) -> list[list[Item]]:
    """Order the phases by the first rule that separates all of them (module docstring)."""

    def earliest_acquisition(phase: list[Item]) -> float | None:
        times = [_seconds(h.acquisition_time) for _, h in phase]
        return None if None in times else min(t for t in times if t is not None)

    rules: Sequence[tuple[str, Callable[[list[Item]], object]]] = (
        ("TemporalPositionIdentifier", lambda p: p[0][1].temporal_position),
        ("AcquisitionTime", earliest_acquisition),
        ("SeriesTime", lambda p: _seconds(p[0][1].series_time)),
        (
            "SeriesDescription",
            lambda p: (
                (
                    "pre" not in p[0][1].series_description.lower(),
                    _natural(p[0][1].series_description),
                )
                if p[0][1].series_description
                else None
            ),
        ),
    )
    for _, rule in rules:
        keys = [rule(phase) for phase in phases]
        if None not in keys and len(set(keys)) == len(keys):
            order = sorted(range(len(phases)), key=lambda i: keys[i])  # type: ignore[arg-type,return-value]
            return [phases[i] for i in order]
    names = ", ".join(_name(phase[0][1]) for phase in phases)
    raise SeriesProblem(
        "cannot order the DCE phases: no TemporalPositionIdentifier, AcquisitionTime, SeriesTime "
        f"or SeriesDescription tells all of them apart ({names})",
        "(0020,0100)",
    )


def order_classic_phases(items: Sequence[Item], *, min_phases: int) -> list[list[Item]]:
    """Group a patient's classic MR files into DCE phases, each sorted along the slice normal.

    Parameters
    ----------
    items : sequence of (relative path, header)
        The patient's classic MR files, in any order.
    min_phases : int
        Fewest phases of a DCE study (pre-contrast and two post-contrast).

    Returns
    -------
    list of phases (pre-contrast first), each a list of its slices in order along the normal.

    Raises
    ------
    SeriesProblem
        Inconsistent geometry, too few phases or an order no rule decides, naming the series.
    """
    groups: dict[tuple[str, int], list[Item]] = defaultdict(list)
    for rel, header in sorted(items, key=lambda item: item[0]):
        groups[(header.series_uid, header.temporal_position or 0)].append((rel, header))
    if len(groups) < min_phases:
        raise SeriesProblem(
            f"DCE-MRI needs >= {min_phases} phases (pre-contrast + 2 post-contrast); the classic "
            f"MR files form {len(groups)} series/phase(s)",
            "(0020,000E)",
        )
    ordered = {key: _slice_order(group) for key, group in sorted(groups.items())}
    reference_key = next(iter(ordered))
    reference_items, reference_distance = ordered[reference_key]
    reference = reference_items[0][1]
    for phase_items, distance in ordered.values():
        header = phase_items[0][1]
        same = (
            len(distance) == len(reference_distance)
            and (header.rows, header.columns, header.spacing)
            == (reference.rows, reference.columns, reference.spacing)
            and np.allclose(
                header.orientation or (), reference.orientation or (), atol=_ORIENTATION_TOLERANCE
            )
            and float(np.max(np.abs(distance - reference_distance))) <= POSITION_TOLERANCE_MM
        )
        if not same:
            raise SeriesProblem(
                f"inconsistent geometry between DCE phases: {_name(header)} "
                f"({len(distance)} slices, {header.rows}x{header.columns}) does not match "
                f"{_name(reference)} ({len(reference_distance)} slices, "
                f"{reference.rows}x{reference.columns}) in slice positions, orientation, "
                "matrix or spacing",
                "(0020,0032)",
            )
    return _phase_order([phase_items for phase_items, _ in ordered.values()])
