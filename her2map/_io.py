"""Crash-safe writes: a file appears complete or not at all.

Temp file in the same folder, fsync, ``os.replace`` (atomic on POSIX), then fsync of the folder.
This is the one implementation of the project: the harness builds on it (:mod:`validation.atomic`
adds whole folders), since the harness may import the core but the core never the harness.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "csv_bytes", "fsync_dir"]


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that entries created or renamed in it are durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, ``os.replace``,
    then fsync of the folder. On any error the temp file is removed and ``path`` is untouched.

    The folder must exist. ``mode`` sets the file's permission bits before the rename; ``None``
    keeps those :func:`tempfile.mkstemp` gives (``0o600``: the owner's only).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with :func:`atomic_write`, creating the folder, with the
    permissions a plain ``open`` gives (``0o666`` less the umask); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, mode=0o666 & ~_umask())
    return path


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """UTF-8 CSV with ``\\n`` line ends (byte-identical across platforms)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
