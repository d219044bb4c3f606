"""Fuzzed paths (REQ-HARD-001, REQ-ATOM-001): any ``--out`` name (bytes that are not UTF-8, dots,
existing files and folders, nesting) and any table file name give a clear refusal or pass the
checks -- never another exception -- and a refused run creates nothing. 2,000 inputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fuzz_budget import outcome, run_counted
from hypothesis import strategies as st
from test_runner_helpers import make_tables, registered

from validation.exceptions import OutputError, RegistrationError, RunError
from validation.pipeline import run_and_seal
from validation.runner import read_predictions

pytestmark = [pytest.mark.req("REQ-HARD-001"), pytest.mark.req("REQ-ATOM-001"), pytest.mark.slow]

NAMES = st.one_of(
    st.binary(min_size=1, max_size=24).filter(lambda b: b"/" not in b and b"\0" not in b),
    st.sampled_from([b".", b"..", b"blocker", b"full", b"empty", b" ", b"-", b"\xff\xfe"]),
).map(os.fsdecode)


def _listing(root: Path) -> set[str]:
    return {os.fsencode(p.relative_to(root)).hex() for p in root.rglob("*")}


def test_fuzz_output_paths(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("fuzz-out")
    pred, labels = make_tables(base, n=12)
    protocol, ledger = registered(base)
    (base / "blocker").write_text("x")
    (base / "full").mkdir()
    (base / "full" / "f").write_text("x")
    (base / "empty").mkdir()
    missing = base / "missing.db"  # the run stops at the ledger check, after the path checks
    before = _listing(base)

    def attempt(parts: list[str]) -> None:
        out = base.joinpath(*parts)
        _, error = outcome(
            lambda: run_and_seal(
                protocol, predictions=pred, labels=labels, ledger=missing, out_dir=out
            ),
            (OutputError, RegistrationError),
        )
        assert error is not None  # never a run without a ledger
        assert _listing(base) == before  # a refused run creates nothing

    run_counted(1700, attempt, st.lists(NAMES, min_size=1, max_size=3))
    assert ledger.is_file()


def test_fuzz_table_file_names(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("fuzz-names")

    def attempt(name: str) -> None:
        if name in (".", ".."):
            return
        path = base / name
        path.write_text("patient_id,site,score\nP1,A,0.5\n", encoding="utf-8")
        try:
            table, error = outcome(lambda: read_predictions(path), RunError)
        finally:
            path.unlink()
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            assert error is not None
            assert "the file name is not valid UTF-8" in error
        else:
            assert error is None
            assert table.frame["score"].tolist() == [0.5]

    run_counted(300, attempt, NAMES)
