"""Bulk import of trial events from a CSV file, each row checked by the same rules as one event.

Columns: ``event`` (``enrol``, ``biopsy``, ``surgery``, ``therapy``, ``response``, ``withdraw``),
``patient``, and the fields that event takes (the CLI's option names with ``_``): ``consent``,
``laterality``, ``age``, ``hr_status`` | ``ihc``, ``ish`` | ``regimen``, ``anti_her2`` | ``pcr``
| ``reason``. Empty cells are absent values. The whole file is read and checked for shape first
(an empty file, a row with more or fewer cells than the header, unknown column, unknown event, a
field the event needs missing, a field it does not take: an error naming the file, line and
column, nothing written); then the rows are recorded in order through the trial's own methods, so
every rule applies. Each row is one event: a refused row writes nothing and the import goes on, so
every refused row is reported (file, line, rule, why) in :class:`ImportReport`. Rows accepted before or after a refused one stay recorded -- they are
separate, acknowledged events (a ledger is append-only; nothing is rolled back) -- and a later row
that depended on a refused one is refused by its own rule (e.g. ``ENROLLED``).

Works the same on a local :class:`~validation.trial.Trial` and on the service's
:class:`~validation.server.client.RemoteTrial` (same methods).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validation.exceptions import TrialInputError, TrialRuleError
from validation.ledger import Entry
from validation.trial.actions import ACTIONS, submit

__all__ = ["EVENT_FIELDS", "ImportReport", "ImportRow", "Refused", "import_events", "read_rows"]

#: Event name in the file -> (required fields, optional fields), as the action takes them.
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    event: (ACTIONS[event].required, ACTIONS[event].optional)
    for event in ("enrol", "biopsy", "surgery", "therapy", "response", "withdraw")
}
_COLUMNS = {"event", "patient"} | {f for req, opt in EVENT_FIELDS.values() for f in req + opt}


@dataclass(frozen=True)
class ImportRow:
    """One checked row: its line in the file, the event, the patient and the given fields."""

    line: int
    event: str
    patient: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Refused:
    """A row refused by a trial rule: its line, the rule id (None if the service gave none) and
    the refusal message (patient, event, rule, what was wrong)."""

    line: int
    rule: str | None
    message: str


@dataclass(frozen=True)
class ImportReport:
    """The entries recorded (acknowledged, in file order) and every refused row."""

    path: Path
    recorded: tuple[Entry, ...]
    refused: tuple[Refused, ...]

    def lines(self) -> list[str]:
        """One ``file line N: message`` per refused row."""
        return [f"{self.path} line {r.line}: {r.message}" for r in self.refused]


def read_rows(path: str | Path) -> list[ImportRow]:
    """Read and shape-check every row of ``path`` (TrialInputError naming file, line, column)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if not header:
                raise TrialInputError(
                    f"{path} is empty: line 1 must be the header, with the columns event, patient "
                    "and the events' fields"
                )
            unknown = [c for c in header if c not in _COLUMNS]
            if unknown or not {"event", "patient"} <= set(header):
                raise TrialInputError(
                    f"{path} line 1: columns must include event and patient and be among "
                    f"{sorted(_COLUMNS)}; unknown {unknown}"
                )
            rows = []
            for cells in reader:
                line = reader.line_num
                if not cells:
                    continue  # a blank line
                if len(cells) != len(header):
                    raise TrialInputError(
                        f"{path} line {line}: {len(cells)} cells, header has {len(header)}"
                    )
                record = dict(zip(header, cells, strict=True))
                event = (record.get("event") or "").strip()
                if event not in EVENT_FIELDS:
                    raise TrialInputError(
                        f"{path} line {line} column event: {event!r} is not one of "
                        f"{', '.join(EVENT_FIELDS)}"
                    )
                required, optional = EVENT_FIELDS[event]
                given = {
                    k: v.strip()
                    for k, v in record.items()
                    if k not in ("event", "patient") and v and v.strip()
                }
                for name in required:
                    if name not in given:
                        raise TrialInputError(
                            f"{path} line {line} column {name}: {event} needs a value"
                        )
                extra = sorted(set(given) - set(required) - set(optional))
                if extra:
                    raise TrialInputError(
                        f"{path} line {line} column {extra[0]}: {event} takes no {extra[0]}"
                    )
                rows.append(ImportRow(line, event, (record.get("patient") or "").strip(), given))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrialInputError(f"{path}: cannot read the import file ({exc})") from None
    return rows


def _request(row: ImportRow) -> dict[str, Any]:
    """The row as a request of :func:`~validation.trial.actions.submit`: its patient and fields,
    with an ``age`` or ``hr_status`` of digits read as a whole number (any other text is passed
    on, for the trial to refuse with its own message)."""
    request: dict[str, Any] = {"patient": row.patient, **row.fields}
    for name in ("age", "hr_status"):
        if request.get(name, "").isdigit():
            request[name] = int(request[name])
    return request


def import_events(
    trial: Any, path: str | Path, *, actor: str | None = None, site: str | None = None
) -> ImportReport:
    """Record every row of ``path`` through ``trial`` in order; report recorded and refused rows.

    ``actor``/``site`` for a local trial (the service takes them from the token: pass None).
    A refused row (TrialRuleError) writes nothing and the next row is tried; any other error
    (the ledger or the service unreachable) stops the import and propagates.
    """
    rows = read_rows(path)
    who = {} if actor is None and site is None else {"actor": actor, "site": site}
    done: list[Entry] = []
    refused: list[Refused] = []
    for row in rows:
        try:
            done.append(submit(trial, row.event, _request(row), **who))
        except TrialRuleError as exc:
            refused.append(Refused(row.line, exc.rule, str(exc)))
    return ImportReport(Path(path), tuple(done), tuple(refused))
