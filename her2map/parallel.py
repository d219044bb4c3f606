"""Independent tasks run in this process or on a Dask cluster, results in submission order.

:func:`ordered_map` is the one place where work leaves the process. With one worker and no
scheduler it is a plain loop (Dask is not even imported: it is an optional dependency,
``pip install 'her2map[distributed]'``). Otherwise it submits one task per item to a
``dask.distributed`` client -- a ``LocalCluster`` of ``workers`` single-threaded workers on this
machine, or the cluster whose scheduler listens at ``scheduler`` (``tcp://host:8786``) -- and puts
every result back at its item's index as tasks finish. So the output never depends on the number
of workers or on the order in which they finish, and each item is computed exactly once: nothing
is padded, duplicated or dropped (a failed task raises its own error here).

A progress bar counts finished items on standard error, only on a terminal
(:func:`her2map.progress.progress`).

``with session(workers):`` opens one place (one cluster) for a whole job: inside it, every
:func:`ordered_map` without ``workers`` -- the cohort's inference, the bootstrap's blocks -- runs
there (:func:`active`), so a caller sets the workers once instead of threading them through.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from her2map.exceptions import Her2MapError
from her2map.progress import progress as progress_iter

__all__ = ["Session", "Workers", "active", "ordered_map", "session", "shards"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Workers:
    """Where tasks run.

    Attributes
    ----------
    n : int
        Local workers (``LocalCluster(n_workers=n, threads_per_worker=1)``); 1 with no
        ``scheduler`` means this process, no Dask. Ignored when ``scheduler`` is given (the
        cluster has the workers it has).
    scheduler : str or None
        Address of a running Dask scheduler, e.g. ``tcp://10.0.0.5:8786``.
    processes : bool
        Local workers as processes (true parallelism for Python code) or threads in this process
        (cheap to start; what the tests use).
    cluster : bool
        Start a local cluster even for one worker (to measure Dask's own cost).
    """

    n: int = 1
    scheduler: str | None = None
    processes: bool = True
    cluster: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise Her2MapError(f"workers must be an integer >= 1; got {self.n!r}.")
        if self.scheduler is not None and (
            not isinstance(self.scheduler, str) or not self.scheduler.strip()
        ):
            raise Her2MapError(
                f"scheduler must be an address such as tcp://host:8786; got {self.scheduler!r}."
            )

    @property
    def serial(self) -> bool:
        """True when everything runs in this process."""
        return self.n == 1 and self.scheduler is None and not self.cluster

    def describe(self) -> str:
        """Human-readable placement, e.g. ``"2 local Dask workers"``."""
        if self.scheduler is not None:
            return f"Dask scheduler {self.scheduler}"
        if self.serial:
            return "this process"
        return f"{self.n} local Dask worker {'processes' if self.processes else 'threads'}"


@contextmanager
def _client(workers: Workers) -> Iterator[Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - dask is installed wherever the tests run
        raise Her2MapError(
            f"running on {workers.describe()} needs Dask: pip install 'her2map[distributed]' "
            "(or run with one worker)"
        ) from None
    if workers.scheduler is not None:
        try:
            client = Client(workers.scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise Her2MapError(
                f"cannot reach the Dask scheduler at {workers.scheduler}: {exc}; start one with "
                "`dask scheduler` or run without --scheduler"
            ) from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers.n,
        threads_per_worker=1,
        processes=workers.processes,
        dashboard_address=":0",  # no fixed port: several clusters may run on one machine
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client


class Session:
    """An open place to run tasks (this process, or one Dask client kept for many maps)."""

    def __init__(self, workers: Workers, client: Any = None) -> None:
        self.workers = workers
        self._client = client

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        progress: bool | None = None,
        desc: str = "tasks",
        unit: str = "task",
    ) -> list[R]:
        """``[fn(item) for item in items]`` in item order (module docstring)."""
        if self._client is None:
            bar = progress_iter(items, total=len(items), desc=desc, enabled=progress, unit=unit)
            return [fn(item) for item in bar]
        from dask.distributed import as_completed

        results: list[Any] = [None] * len(items)
        done = [False] * len(items)
        futures = self._client.map(fn, list(items), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        finished = progress_iter(
            as_completed(futures), total=len(futures), desc=desc, enabled=progress, unit=unit
        )
        for future in finished:
            i = index[future.key]
            results[i] = future.result()  # re-raises the task's own error
            done[i] = True
        if not all(done):  # pragma: no cover - as_completed yields every future exactly once
            raise Her2MapError(f"{done.count(False)} of {len(items)} tasks returned no result")
        return results


def shards(items: Sequence[T], workers: Workers) -> list[list[T]]:
    """``items`` cut into consecutive shards, one task each, in order: one item a shard in this
    process (a plain loop, its progress counted item by item), else about four shards per worker
    (a scheduler's cluster counts as ``workers.n``), so that a slow shard does not leave the
    other workers idle at the end."""
    size = 1 if workers.serial else max(1, math.ceil(len(items) / (4 * workers.n)))
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


_ACTIVE: ContextVar[Session | None] = ContextVar("her2map_parallel_session", default=None)


def active() -> Session:
    """The session opened by the innermost ``with session(...)``, else this process."""
    place = _ACTIVE.get()
    return Session(Workers()) if place is None else place


@contextmanager
def session(workers: Workers | None = None) -> Iterator[Session]:
    """Open a :class:`Session` on ``workers`` (default this process) and make it the active one
    (:func:`active`) until the block ends; a cluster closes on exit."""
    workers = Workers() if workers is None else workers
    with _client(workers) if not workers.serial else _nothing() as client:
        place = Session(workers, client)
        token = _ACTIVE.set(place)
        try:
            yield place
        finally:
            _ACTIVE.reset(token)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: Workers | None = None,
    progress: bool | None = None,
    desc: str = "tasks",
    unit: str = "task",
) -> list[R]:
    """``[fn(item) for item in items]``, here or on Dask (module docstring), in item order.

    Parameters
    ----------
    fn : callable, picklable for process workers (a module-level function or a
        ``functools.partial`` of one; closures travel by cloudpickle).
    items : sequence of arguments, one task each.
    workers : Workers, optional
        Default: the active session (:func:`active`: this process unless inside ``session``).
    progress : bool, optional; default only when stderr is a terminal.
    desc, unit : labels of the progress bar.
    """
    if workers is None:
        return active().map(fn, items, progress=progress, desc=desc, unit=unit)
    with session(workers) as place:
        return place.map(fn, items, progress=progress, desc=desc, unit=unit)
