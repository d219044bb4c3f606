"""Display formatting of the dossier: the only place where numbers are rounded.

These are the jinja filters of the templates (registered by :func:`filters`). CSV tables keep full
precision (:func:`csv_value`); the HTML shows

* estimates and other statistics with 3 decimals (``0.891``); magnitudes below 0.001 in scientific
  notation with 3 significant digits (``1.23e-04``) so that a small number never prints as 0.000
  (below 1e-9, floating-point dust, it does);
* p-values with 3 decimals, or ``<`` scientific notation when below 0.001 (``1.2e-07``);
* an interval as ``0.891 (0.841–0.941)``;
* a not-estimable result as ``not estimable (<reason>)``, otherwise a null as an em dash;
* an interval level from its confidence (``{{ confidence | percent }}``: 0.999 -> ``99.9%``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from markupsafe import Markup, escape

from validation.results import DifferenceValue, EstimateValue, TestValue
from validation.results.words import level

__all__ = [
    "css_string",
    "csv_value",
    "filters",
    "fmt_estimate",
    "fmt_interval",
    "fmt_num",
    "fmt_p",
    "fmt_pct",
    "fmt_percent",
    "verdict_class",
]

_DASH = "\u2014"
_NE = "not estimable"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_num(value: Any, digits: int = 3) -> str:
    """A statistic for display: ``digits`` decimals, scientific below ``10**-digits``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    number = _finite(value)
    if number is None:
        return _DASH
    if abs(number) < 1e-9:  # floating-point dust such as 5.55e-17 rounds to zero
        return f"{0:.{digits}f}"
    if abs(number) < 10.0**-digits:
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}f}"


def fmt_p(value: Any) -> str:
    """A p-value: 3 decimals, or 2 significant digits in scientific notation below 0.001."""
    number = _finite(value)
    if number is None:
        return _DASH
    if 0 < number < 0.001:
        return f"{number:.1e}"
    return f"{number:.3f}"


def fmt_pct(value: Any) -> str:
    """A fraction in [0, 1] as a percentage with one decimal (``0.1`` -> ``10.0%``)."""
    number = _finite(value)
    return _DASH if number is None else f"{100 * number:.1f}%"


def fmt_percent(value: Any) -> str:
    """A value already in percent (0-100, e.g. I² as metafor reports it) with one decimal."""
    number = _finite(value)
    return _DASH if number is None else f"{number:.1f}%"


def fmt_interval(
    estimate: Any, ci_low: Any = None, ci_high: Any = None, reason: str | None = None
) -> str:
    """An estimate from its fields: ``est (low–high)``, ``est`` without a finite interval, or
    ``not estimable (reason)`` without a finite estimate."""
    value = _finite(estimate)
    if value is None:
        return f"{_NE} ({reason or 'no value and no reason given'})"
    text = fmt_num(value)
    low, high = _finite(ci_low), _finite(ci_high)
    if low is not None and high is not None:
        text += f" ({fmt_num(low)}\u2013{fmt_num(high)})"
    return text


def fmt_estimate(value: Any) -> str:
    """An estimate as ``est (low–high)``; a not-estimable one as ``not estimable (reason)``; a
    test as its statistic (or ``not estimable (reason)``); text as it is; a number formatted.

    A mapping (such as an analysis of ``summary.json``) is refused with :class:`TypeError`: its
    fields are formatted with :func:`fmt_interval`, never read as a number (which shows ``—``).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        raise TypeError(
            "fmt_estimate formats a typed result, text or a number, not a mapping "
            f"(keys {sorted(value)}); format its fields with fmt_interval"
        )
    if isinstance(value, TestValue):
        if value.reason is not None:
            return f"{_NE} ({value.reason})"
        return fmt_num(value.statistic)
    if not isinstance(value, EstimateValue | DifferenceValue):
        return fmt_num(value)
    return fmt_interval(value.estimate, value.ci_low, value.ci_high, value.reason)


def verdict_class(verdict: Any) -> str:
    """CSS class of a verdict badge."""
    return {
        "PASS": "pass",
        "FAIL": "fail",
        "NOT EVALUABLE": "ne",
        "INFO": "info",
    }.get(str(verdict), "info")


def _badge(verdict: Any) -> Markup:
    if verdict is None:
        return Markup(_DASH)
    return Markup('<span class="badge {}">{}</span>').format(verdict_class(verdict), verdict)


def _cell(value: Any, kind: str) -> Markup:
    """One table cell's HTML by column kind (text, int, num, p, pct, est, verdict, hash, code, auto)."""
    if kind == "verdict":
        return _badge(value)
    if kind == "est":
        text = fmt_estimate(value)
        if text.startswith("not estimable"):
            return Markup('<span class="ne-text">{}</span>').format(text)
        return Markup(escape(text))
    if kind == "auto":
        kind = "hash" if isinstance(value, str) and _HEX64.match(value) else "text"
    if kind == "hash":
        return Markup('<code class="hash">{}</code>').format(value) if value else Markup(_DASH)
    if kind == "code":
        return Markup("<code>{}</code>").format(value) if value else Markup(_DASH)
    formatter: dict[str, Callable[[Any], str]] = {
        "num": fmt_num,
        "p": fmt_p,
        "pct": fmt_pct,
        "percent": fmt_percent,
    }
    if kind in formatter:
        return Markup(escape(formatter[kind](value)))
    if value is None or value == "":
        return Markup(_DASH)
    return Markup(escape(str(value)))


def css_string(value: Any) -> str:
    """Text for inside a double-quoted CSS string: backslash, quotes and angle brackets escaped as
    CSS hex escapes (so nothing can end the string or the style element)."""
    out = []
    for ch in str(value):
        out.append(f"\\{ord(ch):06x}" if ch in "\\\"'<>&\n\r" else ch)
    return "".join(out)


def csv_value(value: Any) -> str:
    """Full-precision CSV text: ``repr`` of floats (shortest round-trip), empty for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, list | tuple):
        return " ".join(csv_value(v) for v in value)
    return str(value)


def filters() -> dict[str, Callable[..., Any]]:
    """The jinja filters of the dossier templates."""
    return {
        "num": fmt_num,
        "p": fmt_p,
        "pct": fmt_pct,
        "est": fmt_estimate,
        "badge": _badge,
        "percent": level,
        "css_string": css_string,
        "cell": _cell,
        "verdict_class": verdict_class,
    }
