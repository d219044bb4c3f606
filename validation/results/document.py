"""results.json <-> :class:`~validation.results.model.Results`, checked against the JSON Schema.

* :func:`dumps` -- the canonical bytes (RFC 8785, :func:`validation.canonical.canonical_json`) of a
  :class:`Results`, checked against the schema before they leave the writer;
* :func:`loads` -- bytes to :class:`Results`: format tag first (a ``her2map.results/1`` file gets
  a message saying to re-run), then the JSON Schema (``jsonschema``, draft 2020-12), then the typed
  decoding; any problem is a :class:`~validation.exceptions.ResultsError` naming the file and the
  key path;
* :func:`schema_document` -- the schema generated from the classes; :func:`shipped_schema` -- the
  file ``validation/results/schema/results-2.json`` (package data). They are equal (a test keeps
  them so; regenerate with ``python -m validation.results.schema``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from validation.canonical import canonical_json
from validation.exceptions import ResultsError
from validation.results.codec import ContractError, decode, encode, schema_for
from validation.results.model import FORMAT, Results

__all__ = [
    "SCHEMA_FILE",
    "SCHEMA_ID",
    "dumps",
    "loads",
    "schema_document",
    "shipped_schema",
    "validate_json",
]

#: The schema's file inside the package (``validation/results/schema/``).
SCHEMA_FILE = "results-2.json"
SCHEMA_ID = "https://her2map.invalid/schema/results-2.json"


def schema_document() -> dict[str, Any]:
    """The JSON Schema of :class:`Results`, generated from the typed classes."""
    return schema_for(
        Results,
        schema_id=SCHEMA_ID,
        title=f"HER2 MAP validation results ({FORMAT}): results.json written by the runner",
    )


@cache
def shipped_schema() -> dict[str, Any]:
    """The schema file shipped in the package (package data)."""
    text = resources.files("validation.results").joinpath("schema", SCHEMA_FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _validator() -> Any:
    import jsonschema

    schema = shipped_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _where(error: Any) -> str:
    parts: list[str] = []
    for p in error.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "(top)"


def validate_json(data: Any, *, source: str = "results.json") -> None:
    """Check parsed JSON against the shipped schema; :class:`ResultsError` names the first key path
    that does not conform (errors ordered by path, so the message is deterministic)."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = errors[0]
        raise ResultsError(
            f"{source}: {_where(first)}: {first.message} (JSON Schema {SCHEMA_FILE}; "
            f"{len(errors)} problem(s)). Pass a results.json written by `her2map validate run`."
        )


def dumps(results: Results) -> bytes:
    """Canonical JSON bytes of ``results``, checked against the schema."""
    if not isinstance(results, Results):
        raise ResultsError(f"dumps: expected a Results object; got {type(results).__name__}")
    data = encode(results)
    validate_json(data, source="results (being written)")
    return canonical_json(data)


def loads(data: bytes, *, source: str = "results.json", schema: bool = True) -> Results:
    """Parse, check and decode results.json bytes (module docstring).

    ``schema=False`` skips the JSON Schema pass and relies on the typed decoding alone, which
    checks the same keys and types (the schema is generated from the same classes) about seven
    times faster but names only the first problem; :func:`validation.dossier.verify_dossier` uses
    it to recompute a seal.
    """
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(
            f"{source}: not UTF-8 JSON ({exc}); pass the results.json written by the runner."
        ) from None
    got = parsed.get("format", parsed.get("schema")) if isinstance(parsed, dict) else None
    if got != FORMAT:
        raise ResultsError(
            f"{source}: key 'format' must be {FORMAT!r}; got {got!r}. Results of an older format "
            "are not rendered: re-run the protocol with `her2map validate run`."
        )
    if schema:
        validate_json(parsed, source=source)
    try:
        results: Results = decode(Results, parsed)
    except ContractError as exc:
        raise ResultsError(f"{source}: {exc}") from None
    return results
