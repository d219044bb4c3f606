"""The multimodal HER2 model: one small encoder per modality, masked-mean fusion, alignment loss.

Architecture (:class:`Her2MapNet`, configured by the locked :class:`ArchitectureConfig`):

* ``MG_CC`` and ``MG_MLO`` share one 2-D convolutional encoder; a learned view embedding (CC or
  MLO) is added to its output. ``US`` has its own 2-D encoder. ``MR`` (DCE kinetic maps as channels) runs
  a 2-D encoder on every slice and max-pools over space and slices (the enhancing tumour is a
  small part of the volume).
* Every encoder ends in a linear projection into one shared ``embed_dim``-dimensional space.
* **Fusion** is the *masked mean* of the embeddings of the modalities present, so any non-empty
  subset (a single modality included) gives a prediction; absent modalities are never encoded, so
  whatever fills their padding cannot change the output.
* **Head**: a small MLP on the fused embedding gives the logit of P(HER2-positive). The
  patient-response model (``plan_inputs`` > 0) appends the planned-therapy features
  (:func:`plan_features`) to the fused embedding before its head and gives the logit of P(pCR).
* **Training loss** (:func:`training_loss`): binary cross-entropy plus ``align_weight`` times the
  *alignment loss* — the mean cosine distance ``1 - cos(e_i, e_j)`` over every pair of modalities
  present in the same patient (the multimodal alignment of HER2 MAP; cf. the cross-modal
  consistency objectives of CLIP-style training, Radford et al. 2021, here without negatives).

There is no R equivalent. :func:`deterministic_torch` fixes the thread count and turns on
``torch.use_deterministic_algorithms`` so that the same inputs give bit-identical outputs on CPU.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from her2map.preprocess import MODALITY_KEYS, PreprocessConfig

__all__ = [
    "ArchitectureConfig",
    "Her2MapNet",
    "LossParts",
    "ModelOutput",
    "alignment_loss",
    "collate",
    "deterministic_torch",
    "masked_mean",
    "plan_features",
    "training_loss",
]

#: Planned neoadjuvant therapies the response model knows, in feature order (one-hot beyond the
#: first, which is the all-zero reference: chemotherapy without anti-HER2 agents).
PLAN_THERAPIES: tuple[str, ...] = ("chemotherapy", "anti-HER2")


def plan_features(therapy: str) -> list[float]:
    """Features of a planned neoadjuvant therapy: ``[1.0]`` for anti-HER2, ``[0.0]`` for chemo.

    Raises ``ValueError`` naming the allowed values for any other therapy (upfront surgery has no
    planned neoadjuvant therapy, so the response model does not apply to it).
    """
    if therapy not in PLAN_THERAPIES:
        raise ValueError(
            f"planned therapy must be one of {list(PLAN_THERAPIES)} for the response model, "
            f"got {therapy!r}"
        )
    return [float(therapy == t) for t in PLAN_THERAPIES[1:]]


@dataclass(frozen=True)
class ArchitectureConfig:
    """Hyper-parameters that define the network's shape (locked; hashed into the lock).

    Parameters
    ----------
    embed_dim : int
        Dimension of the shared embedding space.
    widths : tuple of int
        Channels of the stride-2 convolutions of every encoder trunk.
    head_hidden : int
        Hidden units of the prediction head.
    mr_channels : int
        Input channels of the MR encoder (the kinetic maps, :data:`her2map.preprocess.MR_CHANNELS`).
    plan_inputs : int
        Planned-therapy features appended to the fused embedding (0: the HER2 model; 1: the
        response model, :func:`plan_features`).
    """

    embed_dim: int = 32
    widths: tuple[int, ...] = (8, 16, 32)
    head_hidden: int = 16
    mr_channels: int = 4
    plan_inputs: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists) — the form hashed into the lock."""
        data = asdict(self)
        data["widths"] = list(self.widths)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchitectureConfig:
        """Rebuild from :meth:`to_dict` output; unknown or missing keys raise ``TypeError``."""
        values = dict(data)
        if "widths" in values:
            values["widths"] = tuple(int(w) for w in values["widths"])
        return cls(**values)


@dataclass(frozen=True)
class ModelOutput:
    """Forward result: ``logits`` (B,), per-modality ``embeddings`` (B, M, D), ``mask`` (B, M)."""

    logits: torch.Tensor
    embeddings: torch.Tensor
    mask: torch.Tensor


@dataclass(frozen=True)
class LossParts:
    """Training loss and its parts: ``total = bce + align_weight * align``."""

    total: torch.Tensor
    bce: torch.Tensor
    align: torch.Tensor


class _Trunk(nn.Module):
    """Stride-2 conv + ReLU stack, global average (or max) pool -> (N, widths[-1])."""

    def __init__(self, in_channels: int, widths: Sequence[int], *, pool: str = "mean") -> None:
        super().__init__()
        self.pool = pool
        layers: list[nn.Module] = []
        previous = in_channels
        for width in widths:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.ReLU()]
            previous = width
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(x)
        return features.amax(dim=(2, 3)) if self.pool == "max" else features.mean(dim=(2, 3))


class Her2MapNet(nn.Module):
    """Multimodal encoder-fusion-head network (see the module docstring)."""

    def __init__(self, config: ArchitectureConfig) -> None:
        super().__init__()
        self.config = config
        out = config.widths[-1]
        self.mg_trunk = _Trunk(1, config.widths)
        self.mg_proj = nn.Linear(out, config.embed_dim)
        self.view_embedding = nn.Embedding(2, config.embed_dim)
        self.us_trunk = _Trunk(1, config.widths)
        self.us_proj = nn.Linear(out, config.embed_dim)
        self.mr_trunk = _Trunk(config.mr_channels, config.widths, pool="max")
        self.mr_proj = nn.Linear(out, config.embed_dim)
        self.head = nn.Sequential(
            nn.Linear(config.embed_dim + config.plan_inputs, config.head_hidden),
            nn.ReLU(),
            nn.Linear(config.head_hidden, 1),
        )

    def encode(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """Embed a batch of one modality's inputs -> (N, embed_dim)."""
        if modality in ("MG_CC", "MG_MLO"):
            view = torch.full(
                (x.shape[0],), int(modality == "MG_MLO"), dtype=torch.long, device=x.device
            )
            return self.mg_proj(self.mg_trunk(x)) + self.view_embedding(view)
        if modality == "US":
            return self.us_proj(self.us_trunk(x))
        if modality == "MR":
            n, phases, slices, height, width = x.shape
            per_slice = x.permute(0, 2, 1, 3, 4).reshape(n * slices, phases, height, width)
            features = self.mr_trunk(per_slice).reshape(n, slices, -1).amax(dim=1)
            return self.mr_proj(features)
        raise ValueError(f"modality must be one of {list(MODALITY_KEYS)}, got {modality!r}")

    def forward(
        self,
        inputs: Mapping[str, torch.Tensor],
        mask: torch.Tensor,
        plan: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Run the network.

        Parameters
        ----------
        inputs : mapping of modality key to tensor (B, ...)
            One tensor per key of :data:`MODALITY_KEYS` that any row has; rows whose ``mask``
            is False are padding and are never encoded.
        mask : bool tensor (B, M)
            Which modalities each patient has (column order :data:`MODALITY_KEYS`); every row
            needs at least one True.
        plan : float tensor (B, plan_inputs), optional
            Planned-therapy features; required exactly when ``config.plan_inputs`` > 0.

        Inputs, mask and plan sit on the network's device; the tensors the forward makes itself
        (empty embedding slots, view ids) are made on that device too (``mask.device``).
        """
        if (plan is None) != (self.config.plan_inputs == 0) or (
            plan is not None and tuple(plan.shape) != (mask.shape[0], self.config.plan_inputs)
        ):
            shape = None if plan is None else tuple(plan.shape)
            raise ValueError(
                f"plan must be a ({mask.shape[0]}, {self.config.plan_inputs}) tensor of planned-"
                f"therapy features for this network (plan_inputs={self.config.plan_inputs}); "
                f"got {shape}"
            )
        batch = mask.shape[0]
        columns: list[torch.Tensor] = []
        for column, key in enumerate(MODALITY_KEYS):
            slot = torch.zeros(batch, self.config.embed_dim, device=mask.device)
            rows = torch.nonzero(mask[:, column], as_tuple=True)[0]
            if rows.numel() > 0:
                encoded = self.encode(key, inputs[key].index_select(0, rows))
                slot = slot.index_copy(0, rows, encoded)
            columns.append(slot)
        embeddings = torch.stack(columns, dim=1)
        fused = masked_mean(embeddings, mask)
        if plan is not None:
            fused = torch.cat([fused, plan.to(fused.dtype)], dim=1)
        return ModelOutput(self.head(fused).squeeze(1), embeddings, mask)


def masked_mean(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the modality axis of the embeddings whose ``mask`` is True.

    ``embeddings`` (B, M, D), ``mask`` (B, M) bool -> (B, D). Absent slots are selected away with
    ``torch.where`` (not multiplied by zero), so even non-finite padding cannot leak in.
    """
    weights = mask.to(embeddings.dtype)
    counts = weights.sum(dim=1, keepdim=True)
    if bool((counts == 0).any()):
        raise ValueError("every patient needs at least one modality present (mask row all False)")
    kept = torch.where(mask[:, :, None], embeddings, embeddings.new_zeros(()))
    return kept.sum(dim=1) / counts


def alignment_loss(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance ``1 - cos(e_i, e_j)`` over every pair of modalities present together.

    Pairs are taken within a patient only; a batch with no patient holding two modalities gives
    zero (a tensor that still carries a gradient path of zeros).
    """
    terms: list[torch.Tensor] = []
    for i, j in itertools.combinations(range(mask.shape[1]), 2):
        both = mask[:, i] & mask[:, j]
        if bool(both.any()):
            cos = F.cosine_similarity(embeddings[both, i], embeddings[both, j], dim=1)
            terms.append(1.0 - cos)
    if not terms:
        return embeddings.sum() * 0.0
    return torch.cat(terms).mean()


def training_loss(output: ModelOutput, labels: torch.Tensor, *, align_weight: float) -> LossParts:
    """``bce(logits, labels) + align_weight * alignment_loss(embeddings, mask)``."""
    bce = F.binary_cross_entropy_with_logits(output.logits, labels.to(output.logits.dtype))
    align = alignment_loss(output.embeddings, output.mask)
    return LossParts(bce + align_weight * align, bce, align)


def collate(
    studies: Sequence[Mapping[str, torch.Tensor]], config: PreprocessConfig
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stack preprocessed studies into padded batch tensors and a presence mask.

    Absent modalities are zero-filled; the mask (B, M) says which slots are real.
    """
    mask = torch.tensor([[key in study for key in MODALITY_KEYS] for study in studies])
    inputs: dict[str, torch.Tensor] = {}
    for column, key in enumerate(MODALITY_KEYS):
        if not bool(mask[:, column].any()):
            continue
        blank = torch.zeros(config.input_shape(key))
        inputs[key] = torch.stack([study.get(key, blank) for study in studies])
    return inputs, mask


@contextmanager
def deterministic_torch(threads: int = 1) -> Iterator[None]:
    """Fix torch's intra-op threads and enable deterministic algorithms; restore on exit."""
    old_threads = torch.get_num_threads()
    old_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_deterministic)
        torch.set_num_threads(old_threads)
