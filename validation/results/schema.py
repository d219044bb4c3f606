"""Write the JSON Schema file of the results contract: ``python -m validation.results.schema``.

The file ``validation/results/schema/results-2.json`` is generated from the typed classes
(:func:`validation.results.document.schema_document`) and committed; a test fails when the two
differ, so regenerate it with this module after changing :mod:`validation.results.model`.
"""

from __future__ import annotations

import json
from pathlib import Path

from validation.results.document import SCHEMA_FILE, schema_document

__all__ = ["render_schema", "schema_path"]


def schema_path() -> Path:
    """Where the schema file lives in the source tree."""
    return Path(__file__).resolve().parent / "schema" / SCHEMA_FILE


def render_schema() -> str:
    """The schema file's text: the generated schema, indented, sorted keys kept in class order."""
    return json.dumps(schema_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # pragma: no cover - a developer's command
    schema_path().write_text(render_schema(), encoding="utf-8")
    print(f"wrote {schema_path()}")
