"""The suite's gate: did the run achieve what the suite's policy requires?

``every-primary-pass``: every protocol completed, and every primary analysis (fixed-sequence
hierarchy or Holm family; :mod:`validation.suite.outcome`) of every protocol is PASS. A protocol
with no primary analysis contributes nothing but must still complete.
``listed``: every ``PROTOCOL-ID/ANALYSIS-ID`` in ``gate.analyses`` is PASS (its protocol completed).

FAIL and NOT EVALUABLE both leave the gate unmet: a claim that could not be evaluated is not met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from validation.suite.model import Gate, GatePolicy
from validation.suite.outcome import ProtocolOutcome

__all__ = ["GateCheck", "GateResult", "evaluate_gate"]


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One requirement of the gate: ``PROTOCOL-ID/ANALYSIS-ID`` and its verdict (or the error)."""

    name: str
    verdict: str

    @property
    def met(self) -> bool:
        return self.verdict == "PASS"


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's outcome: every check, and the protocols that did not complete."""

    policy: GatePolicy
    checks: tuple[GateCheck, ...]
    failed_protocols: tuple[str, ...]

    @property
    def met(self) -> bool:
        return not self.failed_protocols and all(c.met for c in self.checks)

    @property
    def unmet(self) -> tuple[str, ...]:
        """Why the gate is not met, one line per reason (empty when met)."""
        lines = [f"{pid}: the protocol did not complete" for pid in self.failed_protocols]
        return tuple(lines + [f"{c.name}: {c.verdict}" for c in self.checks if not c.met])


def evaluate_gate(
    gate: Gate, protocol_ids: tuple[str, ...], outcomes: Mapping[str, ProtocolOutcome]
) -> GateResult:
    """Evaluate ``gate`` over the suite's protocols (in suite order) and the completed outcomes."""
    failed = tuple(pid for pid in protocol_ids if pid not in outcomes)
    checks: list[GateCheck] = []
    if gate.policy is GatePolicy.EVERY_PRIMARY_PASS:
        for pid in protocol_ids:
            if pid in outcomes:
                checks += [
                    GateCheck(f"{pid}/{a.id}", a.verdict)
                    for a in outcomes[pid].analyses
                    if a.primary
                ]
        return GateResult(gate.policy, tuple(checks), failed)
    for name in gate.analyses:
        pid, _, analysis_id = name.partition("/")
        found = outcomes[pid].analysis(analysis_id) if pid in outcomes else None
        checks.append(GateCheck(name, "ERROR" if found is None else found.verdict))
    return GateResult(gate.policy, tuple(checks), tuple(p for p in failed if p in _listed(gate)))


def _listed(gate: Gate) -> set[str]:
    return {name.partition("/")[0] for name in gate.analyses}
