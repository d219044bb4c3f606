"""Assemble per-patient multimodal studies from a folder of DICOM files in any nesting and naming.

Errors versus exclusions
------------------------
* :class:`~her2map.exceptions.CohortError` (the run stops) for problems of the cohort as a whole,
  which no per-case exclusion could represent honestly: the root missing or not a folder, an
  unlistable directory, no file at all, the DICOM folder escaping the root, and every malformed
  clinical.csv (see :mod:`her2map.ingest.clinical`).
* :class:`~her2map.ingest.models.Exclusion` (counted, reported, the run goes on) for a bad file or a
  bad study: anything one file or one patient can get wrong. A file-level exclusion carries the
  file's path relative to the root and the offending tag; a patient of clinical.csv left with no
  usable image gets one patient-level exclusion (``path=None``) "no usable images".

Duplicates: a repeated SOPInstanceUID is the same instance stored twice, so the first file (in
path order) is kept and each later copy excluded naming the first. Two different images for one
single-image key (two MG CC views, two US images) are both excluded: nothing tells which one the
model should see, and ingest never guesses. An incomplete or inconsistent DCE-MRI phase set
excludes all of that patient's MR files (the MR key is dropped, other modalities stay); classic MR
(one file per slice) is assembled into phases by :mod:`her2map.ingest.series`, and a patient with
both Enhanced and classic MR files has all of them excluded (ingest does not choose). A
patient's files spread over several StudyInstanceUIDs, or a StudyInstanceUID shared by several
PatientIDs, excludes all the files concerned.

Files are grouped by their tags (PatientID, StudyInstanceUID, Modality, ViewPosition,
TemporalPositionIdentifier), never by their paths. Every path found is processed in sorted order,
studies are sorted by ``patient_id`` and exclusions by patient, path and reason, so the result does
not depend on filesystem order. Symbolic links are never followed out of the root.

Every file under the cohort folder is accounted for, wherever it sits: the whole root is scanned
(``dicom/`` is a convention, not a boundary), and each entry is used or listed with its reason;
only the top-level cohort metadata (clinical.csv, cohort.json, truth.csv) and the given clinical
table are not images. A file name that is not valid UTF-8 is shown with its odd bytes escaped
(``\\xNN``), so it can always be written to the exclusions table.
"""

from __future__ import annotations

import os
import stat
from collections import Counter, defaultdict
from collections.abc import Iterable
from functools import partial
from pathlib import Path

import numpy as np

from her2map.exceptions import CohortError, DicomError
from her2map.ingest.clinical import IMAGING_COLUMNS, read_clinical
from her2map.ingest.models import MODALITY_KEYS, Cohort, Exclusion, StudyRef
from her2map.ingest.reader import DicomHeader, FileProblem, read_header, read_image
from her2map.ingest.series import SeriesProblem, order_classic_phases
from her2map.parallel import active, shards

__all__ = ["load_cohort", "load_images", "printable"]

#: Cohort metadata written beside clinical.csv; skipped when the root itself is scanned.
_METADATA_FILES = frozenset({"clinical.csv", "cohort.json", "truth.csv"})
_SINGLE_KEYS = ("MG_CC", "MG_MLO", "US")
_MIN_PHASES = 3

Headers = list[tuple[str, DicomHeader]]


class _Ledger:
    """Collects exclusions while the studies are assembled."""

    def __init__(self) -> None:
        self.items: list[Exclusion] = []

    def add(self, patient_id: str | None, rel: str | None, reason: str, tag: str | None) -> None:
        self.items.append(Exclusion(patient_id, printable(rel), str(printable(reason)), tag))

    def drop(self, headers: Headers, reason: str, tag: str | None) -> None:
        for rel, header in headers:
            self.add(header.patient_id, rel, reason, tag)


def printable(text: str | None) -> str | None:
    """``text`` with undecodable file-name bytes (surrogate escapes) shown as ``\\xNN``."""
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _discover(root: Path, scan_dir: Path, skip: frozenset[str], ledger: _Ledger) -> list[str]:
    """Relative paths of the regular files under ``scan_dir``; every other entry is excluded.

    Walks with :func:`os.scandir` (file types come with the directory listing, so a regular file
    costs no extra system call); symbolic links are never followed into folders.
    """
    prefix = len(str(root)) + 1
    found: list[str] = []
    folders = [str(scan_dir)]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as error:
            raise CohortError(
                f"{folder}: directory cannot be listed ({error.strerror}); fix its permissions "
                "or move it out of the cohort folder"
            ) from None
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
                continue
            if entry.path in skip:
                continue
            rel = entry.path[prefix:].replace(os.sep, "/")
            if entry.is_file(follow_symlinks=False):
                found.append(rel)
                continue
            reason = _entry_problem(root, Path(entry.path))
            if reason is None:
                found.append(rel)
            else:
                ledger.add(None, rel, reason, None)
    return sorted(found)


def _entry_problem(root: Path, path: Path) -> str | None:
    """Why ``path`` is not read as a file (symlink escaping the root, folder link, special)."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):  # dangling link, or a loop (RuntimeError before 3.13)
            return "symbolic link cannot be resolved (dangling or a loop); not read"
        if not target.is_relative_to(root):
            return "symbolic link points outside the cohort root; not read (no path escapes)"
        if target.is_dir():
            return "symbolic link to a directory; not followed (its target is scanned directly)"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot be read ({type(exc).__name__}: {exc.strerror})"
    return None if stat.S_ISREG(mode) else "not a regular file"


def _unique_instances(headers: Headers, ledger: _Ledger) -> Headers:
    """Keep the first file (in path order) of each SOPInstanceUID; exclude later copies."""
    first: dict[str, str] = {}
    kept: Headers = []
    for rel, header in headers:
        if header.sop_instance_uid in first:
            ledger.add(
                header.patient_id,
                rel,
                f"duplicate SOPInstanceUID: same instance as {first[header.sop_instance_uid]} "
                "(kept); remove one of the two files",
                "(0008,0018)",
            )
        else:
            first[header.sop_instance_uid] = rel
            kept.append((rel, header))
    return kept


def _known_patients(headers: Headers, known: frozenset[str], ledger: _Ledger) -> Headers:
    kept: Headers = []
    for rel, header in headers:
        if header.patient_id in known:
            kept.append((rel, header))
        else:
            ledger.add(
                header.patient_id,
                rel,
                f"PatientID {header.patient_id!r} is not in clinical.csv (unknown patient)",
                "(0010,0020)",
            )
    return kept


def _consistent_studies(headers: Headers, ledger: _Ledger) -> Headers:
    """One StudyInstanceUID per patient and one patient per StudyInstanceUID."""
    patients_of: dict[str, set[str]] = defaultdict(set)
    for _, header in headers:
        patients_of[header.study_uid].add(header.patient_id)
    shared = [(r, h) for r, h in headers if len(patients_of[h.study_uid]) > 1]
    for rel, header in shared:
        others = ", ".join(sorted(patients_of[header.study_uid] - {header.patient_id}))
        ledger.add(
            header.patient_id,
            rel,
            f"StudyInstanceUID {header.study_uid} is also used by patient(s) {others}: "
            "PatientID is inconsistent within the study",
            "(0010,0020)",
        )
    headers = [(r, h) for r, h in headers if len(patients_of[h.study_uid]) == 1]
    studies_of: dict[str, Counter[str]] = defaultdict(Counter)
    for _, header in headers:
        studies_of[header.patient_id][header.study_uid] += 1
    kept: Headers = []
    for rel, header in headers:
        counts = studies_of[header.patient_id]
        if len(counts) == 1:
            kept.append((rel, header))
            continue
        listing = "; ".join(f"{uid}: {n} file(s)" for uid, n in sorted(counts.items()))
        ledger.add(
            header.patient_id,
            rel,
            f"patient {header.patient_id} has files from {len(counts)} StudyInstanceUIDs "
            f"({listing}); expected one study per patient",
            "(0020,000D)",
        )
    return kept


def _mr_problem(headers: Headers) -> tuple[str, str] | None:
    """Why a patient's DCE-MRI phase files do not form one complete series, or ``None``."""
    declared = sorted({h.n_temporal_positions or 0 for _, h in headers})
    if len(declared) > 1:
        return (
            f"NumberOfTemporalPositions differs between phase files ({declared})",
            "(0020,0105)",
        )
    n_phases = declared[0]
    if n_phases < _MIN_PHASES:
        return (
            f"DCE-MRI needs >= {_MIN_PHASES} phases (pre-contrast + 2 post-contrast), "
            f"NumberOfTemporalPositions is {n_phases}",
            "(0020,0105)",
        )
    by_phase: dict[int, list[str]] = defaultdict(list)
    for rel, header in headers:
        by_phase[header.temporal_position or 0].append(rel)
    for phase, rels in sorted(by_phase.items()):
        if len(rels) > 1:
            return (
                f"TemporalPositionIdentifier {phase} appears in {len(rels)} files "
                f"({', '.join(rels)})",
                "(0020,0100)",
            )
    missing = sorted(set(range(1, n_phases + 1)) - set(by_phase))
    extra = sorted(set(by_phase) - set(range(1, n_phases + 1)))
    if missing or extra:
        return (
            f"DCE-MRI phases incomplete: TemporalPositionIdentifier must be 1..{n_phases}, "
            f"missing {missing}, unexpected {extra}",
            "(0020,0100)",
        )
    for name, tag in (
        ("frames", "(0028,0008)"),
        ("rows", "(0028,0010)"),
        ("columns", "(0028,0011)"),
    ):
        values = sorted({getattr(h, name) for _, h in headers})
        if len(values) > 1:
            return (f"frame geometry differs between DCE-MRI phases: {name} {values}", tag)
    return None


def _assemble_mr(
    patient_id: str, phases: Headers, ledger: _Ledger
) -> tuple[tuple[Path, ...], tuple[int, ...]]:
    """The patient's MR files in phase order and the number of files per phase (or nothing)."""
    classic = [item for item in phases if item[1].classic]
    if classic and len(classic) < len(phases):
        ledger.drop(
            phases,
            f"MR excluded for patient {patient_id}: both Enhanced MR ({len(phases) - len(classic)}"
            f" file(s)) and classic MR ({len(classic)} file(s)); cannot tell which to use",
            "(0008,0016)",
        )
        return (), ()
    if classic:
        try:
            ordered = order_classic_phases(classic, min_phases=_MIN_PHASES)
        except SeriesProblem as failure:
            ledger.drop(
                phases, f"MR excluded for patient {patient_id}: {failure.reason}", failure.tag
            )
            return (), ()
        paths = tuple(header.path for phase in ordered for _, header in phase)
        return paths, tuple(len(phase) for phase in ordered)
    problem = _mr_problem(phases)
    if problem is not None:
        ledger.drop(phases, f"MR excluded for patient {patient_id}: {problem[0]}", problem[1])
        return (), ()
    ordered_files = sorted(phases, key=lambda item: item[1].temporal_position or 0)
    return tuple(header.path for _, header in ordered_files), (1,) * len(ordered_files)


def _assemble_patient(
    patient_id: str, laterality: str, headers: Headers, ledger: _Ledger
) -> tuple[dict[str, tuple[Path, ...]], tuple[int, ...]]:
    """Usable files of one patient by modality key (and MR files per phase); the rest go to
    ``ledger``."""
    by_key: dict[str, Headers] = defaultdict(list)
    for rel, header in headers:
        if header.laterality is not None and header.laterality != laterality:
            ledger.add(
                patient_id,
                rel,
                f"ImageLaterality {header.laterality} does not match the clinical laterality "
                f"{laterality} of patient {patient_id}",
                "(0020,0062)",
            )
        else:
            by_key[header.key].append((rel, header))
    files: dict[str, tuple[Path, ...]] = {}
    for key in _SINGLE_KEYS:
        group = by_key.get(key, [])
        if len(group) > 1:
            names = ", ".join(rel for rel, _ in group)
            tag = "(0018,5101)" if key.startswith("MG") else None
            ledger.drop(
                group,
                f"{len(group)} {key} images ({names}); expected one, cannot tell which to use",
                tag,
            )
        elif group:
            files[key] = (group[0][1].path,)
    phase_sizes: tuple[int, ...] = ()
    if by_key.get("MR"):
        paths, phase_sizes = _assemble_mr(patient_id, by_key["MR"], ledger)
        if paths:
            files["MR"] = paths
    return files, phase_sizes


def load_cohort(
    root: str | os.PathLike[str],
    *,
    clinical: str | os.PathLike[str] | None = None,
    columns: tuple[str, ...] = IMAGING_COLUMNS,
) -> Cohort:
    """Validate a cohort folder and assemble one multimodal study per patient.

    Parameters
    ----------
    root
        Cohort folder. Every file under it is read (by convention the DICOM files sit in
        ``root/dicom``), except the top-level metadata files clinical.csv, cohort.json and
        truth.csv. Any nesting and file naming is accepted; files are grouped by their tags.
    clinical
        The clinical table; default ``root/clinical.csv``.
    columns
        Its columns to read and validate (:func:`~her2map.ingest.clinical.read_clinical`):
        by default only :data:`~her2map.ingest.clinical.IMAGING_COLUMNS`, so prediction never
        parses a label; training passes ``CLINICAL_COLUMNS``.

    Returns
    -------
    Cohort
        Studies of the clinical patients with at least one usable image (sorted by
        ``patient_id``), every exclusion (sorted), and ``n_files``, the number of entries found;
        ``n_files == cohort.n_used + len(cohort.file_exclusions)``.

    Raises
    ------
    CohortError
        The folder is missing, empty or unlistable, or clinical.csv is malformed.
    """
    given = Path(root)
    if not given.is_dir():
        raise CohortError(f"{given}: cohort folder not found; expected a folder with clinical.csv")
    base = given.resolve()
    clinical_path = Path(clinical) if clinical is not None else base / "clinical.csv"
    table = read_clinical(clinical_path, columns=columns)
    skip = frozenset(
        [str(base / name) for name in _METADATA_FILES] + [str(clinical_path.resolve())]
    )
    ledger = _Ledger()
    rels = _discover(base, base, skip, ledger)
    n_files = len(rels) + len(ledger.items)
    if n_files == 0:
        raise CohortError(f"{base}: no files found; expected the cohort's DICOM files here")
    headers: Headers = []
    for rel, result in zip(rels, _read_all_headers(base, rels), strict=True):
        if isinstance(result, FileProblem):
            ledger.add(result.patient_id, rel, result.reason, result.tag)
        else:
            headers.append((rel, result))
    headers = _unique_instances(headers, ledger)
    headers = _known_patients(headers, frozenset(table["patient_id"]), ledger)
    headers = _consistent_studies(headers, ledger)
    by_patient: dict[str, Headers] = defaultdict(list)
    for rel, header in headers:
        by_patient[header.patient_id].append((rel, header))
    index = {header.path: header for _, header in headers}
    studies = []
    for row in table.itertuples(index=False):
        pid = str(row.patient_id)
        files, phase_sizes = _assemble_patient(
            pid, str(row.laterality), by_patient.get(pid, []), ledger
        )
        if files:
            modalities = tuple(key for key in MODALITY_KEYS if key in files)
            studies.append(
                StudyRef(
                    pid,
                    str(row.site),
                    str(getattr(row, "manufacturer", "")),
                    str(row.laterality),
                    modalities,
                    files,
                    headers={p: index[p] for paths in files.values() for p in paths},
                    mr_phase_sizes=phase_sizes if "MR" in files else (),
                )
            )
        else:
            ledger.add(pid, None, _no_images_reason(pid, ledger.items), None)
    return Cohort(
        root=base,
        clinical=table,
        studies=tuple(studies),
        exclusions=tuple(sorted(ledger.items, key=Exclusion.sort_key)),
        n_files=n_files,
    )


def _read_all_headers(base: Path, rels: list[str]) -> list[DicomHeader | FileProblem]:
    """:func:`read_header` of every file, in order, on the active session's workers
    (:func:`her2map.parallel.active`: this process unless a session says otherwise), in shards of
    consecutive files. The workers must see ``base`` at the same path (a shared file system)."""
    place = active()
    done = place.map(partial(_read_headers, str(base)), shards(rels, place.workers), desc="headers")
    return [result for shard in done for result in shard]


def _read_headers(base: str, rels: list[str]) -> list[DicomHeader | FileProblem]:
    """One shard of :func:`_read_all_headers` (a task: module-level, so that it pickles)."""
    return [read_header(Path(base) / rel) for rel in rels]


def _no_images_reason(patient_id: str, items: Iterable[Exclusion]) -> str:
    n_excluded = sum(1 for e in items if e.patient_id == patient_id and e.path is not None)
    if n_excluded:
        return f"no usable images ({n_excluded} file(s) of this patient excluded, listed with their reasons)"
    return "no usable images (no DICOM file carries this PatientID)"


def load_images(study: StudyRef) -> dict[str, np.ndarray]:
    """Decode a study's images: float32 raw values after Rescale Slope/Intercept.

    Returns
    -------
    dict[str, numpy.ndarray]
        One entry per key of ``study.modalities``: ``MG_CC``/``MG_MLO``/``US`` of shape (H, W);
        ``MR`` of shape (phases, slices, H, W), phases in the order load_cohort gave them
        (Enhanced: one multi-frame file per phase; classic: one file per slice).

    Raises
    ------
    DicomError
        A file no longer satisfies the contract (changed since :func:`load_cohort`), naming the
        file and the tag.
    """
    images: dict[str, np.ndarray] = {}
    for key in study.modalities:
        if key == "MR":
            images[key] = _load_mr(study)
            continue
        (path,) = study.files[key]
        header, image = read_image(path, known=study.headers.get(path))
        _check_member(study, key, 1, header)
        images[key] = image
    return images


def _load_mr(study: StudyRef) -> np.ndarray:
    """The DCE-MRI volume ``(phases, slices, H, W)``, each file decoded straight into its place,
    so that the grey values are written once (not decoded, then stacked). A phase is one
    multi-frame Enhanced file or one classic file per slice (``study.mr_phase_sizes``). The first
    file sets the geometry; any other geometry, or another slice count, is refused (DicomError,
    tag (0028,0010)): the files changed since load_cohort checked them."""
    files = study.files["MR"]
    sizes = study.mr_phase_sizes or (1,) * len(files)
    volume: np.ndarray | None = None
    enhanced = False
    start = 0
    for phase, size in enumerate(sizes, start=1):
        for index, path in enumerate(files[start : start + size]):
            known = study.headers.get(path)
            if volume is None:
                header, image = read_image(path, known=known)
                enhanced = image.ndim == 3
                layers = () if enhanced else (size,)
                volume = np.empty((len(sizes), *layers, *image.shape), dtype=np.float32)
                target = volume[0] if enhanced else volume[0, 0]
                target[...] = image
            else:
                if size != (1 if enhanced else volume.shape[1]):
                    raise DicomError(
                        f"{path}: DCE-MRI phase {phase} has {size} file(s), the first phase "
                        f"{1 if enhanced else volume.shape[1]} (tag (0028,0010)); the files "
                        "changed since load_cohort -- re-run load_cohort"
                    )
                target = volume[phase - 1] if enhanced else volume[phase - 1, index]
                header, _ = read_image(path, known=known, out=target)
            _check_member(study, "MR", phase, header)
        start += size
    if volume is None:
        raise DicomError(f"{study.patient_id}: no DCE-MRI file listed for its MR key")
    return volume


def _check_member(study: StudyRef, key: str, position: int, header: DicomHeader) -> None:
    """The file still belongs where load_cohort put it (patient, key, phase order)."""
    problems = (
        (
            header.patient_id != study.patient_id,
            "(0010,0020)",
            f"PatientID {header.patient_id!r} is not the study's {study.patient_id!r}",
        ),
        (header.key != key, "(0008,0060)", f"image is {header.key}, expected {key}"),
        (
            key == "MR" and not header.classic and header.temporal_position != position,
            "(0020,0100)",
            f"TemporalPositionIdentifier {header.temporal_position}, expected {position}",
        ),
    )
    for failed, tag, what in problems:
        if failed:
            raise DicomError(
                f"{header.path}: {what} (tag {tag}); the file changed since "
                "load_cohort — re-run load_cohort"
            )
