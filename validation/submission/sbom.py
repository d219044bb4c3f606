"""A CycloneDX 1.5 SBOM (JSON) of the running environment and the locked models.

Written from :func:`importlib.metadata.distributions` (every installed distribution, as
``library`` components with a ``pkg:pypi`` package URL, https://github.com/package-url/purl-spec),
the Python interpreter (a ``platform`` component) and each locked model of the package (a
``machine-learning-model`` component carrying its lock hash as a SHA-256 hash). The document has
no timestamp and its ``serialNumber`` is a UUID5 of its own content, so the same environment gives
the same bytes. ``tests/test_submission.py`` validates it against the CycloneDX 1.5 JSON schema
(cyclonedx-python-lib's strict validator, used only in tests).
"""

from __future__ import annotations

import platform
import re
import uuid
from collections.abc import Iterable, Mapping
from importlib.metadata import distributions
from typing import Any

from validation.canonical import canonical_json

__all__ = ["SBOM_NAMESPACE", "cyclonedx_sbom", "installed_packages"]

#: Namespace of the UUID5 serial numbers (fixed; any UUID would do, it only has to stay put).
SBOM_NAMESPACE = uuid.UUID("8a1d3c0e-6d3b-5f0e-9c55-2f6f3b0c1e13")


def _normalise(name: str) -> str:
    """PEP 503 normalised project name (the purl ``pypi`` type's name)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    """``{normalised name: version}`` of every installed distribution (first one wins)."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name and _normalise(name) not in found:
            found[_normalise(name)] = dist.version
    return dict(sorted(found.items()))


def _component(name: str, version: str) -> dict[str, Any]:
    purl = f"pkg:pypi/{name}@{version}"
    return {"bom-ref": purl, "name": name, "purl": purl, "type": "library", "version": version}


def cyclonedx_sbom(
    *,
    packages: Mapping[str, str] | None = None,
    models: Iterable[Mapping[str, Any]] = (),
    subject: tuple[str, str] = ("her2map", "0"),
) -> bytes:
    """Canonical JSON bytes of the CycloneDX 1.5 SBOM.

    ``packages`` defaults to :func:`installed_packages`; ``models`` are
    ``{name, version, lock_hash}`` mappings; ``subject`` is the (name, version) of the product.
    """
    packages = installed_packages() if packages is None else packages
    components = [_component(name, version) for name, version in sorted(packages.items())]
    python = platform.python_version()
    components.append(
        {
            "bom-ref": f"python@{python}",
            "name": platform.python_implementation(),
            "type": "platform",
            "version": python,
        }
    )
    for model in sorted(models, key=lambda m: (str(m["name"]), str(m["version"]))):
        components.append(
            {
                "bom-ref": f"model:{model['name']}@{model['version']}",
                "hashes": [{"alg": "SHA-256", "content": str(model["lock_hash"])}],
                "name": str(model["name"]),
                "type": "machine-learning-model",
                "version": str(model["version"]),
            }
        )
    body: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "components": components,
        "metadata": {
            "component": {
                "bom-ref": f"{subject[0]}@{subject[1]}",
                "name": subject[0],
                "type": "application",
                "version": subject[1],
            },
            "tools": {"components": [{"type": "application", "name": "her2map submission"}]},
        },
        "specVersion": "1.5",
        "version": 1,
    }
    serial = uuid.uuid5(SBOM_NAMESPACE, canonical_json(body).decode("utf-8"))
    return canonical_json({**body, "serialNumber": f"urn:uuid:{serial}"})
