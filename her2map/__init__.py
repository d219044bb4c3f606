"""HER2 MAP locked inference core: virtual cohort, DICOM ingest, model, lock, prediction.

This package is the device under test. It never imports :mod:`validation`.
``LockedModel`` is re-exported lazily (PEP 562), so ``import her2map`` does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["LockedModel", "__version__"]

if TYPE_CHECKING:
    from her2map.lock import LockedModel


def __getattr__(name: str) -> Any:
    if name == "LockedModel":
        from her2map.lock import LockedModel

        return LockedModel
    raise AttributeError(f"module 'her2map' has no attribute {name!r}")
