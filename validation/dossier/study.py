"""Tables of the study design the dossier shows: planned versus achieved sample size, comparisons
within strata, and the confounding statements the runner derived from the data.

Nothing is computed here: every number is a field of :class:`validation.results.Results` (the
required n and its assumptions were computed when the protocol was registered; the achieved n and
interval widths by the runner; the confounding sentence by the runner from the comparator values
it saw in each stratum).
"""

from __future__ import annotations

from typing import Any

from validation.dossier.formatting import fmt_num
from validation.dossier.tables import Table, ci_label, make_table
from validation.results import Comparison, PlannedCounts, Results, Stratum
from validation.results.words import decimal, level

__all__ = ["confounding_statements", "sample_size_tables", "strata_tables"]


def _assumptions(values: dict[str, Any]) -> str:
    """As registered, not rounded; a float as the protocol states it (``alpha 0.025``, not the
    binary noise of ``(1 - 0.95) / 2``)."""
    return "; ".join(f"{k} {decimal(v) if isinstance(v, float) else v}" for k, v in values.items())


def _counts(counts: PlannedCounts) -> str:
    """``n (positives + / negatives −)``, as the planned and the achieved size are shown."""
    return f"{counts.n_total} ({counts.n_positive} + / {counts.n_negative} −)"


def sample_size_tables(results: Results) -> list[Table]:
    """Planned (registered assumptions, required n) versus achieved n and precision."""
    if not results.sample_size:
        return []
    conf = level(results.settings.confidence)
    rows = [
        (
            p.id,
            p.method,
            _assumptions(p.assumptions),
            p.null,
            _counts(p.required),
            p.power,
            _counts(p.achieved),
            "yes" if p.reached else "NO — fewer patients than planned",
            p.ci_width,
        )
        for p in results.sample_size
    ]
    return [
        make_table(
            "sample_size",
            "Planned versus achieved sample size (primary endpoints)",
            [
                ("analysis", "Analysis", "code"),
                ("method", "Calculation", "text"),
                ("assumptions", "Registered assumptions", "text"),
                ("null", "Null (criterion bound)", "num"),
                ("required", "Required n (positives / negatives)", "text"),
                ("planned_power", "Power at required n", "num"),
                ("achieved", "Achieved n (positives / negatives)", "text"),
                ("reached", "Planned n reached", "text"),
                ("ci_width", f"Achieved precision ({conf} interval width)", "num"),
            ],
            rows,
            note="A criterion not met with fewer patients than planned is an underpowered result, "
            "not evidence that the device fails; the required n was computed from the assumptions "
            "when the protocol was registered. For an error rate, + counts the patients it counts.",
        )
    ]


def _measures(c: Comparison, s: Stratum) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if s.auc_difference is not None:
        d = s.auc_difference
        out.append((f"AUC {c.score} {fmt_num(d.estimate_a)}, {c.comparator} "
                    f"{fmt_num(d.estimate_b)}; difference", d))  # fmt: skip
    if s.mcnemar is not None:
        mc = s.mcnemar
        out.append((f"McNemar: model only right {mc.model_only}, {c.comparator} only right "
                    f"{mc.comparator_only}; p", mc.test.p_value))  # fmt: skip
    if s.kappa is not None:
        out.append(("kappa", s.kappa))
    if s.decision_curve is not None:
        dc = s.decision_curve
        pairs = ", ".join(
            f"{fmt_num(t)}: {fmt_num(a)} vs {fmt_num(b)}"
            for t, a, b in zip(dc.thresholds, dc.model, dc.comparator, strict=True)
        )
        out.append((f"net benefit at threshold, {c.score} vs {c.comparator}: {pairs}", None))
    if not out:
        out.append((s.reason or "not estimable", None))
    return out


def strata_tables(results: Results) -> list[Table]:
    """Each stratified comparison within every level of its strata column (descriptive)."""
    rows = [
        (c.id, c.strata_column, s.level, s.n, measure, value)
        for c in results.comparisons
        for s in c.strata
        for measure, value in _measures(c, s)
    ]
    if not rows:
        return []
    return [
        make_table(
            "comparison_strata",
            "Model versus comparator within each stratum (descriptive, no verdict)",
            [
                ("comparison", "Comparison", "code"),
                ("strata", "Stratified by", "code"),
                ("level", "Level", "text"),
                ("n", "n", "int"),
                ("measure", "Measure", "text"),
                ("estimate", f"Estimate ({ci_label(results)})", "est"),
            ],
            rows,
        )
    ]


def confounding_statements(results: Results) -> list[str]:
    """The runner's confounding sentences, each once, in comparison order."""
    seen: list[str] = []
    for c in results.comparisons:
        if c.confounding is not None and c.confounding.statement not in seen:
            seen.append(c.confounding.statement)
    return seen
