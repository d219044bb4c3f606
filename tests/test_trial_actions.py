"""The request vocabulary (:mod:`validation.trial.actions`) that the CLI, the service and the bulk
import share: every action names a method that the local and the remote trial both have, with the
keyword arguments that method takes, and one request records the same event on every face."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from trial_models import trial_model

from validation.server.client import RemoteTrial
from validation.trial import ACTIONS, EventKind, Trial, submit
from validation.trial.bulk import EVENT_FIELDS

LOCK = "a" * 64


def _parameters(cls: type, method: str) -> set[str]:
    return set(inspect.signature(getattr(cls, method)).parameters)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_maps_onto_the_local_trials_method(name: str) -> None:
    """A field renamed in the table but not in :class:`Trial` would fail only when recorded."""
    action = ACTIONS[name]
    keywords = {action.keywords.get(f, f) for f in action.fields}
    assert keywords | {"actor", "site"} <= _parameters(Trial, action.method)


@pytest.mark.parametrize("name", sorted(set(ACTIONS) - {"prediction"}))
def test_every_cli_action_is_a_method_of_the_remote_trial(name: str) -> None:
    """The CLI submits the same actions to :class:`RemoteTrial` (``--server``), whose methods
    swallow other keywords (actor, site): a field it does not name would be dropped silently.
    ``prediction`` is the service's own (the remote CLI records its call through ``predict``)."""
    action = ACTIONS[name]
    keywords = {action.keywords.get(f, f) for f in action.fields}
    assert keywords <= _parameters(RemoteTrial, action.method)


def test_the_import_file_takes_the_actions_fields() -> None:
    """The bulk import's columns per event (its documented table) come from the actions."""
    assert EVENT_FIELDS == {
        "enrol": (("consent",), ("laterality", "age", "hr_status")),
        "biopsy": (("ihc", "ish"), ("report_time",)),
        "surgery": (("ihc", "ish"), ()),
        "therapy": (("regimen", "anti_her2"), ()),
        "response": (("pcr",), ()),
        "withdraw": (("reason",), ()),
    }


def test_submit_records_what_the_method_records(tmp_path: Path) -> None:
    """One request through :func:`submit` writes the payload the direct call writes; fields the
    action does not take are ignored and an absent optional field is the method's default."""
    request: dict[str, Any] = {
        "patient": "P1",
        "consent": "IC-1",
        "laterality": "L",
        "reason": "not an enrolment field",
    }
    with Trial.open(tmp_path / "a.db") as via_submit, Trial.open(tmp_path / "b.db") as direct:
        for trial in (via_submit, direct):
            trial.open_recruitment(
                ["A"], protocol_id="HER2-PRO-004", actor="cc", site="A", model=trial_model()
            )
        got = submit(via_submit, "enrol", request, actor="dr.a", site="A")
        want = direct.enrol("P1", consent_ref="IC-1", laterality="L", actor="dr.a", site="A")
        assert (got.event_type, got.payload) == (want.event_type, want.payload)
        assert got.event_type == EventKind.ENROLLED.value
        got = submit(
            via_submit,
            "biopsy",
            {"patient": "P1", "ihc": "2+", "ish": "positive"},
            actor="path.a",
            site="A",
        )
        want = direct.record_biopsy("P1", ihc="2+", ish="positive", actor="path.a", site="A")
        assert (got.event_type, got.payload) == (want.event_type, want.payload)
