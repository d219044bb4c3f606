"""A PACS over DICOMweb: a real Orthanc with its DICOMweb plugin, on localhost, in a temp folder.

Each module run starts ``Orthanc`` with its own configuration (free HTTP port, no DICOM port
conflicts, storage and index in tmp, the plugin from Debian's ``orthanc-dicomweb``), uploads a
small synthesized cohort through Orthanc's REST API, and requires ``her2map predict --pacs`` to
write the same predictions, byte for byte, as ``her2map predict --cohort`` on the folder, and
``her2map trial predict --pacs`` to log the same prediction as ``--study`` on the folder, naming
the PACS.
Skipped only when Orthanc is absent and CI is unset (.ci/run installs it).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from locks import make_lock

from her2map.cli import main
from her2map.exceptions import CohortError
from her2map.ingest.dicomweb import fetch_cohort, public_url
from her2map.synth import synth
from validation.cli import main as trial_main
from validation.ledger import Ledger
from validation.trial import Trial

_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
_ORTHANC = shutil.which("Orthanc")
pytestmark = pytest.mark.skipif(
    (_ORTHANC is None or not _PLUGIN.exists()) and not os.environ.get("CI"),
    reason="Orthanc with its DICOMweb plugin is absent (apt packages orthanc orthanc-dicomweb)",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a fresh Orthanc (REST at ``/``, DICOMweb at ``/dicom-web``)."""
    folder = tmp_path_factory.mktemp("orthanc")
    port = _free_port()
    config = {
        "Name": "her2map-test",
        "HttpPort": port,
        "DicomPort": _free_port(),
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [str(_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen(
        [str(_ORTHANC), str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/system", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None:
                pytest.fail(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.1)
        else:
            pytest.fail("Orthanc did not answer within 30 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory, orthanc: str) -> Path:
    root = tmp_path_factory.mktemp("pacs") / "cohort"
    synth(root, patients=5, seed=5, workers=1)
    for path in sorted((root / "dicom").rglob("*.dcm")):
        answer = requests.post(f"{orthanc}/instances", data=path.read_bytes(), timeout=30)
        answer.raise_for_status()
    return root


@pytest.fixture(scope="module")
def lock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lock(tmp_path_factory.mktemp("lock"), training=["Q-OTHER"])


@pytest.mark.req("REQ-PACS-001")
def test_predictions_over_dicomweb_equal_the_folders_byte_for_byte(
    orthanc: str, cohort: Path, lock: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "folder.csv"
    pacs = tmp_path / "pacs.csv"
    assert (
        main(
            [
                "predict",
                "--cohort",
                str(cohort),
                "--out",
                str(folder),
                "--lock",
                str(lock),
                "--no-response",
            ]
        )  # the PACS path runs the HER2 model only
        == 0
    )
    code = main(
        [
            "predict", "--pacs", f"{orthanc}/dicom-web", "--clinical", str(cohort / "clinical.csv"),
            "--out", str(pacs), "--lock", str(lock),
        ]
    )  # fmt: skip
    assert code == 0
    assert pacs.read_bytes() == folder.read_bytes()
    assert len(pacs.read_text().splitlines()) == 1 + 5


@pytest.mark.req("REQ-PACS-001")
def test_fetch_cohort_retrieves_every_instance(orthanc: str, cohort: Path, tmp_path: Path) -> None:
    fetched = fetch_cohort(f"{orthanc}/dicom-web", cohort / "clinical.csv", tmp_path / "f")
    sent = sorted(p.read_bytes()[-4096:] for p in (cohort / "dicom").rglob("*.dcm"))
    got = sorted(p.read_bytes()[-4096:] for p in (fetched / "dicom").rglob("*.dcm"))
    assert got == sent  # the same pixel bytes (the file's tail) for every instance


def test_unreachable_pacs_is_a_clear_error(cohort: Path, tmp_path: Path) -> None:
    url = f"http://reader:s3cret@127.0.0.1:{_free_port()}/dicom-web"
    with pytest.raises(CohortError, match=r"PACS http://127\.0\.0\.1:\d+/dicom-web: query") as err:
        fetch_cohort(url, cohort / "clinical.csv", tmp_path / "f", retry=False)
    assert "s3cret" not in str(err.value)  # credentials never appear in a message


def test_public_url_drops_credentials_query_and_fragment_and_refuses_other_schemes() -> None:
    assert public_url("https://u:p@PACS.example.org:8042/dicom-web?t=1#x") == (
        "https://pacs.example.org:8042/dicom-web"
    )
    assert public_url("http://[::1]:8042/dicom-web") == "http://[::1]:8042/dicom-web"
    for bad in ("ftp://pacs/dicom-web", "pacs:8042/dicom-web", "http://pacs:x/dicom-web"):
        with pytest.raises(CohortError, match="PACS URL"):
            public_url(bad)


def _trial_with(ledger: Path, row: dict[str, str], lock: Path) -> None:
    """A trial ledger with ``row``'s patient enrolled (laterality from the cohort's table)."""
    with Trial.open(ledger) as trial:
        trial.open_recruitment(
            ["A", "B", "C", "D"], protocol_id="P-PACS", actor="cc", site="A", lock=lock
        )
        trial.enrol(
            row["patient_id"],
            consent_ref="IC-1",
            laterality=row["laterality"],
            actor="nurse",
            site=row["site"],
        )


def _trial_predict(ledger: Path, row: dict[str, str], source: list[str], lock: Path) -> int:
    return trial_main(
        ["trial", "predict", "--ledger", str(ledger), "--actor", "rad", "--site", row["site"],
         "--patient", row["patient_id"], "--lock", str(lock), *source]
    )  # fmt: skip


def _prediction(ledger: Path) -> dict[str, Any]:
    with Ledger.open(ledger, readonly=True) as opened:
        (entry,) = opened.entries(event_type="trial.prediction")
    return dict(entry.payload)


@pytest.mark.req("REQ-PACS-001", "REQ-TRIAL-001")
def test_trial_prediction_from_the_pacs_equals_the_folders_and_names_the_pacs(
    orthanc: str, cohort: Path, lock: Path, tmp_path: Path
) -> None:
    with (cohort / "clinical.csv").open(newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    port = orthanc.rsplit(":", 1)[1]
    with_secret = f"http://reader:s3cret@127.0.0.1:{port}/dicom-web"  # basic auth, not recorded
    folder, pacs = tmp_path / "folder.db", tmp_path / "pacs.db"
    for ledger in (folder, pacs):
        _trial_with(ledger, row, lock)
    study = str(cohort / "dicom" / row["patient_id"])
    assert _trial_predict(folder, row, ["--study", study], lock) == 0
    assert _trial_predict(pacs, row, ["--pacs", with_secret], lock) == 0
    by_folder, by_pacs = _prediction(folder), _prediction(pacs)
    read = by_pacs.pop("read")
    assert read.pop("pacs") == f"{orthanc}/dicom-web"  # the source, without the credentials
    assert read == by_folder.pop("read")  # the same studies and instances
    assert by_pacs == by_folder  # score, call, threshold, lock, modalities, source: identical
    assert len(read["instance_uids"]) >= len(by_folder["modalities"]) >= 1
    assert b"s3cret" not in pacs.read_bytes()


@pytest.mark.req("REQ-PACS-001", "REQ-TRIAL-001")
def test_trial_prediction_of_a_patient_absent_from_the_pacs_is_refused_writing_nothing(
    orthanc: str, cohort: Path, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {"patient_id": "P-NOT-ON-PACS", "site": "A", "laterality": "L"}
    ledger = tmp_path / "trial.db"
    _trial_with(ledger, row, lock)
    before = ledger.read_bytes()
    assert _trial_predict(ledger, row, ["--pacs", f"{orthanc}/dicom-web"], lock) == 3
    err = capsys.readouterr().err
    assert f"no study of the patient on the PACS {orthanc}/dicom-web" in err
    assert "nothing was written" in err
    assert ledger.read_bytes() == before


@pytest.mark.parametrize(
    "source", [[], ["--study", "s", "--pacs", "http://127.0.0.1:9/dicom-web"]], ids=["none", "both"]
)
def test_trial_predict_needs_exactly_one_of_study_and_pacs(
    source: list[str], lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = {"patient_id": "P-1", "site": "A", "laterality": "L"}
    with pytest.raises(SystemExit) as stopped:
        _trial_predict(tmp_path / "trial.db", row, source, lock)
    assert stopped.value.code == 2
    assert "--study" in capsys.readouterr().err
    assert not (tmp_path / "trial.db").exists()
