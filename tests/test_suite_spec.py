"""Suite specs: validated like a protocol, canonically hashed, pinned protocols, ledger
registration through the protocols' machinery, and the shipped suite."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from suite_helpers import make_suite, suite_dict, write_suite
from test_runner_helpers import protocol_dict, write_protocol

from validation.cli import main
from validation.exceptions import RegistrationError, SuiteError
from validation.ledger import Ledger
from validation.protocol import Protocol, register
from validation.suite import (
    GatePolicy,
    Suite,
    amend_suite,
    register_suite,
    require_suite_registered,
    resolve_protocols,
    suite_from_dict,
    suite_status,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "suites" / "HER2-SUITE-RETRO.yaml"


def _spec(**overrides: Any) -> dict[str, Any]:
    protocol = Protocol.from_dict(protocol_dict())
    return suite_dict([protocol], ["protocol.yaml"], **overrides)


# --- validation like a protocol (REQ-SUITE-001) -----------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["protocols"][0].update(hsh=d["protocols"][0].pop("hash")),
            r"protocols\[0\]\.hsh: unknown key 'hsh' .*Did you mean 'hash'\?",
        ),
        (lambda d: d.update(gates=d.pop("gate")), r"gates: unknown key .*Did you mean 'gate'\?"),
        (
            lambda d: d["data"].update(pacs="https://pacs.example/dicomweb"),
            r"data\.pacs: unknown key 'pacs' \(allowed: labels, cohort, predictions\)",
        ),
        (
            lambda d: d["data"].update(cohort="cohort"),
            r"data: expected exactly one of 'cohort' .* got \['cohort', 'predictions'\]",
        ),
        (lambda d: d.pop("lock"), r"lock: required key 'lock' is missing"),
        (lambda d: d.update(version=1.0), r"version: expected a non-empty string \(quote numbers"),
        (
            lambda d: d["protocols"][0].update(hash="C2" * 32),
            r"protocols\[0\]\.hash: expected the protocol's registered hash, 64 lower-case hex",
        ),
        (
            lambda d: d["protocols"].append(dict(d["protocols"][0])),
            r"protocols\[1\]\.id: 'TEST-RUN-001' is already protocols\[0\]",
        ),
        (lambda d: d.update(protocols=[]), r"protocols: expected at least one protocol"),
        (
            lambda d: d.update(gate={"policy": "every-primary"}),
            r"gate\.policy: expected one of every-primary-pass, listed; got 'every-primary'\. "
            r"Did you mean 'every-primary-pass'\?",
        ),
        (
            lambda d: d.update(gate={"policy": "listed"}),
            r"gate\.analyses: required key 'analyses' is missing for policy 'listed'",
        ),
        (
            lambda d: d.update(gate={"policy": "every-primary-pass", "analyses": ["X/Y"]}),
            r"gate\.analyses: policy 'every-primary-pass' takes no list",
        ),
        (
            lambda d: d.update(gate={"policy": "listed", "analyses": ["TEST-RUN-01/E1"]}),
            r"gate\.analyses\[0\]: protocol 'TEST-RUN-01' is not in this suite .*"
            r"Did you mean 'TEST-RUN-001'\?",
        ),
        (
            lambda d: d.update(gate={"policy": "listed", "analyses": ["TEST-RUN-001"]}),
            r"gate\.analyses\[0\]: expected PROTOCOL-ID/ANALYSIS-ID; got 'TEST-RUN-001'",
        ),
        (
            lambda d: d["protocols"][0].update(id="../../etc"),
            r"protocols\[0\]\.id: expected a protocol id usable as a folder name",
        ),
        (lambda d: d.update(output="../elsewhere"), r"output: expected a folder inside the run"),
        (lambda d: d.update(output="/tmp/x"), r"output: expected a folder inside the run"),
    ],
)
def test_a_malformed_suite_is_refused_naming_the_key_path(edit: Any, message: str) -> None:
    data = _spec()
    edit(data)
    with pytest.raises(SuiteError, match=message):
        suite_from_dict(data)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n")
    with pytest.raises(SuiteError, match=r"bad\.yaml: not valid YAML"):
        Suite.from_yaml(bad)
    with pytest.raises(SuiteError, match=r"nowhere\.yaml: cannot read suite file"):
        Suite.from_yaml(tmp_path / "nowhere.yaml")
    data = _spec()
    data["outptu"] = "x"
    write_suite(bad, data)
    with pytest.raises(SuiteError, match=r"bad\.yaml: outptu: unknown key .*Did you mean 'output'"):
        Suite.from_yaml(bad)


@pytest.mark.req("REQ-SUITE-001")
def test_suite_hash_ignores_layout_and_changes_with_every_value(tmp_path: Path) -> None:
    data = _spec()
    plain = write_suite(tmp_path / "a.yaml", data)
    styled = tmp_path / "b.yaml"
    styled.write_text(
        "# a comment\n" + yaml.safe_dump(dict(reversed(list(data.items()))), indent=4)
    )
    reference = Suite.from_yaml(plain).suite_hash
    assert Suite.from_yaml(styled).suite_hash == reference
    assert len(reference) == 64
    edits = [
        ("version", "1.1"),
        ("title", "Another title"),
        ("rationale", "Another reason"),
        ("lock", "locks/other.json"),
        ("output", "other-out"),
        ("data", {"cohort": "cohort", "labels": "labels.csv"}),
        ("gate", {"policy": "listed", "analyses": ["TEST-RUN-001/E1"]}),
    ]
    seen = {reference}
    for key, value in edits:
        changed = copy.deepcopy(data)
        changed[key] = value
        digest = suite_from_dict(changed).suite_hash
        assert digest not in seen, key
        seen.add(digest)
    pinned = copy.deepcopy(data)
    pinned["protocols"][0]["hash"] = "0" * 64
    assert suite_from_dict(pinned).suite_hash not in seen


# --- pins ---------------------------------------------------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
def test_a_protocol_that_differs_from_its_pin_is_refused(tmp_path: Path) -> None:
    spec, _, _ = make_suite(tmp_path)
    suite = Suite.from_yaml(spec)
    assert [p.protocol.id for p in resolve_protocols(suite)] == ["TEST-RUN-001", "TEST-RUN-002"]
    write_protocol(tmp_path / "protocol-1.yaml", protocol_dict(confidence=0.9))
    with pytest.raises(
        SuiteError,
        match=r"protocols\[0\]\.hash: protocol TEST-RUN-001 changed inside the suite: .* now "
        r"hashes to [0-9a-f]{64}, the suite pins [0-9a-f]{64}\. Labels stay sealed",
    ):
        resolve_protocols(suite)
    write_protocol(tmp_path / "protocol-2.yaml", protocol_dict(id="TEST-RUN-002", title="New"))
    with pytest.raises(SuiteError, match=r"protocols\[0\]\.hash: .* protocols\[1\]\.hash: "):
        resolve_protocols(suite)  # every stale pin named at once
    write_protocol(tmp_path / "protocol-1.yaml", protocol_dict(version="2.0"))
    with pytest.raises(SuiteError, match=r"the suite pins TEST-RUN-001 version 1\.0, but .* is "):
        resolve_protocols(suite)
    (tmp_path / "protocol-1.yaml").unlink()
    with pytest.raises(SuiteError, match=r"protocols\[0\]\.file: .*cannot read protocol file"):
        resolve_protocols(suite)


def test_a_gate_entry_must_name_a_criterion_of_its_protocol(tmp_path: Path) -> None:
    spec, _, _ = make_suite(
        tmp_path, gate={"policy": "listed", "analyses": ["TEST-RUN-001/E11", "TEST-RUN-002/F1"]}
    )
    with pytest.raises(
        SuiteError,
        match=r"gate\.analyses\[0\]: protocol TEST-RUN-001 has no analysis with a criterion "
        r"named 'E11' \(it has: E1, E2, E3, S1, G1\)\. Did you mean 'E1'\?",
    ):
        resolve_protocols(Suite.from_yaml(spec))


# --- registration through the protocols' machinery -------------------------------------------
@pytest.mark.req("REQ-SUITE-001", "REQ-PREG-001")
def test_suite_registration_amendment_and_refusal(tmp_path: Path) -> None:
    spec, ledger, _ = make_suite(tmp_path, register_suite_too=False)
    suite = Suite.from_yaml(spec)
    with Ledger.open(ledger) as book:
        assert suite_status(suite, book).state == "unregistered"
        with pytest.raises(RegistrationError, match=r"suite TEST-SUITE-001 version 1\.0 .*is not "
                           r"registered.*`her2map validate suite-register "):  # fmt: skip
            require_suite_registered(suite, book)
        entry = register_suite(suite, book, actor="qe")
        assert entry.event_type == "suite.registered"
        assert entry.payload == {
            "suite_id": "TEST-SUITE-001",
            "version": "1.0",
            "suite_hash": suite.suite_hash,
            "title": "Suite test",
        }
        assert register_suite(suite, book, actor="qe").seq == entry.seq  # nothing appended
        # A suite registration is not a protocol registration of the same id, and vice versa.
        assert not list(
            book.entries(event_type="protocol.registered", where={"protocol_id": suite.id})
        )

        data = yaml.safe_load(spec.read_text())
        data["gate"] = {"policy": "listed", "analyses": ["TEST-RUN-001/E1"]}
        changed = Suite.from_yaml(write_suite(spec, data))
        with pytest.raises(RegistrationError, match=r"suite TEST-SUITE-001 version 1\.0 changed "
                           r"since registration.*`her2map validate suite-amend "):  # fmt: skip
            require_suite_registered(changed, book)
        with pytest.raises(RegistrationError, match=r"is already registered .*suite-amend"):
            register_suite(changed, book, actor="qe")
        with pytest.raises(RegistrationError, match=r"amending suite .* needs a reason"):
            amend_suite(changed, book, actor="qe", reason=" ")
        amended = amend_suite(changed, book, actor="qe", reason="gate narrowed to the AUC claim")
        assert amended.event_type == "suite.amended"
        assert amended.payload["previous_hash"] == suite.suite_hash
        state = require_suite_registered(changed, book)
        assert state.state == "amended"
        assert [a.reason for a in state.amendments] == ["gate narrowed to the AUC claim"]


def test_suite_cli_check_register_status_amend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, ledger, _ = make_suite(tmp_path, register_suite_too=False)
    suite = Suite.from_yaml(spec)
    assert main(["validate", "suite-check", str(spec)]) == 0
    out = capsys.readouterr().out
    assert f"OK: TEST-SUITE-001 version 1.0, hash {suite.suite_hash}" in out
    assert main(["validate", "suite-status", str(spec), "--ledger", str(ledger)]) == 1
    assert "unregistered" in capsys.readouterr().out
    args = ["--ledger", str(ledger), "--actor", "qe"]
    assert main(["validate", "suite-register", str(spec), *args]) == 0
    assert f"hash {suite.suite_hash}" in capsys.readouterr().out
    assert main(["validate", "suite-status", str(spec), "--ledger", str(ledger)]) == 0
    data = yaml.safe_load(spec.read_text())
    data["title"] = "Suite test, retitled"
    write_suite(spec, data)
    assert main(["validate", "suite-status", str(spec), "--ledger", str(ledger)]) == 1
    assert "changed since registration" in capsys.readouterr().out
    assert main(["validate", "suite-amend", str(spec), *args, "--reason", "retitled"]) == 0
    assert f"replaces {suite.suite_hash}" in capsys.readouterr().out
    assert main(["validate", "suite-status", str(spec), "--ledger", str(ledger)]) == 0
    assert "amendment seq" in capsys.readouterr().out
    data["outptu"] = "x"
    write_suite(spec, data)
    assert main(["validate", "suite-check", str(spec)]) == 2
    assert "outptu: unknown key" in capsys.readouterr().err


# --- the shipped suite ----------------------------------------------------------------------
@pytest.mark.req("REQ-SUITE-001")
def test_the_shipped_suite_pins_the_shipped_protocols(tmp_path: Path) -> None:
    suite = Suite.from_yaml(SHIPPED)
    pinned = resolve_protocols(suite)  # raises, naming the protocol, if a pin is stale
    assert [p.ref.id for p in pinned] == ["HER2-VAL-001", "HER2-NAT-002", "HER2-ERR-003"]
    for item in pinned:
        assert item.protocol.protocol_hash == item.ref.hash
        assert item.path.resolve() == ROOT / "protocols" / f"{item.ref.id}.yaml"
    assert suite.gate.policy is GatePolicy.EVERY_PRIMARY_PASS
    assert suite.data.cohort == "cohort"
    assert suite.data.labels == "cohort/clinical.csv"
    assert suite.lock == "shipped"
    # Registering the shipped protocols and suite works from a fresh ledger.
    with Ledger.open(tmp_path / "ledger.db") as book:
        for item in pinned:
            register(item.protocol, book, actor="qe")
        register_suite(suite, book, actor="qe")
        assert require_suite_registered(suite, book).state == "registered"
