"""The device switch of locked inference, on the CPU side (runs everywhere; tests/test_gpu.py
covers a real GPU and is skipped without one).

Where a test needs torch to "see" GPUs it replaces ``torch.cuda.is_available`` /
``device_count`` / ``get_device_name`` (nothing is ever moved to such a fake GPU); everything that
scores runs on the CPU.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path

import pytest
import torch
from locks import make_lock

from her2map import LockedModel
from her2map.cli import build_parser, main
from her2map.device import CPU, CUBLAS_WORKSPACE, Device, resolve_device
from her2map.exceptions import DeviceError
from her2map.ingest import load_cohort, load_images
from her2map.model import collate, deterministic_torch
from her2map.parallel import Workers
from her2map.predict import PROVENANCE_FORMAT, predict_cohort, provenance_path
from her2map.preprocess import preprocess_study
from her2map.synth import synth
from validation.exceptions import RunError
from validation.runner import beside_predictions
from validation.runner.run import _predictions


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("device") / "cohort"
    synth(out, patients=6, seed=21, workers=1)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    folder = tmp_path_factory.mktemp("lock")
    return LockedModel.load(make_lock(folder, training=["Q-OTHER-1"], validation=["Q-OTHER-2"]))


def _no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)  # restored after the test
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def _fake_gpus(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: f"Fake GPU {i}")


def test_cpu_is_the_default_and_auto_is_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_gpu(monkeypatch)
    assert resolve_device() == CPU == Device("cpu", "cpu")
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto") == CPU
    assert resolve_device(CPU) == CPU
    assert not CPU.is_cuda


def test_auto_takes_the_gpu_torch_sees_and_the_default_stays_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Wrong versions: ``auto`` that always means CPU, or a default that follows the GPU."""
    _fake_gpus(monkeypatch, 2)
    assert resolve_device("auto") == Device("cuda:0", "cuda:0 Fake GPU 0")
    assert resolve_device("cuda") == Device("cuda:0", "cuda:0 Fake GPU 0")
    assert resolve_device("cuda:1") == Device("cuda:1", "cuda:1 Fake GPU 1")
    assert resolve_device("cuda:1").is_cuda
    assert resolve_device() == CPU
    assert inspect.signature(predict_cohort).parameters["device"].default == "cpu"
    assert inspect.signature(LockedModel.load).parameters["device"].default == "cpu"
    args = build_parser().parse_args(["predict", "--cohort", "c", "--out", "o.csv"])
    assert args.device == "cpu"


@pytest.mark.parametrize("spelling", ["gpu", "CUDA", "cuda:", "cuda:x", "cuda:-1", "", " cpu", 0])
def test_unknown_spellings_are_refused_naming_the_choices(spelling: object) -> None:
    with pytest.raises(DeviceError, match=r"device must be one of \['auto', 'cpu', 'cuda', "):
        resolve_device(spelling)  # type: ignore[arg-type]


def test_a_cuda_device_torch_does_not_see_is_refused_never_replaced_by_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_gpu(monkeypatch)
    for asked in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match=rf"device '{asked}': torch sees 0 CUDA device"):
            resolve_device(asked)
    _fake_gpus(monkeypatch, 2)
    with pytest.raises(DeviceError, match=r"'cuda:2': torch sees 2 CUDA .*\(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")
    with pytest.raises(DeviceError, match=r"'cuda:3'"):  # a Device re-resolved on a worker
        resolve_device(Device("cuda:3", "cuda:3 elsewhere"))


def test_cublas_workspace_is_set_before_cuda_and_a_nondeterministic_one_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_gpu(monkeypatch)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    resolve_device("auto")
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")
    with pytest.raises(DeviceError, match=r"CUBLAS_WORKSPACE_CONFIG is ':0:0'"):
        resolve_device("auto")
    assert resolve_device("cpu") == CPU  # the CPU path does not depend on it


def _twin_scores(cohort: Path, model: LockedModel) -> dict[str, str]:
    """The scores as the core computed them before the device switch: collate, the network on the
    CPU under ``deterministic_torch``, ``repr(float(sigmoid))`` -- the obviously correct twin."""
    scores = {}
    for study in load_cohort(cohort).studies:
        prepared = preprocess_study(load_images(study), model.preprocessing)
        inputs, mask = collate([prepared], model.preprocessing)
        with deterministic_torch(), torch.inference_mode():
            logit = model.network(inputs, mask).logits
        scores[study.patient_id] = repr(float(torch.sigmoid(logit)[0]))
    return scores


@pytest.mark.req("REQ-LOCK-002")
def test_cpu_path_gives_the_bytes_of_before_and_records_the_device(
    cohort: Path, model: LockedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_gpu(monkeypatch)
    default = predict_cohort(cohort, tmp_path / "a" / "p.csv", model=model)
    auto = predict_cohort(cohort, tmp_path / "b" / "p.csv", model=model, device="auto")
    assert default.read_bytes() == auto.read_bytes()
    rows = default.read_text().splitlines()
    assert rows[0].split(",")[2] == "score"  # no device column: the table is as before
    assert {r.split(",")[0]: r.split(",")[2] for r in rows[1:]} == _twin_scores(cohort, model)
    for out in (default, auto):
        record = json.loads(provenance_path(out).read_bytes())
        assert record == {
            "cuda": None,
            "devices": ["cpu"],
            "format": PROVENANCE_FORMAT,
            "model_lock": model.lock_hash,
            "predictions_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
            "response_lock": None,
            "torch": torch.__version__,
        }
    assert provenance_path(default).read_bytes() == provenance_path(auto).read_bytes()
    assert beside_predictions(default) == (
        default.with_name("p.exclusions.csv"),
        default.with_name("p.provenance.json"),
    )


@pytest.mark.req("REQ-SCALE-001")
def test_workers_score_on_the_device_and_record_it_without_padding(
    cohort: Path, model: LockedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_gpu(monkeypatch)
    serial = predict_cohort(cohort, tmp_path / "one" / "p.csv", model=model, device="cpu")
    two = predict_cohort(
        cohort, tmp_path / "two" / "p.csv", model=model, device="auto",
        workers=Workers(2, processes=False),
    )  # fmt: skip
    assert two.read_bytes() == serial.read_bytes()
    assert provenance_path(two).read_bytes() == provenance_path(serial).read_bytes()
    ids = [line.split(",")[0] for line in two.read_text().splitlines()[1:]]
    assert ids == sorted(set(ids))
    assert len(ids) == 6


def test_gpu_with_worker_threads_is_refused_before_scoring(
    cohort: Path, model: LockedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads share torch's process-wide deterministic switch: refused on a GPU (the fake GPU is
    never touched: the refusal comes before any model moves)."""
    _fake_gpus(monkeypatch, 1)
    out = tmp_path / "p.csv"
    with pytest.raises(
        DeviceError, match=r"'cuda:0' with 2 local Dask worker threads: .*processes"
    ):
        predict_cohort(cohort, out, model=model, device="cuda", workers=Workers(2, processes=False))
    assert not out.exists()


def test_model_to_moves_a_copy_and_keeps_the_lock_identity(
    model: LockedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_gpu(monkeypatch)
    assert model.device == CPU
    assert model.to("cpu") is model
    assert model.to("auto") is model
    with pytest.raises(DeviceError, match=r"torch sees 0 CUDA"):
        model.to("cuda")
    with pytest.raises(DeviceError, match=r"torch sees 0 CUDA"):
        LockedModel.load(model.lock_path, device="cuda:0")


def test_cli_refuses_an_unseen_gpu_before_reading_anything(
    cohort: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _no_gpu(monkeypatch)
    out = tmp_path / "out" / "p.csv"
    missing_lock = tmp_path / "no-such.lock.json"  # refused by device before the lock is read
    argv = ["predict", "--cohort", str(cohort), "--out", str(out), "--lock", str(missing_lock)]
    assert main([*argv, "--device", "cuda:0"]) == 2
    err = capsys.readouterr().err
    assert "device 'cuda:0': torch sees 0 CUDA device(s)" in err
    assert "Traceback" not in err
    assert main([*argv, "--device", "tpu"]) == 2
    assert "device must be one of ['auto', 'cpu', 'cuda', 'cuda:N']; got 'tpu'" in (
        capsys.readouterr().err
    )
    assert not out.parent.exists()


def test_cli_records_and_prints_the_device(
    cohort: Path, model: LockedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _no_gpu(monkeypatch)
    out = tmp_path / "p.csv"
    argv = ["predict", "--cohort", str(cohort), "--out", str(out), "--lock", str(model.lock_path)]
    assert main([*argv, "--no-response", "--device", "auto"]) == 0
    assert ") on cpu; " in capsys.readouterr().out
    assert json.loads(provenance_path(out).read_bytes())["devices"] == ["cpu"]


def test_runner_refuses_a_device_with_given_predictions(tmp_path: Path) -> None:
    """``--device`` with ``--predictions`` would change nothing: refused, not ignored."""
    with pytest.raises(RunError, match=r"--device cuda: .*--cohort.*Leave --device out"):
        _predictions(tmp_path / "p.csv", None, None, tmp_path, "cuda")
