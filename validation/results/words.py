"""Words shared by the runner's sentences and the dossier's labels, so both say the same thing.

:func:`level` spells an interval level from its confidence (0.95 -> ``95%``, 0.999 -> ``99.9%``);
:func:`criterion_words` a criterion such as ``ci_low >= 0.8`` at that level (``lower 95% bound
≥ 0.8``). Nothing here knows a default level: the level always comes from the data.
"""

from __future__ import annotations

import re

__all__ = ["criterion_words", "level"]

_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}


def level(confidence: float) -> str:
    """``confidence`` as a percentage without trailing zeros (0.95 -> ``95%``, 0.999 -> ``99.9%``)."""
    text = f"{100.0 * float(confidence):.4f}".rstrip("0").rstrip(".")
    return f"{text}%"


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
