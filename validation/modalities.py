"""The imaging modality keys of the predictions, labels and trial events, in their fixed order.

``MG_CC+MG_MLO+US`` in a ``modalities`` column lists keys in this order. A module of its own,
without imports, so that logging a trial event does not load the protocol stack (pandas, numpy).
The locked core keeps its own copy (``her2map.preprocess.MODALITY_KEYS``; the harness never
imports the core for it); ``tests/test_protocol.py`` checks that the two agree.
"""

from __future__ import annotations

__all__ = ["MODALITY_KEYS"]

MODALITY_KEYS: tuple[str, ...] = ("MG_CC", "MG_MLO", "US", "MR")
