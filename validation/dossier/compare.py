"""Byte-for-byte comparison of two dossier directories (what ``reproduce`` reports)."""

from __future__ import annotations

from pathlib import Path

from validation.dossier.manifest import MANIFEST_NAME, SEAL_NAME, dossier_files

__all__ = ["all_files", "compare_dirs"]


def all_files(root: Path) -> dict[str, Path]:
    """Every file of a dossier (MANIFEST.json and SEAL included) by POSIX path, sorted."""
    names = dossier_files(root) + [n for n in (MANIFEST_NAME, SEAL_NAME) if (root / n).exists()]
    return {n: root / n for n in sorted(names)}


def compare_dirs(original: Path, rebuilt: Path) -> list[tuple[str, str]]:
    """Files that differ between two dossier directories, with how (sorted by path)."""
    a, b = all_files(original), all_files(rebuilt)
    diffs = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            diffs.append((name, "missing from the rebuilt dossier"))
        elif name not in a:
            diffs.append((name, "only in the rebuilt dossier"))
        else:
            x, y = a[name].read_bytes(), b[name].read_bytes()
            if x != y:
                at = next(
                    (i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q),
                    min(len(x), len(y)),
                )
                diffs.append((name, f"bytes differ from offset {at} (sizes {len(x)} and {len(y)})"))
    return diffs
