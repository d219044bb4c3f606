"""The locked model on a GPU through the product path: what is bit-identical, what agrees within a
tolerance, and that sharded GPU inference never pads or duplicates a case.

Skipped where torch sees no CUDA device (the CI machines); on a GPU machine it runs in well under
two minutes: ``python -m pytest tests/test_gpu.py -q``. Documented in docs/scale.md "Devices":

* on one device, a re-run gives the same bits (CPU always; CUDA with the settings of
  :func:`her2map.device.scoring`: deterministic algorithms, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``,
  TF32 off) -- the same GPU model, driver and torch build;
* CUDA against CPU: float32 kernels sum in another order, so scores agree within
  :data:`her2map.device.CROSS_DEVICE_ATOL` (absolute, on probabilities), not bit for bit;
* with 2 worker processes on the GPU the table is the serial GPU table's bytes: the same patients,
  each once.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from locks import make_lock

from her2map import LockedModel
from her2map.device import CROSS_DEVICE_ATOL, resolve_device, scoring
from her2map.parallel import Workers
from her2map.predict import predict_cohort, provenance_path
from her2map.preprocess import MODALITY_KEYS
from her2map.synth import synth

pytestmark = [
    pytest.mark.req("REQ-LOCK-002"),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device seen by torch"),
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gpu") / "cohort"
    synth(out, patients=8, seed=15, workers=1)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LockedModel:
    folder = tmp_path_factory.mktemp("lock")
    return LockedModel.load(make_lock(folder, training=["Q-OTHER-1"], validation=["Q-OTHER-2"]))


def _scores(path: Path) -> dict[str, float]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["patient_id"]: float(row["score"]) for row in csv.DictReader(handle)}


def _batch(model: LockedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """P(HER2+) of a batch on the model's device, with the settings the product uses."""
    where = model.device.torch
    mask = torch.ones((len(next(iter(inputs.values()))), len(MODALITY_KEYS)), dtype=torch.bool)
    with scoring(model.device):
        moved = {k: v.to(where) for k, v in inputs.items()}
        return torch.sigmoid(model.network(moved, mask.to(where)).logits).cpu()


def test_network_rerun_on_gpu_is_bit_identical_and_agrees_with_cpu() -> None:
    cpu = LockedModel.load()
    gpu = cpu.to("cuda")
    assert gpu.lock_hash == cpu.lock_hash
    assert next(cpu.network.parameters()).device.type == "cpu"  # the CPU model is not moved
    gen = torch.Generator().manual_seed(15)
    inputs = {
        k: torch.rand((64, *cpu.preprocessing.input_shape(k)), generator=gen) for k in MODALITY_KEYS
    }
    cpu_a, cpu_b = _batch(cpu, inputs), _batch(cpu, inputs)
    gpu_a, gpu_b = _batch(gpu, inputs), _batch(gpu, inputs)
    assert torch.equal(cpu_a, cpu_b)
    assert torch.equal(gpu_a, gpu_b)
    assert float((gpu_a - cpu_a).abs().max()) <= CROSS_DEVICE_ATOL


def test_predict_cohort_on_gpu(cohort: Path, model: LockedModel, tmp_path: Path) -> None:
    """Rerun on the GPU: same bytes. GPU against CPU: same patients, scores within the tolerance.
    2 worker processes on the GPU: the serial GPU bytes (no padded or duplicated case)."""
    device = resolve_device("cuda")
    on_cpu = predict_cohort(cohort, tmp_path / "cpu" / "p.csv", model=model)
    first = predict_cohort(cohort, tmp_path / "gpu1" / "p.csv", model=model, device="cuda")
    again = predict_cohort(cohort, tmp_path / "gpu2" / "p.csv", model=model, device="cuda")
    sharded = predict_cohort(
        cohort, tmp_path / "gpu3" / "p.csv", model=model, device="cuda", workers=Workers(2)
    )
    assert first.read_bytes() == again.read_bytes()
    assert sharded.read_bytes() == first.read_bytes()
    gpu, cpu = _scores(first), _scores(on_cpu)
    assert sorted(gpu) == sorted(cpu)
    assert len(gpu) == 8
    assert max(abs(gpu[p] - cpu[p]) for p in cpu) <= CROSS_DEVICE_ATOL
    for out in (first, sharded):
        record = json.loads(provenance_path(out).read_bytes())
        assert record["devices"] == [device.label]
        assert record["cuda"] == torch.version.cuda
    assert json.loads(provenance_path(on_cpu).read_bytes())["devices"] == ["cpu"]
