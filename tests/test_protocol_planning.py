"""Planned sample size in the protocol: assumptions checked, required n computed and hashed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from validation.exceptions import ProtocolError
from validation.protocol import Protocol
from validation.stats.power import auc_sample_size, proportion_sample_size

pytestmark = pytest.mark.req("REQ-PLAN-001")

ROOT = Path(__file__).resolve().parents[1]


def _raw(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "protocols" / f"{name}.yaml").read_text())


def test_required_n_follows_the_declared_assumptions_and_the_criterion() -> None:
    p = Protocol.from_yaml(ROOT / "protocols" / "HER2-VAL-001.yaml")
    auc, sens, spec = (e.planning for e in p.endpoints[:3])
    assert auc is not None
    assert sens is not None
    assert spec is not None
    expected = auc_sample_size(expected=0.90, null=0.80, prevalence=0.17, alpha=0.025, power=0.80)
    assert auc.value("n_total") == expected.n_total
    assert auc.value("null") == 0.80
    assert auc.value("alpha") == pytest.approx(0.025)  # from confidence 0.95, not typed
    negatives = proportion_sample_size(expected=0.85, null=0.75, fraction=0.83, alpha=0.025,
                                       power=0.80, counted="negative")  # fmt: skip
    assert spec.value("n_negative") == negatives.n_negative
    assert all(e.planning is None for e in p.endpoints[3:])  # secondary: not planned


def test_every_shipped_primary_endpoint_is_planned() -> None:
    for name in ("HER2-VAL-001", "HER2-NAT-002", "HER2-ERR-003", "HER2-PRO-004"):
        p = Protocol.from_yaml(ROOT / "protocols" / f"{name}.yaml")
        primary = [x for x in (*p.endpoints, *p.comparisons) if x.hierarchy or x.family is not None]
        assert primary, name
        assert all(x.planning is not None for x in primary), name


def test_the_hash_covers_assumptions_and_a_copied_required_block_is_checked() -> None:
    raw = _raw("HER2-VAL-001")
    base = Protocol.from_dict(raw)
    changed = copy.deepcopy(raw)
    changed["endpoints"][0]["planning"]["expected"] = 0.88
    assert Protocol.from_dict(changed).protocol_hash != base.protocol_hash
    again = Protocol.from_dict(base.to_dict())  # the normalized form, with its required block
    assert again == base
    tampered = base.to_dict()
    tampered["endpoints"][0]["planning"]["required"]["n_total"] = 100
    with pytest.raises(ProtocolError, match=r"endpoints\[0\]\.planning\.required: does not follow"):
        Protocol.from_dict(tampered)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r["endpoints"][0]["planning"].update(alpha=0.05),
         r"endpoints\[0\]\.planning\.alpha: expected 0\.025, the one-sided level of the "
         r"criterion's 0\.95 interval; got 0\.05"),
        (lambda r: r["endpoints"][0].update(criterion="estimate >= 0.80"),
         r"endpoints\[0\]\.planning: a sample size for 'auc' is planned for a criterion "
         r"'ci_low >= VALUE'"),
        (lambda r: r["endpoints"][3].update(planning={"expected": 0, "prevalence": 0.2,
                                                      "power": 0.8}),
         r"endpoints\[3\]\.planning: no sample-size calculation for 'calibration_intercept'"),
        (lambda r: r["endpoints"][1]["planning"].update(method="obuchowski"),
         r"endpoints\[1\]\.planning\.method: only an AUC endpoint takes a method"),
        (lambda r: r["endpoints"][0]["planning"].update(expected=0.78),
         r"endpoints\[0\]\.planning: the planning assumptions cannot be met: expected must be "
         r"greater than the null value 0\.8"),
        (lambda r: r["endpoints"][0]["planning"].pop("prevalence"),
         r"endpoints\[0\]\.planning\.prevalence: required key 'prevalence' is missing"),
    ],
)  # fmt: skip
def test_bad_planning_is_refused_naming_the_key(edit: Any, match: str) -> None:
    raw = _raw("HER2-VAL-001")
    edit(raw)
    with pytest.raises(ProtocolError, match=match):
        Protocol.from_dict(raw)
