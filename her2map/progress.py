"""Progress bars that appear only on a terminal.

A bar goes to standard error, and only when standard error is a terminal (or the caller forces it);
pipes, logs and tests stay quiet, and standard output is never touched.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress"]

T = TypeVar("T")


def progress(
    items: Iterable[T],
    *,
    total: int | None,
    desc: str,
    enabled: bool | None = None,
    unit: str = "patient",
) -> Iterator[T]:
    """Iterate ``items``, drawing a tqdm bar on stderr when ``enabled`` (None: stderr is a tty)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield from items
        return
    yield from tqdm(items, total=total, desc=desc, file=sys.stderr, unit=unit, leave=False)
