"""The dossier's figures as deterministic SVG (matplotlib's SVG backend, no pyplot state).

Every figure draws values computed by the runner (:class:`validation.results.Results`); nothing is
estimated here, and every interval level in a legend or caption is the run's own. Determinism: fixed
``svg.hashsalt`` (one per figure, so that the ids of figures inlined into one HTML page never
collide), ``svg.fonttype = "none"`` (text stays text, no glyph ids), metadata without a date and
with a fixed creator; the same results give the same SVG bytes (REQ-REPRO-001).
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from validation.dossier.formatting import fmt_num
from validation.results import (
    Calibration,
    DecisionCurve,
    Discrimination,
    Histogram,
    Results,
    RiskCoverage,
    Subgroup,
)
from validation.results.words import level

__all__ = ["FigureSVG", "build_figures", "inline_svg"]

_CREATOR = "her2map validation dossier"
_PASS, _FAIL, _GREY, _BLUE, _ORANGE = "#1b7837", "#b2182b", "#777777", "#2166ac", "#e08214"


@dataclass(frozen=True, slots=True)
class FigureSVG:
    """One figure: id (file ``figures/<id>.svg``), caption, section it belongs to, SVG bytes."""

    id: str
    section: str
    caption: str
    svg: bytes

    @property
    def file_name(self) -> str:
        return f"figures/{self.id}.svg"


def _num(value: Any) -> float:
    """A JSON number or null as float (nan for null), for plotting only."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _nums(values: Sequence[Any] | None) -> list[float]:
    return [_num(v) for v in values or []]


def _render(fig_id: str, draw: Callable[[Figure], None], *, size: tuple[float, float]) -> bytes:
    rc: Any = {
        "svg.hashsalt": f"her2map-dossier-{fig_id}",
        "svg.fonttype": "none",
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "path.simplify": False,
    }
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=size, dpi=72)
        draw(fig)
        fig.tight_layout()
        out = io.BytesIO()
        FigureCanvasSVG(fig).print_svg(
            out, metadata={"Date": None, "Creator": _CREATOR, "Title": fig_id}
        )
    return _prefix_ids(out.getvalue(), fig_id)


def _prefix_ids(svg: bytes, prefix: str) -> bytes:
    """Prefix every id and reference with ``prefix-`` so that inlined figures never share ids.

    matplotlib names groups ``figure_1``, ``axes_1``, ... in every figure; inlined into one page
    those ids would repeat.
    """
    text = svg.decode("utf-8")
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    text = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{prefix}-\1"', text)
    return text.encode("utf-8")


def inline_svg(svg: bytes) -> str:
    """SVG bytes as an element for inlining into HTML (XML declaration and DOCTYPE removed)."""
    text = svg.decode("utf-8")
    text = re.sub(r"^<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    return text.strip()


def _roc(d: Discrimination, ci: str, point_label: str) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if d.band is not None:
            ax.fill_between(
                [1 - s for s in d.band.specificity],
                _nums(d.band.sens_low),
                _nums(d.band.sens_high),
                color=_BLUE,
                alpha=0.18,
                step=None,
                linewidth=0,
                label=f"{level(d.band.confidence)} CI band (sensitivity)",
            )
        if d.roc is not None:
            ax.plot(list(d.roc.fpr), list(d.roc.tpr), color=_BLUE, lw=1.6, label="ROC curve")
        ax.plot([0, 1], [0, 1], ls=":", color=_GREY, lw=1)
        op = d.operating_point
        if op is not None:
            ax.plot([op.fpr], [op.tpr], "o", color=_ORANGE, ms=7,
                    label=f"{point_label} {fmt_num(op.threshold, 3)}")  # fmt: skip
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.01),
            xlabel="1 − specificity",
            ylabel="Sensitivity",
            aspect="equal",
        )
        ax.legend(loc="lower right", frameon=False, fontsize=8)

    return draw


def _calibration(cal: Calibration, ci: str) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], ls=":", color=_GREY, lw=1, label="ideal")
        xs, ys, lo, hi = [], [], [], []
        for b in cal.bins:
            obs = b.observed
            if obs.estimate is None or b.mean_predicted is None:
                continue
            y = obs.estimate
            xs.append(b.mean_predicted)
            ys.append(y)
            lo.append(max(0.0, y - obs.ci_low) if obs.ci_low is not None else 0.0)
            hi.append(max(0.0, obs.ci_high - y) if obs.ci_high is not None else 0.0)
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", color=_BLUE, ms=4, capsize=2, lw=1,
                        label=f"observed by bin ({ci})")  # fmt: skip
        if cal.lowess.x:
            ax.plot(_nums(cal.lowess.x), _nums(cal.lowess.y), color=_ORANGE, lw=1.6, label="lowess")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="Predicted probability",
            ylabel="Observed proportion",
            aspect="equal",
        )
        ax.legend(loc="upper left", frameon=False, fontsize=8)

    return draw


def _risk_coverage(rc: RiskCoverage) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(list(rc.coverage), list(rc.risk), color=_BLUE, lw=1.6)
        ax.set(
            xlim=(0, 1),
            ylim=(0, None),
            xlabel="Coverage (fraction of calls kept)",
            ylabel="Risk (error rate among kept)",
        )

    return draw


def _histogram(h: Histogram) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        edges = list(h.edges)
        correct, wrong = [float(v) for v in h.correct], [float(v) for v in h.incorrect]
        if len(edges) >= 2 and len(correct) == len(edges) - 1 == len(wrong):
            lefts = edges[:-1]
            widths = [b - a for a, b in itertools.pairwise(edges)]
            ax.bar(lefts, correct, width=widths, align="edge", color=_BLUE, alpha=0.75,
                   edgecolor="white", label="correct")  # fmt: skip
            ax.bar(lefts, wrong, width=widths, align="edge", bottom=correct, color=_FAIL,
                   alpha=0.85, edgecolor="white", label="incorrect")  # fmt: skip
        ax.set(xlabel="Confidence of the call", ylabel="Patients")
        ax.legend(loc="upper left", frameon=False, fontsize=8)

    return draw


def _forest(sub: Subgroup, ci: str) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        rows = list(sub.rows)
        labels: list[str] = []
        y = len(rows) + 1
        for r in rows:
            res = r.result
            est = getattr(res, "estimate", None)
            if est is None:
                reason = getattr(res, "reason", None)
                ax.text(0.5, y, f"not estimable ({reason})" if reason else "not estimable",
                        transform=ax.get_yaxis_transform(), va="center", ha="center",
                        color=_GREY, fontsize=8)  # fmt: skip
            else:
                lo, hi = _num(getattr(res, "ci_low", None)), _num(getattr(res, "ci_high", None))
                if not (math.isnan(lo) or math.isnan(hi)):
                    ax.plot([lo, hi], [y, y], color="black", lw=1.2)
                ax.plot([est], [y], "s", color=_BLUE, ms=6)
            labels.append(f"{r.group} (n={r.n})")
            y -= 1
        ticks: list[float] = [float(t) for t in range(len(rows) + 1, 1, -1)]
        het = sub.heterogeneity
        if het is not None and het.pooled_back.estimate is not None:
            p = het.pooled_back
            est, lo, hi = float(het.pooled_back.estimate), _num(p.ci_low), _num(p.ci_high)
            ax.fill([lo, est, hi, est], [0.6, 0.85, 0.6, 0.35], color=_ORANGE)
            ax.axvline(est, ls="--", color=_ORANGE, lw=0.8)
            ticks.append(0.6)
            labels.append(f"pooled (random effects, {het.scale} scale)")
        ax.set_yticks(ticks, labels)
        ax.set_ylim(0, len(rows) + 2)
        ax.set_xlabel(f"{sub.metric.upper()} ({ci})")
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)

    return draw


def _decision(dc: DecisionCurve, comparator: str) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        t = list(dc.thresholds)
        for values, color, style, label in (
            (dc.model, _BLUE, "-", "model"),
            (dc.comparator, _ORANGE, "-", comparator),
            (dc.treat_all, _GREY, "--", "treat all"),
            (dc.treat_none, "black", ":", "treat none"),
        ):
            if values:
                ax.plot(t, _nums(values), style, color=color, lw=1.5, label=label)
        ax.set(xlabel="Threshold probability", ylabel="Net benefit")
        ax.legend(loc="upper right", frameon=False, fontsize=8)

    return draw


def build_figures(results: Results) -> list[FigureSVG]:
    """Every figure the results call for, in dossier order; sections absent give no figure."""
    ci = f"{level(results.settings.confidence)} CI"
    point = (
        "lock threshold" if results.settings.threshold_source == "lock" else "protocol threshold"
    )
    specs: list[tuple[str, str, str, Callable[[Figure], None], tuple[float, float]]] = []
    d = results.discrimination
    if d is not None and d.roc is not None:
        band = f"its {level(d.band.confidence)} bootstrap band" if d.band is not None else "no band"
        specs.append(
            ("roc", "discrimination",
             f"ROC curve with {band} and the operating point ({point}).",
             _roc(d, ci, point), (4.6, 4.4))
        )  # fmt: skip
    cal = results.calibration
    if cal is not None:
        specs.append(
            ("calibration", "calibration",
             f"Calibration: observed proportion by bin of predicted probability ({ci}) and the "
             "lowess curve.", _calibration(cal, ci), (4.6, 4.4))
        )  # fmt: skip
    ea = results.error_analysis
    if ea is not None:
        if ea.risk_coverage.coverage:
            specs.append(
                ("risk_coverage", "errors",
                 "Risk–coverage: error rate among the calls kept when the least confident are "
                 "set aside.", _risk_coverage(ea.risk_coverage), (4.6, 3.4))
            )  # fmt: skip
        specs.append(
            ("confidence_histogram", "errors", "Confidence of the calls, correct and incorrect.",
             _histogram(ea.histogram), (4.6, 3.4))
        )  # fmt: skip
    for sub in results.subgroups:
        sid = re.sub(r"[^a-z0-9]+", "_", sub.id.lower()).strip("_")
        n = len(sub.rows)
        pooled = (
            f" and the pooled random-effects estimate ({sub.heterogeneity.interval})"
            if sub.heterogeneity is not None and sub.heterogeneity.pooled_back.estimate is not None
            else ""
        )
        specs.append(
            (f"forest_{sid}", "subgroups",
             f"Forest plot: {sub.metric} by {sub.column} ({ci}){pooled}.",
             _forest(sub, ci), (6.2, 1.2 + 0.38 * (n + 2)))
        )  # fmt: skip
    for comp in results.comparisons:
        if comp.decision_curve is not None:
            cid = re.sub(r"[^a-z0-9]+", "_", comp.id.lower()).strip("_")
            specs.append(
                (f"decision_curve_{cid}", "comparisons",
                 f"Decision curve ({comp.outcome}): net benefit of model, {comp.comparator}, "
                 "treat all and treat none.",
                 _decision(comp.decision_curve, comp.comparator), (5.2, 3.6))
            )  # fmt: skip
    return [
        FigureSVG(fid, section, caption, _render(fid, draw, size=size))
        for fid, section, caption, draw, size in specs
    ]
