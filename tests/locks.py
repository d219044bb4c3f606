"""Test locks: a real lock file around an untrained network (seed 1), for tests that need a
verifying :class:`her2map.LockedModel` without training one. Not a test module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from her2map.lock import write_lock
from her2map.model import ArchitectureConfig, Her2MapNet
from her2map.preprocess import PreprocessConfig

__all__ = ["make_lock"]


def make_lock(
    folder: Path,
    *,
    training: Sequence[str] = ("P-T-0001", "P-T-0002"),
    validation: Sequence[str] = ("P-T-0003",),
    threshold: float = 0.4,
) -> Path:
    """Write weights, manifest and lock into ``folder``; return the lock file's path."""
    torch.manual_seed(1)
    net = Her2MapNet(ArchitectureConfig())
    return write_lock(
        folder,
        state_dict=net.state_dict(),
        architecture=ArchitectureConfig(),
        preprocessing=PreprocessConfig(),
        threshold=threshold,
        threshold_rule="test rule",
        manifest={"training_patients": list(training), "validation_patients": list(validation)},
        training={"note": "untrained test network"},
        name="test-model",
        version="0.0.1",
    )
