"""The ``her2map`` command starts fast: ``--help`` imports no command module, logging a trial
event imports neither torch nor the server stack, and output to a closed pipe ends quietly."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from validation.cli import COMMANDS, CORE_COMMANDS, HARNESS_COMMANDS
from validation.ledger import Ledger

_PROBE = """
import json, sys, time
began = time.process_time()
from validation.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "fastapi", "uvicorn", "psycopg", "matplotlib") if m in sys.modules)
commands = sorted(m for m in sys.modules if m.startswith(("validation.cli.", "her2map.cli.")))
print(json.dumps({"code": code, "heavy": heavy, "commands": commands,
                  "cpu_s": time.process_time() - began}), file=sys.stderr)
"""


def _probe(*argv: str, cwd: Path) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, cwd=cwd, timeout=60
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    result["process_cpu_s"] = (after.ru_utime + after.ru_stime) - (
        before.ru_utime + before.ru_stime
    )
    return result


def test_help_imports_no_command_module(tmp_path: Path) -> None:
    result = _probe("--help", cwd=tmp_path)
    assert result["code"] == 0
    assert result["commands"] == []
    assert result["heavy"] == []
    assert float(result["process_cpu_s"]) < 1.0  # type: ignore[arg-type]


def test_command_table_matches_the_modules() -> None:
    """``her2map --help`` lists exactly the commands, with the help the modules register."""
    from validation.cli import build_parser

    parser = build_parser((*CORE_COMMANDS, *HARNESS_COMMANDS))
    sub = next(a for a in parser._actions if a.dest == "command")
    registered = {c.dest: c.help for c in sub._choices_actions}
    assert registered == {name: helptext for name, (_, helptext) in COMMANDS.items()}
    assert {module for module, _ in COMMANDS.values()} == {*CORE_COMMANDS, *HARNESS_COMMANDS}


def test_logging_an_event_locally_starts_in_under_a_second(tmp_path: Path) -> None:
    ledger = str(tmp_path / "t.db")
    common = ["--ledger", ledger, "--actor", "cc", "--site", "A"]
    opened = _probe("trial", "open", "--sites", "A,B", "--protocol", "P", *common, cwd=tmp_path)
    assert opened["code"] == 0
    result = _probe("trial", "enrol", "--patient", "P1", "--consent", "IC", *common, cwd=tmp_path)
    assert result["code"] == 0
    assert result["heavy"] == []
    assert result["commands"] == ["validation.cli.pipes", "validation.cli.trial"]
    assert float(result["process_cpu_s"]) < 1.0, result  # type: ignore[arg-type]


def test_ledger_show_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with Ledger.open(path) as ledger:
        for i in range(300):  # ~150 kB of output: more than a pipe buffer holds
            ledger.append("x.event", {"i": i, "pad": "x" * 400}, actor="a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "validation", "ledger", "show", "--ledger", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # as `head -n 1` does
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(60) == 0
    assert first.startswith(b"1\t")
    assert err == b""
