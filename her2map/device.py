"""Where the locked model scores: ``cpu`` (the default), ``cuda``, ``cuda:N`` or ``auto``.

:func:`resolve_device` turns a request into a :class:`Device`; ``auto`` is CUDA device 0 when
``torch.cuda.is_available()``, else CPU. A requested CUDA device that torch does not see is refused
with a :class:`~her2map.exceptions.DeviceError` (exit status 2), never replaced by the CPU.

The default is ``cpu`` because the CPU path is the bit-identical one that REQ-LOCK-002 and a
dossier's reproduction rely on (one intra-op thread, deterministic algorithms:
:func:`her2map.model.deterministic_torch`); a GPU is used when asked for (``cuda``, ``cuda:N``, or
``auto`` where torch sees one). On CUDA, :func:`scoring` adds what PyTorch's reproducibility notes
require for bit-identical re-runs on the same GPU model and driver ("Reproducibility",
https://pytorch.org/docs/stable/notes/randomness.html; cuBLAS "Results reproducibility",
https://docs.nvidia.com/cuda/cublas/#results-reproducibility): deterministic algorithms,
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` set before CUDA initialises (set here when absent; another
value is refused), TF32 off for matmul and cuDNN, cuDNN benchmarking off. Scores on CUDA agree
with the CPU's within :data:`CROSS_DEVICE_ATOL`, not bit for bit (float32 sums in another order).
There is no R equivalent.

The device actually used is :attr:`Device.label` (``cpu``, ``cuda:0 NVIDIA H200``); prediction
provenance records it (:func:`her2map.predict.provenance_path`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from her2map.exceptions import DeviceError
from her2map.model import deterministic_torch

__all__ = [
    "CROSS_DEVICE_ATOL",
    "CUBLAS_WORKSPACE",
    "DEVICE_CHOICES",
    "Device",
    "resolve_device",
    "scoring",
]

#: Accepted spellings of a device request (``cuda:N`` for any device index N).
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "cuda:N")
#: The cuBLAS workspace setting that makes cuBLAS deterministic (set before CUDA initialises).
CUBLAS_WORKSPACE = ":4096:8"
#: Workspace settings that cuBLAS documents as deterministic; any other value is refused.
_DETERMINISTIC_WORKSPACES = (":4096:8", ":16:8")
#: GPU against CPU: largest absolute difference allowed on a probability (a float32 network whose
#: sums run in another order on the GPU); checked by tests/test_gpu.py where a GPU exists.
CROSS_DEVICE_ATOL = 1e-5

_CUDA = re.compile(r"cuda(?::(\d{1,3}))?")


@dataclass(frozen=True, slots=True)
class Device:
    """A resolved device: ``torch`` (``"cpu"`` or ``"cuda:N"``) and ``label``, what provenance
    records (``"cpu"``, or ``"cuda:N <device name>"``)."""

    torch: str
    label: str

    @property
    def is_cuda(self) -> bool:
        return self.torch.startswith("cuda")


CPU = Device("cpu", "cpu")


def _cuda_env() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` before CUDA initialises; refuse a non-deterministic value."""
    value = os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    if value not in _DETERMINISTIC_WORKSPACES:
        raise DeviceError(
            f"environment variable CUBLAS_WORKSPACE_CONFIG is {value!r}; deterministic CUDA "
            f"inference needs one of {list(_DETERMINISTIC_WORKSPACES)}: unset it (her2map sets "
            f"{CUBLAS_WORKSPACE}) or use --device cpu"
        )


def resolve_device(device: str | Device = "cpu") -> Device:
    """The :class:`Device` a request names (module docstring).

    Parameters
    ----------
    device : str or Device
        ``"cpu"`` (default), ``"cuda"`` (device 0), ``"cuda:N"``, or ``"auto"`` (CUDA device 0
        when ``torch.cuda.is_available()``, else CPU). A :class:`Device` is checked again (a Dask
        worker re-resolves what the caller resolved, so a worker without that GPU refuses).

    Raises
    ------
    DeviceError
        An unknown spelling, or a CUDA device that torch does not see (names the device, how many
        torch sees, and the fix).
    """
    text = device.torch if isinstance(device, Device) else device
    if not isinstance(text, str):
        raise DeviceError(f"device must be one of {list(DEVICE_CHOICES)}; got {text!r}")
    if text == "cpu":
        return CPU
    if text == "auto":
        _cuda_env()
        return _cuda(0) if torch.cuda.is_available() else CPU
    match = _CUDA.fullmatch(text)
    if match is None:
        raise DeviceError(f"device must be one of {list(DEVICE_CHOICES)}; got {text!r}")
    _cuda_env()
    index = int(match.group(1) or 0)
    seen = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if index >= seen:
        raise DeviceError(
            f"device {text!r}: torch sees {seen} CUDA device(s) on this machine"
            + (f" (cuda:0 to cuda:{seen - 1})" if seen else "")
            + "; use --device cpu, or run where that GPU is visible (the CPU is never used in "
            "its place)"
        )
    return _cuda(index)


def _cuda(index: int) -> Device:
    return Device(f"cuda:{index}", f"cuda:{index} {torch.cuda.get_device_name(index)}")


@contextmanager
def scoring(device: Device) -> Iterator[None]:
    """Deterministic inference on ``device`` (module docstring); restores torch's settings on exit.

    CPU: :func:`her2map.model.deterministic_torch` (one intra-op thread, deterministic
    algorithms). CUDA: the same, plus TF32 off for matmul and cuDNN and cuDNN benchmarking off.
    """
    if not device.is_cuda:
        with deterministic_torch(), torch.inference_mode():
            yield
        return
    _cuda_env()
    backends = torch.backends
    old = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark)
    backends.cuda.matmul.allow_tf32 = False
    backends.cudnn.allow_tf32 = False
    backends.cudnn.benchmark = False
    try:
        with deterministic_torch(), torch.inference_mode():
            yield
    finally:
        backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark = old
