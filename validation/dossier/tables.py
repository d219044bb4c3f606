"""results.json -> the dossier's tables, one :class:`Table` serving both the HTML and the CSV.

Each builder lays out values that the runner computed; nothing is calculated here except counts
that are sums of given counts (the 2x2 margins). A column's ``kind`` tells the template how to
show a cell (``formatting._cell``) and the CSV writer how to spell it: an ``est`` column (an
Estimate) becomes four CSV columns ``<key>``, ``<key>_ci_low``, ``<key>_ci_high``,
``<key>_reason``; every number is written at full precision.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from validation.dossier.formatting import csv_value, fmt_num

__all__ = ["Column", "Table", "build_tables", "html_cells", "make_table", "table_csv"]


@dataclass(frozen=True, slots=True)
class Column:
    """A column: CSV key, header shown in the HTML, and display kind."""

    key: str
    title: str
    kind: str = "text"
    html: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    """A table of the dossier; ``id`` names its CSV file ``tables/<id>.csv`` and its HTML anchor."""

    id: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str | None = None

    @property
    def csv_name(self) -> str:
        return f"tables/{self.id}.csv"


def make_table(
    id_: str,
    title: str,
    cols: Sequence[tuple[str, str, str] | tuple[str, str, str, bool]],
    rows: Iterable[Sequence[Any]],
    note: str | None = None,
) -> Table:
    return Table(id_, title, tuple(Column(*c) for c in cols), tuple(tuple(r) for r in rows), note)


def html_cells(table: Table) -> list[list[tuple[Any, str]]]:
    """Rows as ``(value, kind)`` pairs of the columns shown in the HTML (``Column.html``)."""
    keep = [i for i, c in enumerate(table.columns) if c.html]
    return [[(row[i], table.columns[i].kind) for i in keep] for row in table.rows]


def table_csv(table: Table) -> bytes:
    """Deterministic CSV bytes (UTF-8, ``\\n`` line ends, full precision) of ``table``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header: list[str] = []
    for col in table.columns:
        if col.kind == "est":
            header += [col.key, f"{col.key}_ci_low", f"{col.key}_ci_high", f"{col.key}_reason"]
        else:
            header.append(col.key)
    writer.writerow(header)
    for row in table.rows:
        cells: list[str] = []
        for col, value in zip(table.columns, row, strict=True):
            if col.kind == "est":
                est = value if isinstance(value, Mapping) else {"estimate": value}
                cells += [
                    csv_value(est.get(k)) for k in ("estimate", "ci_low", "ci_high", "reason")
                ]
            else:
                cells.append(csv_value(value))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "x"


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def identity_tables(results: Mapping[str, Any]) -> list[Table]:
    ident = results.get("identity") or {}
    p, m, led = ident.get("protocol") or {}, ident.get("model") or {}, ident.get("ledger") or {}
    rows: list[tuple[str, str, Any]] = [
        ("protocol", "Protocol id", p.get("id")),
        ("protocol", "Version", p.get("version")),
        ("protocol", "Title", p.get("title")),
        ("protocol", "File", p.get("file_name")),
        ("protocol", "Canonical hash (sha256)", p.get("hash")),
        ("protocol", "Registration: ledger entry", _get(p, "registration", "seq")),
        ("protocol", "Registration: entry hash", _get(p, "registration", "entry_hash")),
    ]
    for a in p.get("amendments") or []:
        rows.append(("protocol", f"Amendment: ledger entry {a.get('seq')}", a.get("entry_hash")))
    if m:
        rows += [
            ("model", "Model", f"{m.get('name')} {m.get('version')}"),
            ("model", "Lock hash (sha256)", m.get("lock_hash")),
            ("model", "Decision threshold (locked)", m.get("threshold")),
        ]
    else:
        rows.append(("model", "Model", "no locked model identity in the results"))
    for name, entry in sorted((ident.get("data") or {}).items()):
        rows.append(("data", f"{name}: file", entry.get("name")))
        rows.append(("data", f"{name}: rows", entry.get("rows")))
        rows.append(("data", f"{name}: sha256", entry.get("sha256")))
    rows += [
        ("ledger", "Ledger head before this run: entry", led.get("head_seq")),
        ("ledger", "Ledger head before this run: hash", led.get("head_hash")),
    ]
    settings = results.get("settings") or {}
    for key in ("confidence", "threshold", "threshold_source", "reference", "unit"):
        rows.append(("settings", key.replace("_", " ").capitalize(), settings.get(key)))
    boot = settings.get("bootstrap") or {}
    for key in sorted(boot):
        rows.append(("settings", f"Bootstrap {key}", boot[key]))
    software = ident.get("software") or {}
    return [
        make_table(
            "identity",
            "Identity",
            [("group", "Group", "text"), ("item", "Item", "text"), ("value", "Value", "auto")],
            rows,
        ),
        make_table(
            "software",
            "Software versions (as stamped by the runner)",
            [("package", "Package", "text"), ("version", "Version", "code")],
            sorted(software.items()),
        ),
    ]


def endpoint_table(results: Mapping[str, Any]) -> Table:
    rows = []
    for e in results.get("endpoints") or []:
        mult = e.get("multiplicity") or {}
        rows.append(
            (
                e.get("id"),
                e.get("description"),
                e.get("metric"),
                e.get("result"),
                e.get("criterion"),
                e.get("verdict"),
                e.get("hierarchy"),
                e.get("family"),
                mult.get("procedure"),
                mult.get("p_value"),
                mult.get("adjusted_p"),
                mult.get("outcome"),
                e.get("reason"),
            )
        )
    return make_table(
        "endpoints",
        "Pre-registered endpoints",
        [
            ("id", "Endpoint", "code"),
            ("description", "Description", "text"),
            ("metric", "Metric", "code", False),
            ("result", "Estimate (95% CI)", "est"),
            ("criterion", "Criterion", "code"),
            ("verdict", "Verdict", "verdict"),
            ("hierarchy", "Order", "text"),
            ("family", "Family", "text"),
            ("procedure", "Multiplicity", "text"),
            ("p_value", "p (one-sided)", "p"),
            ("adjusted_p", "Adjusted p", "p"),
            ("outcome", "Hypothesis", "text"),
            ("reason", "Reason", "text"),
        ],
        rows,
    )


def flow_tables(results: Mapping[str, Any]) -> list[Table]:
    flow = results.get("flow") or {}
    return [
        make_table(
            "flow_exclusions",
            "Exclusions by reason",
            [("reason", "Reason", "text"), ("n", "Patients", "int")],
            [(x.get("reason"), x.get("n")) for x in flow.get("exclusions") or []],
        ),
        make_table(
            "flow_sites",
            "Participant flow per site",
            [
                ("site", "Site", "text"),
                ("assessed", "Assessed", "int"),
                ("excluded", "Excluded", "int"),
                ("analysed", "Analysed", "int"),
                ("n_pos", "HER2-positive", "int"),
                ("n_neg", "HER2-negative", "int"),
            ],
            [
                (
                    s.get("site"),
                    s.get("assessed"),
                    s.get("excluded"),
                    s.get("analysed"),
                    s.get("n_pos"),
                    s.get("n_neg"),
                )
                for s in flow.get("by_site") or []
            ],
        ),
    ]


def accuracy_tables(results: Mapping[str, Any]) -> list[Table]:
    tables = []
    c = results.get("confusion")
    if c:
        tp, fp, fn, tn = (c.get(k) for k in ("tp", "fp", "fn", "tn"))
        ints = all(isinstance(v, int) for v in (tp, fp, fn, tn))
        tables.append(
            make_table(
                "confusion_2x2",
                "2×2 table at the locked threshold",
                [
                    ("index_test", "Model call", "text"),
                    ("reference_pos", "Reference positive", "int"),
                    ("reference_neg", "Reference negative", "int"),
                    ("total", "Total", "int"),
                ],
                [
                    ("Model positive", tp, fp, tp + fp if ints else None),
                    ("Model negative", fn, tn, fn + tn if ints else None),
                    (
                        "Total",
                        tp + fn if ints else None,
                        fp + tn if ints else None,
                        tp + fp + fn + tn if ints else None,
                    ),
                ],
                note=f"Called positive when score ≥ {fmt_num(c.get('threshold'), 4)} (exact value in the identity section).",
            )
        )
    diag = results.get("diagnostic")
    if diag:
        tables.append(
            make_table(
                "diagnostic",
                "Diagnostic accuracy at the locked threshold",
                [
                    ("measure", "Measure", "text"),
                    ("result", "Estimate (95% CI)", "est"),
                    ("n", "n", "int"),
                    ("method", "Interval", "text"),
                ],
                [(k, v, _get(v, "n"), _get(v, "method")) for k, v in diag.items()],
            )
        )
    return tables


def discrimination_tables(results: Mapping[str, Any]) -> list[Table]:
    d = results.get("discrimination")
    if not d:
        return []
    op = d.get("operating_point") or {}
    rows = [
        ("AUC", d.get("auc"), _get(d, "auc", "method")),
        ("Operating point: false-positive rate", op.get("fpr"), None),
        ("Operating point: true-positive rate", op.get("tpr"), None),
        ("Operating point: threshold", op.get("threshold"), None),
    ]
    return [
        make_table(
            "discrimination",
            "Discrimination",
            [
                ("measure", "Measure", "text"),
                ("value", "Estimate (95% CI)", "est"),
                ("method", "Method", "text"),
            ],
            rows,
        )
    ]


def calibration_tables(results: Mapping[str, Any]) -> list[Table]:
    cal = results.get("calibration")
    if not cal:
        return []
    hl = cal.get("hosmer_lemeshow") or {}
    rows = [
        ("Calibration intercept (in the large)", cal.get("intercept")),
        ("Calibration slope", cal.get("slope")),
    ]
    rows += [
        (label, cal.get(key))
        for key, label in (
            ("brier", "Brier score"),
            ("ece", "Expected calibration error (10 bins)"),
            ("ici", "Integrated calibration index"),
            ("e50", "E50"),
            ("e90", "E90"),
            ("emax", "Emax"),
            ("spiegelhalter_z", "Spiegelhalter z"),
            ("spiegelhalter_p", "Spiegelhalter p"),
        )
    ]
    rows += [
        ("Hosmer–Lemeshow statistic", hl.get("statistic")),
        ("Hosmer–Lemeshow df", hl.get("df")),
        ("Hosmer–Lemeshow p", hl.get("p_value")),
    ]
    bins = [
        (b.get("lower"), b.get("upper"), b.get("n"), b.get("mean_predicted"), b.get("observed"))
        for b in cal.get("bins") or []
    ]
    return [
        make_table(
            "calibration",
            "Calibration",
            [("measure", "Measure", "text"), ("value", "Estimate (95% CI)", "est")],
            rows,
        ),
        make_table(
            "calibration_bins",
            "Calibration by bin of predicted probability",
            [
                ("lower", "From", "num"),
                ("upper", "To", "num"),
                ("n", "n", "int"),
                ("mean_predicted", "Mean predicted", "num"),
                ("observed", "Observed (95% CI)", "est"),
            ],
            bins,
        ),
    ]


def error_tables(results: Mapping[str, Any]) -> list[Table]:
    ea = results.get("error_analysis")
    if not ea:
        return []
    hc = ea.get("high_confidence") or {}
    rc = ea.get("risk_coverage") or {}
    summary = [
        ("Error rate (all calls)", ea.get("error_rate")),
        ("Confidence-weighted error rate", ea.get("confidence_weighted_error_rate")),
        (
            f"Error rate when confidence ≥ {ea.get('high_confidence_threshold')}",
            hc.get("error_rate"),
        ),
        ("High-confidence calls", hc.get("n")),
        ("High-confidence errors", hc.get("errors")),
        ("AURC (area under risk–coverage)", rc.get("aurc")),
        ("Excess AURC (E-AURC)", rc.get("eaurc")),
    ]
    tables = [
        make_table(
            "error_summary",
            "Confidence-weighted error analysis",
            [("measure", "Measure", "text"), ("value", "Estimate (95% CI)", "est")],
            summary,
            note=f"Confidence: {ea.get('confidence_definition')}",
        ),
        make_table(
            "error_bins",
            "Error rate by confidence bin",
            [
                ("lower", "Confidence from", "num"),
                ("upper", "to", "num"),
                ("n", "n", "int"),
                ("errors", "Errors", "int"),
                ("error_rate", "Error rate (95% CI)", "est"),
            ],
            [
                (b.get("lower"), b.get("upper"), b.get("n"), b.get("errors"), b.get("error_rate"))
                for b in ea.get("bins") or []
            ],
        ),
        make_table(
            "high_confidence_errors",
            "High-confidence errors (pseudonymous ids)",
            [("patient_id", "Patient (pseudonymous id)", "code")],
            [(pid,) for pid in hc.get("ids") or []],
        ),
        make_table(
            "referral",
            "Referral policy: least confident calls take the biopsy call",
            [
                ("fraction", "Referred fraction", "pct"),
                ("n_referred", "Referred", "int"),
                ("sensitivity", "Sensitivity (95% CI)", "est"),
                ("specificity", "Specificity (95% CI)", "est"),
                ("error_rate", "Error rate (95% CI)", "est"),
            ],
            [
                (
                    r.get("fraction"),
                    r.get("n_referred"),
                    r.get("sensitivity"),
                    r.get("specificity"),
                    r.get("error_rate"),
                )
                for r in ea.get("referral") or []
            ],
            note=ea.get("referral_reason"),
        ),
    ]
    return tables


def subgroup_tables(results: Mapping[str, Any]) -> list[Table]:
    tables = []
    het_rows = []
    for sub in results.get("subgroups") or []:
        sid = str(sub.get("id"))
        tables.append(
            make_table(
                f"subgroup_{_slug(sid)}",
                f"Subgroups by {sub.get('column')}: {sub.get('metric')}",
                [
                    ("group", "Group", "text"),
                    ("n", "n", "int"),
                    ("n_pos", "Positive", "int"),
                    ("n_neg", "Negative", "int"),
                    ("result", "Estimate (95% CI)", "est"),
                    ("verdict", "Verdict", "verdict"),
                    ("reason", "Reason", "text"),
                ],
                [
                    (
                        r.get("group"),
                        r.get("n"),
                        r.get("n_pos"),
                        r.get("n_neg"),
                        r.get("result"),
                        r.get("verdict"),
                        r.get("reason"),
                    )
                    for r in sub.get("rows") or []
                ],
                note=(
                    f"{sid}: criterion {sub.get('criterion') or 'none (descriptive)'} in every "
                    f"group; analysis verdict {sub.get('verdict', 'INFO')}"
                    + (f" ({sub['verdict_reason']})" if sub.get("verdict_reason") else "")
                    + f". Groups smaller than {sub.get('min_size')} patients are not estimated."
                ),
            )
        )
        h = sub.get("heterogeneity")
        if h:
            het_rows.append(
                (
                    sid,
                    h.get("method"),
                    h.get("pooled"),
                    h.get("q"),
                    h.get("df"),
                    h.get("p_value"),
                    h.get("i2"),
                    h.get("tau2"),
                    h.get("reason"),
                )
            )
        else:
            het_rows.append(
                (
                    sid,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    "no heterogeneity analysis in the protocol for this subgroup",
                )
            )
    if tables:
        tables.append(
            make_table(
                "heterogeneity",
                "Heterogeneity across subgroups (random effects)",
                [
                    ("subgroup", "Subgroups", "code"),
                    ("method", "Method", "text"),
                    ("pooled", "Pooled (95% CI)", "est"),
                    ("q", "Q", "num"),
                    ("df", "df", "int"),
                    ("p_value", "p", "p"),
                    ("i2", "I² (%)", "percent"),
                    ("tau2", "τ²", "num"),
                    ("reason", "Note", "text"),
                ],
                het_rows,
            )
        )
    return tables


def comparison_tables(results: Mapping[str, Any]) -> list[Table]:
    comps = results.get("comparisons") or []
    if not comps:
        return []
    rows, verdicts = [], []
    for c in comps:
        cid, outcome = c.get("id"), c.get("outcome")
        diff, mc, kappa = c.get("auc_difference"), c.get("mcnemar"), c.get("kappa")
        if diff:
            rows.append(
                (
                    cid,
                    outcome,
                    "AUC difference (model − biopsy)",
                    diff,
                    diff.get("statistic"),
                    diff.get("p_value"),
                    diff.get("method"),
                )
            )
        if mc:
            rows.append(
                (
                    cid,
                    outcome,
                    "McNemar (paired correct calls)",
                    {"estimate": None, "reason": mc.get("reason")} if mc.get("reason") else None,
                    mc.get("statistic"),
                    mc.get("p_value"),
                    mc.get("method"),
                )
            )
        if kappa:
            rows.append(
                (
                    cid,
                    outcome,
                    "Agreement of the calls (kappa)",
                    kappa,
                    None,
                    None,
                    kappa.get("method"),
                )
            )
        if c.get("decision_curve"):
            rows.append(
                (cid, outcome, "Decision curve (net benefit)", "see the figure", None, None, None)
            )
        verdicts += [
            (cid, c.get("description"), v.get("criterion"), v.get("verdict"), v.get("reason"))
            for v in c.get("verdicts") or []
        ]
    return [
        make_table(
            "comparisons",
            "Model versus biopsy",
            [
                ("comparison", "Comparison", "code"),
                ("outcome", "Outcome", "code"),
                ("measure", "Measure", "text"),
                ("estimate", "Estimate (95% CI)", "est"),
                ("statistic", "Statistic", "num"),
                ("p_value", "p (two-sided)", "p"),
                ("method", "Method", "text"),
            ],
            rows,
        ),
        make_table(
            "comparison_verdicts",
            "Model versus biopsy: pre-registered criteria",
            [
                ("comparison", "Comparison", "code"),
                ("description", "Description", "text"),
                ("criterion", "Criterion", "code"),
                ("verdict", "Verdict", "verdict"),
                ("reason", "Reason", "text"),
            ],
            verdicts,
        ),
    ]


def deviation_table(results: Mapping[str, Any]) -> Table:
    return make_table(
        "deviations",
        "Protocol deviations and amendments",
        [
            ("kind", "Kind", "text"),
            ("seq", "Ledger entry", "int"),
            ("reason", "Reason", "text"),
            ("protocol_hash", "Protocol hash after", "hash"),
        ],
        [
            (d.get("kind"), d.get("seq"), d.get("reason"), d.get("protocol_hash"))
            for d in results.get("deviations") or []
        ],
    )


def build_tables(results: Mapping[str, Any]) -> dict[str, list[Table]]:
    """Every table of the results, grouped by the dossier section that shows it."""
    return {
        "identity": identity_tables(results),
        "summary": [endpoint_table(results)],
        "flow": flow_tables(results),
        "accuracy": accuracy_tables(results),
        "discrimination": discrimination_tables(results),
        "calibration": calibration_tables(results),
        "errors": error_tables(results),
        "subgroups": subgroup_tables(results),
        "comparisons": comparison_tables(results),
        "deviations": [deviation_table(results)],
    }
