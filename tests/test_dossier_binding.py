"""A dossier is bound to the recorded run that produced its results (validation.dossier.binding).

Review fixes of 2026-11-30:

* a results.json edited after its run (verdicts flipped to PASS) was built with ``--ledger`` into a
  dossier whose seal went into the ledger, and ``dossier verify --ledger`` called it OK: the build
  looked for a ``validation.run`` entry by the results' sha256, sealed anyway when there was none,
  and verify only looked for the seal. Now the build refuses (nothing written, nothing recorded),
  and verify requires the run in ``provenance.json`` to have produced results.json;
* a repeated run with identical inputs (identical results bytes) got the *first* run's entry and
  head in its ``provenance.json``, because the build searched the entry by the results' sha256.
  Now the pipeline passes the entry it appended; a search (dossier build from a results.json)
  takes the latest and says so.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_runner_helpers import make_tables, protocol_dict, registered, write_protocol

from validation.canonical import sha256_file
from validation.cli import main
from validation.dossier import PROVENANCE_NAME, SEALED_EVENT, verify_dossier, write_dossier
from validation.exceptions import DossierError, SubmissionError
from validation.ledger import Head, Ledger, verify
from validation.pipeline import SealedRun, run_and_seal

pytestmark = pytest.mark.req("REQ-TAMP-001")


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same run, identical inputs, twice into one ledger: ``r1`` then ``r1b``."""
    base = tmp_path_factory.mktemp("binding")
    pred, labels = make_tables(base, n=60)
    data = protocol_dict(bootstrap={"replicates": 100, "seed": 11, "method": "percentile"})
    protocol, ledger = registered(base, data)

    def run(out: str) -> SealedRun:
        return run_and_seal(
            protocol, predictions=pred, labels=labels, ledger=ledger, out_dir=base / out
        )

    return {"base": base, "ledger": ledger, "r1": run("r1"), "r1b": run("r1b")}


def _provenance(sealed: SealedRun) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sealed.dossier.directory / PROVENANCE_NAME).read_bytes())
    return data


def _entries(ledger: Path) -> list[tuple[int, str]]:
    with Ledger.open(ledger, create=False) as book:
        return [(e.seq, e.event_type) for e in book.entries()]


def _forged(results: Path, out: Path) -> Path:
    """results.json with every FAIL flipped to PASS and a new conclusion (schema-valid)."""
    data = json.loads(results.read_bytes())
    data["summary"]["conclusion"] = "Every primary criterion holds."
    for endpoint in data["endpoints"]:
        if endpoint["judgement"]["verdict"] == "FAIL":
            endpoint["judgement"]["verdict"] = "PASS"
    out.write_text(json.dumps(data))
    return out


def test_repeated_identical_runs_name_their_own_entries_and_heads(twice: dict[str, Any]) -> None:
    """Wrong version: provenance found by the results' sha256 (the first match), so r1b named
    r1's entry 2 and head 1 instead of its own entry 4 and head 3."""
    r1, r1b = twice["r1"], twice["r1b"]
    assert r1.run.results_sha256 == r1b.run.results_sha256  # identical bytes: a search is ambiguous
    with Ledger.open(twice["ledger"], create=False) as book:
        for sealed in (r1, r1b):
            own = sealed.run.ledger_entry
            before = book.entry(own.seq - 1)
            provenance = _provenance(sealed)
            assert provenance["run_entry"]["seq"] == own.seq
            assert provenance["run_entry"]["entry_hash"] == own.entry_hash
            assert provenance["ledger_head_before_run"] == {
                "seq": before.seq,
                "entry_hash": before.entry_hash,
            }
    assert (r1.run.ledger_entry.seq, r1b.run.ledger_entry.seq) == (2, 4)
    assert _provenance(r1b)["ledger_head_before_run"]["seq"] == 3  # after r1's dossier.sealed
    assert r1.seal != r1b.seal  # each dossier carries its own run
    for sealed in (r1, r1b):  # named by the run that appended it, not searched for
        assert "run_entry_chosen" not in _provenance(sealed)
        assert sealed.dossier.run is not None
        assert sealed.dossier.run.entry == sealed.run.ledger_entry


def test_recorded_head_catches_a_truncation_after_the_first_run(
    twice: dict[str, Any], tmp_path: Path
) -> None:
    """Wrong version: r1b's provenance named r1's entry 2, which survives the truncation of
    everything after r1, so checking it against the ledger found nothing wrong."""
    copy = tmp_path / "ledger.db"
    copy.write_bytes(Path(twice["ledger"]).read_bytes())
    run = _provenance(twice["r1b"])["run_entry"]
    head = Head(run["seq"], run["entry_hash"])
    assert verify(copy, expected_head=head).ok
    conn = sqlite3.connect(copy)  # the insider: drop the append-only triggers, cut after r1
    conn.execute("DROP TRIGGER entries_no_delete")
    conn.execute("DELETE FROM entries WHERE seq > ?", (twice["r1"].run.ledger_entry.seq + 1,))
    conn.commit()
    conn.close()
    assert verify(copy).ok  # the shorter chain is consistent in itself
    report = verify(copy, expected_head=head)
    assert not report.ok
    assert "truncated" in str(report.problem)
    assert main(["ledger", "verify", "--ledger", str(copy), "--expected-head", str(head)]) != 0


def test_a_forged_results_json_is_refused_with_a_ledger(
    twice: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wrong version: the build sealed any schema-valid results.json in the ledger (no recorded
    run needed), so a results.json edited to PASS became a sealed, 'recorded' dossier."""
    ledger = twice["ledger"]
    forged = _forged(twice["r1"].run.results_path, tmp_path / "forged.json")
    before = _entries(ledger)
    out = tmp_path / "forged"
    assert main(["dossier", "build", str(forged), "--out", str(out), "--ledger", str(ledger)]) == 2
    err = capsys.readouterr().err
    assert "no validation.run entry of ledger" in err
    assert "produced these results" in err
    assert sha256_file(forged) in err
    assert not out.exists()
    assert not list(tmp_path.glob(".forged*"))
    assert _entries(ledger) == before  # nothing recorded


def test_without_a_ledger_the_dossier_claims_no_record_and_verify_ledger_refuses_it(
    twice: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wrong version: the page said 'this dossier's seal follows them in the ledger' whatever the
    build did, and verify --ledger accepted any dossier whose seal was recorded."""
    ledger = twice["ledger"]
    forged = _forged(twice["r1"].run.results_path, tmp_path / "forged.json")
    out = tmp_path / "plain"
    assert main(["dossier", "build", str(forged), "--out", str(out)]) == 0
    assert "not recorded: built without --ledger" in capsys.readouterr().out
    assert not (out / PROVENANCE_NAME).exists()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "This dossier was built without a ledger" in page
    assert "seal follows them in the ledger" not in page
    recorded = (twice["r1"].dossier.directory / "index.html").read_text(encoding="utf-8")
    assert "seal follows them in the ledger" in recorded
    assert "built without a ledger" not in recorded
    assert main(["dossier", "verify", str(out)]) == 0  # the seal itself holds
    capsys.readouterr()
    assert main(["dossier", "verify", str(out), "--ledger", str(ledger)]) == 1
    assert "NOT RECORDED" in capsys.readouterr().out


def test_a_forged_dossier_carrying_a_real_runs_provenance_is_not_recorded(
    twice: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The insider writes the forged results with r1's real provenance.json and appends its seal
    to the ledger. Wrong versions: verify --ledger looking only for the seal's entry, or only for
    the provenance's entry seq and hash, call it recorded."""
    ledger = twice["ledger"]
    r1 = twice["r1"]
    forged = _forged(r1.run.results_path, tmp_path / "forged.json")
    provenance = (r1.dossier.directory / PROVENANCE_NAME).read_bytes()
    out = tmp_path / "insider"
    seal, _ = write_dossier(forged.read_bytes(), out, carried={PROVENANCE_NAME: provenance})
    assert verify_dossier(out).ok
    copy = tmp_path / "ledger.db"
    copy.write_bytes(Path(ledger).read_bytes())
    with Ledger.open(copy, create=False) as book:
        payload = {"protocol_id": "TEST-RUN-001", "seal": seal}
        book.append(SEALED_EVENT, {**payload, "results_sha256": sha256_file(forged)}, actor="x")
    assert main(["dossier", "verify", str(out), "--ledger", str(copy)]) == 1
    text = capsys.readouterr().out
    assert "NOT RECORDED" in text
    assert "did not produce this results.json" in text
    assert f"not {sha256_file(forged)} (these results.json bytes)" in text
    from validation.reproduce import reproduce_dossier

    with pytest.raises(DossierError, match=r"did not produce this dossier's results\.json"):
        reproduce_dossier(out, ledger=copy)
    # nor does a submission package take it (wrong version: any dossier whose seal has an entry)
    from validation.submission import build_submission

    with pytest.raises(SubmissionError, match=r"insider: not recorded in ledger .* recorded run"):
        build_submission([out], tmp_path / "package", ledger=copy, title="forged")
    assert not (tmp_path / "package").exists()
    genuine = build_submission([r1.dossier.directory], tmp_path / "real", ledger=copy, title="t")
    assert genuine.seal


def test_genuine_results_rebuilt_with_the_ledger_bind_the_latest_run_and_say_so(
    twice: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(Path(twice["ledger"]).read_bytes())
    r1_dossier = str(twice["r1"].dossier.directory)
    assert main(["dossier", "verify", r1_dossier, "--ledger", str(ledger)]) == 0
    capsys.readouterr()
    out = tmp_path / "again"
    results = twice["r1"].run.results_path
    assert main(["dossier", "build", str(results), "--out", str(out), "--ledger", str(ledger)]) == 0
    text = capsys.readouterr().out
    assert "validation.run entry 4 (the latest of 2 recorded runs" in text
    assert "entries 2, 4" in text
    provenance = json.loads((out / PROVENANCE_NAME).read_bytes())
    assert provenance["run_entry"]["seq"] == 4
    assert provenance["run_entry_chosen"] == {
        "by": "results_sha256",
        "rule": "latest",
        "candidates": [2, 4],
    }
    assert main(["dossier", "verify", str(out), "--ledger", str(ledger)]) == 0


def test_dossier_build_opens_a_postgresql_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Wrong version: ``dossier build --ledger`` refused any ledger that is not a file
    (``ledger postgresql://... does not exist``) while the ledger, trial and verify commands open
    the same ``postgresql://`` URL. Now it opens the URL, verifies its chain and checks the binding
    there: results whose run is recorded only in another ledger are refused by that check, naming
    the PostgreSQL ledger, with nothing written or recorded."""
    from pgtools import pg_ledger

    from validation.protocol import Protocol, register
    from validation.runner import run_protocol

    pred, labels = make_tables(tmp_path, n=60)
    data = protocol_dict(bootstrap={"replicates": 100, "seed": 11, "method": "percentile"})
    protocol = write_protocol(tmp_path / "protocol.yaml", data)
    sqlite = tmp_path / "ledger.db"
    with Ledger.open(sqlite) as book:
        register(Protocol.from_yaml(protocol), book, actor="qe")
    run = run_protocol(
        protocol, predictions=pred, labels=labels, ledger=sqlite, out_dir=tmp_path / "r1"
    )
    argv = ["dossier", "build", str(run.results_path), "--out", str(tmp_path / "d")]
    with pg_ledger("h2m_dossier") as db:
        with Ledger.open(db.app) as book:
            register(Protocol.from_yaml(protocol), book, actor="qe")
            before = book.head()
        assert main([*argv, "--ledger", db.app]) == 2
        err = capsys.readouterr().err
        assert "does not exist" not in err
        assert f"no validation.run entry of ledger {db.app} produced these results" in err
        with Ledger.open(db.app, readonly=True) as book:
            assert book.head() == before  # nothing recorded
        assert verify(db.app).ok
    assert not (tmp_path / "d").exists()
    missing = tmp_path / "nowhere.db"  # a file that is not there is still refused, naming it
    assert main([*argv, "--ledger", str(missing)]) == 2
    assert f"ledger {missing} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    assert not missing.exists()


def test_the_dossier_names_the_runners_run_event() -> None:
    """The dossier may not import the runner (.importlinter), so it names the runner's ledger
    event itself; if the two names parted, no run would ever bind and every build would be
    refused -- or, worse, a renamed event would leave the binding reading nothing."""
    from validation.dossier.binding import RUN_EVENT as DOSSIER_RUN_EVENT
    from validation.runner import RUN_EVENT as RUNNER_RUN_EVENT

    assert DOSSIER_RUN_EVENT == RUNNER_RUN_EVENT
