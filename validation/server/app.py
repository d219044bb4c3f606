"""``her2map serve``: the HTTP API over the audit ledger and the trial (FastAPI, OpenAPI at /docs).

A face like the CLI (DESIGN.md): it authenticates (a bearer token, :mod:`.tokens`), authorises
(role and site) and calls the same Python API (:class:`validation.trial.Trial`,
:func:`validation.ledger.verify`); it computes nothing the CLI could not. The actor and site of
every entry come from the token, never from the request body.

Errors: 401 (no, unknown or revoked token; ``WWW-Authenticate: Bearer``), 403 (the role may not
do this, or another site's patient: rule OWN-SITE), 409 (a trial rule refused the event, or the
ledger does not verify), 400 (malformed value), 422 (malformed request body). Each gives
``{"detail": "..."}`` with the same sentence the CLI prints.

Every worker thread keeps its own ledger connection. On PostgreSQL each request sets the row
scope of its connection: ``*`` for rule checks and verification, the token's site for a site
role's reads (row-level security in the database).
"""

import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from validation.exceptions import LedgerError, TamperError, TrialRuleError
from validation.ledger import Entry, Ledger, read_verified
from validation.ledger import verify as verify_ledger
from validation.server.tokens import READS_ALL, WRITES, Identity, Role, TokenRegistry, issue_token
from validation.server.tokens import revoke_token as revoke
from validation.trial import ACTIONS, EventKind, Trial, read_patient, submit

__all__ = ["create_app"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenBody(_Body):
    sites: list[str]
    protocol: str


class EnrolBody(_Body):
    patient: str
    consent: str
    laterality: Literal["L", "R"] | None = None
    age: int | None = None
    hr_status: int | None = None


class PredictionBody(_Body):
    patient: str
    score: float
    threshold: float
    model_lock: str
    model_name: str
    modalities: list[str]
    source: Literal["dicom", "external"] = "external"
    read: dict[str, list[str] | str] | None = None  # uids read; pacs: the PACS's URL
    imaging_date: str | None = None  # DICOM StudyDate of what was read (source dicom)


class RecordBody(_Body):
    patient: str
    ihc: str | None = None
    ish: str | None = None
    report_time: str | None = None
    regimen: str | None = None
    anti_her2: Literal["yes", "no"] | None = None
    pcr: Literal["yes", "no"] | None = None


class CorrectBody(_Body):
    patient: str
    event: str
    field: str
    value: str
    reason: str


class WithdrawBody(_Body):
    patient: str
    reason: str


class TokenBody(_Body):
    user: str
    site: str
    role: Role


class RevokeBody(_Body):
    reason: str = Field(min_length=1)


def _entry(entry: Entry) -> dict[str, Any]:
    return entry.to_dict()


def create_app(location: str | Path, *, lock: str | Path | None = None) -> FastAPI:
    """The API over the ledger at ``location`` (SQLite path or ``postgresql://`` URL).

    ``lock`` (default: the shipped lock) is the model lock the service opens a trial with
    (``POST /v1/trial/open`` records its hash and threshold: the trial's locked model), loaded
    and verified at start-up.
    """
    from validation.trial.imaging import load_model

    Ledger.open(location).close()  # fail at start-up, not at the first request
    model = load_model(lock)
    app = FastAPI(title="HER2 MAP trial service", version="1")
    local = threading.local()
    registry = TokenRegistry()

    def ledger() -> Ledger:
        book: Ledger | None = getattr(local, "ledger", None)
        if book is None:
            book = local.ledger = Ledger.open(location, create=False)
        return book

    def scope(book: Ledger, value: str) -> None:
        setter: Callable[[str], None] | None = getattr(book, "set_scope", None)
        if setter is not None:
            setter(value)

    def identity(authorization: Annotated[str | None, Header()] = None) -> Identity:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(
                401,
                "missing token: send 'Authorization: Bearer <token>' (set HER2MAP_TOKEN for the CLI)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        book = ledger()
        scope(book, "*")
        registry.refresh(book)
        found = registry.identify(authorization.removeprefix("Bearer ").strip())
        if found is None or found == "revoked":
            what = "revoked" if found else "unknown or malformed"
            raise HTTPException(
                401,
                f"token {what}: ask the trial administrator for a token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        assert isinstance(found, Identity)
        return found

    Who = Annotated[Identity, Depends(identity)]

    def may_write(who: Identity, kind: EventKind) -> None:
        if kind not in WRITES[who.role]:
            raise HTTPException(
                403, f"role {who.role.value} may not record {kind.short} (site {who.site})"
            )

    def may_read(who: Identity, site: str | None) -> str | None:
        if who.role in READS_ALL:
            return site
        if site not in (None, who.site):
            raise HTTPException(
                403, f"role {who.role.value} of site {who.site} may not read site {site}'s patients"
            )
        return who.site

    @contextmanager
    def trial_for() -> Iterator[Trial]:
        book = ledger()
        scope(book, "*")
        yield Trial(book)

    def record_as(who: Identity, action: str, body: _Body) -> dict[str, Any]:
        """Record ``action`` (:data:`validation.trial.ACTIONS`) with the fields of ``body`` as the
        token's actor and site -- after the endpoint authorised it -- and answer the entry."""
        with trial_for() as trial:
            entry = submit(trial, action, body.model_dump(), actor=who.actor, site=who.site)
        return _entry(entry)

    @app.exception_handler(TrialRuleError)
    def _rule(request: Request, exc: TrialRuleError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=403 if exc.rule == "OWN-SITE" else 409
        )

    @app.exception_handler(TamperError)
    def _tamper(request: Request, exc: TamperError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(LedgerError)
    def _ledger(request: Request, exc: LedgerError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/v1/whoami")
    def whoami(who: Who) -> dict[str, str]:
        return {"user": who.user, "site": who.site, "role": who.role.value, "actor": who.actor}

    @app.post("/v1/trial/open")
    def open_trial(body: OpenBody, who: Who) -> dict[str, Any]:
        may_write(who, EventKind.OPENED)
        with trial_for() as trial:
            entry = trial.open_recruitment(
                body.sites, protocol_id=body.protocol, actor=who.actor, site=who.site, model=model
            )
        return _entry(entry)

    @app.post("/v1/trial/enrol")
    def enrol(body: EnrolBody, who: Who) -> dict[str, Any]:
        may_write(who, EventKind.ENROLLED)
        return record_as(who, "enrol", body)

    @app.post("/v1/trial/predict")
    def predict(body: PredictionBody, who: Who) -> dict[str, Any]:
        may_write(who, EventKind.PREDICTION)
        return record_as(who, "prediction", body)

    @app.get("/v1/trial/patients/{patient_id}")
    def patient(patient_id: str, who: Who) -> dict[str, Any]:
        with trial_for() as trial:
            _, record = read_patient(trial.ledger, patient_id)
        if record is None:
            raise HTTPException(404, f"patient {patient_id} is not enrolled")
        may_read(who, record.site)
        return {
            "patient_id": record.patient_id,
            "site": record.site,
            "laterality": record.value(EventKind.ENROLLED, "laterality"),
            "recorded": sorted(kind.short for kind in record.events),
        }

    @app.post("/v1/trial/record/{kind}")
    def record(
        kind: Literal["biopsy", "surgery", "therapy", "response"], body: RecordBody, who: Who
    ) -> dict[str, Any]:
        may_write(who, EventKind.from_short(kind))
        given = {k for k, v in body.model_dump().items() if v is not None and k != "patient"}
        action = ACTIONS[kind]
        wanted = set(action.required) | (set(action.optional) & given)
        if given != wanted:
            raise HTTPException(422, f"record {kind} takes {sorted(wanted)}; got {sorted(given)}")
        return record_as(who, kind, body)

    @app.post("/v1/trial/correct")
    def correct(body: CorrectBody, who: Who) -> dict[str, Any]:
        may_write(who, EventKind.from_short(body.event))
        return record_as(who, "correct", body)

    @app.post("/v1/trial/withdraw")
    def withdraw(body: WithdrawBody, who: Who) -> dict[str, Any]:
        may_write(who, EventKind.WITHDRAWN)
        return record_as(who, "withdraw", body)

    @app.get("/v1/trial/status")
    def status(who: Who, site: str | None = None) -> dict[str, Any]:
        wanted = may_read(who, site)
        with trial_for() as trial:
            verified, _ = read_verified(trial.ledger, what="trial status")  # every site's rows
            if who.role not in READS_ALL:
                scope(trial.ledger, who.site)
            result = trial.status(site=wanted, verified=verified)
        return {
            "head": str(result.head),
            "protocol_id": result.protocol_id,
            "sites": [vars(s) for s in result.sites],
            "pending": [vars(p) for p in result.pending],
            "as_of": result.as_of,
        }

    @app.get("/v1/trial/export")
    def export(who: Who) -> dict[str, Any]:
        if who.role not in READS_ALL:
            raise HTTPException(403, f"role {who.role.value} may not export the trial")
        with trial_for() as trial, tempfile.TemporaryDirectory() as tmp:
            result = trial.export(Path(tmp) / "export")
            files = {p.name: p.read_text("utf-8") for p in sorted(result.out_dir.iterdir())}
        return {
            "head": str(result.head),
            "n_exported": result.n_exported,
            "excluded": [vars(e) for e in result.excluded],
            "incomplete": [vars(e) for e in result.incomplete],
            "files": files,
        }

    @app.get("/v1/ledger/verify")
    def verify(who: Who, expected_head: str | None = None) -> dict[str, Any]:
        if who.role not in READS_ALL:
            raise HTTPException(403, f"role {who.role.value} may not verify the whole ledger")
        report = verify_ledger(location, expected_head=expected_head)
        return {**vars(report), "head": str(report.head)}

    @app.post("/v1/tokens")
    def issue(body: TokenBody, who: Who) -> dict[str, Any]:
        if who.role is not Role.ADMINISTRATOR:
            raise HTTPException(403, f"role {who.role.value} may not issue tokens")
        book = ledger()
        scope(book, "*")
        token, entry = issue_token(
            book, user=body.user, site=body.site, role=body.role.value, actor=who.actor
        )
        return {"token": token, "token_id": entry.payload["token_id"], "entry": str(entry.head)}

    @app.post("/v1/tokens/{token_id}/revoke")
    def revoke_endpoint(token_id: str, body: RevokeBody, who: Who) -> dict[str, Any]:
        if who.role is not Role.ADMINISTRATOR:
            raise HTTPException(403, f"role {who.role.value} may not revoke tokens")
        book = ledger()
        scope(book, "*")
        entry = revoke(book, token_id, reason=body.reason, actor=who.actor)
        return {"token_id": token_id, "entry": str(entry.head)}

    return app
