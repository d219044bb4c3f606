"""The lock covers every field; bad weights and thresholds get a clear error (REQ-HARD-001,
REQ-LOCK-001). Before: edits to the model name, version, training or software fields loaded
silently (and showed in the dossier); a NaN/inf threshold, malformed or pickle-bearing weights
gave tracebacks -- the latter advising to turn ``weights_only`` off."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from her2map import LockedModel
from her2map.exceptions import LockError
from her2map.lock import FIELDS_KEY, field_digests, sha256_file, threshold_hash
from tests.locks import make_lock

pytestmark = [pytest.mark.req("REQ-HARD-001"), pytest.mark.req("REQ-LOCK-001")]


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return make_lock(tmp_path / "lock")


def _edit(lock_path: Path, change: Any, *, reseal: bool = False) -> None:
    lock = json.loads(lock_path.read_text())
    change(lock)
    if reseal:  # an editor who also recomputes every hash: then the content itself is judged
        weights = lock_path.parent / lock["weights"]["file"]
        lock["weights"]["sha256"] = sha256_file(weights)
        lock["threshold"]["sha256"] = threshold_hash(
            lock["threshold"]["value"], lock["threshold"]["rule"]
        )
        lock[FIELDS_KEY] = field_digests(lock)
    lock_path.write_text(json.dumps(lock))


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("model.name", lambda d: d["model"].update(name="her2map-better")),
        ("model.version", lambda d: d["model"].update(version="9.9.9")),
        ("training.note", lambda d: d["training"].update(note="trained on everything")),
        ("software.torch", lambda d: d["software"].update(torch="0.0.1")),
        ("software.her2map", lambda d: d["software"].pop("her2map")),
        ("training.extra", lambda d: d["training"].update(extra=1)),
        ("notes", lambda d: d.update(notes="added later")),
    ],
)
def test_every_field_of_the_lock_is_covered(lock_path: Path, field: str, change: Any) -> None:
    LockedModel.load(lock_path)
    _edit(lock_path, change)
    with pytest.raises(LockError, match=rf"field '{field}' (changed|was removed|was added)"):
        LockedModel.load(lock_path)


def test_lock_without_field_hashes_is_refused(lock_path: Path) -> None:
    _edit(lock_path, lambda d: d.pop(FIELDS_KEY))
    with pytest.raises(LockError, match=r"missing key 'fields'"):
        LockedModel.load(lock_path)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "1.5", "-0.1"])
def test_non_finite_or_out_of_range_threshold_is_refused(lock_path: Path, token: str) -> None:
    text = lock_path.read_text()
    value = json.loads(text)["threshold"]["value"]
    lock_path.write_text(text.replace(f'"value": {value}', f'"value": {token}', 1))
    assert lock_path.read_text() != text
    with pytest.raises(
        LockError,
        match=r"(not a number JSON allows|must be a finite number in \[0, 1\]|is not a finite)",
    ):
        LockedModel.load(lock_path)


def test_out_of_range_threshold_is_refused_even_with_recomputed_hashes(lock_path: Path) -> None:
    _edit(lock_path, lambda d: d["threshold"].update(value=1.5), reseal=True)
    with pytest.raises(LockError, match=r"'threshold.value' must be a finite number in \[0, 1\]"):
        LockedModel.load(lock_path)


def test_duplicate_key_in_lock_is_refused(lock_path: Path) -> None:
    text = lock_path.read_text()
    lock_path.write_text(text.replace('"format":', '"format": "x", "format":', 1))
    with pytest.raises(LockError, match=r"not readable JSON: duplicate key 'format'"):
        LockedModel.load(lock_path)


def _replace_weights(lock_path: Path, data: bytes) -> None:
    (lock_path.parent / "her2map.pt").write_bytes(data)
    _edit(lock_path, lambda d: None, reseal=True)


@pytest.mark.parametrize(
    "data", [b"", b"not a checkpoint", b"PK\x03\x04" + bytes(64), b"\x80\x04K\x01."]
)
def test_malformed_weights_get_a_clear_error(lock_path: Path, data: bytes) -> None:
    _replace_weights(lock_path, data)
    with pytest.raises(LockError, match=r"weights .*her2map\.pt are not a plain tensor") as info:
        LockedModel.load(lock_path)
    assert "weights_only" not in str(info.value)


class _Payload:
    """Pickles to a call of os.mkdir(marker): what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.marker,))


def test_pickle_bearing_weights_are_refused_without_running_code(
    lock_path: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "code-ran"
    state = dict(torch.load(lock_path.parent / "her2map.pt", weights_only=True))
    state["payload"] = _Payload(marker)  # type: ignore[assignment]
    buffer = tmp_path / "evil.pt"
    torch.save(state, buffer)
    _replace_weights(lock_path, buffer.read_bytes())
    with pytest.raises(LockError, match=r"holding pickled objects other than tensors") as info:
        LockedModel.load(lock_path)
    assert "weights_only" not in str(info.value)
    assert not marker.exists()


def test_integer_beyond_canonical_json_is_refused_by_key_path(lock_path: Path) -> None:
    """Found by the fuzz suite: 2^53 anywhere in the lock crashed the canonical hash."""
    _edit(lock_path, lambda d: d["training"].update(seed=2**53))
    with pytest.raises(LockError, match=r"key 'training.seed': integer 9007199254740992 is beyond"):
        LockedModel.load(lock_path)
