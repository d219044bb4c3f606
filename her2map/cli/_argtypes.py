"""Value types of command-line options: one way to refuse a bad number, one message shape."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_at_least"]


def int_at_least(minimum: int, *, must_be: str) -> Callable[[str], int]:
    """An argparse ``type`` taking a decimal integer ``>= minimum``; anything else is refused with
    ``"must be <must_be>; got '<text>'"`` (argparse prefixes the option's name)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {must_be}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {must_be}; got {text!r}")
        return value

    return parse
