"""Bounded, strict safe YAML for protocol files: bytes in, plain JSON-like data out.

``yaml.safe_load`` runs no code, but it accepts documents that hurt later: aliases that expand
exponentially ("billion laughs": a 6 KB file that is gigabytes once walked), nesting deep enough
to exhaust the stack, duplicate keys (the last one silently wins), integers beyond 2^53 - 1 (not
representable in canonical JSON, RFC 8785 section 3.2.2.3) and NaN/infinite numbers (not JSON at
all). This module refuses each with a :class:`~validation.exceptions.ProtocolError` naming the line
or key path:

1. the bytes must be UTF-8 (the error gives the byte offset and line);
2. nesting is limited to :data:`MAX_DEPTH` levels while the node graph is composed (before any
   recursion can exhaust the stack);
3. the composed graph is walked once, memoised per node, to count the nodes and levels it has
   *after* alias expansion; over :data:`MAX_NODES` or :data:`MAX_DEPTH` is refused without
   expanding anything, as is an alias that refers to itself; duplicate keys of a mapping are
   refused with their key path;
4. only then are Python objects constructed (``SafeConstructor``: no tags that run code), and the
   result is checked for integers beyond 2^53 and non-finite floats, naming the key path.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from validation.exceptions import ProtocolError

__all__ = ["MAX_DEPTH", "MAX_INT", "MAX_NODES", "check_values", "parse_yaml"]

#: Deepest nesting of mappings and sequences a protocol may have (shipped ones use 5).
MAX_DEPTH = 64
#: Most nodes a protocol may have once its aliases are expanded (shipped ones have < 500).
MAX_NODES = 100_000
#: Largest integer magnitude that canonical JSON (RFC 8785: IEEE double) carries: 2^53 - 1.
MAX_INT = 2**53 - 1


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than :data:`MAX_DEPTH` while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ProtocolError(
                    f"line {mark.line + 1}: nesting deeper than {MAX_DEPTH} levels; a protocol "
                    "needs a few levels only -- flatten the structure."
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _key_text(node: Node) -> str:
    return str(node.value) if isinstance(node, ScalarNode) else f"<{type(node).__name__}>"


def _check_graph(root: Node) -> None:
    """Count expanded nodes (memoised) and refuse self-reference and duplicate keys."""
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def size(node: Node, path: str) -> tuple[int, int]:
        """(expanded node count, expanded height) of ``node``."""
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ProtocolError(
                f"{path or '<top level>'}: an alias refers to a node that contains it (a "
                "recursive structure); protocols are trees -- write the value out."
            )
        active.add(key)
        total, height = 1, 0
        children: list[tuple[Node, str]] = []
        if isinstance(node, SequenceNode):
            children = [(item, _join(path, i)) for i, item in enumerate(node.value)]
        elif isinstance(node, MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, v in node.value:
                text = _key_text(k)
                if k.tag != "tag:yaml.org,2002:merge":
                    ident = (k.tag, text)
                    if ident in seen:
                        raise ProtocolError(
                            f"{_join(path, text)}: duplicate key {text!r} (lines "
                            f"{seen[ident]} and {k.start_mark.line + 1}); YAML would keep the "
                            "last silently -- keep one."
                        )
                    seen[ident] = k.start_mark.line + 1
                children += [(k, path), (v, _join(path, text))]
        for child, child_path in children:
            n, h = size(child, child_path)
            total, height = total + n, max(height, h)
        height += 1
        active.discard(key)
        if height > MAX_DEPTH:
            raise ProtocolError(
                f"{path or '<top level>'}: nesting deeper than {MAX_DEPTH} levels once aliases "
                "are followed; flatten the structure."
            )
        if total > MAX_NODES:
            raise ProtocolError(
                f"{path or '<top level>'}: the document expands to more than {MAX_NODES} nodes "
                "once its aliases are followed (an alias bomb?); write protocols without nested "
                "aliases."
            )
        sizes[key] = (total, height)
        return sizes[key]

    size(root, "")


def check_values(value: Any, path: str = "") -> None:
    """Refuse integers beyond 2^53, non-finite floats and non-string keys, naming the key path."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ProtocolError(
                f"{path or '<top level>'}: integer {value} is beyond 2^53 - 1 = {MAX_INT}, which "
                "canonical JSON cannot hold exactly; use a smaller number or a string."
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError(
                f"{path or '<top level>'}: expected a finite number; got {value!r} (NaN and "
                "infinities are not allowed)."
            )
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ProtocolError(
                    f"{_join(path, str(k))}: keys must be strings; got {type(k).__name__} {k!r} "
                    "(quote it)."
                )
            check_values(v, _join(path, k))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_values(item, _join(path, i))


def _yaml_error(exc: yaml.YAMLError, text: str) -> str:
    """One line for a YAML syntax error: where (line and column, 1-based), what, and the
    construct it was in -- PyYAML's own text runs over several lines and names "<unicode
    string>" rather than the file (the caller adds the file)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        if not exc.context:
            return f"not valid YAML at {where}: {exc.problem}."
        near = exc.context_mark
        context = exc.context + (
            f" at line {near.line + 1}, column {near.column + 1}" if near is not None else ""
        )
        if str(exc.problem).startswith("but "):  # "expected a single document ..., but found ..."
            return f"not valid YAML at {where}: {context}, {exc.problem}."
        return f"not valid YAML at {where}: {exc.problem} ({context})."
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        return (
            f"not valid YAML at line {line}: character #x{exc.character:04x} is not allowed in "
            "YAML text (non-printable); remove it, or write it as an escape in double quotes."
        )
    return "not valid YAML: " + " ".join(str(exc).replace('in "<unicode string>", ', "").split())


def parse_yaml(raw: bytes) -> Any:
    """Parse ``raw`` (UTF-8 YAML, one document) within the bounds of the module docstring."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ProtocolError(
            f"line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the protocol as UTF-8."
        ) from None
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters already here
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ProtocolError(_yaml_error(exc, text)) from None
    except RecursionError:
        raise ProtocolError(
            f"nesting too deep to read; a protocol has at most {MAX_DEPTH} levels."
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    check_values(data)
    return data
