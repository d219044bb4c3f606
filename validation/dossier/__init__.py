"""The hash-stamped, reproducible validation dossier: typed results -> one sealed directory.

>>> from validation.dossier import build_dossier, verify_dossier
>>> built = build_dossier("run/results.json", "dossier/", ledger="ledger.db",  # doctest: +SKIP
...                       trace="traceability.yaml", junit="junit.xml")
>>> print(verify_dossier("dossier/"))                                           # doctest: +SKIP

The dossier renders; it computes no statistic and never imports the runner (DESIGN.md): it reads
results.json through the typed contract :mod:`validation.results`. :mod:`.manifest` documents
MANIFEST.json and the SEAL formula; :mod:`.render` the content; :mod:`.build` the carried inputs
and provenance, the atomic write and the ``dossier.sealed`` ledger entry; :mod:`.binding` which
recorded run produced a results.json (no recorded run, no seal). Re-running a dossier
lives above runner and dossier, in :mod:`validation.reproduce`.
"""

from validation.dossier.build import (
    PROVENANCE_NAME,
    SEALED_EVENT,
    BuildResult,
    DossierInputs,
    RunBinding,
    build_dossier,
    sealed_entries,
    write_dossier,
)
from validation.dossier.compare import compare_dirs
from validation.dossier.manifest import SEAL_FORMULA, VerifyResult, seal_of, verify_dossier
from validation.dossier.render import render_dossier

__all__ = [
    "PROVENANCE_NAME",
    "SEALED_EVENT",
    "SEAL_FORMULA",
    "BuildResult",
    "DossierInputs",
    "RunBinding",
    "VerifyResult",
    "build_dossier",
    "compare_dirs",
    "render_dossier",
    "seal_of",
    "sealed_entries",
    "verify_dossier",
    "write_dossier",
]
