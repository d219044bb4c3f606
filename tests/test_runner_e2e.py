"""End to end on a tiny synthesized cohort: the locked model predicts (``--cohort``), the shipped
protocol runs, and the test-set firewall holds for cohorts and for given predictions.

The lock wraps an untrained network (as tests/test_lock.py): this checks the plumbing, not the
model's accuracy. Whole file well under 30 s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from locks import make_lock

from her2map import LockedModel
from her2map.exceptions import FirewallError
from her2map.synth import synth
from her2map.synth.clinical import patient_id
from validation.canonical import sha256_file
from validation.exceptions import RunError
from validation.ledger import Ledger
from validation.protocol import Protocol, register
from validation.runner import run_protocol

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "HER2-VAL-001.yaml"


#: The 7th patient of the seed-5 cohort, planted in the "leaky" lock's training manifest.
LEAKED = patient_id(5, 6)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("e2e")
    synth(base / "cohort", patients=40, seed=5)
    ledger = base / "ledger.db"
    with Ledger.open(ledger) as book:
        register(Protocol.from_yaml(PROTOCOL), book, actor="qe")
    return {
        "base": base,
        "cohort": base / "cohort",
        "ledger": ledger,
        "lock": make_lock(base / "lock", training=["T-0001"], validation=()),
        "leaky": make_lock(base / "leaky", training=["T-0001", LEAKED], validation=()),
    }


@pytest.mark.slow
@pytest.mark.req("REQ-FW-001", "REQ-REPRO-001")
def test_cohort_run_with_the_locked_model(setup: dict[str, Path]) -> None:
    out = setup["base"] / "run"
    result = run_protocol(
        PROTOCOL,
        cohort=setup["cohort"],
        lock=setup["lock"],
        labels=setup["cohort"] / "clinical.csv",
        ledger=setup["ledger"],
        out_dir=out,
    )
    r = json.loads(result.results_path.read_bytes())
    model = LockedModel.load(setup["lock"])
    assert r["identity"]["model"] == {
        "kind": "locked",
        "name": "test-model",
        "version": "0.0.1",
        "lock_hash": model.lock_hash,
        "lock_threshold": 0.4,
    }
    assert r["settings"]["threshold_source"] == "lock"
    assert r["identity"]["data"]["predictions"] == {
        "name": "predictions.csv",
        "sha256": sha256_file(out / "predictions.csv"),
        "rows": 40,
    }
    assert r["flow"]["assessed"] == 40
    assert r["flow"]["analysed"] + r["flow"]["excluded"] == 40
    assert set(result.verdicts) == {
        *("VAL-E1", "VAL-E2", "VAL-E3", "VAL-S1", "VAL-S2", "VAL-S3"),
        *("VAL-G1", "VAL-G2", "VAL-G3"),  # subgroup analyses carry verdicts too
    }
    assert result.ledger_entry.payload["model_lock"] == model.lock_hash
    assert result.ledger_entry.payload["inputs"]["cohort"] == setup["cohort"].name

    # the same predictions given back as a table: same model identity, firewall applied
    given = setup["base"] / "given.csv"
    shutil.copy(out / "predictions.csv", given)
    again = run_protocol(
        PROTOCOL,
        predictions=given,
        lock=setup["lock"],
        labels=setup["cohort"] / "clinical.csv",
        ledger=setup["ledger"],
        out_dir=setup["base"] / "again",
    )
    r2 = json.loads(again.results_path.read_bytes())
    assert r2["endpoints"] == r["endpoints"]
    assert r2["identity"]["model"] == r["identity"]["model"]

    leaky = setup["base"] / "leaky.csv"  # as if made by the leaky lock's model
    leaky_hash = LockedModel.load(setup["leaky"]).lock_hash
    leaky.write_text(given.read_text().replace(model.lock_hash, leaky_hash))
    with pytest.raises(FirewallError, match=rf"predictions .*leaky\.csv.*{LEAKED}"):
        run_protocol(
            PROTOCOL,
            predictions=leaky,
            lock=setup["leaky"],
            labels=setup["cohort"] / "clinical.csv",
            ledger=setup["ledger"],
            out_dir=setup["base"] / "refused",
        )


@pytest.mark.slow
@pytest.mark.req("REQ-FW-001")
def test_cohort_overlapping_training_is_refused(setup: dict[str, Path]) -> None:
    with pytest.raises(FirewallError, match=rf"training manifest.*{LEAKED}"):
        run_protocol(
            PROTOCOL,
            cohort=setup["cohort"],
            lock=setup["leaky"],
            labels=setup["cohort"] / "clinical.csv",
            ledger=setup["ledger"],
            out_dir=setup["base"] / "leak",
        )
    assert not (setup["base"] / "leak" / "results.json").exists()


@pytest.mark.req("REQ-FW-001")
def test_predictions_from_another_lock_are_refused(setup: dict[str, Path], tmp_path: Path) -> None:
    pred = tmp_path / "pred.csv"
    pred.write_text("patient_id,site,score,model_lock\nP000001,A,0.3,deadbeef\n")
    with pytest.raises(RunError, match=r"column 'model_lock' is deadbeef.*give the lock that made"):
        run_protocol(
            PROTOCOL,
            predictions=pred,
            lock=setup["lock"],
            labels=setup["cohort"] / "clinical.csv",
            ledger=setup["ledger"],
            out_dir=tmp_path / "out",
        )
