"""Locked inference over a synthesized cohort, and a tiny training run.

A 24-patient cohort (``her2map synth``) is predicted with a lock around an untrained network whose
manifest holds other ids; the firewall test uses a lock whose manifest holds this cohort's ids.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from locks import make_lock

from her2map import LockedModel
from her2map.cli import main
from her2map.exceptions import FirewallError, LockError
from her2map.predict import PREDICTION_COLUMNS, exclusions_path, predict_cohort
from her2map.synth import synth
from her2map.train import TrainConfig, train, youden_threshold


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict") / "cohort"
    synth(out, patients=24, seed=31, workers=1)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    folder = tmp_path_factory.mktemp("lock")
    return LockedModel.load(make_lock(folder, training=["Q-OTHER-1"], validation=["Q-OTHER-2"]))


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.req("REQ-LOCK-002")
def test_predictions_table_is_complete_and_identical_on_rerun(
    cohort: Path, model: LockedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = predict_cohort(cohort, tmp_path / "a" / "predictions.csv", model=model)
    second = predict_cohort(cohort, tmp_path / "b" / "predictions.csv", model=model)
    assert first.read_bytes() == second.read_bytes()
    assert exclusions_path(first).read_bytes() == exclusions_path(second).read_bytes()
    assert capsys.readouterr().err == ""  # no progress bar when stderr is not a terminal
    rows = _rows(first)
    with open(cohort / "clinical.csv", newline="", encoding="utf-8") as handle:
        clinical = {row["patient_id"]: row for row in csv.DictReader(handle)}
    assert list(rows[0]) == list(PREDICTION_COLUMNS)
    assert [r["patient_id"] for r in rows] == sorted(clinical)  # synth data: nobody excluded
    assert _rows(exclusions_path(first)) == []
    for row in rows:
        assert row["site"] == clinical[row["patient_id"]]["site"]
        assert 0.0 < float(row["score"]) < 1.0
        assert repr(float(row["score"])) == row["score"]
        assert row["model_lock"] == model.lock_hash
        assert set(row["modalities"].split("+")) <= {"MG_CC", "MG_MLO", "US", "MR"}
        if clinical[row["patient_id"]]["site"] == "D":
            assert row["modalities"] == "MR"


@pytest.mark.req("REQ-PHI-001")
def test_no_patient_name_or_birth_date_reaches_the_predictions(
    cohort: Path, model: LockedModel, tmp_path: Path
) -> None:
    out = predict_cohort(cohort, tmp_path / "predictions.csv", model=model)
    written = out.read_text() + exclusions_path(out).read_text()
    secrets = set()
    for path in sorted((cohort / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        name = ds.PatientName
        secrets |= {str(name), name.family_name, name.given_name, str(ds.PatientBirthDate)}
    secrets = {s for s in secrets if len(s) >= 3}
    assert len(secrets) > 10
    leaked = sorted(s for s in secrets if s in written)
    assert leaked == []


@pytest.mark.req("REQ-FW-001")
def test_cohort_overlapping_the_training_manifest_is_refused(cohort: Path, tmp_path: Path) -> None:
    with open(cohort / "clinical.csv", newline="", encoding="utf-8") as handle:
        ids = sorted(row["patient_id"] for row in csv.DictReader(handle))
    lock = make_lock(tmp_path / "lock", training=ids[:3], validation=())
    with pytest.raises(FirewallError, match=rf"3 patient\(s\) .*{ids[0]}, {ids[1]}, {ids[2]}"):
        predict_cohort(cohort, tmp_path / "p.csv", model=LockedModel.load(lock))
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.req("REQ-ING-001")
def test_excluded_patients_are_listed_not_predicted_and_counted(
    cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "cohort"
    broken.mkdir()
    for item in ("clinical.csv", "cohort.json"):
        (broken / item).write_bytes((cohort / item).read_bytes())
    files = sorted((cohort / "dicom").rglob("*.dcm"))
    for path in files:
        target = broken / path.relative_to(cohort)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    victim = broken / files[0].relative_to(cohort)
    victim.write_bytes(b"not a DICOM file")
    lock = make_lock(tmp_path / "lock", training=(), validation=())
    out = tmp_path / "out" / "predictions.csv"
    status = main(["predict", "--cohort", str(broken), "--out", str(out), "--lock", str(lock)])
    assert status == 0
    excluded = _rows(exclusions_path(out))
    assert len(excluded) >= 1
    assert any(row["path"].endswith(victim.name) for row in excluded)
    assert all(row["reason"] for row in excluded)
    printed = capsys.readouterr().out
    assert f"{len(excluded)} exclusion(s)" in printed
    assert f"predicted {len(_rows(out))} patient(s)" in printed


def test_youden_threshold_against_hand_worked_example() -> None:
    # scores 0.1 0.4 0.35 0.8, labels 0 0 1 1; midpoints 0.225, 0.375, 0.6 give
    # J = 1 + 0.5 - 1 = 0.5, 0.5 + 0.5 - 1 = 0, 0.5 + 1 - 1 = 0.5: the tie keeps the higher (0.6).
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.6)
    # a perfect separation gives the midpoint between the classes
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9]) == pytest.approx(0.45)


@pytest.mark.slow
@pytest.mark.req("REQ-LOCK-002")
@pytest.mark.req("REQ-FW-001")
def test_tiny_training_run_is_reproducible_and_writes_a_verifying_lock(tmp_path: Path) -> None:
    development = tmp_path / "dev"
    synth(development, patients=60, seed=8, workers=1)
    config = TrainConfig(epochs=2, validation_fraction=0.4)
    first = train(development, tmp_path / "one", config=config, commands=["tiny"])
    second = train(development, tmp_path / "two", config=config, commands=["tiny"])
    for name in ("her2map.pt", "her2map.manifest.json", "her2map.lock.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    model = LockedModel.load(first.lock_path)
    manifest = json.loads((tmp_path / "one" / "her2map.manifest.json").read_text())
    with open(development / "clinical.csv", newline="", encoding="utf-8") as handle:
        sites = {row["patient_id"]: row["site"] for row in csv.DictReader(handle)}
    train_ids, val_ids = manifest["training_patients"], manifest["validation_patients"]
    assert train_ids == sorted(train_ids)
    assert val_ids == sorted(val_ids)
    assert not set(train_ids) & set(val_ids)
    assert set(train_ids) | set(val_ids) == {p for p, s in sites.items() if s in "ABC"}
    assert model.training_patients == frozenset(train_ids) | frozenset(val_ids)
    assert (first.n_train, first.n_validation) == (len(train_ids), len(val_ids))
    assert first.selected_epoch in (1, 2)
    lock = json.loads(first.lock_path.read_text())
    assert lock["training"]["validation_auc"] == first.validation_auc == second.validation_auc
    assert lock["threshold"]["value"] == model.threshold == first.threshold
    with pytest.raises(FirewallError, match="patient"):
        predict_cohort(development, tmp_path / "p.csv", model=model)


@pytest.fixture(scope="module")
def response(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    folder = tmp_path_factory.mktemp("response-lock")
    return LockedModel.load(make_lock(folder, training=["Q-OTHER-3"], target="pcr"))


@pytest.mark.req("REQ-RESP-001")
def test_score_pcr_only_for_neoadjuvant_patients_with_their_planned_therapy(
    cohort: Path, model: LockedModel, response: LockedModel, tmp_path: Path
) -> None:
    first = predict_cohort(cohort, tmp_path / "a.csv", model=model, response=response)
    second = predict_cohort(cohort, tmp_path / "b.csv", model=model, response=response)
    assert first.read_bytes() == second.read_bytes()
    with open(cohort / "clinical.csv", newline="", encoding="utf-8") as handle:
        clinical = {row["patient_id"]: row for row in csv.DictReader(handle)}
    rows = _rows(first)
    assert {clinical[r["patient_id"]]["pathway"] for r in rows} == {
        "neoadjuvant",
        "upfront-surgery",
    }
    for row in rows:
        nat = clinical[row["patient_id"]]["pathway"] == "neoadjuvant"
        assert (row["score_pcr"] != "") == nat
        assert row["response_lock"] == response.lock_hash
        assert row["model_lock"] == model.lock_hash
    without = _rows(predict_cohort(cohort, tmp_path / "c.csv", model=model))
    assert all(r["score_pcr"] == r["response_lock"] == "" for r in without)
    assert [r["score"] for r in without] == [r["score"] for r in rows]


@pytest.mark.req("REQ-RESP-001")
def test_the_planned_therapy_acts_and_is_required_only_by_the_response_model(
    model: LockedModel, response: LockedModel
) -> None:
    rng = np.random.default_rng(0)
    images = {"US": rng.integers(0, 4000, (64, 64)).astype(np.uint16)}
    anti = response.predict_study(images, therapy="anti-HER2")
    chemo = response.predict_study(images, therapy="chemotherapy")
    assert anti != chemo  # the therapy input reaches the head
    with pytest.raises(ValueError, match="needs the planned neoadjuvant therapy; got None"):
        response.predict_study(images)
    with pytest.raises(ValueError, match="takes no therapy; got 'anti-HER2'"):
        model.predict_study(images, therapy="anti-HER2")
    with pytest.raises(ValueError, match=r"planned therapy must be one of \['chemotherapy', "):
        response.predict_study(images, therapy="radiotherapy")
    with pytest.raises(ValueError, match="response must be a locked model of target 'pcr'"):
        predict_cohort(Path("unused"), Path("unused.csv"), model=model, response=model)


@pytest.mark.req("REQ-RESP-001", "REQ-LOCK-001")
def test_a_manifest_target_that_does_not_fit_the_architecture_is_refused(tmp_path: Path) -> None:
    import torch

    from her2map.lock import write_lock
    from her2map.model import ArchitectureConfig, Her2MapNet
    from her2map.preprocess import PreprocessConfig

    architecture = ArchitectureConfig(plan_inputs=1)  # a response network...
    lock = write_lock(
        tmp_path,
        state_dict=Her2MapNet(architecture).state_dict(),
        architecture=architecture,
        preprocessing=PreprocessConfig(),
        threshold=0.4,
        threshold_rule="test rule",
        manifest={"target": {"name": "her2"}, "training_patients": [], "validation_patients": []},
        training={"note": torch.__version__},
        name="test-model",
        version="0.0.1",
    )  # ...whose manifest claims the HER2 target
    with pytest.raises(LockError, match=r"manifest's target 'her2' does not fit the architecture"):
        LockedModel.load(lock)


@pytest.mark.req("REQ-RESP-001", "REQ-LOCK-001")
def test_shipped_response_lock_verifies_and_names_its_target() -> None:
    from her2map.lock import DEFAULT_RESPONSE_LOCK

    response = LockedModel.load(DEFAULT_RESPONSE_LOCK)
    her2 = LockedModel.load()
    assert (response.target, her2.target) == ("pcr", "her2")
    assert response.architecture.plan_inputs == 1
    manifest = json.loads((DEFAULT_RESPONSE_LOCK.parent / "her2map-pcr.manifest.json").read_text())
    assert manifest["initialised_from"]["lock_hash"] == her2.lock_hash
    assert set(manifest["training_patients"]) <= her2.training_patients  # same development cohort


@pytest.mark.slow
@pytest.mark.req("REQ-RESP-001")
def test_tiny_response_training_uses_neoadjuvant_patients_only(tmp_path: Path) -> None:
    development = tmp_path / "dev"
    synth(development, patients=90, seed=8, workers=1)
    her2 = train(
        development, tmp_path / "her2", config=TrainConfig(epochs=1, validation_fraction=0.4)
    )
    config = TrainConfig(epochs=1, validation_fraction=0.4, target="pcr")
    result = train(development, tmp_path / "pcr", config=config,
                   init_from=LockedModel.load(her2.lock_path))  # fmt: skip
    model = LockedModel.load(result.lock_path)
    assert model.target == "pcr"
    assert result.lock_path.name == "her2map-pcr.lock.json"
    with open(development / "clinical.csv", newline="", encoding="utf-8") as handle:
        rows = {row["patient_id"]: row for row in csv.DictReader(handle)}
    manifest = json.loads((tmp_path / "pcr" / "her2map-pcr.manifest.json").read_text())
    used = set(manifest["training_patients"]) | set(manifest["validation_patients"])
    assert used == {
        p for p, r in rows.items() if r["site"] in "ABC" and r["pathway"] == "neoadjuvant"
    }
    assert manifest["n_not_applicable"] == sum(
        r["site"] in "ABC" and r["pathway"] != "neoadjuvant" for r in rows.values()
    )
