"""A PACS over DICOMweb: a real Orthanc with its DICOMweb plugin, on localhost, in a temp folder.

Each module run starts ``Orthanc`` with its own configuration (free HTTP port, no DICOM port
conflicts, storage and index in tmp, the plugin from Debian's ``orthanc-dicomweb``), uploads a
small synthesized cohort through Orthanc's REST API, and requires ``her2map predict --pacs`` to
write the same predictions, byte for byte, as ``her2map predict --cohort`` on the folder.
Skipped only when Orthanc is absent and CI is unset (.ci/run installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from locks import make_lock

from her2map.cli import main
from her2map.exceptions import CohortError
from her2map.ingest.dicomweb import fetch_cohort
from her2map.synth import synth

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
        main(["predict", "--cohort", str(cohort), "--out", str(folder), "--lock", str(lock)]) == 0
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
    url = f"http://127.0.0.1:{_free_port()}/dicom-web"
    with pytest.raises(CohortError, match=r"PACS http://127\.0\.0\.1:\d+/dicom-web: query"):
        fetch_cohort(url, cohort / "clinical.csv", tmp_path / "f", retry=False)
