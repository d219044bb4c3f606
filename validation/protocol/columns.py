"""The data dictionary of the tables a protocol is run on: which columns exist and of what kind.

The labels table keeps only :data:`LABEL_COLUMNS` (others, e.g. clinical.csv's
``reference_ihc``, are dropped when it is read); the predictions table adds ``score``,
``score_pcr`` and ``modalities``; the analysed table a protocol's columns are looked up in is the
join of the two (:data:`ANALYSED_COLUMNS`). Kinds, as the synthetic cohort's ``clinical.csv``
defines them (``her2map/ingest/clinical.py``, ``docs/INTERFACES.md``):

* :data:`BINARY_LABELS` -- 0/1 (empty = missing);
* :data:`NUMERIC_LABELS` -- a finite number (empty = missing), e.g. ``age``;
* :data:`CATEGORICAL_COLUMNS` -- text levels (``site``, ``density`` a-d, ...): a subgroup takes
  each level as it is, and cannot cut them into numeric bands.

The runner's table readers (:mod:`validation.runner.tables`) read by this dictionary, and the
protocol loader checks every key that names a column against it (reference standard, population
rules, subgroup ``by`` and ``bands``, ``bootstrap.cluster``, comparison ``outcome``,
``comparator``, ``score``, ``strata``), so that a protocol naming a column wrongly is refused when
it is checked, before registration, rather than when it is run.

The dictionary is closed: a labels column outside :data:`LABEL_COLUMNS` is dropped when the table
is read, so no protocol could use it. A site-specific column is declared here (with its kind),
which makes the readers keep it and the loader accept it; naming it in a protocol alone is refused.
"""

from __future__ import annotations

__all__ = [
    "ANALYSED_COLUMNS",
    "BINARY_LABELS",
    "CATEGORICAL_COLUMNS",
    "LABEL_COLUMNS",
    "NUMERIC_LABELS",
]

#: Labels columns the runner uses (others, e.g. clinical.csv's reference_ihc, are ignored).
LABEL_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "reference_her2",
    "biopsy_her2",
    "pcr",
    "site",
    "manufacturer",
    "age",
    "density",
    "hr_status",
    "modalities",
    "race_ethnicity",
    "reference_category",
    "pathway",
    "therapy",
    "anti_her2",
)
#: Label columns that must be 0/1 where present (empty = missing, handled by the population).
BINARY_LABELS: tuple[str, ...] = ("reference_her2", "biopsy_her2", "pcr", "hr_status")
#: Label columns that hold a finite number where present (empty = missing).
NUMERIC_LABELS: tuple[str, ...] = ("age",)
#: Columns of text levels: a subgroup by one of them has a level per value, never numeric bands.
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "site",
    "manufacturer",
    "density",
    "modalities",
    "race_ethnicity",
    "reference_category",
    "pathway",
    "therapy",
)
#: Every column the analysed table (predictions joined with labels) can have.
ANALYSED_COLUMNS: tuple[str, ...] = (*LABEL_COLUMNS, "score", "score_pcr")
