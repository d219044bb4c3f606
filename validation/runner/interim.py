"""The decision of an interim look of a group-sequential design, from its pre-registered boundaries.

A protocol with an ``interim`` block names its design (e.g. Haybittle-Peto) and which analyses are
its efficacy and futility boundaries. The boundaries are judged like any analysis (criterion on an
interval at the protocol's level, fixed sequence); then, in this order:

1. **stop for efficacy** -- an efficacy boundary PASSED (its criterion holds: the boundary is
   crossed);
2. **stop for futility** -- a futility boundary FAILED (its criterion, e.g. "the upper bound stays
   above the margin", no longer holds);
3. **continue** -- no boundary was crossed. A FAIL of an efficacy boundary at an interim means
   exactly this, never "the model failed".
"""

from __future__ import annotations

from collections.abc import Mapping

from validation.protocol import Protocol
from validation.results import Interim, Judgement

__all__ = ["interim_decision"]


def _said(aid: str, j: Judgement | None) -> str:
    if j is None:
        return f"{aid} not in these results"
    return f"{aid} {j.verdict}" + (f" ({j.reason})" if j.reason else "")


def interim_decision(protocol: Protocol, judged: Mapping[str, Judgement]) -> Interim | None:
    """The interim decision of ``protocol`` (None when it is not an interim look)."""
    spec = protocol.interim
    if spec is None:
        return None
    efficacy = [(a, judged.get(a)) for a in spec.efficacy]
    futility = [(a, judged.get(a)) for a in spec.futility]
    crossed = [a for a, j in efficacy if j is not None and j.verdict == "PASS"]
    futile = [a for a, j in futility if j is not None and j.verdict == "FAIL"]
    if crossed:
        decision = "stop for efficacy"
        reason = "efficacy boundary crossed: " + "; ".join(
            _said(a, j) for a, j in efficacy if a in crossed
        )
    elif futile:
        decision = "stop for futility"
        reason = "futility boundary crossed: " + "; ".join(
            _said(a, j) for a, j in futility if a in futile
        )
    else:
        decision = "continue"
        reason = "no boundary crossed: " + "; ".join(_said(a, j) for a, j in (*efficacy, *futility))
    return Interim(spec.design, tuple(spec.efficacy), tuple(spec.futility), decision, reason)  # type: ignore[arg-type]
