"""Model lock: every hash verified at load, changes refused naming what differs; determinism;
test-set firewall. The locks here wrap an untrained network (training is tested elsewhere)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from locks import make_lock

from her2map import LockedModel
from her2map.exceptions import FirewallError, LockError
from her2map.lock import DEFAULT_LOCK, LOCK_FORMAT, write_lock
from her2map.model import ArchitectureConfig, Her2MapNet
from her2map.preprocess import PreprocessConfig

MANIFEST = {"training_patients": ["P-T-0001", "P-T-0002"], "validation_patients": ["P-T-0003"]}


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return make_lock(tmp_path / "lock")


def _images(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "MG_CC": rng.random((96, 96), dtype=np.float32) * 3000,
        "MR": rng.random((3, 8, 48, 48), dtype=np.float32) * 900,
    }


def _edit_lock(path: Path, section: str, key: str, value: object) -> None:
    lock = json.loads(path.read_text())
    lock[section][key] = value
    path.write_text(json.dumps(lock, indent=2, sort_keys=True))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.req("REQ-LOCK-001")
def test_intact_lock_loads_and_exposes_its_identity(lock_path: Path) -> None:
    model = LockedModel.load(lock_path)
    lock = json.loads(lock_path.read_text())
    assert lock["weights"]["sha256"] == _sha(lock_path.parent / "her2map.pt")
    assert lock["training_manifest"]["sha256"] == _sha(lock_path.parent / "her2map.manifest.json")
    assert (model.name, model.version, model.threshold) == ("test-model", "0.0.1", 0.4)
    assert model.training_patients == frozenset({"P-T-0001", "P-T-0002", "P-T-0003"})
    assert len(model.lock_hash) == 64
    assert 0.0 < model.predict_study(_images(0)) < 1.0


@pytest.mark.req("REQ-LOCK-001")
def test_a_changed_byte_in_the_weights_is_refused(lock_path: Path) -> None:
    weights = lock_path.parent / "her2map.pt"
    before = _sha(weights)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(
        LockError,
        match=rf"weights hash differs \(file .*her2map\.pt\): "
        rf"expected sha256 {before}, found {_sha(weights)}",
    ):
        LockedModel.load(lock_path)


@pytest.mark.req("REQ-LOCK-001")
@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "architecture",
            "config",
            {**ArchitectureConfig().to_dict(), "embed_dim": 33},
            r"architecture config hash differs \(key 'architecture.config'\)",
        ),
        (
            "preprocessing",
            "config",
            {**PreprocessConfig().to_dict(), "mg_size": 64},
            r"preprocessing config hash differs \(key 'preprocessing.config'\)",
        ),
        ("threshold", "value", 0.41, r"threshold hash differs"),
        ("threshold", "rule", "another rule", r"threshold hash differs"),
        ("weights", "sha256", "0" * 64, r"weights hash differs .*expected sha256 0{64}"),
    ],
)
def test_a_changed_locked_config_or_threshold_is_refused(
    lock_path: Path, section: str, key: str, value: object, message: str
) -> None:
    _edit_lock(lock_path, section, key, value)
    with pytest.raises(LockError, match=message):
        LockedModel.load(lock_path)


@pytest.mark.req("REQ-LOCK-001")
def test_a_changed_training_manifest_is_refused(lock_path: Path) -> None:
    manifest = lock_path.parent / "her2map.manifest.json"
    data = json.loads(manifest.read_text())
    data["training_patients"].remove("P-T-0001")  # hide a training patient from the firewall
    manifest.write_text(json.dumps(data))
    with pytest.raises(LockError, match=r"training manifest hash differs \(file .*manifest"):
        LockedModel.load(lock_path)


@pytest.mark.req("REQ-LOCK-001")
def test_missing_files_and_malformed_locks_are_refused(lock_path: Path, tmp_path: Path) -> None:
    (lock_path.parent / "her2map.manifest.json").unlink()
    with pytest.raises(LockError, match=r"manifest file .* is missing"):
        LockedModel.load(lock_path)
    with pytest.raises(LockError, match=r"lock file .*nowhere.json not found"):
        LockedModel.load(tmp_path / "nowhere.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": LOCK_FORMAT, "weights": {}}))
    with pytest.raises(LockError, match=r"missing key 'weights.file'"):
        LockedModel.load(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(LockError, match=rf"key 'format' must be '{LOCK_FORMAT}', got 'other'"):
        LockedModel.load(bad)


@pytest.mark.req("REQ-LOCK-001")
def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path: Path) -> None:
    lock_path = make_lock(tmp_path)
    lock = json.loads(lock_path.read_text())
    other = Her2MapNet(ArchitectureConfig(embed_dim=8))
    write_lock(
        tmp_path / "other",
        state_dict=other.state_dict(),
        architecture=ArchitectureConfig(),  # lock claims the default architecture
        preprocessing=PreprocessConfig(),
        threshold=0.4,
        threshold_rule="test rule",
        manifest=MANIFEST,
        training={},
        name=lock["model"]["name"],
        version="0.0.1",
    )
    with pytest.raises(LockError, match="do not fit the locked architecture"):
        LockedModel.load(tmp_path / "other" / "her2map.lock.json")


@pytest.mark.req("REQ-LOCK-002")
def test_same_inputs_give_bit_identical_scores_and_locks(tmp_path: Path) -> None:
    first = make_lock(tmp_path / "a")
    second = make_lock(tmp_path / "b")
    for name in ("her2map.pt", "her2map.manifest.json", "her2map.lock.json"):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes()
    a, b = LockedModel.load(first), LockedModel.load(second)
    scores_a = [a.predict_study(_images(seed)) for seed in range(3)]
    scores_b = [b.predict_study(_images(seed)) for seed in range(3)]
    again = [a.predict_study(_images(seed)) for seed in range(3)]
    assert [s.hex() for s in scores_a] == [s.hex() for s in scores_b] == [s.hex() for s in again]
    assert len(set(scores_a)) == 3
    assert a.lock_hash == b.lock_hash


@pytest.mark.req("REQ-FW-001")
def test_firewall_refuses_overlap_naming_count_and_ids(lock_path: Path) -> None:
    model = LockedModel.load(lock_path)
    model.check_firewall(["P-X-1", "P-X-2"])
    with pytest.raises(FirewallError, match=r"cohort X: 2 patient\(s\) .* P-T-0001, P-T-0003"):
        model.check_firewall(["P-T-0003", "P-X-1", "P-T-0001"], source="cohort X")


@pytest.mark.req("REQ-LOCK-001")
def test_shipped_lock_verifies() -> None:
    if not DEFAULT_LOCK.is_file():
        pytest.fail(f"shipped lock {DEFAULT_LOCK} is missing")
    model = LockedModel.load()
    assert model.lock_path == DEFAULT_LOCK
    assert len(model.training_patients) > 100
    assert 0.0 < model.threshold < 1.0
