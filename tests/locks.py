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
    target: str = "her2",
) -> Path:
    """Write weights, manifest and lock into ``folder``; return the lock file's path.

    ``target="pcr"`` makes a response-model lock (one planned-therapy input, stem her2map-pcr).
    """
    torch.manual_seed(1)
    architecture = ArchitectureConfig(plan_inputs=int(target == "pcr"))
    net = Her2MapNet(architecture)
    return write_lock(
        folder,
        state_dict=net.state_dict(),
        architecture=architecture,
        preprocessing=PreprocessConfig(),
        threshold=threshold,
        threshold_rule="test rule",
        manifest={
            "target": {"name": target},
            "training_patients": list(training),
            "validation_patients": list(validation),
        },
        training={"note": "untrained test network"},
        name="test-model",
        version="0.0.1",
        stem="her2map" if target == "her2" else "her2map-pcr",
    )
