"""Fuzzed model locks (REQ-HARD-001, REQ-LOCK-001): random edits of the lock document (any field,
any value, or raw bytes) load only when nothing changed; otherwise a LockError naming the lock --
never another exception, never a model from an edited lock. 1,500 inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fuzz_budget import outcome, run_counted
from hypothesis import strategies as st

from her2map import LockedModel
from her2map.exceptions import LockError
from tests.locks import make_lock

pytestmark = [pytest.mark.req("REQ-HARD-001"), pytest.mark.req("REQ-LOCK-001"), pytest.mark.slow]

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _leaves(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _leaves(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _leaves(value, (*prefix, i))
    return found


@pytest.fixture(scope="module")
def lock(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, str]:
    path = make_lock(tmp_path_factory.mktemp("fuzz-lock"))
    return path, path.read_bytes(), LockedModel.load(path).lock_hash


def _try(path: Path, original: dict[str, Any], text: bytes, expected_hash: str) -> None:
    edited = path.parent / "edited.lock.json"
    edited.write_bytes(text)
    model, error = outcome(lambda: LockedModel.load(edited), LockError)
    if error is not None:
        assert "edited.lock.json" in error
        return
    assert json.loads(text) == original  # only an unchanged document loads
    assert model.lock_hash == expected_hash


def test_fuzz_lock_field_edits(lock: tuple[Path, bytes, str]) -> None:
    path, raw, expected = lock
    original = json.loads(raw)
    leaves = _leaves(original)

    def edit(index: int, value: Any) -> None:
        data = json.loads(raw)
        *parents, last = leaves[index % len(leaves)]
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
        text = json.dumps(data, allow_nan=True).encode()
        _try(path, original, text, expected)

    run_counted(1000, edit, st.integers(0, 10_000), VALUES)


def test_fuzz_lock_bytes(lock: tuple[Path, bytes, str]) -> None:
    path, raw, expected = lock
    original = json.loads(raw)

    def mutate(offset: int, cut: int, insert: bytes) -> None:
        at = offset % (len(raw) + 1)
        _try(path, original, raw[:at] + insert + raw[at + cut :], expected)

    run_counted(500, mutate, st.integers(0, 100_000), st.integers(0, 3), st.binary(max_size=4))
