"""The locked network on a GPU: what is bit-identical and what agrees within a tolerance.

Skipped where torch sees no CUDA device (the CI machines); on a GPU machine it runs in well under
two minutes: ``python -m pytest tests/test_gpu.py -q``. Documented in docs/scale.md:

* on one device, a re-run gives the same bits (CPU always; CUDA with deterministic algorithms,
  ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` and TF32 off);
* CUDA against CPU: float32 kernels sum in a different order, so scores agree within
  :data:`CROSS_DEVICE_ATOL` (absolute, on probabilities), not bit for bit; the predictions table
  and every dossier are made on CPU.
"""

from __future__ import annotations

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before CUDA initialises

import pytest
import torch

from her2map import LockedModel
from her2map.model import deterministic_torch
from her2map.preprocess import MODALITY_KEYS

#: float32 network, summation order differs across devices: 1e-5 on a probability.
CROSS_DEVICE_ATOL = 1e-5

pytestmark = [
    pytest.mark.req("REQ-LOCK-002"),
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device seen by torch"),
]


def _scores(model: LockedModel, device: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    network = model.network.to(device)
    mask = torch.ones((len(next(iter(inputs.values()))), len(MODALITY_KEYS)), dtype=torch.bool)
    moved = {k: v.to(device) for k, v in inputs.items()}
    try:
        with deterministic_torch(), torch.inference_mode():
            return torch.sigmoid(network(moved, mask.to(device)).logits).cpu()
    finally:
        model.network.to("cpu")


def test_gpu_rerun_is_bit_identical_and_agrees_with_cpu() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = LockedModel.load()
    gen = torch.Generator().manual_seed(15)
    inputs = {
        k: torch.rand((64, *model.preprocessing.input_shape(k)), generator=gen)
        for k in MODALITY_KEYS
    }
    cpu_a, cpu_b = _scores(model, "cpu", inputs), _scores(model, "cpu", inputs)
    gpu_a, gpu_b = _scores(model, "cuda", inputs), _scores(model, "cuda", inputs)
    assert torch.equal(cpu_a, cpu_b)
    assert torch.equal(gpu_a, gpu_b)
    assert float((gpu_a - cpu_a).abs().max()) <= CROSS_DEVICE_ATOL
