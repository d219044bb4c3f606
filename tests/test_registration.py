"""Pre-registration in the audit ledger: register, amend, status, the runner's gate (REQ-PREG-001)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from validation.cli import main
from validation.exceptions import RegistrationError
from validation.ledger import Ledger
from validation.protocol import Protocol, amend, register, require_registered, status

pytestmark = pytest.mark.req("REQ-PREG-001")

ROOT = Path(__file__).resolve().parents[1]
VAL = ROOT / "protocols" / "HER2-VAL-001.yaml"


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger.open(tmp_path / "ledger.sqlite") as opened:
        yield opened


def _edited(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load(VAL.read_text(encoding="utf-8"))
    raw.update(changes)
    path = tmp_path / "HER2-VAL-001-edited.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_register_then_status(ledger: Ledger) -> None:
    protocol = Protocol.from_yaml(VAL)
    assert status(protocol, ledger).state == "unregistered"
    entry = register(protocol, ledger, actor="qe-lead")
    assert entry.event_type == "protocol.registered"
    assert entry.payload == {
        "protocol_id": "HER2-VAL-001",
        "version": "1.0",
        "protocol_hash": protocol.protocol_hash,
        "title": protocol.title,
    }
    current = status(protocol, ledger)
    assert (current.state, current.registration_seq, current.registered_hash) == (
        "registered",
        entry.seq,
        protocol.protocol_hash,
    )
    assert current.registration_entry_hash == entry.entry_hash
    assert current.amendments == ()
    assert require_registered(protocol, ledger) == current


def test_registering_the_same_content_again_appends_nothing(ledger: Ledger) -> None:
    protocol = Protocol.from_yaml(VAL)
    first = register(protocol, ledger, actor="qe")
    again = register(protocol, ledger, actor="someone-else")
    assert again == first
    assert ledger.head().seq == first.seq


def test_unregistered_protocol_is_refused_before_labels(ledger: Ledger) -> None:
    protocol = Protocol.from_yaml(VAL)
    with pytest.raises(
        RegistrationError,
        match=r"HER2-VAL-001 version 1\.0 .* is not registered.*her2map protocol register .*HER2-VAL-001\.yaml --ledger",
    ):
        require_registered(protocol, ledger)


def test_silent_change_is_detected_and_refused(ledger: Ledger, tmp_path: Path) -> None:
    register(Protocol.from_yaml(VAL), ledger, actor="qe")
    changed = Protocol.from_yaml(_edited(tmp_path, confidence=0.9))
    assert status(changed, ledger).state == "changed since registration"
    with pytest.raises(
        RegistrationError, match=r"changed since registration.*her2map protocol amend .*--reason"
    ):
        require_registered(changed, ledger)
    with pytest.raises(RegistrationError, match=r"already registered .*her2map protocol amend"):
        register(changed, ledger, actor="qe")
    assert ledger.head().seq == 1  # the refused registration wrote nothing


def test_whitespace_only_edit_is_still_registered(ledger: Ledger, tmp_path: Path) -> None:
    register(Protocol.from_yaml(VAL), ledger, actor="qe")
    reformatted = _edited(tmp_path)  # re-dumped YAML: no comments, other layout, same values
    assert reformatted.read_text(encoding="utf-8") != VAL.read_text(encoding="utf-8")
    assert require_registered(Protocol.from_yaml(reformatted), ledger).state == "registered"


def test_amendment_is_recorded_with_reason_and_runs_as_deviation(
    ledger: Ledger, tmp_path: Path
) -> None:
    original = Protocol.from_yaml(VAL)
    register(original, ledger, actor="qe")
    changed = Protocol.from_yaml(_edited(tmp_path, confidence=0.9))
    entry = amend(changed, ledger, actor="sponsor", reason="  regulator asked for 90% intervals ")
    assert entry.payload == {
        "protocol_id": "HER2-VAL-001",
        "version": "1.0",
        "protocol_hash": changed.protocol_hash,
        "previous_hash": original.protocol_hash,
        "reason": "regulator asked for 90% intervals",
    }
    current = require_registered(changed, ledger)
    assert current.state == "amended"
    assert [(a.seq, a.reason, a.previous_hash, a.actor) for a in current.amendments] == [
        (entry.seq, "regulator asked for 90% intervals", original.protocol_hash, "sponsor")
    ]
    # the original content is no longer the content in force
    assert status(original, ledger).state == "changed since registration"


def test_second_amendment_chains_to_the_first(ledger: Ledger, tmp_path: Path) -> None:
    register(Protocol.from_yaml(VAL), ledger, actor="qe")
    first = Protocol.from_yaml(_edited(tmp_path, confidence=0.9))
    amend(first, ledger, actor="qe", reason="one")
    second = Protocol.from_yaml(_edited(tmp_path, confidence=0.99))
    entry = amend(second, ledger, actor="qe", reason="two")
    assert entry.payload["previous_hash"] == first.protocol_hash
    assert [a.reason for a in status(second, ledger).amendments] == ["one", "two"]


@pytest.mark.parametrize("reason", ["", "   "])
def test_amend_needs_a_reason(ledger: Ledger, tmp_path: Path, reason: str) -> None:
    register(Protocol.from_yaml(VAL), ledger, actor="qe")
    with pytest.raises(RegistrationError, match=r"needs a reason"):
        amend(
            Protocol.from_yaml(_edited(tmp_path, confidence=0.9)), ledger, actor="qe", reason=reason
        )
    assert ledger.head().seq == 1


def test_amend_refuses_unregistered_and_unchanged(ledger: Ledger) -> None:
    protocol = Protocol.from_yaml(VAL)
    with pytest.raises(
        RegistrationError,
        match=r"is not registered, so there is nothing to amend.*protocol register",
    ):
        amend(protocol, ledger, actor="qe", reason="x")
    register(protocol, ledger, actor="qe")
    with pytest.raises(
        RegistrationError, match=r"already the registered content in force; nothing to amend"
    ):
        amend(protocol, ledger, actor="qe", reason="x")


def test_concurrent_amendment_is_refused_inside_the_transaction(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as a, Ledger.open(path) as b:
        register(Protocol.from_yaml(VAL), a, actor="qe")
        changed = Protocol.from_yaml(_edited(tmp_path, confidence=0.9))
        other = Protocol.from_yaml(_edited(tmp_path, confidence=0.99))
        original_append = a.append

        def racing_append(*args, **kwargs):  # another writer amends between read and write
            amend(other, b, actor="other", reason="theirs")
            return original_append(*args, **kwargs)

        a.append = racing_append  # type: ignore[method-assign]
        with pytest.raises(RegistrationError, match=r"amended by someone else meanwhile"):
            amend(changed, a, actor="qe", reason="mine")
        assert [e.payload["reason"] for e in b.entries(event_type="protocol.amended")] == ["theirs"]


def test_new_version_is_a_new_registration(ledger: Ledger, tmp_path: Path) -> None:
    register(Protocol.from_yaml(VAL), ledger, actor="qe")
    v2 = Protocol.from_yaml(_edited(tmp_path, version="2.0", confidence=0.9))
    assert status(v2, ledger).state == "unregistered"
    register(v2, ledger, actor="qe")
    assert status(v2, ledger).state == "registered"
    assert status(Protocol.from_yaml(VAL), ledger).state == "registered"


def test_cli_register_status_amend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "ledger.sqlite")
    assert main(["protocol", "check", str(VAL)]) == 0
    assert Protocol.from_yaml(VAL).protocol_hash in capsys.readouterr().out
    assert main(["protocol", "register", str(VAL), "--ledger", db, "--actor", "qe"]) == 0
    assert "registered HER2-VAL-001 version 1.0" in capsys.readouterr().out
    assert main(["protocol", "status", str(VAL), "--ledger", db]) == 0
    assert "HER2-VAL-001 version 1.0: registered" in capsys.readouterr().out
    edited = str(_edited(tmp_path, confidence=0.9))
    assert main(["protocol", "status", edited, "--ledger", db]) == 1
    assert "changed since registration" in capsys.readouterr().out
    assert main(["protocol", "register", edited, "--ledger", db, "--actor", "qe"]) == 3
    assert "her2map protocol amend" in capsys.readouterr().err
    assert (
        main(["protocol", "amend", edited, "--ledger", db, "--actor", "qe", "--reason", "90% CI"])
        == 0
    )
    assert main(["protocol", "status", edited, "--ledger", db]) == 0
    assert "amendment seq 2 by qe" in capsys.readouterr().out
