"""Locked inference over a synthesized cohort, and a tiny training run.

A 24-patient cohort (``her2map synth``) is predicted with a lock around an untrained network whose
manifest holds other ids; the firewall test uses a lock whose manifest holds this cohort's ids.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pydicom
import pytest
from locks import make_lock

from her2map import LockedModel
from her2map.cli import main
from her2map.exceptions import FirewallError
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
