"""What can be signed: a sealed dossier or a sealed submission package, and its sealing events.

:func:`check_sealed` verifies the folder's files against its MANIFEST.json and SEAL — with
:func:`validation.dossier.verify_dossier` for a dossier, :func:`validation.submission.
verify_package_files` for a package (a folder holding ``submission.json``) — and returns
``(problems, seal)``. :data:`SEALED_EVENTS` are the ledger events that record a seal.
"""

from __future__ import annotations

from pathlib import Path

from validation.dossier import SEALED_EVENT, verify_dossier

__all__ = ["PACKAGE_MARKER", "SEALED_EVENTS", "SUBMISSION_SEALED", "check_sealed"]

#: File that marks a submission package (see :mod:`validation.submission.package`).
PACKAGE_MARKER = "submission.json"
SUBMISSION_SEALED = "submission.sealed"
SEALED_EVENTS = (SEALED_EVENT, SUBMISSION_SEALED)


def check_sealed(root: Path) -> tuple[list[tuple[str, str]], str | None]:
    """``(problems, seal)`` of the sealed dossier or package in ``root``."""
    if (root / PACKAGE_MARKER).is_file():
        from validation.submission.package import verify_package_files

        return verify_package_files(root)
    base = verify_dossier(root)
    return list(base.problems), base.seal
