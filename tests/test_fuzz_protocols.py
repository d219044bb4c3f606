"""Fuzzed protocols (REQ-HARD-001): mutated protocol YAML and random values at random key paths
give a Protocol with a hash, or a ProtocolError -- never another exception. 3,000 inputs (the
small runner-test protocol: PyYAML's pure-Python reader costs ~3 ms per KB)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from fuzz_budget import outcome, run_counted
from hypothesis import strategies as st
from test_runner_helpers import protocol_dict

from validation.exceptions import ProtocolError
from validation.protocol import Protocol
from validation.protocol.bounded_yaml import parse_yaml
from validation.protocol.loader import protocol_from_dict

pytestmark = [pytest.mark.req("REQ-HARD-001"), pytest.mark.slow]

DATA = protocol_dict()
TEXT = yaml.safe_dump(DATA, sort_keys=False).encode("utf-8")
LINES = TEXT.split(b"\n")
TOKENS = [b"&a", b"*a", b"<<: *a", b"!!python/object/apply:os.system ['true']", b".nan", b"-.inf",
          b"9" * 30, b"[", b"]", b"{", b"}", b"- ", b": ", b"\t", b"\x00", b"'", b'"', b"\xff",
          b"? ", b"---", b"...", b"|", b">", b"#", b"%YAML 1.1", b"!!binary", b"~"]  # fmt: skip


def _load(raw: bytes) -> None:
    protocol, error = outcome(lambda: protocol_from_dict(parse_yaml(raw)), ProtocolError)
    if error is None:
        assert isinstance(protocol, Protocol)
        assert len(protocol.protocol_hash) == 64


edits = st.tuples(
    st.integers(0, len(LINES) - 1),
    st.integers(0, 200),
    st.one_of(st.sampled_from(TOKENS), st.binary(max_size=12), st.sampled_from(LINES)),
    st.sampled_from(["insert", "replace", "duplicate", "delete"]),
)


def _mutate(raw_edits: list[tuple[int, int, bytes, str]]) -> None:
    lines = list(LINES)
    for index, column, token, kind in raw_edits:
        index %= len(lines) or 1
        line = lines[index] if lines else b""
        if kind == "insert":
            cut = min(column, len(line))
            lines[index : index + 1] = [line[:cut] + token + line[cut:]]
        elif kind == "replace":
            lines[index] = token
        elif kind == "duplicate":
            lines.insert(index, line)
        elif lines:
            del lines[index]
    _load(b"\n".join(lines))


def test_fuzz_mutated_protocol_text() -> None:
    run_counted(1000, _mutate, st.lists(edits, min_size=1, max_size=4))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


PATHS = _paths(DATA)[1:]


def _replace(path_index: int, value: Any) -> None:
    """The parsed-data entry point (``protocol_from_dict``), as the YAML reader would give it."""
    data = copy.deepcopy(DATA)
    *parents, last = PATHS[path_index % len(PATHS)]
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    protocol, error = outcome(lambda: protocol_from_dict(data), ProtocolError)
    if error is None:
        assert len(protocol.protocol_hash) == 64


def test_fuzz_random_values_at_random_key_paths() -> None:
    run_counted(2000, _replace, st.integers(0, 10_000), json_values)
