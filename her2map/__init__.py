"""HER2 MAP locked inference core: virtual cohort, DICOM ingest, model, lock, prediction.

This package is the device under test. It never imports :mod:`validation`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
