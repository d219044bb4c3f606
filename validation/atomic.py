"""Crash-safe writes of the harness: a file or a whole folder appears complete or not at all.

Files are written to a temporary name in the same folder, fsynced, renamed into place with
``os.replace`` (atomic on POSIX), and the folder is fsynced so the rename itself is durable.
Folders (a dossier, a trial export) are built as a hidden sibling and renamed into place the same
way. The core (:mod:`her2map`) has its own small writer, because it must ship without the harness.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_write", "building_folder", "csv_bytes", "fsync_dir", "write_synced"]


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that entries created or renamed in it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (creating parent folders) and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


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


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """UTF-8 CSV with ``\\n`` line ends (byte-identical across platforms)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
