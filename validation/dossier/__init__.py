"""The hash-stamped, reproducible validation dossier: results.json -> one sealed directory.

>>> from validation.dossier import build_dossier, verify_dossier, reproduce_dossier
>>> built = build_dossier("run/results.json", "dossier/", ledger="ledger.db",  # doctest: +SKIP
...                       trace="traceability.yaml", junit="junit.xml")
>>> print(verify_dossier("dossier/"))                                           # doctest: +SKIP
>>> print(reproduce_dossier("dossier/", ledger="ledger.db"))                    # doctest: +SKIP

The dossier renders; it computes no statistic (DESIGN.md). :mod:`.manifest` documents
MANIFEST.json and the SEAL formula; :mod:`.render` the content; :mod:`.build` the atomic write and
the ``dossier.sealed`` ledger entry; :mod:`.reproduce` the re-run.
"""

from validation.dossier.build import (
    SEALED_EVENT,
    BuildResult,
    build_dossier,
    sealed_entries,
    write_dossier,
)
from validation.dossier.manifest import SEAL_FORMULA, VerifyResult, seal_of, verify_dossier
from validation.dossier.render import render_dossier
from validation.dossier.reproduce import ReproduceResult, compare_dirs, reproduce_dossier

__all__ = [
    "SEALED_EVENT",
    "SEAL_FORMULA",
    "BuildResult",
    "ReproduceResult",
    "VerifyResult",
    "build_dossier",
    "compare_dirs",
    "render_dossier",
    "reproduce_dossier",
    "seal_of",
    "sealed_entries",
    "verify_dossier",
    "write_dossier",
]
