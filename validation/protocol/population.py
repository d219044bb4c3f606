"""Apply a protocol's analysis population to the labels table: a pure, counted filter.

The reference standard comes first (:func:`apply_reference_standard`): patients where it cannot
exist (its ``absent_when`` rules, e.g. a surgical-specimen HER2 after pathological complete
response) are removed under the rule's reason, and a value recorded for one of them is an invented
reference value that refuses the run; patients where it could exist but is missing are removed as
"<name> not available". Then the population's rules are applied in order -- inclusion rules first,
then exclusion rules -- each to the patients
still in; every patient removed is counted under the step that removed them, with its reason
(STARD participant flow). A patient missing a value that an inclusion comparison needs is removed
with the reason "<column> missing"; for an exclusion comparison a missing value does not match
(write an explicit ``{column: X, op: missing}`` exclusion to remove such patients).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from validation.exceptions import RunError
from validation.protocol.model import (
    ColumnRule,
    ModalityRule,
    Population,
    ReferenceStandard,
    Rule,
    SubgroupSpec,
)

__all__ = [
    "PopulationExclusion",
    "apply_population",
    "apply_reference_standard",
    "rule_mask",
    "subgroup_levels",
]


@dataclass(frozen=True, slots=True)
class PopulationExclusion:
    """Patients removed at one step: the rule, its reason, how many, and which (sorted ids)."""

    step: str  # "inclusion[0]", "exclusion[1]", ...
    rule: str
    reason: str
    count: int
    patient_ids: tuple[str, ...]


def _column(table: pd.DataFrame, name: str, where: str) -> pd.Series:
    if name not in table.columns:
        raise RunError(
            f"population {where}: the labels table has no column {name!r} "
            f"(columns: {', '.join(map(str, table.columns))}); add it or change the protocol."
        )
    return table[name]


def _numeric(series: pd.Series, rule: ColumnRule, where: str) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)) & series.notna().to_numpy()
    if bad.any():
        examples = sorted({str(v) for v in series[bad]})[:3]
        raise RunError(
            f"population {where} ({rule.describe()}): column {rule.column!r} has {int(bad.sum())} "
            f"non-numeric or non-finite value(s), e.g. {examples}; fix the labels table."
        )
    return values


def _equal(series: pd.Series, value: object, rule: ColumnRule, where: str) -> pd.Series:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return series.astype("string") == str(value)
    return _numeric(series, rule, where) == value


def rule_mask(
    rule: Rule, table: pd.DataFrame, *, where: str = "rule"
) -> tuple[np.ndarray, np.ndarray]:
    """``(matches, missing)`` boolean arrays of ``rule`` over the rows of ``table``."""
    if isinstance(rule, ModalityRule):
        raw = _column(table, "modalities", where)
        present = [set() if pd.isna(v) else set(str(v).split("+")) for v in raw]
        wanted = set(rule.modalities)
        if rule.mode == "include":
            match = np.array([wanted <= have for have in present], dtype=bool)
        else:
            match = np.array([bool(wanted & have) for have in present], dtype=bool)
        return match, np.zeros(len(table), dtype=bool)
    series = _column(table, rule.column, where)
    missing = series.isna().to_numpy(dtype=bool)
    op, value = rule.op, rule.value
    if op == "missing":
        return missing, np.zeros(len(table), dtype=bool)
    if op == "not_missing":
        return ~missing, np.zeros(len(table), dtype=bool)
    if op in ("in", "not_in"):
        hit = np.zeros(len(table), dtype=bool)
        for item in value:
            hit |= _equal(series, item, rule, where).fillna(False).to_numpy(dtype=bool)
        match = hit if op == "in" else ~hit
    elif op in ("==", "!="):
        eq = _equal(series, value, rule, where).fillna(False).to_numpy(dtype=bool)
        match = eq if op == "==" else ~eq
    else:
        numbers = _numeric(series, rule, where)
        compared = {
            "<": numbers < value,
            "<=": numbers <= value,
            ">": numbers > value,
            ">=": numbers >= value,
        }[op]
        match = compared.fillna(False).to_numpy(dtype=bool)
    return match & ~missing, missing


def apply_reference_standard(
    reference: ReferenceStandard, table: pd.DataFrame, *, id_column: str = "patient_id"
) -> tuple[np.ndarray, list[PopulationExclusion]]:
    """Where ``reference`` exists: ``(kept mask, exclusion steps)``.

    Raises
    ------
    RunError
        A patient matching an ``absent_when`` rule has a reference value: the value cannot exist
        (e.g. a surgical HER2 after pCR) and is refused, naming the rule and up to five patients.
    """
    ids = _column(table, id_column, "patient id").astype("string")
    values = _column(table, reference.column, "reference_standard.column")
    present = values.notna().to_numpy(dtype=bool)
    keep = np.ones(len(table), dtype=bool)
    steps: list[PopulationExclusion] = []
    for index, rule in enumerate(reference.absent_when):
        where = f"reference_standard.absent_when[{index}]"
        match, _ = rule_mask(rule, table, where=where)
        invented = keep & match & present
        if invented.any():
            shown = ", ".join(sorted(str(v) for v in ids[invented])[:5])
            raise RunError(
                f"{where} ({rule.describe()}: {rule.reason}): {int(invented.sum())} patient(s) "
                f"have a {reference.label} value ({reference.column!r}) where it cannot exist: "
                f"{shown}; such a value is invented — correct the labels table."
            )
        steps.append(_step(where, rule, rule.reason, keep & match, ids))
        keep &= ~match
    missing = keep & ~present
    steps.append(
        PopulationExclusion(
            "reference_standard (missing)",
            f"{reference.column} missing",
            f"{reference.label} not available",
            int(missing.sum()),
            tuple(sorted(str(v) for v in ids[missing])),
        )
    )
    return keep & present, steps


def subgroup_levels(spec: SubgroupSpec, table: pd.DataFrame) -> np.ndarray:
    """The subgroup level of every row: the ``by`` column's text, or its band (``spec.bands``).

    Bands over cut points ``c1 < ... < ck`` are ``<c1``, ``c1-<c2``, ..., ``>=ck`` (numbers shown
    as written, ``50`` not ``50.0``); a missing value is ``missing``; a non-numeric value in a
    banded column is a :class:`RunError`.
    """
    raw = table[spec.by]
    if not spec.bands:
        return raw.astype("string").fillna("missing").to_numpy(dtype=object)
    values = pd.to_numeric(raw, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)) & raw.notna().to_numpy()
    if bad.any():
        raise RunError(
            f"subgroup {spec.id}: column {spec.by!r} has non-numeric or non-finite value(s) "
            f"{sorted({str(v) for v in raw[bad]})[:3]}, but the protocol bands it at "
            f"{', '.join(f'{c:g}' for c in spec.bands)}: either the table is wrong (fix the "
            "column's values) or the protocol is (the column is not numeric: amend the protocol "
            "without 'bands', so that each value is its own subgroup)."
        )
    cuts = [f"{c:g}" for c in spec.bands]
    names = [f"<{cuts[0]}"] + [f"{a}-<{b}" for a, b in itertools.pairwise(cuts)] + [f">={cuts[-1]}"]
    index = np.searchsorted(np.asarray(spec.bands), values.to_numpy(dtype=float), side="right")
    return np.array(
        ["missing" if np.isnan(v) else names[i] for v, i in zip(values, index, strict=True)],
        dtype=object,
    )


def apply_population(
    population: Population, table: pd.DataFrame, *, id_column: str = "patient_id"
) -> tuple[pd.DataFrame, tuple[PopulationExclusion, ...]]:
    """Apply ``population`` to ``table``: (included rows in their original order, exclusion steps).

    Pure: ``table`` is not modified. Every removed patient appears in exactly one step; a step
    that removes nobody is still listed (count 0), so the flow shows every pre-specified rule.
    The reference standard (``population.reference``) is applied first.
    """
    ids = _column(table, id_column, "patient id").astype("string")
    keep = np.ones(len(table), dtype=bool)
    steps: list[PopulationExclusion] = []
    if population.reference is not None:
        keep, steps = apply_reference_standard(population.reference, table, id_column=id_column)
    plan = [("inclusion", i, r) for i, r in enumerate(population.inclusion)]
    plan += [("exclusion", i, r) for i, r in enumerate(population.exclusion)]
    for kind, index, rule in plan:
        where = f"{kind}[{index}]"
        match, missing = rule_mask(rule, table, where=where)
        if kind == "inclusion":
            gone_missing = keep & missing
            if gone_missing.any():
                column = rule.column if isinstance(rule, ColumnRule) else "modalities"
                steps.append(
                    _step(f"{where} (missing)", rule, f"{column} missing", gone_missing, ids)
                )
                keep &= ~gone_missing
            removed = keep & ~match
        else:
            removed = keep & match
        steps.append(_step(where, rule, rule.reason, removed, ids))
        keep &= ~removed
    return table.loc[keep].copy(), tuple(steps)


def _step(
    where: str, rule: Rule, reason: str, removed: np.ndarray, ids: pd.Series
) -> PopulationExclusion:
    chosen = tuple(sorted(str(v) for v in ids[removed]))
    return PopulationExclusion(where, rule.describe(), reason, int(removed.sum()), chosen)
