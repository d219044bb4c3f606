"""Typed results -> the dossier's tables, one :class:`Table` serving both the HTML and the CSV.

Each builder lays out values that the runner computed (:class:`validation.results.Results`);
nothing is calculated here except counts that are sums of given counts (the 2x2 margins). Every
interval's level in a header is the run's own (``settings.confidence``). A column's ``kind`` tells
the template how to show a cell (``formatting._cell``) and the CSV writer how to spell it: an
``est`` column (an estimate) becomes four CSV columns ``<key>``, ``<key>_ci_low``,
``<key>_ci_high``, ``<key>_reason``; every number is written at full precision.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from validation.dossier.formatting import csv_value, fmt_num
from validation.results import (
    Comparison,
    DifferenceValue,
    EstimateValue,
    Judgement,
    Results,
    TestValue,
)
from validation.results.words import criterion_words, level

__all__ = [
    "Column",
    "Table",
    "build_tables",
    "ci_label",
    "html_cells",
    "make_table",
    "table_csv",
    "threshold_words",
]


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
                if isinstance(value, EstimateValue | DifferenceValue):
                    parts = (value.estimate, value.ci_low, value.ci_high, value.reason)
                else:
                    parts = (value, None, None, None)
                cells += [csv_value(v) for v in parts]
            else:
                cells.append(csv_value(value))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "x"


def ci_label(results: Results) -> str:
    """The run's own interval level as a column header says it, e.g. ``95% CI``."""
    return f"{level(results.settings.confidence)} CI"


def threshold_words(results: Results) -> str:
    """Where the decision threshold came from, in words (the model lock, or the protocol)."""
    settings, model = results.settings, results.identity.model
    if settings.threshold_source == "lock":
        return f"the threshold of model lock {model.name} {model.version}"
    if model.kind == "external":
        return "the threshold fixed by the protocol (external model)"
    return "the threshold fixed by the protocol"


def identity_tables(results: Results) -> list[Table]:
    ident = results.identity
    p, m, settings = ident.protocol, ident.model, results.settings
    rows: list[tuple[str, str, Any]] = [
        ("protocol", "Protocol id", p.id),
        ("protocol", "Version", p.version),
        ("protocol", "Title", p.title),
        ("protocol", "File", p.file_name),
        ("protocol", "Canonical hash (sha256)", p.hash),
        ("protocol", "Registration: ledger entry", p.registration.seq),
        ("protocol", "Registration: entry hash", p.registration.entry_hash),
    ]
    for a in p.amendments:
        rows.append(("protocol", f"Amendment: ledger entry {a.seq}", a.entry_hash))
    if m.kind == "locked":
        rows += [
            ("model", "Model (locked, lock verified at load)", f"{m.name} {m.version}"),
            ("model", "Lock hash (sha256)", m.lock_hash),
            ("model", "Decision threshold in the lock", m.lock_threshold),
        ]
    else:
        rows += [
            ("model", "Model", "external (predictions table only; no lock verified)"),
            ("model", "Lock hash stated by the predictions table", m.lock_hash),
        ]
    if m.response_lock_hash is not None:
        rows.append(
            ("model", "Response model lock (score_pcr), as the predictions table states it",
             m.response_lock_hash)
        )  # fmt: skip
    for name, entry in (("predictions", ident.data.predictions), ("labels", ident.data.labels)):
        rows.append(("data", f"{name}: file", entry.name))
        rows.append(("data", f"{name}: rows", entry.rows))
        rows.append(("data", f"{name}: sha256", entry.sha256))
    rows += [
        ("settings", "Confidence (two-sided interval level)", settings.confidence),
        ("settings", "One-sided level of each criterion (alpha)", f"{settings.alpha:.6g}"),
        ("settings", "Decision threshold used", settings.threshold),
        ("settings", "Threshold origin", threshold_words(results)),
        ("settings", "Reference standard", settings.reference),
        ("settings", "Unit of analysis", settings.unit),
    ]
    boot = settings.bootstrap
    rows += [
        ("settings", "Bootstrap replicates", boot.replicates),
        ("settings", "Bootstrap seed", boot.seed),
        ("settings", "Bootstrap cluster", boot.cluster),
        ("settings", "Bootstrap method", boot.method),
    ]
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
            [(s.name, s.version) for s in ident.software],
        ),
    ]


#: What a criterion without a one-sided test of its own compares, by the quantity it reads (the
#: first word of the criterion, :mod:`validation.protocol.criteria`).
_COMPARED = {
    "estimate": "the point estimate against the criterion (no p-value)",
    "ci_low": "the interval's lower bound against the criterion (no p-value)",
    "ci_high": "the interval's upper bound against the criterion (no p-value)",
    "p_value": "the analysis's own p-value against the criterion",
    "statistic": "the test statistic against the criterion (no p-value)",
}


def _decided_by(j: Judgement) -> str:
    """What decided the verdict, in words: the one-sided test of the criterion, or else the
    quantity the criterion reads (a p-value criterion is decided by the analysis's own p)."""
    if j.criterion is None:
        return "no criterion (descriptive)"
    if j.multiplicity.test is not None:
        return j.multiplicity.test
    return _COMPARED[j.criterion.split(" ", 1)[0]]


def endpoint_table(results: Results) -> Table:
    conf = results.settings.confidence
    rows = []
    for e in results.endpoints:
        j = e.judgement
        mult = j.multiplicity
        rows.append(
            (
                e.id,
                e.description,
                e.metric,
                j.role,
                e.result if not isinstance(e.result, TestValue) else e.result.p_value,
                None if j.criterion is None else criterion_words(j.criterion, conf),
                j.verdict,
                j.hierarchy,
                j.family,
                mult.procedure,
                _decided_by(j),
                mult.p_value,
                mult.adjusted_p,
                mult.outcome,
                j.reason,
            )
        )
    return make_table(
        "endpoints",
        "Pre-registered endpoints",
        [
            ("id", "Endpoint", "code"),
            ("description", "Description", "text"),
            ("metric", "Metric", "code", False),
            ("role", "Role", "text"),
            ("result", f"Estimate ({ci_label(results)})", "est"),
            ("criterion", "Criterion", "text"),
            ("verdict", "Verdict", "verdict"),
            ("hierarchy", "Order", "text"),
            ("family", "Family", "text"),
            ("procedure", "Multiplicity", "text"),
            ("test", "Decided by", "text", False),
            ("p_value", "p (decided the verdict)", "p"),
            ("adjusted_p", "Adjusted p", "p"),
            ("outcome", "Hypothesis", "text"),
            ("reason", "Reason", "text"),
        ],
        rows,
        note=(
            f"Each criterion reads a bound of a two-sided {level(conf)} interval, i.e. a one-sided "
            f"test at alpha = {fmt_num(results.settings.alpha, 4)}; the p-value shown is that "
            "one-sided test's (test named in the CSV column 'test'), empty where the criterion "
            "reads a point estimate."
        ),
    )


def flow_tables(results: Results) -> list[Table]:
    flow = results.flow
    return [
        make_table(
            "flow_exclusions",
            "Exclusions by reason",
            [("reason", "Reason", "text"), ("n", "Patients", "int")],
            [(x.reason, x.n) for x in flow.exclusions],
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
            [(s.site, s.assessed, s.excluded, s.analysed, s.n_pos, s.n_neg) for s in flow.by_site],
        ),
    ]


def accuracy_tables(results: Results) -> list[Table]:
    tables = []
    c = results.confusion
    at = threshold_words(results)
    if c is not None:
        tp, fp, fn, tn = c.tp, c.fp, c.fn, c.tn
        tables.append(
            make_table(
                "confusion_2x2",
                "2×2 table at the operating point",
                [
                    ("index_test", "Model call", "text"),
                    ("reference_pos", "Reference positive", "int"),
                    ("reference_neg", "Reference negative", "int"),
                    ("total", "Total", "int"),
                ],
                [
                    ("Model positive", tp, fp, tp + fp),
                    ("Model negative", fn, tn, fn + tn),
                    ("Total", tp + fn, fp + tn, tp + fp + fn + tn),
                ],
                note=f"Called positive when score ≥ {fmt_num(c.threshold, 4)}, {at} (exact value "
                "in the identity section).",
            )
        )
    diag = results.diagnostic
    if diag is not None:
        named = [
            (k, getattr(diag, k)) for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy")
        ]
        tables.append(
            make_table(
                "diagnostic",
                "Diagnostic accuracy at the operating point",
                [
                    ("measure", "Measure", "text"),
                    ("result", f"Estimate ({ci_label(results)})", "est"),
                    ("n", "n", "int"),
                    ("method", "Interval", "text"),
                ],
                [(k, v, v.n, v.method) for k, v in named],
            )
        )
    return tables


def discrimination_tables(results: Results) -> list[Table]:
    d = results.discrimination
    if d is None:
        return []
    rows: list[tuple[Any, ...]] = [("AUC", d.auc, d.auc.method)]
    op = d.operating_point
    if op is not None:
        rows += [
            ("Operating point: false-positive rate", op.fpr, None),
            ("Operating point: true-positive rate", op.tpr, None),
            ("Operating point: threshold", op.threshold, threshold_words(results)),
        ]
    return [
        make_table(
            "discrimination",
            "Discrimination",
            [
                ("measure", "Measure", "text"),
                ("value", f"Estimate ({ci_label(results)})", "est"),
                ("method", "Method", "text"),
            ],
            rows,
        )
    ]


def calibration_tables(results: Results) -> list[Table]:
    cal = results.calibration
    if cal is None:
        return []
    hl = cal.hosmer_lemeshow
    rows: list[tuple[str, Any]] = [
        ("Calibration intercept (in the large)", cal.intercept),
        ("Calibration slope", cal.slope),
        ("Brier score", cal.brier),
        ("Expected calibration error (10 bins)", cal.ece),
        ("Integrated calibration index", cal.ici),
        ("E50", cal.e50),
        ("E90", cal.e90),
        ("Emax", cal.emax),
        ("Spiegelhalter z", cal.spiegelhalter_z),
        ("Spiegelhalter p", cal.spiegelhalter_p),
        ("Hosmer–Lemeshow statistic", hl.statistic),
        ("Hosmer–Lemeshow df", hl.df),
        ("Hosmer–Lemeshow p", hl.p_value),
    ]
    return [
        make_table(
            "calibration",
            "Calibration",
            [("measure", "Measure", "text"), ("value", f"Estimate ({ci_label(results)})", "est")],
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
                ("observed", f"Observed ({ci_label(results)})", "est"),
            ],
            [(b.lower, b.upper, b.n, b.mean_predicted, b.observed) for b in cal.bins],
        ),
    ]


def error_tables(results: Results) -> list[Table]:
    ea = results.error_analysis
    if ea is None:
        return []
    hc, rc, ci = ea.high_confidence, ea.risk_coverage, ci_label(results)
    origin = (
        "set by the protocol"
        if hc.threshold_source == "protocol"
        else "default; the protocol sets none"
    )
    summary: list[tuple[str, Any]] = [
        ("Error rate (all calls)", ea.error_rate),
        ("Confidence-weighted error rate", ea.confidence_weighted_error_rate),
        (f"Error rate when confidence ≥ {fmt_num(hc.threshold)} ({origin})", hc.error_rate),
        ("High-confidence calls", hc.n),
        ("High-confidence errors", hc.errors),
        ("AURC (area under risk–coverage)", rc.aurc),
        ("Excess AURC (E-AURC)", rc.eaurc),
    ]
    return [
        make_table(
            "error_summary",
            "Confidence-weighted error analysis",
            [("measure", "Measure", "text"), ("value", f"Estimate ({ci})", "est")],
            summary,
            note=f"Confidence: {ea.confidence_definition}",
        ),
        make_table(
            "error_bins",
            "Error rate by confidence bin",
            [
                ("lower", "Confidence from", "num"),
                ("upper", "to", "num"),
                ("n", "n", "int"),
                ("errors", "Errors", "int"),
                ("error_rate", f"Error rate ({ci})", "est"),
            ],
            [(b.lower, b.upper, b.n, b.errors, b.error_rate) for b in ea.bins],
        ),
        make_table(
            "high_confidence_errors",
            "High-confidence errors (pseudonymous ids)",
            [("patient_id", "Patient (pseudonymous id)", "code")],
            [(pid,) for pid in hc.ids],
        ),
        make_table(
            "referral",
            "Referral policy: least confident calls take the biopsy call",
            [
                ("fraction", "Referred fraction", "pct"),
                ("n_referred", "Referred", "int"),
                ("sensitivity", f"Sensitivity ({ci})", "est"),
                ("specificity", f"Specificity ({ci})", "est"),
                ("error_rate", f"Error rate ({ci})", "est"),
            ],
            [
                (r.fraction, r.n_referred, r.sensitivity, r.specificity, r.error_rate)
                for r in ea.referral
            ],
            note=ea.referral_reason,
        ),
    ]


def _row_result(result: Any, verdict: str) -> tuple[Any, str | None]:
    """A subgroup row's estimate, and its verdict only where there is an estimate to judge."""
    if isinstance(result, EstimateValue | DifferenceValue) and result.estimate is None:
        return result, None
    return result, verdict


def _too_small(min_size: int, min_events: int) -> str:
    """The sentence of the subgroup rule as the protocol set it (a minimum of 0 is no rule)."""
    rules = [f"fewer than {min_size} patient{'s' * (min_size != 1)}"] if min_size > 0 else []
    if min_events > 0:
        plural = "s" * (min_events != 1)
        rules.append(f"fewer than {min_events} positive{plural} or negative{plural}")
    which = ", or ".join(rules) + ("," if len(rules) > 1 else "")
    text = f"A group with {which} is not estimated and has no verdict" if rules else ""
    if min_events <= 0:
        text += ("; t" if text else "T") + (
            "he protocol sets no minimum number of positives or negatives (min_events 0)"
        )
    return text + "."


def subgroup_tables(results: Results) -> list[Table]:
    tables = []
    het_rows: list[tuple[Any, ...]] = []
    ci = ci_label(results)
    conf = results.settings.confidence
    for sub in results.subgroups:
        rows = []
        for r in sub.rows:
            value, verdict = _row_result(r.result, r.verdict)
            rows.append(
                (r.group, r.n, r.n_pos, r.n_neg, value, verdict, r.reason if verdict else None)
            )
        crit = (
            "none (descriptive)" if sub.criterion is None else criterion_words(sub.criterion, conf)
        )
        tables.append(
            make_table(
                f"subgroup_{_slug(sub.id)}",
                f"Subgroups by {sub.column}: {sub.metric}",
                [
                    ("group", "Group", "text"),
                    ("n", "n", "int"),
                    ("n_pos", "Positive", "int"),
                    ("n_neg", "Negative", "int"),
                    ("result", f"Estimate ({ci})", "est"),
                    ("verdict", "Verdict", "verdict"),
                    ("reason", "Reason", "text"),
                ],
                rows,
                note=(
                    f"{sub.id}: criterion {crit} in every group; analysis verdict {sub.verdict}"
                    + (f" ({sub.verdict_reason})" if sub.verdict_reason else "")
                    + f". {_too_small(sub.min_size, sub.min_events)}"
                ),
            )
        )
        h = sub.heterogeneity
        if h is not None:
            het_rows.append(
                (sub.id, f"{h.method}, {h.scale} scale", h.pooled_back, h.q,
                 None if h.q is None else h.df,  # Q's degrees of freedom, only beside a Q
                 h.p_value, h.i2, h.tau2, h.reason or h.interval)
            )  # fmt: skip
        else:
            het_rows.append(
                (sub.id, None, None, None, None, None, None, None,
                 "no heterogeneity analysis in the protocol for this subgroup")
            )  # fmt: skip
    if tables:
        tables.append(
            make_table(
                "heterogeneity",
                "Heterogeneity across subgroups (random effects)",
                [
                    ("subgroup", "Subgroups", "code"),
                    ("method", "Method", "text"),
                    ("pooled", f"Pooled ({ci})", "est"),
                    ("q", "Q", "num"),
                    ("df", "df", "int"),
                    ("p_value", "p", "p"),
                    ("i2", "I² (%)", "percent"),
                    ("tau2", "τ² (pooling scale)", "num"),
                    ("reason", "How the interval was made", "text"),
                ],
                het_rows,
            )
        )
    return tables


def _comparison_row(
    c: Comparison,
    measure: str,
    estimate: Any = None,
    *,
    statistic: float | None = None,
    p_value: float | None = None,
    p_test: str | None = None,
    method: str | None = None,
) -> tuple[Any, ...]:
    """One row of the ``comparisons`` table in its column order; a column not given stays empty.

    Kappa compares two calls, not either with an outcome: its Outcome cell says so (the results'
    ``outcome`` of a kappa is the reference standard, which only selects the analysed patients)."""
    outcome = (
        f"none (agreement of the {c.score} call and the {c.comparator} call)"
        if c.method == "kappa"
        else c.outcome
    )
    return (c.id, outcome, measure, estimate, statistic, p_value, p_test, method)


def comparison_tables(results: Results) -> list[Table]:
    comps = results.comparisons
    if not comps:
        return []
    ci, conf = ci_label(results), results.settings.confidence
    rows: list[tuple[Any, ...]] = []
    verdicts: list[tuple[Any, ...]] = []
    for c in comps:
        j = c.judgement
        decided = _decided_by(j)
        p_shown, p_words = j.multiplicity.p_value, decided
        descriptive = " (descriptive: no criterion)" if j.criterion is None else ""
        if c.auc_difference is not None:
            d = c.auc_difference
            # z and p of the difference are the contract's test of "no difference" (two-sided);
            # the criterion's one-sided p has its own row, with no statistic beside it.
            rows += [
                _comparison_row(c, f"AUC of the model ({c.score})", d.estimate_a, method=d.method),
                _comparison_row(c, f"AUC of {c.comparator}", d.estimate_b, method=d.method),
                _comparison_row(
                    c,
                    f"AUC difference (model − {c.comparator})",
                    d,
                    statistic=d.statistic,
                    p_value=d.p_value,
                    p_test=None
                    if d.p_value is None
                    else f"two-sided z test ({d.method} se), H0: difference = 0{descriptive}",
                    method=d.method,
                ),
            ]
            if p_shown is not None:
                rows.append(
                    _comparison_row(
                        c,
                        f"AUC difference: the criterion's test "
                        f"({criterion_words(j.criterion or '', conf)})",
                        p_value=p_shown,
                        p_test=p_words,
                        method=d.method,
                    )
                )
        if c.mcnemar is not None:
            mc = c.mcnemar
            test = "exact McNemar test" if mc.test.method == "mcnemar-exact" else mc.test.method
            rows.append(
                _comparison_row(
                    c,
                    f"McNemar: model right, {c.comparator} wrong {mc.model_only}; {c.comparator} "
                    f"right, model wrong {mc.comparator_only} (both right {mc.both_right}, both "
                    f"wrong {mc.both_wrong})",
                    statistic=mc.test.statistic,
                    p_value=mc.test.p_value,
                    p_test=None if mc.test.p_value is None else f"{test}, two-sided{descriptive}",
                    method=mc.test.method,
                )
            )
        if c.kappa is not None:
            rows.append(
                _comparison_row(
                    c,
                    f"Agreement of the calls (kappa, model vs {c.comparator})",
                    c.kappa,
                    p_value=p_shown,
                    p_test=p_words,
                    method=c.kappa.method,
                )
            )
        if c.decision_curve is not None:
            rows.append(_comparison_row(c, "Decision curve (net benefit)", "see the figure"))
        if c.reason is not None and all(
            v is None for v in (c.auc_difference, c.mcnemar, c.kappa, c.decision_curve)
        ):
            rows.append(_comparison_row(c, c.method, c.reason))
        verdicts.append(
            (c.id, c.description, j.role,
             None if j.criterion is None else criterion_words(j.criterion, conf),
             j.verdict, j.multiplicity.p_value, decided, j.reason)
        )  # fmt: skip
    return [
        make_table(
            "comparisons",
            "Model versus comparator",
            [
                ("comparison", "Comparison", "code"),
                ("outcome", "Outcome", "text"),
                ("measure", "Measure", "text"),
                ("estimate", f"Estimate ({ci})", "est"),
                ("statistic", "Statistic", "num"),
                ("p_value", "p", "p"),
                ("p_test", "p from", "text"),
                ("method", "Method", "text"),
            ],
            rows,
        ),
        make_table(
            "comparison_verdicts",
            "Model versus comparator: pre-registered criteria",
            [
                ("comparison", "Comparison", "code"),
                ("description", "Description", "text"),
                ("role", "Role", "text"),
                ("criterion", "Criterion", "text"),
                ("verdict", "Verdict", "verdict"),
                ("p_value", "p (decided the verdict)", "p"),
                ("p_test", "p from", "text"),
                ("reason", "Reason", "text"),
            ],
            verdicts,
        ),
    ]


def deviation_table(results: Results) -> Table:
    return make_table(
        "deviations",
        "Protocol deviations and amendments",
        [
            ("kind", "Kind", "text"),
            ("seq", "Ledger entry", "int"),
            ("reason", "Reason", "text"),
            ("protocol_hash", "Protocol hash after", "hash"),
        ],
        [(d.kind, d.seq, d.reason, d.protocol_hash) for d in results.deviations],
    )


def build_tables(results: Results) -> dict[str, list[Table]]:
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
