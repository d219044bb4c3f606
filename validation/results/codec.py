"""Typed objects <-> JSON values, and the JSON Schema, both driven by the dataclasses' annotations.

One walker over the annotations of :mod:`validation.results.model` serves three purposes, so the
three cannot drift apart:

* :func:`encode` -- an object to JSON-ready values (dataclasses to objects in field order, tuples
  to arrays, non-finite floats to ``null``);
* :func:`decode` -- JSON values to the typed object, checking every key and type on the way and
  naming the path of the first problem (``endpoints[2].judgement.verdict: expected one of ...``);
* :func:`schema_for` -- the JSON Schema (draft 2020-12) of a class: every field required, no
  other key allowed, unions of statistics told apart by their ``kind``.

Supported annotations: ``int``, ``float`` (a JSON integer is accepted and made a float), ``str``,
``bool``, ``Literal[...]``, ``X | None``, unions of dataclasses, ``tuple[X, ...]``,
``dict[str, X]``, ``Any`` (any JSON value) and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["ContractError", "decode", "encode", "schema_for"]


class ContractError(ValueError):
    """A JSON value does not have the shape of the typed contract; the message names the path."""


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fields(cls: type) -> list[tuple[str, Any]]:
    hints = _hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls)]


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def encode(obj: Any) -> Any:
    """``obj`` (a contract object, or a value inside one) as JSON-ready values."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict | types.MappingProxyType):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [encode(v) for v in obj]
    raise TypeError(f"encode: {type(obj).__name__} is not part of the results contract: {obj!r}")


def _fail(path: str, expected: str, value: Any) -> ContractError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ContractError(f"{path or '(top)'}: expected {expected}; got {shown}")


def _kind_of(cls: type) -> str | None:
    hints = _hints(cls)
    kind = hints.get("kind")
    if kind is not None and get_origin(kind) is Literal:
        return str(get_args(kind)[0])
    return None


def decode(tp: Any, value: Any, path: str = "") -> Any:
    """``value`` (parsed JSON) as an instance of annotation ``tp``; :class:`ContractError` names
    the path of the first value that does not fit."""
    if tp is Any:
        return value
    if _is_union(tp):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise _fail(path, "a value (not null)", value)
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return decode(options[0], value, path)
        if all(dataclasses.is_dataclass(a) for a in options) and isinstance(value, dict):
            kinds = {_kind_of(a): a for a in options}
            if value.get("kind") in kinds:
                return decode(kinds[value["kind"]], value, path)
            raise _fail(
                f"{path}.kind", f"one of {sorted(k for k in kinds if k)}", value.get("kind")
            )
        raise _fail(path, f"one of {options}", value)
    origin = get_origin(tp)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed or isinstance(value, bool):
            raise _fail(path, f"one of {list(allowed)}", value)
        return value
    if origin is tuple:
        (item, _ellipsis) = get_args(tp)
        if not isinstance(value, list):
            raise _fail(path, "an array", value)
        return tuple(decode(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _key, item = get_args(tp)
        if not isinstance(value, dict):
            raise _fail(path, "an object", value)
        return {str(k): decode(item, v, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(path, "true or false", value)
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, "an integer", value)
        return value
    if tp is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _fail(path, "a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(path, "a string", value)
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(path, f"an object ({tp.__name__})", value)
        fields = _fields(tp)
        names = [n for n, _ in fields]
        extra = sorted(set(value) - set(names))
        if extra:
            raise _fail(
                f"{path}.{extra[0]}" if path else extra[0],
                f"no such key in {tp.__name__}",
                value[extra[0]],
            )
        missing = [n for n in names if n not in value]
        if missing:
            where = f"{path}.{missing[0]}" if path else missing[0]
            raise ContractError(f"{where}: missing (required key of {tp.__name__})")
        kwargs = {n: decode(t, value[n], f"{path}.{n}" if path else n) for n, t in fields}
        return tp(**kwargs)
    raise TypeError(f"decode: annotation {tp!r} is not supported by the results contract")


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    if _is_union(tp):
        args = get_args(tp)
        options = [a for a in args if a is not type(None)]
        parts = [_schema(a, defs) for a in options]
        if type(None) in args:
            parts.append({"type": "null"})
        return parts[0] if len(parts) == 1 else {"oneOf": parts}
    origin = get_origin(tp)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin is tuple:
        return {"type": "array", "items": _schema(get_args(tp)[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(get_args(tp)[1], defs)}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in simple:
        return {"type": simple[tp]}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # reserve (recursion guard)
            fields = _fields(tp)
            doc = (tp.__doc__ or "").strip()
            body: dict[str, Any] = {
                "type": "object",
                "properties": {n: _schema(t, defs) for n, t in fields},
                "required": [n for n, _ in fields],
                "additionalProperties": False,
            }
            if doc and not doc.startswith(f"{name}("):
                body = {"description": " ".join(doc.split()), **body}
            defs[name] = body
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"schema_for: annotation {tp!r} is not supported by the results contract")


def schema_for(cls: type, *, schema_id: str, title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of dataclass ``cls`` and everything it holds."""
    defs: dict[str, Any] = {}
    top = _schema(cls, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **top,
        "$defs": dict(sorted(defs.items())),
    }
