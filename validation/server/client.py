"""The CLI's side of the trial service: :class:`RemoteTrial` has :class:`validation.trial.Trial`'s
methods and returns the same objects, so ``her2map trial ... --server URL`` prints exactly what
the local command prints.

Standard library only (``urllib``): no server stack is imported by the CLI. The token comes from
the environment variable ``HER2MAP_TOKEN`` or, if unset, from the file named by
``HER2MAP_TOKEN_FILE`` (default ``~/.config/her2map/token``), which must not be readable by
group or others. Actor and site are never sent: the server takes them from the token.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from validation.atomic import building_folder, fsync_dir, write_synced
from validation.exceptions import LedgerError, TamperError, TrialRuleError
from validation.ledger import Entry, Head, VerifyReport
from validation.trial.export import MANIFEST_NAME, Excluded, ExportResult
from validation.trial.status import Pending, SiteStatus, TrialStatus

__all__ = ["TOKEN_ENV", "TOKEN_FILE_ENV", "RemoteTrial", "read_token"]

TOKEN_ENV = "HER2MAP_TOKEN"
TOKEN_FILE_ENV = "HER2MAP_TOKEN_FILE"
_DEFAULT_TOKEN_FILE = Path("~/.config/her2map/token")


def read_token() -> str:
    """The API token from ``$HER2MAP_TOKEN`` or the token file (LedgerError if neither)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    path = Path(os.environ.get(TOKEN_FILE_ENV) or _DEFAULT_TOKEN_FILE).expanduser()
    try:
        mode = path.stat().st_mode
        text = path.read_text("utf-8").strip()
    except OSError:
        raise LedgerError(
            f"no API token: set {TOKEN_ENV}, or put the token in {path} (mode 600)"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise LedgerError(f"token file {path} is readable by others; run `chmod 600 {path}`")
    return text


def _entry(data: dict[str, Any]) -> Entry:
    return Entry(**data)


class RemoteTrial:
    """:class:`~validation.trial.Trial`'s writes and reads over the HTTP API at ``url``."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 60.0) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LedgerError(
                f"--server must be an http(s) URL such as http://host:8000; got {url!r}"
            )
        self.url = url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def __enter__(self) -> RemoteTrial:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; the JSON answer, or the server's error as the local exception type."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail", exc.reason)
            except ValueError:
                detail = exc.reason
            message = f"server {self.url} answered {exc.code}: {detail}"
            if exc.code in (403, 409) and "refused by rule" in str(detail):
                raise TrialRuleError(message) from None
            if exc.code == 409:
                raise TamperError(message) from None
            raise LedgerError(message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise LedgerError(f"cannot reach server {self.url}: {exc}") from None

    # -- writes (actor and site come from the token) ---------------------------------------------

    def open_recruitment(
        self, sites: Sequence[str], *, protocol_id: str, lock: object = None, **_: object
    ) -> Entry:
        """Open the trial on the service, with the model lock the service was started with."""
        if lock is not None:
            raise LedgerError(
                "--lock cannot be given with --server: the service opens the trial with the "
                "model lock it was started with (`her2map serve --lock`)"
            )
        return _entry(
            self.call("POST", "/v1/trial/open", {"sites": list(sites), "protocol": protocol_id})
        )

    def enrol(
        self,
        patient_id: str,
        *,
        consent_ref: str,
        laterality: str | None = None,
        age: int | None = None,
        hr_status: int | None = None,
        **_: object,
    ) -> Entry:
        body = {
            "patient": patient_id,
            "consent": consent_ref,
            "laterality": laterality,
            "age": age,
            "hr_status": hr_status,
        }
        return _entry(self.call("POST", "/v1/trial/enrol", body))

    def predict_external(
        self,
        patient_id: str,
        *,
        score: float,
        model_lock: str,
        threshold: float,
        modalities: Sequence[str],
        model_name: str,
        **_: object,
    ) -> Entry:
        body = {
            "patient": patient_id,
            "score": score,
            "threshold": threshold,
            "model_lock": model_lock,
            "model_name": model_name,
            "modalities": list(modalities),
        }
        return _entry(self.call("POST", "/v1/trial/predict", body))

    def predict(
        self,
        patient_id: str,
        *,
        study: str | Path | None = None,
        pacs: str | None = None,
        lock: str | Path | None = None,
        **_: object,
    ) -> Entry:
        """Run the locked model here on the patient's DICOM -- a study folder or the patient's
        studies on a PACS, as locally -- and record its call through the service, naming the
        studies and instances read (and the PACS)."""
        from urllib.parse import quote

        from validation.trial.events import refuse
        from validation.trial.imaging import load_model, score_images

        record = self.call("GET", f"/v1/trial/patients/{quote(patient_id, safe='')}")
        if record["laterality"] is None:
            raise refuse(
                patient_id,
                "trial.prediction",
                "VALUE",
                "the enrolment has no laterality, needed to select the tumour side's images; "
                "correct the enrolment's laterality first",
            )
        result = score_images(
            record["patient_id"], study=study, pacs=pacs, site=record["site"],
            laterality=record["laterality"], model=load_model(lock),
        )  # fmt: skip
        body = {
            "patient": patient_id, "score": result.score, "threshold": result.threshold,
            "model_lock": result.model_lock, "model_name": result.model_name,
            "modalities": list(result.modalities), "source": "dicom", "read": result.read(),
            "imaging_date": result.imaging_date,
        }  # fmt: skip
        return _entry(self.call("POST", "/v1/trial/predict", body))

    def _record(self, kind: str, patient_id: str, values: dict[str, Any]) -> Entry:
        return _entry(
            self.call("POST", f"/v1/trial/record/{kind}", {"patient": patient_id, **values})
        )

    def record_biopsy(
        self, patient_id: str, *, ihc: str, ish: str, report_time: str | None = None, **_: object
    ) -> Entry:
        values = {"ihc": ihc, "ish": ish}
        if report_time is not None:
            values["report_time"] = report_time
        return self._record("biopsy", patient_id, values)

    def record_surgery(self, patient_id: str, *, ihc: str, ish: str, **_: object) -> Entry:
        return self._record("surgery", patient_id, {"ihc": ihc, "ish": ish})

    def record_therapy(
        self, patient_id: str, *, regimen: str, anti_her2: str, **_: object
    ) -> Entry:
        return self._record("therapy", patient_id, {"regimen": regimen, "anti_her2": anti_her2})

    def record_response(self, patient_id: str, *, pcr: str, **_: object) -> Entry:
        return self._record("response", patient_id, {"pcr": pcr})

    def correct(
        self, patient_id: str, *, event: str, field: str, value: object, reason: str, **_: object
    ) -> Entry:
        body = {
            "patient": patient_id,
            "event": event,
            "field": field,
            "value": str(value),
            "reason": reason,
        }
        return _entry(self.call("POST", "/v1/trial/correct", body))

    def withdraw(self, patient_id: str, *, reason: str, **_: object) -> Entry:
        return _entry(
            self.call("POST", "/v1/trial/withdraw", {"patient": patient_id, "reason": reason})
        )

    # -- reads ------------------------------------------------------------------------------------

    def status(self, *, site: str | None = None) -> TrialStatus:
        query = "" if site is None else "?" + urllib.parse.urlencode({"site": site})
        data = self.call("GET", "/v1/trial/status" + query)
        return TrialStatus(
            Head.parse(data["head"]),
            data["protocol_id"],
            tuple(
                SiteStatus(**{**row, "missing": tuple(tuple(m) for m in row["missing"])})
                for row in data["sites"]
            ),
            tuple(Pending(**row) for row in data["pending"]),
            data["as_of"],
        )

    def export(self, out_dir: str | Path) -> ExportResult:
        """Fetch the export and write its files into ``out_dir`` (all or nothing, as locally)."""
        out = Path(out_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise TrialRuleError(
                f"export folder {out} exists and is not an empty folder; exports are never "
                "overwritten: give a new folder"
            )
        data = self.call("GET", "/v1/trial/export")
        with building_folder(out.parent, out.name) as tmp:
            for name, text in data["files"].items():
                if "/" in name or name.startswith("."):
                    raise LedgerError(f"server sent a file name {name!r} outside the export folder")
                write_synced(tmp / name, text.encode("utf-8"))
            fsync_dir(tmp)
            os.replace(tmp, out)
        fsync_dir(out.parent)
        return ExportResult(
            out,
            out / "predictions.csv",
            out / "labels.csv",
            out / MANIFEST_NAME,
            Head.parse(data["head"]),
            int(data["n_exported"]),
            tuple(Excluded(**e) for e in data["excluded"]),
            tuple(Excluded(**e) for e in data["incomplete"]),
        )

    def verify(self, *, expected_head: str | None = None) -> VerifyReport:
        query = (
            ""
            if expected_head is None
            else "?" + urllib.parse.urlencode({"expected_head": expected_head})
        )
        data = self.call("GET", "/v1/ledger/verify" + query)
        return VerifyReport(**{**data, "head": Head.parse(data["head"])})
