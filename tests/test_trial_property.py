"""Random event sequences against an independent reference model of the trial rules (REQ-TRIAL-001).

Hypothesis draws sequences of trial actions -- valid and invalid: unknown patients and sites,
wrong sites, events out of order, malformed values, corrections with and without reasons -- and
applies each to a fresh ledger through :class:`validation.trial.Trial`. The reference below is a
tiny state machine written from the issue's rules, without the code under test: the ledger must
accept exactly what the reference allows, append exactly one entry per accepted action and
nothing per refused one, and its chain must verify at the end.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trial_models import trial_model

from validation.exceptions import TrialRuleError
from validation.trial import Trial

PATIENTS = ("P1", "P2", "P3")
SITES = ("A", "B", "Z")  # the trial opens with A and B; Z is unknown
LOCKS = ("1" * 64, "2" * 64)
IHCS = ("0", "1+", "2+", "3+", "4+")
ISHS = ("positive", "negative", "not_done", "maybe")
STEP_BEFORE = {"therapy": "biopsy", "surgery": "therapy", "response": "therapy"}


@dataclass
class Patient:
    site: str
    done: set[str] = field(default_factory=set)
    withdrawn: bool = False
    values: dict[tuple[str, str], Any] = field(default_factory=dict)


@dataclass
class Reference:
    """The rules, restated: who may record what, when."""

    sites: tuple[str, ...] | None = None
    lock: str | None = None
    patients: dict[str, Patient] = field(default_factory=dict)

    @staticmethod
    def her2_ok(ihc: str, ish: str) -> bool:
        return ihc in IHCS[:4] and ish in ISHS[:3] and not (ihc == "2+" and ish == "not_done")

    def allows(self, op: tuple[Any, ...]) -> bool:
        kind, pid, site = op[0], op[1], op[2]
        if kind == "open":
            return self.sites is None
        if kind == "enrol":
            age = op[3]
            return (
                self.sites is not None
                and site in self.sites
                and pid not in self.patients
                and (age is None or 18 <= age <= 120)
            )
        patient = self.patients.get(pid)
        if patient is None or patient.site != site or patient.withdrawn:
            return False
        if kind == "correct":
            return self.correction_allowed(patient, *op[3:])
        if kind in patient.done:
            return False
        if kind == "predict":
            score, lock = op[3], op[4]
            return (
                "biopsy" not in patient.done
                and (self.lock is None or lock == self.lock)
                and isinstance(score, float)
                and math.isfinite(score)
                and 0 <= score <= 1
            )
        if kind in ("biopsy", "surgery") and not self.her2_ok(op[3], op[4]):
            return False
        # PCR-SURGICAL: no surgical HER2 after pCR, no pCR after a surgical HER2
        if kind == "surgery" and patient.values.get(("response", "pcr")) is True:
            return False
        if kind == "response" and op[3] is True and "surgery" in patient.done:
            return False
        if kind == "withdraw":
            return bool(op[3].strip())
        return kind not in STEP_BEFORE or STEP_BEFORE[kind] in patient.done

    def correction_allowed(
        self, patient: Patient, event: str, name: str, value: Any, reason: str
    ) -> bool:
        if not reason.strip() or event not in patient.done or event == "predict":
            return False
        if event == "enrol" and name == "age":
            return (
                isinstance(value, int)
                and 18 <= value <= 120
                and value != patient.values[("enrol", "age")]
            )
        if event == "biopsy" and name in ("ihc", "ish"):
            ihc, ish = patient.values[("biopsy", "ihc")], patient.values[("biopsy", "ish")]
            new = (value, ish) if name == "ihc" else (ihc, value)
            return self.her2_ok(*new) and new != (ihc, ish)
        if event == "response" and name == "pcr":
            if value is True and "surgery" in patient.done:
                return False
            return value != patient.values[("response", "pcr")]
        return False  # site, score, or any other field: never corrected

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, pid, site = op[0], op[1], op[2]
        if kind == "open":
            self.sites, self.lock = ("A", "B"), LOCKS[0]  # the lock the trial is opened with
        elif kind == "enrol":
            self.patients[pid] = Patient(site, {"enrol"}, values={("enrol", "age"): op[3]})
        elif kind == "correct":
            event, name, value = op[3], op[4], op[5]
            self.patients[pid].values[(event, name)] = value
        else:
            patient = self.patients[pid]
            patient.done.add(kind)
            if kind == "biopsy":
                patient.values[("biopsy", "ihc")], patient.values[("biopsy", "ish")] = op[3], op[4]
            if kind == "response":
                patient.values[("response", "pcr")] = op[3]
            patient.withdrawn = kind == "withdraw"


def _ops() -> st.SearchStrategy[tuple[Any, ...]]:
    pid, site = st.sampled_from(PATIENTS), st.sampled_from(SITES)
    yes_no = st.sampled_from(("yes", "no"))
    return st.one_of(
        st.tuples(st.just("open"), st.just("-"), st.just("A")),
        st.tuples(st.just("enrol"), pid, site, st.sampled_from((None, 40, 12))),
        st.tuples(
            st.just("predict"),
            pid,
            site,
            st.sampled_from((0.0, 0.4, 1.0, 1.3, math.nan)),
            st.sampled_from(LOCKS),
        ),
        st.tuples(st.just("biopsy"), pid, site, st.sampled_from(IHCS), st.sampled_from(ISHS)),
        st.tuples(st.just("therapy"), pid, site),
        st.tuples(st.just("surgery"), pid, site, st.sampled_from(IHCS), st.sampled_from(ISHS)),
        st.tuples(st.just("response"), pid, site, yes_no),
        st.tuples(st.just("withdraw"), pid, site, st.sampled_from(("moved", " "))),
        st.tuples(
            st.just("correct"),
            pid,
            site,
            st.sampled_from(
                (
                    ("enrol", "age"),
                    ("enrol", "site"),
                    ("biopsy", "ihc"),
                    ("biopsy", "ish"),
                    ("response", "pcr"),
                    ("predict", "score"),
                )
            ),
            st.sampled_from(
                ("3+", "2+", "negative", "not_done", "yes", "no", 50, 40, 10, "B", 0.9)
            ),
            st.sampled_from(("typo", "")),
        ).map(lambda t: (*t[:3], t[3][0], t[3][1], t[4], t[5])),
    )


_EVENT = {"enrol": "enrolled", "predict": "prediction", "biopsy": "biopsy", "response": "response"}


def _apply(trial: Trial, op: tuple[Any, ...]) -> None:
    kind, pid, site = op[0], op[1], op[2]
    who = {"actor": f"dr-{site}", "site": site}
    if kind == "open":
        trial.open_recruitment(
            ["A", "B"], protocol_id="HER2-PRO-004", **who, model=trial_model(LOCKS[0])
        )
    elif kind == "enrol":
        trial.enrol(pid, consent_ref="IC", age=op[3], **who)
    elif kind == "predict":
        trial.predict_external(
            pid, score=op[3], model_lock=op[4], threshold=0.5, modalities="US", **who
        )
    elif kind == "biopsy":
        trial.record_biopsy(pid, ihc=op[3], ish=op[4], **who)
    elif kind == "therapy":
        trial.record_therapy(pid, regimen="TCHP", anti_her2="yes", **who)
    elif kind == "surgery":
        trial.record_surgery(pid, ihc=op[3], ish=op[4], **who)
    elif kind == "response":
        trial.record_response(pid, pcr=op[3], **who)
    elif kind == "withdraw":
        trial.withdraw(pid, reason=op[3], **who)
    else:
        trial.correct(pid, event=_EVENT[op[3]], field=op[4], value=op[5], reason=op[6], **who)


def _normalise(op: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values as the reference compares them: yes/no as bool for pcr, str ages as given."""
    if op[0] == "response":
        return (*op[:3], op[3] == "yes")
    if op[0] == "correct" and op[4] == "pcr" and op[5] in ("yes", "no"):
        return (*op[:5], op[5] == "yes", op[6])
    if op[0] == "correct" and op[4] == "pcr":
        return (*op[:5], "invalid", op[6])
    return op


HOME = {"P1": "A", "P2": "B", "P3": "A"}
PATH = ("predict", "biopsy", "therapy", "surgery", "response")
_CORRECTIONS = {
    "enrol": (("enrol", "age"), st.sampled_from((40, 50, 12))),
    "biopsy": (("biopsy", "ish"), st.sampled_from(("negative", "positive", "not_done"))),
    "response": (("response", "pcr"), st.sampled_from(("yes", "no"))),
    "predict": (("predict", "score"), st.sampled_from((0.9,))),
}


def _advance(data: st.DataObject, reference: Reference) -> tuple[Any, ...]:
    """A plausible next action of one patient at its home site (the reference picks the step);
    choosing between the next two steps also produces out-of-order and unblinded attempts."""
    pid = data.draw(st.sampled_from(PATIENTS))
    site = HOME[pid]
    patient = reference.patients.get(pid)
    if patient is None:
        return ("enrol", pid, site, data.draw(st.sampled_from((None, 40))))
    missing = [k for k in PATH if k not in patient.done]
    choices = [*missing[:2], *missing[:2], "correct", "correct", "withdraw"]
    kind = data.draw(st.sampled_from(choices))
    if kind == "predict":
        lock = data.draw(st.sampled_from((LOCKS[0], LOCKS[0], LOCKS[0], LOCKS[1])))
        return ("predict", pid, site, data.draw(st.sampled_from((0.2, 0.7))), lock)
    if kind in ("biopsy", "surgery"):
        return (
            kind,
            pid,
            site,
            data.draw(st.sampled_from(("0", "2+", "3+"))),
            data.draw(st.sampled_from(ISHS[:3])),
        )
    if kind in ("therapy",):
        return (kind, pid, site)
    if kind == "response":
        return (kind, pid, site, data.draw(st.sampled_from(("yes", "no"))))
    if kind == "withdraw":
        return (kind, pid, site, "moved")
    event = data.draw(st.sampled_from(sorted(k for k in _CORRECTIONS if k in patient.done)))
    (target, name), values = _CORRECTIONS[event]
    return (
        "correct",
        pid,
        site,
        target,
        name,
        data.draw(values),
        data.draw(st.sampled_from(("typo", "typo", ""))),
    )


@pytest.mark.req("REQ-TRIAL-001", "REQ-AUD-001", "REQ-AUD-003")
@settings(max_examples=60)
@given(data=st.data(), n_steps=st.integers(min_value=5, max_value=35))
def test_ledger_accepts_exactly_what_the_reference_rules_allow(
    data: st.DataObject, n_steps: int
) -> None:
    reference = Reference()
    with tempfile.TemporaryDirectory() as tmp, Trial.open(Path(tmp) / "t.db") as trial:
        for step in range(n_steps):
            if step == 0 and data.draw(st.integers(0, 9)) > 0:
                op: tuple[Any, ...] = ("open", "-", "A")  # open first, mostly, to reach deep states
            elif reference.sites is not None and data.draw(st.integers(0, 9)) < 7:
                op = _advance(data, reference)
            else:
                op = data.draw(_ops())
                if op[1] in HOME and data.draw(st.booleans()):
                    op = (op[0], op[1], HOME[op[1]], *op[3:])  # reach the rules behind OWN-SITE
            expected = reference.allows(_normalise(op))
            before = trial.ledger.head().seq
            try:
                _apply(trial, op)
            except TrialRuleError as exc:
                refusal: str | None = str(exc)
            else:
                refusal = None
            if refusal is not None:
                assert not expected, f"refused but the rules allow {op}: {refusal}"
                assert trial.ledger.head().seq == before
                assert "refused by rule" in refusal
            else:
                assert expected, f"accepted but the rules forbid {op}"
                assert trial.ledger.head().seq == before + 1
                reference.apply(_normalise(op))
        assert trial.verify().ok
        status = trial.status()
        withdrawn = sum(p.withdrawn for p in reference.patients.values())
        assert sum(s.enrolled for s in status.sites) == len(reference.patients)
        assert sum(s.withdrawn for s in status.sites) == withdrawn
        assert sum(s.response_known for s in status.sites) == sum(
            "response" in p.done for p in reference.patients.values()
        )
