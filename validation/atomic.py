"""Crash-safe writes of the harness: a file or a whole folder appears complete or not at all.

Files are written to a temporary name in the same folder, fsynced, renamed into place with
``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename itself is durable: the
core's writer (:func:`her2map._io.atomic_write`, re-exported here with :func:`fsync_dir` and
:func:`csv_bytes`), since the harness may import the core but the core never the harness. Harness
files keep the owner-only mode of the temporary file. Folders (a dossier, a trial export) are built
as a hidden sibling and renamed into place the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from her2map._io import atomic_write, csv_bytes, fsync_dir

__all__ = ["atomic_write", "building_folder", "csv_bytes", "fsync_dir", "write_synced"]


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (creating parent folders) and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def building_folder(parent: Path, name: str, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A hidden temporary folder in ``parent`` to build ``name`` in; removed if the body fails.

    The caller writes into it (with :func:`write_synced`) and renames it into place itself, since
    what "into place" means differs (replace an empty folder, or move an old dossier aside).
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=suffix, dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
