"""A PACS as a cohort source: find each patient's studies (QIDO-RS), retrieve them (WADO-RS).

:func:`fetch_cohort` writes the retrieved instances as a cohort folder (``clinical.csv`` +
``dicom/``) that :func:`her2map.ingest.load_cohort` then reads exactly as a folder from disk, so
the PACS path and the folder path share every rule and give the same predictions byte for byte.
The client is dicomweb-client (DICOM PS3.18 QIDO-RS / WADO-RS, maintained by the highdicom
authors). File names are made from the patient's row and a counter, never from values the PACS
sends, so no response can write outside the folder.

Queries (:func:`fetch_patient`, one patient; :func:`fetch_cohort` calls it for each patient of
the clinical table): ``search_for_studies(PatientID=...)``, then ``retrieve_study`` of each study
found; a patient with no study on the PACS simply has no images (load_cohort records "no usable
images"). A PACS that cannot be reached or answers with an error is a
:class:`~her2map.exceptions.CohortError` naming the URL and the patient. User name and password
in the URL (``http://user:secret@pacs/dicom-web``) are sent as HTTP basic authentication and
never appear in a message or a record: :func:`public_url` is the URL as it may be shown.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

from her2map.exceptions import CohortError
from her2map.ingest.clinical import IMAGING_COLUMNS, read_clinical

__all__ = ["fetch_cohort", "fetch_patient", "public_url"]

_STUDY_UID = "0020000D"
#: Retrieve every instance in the transfer syntax it is stored in: no transcoding by the PACS.
_AS_STORED = (("application/dicom", "*"),)


def public_url(url: str) -> str:
    """``url`` as it may be shown and recorded: ``scheme://host[:port]/path``, without user name,
    password, query or fragment.

    Raises
    ------
    CohortError
        ``url`` is not an http(s) URL with a host.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise CohortError(
            f"PACS URL is malformed ({exc}); expected http(s)://host[:port]/path"
        ) from None
    if parts.scheme not in ("http", "https") or not host:
        raise CohortError(
            f"PACS URL must be http(s)://host[:port]/path (the DICOMweb root), got scheme "
            f"{parts.scheme!r}" + ("" if host else " and no host")
        )
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}{'' if port is None else f':{port}'}{parts.path}"


def _client(url: str, retry: bool) -> object:
    import requests
    from dicomweb_client.api import DICOMwebClient

    parts = urlsplit(url)
    session = requests.Session()
    if parts.username is not None:
        session.auth = (unquote(parts.username), unquote(parts.password or ""))
    client = DICOMwebClient(url=public_url(url), session=session)
    client.set_http_retry_params(retry=retry)
    return client


def _fetch_patient(client: object, url: str, patient_id: str, folder: Path) -> tuple[str, ...]:
    import requests

    try:
        found = client.search_for_studies(search_filters={"PatientID": patient_id})  # type: ignore[attr-defined]
        studies = sorted(str(item[_STUDY_UID]["Value"][0]) for item in found if _STUDY_UID in item)
        instances = [
            ds
            for uid in studies
            for ds in client.retrieve_study(uid, media_types=_AS_STORED)  # type: ignore[attr-defined]
        ]
    except (requests.RequestException, KeyError, IndexError, ValueError) as exc:
        raise CohortError(
            f"PACS {public_url(url)}: query or retrieval for patient {patient_id} failed "
            f"({type(exc).__name__}: {str(exc)[:160]}); check the URL and that the PACS "
            "serves QIDO-RS and WADO-RS"
        ) from None
    folder.mkdir()
    for n, dataset in enumerate(instances):
        dataset.save_as(folder / f"{n:06d}.dcm", enforce_file_format=True)
    return tuple(studies)


def fetch_patient(
    url: str, patient_id: str, folder: str | os.PathLike[str], *, retry: bool = True
) -> tuple[str, ...]:
    """Retrieve every study of one patient from the DICOMweb service ``url`` into ``folder``.

    Parameters
    ----------
    url : str
        DICOMweb root (e.g. ``http://pacs:8042/dicom-web``).
    patient_id : str
        The PatientID to search for (QIDO-RS); ingest later keeps only this patient's files.
    folder : path
        A folder to create (its parent must exist, it must not): ``folder/<n>.dcm``, one file
        per instance retrieved; empty when the PACS holds no study of the patient.
    retry : bool
        As for :func:`fetch_cohort`.

    Returns
    -------
    The StudyInstanceUIDs found (sorted; empty when the patient has no study on the PACS).

    Raises
    ------
    CohortError
        The URL is malformed or the PACS fails, naming the URL (without credentials).
    """
    return _fetch_patient(_client(url, retry), url, patient_id, Path(folder))


def fetch_cohort(
    url: str,
    clinical: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    retry: bool = True,
) -> Path:
    """Retrieve the studies of every patient of ``clinical`` from the DICOMweb service ``url``.

    Parameters
    ----------
    url : str
        DICOMweb root (e.g. ``http://pacs:8042/dicom-web``).
    clinical : path
        The clinical table (``patient_id, site, laterality``, ...), copied into the folder.
    out : path
        A folder to create (must not exist): ``out/clinical.csv`` and
        ``out/dicom/<row>/<n>.dcm``.
    retry : bool
        Retry a request the PACS answers with 408, 429, 503 or 504, with exponential back-off
        (dicomweb-client's policy, up to 5 attempts); ``False`` fails at the first error.

    Returns
    -------
    Path of the cohort folder.

    Raises
    ------
    CohortError
        ``out`` exists, the clinical table is malformed, or the PACS fails, naming the URL.
    """
    target = Path(out)
    if target.exists():
        raise CohortError(f"{target}: already exists; fetch_cohort writes a new folder")
    table = read_clinical(clinical, columns=IMAGING_COLUMNS)
    client = _client(url, retry)
    (target / "dicom").mkdir(parents=True)
    shutil.copyfile(clinical, target / "clinical.csv")
    for row, patient_id in enumerate(sorted(str(p) for p in table["patient_id"])):
        _fetch_patient(client, url, patient_id, target / "dicom" / f"{row:06d}")
    return target
