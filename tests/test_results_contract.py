"""The typed results contract ``her2map.results/2``: the JSON Schema in the repository is the one
the classes generate; what the runner writes conforms to it (checked here with ``jsonschema``
directly, not through our reader) and decodes back to the same objects; a wrong shape is named by
its key path. Fixtures come from the runner (tests/conftest.py ``runner_run``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from validation.canonical import canonical_json
from validation.exceptions import ResultsError
from validation.results import FORMAT, Results, decode, dumps, encode, loads, shipped_schema
from validation.results.schema import render_schema, schema_path


@pytest.mark.req("REQ-RESULTS-001")
def test_schema_file_in_the_repository_is_the_generated_one() -> None:
    assert schema_path().read_text(encoding="utf-8") == render_schema()
    assert shipped_schema() == json.loads(render_schema())
    jsonschema.Draft202012Validator.check_schema(shipped_schema())


@pytest.mark.req("REQ-RESULTS-001")
@pytest.mark.parametrize("confidence", [0.95, 0.999])
def test_runner_output_conforms_and_round_trips(runner_run: Any, confidence: float) -> None:
    data = runner_run(confidence).results_path.read_bytes()
    parsed = json.loads(data)
    jsonschema.validate(parsed, shipped_schema(), cls=jsonschema.Draft202012Validator)
    assert parsed["format"] == FORMAT
    typed = loads(data)
    assert isinstance(typed, Results)
    assert decode(Results, encode(typed)) == typed
    assert dumps(typed) == data == canonical_json(parsed)


@pytest.mark.req("REQ-RESULTS-001")
def test_a_wrong_shape_is_refused_naming_the_key_path(runner_run: Any, tmp_path: Path) -> None:
    parsed = json.loads(runner_run(0.95).results_path.read_bytes())
    parsed["subgroups"][0]["rows"][0]["n"] = "twelve"
    with pytest.raises(
        ResultsError, match=r"x.json: subgroups\[0\]\.rows\[0\]\.n: 'twelve' is not"
    ):
        loads(json.dumps(parsed).encode(), source="x.json")
    with pytest.raises(
        ResultsError, match=r"x.json: subgroups\[0\]\.rows\[0\]\.n: expected an integer"
    ):
        loads(json.dumps(parsed).encode(), source="x.json", schema=False)  # typed decoding alone
    del parsed["subgroups"]
    with pytest.raises(jsonschema.ValidationError, match="'subgroups' is a required property"):
        jsonschema.validate(parsed, shipped_schema())
    with pytest.raises(ResultsError, match=r"key 'format' must be 'her2map.results/2'; got None"):
        loads(b"{}")


def _imports(package: Path) -> set[str]:
    import ast

    found: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
    return found


@pytest.mark.req("REQ-RESULTS-001")
def test_runner_and_dossier_meet_only_in_the_results_contract() -> None:
    """DESIGN.md walls (issue 14 declares them as import-linter contracts too): the dossier never
    imports the runner, the runner never imports the dossier, re-running lives above both, and the
    contract imports neither."""
    root = Path(__file__).resolve().parents[1] / "validation"
    above = ("validation.runner", "validation.pipeline", "validation.reproduce")
    assert not {m for m in _imports(root / "dossier") if m.startswith(above)}
    below = ("validation.dossier", "validation.pipeline", "validation.reproduce")
    assert not {m for m in _imports(root / "runner") if m.startswith(below)}
    contract = _imports(root / "results")
    assert not {m for m in contract if m.startswith(("validation.runner", "validation.dossier"))}


@pytest.mark.req("REQ-RESULTS-001")
def test_the_package_exports_every_object_of_the_contract() -> None:
    """``validation.results.__all__`` takes the contract's names from ``model.__all__`` (their one
    list); each must also be imported into the package, as the very object of the model."""
    import validation.results as package
    from validation.results import model

    assert set(model.__all__) <= set(package.__all__)
    assert len(package.__all__) == len(set(package.__all__))
    for name in model.__all__:
        assert getattr(package, name) is getattr(model, name), name
    for name in package.__all__:
        assert hasattr(package, name), name
