"""The suite summary page (``index.html``): one table across protocols and the run's identity.

Rendered from the summary object alone (:mod:`validation.suite.summary`) with the dossier's
display filters (:mod:`validation.dossier.formatting`, the only place numbers are rounded); the
interval level is each protocol's confidence from its results, never a fixed "95%". No clock, no
random state: the same summary gives the same bytes. The one thing on the page that
``summary.json`` does not hold is the suite's rationale (plain text, bound by the suite hash);
:func:`page_disagreement` re-renders a page from its summary to check it.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from validation.dossier.formatting import filters, fmt_interval

__all__ = ["page_disagreement", "render_page"]

_TEMPLATE = Path(__file__).with_name("summary.html.j2")
_ORDER = ("PASS", "FAIL", "NOT EVALUABLE")
#: Stands for the rationale when :func:`page_disagreement` finds where the page holds it.
_MARK = "\u2063rationale\u2063"


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


def _rationale_of(summary: Mapping[str, Any], page: bytes) -> str:
    """The rationale ``page`` shows where :func:`render_page` puts it ("" where none fits)."""
    parts = render_page(summary, rationale=_MARK).split(_MARK.encode("utf-8"))
    if len(parts) != 2 or len(page) < len(parts[0]) + len(parts[1]):
        return ""
    head, tail = parts
    if not (page.startswith(head) and page.endswith(tail)):
        return ""
    try:
        return html.unescape(page[len(head) : len(page) - len(tail)].decode("utf-8"))
    except UnicodeDecodeError:
        return ""


def page_disagreement(summary: Mapping[str, Any], page: bytes) -> str | None:
    """None when ``page`` is the page :func:`render_page` makes of ``summary`` (with the
    rationale as plain text, the only part ``summary.json`` does not hold); else which line
    differs first."""
    expected = render_page(summary, rationale=_rationale_of(summary, page))
    if expected == page:
        return None
    ours, theirs = expected.splitlines(), page.splitlines()
    line = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False), start=1) if a != b),
        min(len(ours), len(theirs)) + 1,
    )
    return (
        f"is not the page of summary.json: line {line} differs from the page rendered from it "
        "(every verdict, estimate and the gate on the page come from summary.json)"
    )
