"""What every pre-registered spec shares: its identity, title, rationale and canonical hash.

A protocol (:class:`validation.protocol.model.Protocol`) and a protocol suite
(:class:`validation.suite.model.Suite`) are both registered in the audit ledger by the canonical
hash of their content (:mod:`validation.protocol.registration`). :class:`RegisteredSpec` is the
one place that defines what they have in common, so that both are identified and hashed the same
way:

* the fields ``id``, ``version``, ``title`` and ``rationale``, first in each spec (dataclass
  inheritance puts a base's fields before a subclass's), and first in its :meth:`to_dict`;
* :attr:`RegisteredSpec.content_hash`, the SHA-256 of the RFC 8785 canonical JSON of
  :meth:`to_dict` (:func:`validation.canonical.canonical_hash`): comments, layout and key order of
  the YAML do not change it; any change of value does. A spec publishes it under the name its
  registration kind reads (``protocol_hash``, ``suite_hash``).

``source`` (the file a spec was read from) stays in each spec: it is not hashed, and only a
protocol leaves it out of equality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from validation.canonical import canonical_hash

__all__ = ["RegisteredSpec"]


@dataclass(frozen=True, slots=True)
class RegisteredSpec:
    """Base of a pre-registered spec: ``id``, ``version``, ``title``, ``rationale`` and the hash.

    A subclass adds its own fields and implements :meth:`to_dict` as ``{**self._head(), ...}``
    (zero-argument ``super()`` does not work in a slotted dataclass, hence the helper).
    """

    id: str
    version: str
    title: str
    rationale: str

    def _head(self) -> dict[str, Any]:
        """The normalized content this base holds: the first keys of every spec's :meth:`to_dict`."""
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "rationale": self.rationale,
        }

    def to_dict(self) -> dict[str, Any]:
        """Normalized content, hashed by :attr:`content_hash`; each spec extends :meth:`_head`."""
        raise NotImplementedError(f"{type(self).__name__} must define to_dict()")

    @property
    def content_hash(self) -> str:
        """SHA-256 of the RFC 8785 canonical JSON of :meth:`to_dict`."""
        return canonical_hash(self.to_dict())
