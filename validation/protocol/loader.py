"""Protocol YAML -> validated :class:`~validation.protocol.model.Protocol`.

Every rejection is a :class:`ProtocolError` whose message starts with the key path
(``endpoints[2].criterion``), says what was expected and what was found, and suggests the nearest
valid key or metric (``difflib.get_close_matches``). No ``eval``: rules and criteria are data.

Schema (``*`` = required; defaults in brackets; see ``protocols/*.yaml`` for full examples)::

    id*: HER2-VAL-001                 version*: "1.0" (a string: quote it)
    title*: ...                       rationale*: ... (why each criterion, from clinical reasoning)
    reference_standard*: reference_her2    # or, declaring where it cannot exist:
      {column*, name, absent_when: [ {column*, op*, value, reason}, ... ]}
    analysis_unit: patient            [patient]
    confidence: 0.95                  [0.95]
    operating_point*: {threshold*: lock}           # or a number in [0, 1]
    bootstrap*: {replicates*: 2000, seed*: 1, cluster: null, method: percentile}   # the ROC band's
      # replicates: 100 to 100,000 (MAX_REPLICATES, with why)
    population*:
      inclusion: [ rule, ... ]        # a patient must meet every inclusion rule, in order
      exclusion: [ rule, ... ]        # and no exclusion rule; each removal counted with its reason
      # rule: {column*, op*, value, reason}  op: == != < <= > >= in not_in missing not_missing
      #    or {modalities_include: [MR], reason} (all present) / {modalities_any: [...], reason}
    endpoints*:                       # may be [] when there are comparisons
      - {id*, metric* (registry name), criterion* ("ci_low >= 0.80"), params: {...},
         description, hierarchy: 1 | family: name,   # fixed-sequence position, or Holm family
         planning: {expected*, prevalence*, power*, alpha, method}}  # auc/sensitivity/specificity;
         #   error rates take fraction* for prevalence; alpha [(1 - confidence)/2, must equal it]
    subgroups:
      - {id*, by* (column), metric*, min_size*, min_events: 5, criterion, params, heterogeneity: false,
         description, bands: [50, 70] (cut points of a numeric column)}
    comparisons:                      # model versus comparator (biopsy)
      - {id*, method* (compare_auc | mcnemar | kappa | decision_curve), outcome [pcr; none for
         kappa], comparator [biopsy_her2], score [score], criterion, thresholds (decision_curve
         only, required there), description, hierarchy | family, strata (column),
         planning: {expected*, comparator*, correlation*, prevalence*, power*, alpha}}
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from validation.exceptions import ProtocolError
from validation.modalities import MODALITY_KEYS
from validation.protocol.bounded_yaml import MAX_DEPTH, MAX_NODES, check_values, parse_yaml
from validation.protocol.columns import ANALYSED_COLUMNS, CATEGORICAL_COLUMNS, NUMERIC_LABELS
from validation.protocol.criteria import Criterion
from validation.protocol.metrics import METRICS, get_metric
from validation.protocol.model import (
    COLUMN_OPS,
    DEFAULT_MIN_EVENTS,
    AnalysisUnit,
    Bootstrap,
    ColumnRule,
    ComparisonMethod,
    ComparisonSpec,
    Endpoint,
    InterimSpec,
    ModalityRule,
    OperatingPoint,
    Planning,
    Population,
    Protocol,
    ReferenceStandard,
    Rule,
    SubgroupSpec,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MODALITY_KEYS",
    "file_stem",
    "load_protocol",
    "parse_yaml",
    "protocol_from_dict",
    "read_yaml",
]

#: The bootstrap interval methods a protocol may name: the dossier's one bootstrap interval, the
#: ROC band (sensitivity at fixed specificity, a step function of the data), is a percentile
#: interval, as ``pROC::ci.se`` computes it; BCa is not offered for it.
BOOTSTRAP_METHODS = ("percentile",)
#: The fewest and the most bootstrap replicates a protocol may ask for. Above 100,000 an interval
#: gains nothing: the Monte Carlo error of a percentile bound's tail share is then
#: sqrt(0.025 x 0.975 / 100,000) = 0.0005 (2,000 replicates, the usual count, give 0.0035), while
#: the run's time and memory grow with every replicate (100,000 take about 10 s and 0.5 GB at 150
#: patients; 10^9 exhausted memory). Refused at ``protocol check``, before registration.
MIN_REPLICATES, MAX_REPLICATES = 100, 100_000
_MISSING = object()


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _typename(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _fail(path: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(
        f"{path or '<top level>'}: expected {expected}; got {_typename(value)} {value!r}."
    )


def _mapping(
    value: Any, path: str, required: Sequence[str], optional: Sequence[str]
) -> Mapping[str, Any]:
    """Check ``value`` is a mapping with string keys, no unknown key and every required key."""
    if not isinstance(value, Mapping):
        raise _fail(path, "a mapping", value)
    allowed = (*required, *optional)
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise ProtocolError(
                f"{_join(path, str(key))}: unknown key {key!r} (allowed: {', '.join(allowed)})."
                + _suggest(str(key), allowed)
            )
    for key in required:
        if key not in value:
            raise ProtocolError(f"{_join(path, key)}: required key {key!r} is missing.")
    return value


def _str(value: Any, path: str, *, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(
            path,
            "a non-empty string"
            + (" (quote numbers, e.g. '1.0')" if isinstance(value, int | float) else ""),
            value,
        )
    if choices is not None and value not in choices:
        raise ProtocolError(
            f"{path}: expected one of {', '.join(choices)}; got {value!r}."
            + _suggest(value, choices)
        )
    return value


def _opt_str(value: Any, path: str) -> str | None:
    return None if value is None else _str(value, path)


def _int(value: Any, path: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, f"an integer >= {minimum}", value)
    return value


def _replicates(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_REPLICATES:
        raise ProtocolError(
            f"{path}: expected at most {MAX_REPLICATES:,} bootstrap replicates; got {value:,}. "
            f"More buys no precision worth having: at {MAX_REPLICATES:,} the Monte Carlo error of "
            "a percentile bound's tail share is already 0.0005 (2,000, the usual count, give "
            "0.0035), while time and memory grow with every replicate; write a number from "
            f"{MIN_REPLICATES} to {MAX_REPLICATES:,} (e.g. 2000)."
        )
    return _int(value, path, minimum=MIN_REPLICATES)


def _number(
    value: Any, path: str, *, low: float = -math.inf, high: float = math.inf, open_: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, "a finite number", value)
    inside = low < value < high if open_ else low <= value <= high
    if not inside:
        bounds = f"({low}, {high})" if open_ else f"[{low}, {high}]"
        raise _fail(path, f"a number in {bounds}", value)
    return float(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, "true or false", value)
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, "a list", value)
    return value


def _scalar(value: Any, path: str) -> Any:
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return _number(value, path) if isinstance(value, float) else value
    if isinstance(value, list):
        return tuple(_scalar(v, _join(path, i)) for i, v in enumerate(value))
    raise _fail(path, "a string, number, boolean, null or list of those", value)


# --- population rules -------------------------------------------------------------------------
def _rule(value: Any, path: str) -> Rule:
    if isinstance(value, Mapping) and ("modalities_include" in value or "modalities_any" in value):
        mode = "include" if "modalities_include" in value else "any"
        data = _mapping(value, path, (f"modalities_{mode}",), ("reason",))
        key = _join(path, f"modalities_{mode}")
        items = _list(data[f"modalities_{mode}"], key)
        if not items:
            raise _fail(key, "a non-empty list of modality keys", items)
        modalities = tuple(
            sorted({_str(m, _join(key, i), choices=MODALITY_KEYS) for i, m in enumerate(items)})
        )
        unnamed = ModalityRule(modalities, mode, "")
        return ModalityRule(modalities, mode, _reason(data, path, unnamed.describe()))
    data = _mapping(value, path, ("column", "op"), ("value", "reason"))
    column = _column(data["column"], _join(path, "column"), "a rule tests a column")
    op = _str(data["op"], _join(path, "op"), choices=COLUMN_OPS)
    raw = data.get("value", _MISSING)
    vpath = _join(path, "value")
    if op in ("missing", "not_missing"):
        if raw is not _MISSING and raw is not None:
            raise ProtocolError(f"{vpath}: op {op!r} takes no value; remove it.")
        rule_value: Any = None
    elif raw is _MISSING:
        raise ProtocolError(
            f"{vpath}: required key 'value' is missing (op {op!r} compares with a value)."
        )
    elif op in ("in", "not_in"):
        items = _list(raw, vpath)
        if not items:
            raise _fail(vpath, "a non-empty list", items)
        rule_value = tuple(_scalar(v, _join(vpath, i)) for i, v in enumerate(items))
    elif op in ("<", "<=", ">", ">="):
        rule_value = _number(raw, vpath)
    else:
        rule_value = _scalar(raw, vpath)
        if isinstance(rule_value, tuple) or rule_value is None:
            raise _fail(
                vpath, "a string, number or boolean (use 'in' for lists, 'missing' for null)", raw
            )
    plain = ColumnRule(column, op, rule_value, "")
    return ColumnRule(column, op, rule_value, _reason(data, path, plain.describe()))


def _reason(data: Mapping[str, Any], path: str, default: str) -> str:
    return _str(data["reason"], _join(path, "reason")) if "reason" in data else default


def _population(value: Any, path: str) -> Population:
    data = _mapping(value, path, (), ("inclusion", "exclusion"))
    rules = {}
    for key in ("inclusion", "exclusion"):
        kpath = _join(path, key)
        items = _list(data.get(key, []), kpath)
        rules[key] = tuple(_rule(item, _join(kpath, i)) for i, item in enumerate(items))
    return Population(rules["inclusion"], rules["exclusion"])


def _reference_standard(value: Any, path: str) -> ReferenceStandard:
    if isinstance(value, str):
        return ReferenceStandard(_column(value, path, "the reference standard is a column"))
    data = _mapping(value, path, ("column",), ("name", "absent_when"))
    kpath = _join(path, "absent_when")
    rules = []
    for i, item in enumerate(_list(data.get("absent_when", []), kpath)):
        rule = _rule(item, _join(kpath, i))
        if not isinstance(rule, ColumnRule) or rule.op in ("missing", "not_missing"):
            raise _fail(
                _join(kpath, i), "a column comparison rule {column, op, value, reason}", item
            )
        rules.append(rule)
    return ReferenceStandard(
        column=_column(data["column"], _join(path, "column"), "the reference standard is a column"),
        name=_str(data["name"], _join(path, "name")) if "name" in data else "",
        absent_when=tuple(rules),
    )


_PLANNING_KEYS = ("expected", "prevalence", "power")


def _planning(
    value: Any, path: str, kind: str, criterion: Criterion | None, confidence: float
) -> Planning:
    # imported here: the calculations need scipy, which a protocol without planning never loads
    from validation.protocol.planning import ERROR_RATES, PLANNABLE, plan_sample_size

    if kind not in PLANNABLE:
        raise ProtocolError(
            f"{path}: no sample-size calculation for {kind!r} (plannable: {', '.join(PLANNABLE)})."
        )
    comparison = kind == "compare_auc"
    required = _PLANNING_KEYS + (("comparator", "correlation") if comparison else ())
    if kind in ERROR_RATES:
        required = ("expected", "fraction", "power")
    optional = ("alpha", "required") if comparison else ("alpha", "method", "required")
    data = dict(_mapping(value, path, required, optional))
    data.setdefault("alpha", (1.0 - confidence) / 2.0)  # the one-sided level of the criterion
    required = (*required, "alpha")
    numbers = {
        key: _number(data[key], _join(path, key), low=-1.0 if key == "correlation" else 0.0,
                     high=1.0, open_=key != "fraction")
        for key in required
    }  # fmt: skip
    if numbers.get("fraction") == 0.0:
        raise _fail(_join(path, "fraction"), "a share of patients in (0, 1]", 0.0)
    method = _str(data.get("method", "obuchowski"), _join(path, "method"),
                  choices=("obuchowski", "hanley-mcneil"))  # fmt: skip
    plan = plan_sample_size(kind, numbers, method, criterion, confidence, path)
    if kind != "auc" and "method" in data:
        raise ProtocolError(f"{_join(path, 'method')}: only an AUC endpoint takes a method.")
    given = data.get("required")
    if given is not None and given != dict(plan.required):
        raise ProtocolError(
            f"{_join(path, 'required')}: does not follow from the assumptions; computed "
            f"{dict(plan.required)}, got {given}. Remove it (it is computed) or fix it."
        )
    return plan


# --- analysis settings ------------------------------------------------------------------------
def _operating_point(value: Any, path: str) -> OperatingPoint:
    data = _mapping(value, path, ("threshold",), ())
    raw = data["threshold"]
    if raw == "lock":
        return OperatingPoint(None)
    if isinstance(raw, str):
        raise _fail(_join(path, "threshold"), "'lock' or a number in [0, 1]", raw)
    return OperatingPoint(_number(raw, _join(path, "threshold"), low=0.0, high=1.0))


def _bootstrap(value: Any, path: str) -> Bootstrap:
    data = _mapping(value, path, ("replicates", "seed"), ("cluster", "method"))
    return Bootstrap(
        replicates=_replicates(data["replicates"], _join(path, "replicates")),
        seed=_int(data["seed"], _join(path, "seed"), minimum=0),
        cluster=_cluster(data.get("cluster"), _join(path, "cluster")),
        method=_bootstrap_method(data.get("method", "percentile"), _join(path, "method")),
    )


def _column(value: Any, path: str, what: str) -> str:
    """``value`` as a column of the analysed table, for the key at ``path`` (``what`` says what
    the column is for, in the error).

    The data dictionary (:mod:`validation.protocol.columns`) is closed: the labels reader keeps only
    :data:`~validation.protocol.columns.LABEL_COLUMNS` and the predictions reader only its own
    columns, so a column outside :data:`~validation.protocol.columns.ANALYSED_COLUMNS` can never be
    in the table a run analyses. A protocol naming one could be registered but never run, so it is
    refused here, at ``protocol check``, naming the key path and the nearest column. A site-specific
    column is declared by adding it to the data dictionary (a software change, which the readers
    then keep), never by naming it in a protocol alone.
    """
    name = _str(value, path)
    if name not in ANALYSED_COLUMNS:
        raise ProtocolError(
            f"{path}: unknown column {name!r}: {what} of the analysed table (predictions joined "
            f"with labels), which has only {', '.join(ANALYSED_COLUMNS)}." + _nearest_column(name)
        )
    return name


def _nearest_column(name: str) -> str:
    """ " Did you mean '<column>'?" for the dictionary's column nearest ``name``: the same name in
    other case, else the longest column that ``name`` extends or abbreviates (``pcr_status``,
    ``biopsy_her``), else the closest spelling (:func:`_suggest`); "" when none is near."""
    low = name.lower()
    for column in ANALYSED_COLUMNS:
        if column.lower() == low:
            return f" Did you mean {column!r}?"
    stems = [c for c in ANALYSED_COLUMNS if low.startswith(c.lower()) or c.lower().startswith(low)]
    if stems:
        return f" Did you mean {max(stems, key=len)!r}?"
    return _suggest(name, ANALYSED_COLUMNS)


def _cluster(value: Any, path: str) -> str | None:
    """A column of the analysed table (:func:`_column`), or None."""
    if value is None:
        return None
    return _column(value, path, "the bootstrap resamples clusters of a column")


def _bootstrap_method(value: Any, path: str) -> str:
    if value == "bca":
        raise ProtocolError(
            f"{path}: 'bca' is not offered: the dossier's one bootstrap interval, the ROC band "
            "(sensitivity at fixed specificity, a step function), is a percentile interval as "
            "pROC::ci.se computes it; write 'percentile' or leave the key out."
        )
    return _str(value, path, choices=BOOTSTRAP_METHODS)


def _metric(value: Any, path: str) -> str:
    name = _str(value, path)
    if name not in METRICS:
        raise ProtocolError(
            f"{path}: unknown metric {name!r} (known: {', '.join(METRICS)})."
            + _suggest(name, list(METRICS))
        )
    return name


def _params(value: Any, path: str, metric: str) -> tuple[tuple[str, Any], ...]:
    spec = get_metric(metric)
    if not spec.default_params and isinstance(value, Mapping) and value:
        key = next(iter(value))
        raise ProtocolError(
            f"{_join(path, str(key))}: unknown key {key!r}: metric {metric!r} takes no "
            "parameters; remove 'params'."
        )
    data = _mapping(value, path, (), tuple(spec.default_params))
    merged = {**spec.default_params, **{k: _scalar(v, _join(path, k)) for k, v in data.items()}}
    return tuple(sorted(merged.items()))


def _criterion(value: Any, path: str, metric: str | None) -> Criterion:
    criterion = Criterion.parse(value, path=path)
    if metric is not None and criterion.quantity not in get_metric(metric).quantities:
        gives = ", ".join(sorted(q.value for q in get_metric(metric).quantities))
        raise ProtocolError(
            f"{path}: metric {metric!r} gives no {criterion.quantity.value} (it gives: {gives})."
        )
    return criterion


def _place(data: Mapping[str, Any], path: str) -> tuple[int | None, str | None]:
    hierarchy = data.get("hierarchy")
    family = data.get("family")
    if hierarchy is not None and family is not None:
        raise ProtocolError(
            f"{_join(path, 'family')}: an endpoint sits in a hierarchy or a Holm family, not both."
        )
    return (
        None if hierarchy is None else _int(hierarchy, _join(path, "hierarchy"), minimum=1),
        _opt_str(family, _join(path, "family")),
    )


_ENDPOINT_OPTIONAL = ("description", "params", "hierarchy", "family", "planning")


def _endpoint(value: Any, path: str, *, confidence: float) -> Endpoint:
    data = _mapping(value, path, ("id", "metric", "criterion"), _ENDPOINT_OPTIONAL)
    metric = _metric(data["metric"], _join(path, "metric"))
    hierarchy, family = _place(data, path)
    criterion = _criterion(data["criterion"], _join(path, "criterion"), metric)
    planning = None
    if data.get("planning") is not None:
        planning = _planning(data["planning"], _join(path, "planning"), metric, criterion,
                             confidence)  # fmt: skip
    return Endpoint(
        id=_str(data["id"], _join(path, "id")),
        metric=metric,
        planning=planning,
        criterion=criterion,
        params=_params(data.get("params", {}), _join(path, "params"), metric),
        description=_str(data["description"], _join(path, "description"))
        if "description" in data
        else "",
        hierarchy=hierarchy,
        family=family,
    )


def _subgroup(value: Any, path: str) -> SubgroupSpec:
    data = _mapping(
        value,
        path,
        ("id", "by", "metric", "min_size"),
        ("criterion", "params", "heterogeneity", "description", "min_events", "bands"),
    )
    metric = _metric(data["metric"], _join(path, "metric"))
    criterion = data.get("criterion")
    bpath = _join(path, "bands")
    bands = tuple(
        _number(b, _join(bpath, i)) for i, b in enumerate(_list(data.get("bands", []), bpath))
    )
    if list(bands) != sorted(set(bands)):
        raise _fail(bpath, "strictly increasing cut points", list(bands))
    by = _column(data["by"], _join(path, "by"), "a subgroup takes the levels of a column")
    if bands and by in CATEGORICAL_COLUMNS:
        raise ProtocolError(
            f"{bpath}: column {by!r} is categorical (text levels, in the labels table's data "
            "dictionary), so it cannot be cut at numeric points; remove 'bands' (each level is "
            f"its own subgroup) or band a numeric column ({', '.join(NUMERIC_LABELS)})."
        )
    return SubgroupSpec(
        bands=bands,
        id=_str(data["id"], _join(path, "id")),
        by=by,
        metric=metric,
        min_size=_int(data["min_size"], _join(path, "min_size"), minimum=1),
        min_events=_int(
            data.get("min_events", DEFAULT_MIN_EVENTS), _join(path, "min_events"), minimum=0
        ),
        criterion=None
        if criterion is None
        else _criterion(criterion, _join(path, "criterion"), metric),
        params=_params(data.get("params", {}), _join(path, "params"), metric),
        heterogeneity=_bool(data.get("heterogeneity", False), _join(path, "heterogeneity")),
        description=_str(data["description"], _join(path, "description"))
        if "description" in data
        else "",
    )


_COMPARISON_GIVES = {
    ComparisonMethod.COMPARE_AUC: ("estimate", "ci_low", "ci_high", "statistic", "p_value"),
    ComparisonMethod.MCNEMAR: ("statistic", "p_value"),
    ComparisonMethod.KAPPA: ("estimate", "ci_low", "ci_high"),
    ComparisonMethod.DECISION_CURVE: (),
}


def _comparison(value: Any, path: str, *, confidence: float) -> ComparisonSpec:
    optional = (
        "comparator",
        "outcome",
        "score",
        "criterion",
        "thresholds",
        "description",
        "hierarchy",
        "family",
        "strata",
        "planning",
    )
    data = _mapping(value, path, ("id", "method"), optional)
    method = ComparisonMethod(
        _str(data["method"], _join(path, "method"), choices=[m.value for m in ComparisonMethod])
    )
    criterion = None
    if data.get("criterion") is not None:
        cpath = _join(path, "criterion")
        criterion = Criterion.parse(data["criterion"], path=cpath)
        gives = _COMPARISON_GIVES[method]
        if criterion.quantity.value not in gives:
            raise ProtocolError(
                f"{cpath}: method {method.value!r} gives no {criterion.quantity.value}"
                + (
                    f" (it gives: {', '.join(gives)})."
                    if gives
                    else "; decision curves are descriptive."
                )
            )
    thresholds: tuple[float, ...] = ()
    tpath = _join(path, "thresholds")
    if method is ComparisonMethod.DECISION_CURVE:
        if "thresholds" not in data:
            raise ProtocolError(
                f"{tpath}: required key 'thresholds' is missing for a decision curve."
            )
        items = _list(data["thresholds"], tpath)
        if not items:
            raise _fail(tpath, "a non-empty list of threshold probabilities", items)
        thresholds = tuple(
            _number(t, _join(tpath, i), low=0.0, high=1.0, open_=True) for i, t in enumerate(items)
        )
    elif data.get("thresholds"):  # an empty list / null is the normalized "none"
        raise ProtocolError(f"{tpath}: only method 'decision_curve' takes thresholds; remove it.")
    default_outcome = None if method is ComparisonMethod.KAPPA else "pcr"
    opath = _join(path, "outcome")
    outcome = _opt_str(data.get("outcome", default_outcome), opath)
    if outcome is not None:
        outcome = _column(outcome, opath, "the outcome is a column")
    if outcome is None and method is not ComparisonMethod.KAPPA:
        raise _fail(
            _join(path, "outcome"),
            f"the outcome column that method {method.value!r} compares on",
            None,
        )
    hierarchy, family = _place(data, path)
    if (hierarchy is not None or family is not None) and criterion is None:
        raise ProtocolError(
            f"{_join(path, 'criterion')}: a comparison in a hierarchy or family needs a criterion."
        )
    planning = None
    if data.get("planning") is not None:
        planning = _planning(data["planning"], _join(path, "planning"), method.value, criterion,
                             confidence)  # fmt: skip
    return ComparisonSpec(
        planning=planning,
        strata=None
        if data.get("strata") is None
        else _column(
            data["strata"], _join(path, "strata"), "the comparison is stratified by a column"
        ),
        id=_str(data["id"], _join(path, "id")),
        method=method,
        comparator=_column(
            data.get("comparator", "biopsy_her2"),
            _join(path, "comparator"),
            "the comparator is a column",
        ),
        outcome=outcome,
        score=_column(
            data.get("score", "score"), _join(path, "score"), "the compared score is a column"
        ),
        criterion=criterion,
        thresholds=thresholds,
        description=_str(data["description"], _join(path, "description"))
        if "description" in data
        else "",
        hierarchy=hierarchy,
        family=family,
    )


def _items(data: Mapping[str, Any], key: str, build: Any) -> tuple[Any, ...]:
    items = _list(data.get(key, []), key)
    return tuple(build(item, _join(key, i)) for i, item in enumerate(items))


def file_stem(analysis_id: str) -> str:
    """The file-name stem an analysis id gets in a dossier (``tables/subgroup_<stem>.csv``):
    lower case, each run of characters other than ``a-z0-9`` one ``_``, no ``_`` at either end."""
    return re.sub(r"[^a-z0-9]+", "_", analysis_id.lower()).strip("_") or "x"


def _check_cross(protocol_items: Sequence[tuple[str, Any]]) -> None:
    seen: dict[str, str] = {}
    stems: dict[str, tuple[str, str]] = {}
    ranks: dict[int, str] = {}
    for path, item in protocol_items:
        if item.id in seen:
            raise ProtocolError(
                f"{path}.id: id {item.id!r} is already used by {seen[item.id]}; ids must be unique."
            )
        seen[item.id] = path
        stem = file_stem(item.id)
        if stem in stems:
            other_path, other_id = stems[stem]
            raise ProtocolError(
                f"{path}.id: id {item.id!r} and {other_path}.id {other_id!r} differ only in case "
                f"or punctuation, so both would be written to the dossier file name {stem!r} and "
                "one would overwrite the other; give them ids that differ in letters or digits."
            )
        stems[stem] = (path, item.id)
        rank = getattr(item, "hierarchy", None)
        if rank is not None:
            if rank in ranks:
                raise ProtocolError(
                    f"{path}.hierarchy: position {rank} is already taken by {ranks[rank]}."
                )
            ranks[rank] = path
    if ranks and sorted(ranks) != list(range(1, len(ranks) + 1)):
        raise ProtocolError(
            f"hierarchy: positions must run 1, 2, ... without gaps; got {sorted(ranks)} "
            f"({', '.join(ranks[r] for r in sorted(ranks))})."
        )


_TOP_REQUIRED = (
    "id",
    "version",
    "title",
    "rationale",
    "population",
    "reference_standard",
    "operating_point",
    "bootstrap",
    "endpoints",
)
_TOP_OPTIONAL = ("analysis_unit", "confidence", "subgroups", "comparisons", "interim")


def _interim(value: Any, path: str, analyses: Mapping[str, Any]) -> InterimSpec:
    """``interim: {design, efficacy: [ids], futility: [ids]}``; each id names a comparison or
    endpoint of this protocol with a criterion."""
    data = _mapping(value, path, ("design", "efficacy"), ("futility",))
    lists = {}
    for key in ("efficacy", "futility"):
        ids = [
            _str(v, _join(_join(path, key), i))
            for i, v in enumerate(_list(data.get(key, []), _join(path, key)))
        ]
        for i, aid in enumerate(ids):
            if aid not in analyses or getattr(analyses[aid], "criterion", None) is None:
                raise _fail(
                    _join(_join(path, key), i),
                    "the id of an endpoint or comparison of this protocol with a criterion",
                    aid,
                )
        lists[key] = tuple(ids)
    if not lists["efficacy"]:
        raise _fail(_join(path, "efficacy"), "at least one boundary analysis id", [])
    return InterimSpec(_str(data["design"], _join(path, "design")), lists["efficacy"],
                       lists["futility"])  # fmt: skip


def protocol_from_dict(data: Any, *, source: str | None = None) -> Protocol:
    """Validate a parsed protocol mapping and build the :class:`Protocol`."""
    check_values(data)  # JSON-representable: no NaN/inf, no integer beyond 2^53, string keys
    top = _mapping(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    confidence = _number(top.get("confidence", 0.95), "confidence", low=0.0, high=1.0, open_=True)
    endpoints = _items(top, "endpoints", functools.partial(_endpoint, confidence=confidence))
    subgroups = _items(top, "subgroups", _subgroup)
    comparisons = _items(top, "comparisons", functools.partial(_comparison, confidence=confidence))
    reference = _reference_standard(top["reference_standard"], "reference_standard")
    if not endpoints and not comparisons:
        raise ProtocolError(
            "endpoints: expected at least one endpoint (or a comparison); got none."
        )
    _check_cross(
        [(f"endpoints[{i}]", e) for i, e in enumerate(endpoints)]
        + [(f"subgroups[{i}]", s) for i, s in enumerate(subgroups)]
        + [(f"comparisons[{i}]", c) for i, c in enumerate(comparisons)]
    )
    by_id = {a.id: a for a in (*endpoints, *comparisons)}
    interim = _interim(top["interim"], "interim", by_id) if top.get("interim") is not None else None
    unit = _str(
        top.get("analysis_unit", "patient"),
        "analysis_unit",
        choices=[u.value for u in AnalysisUnit],
    )
    return Protocol(
        id=_str(top["id"], "id"),
        version=_str(top["version"], "version"),
        title=_str(top["title"], "title"),
        rationale=_str(top["rationale"], "rationale"),
        # the short form (a column name) declares no applicability: the population's own rules
        # handle a missing reference, as before; the mapping form is applied first
        population=replace(
            _population(top["population"], "population"),
            reference=None if isinstance(top["reference_standard"], str) else reference,
        ),
        reference_standard=reference,
        analysis_unit=AnalysisUnit(unit),
        operating_point=_operating_point(top["operating_point"], "operating_point"),
        confidence=confidence,
        bootstrap=_bootstrap(top["bootstrap"], "bootstrap"),
        endpoints=endpoints,
        subgroups=subgroups,
        comparisons=comparisons,
        interim=interim,
        source=source,
    )


def read_yaml(path: str | Path, *, what: str = "protocol") -> Any:
    """Read ``path`` as bounded safe YAML (:mod:`.bounded_yaml`; also for suite specs,
    ``what="suite"``). Every refusal is a :class:`ProtocolError` naming the file and, where there is
    one, the line or key path: unreadable file, text that is not UTF-8, YAML errors, alias
    expansion or nesting over the bounds, duplicate keys, integers beyond 2^53 - 1, NaN/infinite
    numbers."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ProtocolError(f"{file}: cannot read {what} file ({exc.strerror or exc}).") from None
    try:
        return parse_yaml(raw)
    except ProtocolError as exc:
        raise ProtocolError(f"{file}: {exc}") from None


def load_protocol(path: str | Path) -> Protocol:
    """Read ``path`` with :func:`read_yaml` and validate it; errors name the file and key path."""
    file = Path(path)
    data = read_yaml(file)
    try:
        return protocol_from_dict(data, source=str(file))
    except ProtocolError as exc:
        raise ProtocolError(f"{file}: {exc}") from None
