"""CLI hygiene (REQ-HARD-001): documented exit codes by error class, quiet on a closed pipe and on
Ctrl-C, help text without reST markup, ``--ledger`` from HER2MAP_LEDGER, and refused commands
that create no file (before: a refused registration or trial event left an empty ledger)."""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from test_runner_helpers import protocol_dict, registered, write_protocol

from her2map.cli import CORE_COMMANDS, LEDGER_ENV, build_parser, plain_text, run_command
from her2map.exceptions import FirewallError, Her2MapError, LockError
from validation.cli import HARNESS_COMMANDS, main
from validation.exceptions import (
    EXIT_CODES,
    HarnessError,
    OutputExistsError,
    ProtocolError,
    RegistrationError,
    TrialInputError,
    TrialRuleError,
)

pytestmark = pytest.mark.req("REQ-HARD-001")


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def test_help_text_has_no_markup() -> None:
    """Before: ``validate --help`` showed ``DIR/results.json`` and :func:`...` roles."""
    parsers = _parsers(build_parser((*CORE_COMMANDS, *HARNESS_COMMANDS)))
    assert len(parsers) > 20
    for parser in parsers:
        text = parser.format_help()
        assert "``" not in text, parser.prog
        assert not re.search(r":(func|mod|class|data|meth|attr):`", text), parser.prog


def test_plain_text_removes_roles() -> None:
    assert plain_text("see :func:`~a.b` and ``x`` or :class:`C <a.C>`") == "see a.b and x or C"


def test_exit_codes_by_error_class() -> None:
    assert EXIT_CODES == {"ok": 0, "check failed": 1, "usage or bad input": 2,
                          "refused by a rule": 3, "interrupted": 130, "pipe closed": 141}  # fmt: skip
    for cls in (HarnessError, ProtocolError, Her2MapError, TrialInputError):
        assert cls.exit_code == 2
    for cls in (RegistrationError, TrialRuleError, OutputExistsError, LockError, FirewallError):
        assert cls.exit_code == 3


def _one(handler: object) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="her2map")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("x").set_defaults(func=handler)
    return parser


def test_ctrl_c_exits_130_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    assert run_command(_one(handler), ["x"], (HarnessError,)) == 130
    captured = capsys.readouterr()
    assert captured.err == "her2map: interrupted\n"
    assert captured.out == ""


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        # ledger show handles the pipe itself (validation/cli/pipes.py) and exits 0
        ("ledger show --ledger {ledger}", (0, 141)),
        # any other command: the central handler of her2map.cli.run_command, exit 141
        ("protocol check {protocol}", (141,)),
    ],
)
def test_closed_pipe_exits_quietly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str, codes: tuple[int, ...]
) -> None:
    """``her2map ledger show | head -n 1``: the reader closes the pipe; no traceback."""
    protocol, ledger = registered(tmp_path)
    read, write = os.pipe()
    os.close(read)
    stream = io.TextIOWrapper(os.fdopen(write, "wb"), encoding="utf-8")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        assert main(command.format(ledger=ledger, protocol=protocol).split(" ")) in codes
        assert err.getvalue() == ""
    finally:
        monkeypatch.undo()
        stream.close()  # fd now points at /dev/null: the close flushes quietly


def test_ledger_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ledger = registered(tmp_path)
    monkeypatch.setenv(LEDGER_ENV, str(ledger))
    assert main(["ledger", "verify"]) == 0
    assert capsys.readouterr().out.startswith("OK: 1 entries")
    monkeypatch.delenv(LEDGER_ENV)
    with pytest.raises(SystemExit) as info:
        main(["ledger", "verify"])
    assert info.value.code == 2  # argparse: --ledger is required without the variable
    assert "--ledger" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        "protocol register {protocol} --ledger {new} --actor ",
        "protocol amend {protocol} --ledger {new} --actor qe --reason x",
        "trial enrol --ledger {new} --actor a --site A --patient P1 --consent IC-1",
    ],
)
def test_refused_commands_create_no_ledger(
    tmp_path: Path, argv: str, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write_protocol(tmp_path / "p.yaml", protocol_dict())
    new = tmp_path / "new.db"
    args = argv.format(protocol=protocol, new=new).split(" ")
    assert main(args) in (2, 3)
    assert "error:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


def test_registration_into_a_new_ledger_still_creates_it(tmp_path: Path) -> None:
    protocol = write_protocol(tmp_path / "p.yaml", protocol_dict())
    new = tmp_path / "new.db"
    assert main(["protocol", "register", str(protocol), "--ledger", str(new), "--actor", "qe"]) == 0
    assert new.is_file()


@pytest.mark.parametrize(
    "argv",
    [
        "dossier build {results} --out {blocker}/dossier",
        "synth --patients 2 --seed 1 --out {blocker}/cohort",
        "trial export --ledger {ledger} --out {blocker}/export",
    ],
)
def test_unusable_out_is_one_line_not_a_traceback(
    tmp_path: Path, argv: str, capsys: pytest.CaptureFixture[str], runner_run: Any
) -> None:
    """Before: ``dossier build`` and ``synth`` into a path under a file gave FileExistsError."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    _, ledger = registered(tmp_path)
    results = runner_run(0.95).results_path
    args = argv.format(results=results, blocker=blocker, ledger=ledger).split(" ")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{blocker} is a file, not a folder" in err
    assert blocker.read_text() == "x"
