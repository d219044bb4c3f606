"""Frozen result objects of DICOM ingest: :class:`StudyRef`, :class:`Exclusion`, :class:`Cohort`.

None of them holds a patient name or birth date: ingest never reads those DICOM elements
(REQ-PHI-001). Identifiers are the pseudonymous ``patient_id`` of clinical.csv only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from her2map.ingest.reader import DicomHeader

__all__ = ["MODALITY_KEYS", "Cohort", "Exclusion", "StudyRef"]

#: Image keys of a study, in their canonical order (the order of ``StudyRef.modalities``).
MODALITY_KEYS: tuple[str, ...] = ("MG_CC", "MG_MLO", "US", "MR")


@dataclass(frozen=True)
class StudyRef:
    """One patient's usable, validated images, grouped by modality key.

    Attributes
    ----------
    patient_id, site, manufacturer, laterality
        From clinical.csv (pseudonymous id; site; vendor; tumor side ``"L"``/``"R"``);
        ``manufacturer`` is ``""`` unless the table's ``manufacturer`` column was read
        (``load_cohort(..., columns=CLINICAL_COLUMNS)``).
    modalities
        The keys present, a subset of :data:`MODALITY_KEYS` in that order.
    files
        Read-only mapping key -> absolute paths (under the cohort root). ``MG_CC``, ``MG_MLO`` and
        ``US`` hold one file; ``MR`` holds the DCE phases in order (pre-contrast first): one
        Enhanced MR multi-frame file per phase, or the classic MR slice files of each phase in
        turn, sorted along the slice normal (:mod:`her2map.ingest.series`).
    headers
        Optional (not part of equality or repr): the validated header of each file as
        :func:`~her2map.ingest.load_cohort` read it, so that
        :func:`~her2map.ingest.load_images` reads only the pixel bytes of unchanged files instead
        of parsing them again. Empty for a StudyRef built by hand: every file is then parsed.
    mr_phase_sizes
        Number of ``MR`` files of each phase, in order (``(1, 1, 1)`` for three Enhanced MR
        phases, ``(96, 96, 96)`` for three classic series of 96 slices); empty means one file per
        phase.
    """

    patient_id: str
    site: str
    manufacturer: str
    laterality: str
    modalities: tuple[str, ...]
    files: Mapping[str, tuple[Path, ...]] = field(hash=False)
    headers: Mapping[Path, DicomHeader] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    mr_phase_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # Freeze the mappings so that a StudyRef cannot change after construction.
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        n_mr = len(self.files.get("MR", ()))
        if self.mr_phase_sizes and sum(self.mr_phase_sizes) != n_mr:
            raise ValueError(
                f"mr_phase_sizes {self.mr_phase_sizes} must add up to the {n_mr} MR file(s)"
            )

    @property
    def n_images(self) -> int:
        """Number of DICOM files in the study (each MG view, US image and MR phase counts one)."""
        return sum(len(paths) for paths in self.files.values())


@dataclass(frozen=True)
class Exclusion:
    """A file or a patient left out of the cohort, with the reason and DICOM tag.

    ``path`` (relative to the cohort root, POSIX form) is set for a file-level exclusion and
    ``None`` for a patient-level one ("no usable images"); ``patient_id`` is ``None`` when the file
    could not be attributed to a patient. ``tag`` is the DICOM tag as ``"(gggg,eeee)"`` when one
    element is at fault, else ``None``. :meth:`sort_key` orders by patient, path, reason, tag.
    """

    patient_id: str | None
    path: str | None
    reason: str
    tag: str | None = None

    def sort_key(self) -> tuple[str, str, str, str]:
        """Deterministic sort key (``None`` sorts first)."""
        return (self.patient_id or "", self.path or "", self.reason, self.tag or "")


@dataclass(frozen=True)
class Cohort:
    """Validated cohort: clinical table, per-patient studies and every exclusion.

    Invariant (REQ-ING-001): every file found under the scanned folder is either in exactly one
    study or in exactly one file-level exclusion, so ``n_files == n_used + n_excluded_files``.
    """

    root: Path
    clinical: pd.DataFrame = field(compare=False, hash=False, repr=False)
    studies: tuple[StudyRef, ...]
    exclusions: tuple[Exclusion, ...]
    n_files: int

    @property
    def n_used(self) -> int:
        """Number of files used in studies."""
        return sum(study.n_images for study in self.studies)

    @property
    def file_exclusions(self) -> tuple[Exclusion, ...]:
        """Exclusions of single files (``path`` set)."""
        return tuple(e for e in self.exclusions if e.path is not None)

    @property
    def patient_exclusions(self) -> tuple[Exclusion, ...]:
        """Patients of clinical.csv left without any usable image (``path`` is ``None``)."""
        return tuple(e for e in self.exclusions if e.path is None)

    def study(self, patient_id: str) -> StudyRef:
        """The study of ``patient_id``; raises ``KeyError`` naming it if absent."""
        for candidate in self.studies:
            if candidate.patient_id == patient_id:
                return candidate
        raise KeyError(f"patient_id {patient_id!r} has no study in cohort {self.root}")
