"""The trial service for real: PostgreSQL + ``her2map serve`` on localhost, HTTP clients.

Identity from tokens (actor and site never typed), site isolation, 401/403, four sites logging
1,000 events each concurrently with every acknowledged event present, SIGKILL of the server
mid-write losing nothing acknowledged, a tampered ledger refused, and the CLI's remote mode
printing what the local mode prints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pgtools import PgLedger, pg_ledger, running_server

from validation.ledger import Ledger, verify
from validation.server.tokens import issue_token

SITES = ("A", "B", "C", "D")


def call(url: str, token: str | None, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One HTTP request; (status, JSON answer)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def admin_token(location: str) -> str:
    with Ledger.open(location) as ledger:
        token, _ = issue_token(
            ledger, user="cc.admin", site="A", role="administrator", actor="setup"
        )
    return token


def tokens_for(url: str, admin: str, roles: dict[str, tuple[str, str]]) -> dict[str, str]:
    out = {}
    for user, (site, role) in roles.items():
        status, data = call(
            url, admin, "POST", "/v1/tokens", {"user": user, "site": site, "role": role}
        )
        assert status == 200, data
        out[user] = data["token"]
    return out


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PgLedger, str, str]]:
    with pg_ledger("h2m_srv") as db:
        admin = admin_token(db.app)
        with running_server(db.app, tmp_path_factory.mktemp("srv")) as (url, _):
            status, _ = call(
                url,
                admin,
                "POST",
                "/v1/trial/open",
                {"sites": list(SITES), "protocol": "HER2-PRO-004"},
            )
            assert status == 200
            yield db, url, admin


@pytest.mark.req("REQ-SEC-001")
def test_identity_roles_and_site_isolation(service: tuple[PgLedger, str, str]) -> None:
    db, url, admin = service
    t = tokens_for(
        url,
        admin,
        {
            "coord.a": ("A", "site_coordinator"),
            "coord.b": ("B", "site_coordinator"),
            "path.a": ("A", "pathologist"),
            "path.b": ("B", "pathologist"),
            "mon": ("A", "monitor"),
        },
    )
    status, entry = call(
        url, t["coord.a"], "POST", "/v1/trial/enrol", {"patient": "ISO-A1", "consent": "IC"}
    )
    assert status == 200
    assert entry["actor"].startswith("coord.a (site_coordinator, site A, token ")
    assert entry["payload"]["site"] == "A"
    assert (
        call(url, t["coord.b"], "POST", "/v1/trial/enrol", {"patient": "ISO-B1", "consent": "IC"})[
            0
        ]
        == 200
    )
    # a flag cannot choose the site or actor: the body refuses them
    status, data = call(
        url,
        t["coord.b"],
        "POST",
        "/v1/trial/enrol",
        {"patient": "ISO-X", "consent": "IC", "site": "A"},
    )
    assert status == 422
    # cross-site write: pathologist of B on A's patient
    status, data = call(
        url,
        t["path.b"],
        "POST",
        "/v1/trial/record/biopsy",
        {"patient": "ISO-A1", "ihc": "3+", "ish": "not_done"},
    )
    assert status == 403
    assert "OWN-SITE" in data["detail"]
    # wrong role for the event, and readers never write
    status, data = call(
        url,
        t["coord.a"],
        "POST",
        "/v1/trial/record/biopsy",
        {"patient": "ISO-A1", "ihc": "3+", "ish": "not_done"},
    )
    assert status == 403
    assert "may not record biopsy" in data["detail"]
    assert (
        call(url, t["mon"], "POST", "/v1/trial/enrol", {"patient": "ISO-M", "consent": "IC"})[0]
        == 403
    )
    assert (
        call(
            url,
            t["coord.a"],
            "POST",
            "/v1/tokens",
            {"user": "x", "site": "A", "role": "administrator"},
        )[0]
        == 403
    )
    # cross-site read; own-site status shows only the own site
    status, data = call(url, t["coord.b"], "GET", "/v1/trial/status?site=A")
    assert status == 403
    assert "may not read site A" in data["detail"]
    status, data = call(url, t["coord.b"], "GET", "/v1/trial/status")
    assert status == 200
    assert [s["site"] for s in data["sites"]] == ["B"]
    assert {p["patient_id"] for p in data["pending"]} == {"ISO-B1"}
    assert call(url, t["coord.b"], "GET", "/v1/trial/export")[0] == 403
    status, data = call(url, t["mon"], "GET", "/v1/trial/status")
    assert status == 200
    assert [s["site"] for s in data["sites"]] == list(SITES)
    # forged, malformed, missing and revoked tokens
    forged = t["path.a"][:-4] + ("AAAA" if not t["path.a"].endswith("AAAA") else "BBBB")
    for bad in (forged, "not-a-token", None):
        status, data = call(url, bad, "GET", "/v1/whoami")
        assert status == 401, data
    token_id = t["path.a"].split("_")[1]
    assert call(url, t["path.a"], "GET", "/v1/whoami")[0] == 200
    status, _ = call(
        url, admin, "POST", f"/v1/tokens/{token_id}/revoke", {"reason": "left the team"}
    )
    assert status == 200
    status, data = call(url, t["path.a"], "GET", "/v1/whoami")
    assert status == 401
    assert "revoked" in data["detail"]
    # the ledger holds only the token hashes
    with Ledger.open(db.app, readonly=True) as ledger:
        text = json.dumps([e.payload for e in ledger.entries()])
    assert all(token not in text for token in (*t.values(), admin))


@pytest.mark.req("REQ-AUD-002")
def test_four_sites_thousand_events_each_concurrently(service: tuple[PgLedger, str, str]) -> None:
    db, url, admin = service
    per_site = 1000
    t = tokens_for(url, admin, {f"load.{s}": (s, "site_coordinator") for s in SITES})
    acks: dict[str, dict[str, str]] = {s: {} for s in SITES}
    errors: list[str] = []
    start = threading.Barrier(len(SITES))

    def site_writer(site: str) -> None:
        start.wait()
        for i in range(per_site):
            pid = f"L{site}{i:05d}"
            status, data = call(
                url, t[f"load.{site}"], "POST", "/v1/trial/enrol", {"patient": pid, "consent": "IC"}
            )
            if status != 200:
                errors.append(f"{pid}: {status} {data}")
                return
            acks[site][pid] = f"{data['seq']}:{data['entry_hash']}"

    threads = [threading.Thread(target=site_writer, args=(s,)) for s in SITES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Ledger.open(db.app, readonly=True) as ledger:
        stored = {
            e.payload["patient_label"]: str(e.head)  # the id as enrolled
            for e in ledger.entries(event_type="trial.enrolled")
            if e.payload["patient_label"].startswith("L")
        }
    for site in SITES:
        assert len(acks[site]) == per_site
        assert {pid: stored.get(pid) for pid in acks[site]} == acks[site]
    report = verify(db.app)
    assert report.ok, report


def _sigkill_run(db: PgLedger, tmp: Path) -> tuple[dict[str, str], int]:
    admin = admin_token(db.app)
    with running_server(db.app, tmp) as (url, proc):
        call(url, admin, "POST", "/v1/trial/open", {"sites": list(SITES), "protocol": "P"})
        t = tokens_for(url, admin, {f"k.{s}": (s, "site_coordinator") for s in SITES})
        acks: dict[str, str] = {}
        lock = threading.Lock()

        def writer(site: str) -> None:
            for i in range(100000):
                pid = f"K{site}{i:06d}"
                try:
                    status, data = call(
                        url,
                        t[f"k.{site}"],
                        "POST",
                        "/v1/trial/enrol",
                        {"patient": pid, "consent": "IC"},
                    )
                except OSError:
                    return  # the server is gone
                if status != 200:
                    return
                with lock:
                    acks[pid] = f"{data['seq']}:{data['entry_hash']}"

        threads = [threading.Thread(target=writer, args=(s,)) for s in SITES]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acks) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        for thread in threads:
            thread.join()
        return acks, proc.wait()


@pytest.mark.req("REQ-AUD-002")
def test_sigkill_mid_write_loses_no_acknowledged_event(tmp_path: Path) -> None:
    with pg_ledger("h2m_kill") as db:
        acks, code = _sigkill_run(db, tmp_path)
        assert code == -signal.SIGKILL
        assert len(acks) >= 200
        with Ledger.open(db.app, readonly=True) as ledger:
            stored = {
                e.payload["patient_label"]: str(e.head)
                for e in ledger.entries(event_type="trial.enrolled")
            }
        assert {pid: stored.get(pid) for pid in acks} == acks
        assert verify(db.app).ok
        with Ledger.open(db.app) as ledger:  # the chain goes on without a gap
            after = ledger.append("x.after", {}, actor="check")
        assert after.seq == len(stored) + 1 + 1 + 4 + 1  # enrolments, open, 4 tokens, admin token


@pytest.mark.req("REQ-AUD-004")
def test_tampered_ledger_refused_naming_the_entry(tmp_path: Path) -> None:
    with pg_ledger("h2m_tamper") as db:
        admin = admin_token(db.app)
        with running_server(db.app, tmp_path) as (url, _):
            call(url, admin, "POST", "/v1/trial/open", {"sites": ["A"], "protocol": "P"})
            t = tokens_for(
                url,
                admin,
                {"c": ("A", "site_coordinator"), "p": ("A", "pathologist"), "m": ("A", "monitor")},
            )
            call(url, t["c"], "POST", "/v1/trial/enrol", {"patient": "T1", "consent": "IC"})
            status, biopsy = call(
                url,
                t["p"],
                "POST",
                "/v1/trial/record/biopsy",
                {"patient": "T1", "ihc": "0", "ish": "not_done"},
            )
            assert status == 200
            assert call(url, t["m"], "GET", "/v1/trial/status")[0] == 200
            edited = biopsy["payload"]
            edited["result"] = {"her2": "positive", "ihc": "3+", "ish": "not_done"}
            text = json.dumps(edited, separators=(",", ":"), sort_keys=True)
            with psycopg.connect(db.admin, autocommit=True) as conn:
                conn.execute("ALTER TABLE her2map.entries DISABLE TRIGGER entries_append_only")
                conn.execute(
                    "UPDATE her2map.entries SET payload = %s WHERE seq = %s", (text, biopsy["seq"])
                )
            for path in ("/v1/trial/status", "/v1/trial/export"):
                status, data = call(url, t["m"], "GET", path)
                assert status == 409, data
                assert f"TAMPERED: entry {biopsy['seq']}" in data["detail"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.mark.req("REQ-SEC-001")
def test_cli_remote_mode_prints_what_local_prints(
    service: tuple[PgLedger, str, str], tmp_path: Path
) -> None:
    db, url, admin = service
    t = tokens_for(url, admin, {"cli.c": ("C", "site_coordinator"), "cli.m": ("C", "statistician")})
    token_file = tmp_path / "token"
    token_file.write_text(t["cli.c"])
    token_file.chmod(0o600)
    done = _cli(
        "trial",
        "enrol",
        "--server",
        url,
        "--patient",
        "CLI-1",
        "--consent",
        "IC",
        env={"HER2MAP_TOKEN_FILE": str(token_file)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("recorded trial.enrolled at ledger entry ")
    refused = _cli(
        "trial",
        "enrol",
        "--server",
        url,
        "--patient",
        "CLI-2",
        "--consent",
        "IC",
        "--site",
        "A",
        env={"HER2MAP_TOKEN": t["cli.c"]},
    )
    assert refused.returncode == 2
    assert "takes actor and site from your token" in refused.stderr
    token_file.chmod(0o644)
    loose = _cli("trial", "status", "--server", url, env={"HER2MAP_TOKEN_FILE": str(token_file)})
    assert loose.returncode == 2
    assert "chmod 600" in loose.stderr
    remote = _cli("trial", "status", "--server", url, env={"HER2MAP_TOKEN": t["cli.m"]})
    local = _cli("trial", "status", "--ledger", db.app)
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, local.stderr
    assert remote.stdout.splitlines()[1:] == local.stdout.splitlines()[1:]  # head may move on
    out = tmp_path / "export"
    exported = _cli(
        "trial", "export", "--server", url, "--out", str(out), env={"HER2MAP_TOKEN": t["cli.m"]}
    )
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "audit_trail.csv",
        "data_dictionary.csv",
        "labels.csv",
        "predictions.csv",
        "trial_data.csv",
        "trial_export.json",
        "trial_odm.xml",
    ]


@pytest.mark.req("REQ-SEC-001")
def test_remote_predict_runs_the_model_here_and_names_what_it_read(
    service: tuple[PgLedger, str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The model run itself is the local one (tests/test_trial_e2e.py); here: the wiring."""
    from validation.cli import main
    from validation.trial import imaging

    db, url, admin = service
    t = tokens_for(
        url,
        admin,
        {
            "rp.c": ("D", "site_coordinator"),
            "rp.r": ("D", "radiologist"),
            "rp.x": ("C", "radiologist"),
        },
    )
    assert (
        call(
            url,
            t["rp.c"],
            "POST",
            "/v1/trial/enrol",
            {"patient": "RP-1", "consent": "IC", "laterality": "R"},
        )[0]
        == 200
    )
    assert call(url, t["rp.x"], "GET", "/v1/trial/patients/RP-1")[0] == 403
    assert call(url, t["rp.r"], "GET", "/v1/trial/patients/NOPE")[0] == 404
    body = {"patient": "RP-1", "score": 0.5, "threshold": 0.5, "model_lock": "c" * 64,
            "model_name": "m", "modalities": ["US"], "source": "dicom"}  # fmt: skip
    status, data = call(url, t["rp.r"], "POST", "/v1/trial/predict", body)
    assert status == 409
    assert "names the study_uids and instance_uids" in data["detail"]
    seen: dict[str, object] = {}
    shipped = imaging.load_model(None)  # the service opened the trial with the shipped lock

    def fake_score(
        study: object, patient_id: str, *, site: str, laterality: str, model: object
    ) -> imaging.ModelScore:
        seen.update(study=study, patient_id=patient_id, site=site, laterality=laterality)
        return imaging.ModelScore(
            0.75, shipped.threshold, shipped.lock_hash, "her2map", ("MG_CC", "US"), ("1.2.3",),
            ("1.2.3.1", "1.2.3.2"), "2026-03-04",
        )  # fmt: skip

    monkeypatch.setattr(imaging, "score_study", fake_score)
    monkeypatch.setattr(imaging, "load_model", lambda lock: object())
    monkeypatch.setenv("HER2MAP_TOKEN", t["rp.r"])
    assert (
        main(["trial", "predict", "--server", url, "--patient", "RP-1", "--study", "dicom/RP-1"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("score 0.75 (positive) by model lock " + shipped.lock_hash)
    assert seen == {"study": "dicom/RP-1", "patient_id": "RP-1", "site": "D", "laterality": "R"}
    with Ledger.open(db.app, readonly=True) as ledger:
        (entry,) = ledger.entries(event_type="trial.prediction", where={"patient_id": "rp-1"})
    assert entry.payload["source"] == "dicom"
    assert entry.payload["imaging_date"] == "2026-03-04"  # read from DICOM, sent by the CLI
    assert entry.payload["read"] == {
        "instance_uids": ["1.2.3.1", "1.2.3.2"],
        "study_uids": ["1.2.3"],
    }
    assert entry.actor.startswith("rp.r (radiologist, site D")
    # From a PACS: the model runs here on the retrieved studies; the service records the PACS.
    assert call(url, t["rp.c"], "POST", "/v1/trial/enrol", {"patient": "RP-2", "consent": "IC",
                "laterality": "L"})[0] == 200  # fmt: skip

    def fake_pacs(pacs: str, patient_id: str, **_: object) -> imaging.ModelScore:
        seen.update(pacs=pacs, patient_id=patient_id)
        return imaging.ModelScore(
            0.25, shipped.threshold, shipped.lock_hash, "her2map", ("US",), ("1.2.4",),
            ("1.2.4.1",),
            imaging_date="2026-03-05", pacs="http://pacs/dw",
        )  # fmt: skip

    monkeypatch.setattr(imaging, "score_pacs", fake_pacs)
    pacs = ["--pacs", "http://u:p@pacs/dw"]
    assert main(["trial", "predict", "--server", url, "--patient", "RP-2", *pacs]) == 0
    assert seen["pacs"] == "http://u:p@pacs/dw"  # the URL as given: credentials for the PACS
    assert seen["patient_id"] == "RP-2"
    with Ledger.open(db.app, readonly=True) as ledger:
        (entry,) = ledger.entries(event_type="trial.prediction", where={"patient_id": "rp-2"})
    assert entry.payload["read"] == {
        "instance_uids": ["1.2.4.1"], "study_uids": ["1.2.4"], "pacs": "http://pacs/dw"
    }  # fmt: skip
    assert entry.payload["imaging_date"] == "2026-03-05"


@pytest.mark.req("REQ-SEC-001", "REQ-TRIAL-001")
def test_service_refuses_a_prediction_of_another_lock_or_threshold_than_the_trials(
    service: tuple[PgLedger, str, str], tmp_path: Path
) -> None:
    """Wrong version: the first prediction recorded fixes the trial's model, so a radiologist's
    external score with a made-up lock and threshold 0.01 is recorded and the shipped locked
    model is refused afterwards. The service opened the trial with the shipped lock."""
    from her2map import LockedModel

    shipped = LockedModel.load()
    _, url, admin = service
    t = tokens_for(url, admin, {"ml.c": ("C", "site_coordinator"), "ml.r": ("C", "radiologist")})
    enrol = {"patient": "ML-1", "consent": "IC", "laterality": "L"}
    assert call(url, t["ml.c"], "POST", "/v1/trial/enrol", enrol)[0] == 200
    forged = {"patient": "ML-1", "score": 0.99, "threshold": 0.01, "model_lock": "a" * 64,
              "model_name": "anything", "modalities": ["MG_CC"]}  # fmt: skip
    status, data = call(url, t["ml.r"], "POST", "/v1/trial/predict", forged)
    assert status == 409
    assert (
        "refused by rule MODEL-LOCK: model lock aaaaaaaaaaaa... differs from the trial's model "
        f"lock {shipped.lock_hash[:12]}... (recorded at the trial's opening, entry "
    ) in data["detail"]
    status, data = call(
        url, t["ml.r"], "POST", "/v1/trial/predict", {**forged, "model_lock": shipped.lock_hash}
    )
    assert status == 409
    assert f"threshold 0.01 differs from the threshold {shipped.threshold!r}" in data["detail"]
    genuine = {**forged, "model_lock": shipped.lock_hash, "threshold": shipped.threshold}
    status, entry = call(url, t["ml.r"], "POST", "/v1/trial/predict", genuine)
    assert status == 200, entry
    assert entry["payload"]["model_lock"] == shipped.lock_hash
    refused = _cli(
        "trial", "open", "--server", url, "--sites", "A", "--protocol", "P", "--lock", "x.json",
        env={"HER2MAP_TOKEN": admin},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--lock cannot be given with --server" in refused.stderr


@pytest.mark.req("REQ-SEC-001")
def test_token_issue_uses_her2map_server_and_refuses_a_site_outside_the_trial(
    service: tuple[PgLedger, str, str],
) -> None:
    """Wrong versions: `token issue` without --ledger/--server is a usage error although
    $HER2MAP_SERVER is set (the trial commands use it); a token for site Z of a trial of sites
    A-D is issued."""
    _, url, admin = service
    env = {"HER2MAP_SERVER": url, "HER2MAP_TOKEN": admin}
    issued = _cli("token", "issue", "--user", "env.c", "--site", "C", "--role", "monitor", env=env)
    assert issued.returncode == 0, issued.stderr
    assert "for env.c (monitor, site C)" in issued.stdout
    refused = _cli("token", "issue", "--user", "env.z", "--site", "Z", "--role", "monitor", env=env)
    assert refused.returncode == 2
    assert "site 'Z' is not one of the trial's sites ['A', 'B', 'C', 'D']" in refused.stderr
    status, data = call(url, admin, "POST", "/v1/tokens", {"user": "z", "site": "Z",
                        "role": "radiologist"})  # fmt: skip
    assert status == 400
    assert "no token was issued" in data["detail"]
    nowhere = _cli("token", "issue", "--user", "u", "--site", "A", "--role", "monitor",
                   env={"HER2MAP_SERVER": "", "HER2MAP_TOKEN": admin})  # fmt: skip
    assert nowhere.returncode == 2
    assert "give --ledger PATH (local) or --server URL (or set $HER2MAP_SERVER)" in nowhere.stderr
