"""results.json (+ trace inputs) -> the dossier's files as bytes, in memory, deterministically.

:func:`render_dossier` is pure: it reads the templates in ``reports/`` and nothing else, no clock
and no random state, so the same inputs and software give the same bytes. Writing, manifest and
seal are :mod:`validation.dossier.build`'s.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from validation.canonical import canonical_json
from validation.dossier.checklist import SECTION_ITEMS, checklist_table, uncovered_items
from validation.dossier.figures import build_figures, inline_svg
from validation.dossier.formatting import filters
from validation.dossier.manifest import SEAL_FORMULA
from validation.dossier.tables import Table, build_tables, html_cells, make_table, table_csv
from validation.dossier.trace import requirements_table, trace_problems, trace_table
from validation.exceptions import DossierError

__all__ = ["RESULTS_SCHEMA", "TEMPLATES_DIR", "parse_results", "render_dossier"]

RESULTS_SCHEMA = "her2map.results/1"
#: Templates and CSS of the dossier: ``reports/`` at the repository root, reached through the
#: symbolic link ``validation/dossier/templates`` so that they ship as package data (a wheel holds
#: the files themselves).
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_VERDICT_ORDER = ("PASS", "FAIL", "NOT EVALUABLE", "INFO")
_RENDERER = ("jinja2", "markupsafe", "matplotlib", "numpy")


def parse_results(data: bytes, *, source: str = "results.json") -> dict[str, Any]:
    """Parse results.json bytes and check its schema tag; :class:`DossierError` otherwise."""
    try:
        results = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DossierError(
            f"{source}: not UTF-8 JSON ({exc}); pass the results.json written by the runner."
        ) from None
    if not isinstance(results, dict) or results.get("schema") != RESULTS_SCHEMA:
        got = results.get("schema") if isinstance(results, dict) else type(results).__name__
        raise DossierError(
            f"{source}: key 'schema' must be {RESULTS_SCHEMA!r}; got {got!r}. Pass the "
            "results.json written by `her2map validate` (RESULTS_SCHEMA.md)."
        )
    return results


def _renderer_table() -> Table:
    rows: list[tuple[str, str | None]] = [("python", platform.python_version())]
    for name in _RENDERER:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, None))
    return make_table(
        "renderer",
        "Software that rendered this dossier",
        [("package", "Package", "text"), ("version", "Version", "code")],
        rows,
    )


def _environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    env.filters.update(filters())
    env.globals["cells"] = html_cells
    return env


def _verdict_counts(results: Mapping[str, Any]) -> list[tuple[str, int]]:
    verdicts = [e.get("verdict") for e in results.get("endpoints") or []]
    verdicts += [
        v.get("verdict") for c in results.get("comparisons") or [] for v in c.get("verdicts") or []
    ]
    counts = Counter(v for v in verdicts if v)
    return [(v, counts[v]) for v in _VERDICT_ORDER if counts[v]]


def render_dossier(
    results_bytes: bytes,
    *,
    trace_inputs: Mapping[str, Any] | None = None,
    templates: str | Path | None = None,
) -> dict[str, bytes]:
    """Every file of the dossier but MANIFEST.json and SEAL: ``{posix path: bytes}``.

    ``results.json`` is copied byte for byte; ``inputs/trace.json`` holds ``trace_inputs``
    (:func:`validation.dossier.trace.load_trace_inputs`) when given.
    """
    templates = Path(templates) if templates is not None else TEMPLATES_DIR
    if not (templates / "dossier.html.j2").is_file():
        raise DossierError(
            f"{templates}: dossier templates not found (expected dossier.html.j2 and "
            "dossier.css); run from a checkout of the project or pass templates=."
        )
    results = parse_results(results_bytes)
    tables = build_tables(results)
    figures = build_figures(results)
    present = set(SECTION_ITEMS)
    files: dict[str, bytes] = {"results.json": results_bytes}
    matrix = problems = requirements = None
    if trace_inputs is not None:
        requirements = requirements_table(trace_inputs)
        matrix = trace_table(trace_inputs, results)
        problems = trace_problems(trace_inputs, results)
        files["inputs/trace.json"] = canonical_json(dict(trace_inputs))
    check_table = checklist_table(present)
    renderer = _renderer_table()
    all_tables = [t for group in tables.values() for t in group]
    all_tables += [check_table, renderer]
    all_tables += [t for t in (requirements, matrix) if t is not None]
    for table in all_tables:
        files[table.csv_name] = table_csv(table)
    for fig in figures:
        files[fig.file_name] = fig.svg
    fig_view = [
        {
            "id": f.id,
            "section": f.section,
            "caption": f.caption,
            "file_name": f.file_name,
            "inline": Markup(inline_svg(f.svg)),
        }
        for f in figures
    ]
    by_section: dict[str, list[dict[str, Any]]] = {s: [] for s in present}
    for f in fig_view:
        by_section[f["section"]].append(f)
    sections = [
        {
            "id": sid,
            "title": title,
            "report_items": "; ".join(
                filter(
                    None,
                    [
                        ("STARD 2015 " + ", ".join(stard)) if stard else "",
                        ("TRIPOD+AI " + ", ".join(tripod)) if tripod else "",
                    ],
                )
            )
            or "none",
        }
        for sid, (title, stard, tripod) in SECTION_ITEMS.items()
    ]
    sections.insert(
        -1,
        {
            "id": "checklist",
            "title": "Reporting checklist map",
            "report_items": "STARD 2015 and TRIPOD+AI (map of all items)",
        },
    )
    ident = results.get("identity") or {}
    model = ident.get("model") or {}
    env = _environment(templates)
    html = env.get_template("dossier.html.j2").render(
        protocol=ident.get("protocol") or {},
        model_label=(f"{model.get('name')} {model.get('version')}" if model else "external"),
        flow=results.get("flow") or {},
        verdict_counts=_verdict_counts(results),
        sections=sections,
        tables=tables,
        figures=by_section,
        figure_by_id={f["id"]: f for f in fig_view},
        trace_table=matrix,
        requirements_table=requirements,
        trace_problems=problems,
        trace_file=(trace_inputs or {}).get("traceability_file"),
        checklist_table=check_table,
        uncovered=uncovered_items(present),
        renderer_table=renderer,
        seal_formula=SEAL_FORMULA,
        css=Markup((templates / "dossier.css").read_text(encoding="utf-8")),
    )
    files["index.html"] = html.encode("utf-8")
    return dict(sorted(files.items()))
