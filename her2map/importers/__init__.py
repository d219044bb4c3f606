"""Importers of public data-set layouts into the cohort contract (:func:`her2map.ingest.load_cohort`).

``import_duke`` (TCIA Duke-Breast-Cancer-MRI: classic MR DCE series, 3-row-header spreadsheet) and
``import_cmmd`` (TCIA CMMD: mammograms, HER2 only where the molecular subtype determines it).
"""

from her2map.importers.cmmd import import_cmmd
from her2map.importers.duke import import_duke

__all__ = ["import_cmmd", "import_duke"]
