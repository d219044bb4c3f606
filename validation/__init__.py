"""Model-agnostic validation harness: statistics, protocols, runner, dossier, ledger, trace.

The harness sees the inference core only through the predictions table and
``her2map.LockedModel``'s public API, so it can validate any other locked model.
"""

from her2map import __version__

__all__ = ["__version__"]
