"""Locked inference over a cohort folder: the predictions table and its exclusions.

:func:`predict_cohort` ingests a cohort (:func:`her2map.ingest.load_cohort`), refuses it if any
patient is in the model's training manifest (test-set firewall, REQ-FW-001), scores every usable
study with :meth:`her2map.lock.LockedModel.predict_study` and writes, atomically:

* ``OUT`` — the predictions table, CSV, one row per predicted patient sorted by ``patient_id``:
  ``patient_id, site, score, score_pcr, modalities, model_lock, response_lock,
  lossy_compression``. ``score`` is P(HER2-positive) written with ``repr`` (shortest string that
  round-trips the float exactly), ``modalities`` joins the keys present with ``+`` in
  :data:`~her2map.preprocess.MODALITY_KEYS` order (``MG_CC+MG_MLO+US``), ``model_lock`` is the
  lock hash. ``score_pcr`` is the patient-response model's P(pCR) where it applies — a
  ``response`` model was given and the patient's ``pathway`` is ``neoadjuvant`` (its planned
  ``therapy`` is the model's second input) — and empty elsewhere; ``response_lock`` is that model's
  lock hash (empty without one). The optional provenance column ``lossy_compression`` is ``1``
  when any image the prediction read was lossy-compressed (a lossy-capable transfer syntax or
  LossyImageCompression (0028,2110) ``01``, :mod:`her2map.ingest.codecs`), else ``0``. Rerunning
  gives identical bytes (REQ-LOCK-002).
* ``OUT`` with suffix ``.provenance.json`` (:func:`provenance_path`) — how the table was made
  (:data:`PROVENANCE_FORMAT`): ``devices``, the device(s) that scored
  (:attr:`her2map.device.Device.label`: ``["cpu"]``, ``["cuda:0 NVIDIA H200"]``), ``model_lock``,
  ``response_lock`` (null without one), ``torch`` and ``cuda`` (torch's CUDA runtime when a GPU
  scored, else null), and ``predictions_sha256``, the sha256 of the table it describes (so that a
  provenance file left beside another table -- a run killed between the two writes, a table
  replaced by hand -- is told apart, not carried). The table has no device column: on the CPU it is the same bytes as ever;
  the harness carries this file into the dossier beside the table.
* ``OUT`` with suffix ``.exclusions.csv`` (:func:`exclusions_path`) — every patient or file that
  ingest excluded and that was therefore not predicted: ``patient_id, path, reason, tag``. A
  patient whose images pass ingest but fail to decode (a corrupt compressed stream, an
  overflowing rescale) is one more exclusion naming the file; the other patients are still
  predicted.

Only pseudonymous ids and the columns above leave the cohort: no DICOM name or birth date is ever
read into the table (REQ-PHI-001).

With ``workers`` (:class:`her2map.parallel.Workers`) the usable studies are cut into contiguous
shards of whole patients and scored on Dask; each worker loads and verifies the lock itself and
refuses a lock whose hash differs from the one the caller verified. Every patient is scored exactly
once (checked: no shard is padded, no case duplicated or lost) and the rows are sorted by
``patient_id`` as in the serial run, so the table has the same bytes whatever the number of
workers (REQ-LOCK-002).

``device`` (:func:`her2map.device.resolve_device`; default ``"cpu"``) is where the models score.
It is resolved once here (``auto``: CUDA when torch sees it, else CPU) and a requested GPU that
torch does not see is refused before anything is read. With workers, every worker scores on the
resolved device and re-resolves it itself (a worker that does not see that GPU refuses); several
local workers on one GPU share it, each with its own CUDA context (the network is small; each
patient is scored alone, so the sharing cannot change a score). Local worker threads are refused
on a GPU (torch's deterministic settings are per process).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch

from her2map._io import atomic_write_bytes, csv_bytes
from her2map.device import Device, resolve_device
from her2map.exceptions import DeviceError, DicomError, Her2MapError, LockError
from her2map.lock import LockedModel
from her2map.parallel import Session, Workers, active, session, shards

__all__ = [
    "EXCLUSION_COLUMNS",
    "PREDICTION_COLUMNS",
    "PROVENANCE_FORMAT",
    "exclusions_path",
    "predict_cohort",
    "provenance_path",
]

PREDICTION_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "score",
    "score_pcr",
    "modalities",
    "model_lock",
    "response_lock",
    "lossy_compression",
)
#: One scored study: ``("row", prediction row)`` or ``("excluded", exclusion row)``.
Outcome = tuple[str, list[str]]
#: One scored shard: the label of the device that scored it and its outcomes.
Shard = tuple[str, list[Outcome]]
#: Format tag of the provenance file beside a predictions table (:func:`provenance_path`).
PROVENANCE_FORMAT = "her2map.predictions-provenance/2"
EXCLUSION_COLUMNS: tuple[str, ...] = ("patient_id", "path", "reason", "tag")


def exclusions_path(out_csv: str | Path) -> Path:
    """Where the exclusions of ``out_csv`` go: ``predictions.csv`` -> ``predictions.exclusions.csv``."""
    out = Path(out_csv)
    return out.with_name(f"{out.stem}.exclusions.csv")


def provenance_path(out_csv: str | Path) -> Path:
    """Where the provenance of ``out_csv`` goes: ``predictions.csv`` ->
    ``predictions.provenance.json`` (module docstring)."""
    out = Path(out_csv)
    return out.with_name(f"{out.stem}.provenance.json")


def _provenance_bytes(
    devices: set[str], model: LockedModel, response: LockedModel | None, table: bytes
) -> bytes:
    cuda = any(label.startswith("cuda") for label in devices)
    record = {
        "cuda": torch.version.cuda if cuda else None,
        "devices": sorted(devices),
        "format": PROVENANCE_FORMAT,
        "model_lock": model.lock_hash,
        "predictions_sha256": hashlib.sha256(table).hexdigest(),
        "response_lock": None if response is None else response.lock_hash,
        "torch": torch.__version__,
    }
    return (json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8")


def predict_cohort(
    cohort_dir: str | Path,
    out_csv: str | Path,
    *,
    model: LockedModel | None = None,
    response: LockedModel | None = None,
    progress: bool | None = None,
    workers: Workers | None = None,
    device: str | Device = "cpu",
) -> Path:
    """Predict every usable patient of ``cohort_dir`` with the locked model; write ``out_csv``.

    Parameters
    ----------
    cohort_dir : path
        Cohort folder (``clinical.csv`` + DICOM files), see :func:`her2map.ingest.load_cohort`.
    out_csv : path
        Predictions table to write; its exclusions go to :func:`exclusions_path` of it.
    model : LockedModel, optional
        Default: the shipped lock, :meth:`LockedModel.load`.
    response : LockedModel, optional
        The patient-response model (target ``pcr``); ``score_pcr`` stays empty without it. It
        reads the treatment plan (``pathway``, ``therapy``) of clinical.csv beside the images and
        scores in this process (the HER2 model's scoring follows ``workers``).
    progress : bool, optional
        Progress bar on stderr; default only when stderr is a terminal.
    workers : Workers, optional
        Where to score: default the active session (:func:`her2map.parallel.active`, this process
        unless inside ``with session(...)``); else shards of patients on Dask (module docstring).
    device : str or Device, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``
        (:func:`her2map.device.resolve_device`); the device used is recorded in
        :func:`provenance_path` of ``out_csv``.

    Returns
    -------
    Path of the predictions table.

    Raises
    ------
    FirewallError
        The cohort shares patients with the training manifest.
    LockError, CohortError, DicomError
        Broken lock, malformed cohort folder, unreadable image.
    DeviceError
        An unknown device, or a CUDA device that torch does not see (here or on a worker).
    """
    from her2map.ingest import IMAGING_COLUMNS, PLAN_COLUMNS, load_cohort

    where = resolve_device(device)
    locked = LockedModel.load() if model is None else model
    for role, which, target in (("model", locked, "her2"), ("response", response, "pcr")):
        if which is not None and which.target != target:
            raise ValueError(
                f"{role} must be a locked model of target {target!r}, got {which.target!r}"
            )
    columns = IMAGING_COLUMNS if response is None else IMAGING_COLUMNS + PLAN_COLUMNS
    # One place for the whole job: the headers are read, and the patients scored, on the same
    # workers (this process unless ``workers`` or an enclosing session says otherwise).
    with session(workers) if workers is not None else nullcontext(active()) as place:
        cohort = load_cohort(cohort_dir, columns=columns)
        candidates = {s.patient_id for s in cohort.studies}
        candidates |= {str(pid) for pid in cohort.clinical["patient_id"]}
        for which in (locked, response):
            if which is not None:
                which.check_firewall(candidates, source=f"cohort {cohort_dir}")
        devices, outcomes = _score_on(
            place, locked, where, cohort.studies, progress, f"{cohort.root}/"
        )
    scored = [row for kind, row in outcomes if kind == "row"]
    pcr = {}
    if response is not None:
        pcr = _score_pcr(response.to(where), cohort, {r[0] for r in scored})
        devices.add(where.label)
    rows = sorted(
        (
            [pid, site, score, pcr.get(pid, ""), modalities, lock,
             "" if response is None else response.lock_hash, lossy]
            for pid, site, score, modalities, lock, lossy in scored
        ),
        key=lambda row: row[0],
    )  # fmt: skip
    excluded = sorted(
        [
            *(
                [
                    "" if e.patient_id is None else e.patient_id,
                    "" if e.path is None else str(e.path),
                    e.reason,
                    "" if e.tag is None else e.tag,
                ]
                for e in cohort.exclusions
            ),
            *(row for kind, row in outcomes if kind == "excluded"),
        ]
    )
    out = Path(out_csv)
    atomic_write_bytes(exclusions_path(out), csv_bytes(EXCLUSION_COLUMNS, excluded))
    table = csv_bytes(PREDICTION_COLUMNS, rows)
    atomic_write_bytes(provenance_path(out), _provenance_bytes(devices, locked, response, table))
    return atomic_write_bytes(out, table)


def _score_pcr(response: LockedModel, cohort: Any, predicted: set[str]) -> dict[str, str]:
    """P(pCR) of every predicted neoadjuvant patient, from its images and planned therapy."""
    from her2map.ingest import load_images

    plan = cohort.clinical.set_index("patient_id")
    out = {}
    for study in cohort.studies:
        if study.patient_id not in predicted:  # its images did not decode: already excluded
            continue
        course = plan.loc[study.patient_id]
        if course["pathway"] == "neoadjuvant":
            score = response.predict_study(load_images(study), therapy=str(course["therapy"]))
            out[study.patient_id] = repr(score)
    return out


#: Models loaded by this worker process, by (lock path, lock hash, device): a shard reuses them.
_LOADED: dict[tuple[str, str, str], LockedModel] = {}


def _rows(model: LockedModel, root: str, studies: Sequence[Any]) -> list[Outcome]:
    """Score each study; one whose pixels fail to decode becomes an exclusion naming the file
    (relative to the cohort ``root``), so that one file never stops the cohort."""
    from her2map.ingest import load_images
    from her2map.ingest.assemble import printable

    outcomes: list[Outcome] = []
    for study in studies:
        try:
            score = model.predict_study(load_images(study))
        except DicomError as exc:
            reason = str(printable(str(exc).replace(root, "")))
            outcomes.append(("excluded", [study.patient_id, "", f"not predicted: {reason}", ""]))
            continue
        lossy = any(header.lossy for header in study.headers.values())
        row = [
            study.patient_id,
            study.site,
            repr(score),
            "+".join(study.modalities),
            model.lock_hash,
            "1" if lossy else "0",
        ]
        outcomes.append(("row", row))
    return outcomes


def _here(model: LockedModel, root: str, studies: Sequence[Any]) -> Shard:
    """Score studies in this process with ``model`` (already on its device)."""
    return model.device.label, _rows(model, root, studies)


def _score_shard(
    lock_path: str, lock_hash: str, device: str, root: str, studies: Sequence[Any]
) -> Shard:
    """Score one shard on a worker with the lock loaded and verified there, on ``device``
    (resolved again on the worker: a worker that does not see that GPU refuses)."""
    key = (lock_path, lock_hash, device)
    if key not in _LOADED:
        model = LockedModel.load(lock_path, device=device)
        if model.lock_hash != lock_hash:
            raise LockError(
                f"lock {lock_path} on this worker hashes to {model.lock_hash}, not the "
                f"{lock_hash} verified by the caller: workers must see the same lock file"
            )
        _LOADED[key] = model
    return _here(_LOADED[key], root, studies)


def _score_on(
    place: Session,
    model: LockedModel,
    device: Device,
    studies: Sequence[Any],
    progress: bool | None,
    root: str,
) -> tuple[set[str], list[Outcome]]:
    """The labels of the devices that scored, and the outcomes of every study: here one patient at
    a time, or in shards of patients on Dask (:func:`her2map.parallel.shards`), on ``device``."""
    workers = place.workers
    if (
        device.is_cuda
        and not workers.serial
        and workers.scheduler is None
        and not workers.processes
    ):
        raise DeviceError(
            f"device {device.torch!r} with {workers.describe()}: torch's deterministic settings "
            "are per process, so worker threads sharing a GPU could change each other's "
            "algorithms; use worker processes (the CLI's --workers) or one worker"
        )
    if workers.serial:
        task: Any = partial(_here, model.to(device), root)
    else:
        task = partial(_score_shard, str(model.lock_path), model.lock_hash, device.torch, root)
    unit = "patient" if workers.serial else "shard"
    done: list[Shard] = place.map(
        task, shards(studies, workers), progress=progress, desc="predict", unit=unit
    )
    outcomes = [outcome for _, shard in done for outcome in shard]
    wanted = [study.patient_id for study in studies]
    got = [row[0] for _, row in outcomes]
    if got != wanted:  # never a padded, duplicated or lost case
        raise Her2MapError(
            f"inference returned {len(got)} row(s) ({len(set(got))} distinct patients) for "
            f"{len(wanted)} patient(s); refusing an incomplete or duplicated table"
        )
    return {label for label, _ in done} or {device.label}, outcomes
