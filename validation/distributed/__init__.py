"""The harness's distributed engine: bootstrap replicate blocks on Dask.

The executor itself is the core's (:mod:`her2map.parallel`: this process, a ``LocalCluster`` or any
scheduler address; results in submission order). Here it runs the bootstrap's replicate blocks
(:func:`validation.stats.bootstrap` with ``map_blocks``): block ``b`` draws from
``SeedSequence(seed).spawn(n_blocks)[b]``, so the replicates -- and every interval computed from
them -- are the same bytes with 1, 2 or any number of workers, whatever the order they finish in.

The runner always uses the block scheme (``block_map()`` of the active session), so a dossier's
numbers never depend on ``--workers``: ``with session(Workers(2)): run_protocol(...)`` gives the
bytes of the plain ``run_protocol(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from her2map.parallel import Session, Workers, active, session
from validation.stats.bootstrap import BlockMap

__all__ = ["Session", "Workers", "active", "block_map", "session"]


def block_map(place: Session | None = None, *, progress: bool | None = None) -> BlockMap:
    """A ``map_blocks`` for :func:`validation.stats.bootstrap` that runs blocks on ``place``
    (default: the active session, :func:`her2map.parallel.active`; this process outside one)."""
    place = active() if place is None else place

    def run(
        fn: Callable[[int], NDArray[np.float64]], blocks: Sequence[int]
    ) -> list[NDArray[np.float64]]:
        return place.map(fn, list(blocks), progress=progress, desc="bootstrap", unit="block")

    return run
