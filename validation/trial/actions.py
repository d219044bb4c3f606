"""Trial actions: the one request vocabulary that every face maps onto :class:`~.api.Trial`.

The CLI (``her2map trial enrol --patient P0001 --consent IC-17``), the service (``POST
/v1/trial/enrol`` with the JSON body ``{"patient": "P0001", "consent": "IC-17"}``) and the bulk
import (a CSV row with ``event`` ``enrol`` and the columns ``patient``, ``consent``) name an action
and its fields the same way: the CLI's option names with ``_``. :data:`ACTIONS` says, for each
action, which :class:`~.api.Trial` method records it and which keyword argument each field
becomes; :func:`submit` makes that call. This module only maps names: the trial's methods convert
and check the values (:mod:`.events`, :mod:`.rules`), so every face records the same event from
the same request and is refused with the same message.

=============  =====================  ====================================================
action         method                 fields (required; optional)
=============  =====================  ====================================================
``open``       ``open_recruitment``   ``sites``, ``protocol``; ``lock`` (the trial's model
                                      lock file; default the shipped lock)
``enrol``      ``enrol``              ``patient``, ``consent``; ``laterality``, ``age``,
                                      ``hr_status``
``predict``    ``predict``            ``patient``; ``study``, ``pacs``, ``lock`` (the
                                      locked model run by the trial on the patient's DICOM)
``prediction`` ``record_prediction``  ``patient``, ``score``, ``threshold``,
                                      ``model_lock``, ``model_name``, ``modalities``,
                                      ``source``; ``read``, ``imaging_date`` (a score
                                      computed elsewhere)
``biopsy``     ``record_biopsy``      ``patient``, ``ihc``, ``ish``; ``report_time``
``surgery``    ``record_surgery``     ``patient``, ``ihc``, ``ish``
``therapy``    ``record_therapy``     ``patient``, ``regimen``, ``anti_her2``
``response``   ``record_response``    ``patient``, ``pcr``
``correct``    ``correct``            ``patient``, ``event``, ``field``, ``value``,
                                      ``reason``
``withdraw``   ``withdraw``           ``patient``, ``reason``
=============  =====================  ====================================================

Works the same on a local :class:`~.api.Trial` and on the service's
:class:`~validation.server.client.RemoteTrial` (same methods).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from validation.ledger import Entry

__all__ = ["ACTIONS", "Action", "submit"]


@dataclass(frozen=True)
class Action:
    """How one action is recorded: the trial's ``method``, the request field passed to it first
    (``positional``, the patient or the trial's sites), the other ``required`` and ``optional``
    fields, and the ``keywords`` of the fields whose argument is named otherwise (a field not
    named there is passed under its own name)."""

    method: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    positional: str = "patient"
    keywords: Mapping[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the action takes besides ``positional``: required, then optional."""
        return self.required + self.optional

    def arguments(self, request: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The method's first argument and keyword arguments from ``request`` (its other keys
        are ignored; an optional field it lacks is passed as None, the methods' default)."""
        values = {name: request[name] for name in self.required}
        values.update((name, request.get(name)) for name in self.optional)
        return request[self.positional], {
            self.keywords.get(name, name): value for name, value in values.items()
        }


#: Action name (the CLI's command, the service's path, the import file's ``event``) -> Action.
ACTIONS: dict[str, Action] = {
    "open": Action(
        "open_recruitment",
        ("protocol",),
        ("lock",),
        positional="sites",
        keywords={"protocol": "protocol_id"},
    ),
    "enrol": Action(
        "enrol",
        ("consent",),
        ("laterality", "age", "hr_status"),
        keywords={"consent": "consent_ref"},
    ),
    "predict": Action("predict", (), ("study", "pacs", "lock")),
    "prediction": Action(
        "record_prediction",
        ("score", "threshold", "model_lock", "model_name", "modalities", "source"),
        ("read", "imaging_date"),
    ),
    "biopsy": Action("record_biopsy", ("ihc", "ish"), ("report_time",)),
    "surgery": Action("record_surgery", ("ihc", "ish")),
    "therapy": Action("record_therapy", ("regimen", "anti_her2")),
    "response": Action("record_response", ("pcr",)),
    "correct": Action("correct", ("event", "field", "value", "reason")),
    "withdraw": Action("withdraw", ("reason",)),
}


def submit(trial: Any, action: str, request: Mapping[str, Any], **who: Any) -> Entry:
    """Record ``action`` with the fields of ``request`` through ``trial`` (a local
    :class:`~.api.Trial` or a :class:`~validation.server.client.RemoteTrial`); the acknowledged
    entry.

    ``who`` is passed on as given: ``actor`` and ``site`` for a local trial (the service takes
    them from the caller's token, and its client ignores them). A refused event raises
    TrialRuleError and writes nothing, as the method does.
    """
    plan = ACTIONS[action]
    first, keywords = plan.arguments(request)
    entry: Entry = getattr(trial, plan.method)(first, **keywords, **who)
    return entry
