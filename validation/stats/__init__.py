"""Statistics engine: arrays in, frozen results out (DESIGN.md, "Statistics API").

Pure: imports nothing else of the project except :mod:`validation.exceptions`, reads no files,
prints nothing. Conventions: positive class is 1; higher score = more likely positive; a case is
called positive when ``score >= threshold``; data positional, options keyword-only.
"""

from validation.stats.results import Comparison, Estimate, Test

__all__ = [
    "Comparison",
    "Estimate",
    "Test",
]
