"""Exceptions of the locked inference core.

Every error the core raises on bad input or a broken lock is a :class:`Her2MapError`; its message
names the file, row or DICOM tag, what was expected, and what to do. The CLI prints the message and
exits with the class's ``exit_code`` (2 bad input; 3 refused by a rule: a lock that does not
verify, the test-set firewall), never a traceback.
"""

__all__ = [
    "CohortError",
    "DeviceError",
    "DicomError",
    "FirewallError",
    "Her2MapError",
    "LockError",
]


class Her2MapError(Exception):
    """Base class of every error the core raises deliberately (exit status 2: bad input)."""

    exit_code: int = 2


class DicomError(Her2MapError):
    """A DICOM file is unreadable or violates the ingest contract (names file and tag)."""


class CohortError(Her2MapError):
    """A cohort folder or its clinical.csv is malformed (names file, row and column)."""


class LockError(Her2MapError):
    """The model lock does not verify: a hash differs, a file is missing, or the lock is malformed."""

    exit_code = 3


class DeviceError(Her2MapError):
    """A requested inference device is unknown or not seen by torch (names it and the fix)."""


class FirewallError(Her2MapError):
    """A cohort overlaps the training manifest (test-set firewall)."""

    exit_code = 3
