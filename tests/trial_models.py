"""The trial's locked model as tests name it: the identity (lock hash, name, threshold) that
:meth:`validation.trial.Trial.open_recruitment` records from ``model=``, without a lock file
(tests that need a verifying lock use :func:`tests.locks.make_lock`). Not a test module."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

__all__ = ["trial_model"]


def trial_model(
    lock_hash: str = "a" * 64, *, threshold: float = 0.5, name: str = "external"
) -> Any:
    """An object with :class:`her2map.LockedModel`'s identity attributes."""
    return SimpleNamespace(lock_hash=lock_hash, threshold=threshold, name=name)
