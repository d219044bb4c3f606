"""The dossier's figures as deterministic SVG (matplotlib's SVG backend, no pyplot state).

Every figure draws values computed by the runner; nothing is estimated here. Determinism: fixed
``svg.hashsalt`` (one per figure, so that the ids of figures inlined into one HTML page never
collide), ``svg.fonttype = "none"`` (text stays text, no glyph ids), metadata without a date and
with a fixed creator; the same results give the same SVG bytes (REQ-REPRO-001).
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from validation.dossier.formatting import fmt_num

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


def _roc(d: Mapping[str, Any]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        band = d.get("band") or {}
        if band.get("specificity"):
            x = [1 - s for s in _nums(band["specificity"])]
            ax.fill_between(
                x,
                _nums(band.get("sens_low")),
                _nums(band.get("sens_high")),
                color=_BLUE,
                alpha=0.18,
                step=None,
                linewidth=0,
                label="95% CI band (sensitivity)",
            )
        roc = d.get("roc") or {}
        ax.plot(
            _nums(roc.get("fpr")),
            _nums(roc.get("tpr")),
            color=_BLUE,
            lw=1.6,
            drawstyle="default",
            label="ROC curve",
        )
        ax.plot([0, 1], [0, 1], ls=":", color=_GREY, lw=1)
        op = d.get("operating_point")
        if op:
            ax.plot(
                [_num(op.get("fpr"))],
                [_num(op.get("tpr"))],
                "o",
                color=_ORANGE,
                ms=7,
                label=f"locked threshold {fmt_num(op.get('threshold'), 3)}",
            )
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.01),
            xlabel="1 − specificity",
            ylabel="Sensitivity",
            aspect="equal",
        )
        ax.legend(loc="lower right", frameon=False, fontsize=8)

    return draw


def _calibration(cal: Mapping[str, Any]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], ls=":", color=_GREY, lw=1, label="ideal")
        xs, ys, lo, hi = [], [], [], []
        for b in cal.get("bins") or []:
            obs = b.get("observed") or {}
            if obs.get("estimate") is None or b.get("mean_predicted") is None:
                continue
            y = _num(obs["estimate"])
            xs.append(_num(b["mean_predicted"]))
            ys.append(y)
            lo.append(
                max(0.0, y - _num(obs.get("ci_low"))) if obs.get("ci_low") is not None else 0.0
            )
            hi.append(
                max(0.0, _num(obs.get("ci_high")) - y) if obs.get("ci_high") is not None else 0.0
            )
        if xs:
            ax.errorbar(
                xs,
                ys,
                yerr=[lo, hi],
                fmt="o",
                color=_BLUE,
                ms=4,
                capsize=2,
                lw=1,
                label="observed by bin (95% CI)",
            )
        lw = cal.get("lowess") or {}
        if lw.get("x"):
            ax.plot(_nums(lw["x"]), _nums(lw.get("y")), color=_ORANGE, lw=1.6, label="lowess")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="Predicted probability",
            ylabel="Observed proportion",
            aspect="equal",
        )
        ax.legend(loc="upper left", frameon=False, fontsize=8)

    return draw


def _risk_coverage(rc: Mapping[str, Any]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.plot(_nums(rc.get("coverage")), _nums(rc.get("risk")), color=_BLUE, lw=1.6)
        ax.set(
            xlim=(0, 1),
            ylim=(0, None),
            xlabel="Coverage (fraction of calls kept)",
            ylabel="Risk (error rate among kept)",
        )

    return draw


def _histogram(h: Mapping[str, Any]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        edges = _nums(h.get("edges"))
        correct, wrong = _nums(h.get("correct")), _nums(h.get("incorrect"))
        if len(edges) >= 2 and len(correct) == len(edges) - 1 == len(wrong):
            lefts = edges[:-1]
            widths = [b - a for a, b in itertools.pairwise(edges)]
            ax.bar(
                lefts,
                correct,
                width=widths,
                align="edge",
                color=_BLUE,
                alpha=0.75,
                edgecolor="white",
                label="correct",
            )
            ax.bar(
                lefts,
                wrong,
                width=widths,
                align="edge",
                bottom=correct,
                color=_FAIL,
                alpha=0.85,
                edgecolor="white",
                label="incorrect",
            )
        ax.set(xlabel="Confidence of the call", ylabel="Patients")
        ax.legend(loc="upper left", frameon=False, fontsize=8)

    return draw


def _forest(sub: Mapping[str, Any]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        rows = list(sub.get("rows") or [])
        labels: list[str] = []
        y = len(rows) + 1
        for r in rows:
            res = r.get("result") or {}
            label = f"{r.get('group')} (n={r.get('n')})"
            if res.get("estimate") is None:
                ax.text(
                    0.5,
                    y,
                    "not estimable",
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    ha="center",
                    color=_GREY,
                    fontsize=8,
                )
            else:
                est = _num(res["estimate"])
                lo, hi = _num(res.get("ci_low")), _num(res.get("ci_high"))
                if not (math.isnan(lo) or math.isnan(hi)):
                    ax.plot([lo, hi], [y, y], color="black", lw=1.2)
                ax.plot([est], [y], "s", color=_BLUE, ms=6)
            labels.append(label)
            y -= 1
        ticks: list[float] = [float(t) for t in range(len(rows) + 1, 1, -1)]
        pooled = (sub.get("heterogeneity") or {}).get("pooled") or {}
        if pooled.get("estimate") is not None:
            est = _num(pooled["estimate"])
            lo, hi = _num(pooled.get("ci_low")), _num(pooled.get("ci_high"))
            ax.fill([lo, est, hi, est], [0.6, 0.85, 0.6, 0.35], color=_ORANGE)
            ax.axvline(est, ls="--", color=_ORANGE, lw=0.8)
            ticks.append(0.6)
            labels.append("pooled (random effects)")
        ax.set_yticks(ticks, labels)
        ax.set_ylim(0, len(rows) + 2)
        ax.set_xlabel(str(sub.get("metric", "estimate")).upper() + " (95% CI)")
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)

    return draw


def _decision(dc: Mapping[str, Any]) -> Callable[[Figure], None]:
    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        t = _nums(dc.get("thresholds"))
        for key, color, style in (
            ("model", _BLUE, "-"),
            ("biopsy", _ORANGE, "-"),
            ("treat_all", _GREY, "--"),
            ("treat_none", "black", ":"),
        ):
            if dc.get(key):
                ax.plot(t, _nums(dc[key]), style, color=color, lw=1.5, label=key.replace("_", " "))
        ax.set(xlabel="Threshold probability", ylabel="Net benefit")
        ax.legend(loc="upper right", frameon=False, fontsize=8)

    return draw


def build_figures(results: Mapping[str, Any]) -> list[FigureSVG]:
    """Every figure the results call for, in dossier order; sections absent give no figure."""
    specs: list[tuple[str, str, str, Callable[[Figure], None], tuple[float, float]]] = []
    d = results.get("discrimination")
    if d and (d.get("roc") or {}).get("fpr"):
        specs.append(
            (
                "roc",
                "discrimination",
                "ROC curve with its 95% bootstrap band and the locked operating point.",
                _roc(d),
                (4.6, 4.4),
            )
        )
    cal = results.get("calibration")
    if cal:
        specs.append(
            (
                "calibration",
                "calibration",
                "Calibration: observed proportion by bin of predicted probability (95% "
                "CI) and the lowess curve.",
                _calibration(cal),
                (4.6, 4.4),
            )
        )
    ea = results.get("error_analysis")
    if ea:
        if (ea.get("risk_coverage") or {}).get("coverage"):
            specs.append(
                (
                    "risk_coverage",
                    "errors",
                    "Risk–coverage: error rate among the calls kept when the least "
                    "confident are set aside.",
                    _risk_coverage(ea["risk_coverage"]),
                    (4.6, 3.4),
                )
            )
        if ea.get("histogram"):
            specs.append(
                (
                    "confidence_histogram",
                    "errors",
                    "Confidence of the calls, correct and incorrect.",
                    _histogram(ea["histogram"]),
                    (4.6, 3.4),
                )
            )
    for sub in results.get("subgroups") or []:
        sid = re.sub(r"[^a-z0-9]+", "_", str(sub.get("id")).lower()).strip("_")
        n = len(sub.get("rows") or [])
        specs.append(
            (
                f"forest_{sid}",
                "subgroups",
                f"Forest plot: {sub.get('metric')} by {sub.get('column')} with the "
                "pooled random-effects estimate where computed.",
                _forest(sub),
                (6.2, 1.2 + 0.38 * (n + 2)),
            )
        )
    for comp in results.get("comparisons") or []:
        if comp.get("decision_curve"):
            cid = re.sub(r"[^a-z0-9]+", "_", str(comp.get("id")).lower()).strip("_")
            specs.append(
                (
                    f"decision_curve_{cid}",
                    "comparisons",
                    f"Decision curve ({comp.get('outcome')}): net benefit of model, "
                    "biopsy, treat all and treat none.",
                    _decision(comp["decision_curve"]),
                    (5.2, 3.6),
                )
            )
    return [
        FigureSVG(fid, section, caption, _render(fid, draw, size=size))
        for fid, section, caption, draw, size in specs
    ]
