"""The submission package of several sealed dossiers (+ summary, traceability, SBOM, model cards).

>>> from validation.submission import build_submission          # doctest: +SKIP
>>> build_submission(["runs/a/dossier", "runs/b/dossier"], "package/", ledger="ledger.db",
...                  title="HER2 MAP 510(k) performance testing", trace="traceability.yaml")

:mod:`.package` builds and checks the folder, :mod:`.sbom` writes the CycloneDX SBOM. Sign and
verify a package exactly like a dossier (:mod:`validation.signing`).
"""

from validation.submission.package import (
    PACKAGE_FORMAT,
    PACKAGE_SEAL_FORMAT,
    PackageResult,
    build_submission,
    verify_package_files,
    verify_submission,
)
from validation.submission.sbom import cyclonedx_sbom, installed_packages

__all__ = [
    "PACKAGE_FORMAT",
    "PACKAGE_SEAL_FORMAT",
    "PackageResult",
    "build_submission",
    "cyclonedx_sbom",
    "installed_packages",
    "verify_package_files",
    "verify_submission",
]
