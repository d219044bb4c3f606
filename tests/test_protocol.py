"""Protocol specs: shipped files load, validation names the key path, canonical hash (REQ-PROT-001)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from validation.canonical import canonical_hash
from validation.exceptions import ProtocolError
from validation.protocol import METRICS, ComparisonMethod, Protocol, Verdict

pytestmark = pytest.mark.req("REQ-PROT-001")

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "protocols").glob("HER2-*.yaml"))


def _raw(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "protocols" / f"{name}.yaml").read_text(encoding="utf-8"))


def test_shipped_protocols_load() -> None:
    assert [p.stem for p in SHIPPED] == [
        "HER2-ERR-003",
        "HER2-NAT-002",
        "HER2-PRO-004",
        "HER2-VAL-001",
    ]
    for path in SHIPPED:
        protocol = Protocol.from_yaml(path)
        assert protocol.id == path.stem
        assert protocol.source == str(path)
        assert len(protocol.protocol_hash) == 64


def test_val_001_content() -> None:
    p = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml")
    assert p.operating_point.from_lock
    assert [(e.id, e.metric, e.hierarchy) for e in p.endpoints[:3]] == [
        ("VAL-E1", "auc", 1),
        ("VAL-E2", "sensitivity", 2),
        ("VAL-E3", "specificity", 3),
    ]
    assert {s.by for s in p.subgroups} == {
        "site", "manufacturer", "modalities", "age", "density", "race_ethnicity",
        "reference_category",
    }  # fmt: skip
    assert all(s.heterogeneity for s in p.subgroups if s.by in ("site", "manufacturer"))
    descriptive = {s.by for s in p.subgroups if s.criterion is None}
    assert descriptive == {"race_ethnicity", "reference_category"}
    assert next(s for s in p.subgroups if s.by == "age").bands == (50.0, 70.0)
    assert p.reference_standard.column == "reference_her2"
    assert [r.describe() for r in p.reference_standard.absent_when] == ["pcr == 1"]
    assert p.endpoints[1].params_dict == {"method": "wilson"}


def test_nat_002_and_err_003_content() -> None:
    nat = Protocol.from_yaml(ROOT / "protocols" / "HER2-NAT-002.yaml")
    methods = {c.method for c in nat.comparisons}
    assert methods == set(ComparisonMethod)
    assert nat.comparisons[0].outcome == "pcr"
    assert nat.comparisons[0].score == "score_pcr"  # the response model's P(pCR)
    assert nat.comparisons[3].outcome is None  # kappa: model vs biopsy, no outcome
    assert {c.strata for c in nat.comparisons if c.method.value != "kappa"} == {"therapy"}
    assert nat.reference_standard.column == "pcr"
    err = Protocol.from_yaml(ROOT / "protocols" / "HER2-ERR-003.yaml")
    assert {e.family for e in err.endpoints} == {None, "referral-20"}
    assert {
        e.params_dict.get("fraction") for e in err.endpoints if e.metric.startswith("referral")
    } == {0.1, 0.2}


def test_shipped_criteria_mix_pass_and_fail_for_a_plausible_imperfect_result() -> None:
    """Criteria are not all trivially met: an AUC of 0.87 (CI 0.81-0.92) passes VAL-E1 but a per-
    site AUC estimate of 0.78 fails VAL-G1 -- the criteria discriminate in the plausible range."""
    p = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml")
    e1 = p.endpoints[0].criterion.evaluate({"estimate": 0.87, "ci_low": 0.81, "ci_high": 0.92})
    g1 = p.subgroups[0].criterion
    assert g1 is not None
    assert e1.verdict is Verdict.PASS
    assert g1.evaluate({"estimate": 0.78}).verdict is Verdict.FAIL


def test_round_trip_keeps_object_and_hash() -> None:
    for path in SHIPPED:
        protocol = Protocol.from_yaml(path)
        again = Protocol.from_dict(protocol.to_dict())
        assert again == protocol
        assert again.protocol_hash == protocol.protocol_hash
        assert protocol.protocol_hash == canonical_hash(protocol.to_dict())


def test_objects_are_frozen() -> None:
    protocol = Protocol.from_yaml(SHIPPED[0])
    with pytest.raises(AttributeError):
        protocol.version = "2.0"  # type: ignore[misc]


# --- canonical hash ---------------------------------------------------------------------------
def test_hash_ignores_whitespace_comments_key_order_and_defaults(tmp_path: Path) -> None:
    original = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml")
    raw = _raw("HER2-VAL-001")
    reordered = dict(reversed(list(raw.items())))
    reordered["endpoints"] = [dict(sorted(e.items(), reverse=True)) for e in raw["endpoints"]]
    del reordered["confidence"]  # default 0.95
    del reordered["bootstrap"]["method"]  # default percentile
    del reordered["analysis_unit"]  # default patient
    reordered["endpoints"][0]["criterion"] = "ci_low>=0.8"  # was "ci_low >= 0.80"
    reordered["population"]["inclusion"][0]["value"] = 18.0  # was 18
    text = "# a different comment\n\n" + yaml.safe_dump(
        reordered, sort_keys=False, indent=4, width=60
    )
    edited = tmp_path / "edited.yaml"
    edited.write_text(text, encoding="utf-8")
    assert Protocol.from_yaml(edited).protocol_hash == original.protocol_hash


def _set(d: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(d)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("title",), "Another title"),
        (("rationale",), "Another rationale."),
        (("version",), "1.1"),
        (("operating_point", "threshold"), 0.5),
        (("confidence",), 0.9),
        (("bootstrap", "seed"), 20260116),
        (("bootstrap", "replicates"), 1000),
        (("bootstrap", "cluster"), "site"),
        (("endpoints", 0, "criterion"), "ci_low >= 0.81"),
        (("endpoints", 1, "params"), {"method": "clopper-pearson"}),
        (("endpoints", 3, "description"), "Calibration in the large"),
        (("subgroups", 0, "min_size"), 51),
        (("subgroups", 2, "heterogeneity"), True),
        (("population", "inclusion", 0, "value"), 21),
        (("population", "inclusion", 0, "reason"), "missing reference"),
        (
            ("reference_standard",),
            "pcr",
        ),  # a column of the data dictionary (a made-up one is refused)
    ],
)
def test_any_change_of_value_changes_the_hash(path: tuple[Any, ...], value: Any) -> None:
    raw = _raw("HER2-VAL-001")
    before = Protocol.from_dict(raw).protocol_hash
    assert Protocol.from_dict(_set(raw, path, value)).protocol_hash != before


# --- validation errors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (
            ("endpoints", 1, "critrion"),
            "ci_low >= 0.8",
            r"endpoints\[1\]\.critrion: unknown key .*Did you mean 'criterion'\?",
        ),
        (
            ("subgroups", 0, "min_sise"),
            30,
            r"subgroups\[0\]\.min_sise: unknown key .*Did you mean 'min_size'\?",
        ),
        (
            ("bootstrap", "replicate"),
            10,
            r"bootstrap\.replicate: unknown key .*Did you mean 'replicates'\?",
        ),
        (  # a method the dossier would name but never compute: refused, not ignored
            ("bootstrap", "method"),
            "bca",
            r"bootstrap\.method: 'bca' is not offered: .* ROC band .* percentile interval",
        ),
        (("bootstrap", "method"), "basic", r"bootstrap\.method: expected one of percentile"),
        (
            ("endpoints", 2, "metric"),
            "specifcity",
            r"endpoints\[2\]\.metric: unknown metric 'specifcity'.*Did you mean 'specificity'\?",
        ),
        (
            ("endpoints", 0, "hierarchy"),
            "first",
            r"endpoints\[0\]\.hierarchy: expected an integer >= 1; got str 'first'",
        ),
        (
            ("operating_point", "threshold"),
            "locked",
            r"operating_point\.threshold: expected 'lock' or a number",
        ),
        (
            ("operating_point", "threshold"),
            1.5,
            r"operating_point\.threshold: expected a number in \[0\.0, 1\.0\]",
        ),
        (("version",), 1.0, r"version: expected a non-empty string \(quote numbers"),
        (("confidence",), 95, r"confidence: expected a number in \(0\.0, 1\.0\)"),
        (
            ("endpoints", 5, "criterion"),
            "ci_low <= 0.05",
            r"endpoints\[5\]\.criterion: metric 'ici' gives no ci_low",
        ),
        (
            ("population", "inclusion", 0, "op"),
            "not in",
            r"population\.inclusion\[0\]\.op: expected one of .*Did you mean 'not_in'\?",
        ),
        (
            ("population", "inclusion", 1, "modalities_any"),
            ["MRI"],
            r"modalities_any\[0\]: expected one of MG_CC, MG_MLO, US, MR; got 'MRI'",
        ),
        (
            ("subgroups", 1, "heterogeneity"),
            "yes",
            r"subgroups\[1\]\.heterogeneity: expected true or false",
        ),
        (
            ("endpoints", 1, "params"),
            {"metod": "wilson"},
            r"endpoints\[1\]\.params\.metod: unknown key .*Did you mean 'method'\?",
        ),
        (
            ("endpoints", 1, "hierarchy"),
            5,
            r"hierarchy: positions must run 1, 2, \.\.\. without gaps",
        ),
        (
            ("endpoints", 2, "id"),
            "VAL-E1",
            r"endpoints\[2\]\.id: id 'VAL-E1' is already used by endpoints\[0\]",
        ),
        (
            ("endpoints", 0, "family"),
            "primary",
            r"endpoints\[0\]\.family: an endpoint sits in a hierarchy or a Holm family, not both",
        ),
    ],
)
def test_malformed_values_name_the_key_path(path: tuple[Any, ...], value: Any, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        Protocol.from_dict(_set(_raw("HER2-VAL-001"), path, value))


def test_bootstrap_replicates_have_a_documented_maximum(tmp_path: Path) -> None:
    """A count the run cannot finish is refused when the protocol is checked, naming the key and
    the bound; the bound itself is accepted. Wrong version: only a minimum, so 10^9 replicates
    passed ``protocol check`` and registration and the run grew until memory was exhausted."""
    from validation.protocol.loader import MAX_REPLICATES

    raw = _raw("HER2-VAL-001")
    path = tmp_path / "big.yaml"
    path.write_text(
        yaml.safe_dump(_set(raw, ("bootstrap", "replicates"), 1_000_000_000)), encoding="utf-8"
    )
    with pytest.raises(
        ProtocolError,
        match=r"^\S*big\.yaml: bootstrap\.replicates: expected at most 100,000 bootstrap "
        r"replicates; got 1,000,000,000\. .*Monte Carlo error",
    ):
        Protocol.from_yaml(path)
    at_bound = _set(raw, ("bootstrap", "replicates"), MAX_REPLICATES)
    assert Protocol.from_dict(at_bound).bootstrap.replicates == MAX_REPLICATES == 100_000
    with pytest.raises(ProtocolError, match=r"bootstrap\.replicates: expected at most 100,000"):
        Protocol.from_dict(_set(raw, ("bootstrap", "replicates"), MAX_REPLICATES + 1))
    with pytest.raises(ProtocolError, match=r"bootstrap\.replicates: expected an integer >= 100"):
        Protocol.from_dict(_set(raw, ("bootstrap", "replicates"), 99))


@pytest.mark.parametrize("by", ["site", "manufacturer", "density", "race_ethnicity", "modalities"])
def test_bands_on_a_categorical_column_are_refused_at_check(by: str) -> None:
    """The labels table's data dictionary knows these columns hold text levels. Wrong version:
    ``bands: [50]`` on ``site`` passed check and registration, and the run blamed the table
    ("non-numeric value(s) ['A', 'B', 'C'] ... fix the table") when the protocol was wrong."""
    raw = _raw("HER2-VAL-001")
    assert raw["subgroups"][3]["by"] == "age"  # the shipped band, on the numeric column: loads
    assert Protocol.from_dict(raw).subgroups[3].bands == (50.0, 70.0)
    with pytest.raises(
        ProtocolError,
        match=rf"^subgroups\[3\]\.bands: column '{by}' is categorical \(text levels, in the labels "
        r"table's data dictionary\), so it cannot be cut at numeric points; remove 'bands' .* "
        r"or band a numeric column \(age\)\.$",
    ):
        Protocol.from_dict(_set(raw, ("subgroups", 3, "by"), by))


def test_bootstrap_cluster_must_be_a_column_of_the_analysed_table() -> None:
    """Wrong version: ``cluster: nonexistent_col`` passed check and registration and failed only
    at run time; the key and the columns the tables can have are named at check."""
    raw = _raw("HER2-VAL-001")
    with pytest.raises(
        ProtocolError,
        match=r"^bootstrap\.cluster: unknown column 'nonexistent_col': .* analysed table "
        r"\(predictions joined with labels\), which has only patient_id, reference_her2, .*site.*, "
        r"score, score_pcr\.$",
    ):
        Protocol.from_dict(_set(raw, ("bootstrap", "cluster"), "nonexistent_col"))
    with pytest.raises(ProtocolError, match=r"unknown column 'sites'.* Did you mean 'site'\?"):
        Protocol.from_dict(_set(raw, ("bootstrap", "cluster"), "sites"))
    for column in ("site", "manufacturer", "patient_id"):
        assert Protocol.from_dict(_set(raw, ("bootstrap", "cluster"), column)).bootstrap.cluster


@pytest.mark.parametrize(
    ("name", "path", "value", "key", "nearest"),
    [
        ("VAL", ("population", "inclusion", 0, "column"), "ages", r"population\.inclusion\[0\]\.column", "age"),
        ("VAL", ("subgroups", 0, "by"), "sites", r"subgroups\[0\]\.by", "site"),
        ("VAL", ("reference_standard",), "reference_her2_central", r"reference_standard", "reference_her2"),
        ("NAT", ("population", "inclusion", 1, "column"), "therapie", r"population\.inclusion\[1\]\.column", "therapy"),
        ("NAT", ("reference_standard", "column"), "pcr_central", r"reference_standard\.column", "pcr"),
        ("NAT", ("reference_standard", "absent_when", 0, "column"), "pCR", r"reference_standard\.absent_when\[0\]\.column", "pcr"),
        ("NAT", ("comparisons", 0, "strata"), "therapies", r"comparisons\[0\]\.strata", "therapy"),
        ("NAT", ("comparisons", 0, "outcome"), "pcr_status", r"comparisons\[0\]\.outcome", "pcr"),
        ("NAT", ("comparisons", 0, "comparator"), "biopsy_her", r"comparisons\[0\]\.comparator", "biopsy_her2"),
        ("NAT", ("comparisons", 0, "score"), "score_pCR", r"comparisons\[0\]\.score", "score_pcr"),
    ],
)  # fmt: skip
def test_every_column_key_is_checked_against_the_data_dictionary(
    name: str, path: tuple[Any, ...], value: str, key: str, nearest: str
) -> None:
    """Wrong version: only ``bands`` and ``bootstrap.cluster`` were checked at ``protocol check``;
    a population rule, subgroup ``by``, reference standard or comparison ``strata``/``outcome``/
    ``comparator``/``score`` naming a column the tables cannot have (the labels reader keeps only
    the data dictionary's columns) passed check and registration, and failed only when run."""
    raw = _raw(next(p.stem for p in SHIPPED if name in p.stem))
    with pytest.raises(
        ProtocolError,
        match=rf"^{key}: unknown column '{value}': .* of the analysed table \(predictions joined "
        rf"with labels\), which has only patient_id, .*, score_pcr\. Did you mean '{nearest}'\?$",
    ):
        Protocol.from_dict(_set(raw, path, value))
    # the same key naming a column of the dictionary loads
    assert Protocol.from_dict(_set(raw, path, nearest)).protocol_hash


def test_params_of_a_metric_without_parameters_say_so() -> None:
    """Before: "unknown key 'method' (allowed: )." -- an empty list of allowed keys."""
    raw = _set(_raw("HER2-VAL-001"), ("endpoints", 0, "params"), {"method": "wilson"})
    with pytest.raises(
        ProtocolError,
        match=r"^endpoints\[0\]\.params\.method: unknown key 'method': metric 'auc' takes no "
        r"parameters; remove 'params'\.$",
    ):
        Protocol.from_dict(raw)
    assert Protocol.from_dict(_set(raw, ("endpoints", 0, "params"), {})).endpoints[0].params == ()


def test_missing_required_key() -> None:
    raw = _raw("HER2-VAL-001")
    del raw["endpoints"][2]["criterion"]
    with pytest.raises(
        ProtocolError, match=r"endpoints\[2\]\.criterion: required key 'criterion' is missing"
    ):
        Protocol.from_dict(raw)


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (
            ("comparisons", 4, "thresholds"),
            [],
            r"comparisons\[4\]\.thresholds: expected a non-empty list",
        ),
        (
            ("comparisons", 4, "criterion"),
            "estimate >= 0",
            r"comparisons\[4\]\.criterion: .*decision curves are descriptive",
        ),
        (
            ("comparisons", 2, "thresholds"),
            [0.2],
            r"comparisons\[2\]\.thresholds: only method 'decision_curve'",
        ),
        (
            ("comparisons", 2, "criterion"),
            "ci_low > 0",
            r"comparisons\[2\]\.criterion: method 'mcnemar' gives no ci_low",
        ),
        (
            ("comparisons", 0, "method"),
            "delong",
            r"comparisons\[0\]\.method: expected one of compare_auc",
        ),
        (("comparisons", 3, "hierarchy"), 3, r"comparisons\[3\]\.hierarchy|hierarchy"),
    ],
)
def test_comparison_errors(path: tuple[Any, ...], value: Any, match: str) -> None:
    raw = _set(_raw("HER2-NAT-002"), path, value)
    if path[-1] == "hierarchy":
        raw["comparisons"][3]["criterion"] = None  # a hierarchy member without a criterion
        match = (
            r"comparisons\[3\]\.criterion: a comparison in a hierarchy or family needs a criterion"
        )
    with pytest.raises(ProtocolError, match=match):
        Protocol.from_dict(raw)


def test_decision_curve_needs_thresholds() -> None:
    raw = _raw("HER2-NAT-002")
    del raw["comparisons"][4]["thresholds"]
    with pytest.raises(
        ProtocolError, match=r"comparisons\[4\]\.thresholds: required key 'thresholds' is missing"
    ):
        Protocol.from_dict(raw)


def test_top_level_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match=r"<top level>: expected a mapping; got list"):
        Protocol.from_dict([1, 2])
    with pytest.raises(ProtocolError, match=r"titel: unknown key 'titel'.*Did you mean 'title'\?"):
        Protocol.from_dict({**_raw("HER2-VAL-001"), "titel": "x"})
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"broken\.yaml: not valid YAML"):
        Protocol.from_yaml(broken)
    with pytest.raises(ProtocolError, match=r"absent\.yaml: cannot read protocol file"):
        Protocol.from_yaml(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**_raw("HER2-ERR-003"), "confidence": "high"}), encoding="utf-8")
    with pytest.raises(
        ProtocolError, match=r"bad\.yaml: confidence: expected a finite number; got str 'high'"
    ):
        Protocol.from_yaml(bad)


# --- hypothesis: mutations of valid protocols -------------------------------------------------
#: Required keys per mapping node, written from the documented schema (not from the loader).
_REQUIRED_BY_NODE = {
    "": (
        "id",
        "version",
        "title",
        "rationale",
        "population",
        "reference_standard",
        "operating_point",
        "bootstrap",
        "endpoints",
    ),
    "endpoints[]": ("id", "metric", "criterion"),
    "subgroups[]": ("id", "by", "metric", "min_size"),
    "comparisons[]": ("id", "method"),
    "operating_point": ("threshold",),
    "bootstrap": ("replicates", "seed"),
    "population.inclusion[]": ("column", "op"),
}
_KNOWN_WORDS = {
    "column",
    "op",
    "value",
    "reason",
    "id",
    "metric",
    "criterion",
    "params",
    "hierarchy",
    "family",
    "by",
    "min_size",
    "heterogeneity",
    "description",
    "method",
    "comparator",
    "outcome",
    "score",
    "thresholds",
    "inclusion",
    "exclusion",
    "threshold",
    "replicates",
    "seed",
    "cluster",
    "version",
    "title",
    "rationale",
    "population",
    "reference_standard",
    "analysis_unit",
    "operating_point",
    "confidence",
    "bootstrap",
    "endpoints",
    "subgroups",
    "comparisons",
    "fraction",
    "high_confidence",
}


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, node) pair of the raw protocol."""
    out = [(path, node)]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _walk(child, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += _walk(child, f"{path}[{i}]")
    return out


def _get(root: Any, path: str) -> tuple[Any, Any]:
    """(parent, key) of ``path`` in ``root``."""
    import re

    parts: list[Any] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    node = root
    for part in parts[:-1]:
        node = node[part]
    return node, parts[-1]


def _generic(path: str) -> str:
    import re

    return re.sub(r"\[\d+\]", "[]", path)


_BASES = {
    name: _raw(name) for name in ("HER2-VAL-001", "HER2-NAT-002", "HER2-ERR-003", "HER2-PRO-004")
}


@st.composite
def _mutations(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    base = copy.deepcopy(_BASES[draw(st.sampled_from(sorted(_BASES)))])
    nodes = _walk(base)
    kind = draw(st.sampled_from(["drop", "add", "type", "metric"]))
    if kind == "drop":
        # required keys of every mapping node; modality rules have no column (their key is the rule)
        choices = [
            f"{p}.{k}" if p else k
            for p, n in nodes
            if isinstance(n, dict) and _generic(p) in _REQUIRED_BY_NODE
            if not (p.startswith("population.") and "column" not in n)
            for k in _REQUIRED_BY_NODE[_generic(p)]
            if k in n
        ]
        target = draw(st.sampled_from(sorted(set(choices))))
        parent, key = _get(base, target)
        del parent[key]
        return base, target
    if kind == "add":
        where = draw(st.sampled_from([p for p, n in nodes if isinstance(n, dict)]))
        key = draw(
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(
                lambda k: k not in _KNOWN_WORDS and not k.startswith("modalities")
            )
        )
        node = _get(base, where)[0][_get(base, where)[1]] if where else base
        node[key] = 1
        return base, f"{where}.{key}" if where else key
    if kind == "type":
        leaves = [
            p for p, n in nodes if p and not isinstance(n, dict) and not _generic(p).endswith("]")
        ]
        target = draw(st.sampled_from(leaves))
        parent, key = _get(base, target)
        parent[key] = {"not": ["a", "valid", "value"]}
        return base, target
    metric_paths = [p for p, n in nodes if p.endswith(".metric")]
    if not metric_paths:  # HER2-NAT-002 has comparisons only
        base = copy.deepcopy(_BASES["HER2-VAL-001"])
        metric_paths = [p for p, n in _walk(base) if p.endswith(".metric")]
    target = draw(st.sampled_from(metric_paths))
    parent, key = _get(base, target)
    name = parent[key]
    cut = draw(st.integers(min_value=0, max_value=len(name) - 1))
    typo = name[:cut] + name[cut + 1 :] + draw(st.sampled_from(["", "x", "s"]))
    parent[key] = typo if typo not in METRICS else typo + "_x"  # e.g. eaurc -> aurc is still valid
    return base, target


@given(_mutations())
def test_malformed_mutations_raise_protocol_error_naming_the_path(
    case: tuple[dict[str, Any], str],
) -> None:
    data, path = case
    with pytest.raises(ProtocolError) as info:
        Protocol.from_dict(data)
    assert path in str(info.value), (path, str(info.value))


def test_the_harness_and_the_core_name_the_same_modalities_in_the_same_order() -> None:
    """The harness keeps its own modality keys (logging a trial event must not load the core or
    the protocol stack); they must be the core's, in the core's order."""
    from her2map.preprocess import MODALITY_KEYS as CORE_KEYS
    from validation.modalities import MODALITY_KEYS

    assert MODALITY_KEYS == CORE_KEYS
