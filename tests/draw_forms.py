"""Shared pieces of the tests that compare a sort-once statistic's draw evaluator with the
multiplicity-matrix form of the same statistic (``test_stats_rank_bootstrap``, ``test_stats_band``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class MatrixForm:
    """A weighted statistic stripped of its draw evaluator, so that the bootstrap must build the
    multiplicity matrix and call the weighted form; its ``unit_order``, if any, is kept (the same
    listing of the units, hence the same replicates)."""

    def __init__(self, stat: Any) -> None:
        self.stat = stat
        if hasattr(stat, "unit_order"):
            self.unit_order = stat.unit_order

    def __call__(self, weights: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        return np.asarray(self.stat(weights))


def same_interval(a: Any, b: Any) -> bool:
    """Two bootstrap estimates equal bit for bit (every bound, the se, the undefined count)."""
    fields = ("estimate", "ci_low", "ci_high", "se", "n_undefined", "method")
    return repr([getattr(a, f) for f in fields]) == repr([getattr(b, f) for f in fields])


def serial_blocks(fn: Any, ids: Any) -> list[Any]:
    """A block map that computes the blocks here, in order (the block scheme without Dask)."""
    return [fn(b) for b in ids]


def draw_case(
    *, ties: bool, stratified: bool, blocks: bool
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """301 rows (float32 scores, rounded to 1 decimal with ``ties``) and the bootstrap keywords of
    600 percentile replicates: two full chunks of 256 and a partial one (in the block scheme each
    block has its own generator)."""
    rng = np.random.default_rng(21)
    n = 301
    y = (rng.random(n) < 0.35).astype(np.int8)
    s = (rng.normal(size=n) + y).astype(np.float32)
    if ties:
        s = np.round(s, 1)
    kwargs = {
        "n_resamples": 600,
        "seed": 4,
        "method": "percentile",
        "strata": y if stratified else None,
        "map_blocks": serial_blocks if blocks else None,
        "weighted": True,
    }
    return y, s, kwargs
