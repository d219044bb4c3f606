"""results.json (+ trace inputs) -> the dossier's files as bytes, in memory, deterministically.

:func:`render_dossier` is pure: it reads results.json through the typed contract
(:func:`validation.results.loads`, schema-checked), the templates in ``reports/`` and nothing else,
no clock and no random state, so the same inputs and software give the same bytes. Writing,
manifest and seal are :mod:`validation.dossier.build`'s.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from validation.canonical import canonical_json, sha256_hex
from validation.dossier.checklist import SECTION_ITEMS, checklist_table, uncovered_items
from validation.dossier.figures import build_figures, inline_svg
from validation.dossier.formatting import filters
from validation.dossier.manifest import SEAL_FORMULA
from validation.dossier.study import (
    confounding_statements,
    sample_size_tables,
    strata_tables,
)
from validation.dossier.tables import Table, build_tables, html_cells, make_table, table_csv
from validation.dossier.trace import requirements_table, trace_problems, trace_table
from validation.exceptions import DossierError, ResultsError
from validation.results import FORMAT, Results, loads

__all__ = ["RESULTS_SCHEMA", "TEMPLATES_DIR", "parse_results", "render_dossier"]

#: The results format the dossier renders (:data:`validation.results.FORMAT`).
RESULTS_SCHEMA = FORMAT
#: Templates and CSS of the dossier: ``reports/`` at the repository root, reached through the
#: symbolic link ``validation/dossier/templates`` so that they ship as package data (a wheel holds
#: the files themselves).
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_VERDICT_ORDER = ("PASS", "FAIL", "NOT EVALUABLE", "INFO")
_RENDERER = ("jinja2", "markupsafe", "matplotlib", "numpy")


def parse_results(data: bytes, *, source: str = "results.json") -> Results:
    """results.json bytes as typed :class:`Results` (format tag, JSON Schema, types checked);
    :class:`DossierError` naming the file and key path otherwise."""
    try:
        return loads(data, source=source)
    except ResultsError as exc:
        raise DossierError(str(exc)) from None


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


def _verdict_counts(verdicts: Iterable[str]) -> list[tuple[str, int]]:
    counts = Counter(verdicts)
    return [(v, counts[v]) for v in _VERDICT_ORDER if counts[v]]


def _counts_by_role(results: Results) -> dict[str, list[tuple[str, int]]]:
    """Verdict counts of the primary and of the secondary analyses, kept apart."""
    verdicts = results.verdicts()
    primary = results.summary.primary
    return {
        "primary": _verdict_counts(verdicts[i] for i in primary),
        "secondary": _verdict_counts(verdicts[i] for i in results.summary.secondary),
    }


def render_dossier(
    results_bytes: bytes,
    *,
    trace_inputs: Mapping[str, Any] | None = None,
    templates: str | Path | None = None,
    recorded: bool = False,
) -> dict[str, bytes]:
    """Every file of the dossier but MANIFEST.json and SEAL: ``{posix path: bytes}``.

    ``results.json`` is copied byte for byte; ``inputs/trace.json`` holds ``trace_inputs``
    (:func:`validation.dossier.trace.load_trace_inputs`) when given. ``recorded``: the dossier
    carries ``provenance.json`` (its run's ledger entry) and its seal goes into that ledger; the
    page says so, or else that nothing was checked against or recorded in a ledger.
    """
    templates = Path(templates) if templates is not None else TEMPLATES_DIR
    if not (templates / "dossier.html.j2").is_file():
        raise DossierError(
            f"{templates}: dossier templates not found (expected dossier.html.j2 and "
            "dossier.css); run from a checkout of the project or pass templates=."
        )
    results = parse_results(results_bytes)
    tables = build_tables(results)
    # the study-design tables (validation.dossier.study): planned vs achieved n beside the flow,
    # comparisons within strata after the comparisons
    tables["flow"] = [*tables["flow"], *sample_size_tables(results)]
    tables["comparisons"] = [*tables["comparisons"], *strata_tables(results)]
    figures = build_figures(results)
    present = set(SECTION_ITEMS)
    files: dict[str, bytes] = {"results.json": results_bytes}
    matrix = problems = requirements = None
    if trace_inputs is not None:
        requirements = requirements_table(trace_inputs, results)
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
    ident = results.identity
    model = ident.model
    env = _environment(templates)
    html = env.get_template("dossier.html.j2").render(
        results=results,
        recorded=recorded,
        protocol=ident.protocol,
        confidence=results.settings.confidence,
        model_label=(
            f"{model.name} {model.version} (locked)" if model.kind == "locked" else "external model"
        ),
        flow=results.flow,
        summary=results.summary,
        verdict_counts=_counts_by_role(results),
        sections=sections,
        tables=tables,
        confounding=confounding_statements(results),
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
        results_sha256=sha256_hex(results_bytes),
        css=Markup((templates / "dossier.css").read_text(encoding="utf-8")),
    )
    files["index.html"] = html.encode("utf-8")
    return dict(sorted(files.items()))
