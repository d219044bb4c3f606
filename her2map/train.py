"""Training and locking of the HER2 model and the patient-response model on the development sites.

Two targets (:data:`TARGETS`): ``her2`` — P(HER2-positive) against the surgical-specimen HER2,
trained on development patients who have one (upfront surgery, or residual tumour after
neoadjuvant therapy); ``pcr`` — the patient-response model, P(pCR) from the imaging and the planned
neoadjuvant therapy (:func:`her2map.model.plan_features`), trained on the development cohort's
neoadjuvant patients. The response model may start from the locked HER2 model's encoders
(``init_from``; its lock hash is recorded in the manifest) — transfer learning, as the response
version of HER2 MAP builds on the HER2 representation.

:func:`train` reads a cohort (:func:`her2map.ingest.load_cohort`), keeps the development sites
(A-C by default) and the patients the target applies to, splits them into a training and a
*validation* part (patient-level, stratified by site and label, seeded), trains
:class:`~her2map.model.Her2MapNet`
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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
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
    plan_features,
    training_loss,
)
from her2map.preprocess import PreprocessConfig, preprocess_study
from her2map.progress import progress

__all__ = [
    "MODEL_NAME",
    "MODEL_VERSION",
    "TARGETS",
    "THRESHOLD_RULE",
    "EpochRecord",
    "Target",
    "TrainConfig",
    "TrainResult",
    "split_patients",
    "train",
    "youden_threshold",
]

MODEL_NAME = "her2map-mmfusion"
MODEL_VERSION = "1.1.0"
#: The pre-stated rule by which the decision threshold is chosen on the validation split.
THRESHOLD_RULE = (
    "youden: maximise sensitivity + specificity - 1 on the validation split at the selected "
    "epoch, a case positive when score >= threshold; candidate thresholds are midpoints between "
    "adjacent distinct validation scores (pROC::coords(best.method='youden') convention); ties go "
    "to the highest threshold"
)


@dataclass(frozen=True)
class Target:
    """What a model predicts: the label column (and the column used where it cannot exist), who it
    applies to, its name and file stem."""

    name: str
    label: str
    applies_to: str
    model_name: str
    stem: str
    plan_inputs: int
    fallback: str | None = None


#: The two locked models' targets.
TARGETS: dict[str, Target] = {
    "her2": Target(
        "her2",
        "reference_her2",
        "every patient; label = the HER2 status of record: the surgical specimen where invasive "
        "tumour remained (upfront surgery, residual tumour after NAT), the core biopsy after pCR "
        "(no tumour left to test)",
        MODEL_NAME,
        "her2map",
        0,
        "biopsy_her2",
    ),
    "pcr": Target(
        "pcr",
        "pcr",
        "patients with neoadjuvant therapy (pathway 'neoadjuvant'), with their planned therapy",
        "her2map-response",
        "her2map-pcr",
        1,
    ),
}


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
    target: str = "her2"

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {sorted(TARGETS)}, got {self.target!r}")

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


@dataclass(frozen=True)
class _Development:
    ids: list[str]
    sites: list[str]
    images: list[dict[str, np.ndarray]]
    labels: np.ndarray
    plans: np.ndarray  # (n, plan_inputs) float32
    n_not_applicable: int
    n_excluded_at_ingest: int


def _load_development(
    cohort_dir: Path, sites: Sequence[str], target: Target, show: bool | None
) -> _Development:
    from her2map.ingest import CLINICAL_COLUMNS, load_cohort, load_images

    cohort = load_cohort(cohort_dir, columns=CLINICAL_COLUMNS)
    clinical = cohort.clinical.set_index("patient_id")
    in_sites = [s for s in cohort.studies if s.site in set(sites)]

    def label(pid: str) -> Any:
        value = clinical.loc[pid, target.label]
        if pd.isna(value) and target.fallback is not None:
            value = clinical.loc[pid, target.fallback]
        return value

    studies = [s for s in in_sites if not pd.isna(label(s.patient_id))]
    if not studies:
        raise CohortError(
            f"cohort {cohort_dir}: no usable study from development sites {list(sites)} among "
            f"{target.applies_to}; train on a cohort that has them (her2map synth)"
        )
    ids = [s.patient_id for s in studies]
    labels = np.array([int(label(pid)) for pid in ids])
    plans = np.zeros((len(ids), target.plan_inputs), dtype=np.float32)
    if target.plan_inputs:
        plans[:] = [plan_features(str(clinical.loc[pid, "therapy"])) for pid in ids]
    images = [
        load_images(s) for s in progress(studies, total=len(studies), desc="load", enabled=show)
    ]
    return _Development(
        ids,
        [s.site for s in studies],
        images,
        labels,
        plans,
        len(in_sites) - len(studies),
        len(cohort.exclusions),
    )


Batch = tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]


def _batch(prepped: Sequence[Any], plans: np.ndarray, rows: Sequence[int], prep: Any) -> Batch:
    inputs, mask = collate([prepped[i] for i in rows], prep)
    plan = torch.from_numpy(plans[list(rows)]) if plans.shape[1] else None
    return inputs, mask, plan


def _scores(net: Her2MapNet, batches: Sequence[Batch]) -> np.ndarray:
    net.eval()
    with torch.inference_mode():
        out = [torch.sigmoid(net(inputs, mask, plan).logits) for inputs, mask, plan in batches]
    net.train()
    return torch.cat(out).double().numpy()


def _initialise(net: Her2MapNet, init_from: Any) -> None:
    """Copy the encoders (not the head) of a locked model into ``net``."""
    state = {k: v for k, v in init_from.network.state_dict().items() if not k.startswith("head.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise CohortError(
            f"init_from lock {init_from.lock_path}: its encoders do not fit this architecture "
            f"(missing {missing}, unexpected {unexpected})"
        )


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
    init_from: Any = None,
    commands: Sequence[str] = (),
    progress_bar: bool | None = None,
) -> TrainResult:
    """Train on the development sites of ``cohort_dir`` and write a locked model to ``out_dir``.

    ``config.target`` chooses the model (:data:`TARGETS`); the architecture's ``plan_inputs`` is
    set from the target. ``init_from`` (a :class:`~her2map.lock.LockedModel`) starts the encoders
    from a locked model. Returns a :class:`TrainResult`; the lock records the configs, the
    threshold and its rule, the selected epoch, the validation AUC of every epoch and ``commands``.
    """
    started = time.perf_counter()
    cfg = config or TrainConfig()
    target = TARGETS[cfg.target]
    arch = replace(architecture or ArchitectureConfig(), plan_inputs=target.plan_inputs)
    prep = preprocessing or PreprocessConfig()
    cohort_dir = Path(cohort_dir)
    dev = _load_development(cohort_dir, cfg.sites, target, progress_bar)
    ids, labels = dev.ids, dev.labels
    strata = [f"{site}:{label}" for site, label in zip(dev.sites, labels, strict=True)]
    train_ids, val_ids = split_patients(
        ids, strata, fraction=cfg.validation_fraction, seed=cfg.seed
    )
    if len(set(labels[[ids.index(p) for p in val_ids]])) < 2:
        raise CohortError(
            f"cohort {cohort_dir}: the validation split of {len(val_ids)} patient(s) lacks a "
            f"positive or a negative {target.label}; use a larger development cohort"
        )
    position = {pid: i for i, pid in enumerate(ids)}
    prepped = [preprocess_study(images, prep) for images in dev.images]
    train_idx = [position[p] for p in train_ids]
    val_idx = [position[p] for p in val_ids]
    y_train = torch.tensor(labels[train_idx], dtype=torch.float32)
    y_val = labels[val_idx]
    val_batches = [
        _batch(prepped, dev.plans, val_idx[k : k + 256], prep) for k in range(0, len(val_idx), 256)
    ]

    history: list[EpochRecord] = []
    with deterministic_torch(threads=1):
        torch.manual_seed(cfg.seed)
        generator = torch.Generator().manual_seed(cfg.seed)
        net = Her2MapNet(arch)
        if init_from is not None:
            _initialise(net, init_from)
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
                inputs, mask, plan = _batch(prepped, dev.plans, [train_idx[i] for i in chunk], prep)
                mask = _drop_modalities(mask, cfg.modality_dropout, generator)
                parts = training_loss(
                    net(inputs, mask, plan), y_train[chunk], align_weight=cfg.align_weight
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
        "target": {
            "name": target.name,
            "label": target.label,
            "fallback": target.fallback,
            "applies_to": target.applies_to,
        },
        "initialised_from": None
        if init_from is None
        else {
            "name": init_from.name,
            "version": init_from.version,
            "lock_hash": init_from.lock_hash,
        },
        "clinical_sha256": sha256_file(cohort_dir / "clinical.csv"),
        "cohort_json_sha256": sha256_file(cohort_json) if cohort_json.is_file() else None,
        "cohort_json": json.loads(cohort_json.read_text()) if cohort_json.is_file() else None,
        "sites": list(cfg.sites),
        "split": {
            "seed": cfg.seed,
            "validation_fraction": cfg.validation_fraction,
            "stratified_by": ["site", "label"],
        },
        "n_excluded_at_ingest": dev.n_excluded_at_ingest,
        "n_not_applicable": dev.n_not_applicable,
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
        name=target.model_name,
        version=MODEL_VERSION,
        stem=target.stem,
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
