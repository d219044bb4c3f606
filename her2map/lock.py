"""The model lock: hashes that freeze weights, configs, threshold and training manifest.

A lock file (JSON) sits beside the weights and the training manifest::

    {"format": "her2map-lock/2",
     "model": {"name": ..., "version": ...},
     "weights": {"file": "her2map.pt", "sha256": ...},
     "architecture": {"config": {...}, "sha256": ...},
     "preprocessing": {"config": {...}, "sha256": ...},
     "threshold": {"value": 0.41, "rule": "...", "sha256": ...},
     "training_manifest": {"file": "her2map.manifest.json", "sha256": ...},
     "training": {...provenance: seed, commands, selected epoch, validation AUC...},
     "software": {"her2map": ..., "torch": ...},
     "fields": {"format": ..., "model.name": ..., "model.version": ..., "training.seed": ..., ...}}

File hashes are SHA-256 of the file bytes; config and threshold hashes are SHA-256 of their
RFC 8785 canonical JSON. ``fields`` holds the canonical hash of every field of the lock (each
top-level key, and each key of a top-level mapping: ``model.name``, ``training.seed``, ...), so no
field -- model name, version, training provenance, software -- can change unnoticed.
:meth:`LockedModel.load` recomputes every one of them and refuses with
:class:`~her2map.exceptions.LockError` naming the part or field, the file, the expected and the
found hash. The lock must be strict JSON: NaN/Infinity, duplicate keys and a non-finite or
out-of-range threshold are refused.
``lock_hash`` (stamped on every prediction) is the canonical hash of the whole lock document.
Weights load with ``torch.load(weights_only=True)``; a file that is not a plain tensor checkpoint
(malformed, or carrying pickled objects) is refused with a LockError that names the file and never
suggests lifting that protection; inference runs single-threaded with
deterministic algorithms, so the same inputs give bit-identical scores on CPU.

A loaded model scores on the CPU; :meth:`LockedModel.to` gives a copy that scores on another
device (:func:`her2map.device.resolve_device`: the weights are verified and loaded on the CPU,
then moved; the lock hash and every check stay the same). On CUDA the inputs move to the GPU and
the probability comes back as a Python float (float64) exactly as on the CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rfc8785
import torch

from her2map._io import atomic_write_bytes
from her2map.device import CPU, Device, resolve_device, scoring
from her2map.exceptions import FirewallError, LockError
from her2map.model import ArchitectureConfig, Her2MapNet, collate
from her2map.preprocess import PreprocessConfig, preprocess_study

__all__ = [
    "DEFAULT_LOCK",
    "DEFAULT_RESPONSE_LOCK",
    "LOCK_FORMAT",
    "LockedModel",
    "canonical_hash",
    "field_digests",
    "sha256_file",
    "threshold_hash",
    "write_lock",
]

#: Lock document format tag.
LOCK_FORMAT = "her2map-lock/2"
#: Key of the per-field hashes inside the lock document.
FIELDS_KEY = "fields"
#: The shipped lock (weights, manifest and lock live in ``her2map/weights/``).
DEFAULT_LOCK = Path(__file__).resolve().parent / "weights" / "her2map.lock.json"
#: The shipped patient-response model's lock (P(pCR) from imaging + planned therapy).
DEFAULT_RESPONSE_LOCK = Path(__file__).resolve().parent / "weights" / "her2map-pcr.lock.json"


def canonical_hash(obj: Any) -> str:
    """SHA-256 hex of the RFC 8785 canonical JSON of ``obj``."""
    return hashlib.sha256(rfc8785.dumps(obj)).hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 hex of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def threshold_hash(value: float, rule: str) -> str:
    """Hash of the decision threshold together with the rule that chose it."""
    return canonical_hash({"rule": rule, "value": value})


def field_digests(lock: Mapping[str, Any]) -> dict[str, str]:
    """Canonical hash of every field of ``lock`` (except ``fields`` itself): each top-level key,
    and each key of a top-level mapping as ``parent.key``."""
    digests: dict[str, str] = {}
    for key, value in lock.items():
        if key == FIELDS_KEY:
            continue
        if isinstance(value, Mapping) and value:
            for sub, item in value.items():
                digests[f"{key}.{sub}"] = canonical_hash(item)
        else:
            digests[key] = canonical_hash(value)
    return dict(sorted(digests.items()))


def _check_fields(lock: Mapping[str, Any], path: Path) -> None:
    recorded = lock.get(FIELDS_KEY)
    if not isinstance(recorded, Mapping):
        raise LockError(
            f"lock {path}: missing key {FIELDS_KEY!r} (the hash of every field); the lock is "
            "malformed — restore it or re-create it with `her2map train`"
        )
    found = field_digests(lock)
    for name in sorted(set(recorded) | set(found)):
        if name not in found:
            problem = "was removed"
        elif name not in recorded:
            problem = "was added (no hash in 'fields' covers it)"
        elif recorded[name] != found[name]:
            problem = f"changed: expected sha256 {recorded[name]}, found {found[name]}"
        else:
            continue
        raise LockError(
            f"lock {path}: field {name!r} {problem}; the lock was edited — restore the original "
            "lock file or re-train and re-lock with `her2map train`"
        )


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _check_json(value: Any, where: str, path: Path) -> None:
    """Refuse what canonical JSON (RFC 8785) cannot hash: integers beyond 2^53 - 1, non-finite
    floats (``1e999`` parses as infinity), naming the key path."""
    if isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > 2**53 - 1:
        raise LockError(f"lock {path}: key {where!r}: integer {value} is beyond 2^53 - 1")
    if isinstance(value, float) and not math.isfinite(value):
        raise LockError(f"lock {path}: key {where!r}: {value!r} is not a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(item, f"{where}.{key}" if where else key, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", path)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def write_lock(
    out_dir: Path,
    *,
    state_dict: Mapping[str, torch.Tensor],
    architecture: ArchitectureConfig,
    preprocessing: PreprocessConfig,
    threshold: float,
    threshold_rule: str,
    manifest: Mapping[str, Any],
    training: Mapping[str, Any],
    name: str,
    version: str,
    stem: str = "her2map",
) -> Path:
    """Write ``<stem>.pt``, ``<stem>.manifest.json`` and ``<stem>.lock.json`` into ``out_dir``.

    Returns the lock path. Same inputs give the same bytes (``torch.save`` to memory, sorted JSON).
    """
    from her2map import __version__

    out_dir = Path(out_dir)
    buffer = io.BytesIO()
    torch.save({key: value.detach().clone() for key, value in state_dict.items()}, buffer)
    weights = atomic_write_bytes(out_dir / f"{stem}.pt", buffer.getvalue())
    manifest_path = atomic_write_bytes(out_dir / f"{stem}.manifest.json", _json_bytes(manifest))
    arch, prep = architecture.to_dict(), preprocessing.to_dict()
    lock = {
        "format": LOCK_FORMAT,
        "model": {"name": name, "version": version},
        "weights": {"file": weights.name, "sha256": sha256_file(weights)},
        "architecture": {"config": arch, "sha256": canonical_hash(arch)},
        "preprocessing": {"config": prep, "sha256": canonical_hash(prep)},
        "threshold": {
            "rule": threshold_rule,
            "sha256": threshold_hash(threshold, threshold_rule),
            "value": threshold,
        },
        "training_manifest": {"file": manifest_path.name, "sha256": sha256_file(manifest_path)},
        "training": dict(training),
        "software": {"her2map": __version__, "torch": torch.__version__},
    }
    lock[FIELDS_KEY] = field_digests(lock)
    return atomic_write_bytes(out_dir / f"{stem}.lock.json", _json_bytes(lock))


def _get(lock: Mapping[str, Any], path: str, kind: type, lock_path: Path) -> Any:
    node: Any = lock
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise LockError(
                f"lock {lock_path}: missing key {path!r}; the lock is malformed — "
                "restore it or re-create it with `her2map train`"
            )
        node = node[part]
    if kind is float and isinstance(node, int) and not isinstance(node, bool):
        node = float(node)
    if not isinstance(node, kind) or isinstance(node, bool):
        raise LockError(
            f"lock {lock_path}: key {path!r} must be {kind.__name__}, got {type(node).__name__}"
        )
    return node


def _verify(part: str, where: str, expected: str, found: str, lock_path: Path) -> None:
    if expected != found:
        raise LockError(
            f"lock {lock_path}: {part} hash differs ({where}): expected sha256 {expected}, "
            f"found {found}; the locked model was changed — restore the original files or "
            "re-train and re-lock with `her2map train`"
        )


def _sibling(lock_path: Path, name: str, part: str) -> Path:
    path = lock_path.parent / name
    if Path(name).name != name or not path.is_file():
        raise LockError(
            f"lock {lock_path}: {part} file {path} is missing (the lock names {name!r}); "
            "keep the lock, weights and manifest together in one folder"
        )
    return path


def _hashed_file(
    lock: Mapping[str, Any], key: str, lock_path: Path, *, name: str, short_name: str
) -> Path:
    """The file the lock names at ``<key>.file`` (beside the lock), once its sha256 equals
    ``<key>.sha256``. Errors call it ``name`` when its hash differs ("training manifest") and
    ``short_name`` when it is missing ("manifest")."""
    path = _sibling(lock_path, _get(lock, f"{key}.file", str, lock_path), short_name)
    expected = _get(lock, f"{key}.sha256", str, lock_path)
    _verify(name, f"file {path}", expected, sha256_file(path), lock_path)
    return path


def _hashed_config(lock: Mapping[str, Any], key: str, lock_path: Path) -> dict[str, Any]:
    """The lock's ``<key>.config``, once its canonical hash equals ``<key>.sha256``."""
    config: dict[str, Any] = _get(lock, f"{key}.config", dict, lock_path)
    expected = _get(lock, f"{key}.sha256", str, lock_path)
    _verify(f"{key} config", f"key '{key}.config'", expected, canonical_hash(config), lock_path)
    return config


def _load_tensors(weights: Path, lock_path: Path) -> Any:
    """``torch.load(weights_only=True)``; any failure is a LockError with torch's advice left out
    (it suggests ``weights_only=False``, i.e. running the file's code: never the fix here)."""
    try:
        return torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # untrusted bytes through torch's parser: every failure is a refusal
        raise LockError(
            f"lock {lock_path}: weights {weights} are not a plain tensor checkpoint "
            f"({type(exc).__name__}: malformed, or holding pickled objects other than tensors); "
            "the file was refused without running anything in it — restore the original weights "
            "or re-train and re-lock with `her2map train`"
        ) from None


@dataclass(frozen=True, eq=False)
class LockedModel:
    """A verified, frozen model; build it with :meth:`load` (never directly). ``device`` is where
    :meth:`predict_study` scores (:meth:`to`)."""

    lock_path: Path
    lock_hash: str
    name: str
    version: str
    threshold: float
    threshold_rule: str
    target: str
    training_patients: frozenset[str]
    architecture: ArchitectureConfig
    preprocessing: PreprocessConfig
    network: Her2MapNet
    device: Device = CPU

    @classmethod
    def load(
        cls, lock_path: str | Path | None = None, *, device: str | Device = "cpu"
    ) -> LockedModel:
        """Load and verify a lock (default: the shipped :data:`DEFAULT_LOCK`).

        Verifies, in order: the lock format, the SHA-256 of the weights file, of the canonical
        architecture and preprocessing configs, of the threshold (value + rule) and of the
        training-manifest file. Raises :class:`LockError` naming the first part that differs.
        ``device`` (default ``"cpu"``) is where it scores: :meth:`to` after loading on the CPU.
        """
        return cls._load(lock_path).to(device)

    def to(self, device: str | Device) -> LockedModel:
        """This model scoring on ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``;
        :func:`her2map.device.resolve_device`): ``self`` when already there, else a copy whose
        network was moved; the lock's identity (hash, threshold, manifest) is unchanged.

        Raises :class:`~her2map.exceptions.DeviceError` for a device torch does not see.
        """
        where = resolve_device(device)
        if where == self.device:
            return self
        network = copy.deepcopy(self.network).to(where.torch)
        return dataclasses.replace(self, network=network, device=where)

    @classmethod
    def _load(cls, lock_path: str | Path | None) -> LockedModel:
        path = Path(DEFAULT_LOCK if lock_path is None else lock_path)
        try:
            lock = json.loads(
                path.read_bytes(), object_pairs_hook=_strict_object, parse_constant=_no_constant
            )
        except FileNotFoundError:
            raise LockError(f"lock file {path} not found; pass --lock PATH to a lock") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise LockError(f"lock file {path} is not readable JSON: {exc}") from None
        _check_json(lock, "", path)
        if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT:
            found = lock.get("format") if isinstance(lock, dict) else type(lock).__name__
            raise LockError(f"lock {path}: key 'format' must be {LOCK_FORMAT!r}, got {found!r}")

        weights = _hashed_file(lock, "weights", path, name="weights", short_name="weights")
        arch_dict = _hashed_config(lock, "architecture", path)
        prep_dict = _hashed_config(lock, "preprocessing", path)
        value = _get(lock, "threshold.value", float, path)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise LockError(
                f"lock {path}: key 'threshold.value' must be a finite number in [0, 1], got "
                f"{value!r}; restore the lock or re-lock with `her2map train`"
            )
        rule = _get(lock, "threshold.rule", str, path)
        _verify(
            "threshold",
            "keys 'threshold.value' and 'threshold.rule'",
            _get(lock, "threshold.sha256", str, path),
            threshold_hash(value, rule),
            path,
        )
        manifest_path = _hashed_file(
            lock, "training_manifest", path, name="training manifest", short_name="manifest"
        )
        _check_fields(lock, path)

        try:
            architecture = ArchitectureConfig.from_dict(arch_dict)
            preprocessing = PreprocessConfig.from_dict(prep_dict)
        except (TypeError, ValueError) as exc:
            raise LockError(f"lock {path}: config does not match this software: {exc}") from None
        try:
            manifest = json.loads(manifest_path.read_bytes())
        except ValueError as exc:
            raise LockError(f"lock {path}: manifest {manifest_path} is not JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise LockError(f"lock {path}: manifest {manifest_path} is not a JSON object")
        target = manifest.get("target", {}).get("name", "her2")
        if target != ("pcr" if architecture.plan_inputs else "her2"):
            raise LockError(
                f"lock {path}: the manifest's target {target!r} does not fit the architecture "
                f"(plan_inputs={architecture.plan_inputs}); re-create it with `her2map train`"
            )
        patients = frozenset(
            str(pid)
            for key in ("training_patients", "validation_patients")
            for pid in manifest.get(key, [])
        )
        network = Her2MapNet(architecture)
        state = _load_tensors(weights, path)
        try:
            network.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise LockError(
                f"lock {path}: weights {weights} do not fit the locked architecture: {exc}"
            ) from None
        network.eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        return cls(
            lock_path=path,
            lock_hash=canonical_hash(lock),
            name=_get(lock, "model.name", str, path),
            version=_get(lock, "model.version", str, path),
            threshold=value,
            threshold_rule=rule,
            target=target,
            training_patients=patients,
            architecture=architecture,
            preprocessing=preprocessing,
            network=network,
        )

    def check_firewall(self, patient_ids: Iterable[str], *, source: str = "cohort") -> None:
        """Refuse (:class:`FirewallError`) if any id is in the training manifest (REQ-FW-001)."""
        overlap = sorted(set(patient_ids) & self.training_patients)
        if overlap:
            shown = ", ".join(overlap[:5]) + (", ..." if len(overlap) > 5 else "")
            raise FirewallError(
                f"{source}: {len(overlap)} patient(s) are in the training manifest of model "
                f"{self.name} {self.version} (lock {self.lock_hash[:12]}): {shown}; a test set "
                "must be disjoint from training and validation — synthesize or select a cohort "
                "with other patients"
            )

    def predict_study(
        self, images: Mapping[str, np.ndarray], *, therapy: str | None = None
    ) -> float:
        """The model's probability for one patient from raw images keyed by modality.

        P(HER2-positive) for the HER2 model (``target`` ``"her2"``; ``therapy`` must be None);
        P(pCR) for the response model (``target`` ``"pcr"``), which needs the planned neoadjuvant
        ``therapy`` (:func:`her2map.model.plan_features`). A mismatch is a ``ValueError``. Scores on
        :attr:`device` (:func:`her2map.device.scoring`); the float32 probability comes back to the
        CPU and becomes a Python float, the same way on every device.
        """
        from her2map.model import plan_features

        needs_plan = self.architecture.plan_inputs > 0
        if needs_plan != (therapy is not None):
            raise ValueError(
                f"therapy: model {self.name} (target {self.target}) "
                + ("needs the planned neoadjuvant therapy" if needs_plan else "takes no therapy")
                + f"; got {therapy!r}"
            )
        inputs, mask = collate([preprocess_study(images, self.preprocessing)], self.preprocessing)
        plan = None if therapy is None else torch.tensor([plan_features(therapy)])
        where = self.device.torch
        with scoring(self.device):
            logit = self.network(
                {key: value.to(where) for key, value in inputs.items()},
                mask.to(where),
                None if plan is None else plan.to(where),
            ).logits
            return float(torch.sigmoid(logit).cpu()[0])
