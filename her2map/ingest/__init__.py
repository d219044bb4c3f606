"""DICOM ingest: assemble validated per-patient multimodal studies from a cohort folder.

Public API (docs/INTERFACES.md, "Ingest API")::

    from her2map.ingest import load_cohort, Cohort, StudyRef, Exclusion, load_images, MODALITY_KEYS

:func:`load_cohort` reads clinical.csv and every file under ``root/dicom`` (or ``root``), checks the
DICOM contract file by file (:mod:`her2map.ingest.reader`) and study by study
(:mod:`her2map.ingest.assemble`), and returns a :class:`Cohort` whose exclusions account for every
file not used. :func:`load_images` decodes one study's pixels.
"""

from her2map.ingest.assemble import load_cohort, load_images
from her2map.ingest.clinical import CLINICAL_COLUMNS, IMAGING_COLUMNS, PLAN_COLUMNS, read_clinical
from her2map.ingest.models import MODALITY_KEYS, Cohort, Exclusion, StudyRef

__all__ = [
    "CLINICAL_COLUMNS",
    "IMAGING_COLUMNS",
    "MODALITY_KEYS",
    "PLAN_COLUMNS",
    "Cohort",
    "Exclusion",
    "StudyRef",
    "load_cohort",
    "load_images",
    "read_clinical",
]
