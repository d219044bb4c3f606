"""Suite YAML -> validated :class:`~validation.suite.model.Suite`.

Read and checked exactly like a protocol: the protocol loader's bounded safe YAML reader
(:func:`validation.protocol.loader.read_yaml`) and its key checks, so a rejection names the key
path, says what was expected and what was found, and suggests the nearest valid key
(``protocols[1].hsh: unknown key 'hsh' ... Did you mean 'hash'?``). Errors are
:class:`~validation.exceptions.SuiteError` naming the file.

Schema (all keys required unless marked optional; see ``suites/HER2-SUITE-RETRO.yaml``)::

    id: HER2-SUITE-RETRO            version: "1.0" (a string: quote it)
    title: ...                      rationale: ... (optional; shown on the summary page)
    protocols:                      # run in this order; ids unique
      - {id: HER2-VAL-001, version: "1.0", file: ../protocols/HER2-VAL-001.yaml,
         hash: <sha256 the protocol was registered with>}
    data: {cohort: DIR, labels: FILE}            # predicted once by the locked model, or
    data: {predictions: FILE, labels: FILE}      # an existing predictions table
    lock: shipped                   # or the path of a model lock file
    gate: {policy: every-primary-pass}           # or
    gate: {policy: listed, analyses: [HER2-VAL-001/VAL-E1, HER2-NAT-002/NAT-C1]}
    output: suite-run               # folder, relative to the run's root, inside it
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from validation.exceptions import ProtocolError, SuiteError
from validation.protocol.loader import _join, _list, _mapping, _str, _suggest, read_yaml
from validation.suite.model import Gate, GatePolicy, ProtocolRef, Suite, SuiteData

__all__ = ["load_suite", "suite_from_dict"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: A protocol id names its output folder, so it must be a plain folder name (no path escapes).
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TOP_REQUIRED = ("id", "version", "title", "protocols", "data", "lock", "gate", "output")
_TOP_OPTIONAL = ("rationale",)


def _protocol_ref(value: Any, path: str) -> ProtocolRef:
    data = _mapping(value, path, ("id", "version", "file", "hash"), ())
    digest = _str(data["hash"], _join(path, "hash"))
    if not _HEX64.match(digest):
        raise SuiteError(
            f"{_join(path, 'hash')}: expected the protocol's registered hash, 64 lower-case hex "
            f"digits (`her2map protocol check FILE` prints it); got {digest!r}."
        )
    protocol_id = _str(data["id"], _join(path, "id"))
    if not _FOLDER_NAME.match(protocol_id):
        raise SuiteError(
            f"{_join(path, 'id')}: expected a protocol id usable as a folder name (letters, "
            f"digits, '.', '_', '-'; not starting with '.'); got {protocol_id!r}."
        )
    return ProtocolRef(
        id=protocol_id,
        version=_str(data["version"], _join(path, "version")),
        file=_str(data["file"], _join(path, "file")),
        hash=digest,
    )


def _data(value: Any) -> SuiteData:
    data = _mapping(value, "data", ("labels",), ("cohort", "predictions"))
    sources = [key for key in ("cohort", "predictions") if key in data]
    if len(sources) != 1:
        raise SuiteError(
            "data: expected exactly one of 'cohort' (a DICOM cohort folder, predicted once by the "
            f"locked model) or 'predictions' (a predictions table); got {sources or 'neither'}."
        )
    return SuiteData(
        labels=_str(data["labels"], "data.labels"),
        cohort=_str(data["cohort"], "data.cohort") if "cohort" in data else None,
        predictions=_str(data["predictions"], "data.predictions")
        if "predictions" in data
        else None,
    )


def _gate(value: Any, protocol_ids: list[str]) -> Gate:
    data = _mapping(value, "gate", ("policy",), ("analyses",))
    policies = [p.value for p in GatePolicy]
    policy = GatePolicy(_str(data["policy"], "gate.policy", choices=policies))
    if policy is GatePolicy.EVERY_PRIMARY_PASS:
        if "analyses" in data:
            raise SuiteError(
                f"gate.analyses: policy {policy.value!r} takes no list (it gates on every primary "
                "analysis); remove it, or use policy 'listed'."
            )
        return Gate(policy)
    if "analyses" not in data:
        raise SuiteError("gate.analyses: required key 'analyses' is missing for policy 'listed'.")
    items = _list(data["analyses"], "gate.analyses")
    if not items:
        raise SuiteError("gate.analyses: expected a non-empty list of PROTOCOL-ID/ANALYSIS-ID.")
    names = []
    for i, item in enumerate(items):
        path = _join("gate.analyses", i)
        name = _str(item, path)
        protocol_id, sep, analysis_id = name.partition("/")
        if not sep or not analysis_id:
            raise SuiteError(f"{path}: expected PROTOCOL-ID/ANALYSIS-ID; got {name!r}.")
        if protocol_id not in protocol_ids:
            raise SuiteError(
                f"{path}: protocol {protocol_id!r} is not in this suite (protocols: "
                f"{', '.join(protocol_ids)})." + _suggest(protocol_id, protocol_ids)
            )
        if name in names:
            raise SuiteError(f"{path}: {name!r} is listed twice.")
        names.append(name)
    return Gate(policy, tuple(names))


def _output(value: Any) -> str:
    text = _str(value, "output")
    parts = PurePosixPath(text).parts
    if PurePosixPath(text).is_absolute() or ".." in parts or "\\" in text:
        raise SuiteError(
            f"output: expected a folder inside the run's root (relative, no '..'); got {text!r}."
        )
    return text


def suite_from_dict(data: Any, *, source: str | None = None) -> Suite:
    """Validate a parsed suite mapping and build the :class:`Suite`."""
    try:
        top = _mapping(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
        items = _list(top["protocols"], "protocols")
        if not items:
            raise SuiteError("protocols: expected at least one protocol; got none.")
        refs = tuple(_protocol_ref(item, _join("protocols", i)) for i, item in enumerate(items))
        seen: dict[str, int] = {}
        for i, ref in enumerate(refs):
            if ref.id in seen:
                raise SuiteError(
                    f"protocols[{i}].id: {ref.id!r} is already protocols[{seen[ref.id]}]; "
                    "a suite runs each protocol once."
                )
            seen[ref.id] = i
        return Suite(
            id=_str(top["id"], "id"),
            version=_str(top["version"], "version"),
            title=_str(top["title"], "title"),
            rationale=_str(top["rationale"], "rationale") if "rationale" in top else "",
            protocols=refs,
            data=_data(top["data"]),
            lock=_str(top["lock"], "lock"),
            gate=_gate(top["gate"], list(seen)),
            output=_output(top["output"]),
            source=source,
        )
    except ProtocolError as exc:  # the shared key checks raise the protocol's error class
        raise SuiteError(str(exc)) from None


def load_suite(path: str | Path) -> Suite:
    """Read ``path`` as safe YAML and validate it; errors name the file and key path."""
    file = Path(path)
    try:
        data = read_yaml(file, what="suite")
    except ProtocolError as exc:
        raise SuiteError(str(exc)) from None
    try:
        return suite_from_dict(data, source=str(file))
    except SuiteError as exc:
        raise SuiteError(f"{file}: {exc}") from None
