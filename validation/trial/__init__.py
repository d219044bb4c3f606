"""Prospective-trial logging of model-versus-biopsy outcomes on the audit ledger (issue 6).

>>> from validation.trial import Trial
>>> with Trial.open("trial.db") as trial:                                  # doctest: +SKIP
...     trial.enrol("P0001", consent_ref="IC-17", laterality="L", actor="dr.a", site="A")

Modules: :mod:`.events` (event types, vocabularies, payload validation), :mod:`.rules` (the
order/site/correction rules, one pure function), :mod:`.api` (:class:`Trial`), :mod:`.actions`
(the request vocabulary the CLI, the service and the bulk import map onto :class:`Trial`),
:mod:`.imaging` (locked model on a patient's DICOM), :mod:`.status`, :mod:`.export`.
"""

from validation.trial.actions import ACTIONS, Action, submit
from validation.trial.api import Trial, read_patient, verify
from validation.trial.events import (
    CORRECTABLE,
    IHC,
    ISH,
    PCR_DEFINITION,
    EventKind,
    Her2Call,
    Laterality,
    Source,
    her2_call,
    her2_result,
)
from validation.trial.export import (
    LABEL_COLUMNS,
    MANIFEST_NAME,
    PREDICTION_COLUMNS,
    Excluded,
    ExportResult,
    export_tables,
)
from validation.trial.rules import (
    PatientRecord,
    Proposal,
    TrialContext,
    check,
    fold,
    plan_correction,
)
from validation.trial.status import Pending, SiteStatus, TrialStatus, trial_status

__all__ = [
    "ACTIONS",
    "CORRECTABLE",
    "IHC",
    "ISH",
    "LABEL_COLUMNS",
    "MANIFEST_NAME",
    "PCR_DEFINITION",
    "PREDICTION_COLUMNS",
    "Action",
    "EventKind",
    "Excluded",
    "ExportResult",
    "Her2Call",
    "Laterality",
    "PatientRecord",
    "Pending",
    "Proposal",
    "SiteStatus",
    "Source",
    "Trial",
    "TrialContext",
    "TrialStatus",
    "check",
    "export_tables",
    "fold",
    "her2_call",
    "her2_result",
    "plan_correction",
    "read_patient",
    "submit",
    "trial_status",
    "verify",
]
