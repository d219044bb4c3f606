"""Training and locking of the HER2 model on the development sites.

:func:`train` reads a cohort (:func:`her2map.ingest.load_cohort`), keeps the development sites
(A-C by default), splits the patients into a training and a *validation* part (patient-level,
stratified by site and reference HER2 status, seeded), trains :class:`~her2map.model.Her2MapNet`
with ``bce + align_weight * alignment`` (Adam), selects the epoch with the highest validation AUC
(earliest on ties), chooses the decision threshold on the validation split by a rule stated in
advance (:data:`THRESHOLD_RULE`), and writes weights, training manifest and lock
(:func:`her2map.lock.write_lock`).

Reproducibility: ``torch.manual_seed(seed)``, a seeded ``torch.Generator`` for shuffling and
modality dropout, ``numpy.random.default_rng(seed)`` for the split, deterministic algorithms and
one intra-op thread — the same cohort and seed give byte-identical weights and lock.

Every training and validation patient is listed in the manifest; the test-set firewall
(:meth:`her2map.lock.LockedModel.check_firewall`) refuses any cohort that shares a patient with it.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from her2map.exceptions import CohortError
from her2map.lock import sha256_file, write_lock
from her2map.model import (
    ArchitectureConfig,
    Her2MapNet,
    collate,
    deterministic_torch,
    training_loss,
)
from her2map.preprocess import PreprocessConfig, preprocess_study
from her2map.progress import progress

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "THRESHOLD_RULE",
    "EpochRecord",
    "TrainConfig",
    "TrainResult",
    "split_patients",
    "train",
    "youden_threshold",
]

MODEL_NAME = "her2map-mmfusion"
MODEL_VERSION = "1.0.0"
#: The pre-stated rule by which the decision threshold is chosen on the validation split.
THRESHOLD_RULE = (
    "youden: maximise sensitivity + specificity - 1 on the validation split at the selected "
    "epoch, a case positive when score >= threshold; candidate thresholds are midpoints between "
    "adjacent distinct validation scores (pROC::coords(best.method='youden') convention); ties go "
    "to the highest threshold"
)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (recorded in the lock's ``training`` section).

    ``modality_dropout`` is the chance that each present modality of a training patient is hidden
    in an epoch (at least one is always kept), so the fused model also works on any subset, e.g.
    the MRI-only external site.
    """

    seed: int = 20250101
    epochs: int = 25
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    align_weight: float = 0.1
    validation_fraction: float = 0.2
    modality_dropout: float = 0.35
    sites: tuple[str, ...] = ("A", "B", "C")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sites"] = list(self.sites)
        return data


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss (total, bce, alignment) and validation AUC."""

    epoch: int
    loss: float
    bce: float
    align: float
    validation_auc: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` wrote and chose (``seconds`` is wall-clock, not part of the lock)."""

    lock_path: Path
    selected_epoch: int
    validation_auc: float
    threshold: float
    n_train: int
    n_validation: int
    history: tuple[EpochRecord, ...]
    seconds: float


def split_patients(
    patient_ids: Sequence[str], strata: Sequence[str], *, fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Seeded stratified patient-level split -> (training ids, validation ids), both sorted.

    Within each stratum (sorted ids, permuted by ``numpy.random.default_rng(seed)``) the first
    ``round(fraction * n)`` patients go to validation.
    """
    rng = np.random.default_rng(seed)
    by_stratum: dict[str, list[str]] = {}
    for pid, stratum in sorted(zip(patient_ids, strata, strict=True)):
        by_stratum.setdefault(stratum, []).append(pid)
    validation: list[str] = []
    for stratum in sorted(by_stratum):
        ids = by_stratum[stratum]
        order = rng.permutation(len(ids))
        validation += [ids[i] for i in order[: round(fraction * len(ids))]]
    chosen = set(validation)
    return sorted(set(patient_ids) - chosen), sorted(chosen)


def youden_threshold(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Threshold maximising Youden's J under :data:`THRESHOLD_RULE`."""
    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=float)
    distinct = np.unique(s)
    candidates = (distinct[:-1] + distinct[1:]) / 2.0 if distinct.size > 1 else distinct
    best, best_j = float(candidates[0]), -np.inf
    for t in candidates[::-1]:  # highest first, so ties keep the highest threshold
        called = s >= t
        j = called[y == 1].mean() + (~called[y == 0]).mean() - 1.0
        if j > best_j:
            best, best_j = float(t), j
    return best


def _load_development(
    cohort_dir: Path, sites: Sequence[str], show: bool | None
) -> tuple[list[str], list[str], list[dict[str, np.ndarray]], np.ndarray, Any]:
    from her2map.ingest import CLINICAL_COLUMNS, load_cohort, load_images

    cohort = load_cohort(cohort_dir, columns=CLINICAL_COLUMNS)
    clinical = cohort.clinical.set_index("patient_id")
    studies = [s for s in cohort.studies if s.site in set(sites)]
    if not studies:
        raise CohortError(
            f"cohort {cohort_dir}: no usable study from development sites {list(sites)}; "
            "train on a cohort that has them (her2map synth)"
        )
    ids = [s.patient_id for s in studies]
    labels = np.array([int(clinical.loc[pid, "reference_her2"]) for pid in ids])
    images = [
        load_images(s) for s in progress(studies, total=len(studies), desc="load", enabled=show)
    ]
    return ids, [s.site for s in studies], images, labels, cohort


def _scores(
    net: Her2MapNet, batches: Sequence[tuple[dict[str, torch.Tensor], torch.Tensor]]
) -> np.ndarray:
    net.eval()
    with torch.inference_mode():
        out = [torch.sigmoid(net(inputs, mask).logits) for inputs, mask in batches]
    net.train()
    return torch.cat(out).double().numpy()


def _drop_modalities(mask: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    keep = mask & (torch.rand(mask.shape, generator=generator) >= p)
    empty = ~keep.any(dim=1)
    if bool(empty.any()):
        # restore one present modality (the first after a seeded random rotation) per empty row
        noise = torch.rand(mask.shape, generator=generator) + mask.to(torch.float32) * 2.0
        pick = torch.nn.functional.one_hot(noise.argmax(dim=1), mask.shape[1]).bool()
        keep = torch.where(empty[:, None], pick & mask, keep)
    return keep


def train(
    cohort_dir: str | Path,
    out_dir: str | Path,
    *,
    config: TrainConfig | None = None,
    architecture: ArchitectureConfig | None = None,
    preprocessing: PreprocessConfig | None = None,
    commands: Sequence[str] = (),
    progress_bar: bool | None = None,
) -> TrainResult:
    """Train on the development sites of ``cohort_dir`` and write a locked model to ``out_dir``.

    Returns a :class:`TrainResult`; the lock records the configs, the threshold and its rule,
    the selected epoch, the validation AUC of every epoch and ``commands`` (provenance).
    """
    started = time.perf_counter()
    cfg = config or TrainConfig()
    arch = architecture or ArchitectureConfig()
    prep = preprocessing or PreprocessConfig()
    cohort_dir = Path(cohort_dir)
    ids, sites, raw, labels, cohort = _load_development(cohort_dir, cfg.sites, progress_bar)
    strata = [f"{site}:{label}" for site, label in zip(sites, labels, strict=True)]
    train_ids, val_ids = split_patients(
        ids, strata, fraction=cfg.validation_fraction, seed=cfg.seed
    )
    if len(set(labels[[ids.index(p) for p in val_ids]])) < 2:
        raise CohortError(
            f"cohort {cohort_dir}: the validation split of {len(val_ids)} patient(s) lacks a "
            "HER2-positive or a HER2-negative case; use a larger development cohort"
        )
    position = {pid: i for i, pid in enumerate(ids)}
    prepped = [preprocess_study(images, prep) for images in raw]
    train_idx = [position[p] for p in train_ids]
    val_idx = [position[p] for p in val_ids]
    y_train = torch.tensor(labels[train_idx], dtype=torch.float32)
    y_val = labels[val_idx]
    val_batches = [
        collate([prepped[i] for i in val_idx[k : k + 256]], prep)
        for k in range(0, len(val_idx), 256)
    ]

    history: list[EpochRecord] = []
    with deterministic_torch(threads=1):
        torch.manual_seed(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        net = Her2MapNet(arch)
        optimiser = torch.optim.Adam(
            net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        best_state: dict[str, torch.Tensor] = copy.deepcopy(net.state_dict())
        best_auc, best_epoch = -np.inf, 0
        epochs = progress(
            range(1, cfg.epochs + 1), total=cfg.epochs, desc="train", enabled=progress_bar
        )
        for epoch in epochs:
            order = torch.randperm(len(train_idx), generator=generator).tolist()
            sums = np.zeros(3)
            for k in range(0, len(order), cfg.batch_size):
                chunk = order[k : k + cfg.batch_size]
                inputs, mask = collate([prepped[train_idx[i]] for i in chunk], prep)
                mask = _drop_modalities(mask, cfg.modality_dropout, generator)
                parts = training_loss(
                    net(inputs, mask), y_train[chunk], align_weight=cfg.align_weight
                )
                optimiser.zero_grad()
                parts.total.backward()
                optimiser.step()
                sums += len(chunk) * np.array(
                    [parts.total.item(), parts.bce.item(), parts.align.item()]
                )
            val_auc = float(roc_auc_score(y_val, _scores(net, val_batches)))
            mean = sums / len(order)
            loss, bce, align = (float(v) for v in mean)
            history.append(EpochRecord(epoch, loss, bce, align, val_auc))
            if val_auc > best_auc:
                best_auc, best_epoch = val_auc, epoch
                best_state = copy.deepcopy(net.state_dict())
        net.load_state_dict(best_state)
        threshold = youden_threshold(y_val, _scores(net, val_batches))

    cohort_json = cohort_dir / "cohort.json"
    manifest = {
        "format": "her2map-training-manifest/1",
        "clinical_sha256": sha256_file(cohort_dir / "clinical.csv"),
        "cohort_json_sha256": sha256_file(cohort_json) if cohort_json.is_file() else None,
        "cohort_json": json.loads(cohort_json.read_text()) if cohort_json.is_file() else None,
        "sites": list(cfg.sites),
        "split": {
            "seed": cfg.seed,
            "validation_fraction": cfg.validation_fraction,
            "stratified_by": ["site", "reference_her2"],
        },
        "n_excluded_at_ingest": len(cohort.exclusions),
        "training_patients": train_ids,
        "validation_patients": val_ids,
    }
    training = {
        "config": cfg.to_dict(),
        "commands": list(commands),
        "selected_epoch": best_epoch,
        "validation_auc": best_auc,
        "n_train": len(train_ids),
        "n_validation": len(val_ids),
        "history": [asdict(record) for record in history],
        "threads": 1,
        "deterministic_algorithms": True,
    }
    lock_path = write_lock(
        Path(out_dir),
        state_dict=best_state,
        architecture=arch,
        preprocessing=prep,
        threshold=threshold,
        threshold_rule=THRESHOLD_RULE,
        manifest=manifest,
        training=training,
        name=MODEL_NAME,
        version=MODEL_VERSION,
    )
    return TrainResult(
        lock_path=lock_path,
        selected_epoch=best_epoch,
        validation_auc=best_auc,
        threshold=threshold,
        n_train=len(train_ids),
        n_validation=len(val_ids),
        history=tuple(history),
        seconds=time.perf_counter() - started,
    )
