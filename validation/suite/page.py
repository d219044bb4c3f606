"""The suite summary page (``index.html``): one table across protocols and the run's identity.

Rendered from the summary object alone (:mod:`validation.suite.summary`) with the dossier's
display filters (:mod:`validation.dossier.formatting`, the only place numbers are rounded); the
interval level is each protocol's confidence from its results, never a fixed "95%". No clock, no
random state: the same summary gives the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from validation.dossier.formatting import filters, fmt_interval

__all__ = ["render_page"]

_TEMPLATE = Path(__file__).with_name("summary.html.j2")
_ORDER = ("PASS", "FAIL", "NOT EVALUABLE")


def _level(confidence: float) -> str:
    """``0.95`` -> ``95%``, ``0.999`` -> ``99.9%``."""
    return f"{100 * confidence:g}%"


def _analysis_estimate(analysis: Mapping[str, Any]) -> str:
    """An analysis's estimate and interval as ``summary.json`` holds them (``est (low–high)``),
    ``not estimable (reason)`` where the result is not estimable, and words for a test."""
    reason = analysis.get("not_estimable")
    if analysis["estimate"] is None and reason is None:
        return "no estimate (the result is a test)"
    return fmt_interval(analysis["estimate"], analysis["ci_low"], analysis["ci_high"], reason)


def render_page(summary: Mapping[str, Any], *, rationale: str = "") -> bytes:
    """UTF-8 HTML of the summary page."""
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    env.filters.update(filters())
    env.filters["pct_level"] = _level
    env.filters["analysis_estimate"] = _analysis_estimate
    template = env.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    counts = {}
    for p in summary["protocols"]:
        tally = Counter(a["verdict"] for a in p["analyses"])
        counts[p["id"]] = [(v, tally[v]) for v in _ORDER if tally[v]]
    return template.render(s=summary, rationale=rationale, verdict_counts=counts).encode("utf-8")
