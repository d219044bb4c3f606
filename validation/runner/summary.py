"""The study's conclusion as its verdicts decide it (:class:`validation.results.Summary`).

* **Primary** analyses are those in the multiplicity plan: the fixed sequence (``hierarchy``, in
  order) and Holm families (``family``); everything else (endpoints and comparisons without a
  place, subgroup analyses) is **secondary** and never counts towards the conclusion.
* The **verdict** of the primary hypothesis is PASS when every primary analysis passed, FAIL when
  one failed or was not tested because an earlier one failed, NOT EVALUABLE when one could not be
  evaluated otherwise, INFO when the protocol pre-registers no primary analysis.
* The **conclusion** is one sentence naming the hypothesis, the verdict and what decided it.

An interim look (:mod:`.interim`) replaces the conclusion with the group-sequential decision and
its verdict with INFO: at an interim an efficacy boundary not crossed means "continue", never "the
model failed", and no study-level claim is made yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from validation.results import Interim, Judgement, Summary
from validation.results.words import criterion_words

__all__ = ["Analysis", "summarize"]

#: (id, description, judgement) of one endpoint or comparison.
Analysis = tuple[str, str, Judgement]


def _order(a: Analysis) -> tuple[int, int, str, str]:
    j = a[2]
    if j.hierarchy is not None:
        return (0, j.hierarchy, "", a[0])
    return (1, 0, j.family or "", a[0])


def _hypothesis(primary: Sequence[Analysis], confidence: float) -> str:
    parts = []
    for aid, description, j in primary:
        what = f"{aid} ({description}" if description else f"{aid} ({aid}"
        crit = criterion_words(j.criterion, confidence) if j.criterion else "no criterion"
        parts.append(f"{what}: {crit})")
    chain = [p for p, a in zip(parts, primary, strict=True) if a[2].hierarchy is not None]
    holm = [p for p, a in zip(parts, primary, strict=True) if a[2].hierarchy is None]
    text = []
    if chain:
        text.append(" then ".join(chain) + (" in fixed sequence" if len(chain) > 1 else ""))
    if holm:
        text.append(" and ".join(holm) + " (Holm family)")
    return "; ".join(text)


def summarize(
    analyses: Sequence[Analysis],
    secondary_extra: Sequence[str],
    *,
    protocol_id: str,
    confidence: float,
    interim: Interim | None = None,
) -> Summary:
    """The summary of ``analyses`` (endpoints and comparisons); ``secondary_extra`` lists the ids
    of other secondary analyses (subgroups)."""
    primary = sorted((a for a in analyses if a[2].role == "primary"), key=_order)
    secondary = tuple(a[0] for a in analyses if a[2].role == "secondary") + tuple(secondary_extra)
    ids = tuple(a[0] for a in primary)
    if not primary:
        hypothesis = "none pre-registered"
        verdict = "INFO"
        conclusion = (
            f"{protocol_id} pre-registers no primary hypothesis; its {len(secondary)} secondary "
            "analyses are reported one by one and support no study-level claim."
        )
    else:
        hypothesis = _hypothesis(primary, confidence)
        verdicts = [a[2].verdict for a in primary]
        held = [a[0] for a in primary if a[2].verdict == "PASS"]
        failed = [a for a in primary if a[2].verdict == "FAIL"]
        untested = [a[0] for a in primary if a[2].multiplicity.outcome == "not tested"]
        if all(v == "PASS" for v in verdicts):
            verdict = "PASS"
            conclusion = (
                f"The primary hypothesis of {protocol_id} is met: every primary criterion holds "
                f"({', '.join(ids)})."
            )
        elif failed:  # every failed primary analysis is named, not only the first
            verdict = "FAIL"
            conclusion = (
                f"The primary hypothesis of {protocol_id} is not met: "
                + "; ".join(f"{a[0]} FAILED ({a[2].reason})" for a in failed)
                + (f"; {', '.join(held)} passed" if held else "")
                + (f"; {', '.join(untested)} not tested" if untested else "")
                + "."
            )
        else:
            verdict = "NOT EVALUABLE"
            stuck = next(a for a in primary if a[2].verdict != "PASS")
            conclusion = (
                f"The primary hypothesis of {protocol_id} could not be evaluated: {stuck[0]} is "
                f"NOT EVALUABLE ({stuck[2].reason})."
            )
    if interim is not None:  # an interim look decides to continue or stop; it claims nothing yet
        verdict = "INFO"
        conclusion = f"Interim analysis of {protocol_id}: {interim.decision} ({interim.reason})."
    return Summary(ids, secondary, hypothesis, verdict, conclusion, interim)  # type: ignore[arg-type]
