"""Output to a pipe that the reader closed early (``her2map ledger show | head -n 1``).

:func:`closed_pipe_is_quiet` wraps a printing loop: when the reader goes away, the rest of the
output is dropped and the command ends with status 0 and no traceback (as ``cat`` under
``head`` does), instead of Python's BrokenPipeError at exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["closed_pipe_is_quiet"]


@contextlib.contextmanager
def closed_pipe_is_quiet() -> Iterator[None]:
    """Swallow BrokenPipeError from stdout and point stdout at /dev/null for the exit flush."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
