"""Shared by tests/test_fuzz_*.py (not a test module): run a hypothesis property with a fixed
number of examples and prove afterwards that that many inputs were really generated.

The suite's budget: protocols 3,000 + tables 2,500 + locks 1,500 + paths 2,000 + DICOM headers
1,500 = 10,500 generated inputs, derandomized (the "ci" profile of conftest.py), in well under a
minute on 2 cores. Each property: a clear error of the module's own class or a correct result --
never another exception (a traceback), never partial output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

__all__ = ["outcome", "run_counted"]


def run_counted(examples: int, property_: Callable[..., Any], *strategies: Any) -> int:
    """Run ``property_`` over ``examples`` inputs drawn from ``strategies``; return the count of
    inputs it saw (asserted to be at least 90% of ``examples``: duplicates are skipped)."""
    from hypothesis import given

    seen = {"n": 0}

    @settings(max_examples=examples, database=None)
    @given(st.tuples(*strategies))
    def check(args: tuple[Any, ...]) -> None:
        seen["n"] += 1
        property_(*args)

    check()
    assert seen["n"] >= 0.9 * examples, f"only {seen['n']} of {examples} inputs were generated"
    return seen["n"]


def outcome(call: Callable[[], Any], errors: type[BaseException] | tuple[type[BaseException], ...]
            ) -> tuple[Any, str | None]:  # fmt: skip
    """``(result, None)``, or ``(None, message)`` when ``call`` raised one of ``errors`` (whose
    message must not be empty). Any other exception propagates: that is the failure sought."""
    try:
        return call(), None
    except errors as exc:
        message = str(exc)
    if not message:
        raise AssertionError(f"{type(errors)} raised with an empty message")
    return None, message
