"""End to end (REQ-TRIAL-001): synthetic DICOM -> trial log -> export -> HER2-PRO-004 run.

A small synthetic cohort (``her2map.synth``) plays the trial's patients -- its neoadjuvant ones,
as HER2-PRO-004 is a neoadjuvant trial: each is enrolled and
predicted from its own DICOM folder by a locked (untrained) model, then biopsy, therapy, surgery
and response are recorded from the cohort's clinical.csv. The export is checked against two
independent sources: the core's own ``predict_cohort`` on the same cohort and lock (scores,
modalities, lock hash, byte for byte) and the synthetic clinical table (HER2 calls, pCR). The
pre-registered HER2-PRO-004 then runs on the export, and its results cite the ledger head that
the export manifest names.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pydicom
import pytest
from locks import make_lock

from her2map.predict import predict_cohort
from her2map.synth import synth
from validation.cli import main
from validation.exceptions import TrialRuleError
from validation.protocol import Protocol, register
from validation.runner import run_protocol
from validation.trial import Trial
from validation.trial.imaging import load_model

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "HER2-PRO-004.yaml"
N_COHORT = 90


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("trial_e2e")
    synth(base / "cohort", patients=N_COHORT, seed=20261127)
    lock = make_lock(base / "lock", training=["T-0001"], validation=(), threshold=0.5)
    rows = _rows(base / "cohort" / "clinical.csv")
    clinical = [r for r in rows if r["pathway"] == "neoadjuvant"]  # the trial's population
    return {"base": base, "lock": lock, "clinical": clinical}


def _ish(value: str) -> str:
    return value or "not_done"  # clinical.csv leaves ISH empty when it was not done


@pytest.mark.req("REQ-TRIAL-001", "REQ-AUD-001")
def test_trial_log_export_and_interim_protocol_run(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base, lock, clinical = world["base"], world["lock"], world["clinical"]
    db = base / "trial.db"
    model = load_model(lock)
    n_patients = len(clinical)
    withdrawn, unblinded = clinical[0], clinical[1]
    follow_up = next(r for r in clinical[2:] if r["pcr"] == "0")  # operated, response pending
    with Trial.open(db) as trial:
        register(Protocol.from_yaml(PROTOCOL), trial.ledger, actor="sponsor")  # registered first
        trial.open_recruitment(
            sorted({r["site"] for r in clinical}),
            protocol_id="HER2-PRO-004",
            actor="cc",
            site="A",
            model=model,
        )
        for row in clinical:
            pid, who = row["patient_id"], {"actor": f"dr-{row['site']}", "site": row["site"]}
            trial.enrol(
                pid,
                consent_ref=f"IC-{pid}",
                laterality=row["laterality"],
                age=int(row["age"]),
                hr_status=int(row["hr_status"]),
                **who,
            )
            if row is unblinded:
                trial.record_biopsy(pid, ihc=row["biopsy_ihc"], ish=_ish(row["biopsy_ish"]), **who)
            elif row is clinical[3]:  # one patient through the CLI
                args = [
                    "trial",
                    "predict",
                    "--ledger",
                    str(db),
                    "--actor",
                    who["actor"],
                    "--site",
                    row["site"],
                    "--patient",
                    pid,
                    "--study",
                    str(base / "cohort" / "dicom" / pid),
                    "--lock",
                    str(lock),
                ]
                assert main(args) == 0, capsys.readouterr().err
                assert "recorded trial.prediction" in capsys.readouterr().out
            else:
                entry = trial.predict(
                    pid, study=base / "cohort" / "dicom" / pid, model=model, **who
                )
                read = entry.payload["read"]  # the prediction names the study and files it read
                assert len(read["study_uids"]) == 1
                assert len(read["instance_uids"]) >= len(entry.payload["modalities"])
                dates = {  # the imaging date is the StudyDate of those files, read here again
                    ds.StudyDate
                    for ds in (
                        pydicom.dcmread(f, stop_before_pixels=True)
                        for f in (base / "cohort" / "dicom" / pid).rglob("*")
                        if f.is_file()
                    )
                    if ds.SOPInstanceUID in read["instance_uids"]
                }
                assert len(dates) == 1
                (day,) = dates
                assert entry.payload["imaging_date"] == f"{day[:4]}-{day[4:6]}-{day[6:]}"
            if row is not unblinded:
                trial.record_biopsy(pid, ihc=row["biopsy_ihc"], ish=_ish(row["biopsy_ish"]), **who)
            anti_her2 = row["therapy"] == "anti-HER2"
            trial.record_therapy(pid, regimen=row["therapy"], anti_her2=anti_her2, **who)
            if row["pcr"] != "1":  # after pCR no invasive tumour is left for a surgical HER2
                trial.record_surgery(
                    pid, ihc=row["reference_ihc"], ish=_ish(row["reference_ish"]), **who
                )
            if row is not follow_up and row["pcr"] != "":
                trial.record_response(pid, pcr=row["pcr"] == "1", **who)
            if row is withdrawn:
                trial.withdraw(pid, reason="consent withdrawn", **who)
        exported = trial.export(base / "export")
    manifest = json.loads(exported.manifest.read_bytes())
    assert [e["patient_id"] for e in manifest["excluded"]] == sorted(
        [withdrawn["patient_id"], unblinded["patient_id"]]
    )
    assert {
        "patient_id": follow_up["patient_id"],
        "site": follow_up["site"],
        "reason": "missing response",
    } in manifest["incomplete"]

    # Scores: the core's own batch path on the same DICOM and lock gives the same bytes.
    predict_cohort(base / "cohort", base / "core_predictions.csv", model=model, progress=False)
    core = {r["patient_id"]: r for r in _rows(base / "core_predictions.csv")}
    ours = _rows(exported.predictions)
    assert len(ours) == n_patients - 2
    for row in ours:  # the trial export's columns (the core adds score_pcr and provenance)
        assert row == {key: core[row["patient_id"]][key] for key in row}
        extra = {"lossy_compression", "score_pcr", "response_lock"}
        assert set(core[row["patient_id"]]) - set(row) == extra
    # Labels: the synthetic clinical table's calls (its own ASCO/CAP derivation) and pCR.
    truth = {r["patient_id"]: r for r in clinical}
    for row in _rows(exported.labels):
        source = truth[row["patient_id"]]
        expected_pcr = "" if source is follow_up else source["pcr"]
        assert (row["reference_her2"], row["biopsy_her2"], row["pcr"]) == (
            source["reference_her2"],
            source["biopsy_her2"],
            expected_pcr,
        )
        assert (row["age"], row["hr_status"], row["site"]) == (
            source["age"],
            source["hr_status"],
            source["site"],
        )

    result = run_protocol(
        PROTOCOL,
        predictions=exported.predictions,
        labels=exported.labels,
        ledger=db,
        out_dir=base / "run",
        lock=lock,
    )
    results = json.loads(result.results_path.read_bytes())
    identity = results["identity"]
    assert str(result.head_before) == manifest["ledger"]["head"]
    assert (
        identity["data"]["predictions"]["sha256"] == manifest["files"]["predictions.csv"]["sha256"]
    )
    assert identity["data"]["labels"]["sha256"] == manifest["files"]["labels.csv"]["sha256"]
    assert identity["model"]["lock_hash"] == manifest["model_lock"] == model.lock_hash
    assert results["settings"]["confidence"] == 0.999
    flow = results["flow"]
    missing_pcr = sum(
        1
        for r in clinical
        if r is not withdrawn and r is not unblinded and (r is follow_up or r["pcr"] == "")
    )
    assert flow["assessed"] == n_patients - 2
    reason = (
        "pathological complete response (ypT0/is ypN0) at surgery after neoadjuvant therapy "
        "not available"
    )
    assert {"reason": reason, "n": missing_pcr} in flow["exclusions"]
    assert flow["analysed"] == n_patients - 2 - missing_pcr
    assert set(result.verdicts) == {
        "PRO-C1",
        "PRO-C2",
        "PRO-F1",
        "PRO-C3",
        "PRO-C4",
        "PRO-C5",
        "PRO-G1",
    }
    assert result.ledger_entry.seq == manifest["ledger"]["head_seq"] + 1


@pytest.mark.req("REQ-TRIAL-001", "REQ-ING-001")
def test_dicom_prediction_refusals_write_nothing(world: dict[str, Any]) -> None:
    base, lock, clinical = world["base"], world["lock"], world["clinical"]
    model = load_model(lock)
    first, second = clinical[0], clinical[1]
    with Trial.open(base / "refusals.db") as trial:
        trial.open_recruitment(
            ["A", "B", "C", "D"], protocol_id="HER2-PRO-004", actor="cc", site="A", model=model
        )
        who = {"actor": "dr", "site": first["site"]}
        trial.enrol(first["patient_id"], consent_ref="IC", **who)  # no laterality recorded
        head = trial.ledger.head()
        with pytest.raises(TrialRuleError, match=r"rule VALUE: the enrolment has no laterality"):
            trial.predict(
                first["patient_id"],
                study=base / "cohort" / "dicom" / first["patient_id"],
                model=model,
                **who,
            )
        trial.correct(
            first["patient_id"],
            event="enrolled",
            field="laterality",
            value=first["laterality"],
            reason="added from imaging report",
            **who,
        )
        # The study folder of another patient holds no image of this one.
        with pytest.raises(
            TrialRuleError,
            match=rf"patient {first['patient_id']}: trial\.prediction refused by rule IMAGING: no usable image",
        ):
            trial.predict(
                first["patient_id"],
                study=base / "cohort" / "dicom" / second["patient_id"],
                model=model,
                **who,
            )
        assert trial.ledger.head().seq == head.seq + 1  # only the correction
        entry = trial.predict(
            first["patient_id"],
            study=base / "cohort" / "dicom" / first["patient_id"],
            model=model,
            **who,
        )
        assert entry.payload["source"] == "dicom"
        assert entry.payload["model_name"] == "test-model"
