"""Words shared by the runner's sentences and the dossier's labels, so both say the same thing.

:func:`level` spells an interval level from its confidence (0.95 -> ``95%``, 0.999 -> ``99.9%``);
:func:`decimal` a number as a protocol states it (``(1 - 0.95) / 2`` -> ``0.025``);
:func:`criterion_words` a criterion such as ``ci_low >= 0.8`` at that level (``lower 95% bound
≥ 0.8``). Nothing here knows a default level: the level always comes from the data.
"""

from __future__ import annotations

import re

__all__ = ["criterion_words", "decimal", "level"]

_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}


def level(confidence: float) -> str:
    """``confidence`` as a percentage without trailing zeros (0.95 -> ``95%``, 0.999 -> ``99.9%``)."""
    text = f"{100.0 * float(confidence):.4f}".rstrip("0").rstrip(".")
    return f"{text}%"


def decimal(value: float) -> str:
    """``value`` with at most 15 significant digits, the most a double holds exactly: a number
    typed with up to 15 digits reads as typed, and one derived from such numbers without binary
    noise (the one-sided level ``(1 - 0.95) / 2`` is ``0.025000000000000022`` -> ``0.025``)."""
    return f"{float(value):.15g}"


def criterion_words(criterion: str, confidence: float) -> str:
    """A canonical criterion (``quantity op value``) in words at the run's interval level."""
    match = re.fullmatch(r"\s*(\w+)\s*(>=|<=|==|>|<)\s*(\S+)\s*", criterion)
    if match is None:
        return criterion
    quantity, op, value = match.groups()
    what = {
        "ci_low": f"lower {level(confidence)} bound",
        "ci_high": f"upper {level(confidence)} bound",
        "estimate": "estimate",
        "p_value": "p-value",
    }.get(quantity, quantity)
    return f"{what} {_OPS[op]} {value}"
