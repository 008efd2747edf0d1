"""Dispositions: what the team decided about each finding, carried from period to period.

`--dispositions FILE` (or `dispositions:` in the configuration) names a YAML file of
entries, one per finding identity (`Finding.key`): owner, status (open, in remediation,
risk accepted, false positive), due date, expiry of an accepted risk, ticket and
justification. It is read with the strict loader, validated against
`reporting/data/dispositions.schema.json` and then for what a schema cannot say (real
dates, the fields each status needs, one entry per finding); every problem is reported
at once with its line.

A disposition never changes a check's result or a finding: the report shows it beside
the finding and lists overdue items first. A finding the file does not mention keeps the
disposition the previous report recorded for it (carried, and marked so), so a decision
made once is not lost in the next month's report. Overdue and expired are judged against
one reference date the caller gives (the report's generation date).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, cast

import jsonschema

from reporting.errors import DiagnosticCode
from reporting.report.model import Disposition, Finding
from reporting.yamlio import LocatedDict, LocatedProblems, load_yaml

__all__ = [
    "ACTIVE",
    "DISPOSITIONS_SCHEMA_ID",
    "STATUSES",
    "DispositionEntry",
    "apply_dispositions",
    "dispositions_schema",
    "load_dispositions",
]

DISPOSITIONS_SCHEMA_ID = "agent-evidence/dispositions/v1"
STATUSES = ("open", "in remediation", "risk accepted", "false positive")
ACTIVE = frozenset({"open", "in remediation"})  # still to be remediated: may be overdue
MAX_DISPOSITIONS_BYTES = 4 << 20
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class DispositionEntry:
    """One entry of the dispositions file, validated."""

    finding: str  # the finding's key
    owner: str
    status: str
    due: str | None = None
    expires: str | None = None
    ticket: str | None = None
    justification: str | None = None


def dispositions_schema() -> dict[str, Any]:
    """The JSON Schema of the dispositions file (shipped in the package)."""
    text = (
        resources.files("reporting").joinpath("data", "dispositions.schema.json").read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


# -- reading ------------------------------------------------------------------------------

JsonPath = tuple[str | int, ...]


def _schema_problems(data: Any, problems: LocatedProblems) -> set[JsonPath]:
    """Validate against the schema; the paths that failed (the checks below skip them)."""
    failed: set[JsonPath] = set()
    validator = jsonschema.Draft202012Validator(dispositions_schema())
    for error in validator.iter_errors(data):
        path = cast(JsonPath, tuple(error.absolute_path))
        failed.add(path)
        if path[-1:] == ("finding",) and isinstance(error.instance, int | float):
            problems.add(path, "YAML read this key as a number: put it in quotes")
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(allowed)):
                problems.add((*path, key), f"unknown key (allowed: {', '.join(allowed)})")
        else:
            problems.add(path, error.message)
    return failed


def _date_problem(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return f"{value!r} is not a date (YYYY-MM-DD)"
    try:
        date.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not a date in the calendar"
    return None


def _needed(entry: dict[str, Any]) -> list[str]:
    """What the entry's status needs but the entry lacks."""
    status = entry["status"]
    missing = []
    if status in ACTIVE and "due" not in entry:
        missing.append(f"status {status!r} needs a due date (due: YYYY-MM-DD)")
    if status == "risk accepted" and "expires" not in entry:
        missing.append("an accepted risk needs an expiry date (expires: YYYY-MM-DD)")
    if status in ("risk accepted", "false positive") and "justification" not in entry:
        missing.append(f"status {status!r} needs a justification")
    return missing


def _entry_problems(data: LocatedDict, failed: set[JsonPath], problems: LocatedProblems) -> None:
    seen: dict[str, int | None] = {}
    for index, entry in enumerate(data["dispositions"]):
        path: JsonPath = ("dispositions", index)
        if any(f[: len(path)] == path for f in failed):
            continue
        for key in ("due", "expires"):
            message = _date_problem(entry.get(key))
            if message is not None:
                problems.add((*path, key), message)
        for message in _needed(entry):
            problems.add((*path, "status"), message)
        line = getattr(entry, "line", None)
        if entry["finding"] in seen:
            earlier = seen[entry["finding"]]
            problems.add((*path, "finding"), f"repeats the disposition at line {earlier}")
        seen.setdefault(entry["finding"], line)


def load_dispositions(path: Path) -> tuple[DispositionEntry, ...]:
    """Read and validate a dispositions file; every problem is raised at once
    (`InputError`, code `DISPOSITIONS`, naming the file and line)."""
    problems = LocatedProblems(
        load_yaml(path, max_bytes=MAX_DISPOSITIONS_BYTES), path, DiagnosticCode.DISPOSITIONS
    )
    data = problems.mapping("the dispositions file")
    failed = _schema_problems(data, problems)
    if () not in failed and ("dispositions",) not in failed:
        _entry_problems(data, failed, problems)
    problems.raise_if_any()
    return tuple(
        DispositionEntry(
            finding=entry["finding"],
            owner=entry["owner"],
            status=entry["status"],
            due=entry.get("due"),
            expires=entry.get("expires"),
            ticket=entry.get("ticket"),
            justification=entry.get("justification"),
        )
        for entry in data["dispositions"]
    )


# -- applying -----------------------------------------------------------------------------


def _flags(disposition: Disposition, as_of: date | None) -> Disposition:
    """Overdue: still to remediate, due before `as_of`. Expired: an accepted risk whose
    expiry date has passed."""
    if as_of is None:
        return replace(disposition, overdue=False, expired=False)
    reference = as_of.isoformat()
    overdue = disposition.status in ACTIVE and bool(disposition.due and disposition.due < reference)
    expired = disposition.status == "risk accepted" and bool(
        disposition.expires and disposition.expires < reference
    )
    return replace(disposition, overdue=overdue, expired=expired)


def _from_entry(entry: DispositionEntry, finding_id: str | None) -> Disposition:
    return Disposition(
        finding_key=entry.finding,
        finding_id=finding_id,
        owner=entry.owner,
        status=entry.status,
        due=entry.due,
        expires=entry.expires,
        ticket=entry.ticket,
        justification=entry.justification,
        carried_from=None,
        overdue=False,
        expired=False,
    )


def _order(disposition: Disposition) -> tuple[Any, ...]:
    """Overdue and expired first, then by date; those matching no finding last."""
    attention = disposition.overdue or disposition.expired
    when = disposition.due or disposition.expires or "9999-12-31"
    return (not attention, disposition.finding_id is None, when, disposition.finding_id or "")


def apply_dispositions(
    findings: Iterable[Finding],
    entries: Sequence[DispositionEntry],
    *,
    carried: Sequence[Disposition] = (),
    carried_from: str | None = None,
    as_of: date | None = None,
) -> tuple[Disposition, ...]:
    """This period's dispositions: the file's entries, and for every finding it does not
    mention the disposition the previous report recorded (`carried`, from `carried_from`),
    flagged overdue or expired at `as_of`, overdue and expired first."""
    ids = {f.key: f.id for f in findings}
    given = {entry.finding for entry in entries}
    chosen = [_from_entry(entry, ids.get(entry.finding)) for entry in entries]
    chosen += [
        replace(d, finding_id=ids[d.finding_key], carried_from=carried_from)
        for d in carried
        if d.finding_key in ids and d.finding_key not in given and d.finding_id is not None
    ]
    return tuple(sorted((_flags(d, as_of) for d in chosen), key=_order))
