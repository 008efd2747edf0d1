"""Reporting periods: calendar months, quarters, ISO weeks, relative periods, explicit bounds.

Every period is a half-open interval [since, until) in UTC. `--period` takes `2026-10`,
`2026-Q3`, `2026-W44` (ISO week: Monday 00:00 UTC to the next Monday), `last-month`,
`last-quarter` or `last-week` (the complete period before the one holding `today`);
`--since/--until` take ISO dates or date-times (UTC unless an offset is given).
`period_name` gives the canonical label used in output file names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from reporting.errors import Diagnostic, DiagnosticCode, UsageError

__all__ = [
    "PERIOD_FORMS",
    "Period",
    "parse_instant",
    "parse_period",
    "period_name",
    "resolve_period",
]

PERIOD_FORMS = "YYYY-MM, YYYY-Qn, YYYY-Wnn, last-month, last-quarter or last-week"

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_WEEK = re.compile(r"(\d{4})-[Ww](0[1-9]|[1-4]\d|5[0-3])")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt ].+)?")


@dataclass(frozen=True)
class Period:
    """The reporting period, [since, until) in UTC; None means unbounded."""

    since: datetime | None = None
    until: datetime | None = None

    def label(self) -> str:
        start = self.since.isoformat() if self.since else "the beginning"
        end = self.until.isoformat() if self.until else "now"
        return f"{start} to {end}"


def _bad(message: str) -> UsageError:
    return UsageError(Diagnostic(DiagnosticCode.BAD_PERIOD, message))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _add_months(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month(year: int, month: int) -> Period:
    start = date(year, month, 1)
    return Period(_midnight(start), _midnight(_add_months(start, 1)))


def _quarter(year: int, quarter: int) -> Period:
    start = date(year, 3 * quarter - 2, 1)
    return Period(_midnight(start), _midnight(_add_months(start, 3)))


def _week(year: int, week: int) -> Period:
    monday = date.fromisocalendar(year, week, 1)
    return Period(_midnight(monday), _midnight(monday + timedelta(days=7)))


def _last_month(today: date) -> Period:
    start = _add_months(today.replace(day=1), -1)
    return _month(start.year, start.month)


def _last_quarter(today: date) -> Period:
    start = _add_months(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), -3)
    return _quarter(start.year, (start.month + 2) // 3)


def _last_week(today: date) -> Period:
    year, week, _ = (today - timedelta(days=7)).isocalendar()
    return _week(year, week)


_RELATIVE: dict[str, Callable[[date], Period]] = {
    "last-month": _last_month,
    "last-quarter": _last_quarter,
    "last-week": _last_week,
}
_ABSOLUTE: tuple[tuple[re.Pattern[str], Callable[[int, int], Period]], ...] = (
    (_MONTH, _month),
    (_QUARTER, _quarter),
    (_WEEK, _week),
)


def resolve_period(text: str, *, today: date | None = None, name: str = "--period") -> Period:
    """One `--period` value as [since, until); `name` is what error messages call it."""
    relative = _RELATIVE.get(text)
    if relative is not None:
        return relative(today or datetime.now(UTC).date())
    for pattern, build in _ABSOLUTE:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        try:
            return build(int(match[1]), int(match[2]))
        except (ValueError, OverflowError) as exc:  # year 0, 9999-12, 2026-W53
            raise _bad(f"{name} {text!r} does not exist in the calendar") from exc
    raise _bad(f"{name} {text!r} is not one of {PERIOD_FORMS}")


def parse_instant(text: str, name: str = "--since") -> datetime:
    """An ISO date or date-time, in UTC; without an offset it is taken as UTC."""
    if not _INSTANT.fullmatch(text):
        raise _bad(f"{name} {text!r} is not an ISO date or date-time")
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError as exc:
        raise _bad(f"{name} {text!r} is not an ISO date or date-time") from exc
    except OverflowError as exc:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise _bad(f"{name} {text!r} is outside the years 1 to 9999 in UTC") from exc


def parse_period(
    period: str | None, since: str | None, until: str | None, *, today: date | None = None
) -> Period:
    """`--period` or `--since/--until` (either bound may be missing); the end is exclusive."""
    if period is not None:
        if since or until:
            raise _bad("--period cannot be combined with --since/--until")
        return resolve_period(period, today=today)
    resolved = Period(
        parse_instant(since, "--since") if since else None,
        parse_instant(until, "--until") if until else None,
    )
    if resolved.since and resolved.until and resolved.since >= resolved.until:
        raise _bad(f"--since {since!r} must be before --until {until!r}")
    return resolved


# -- canonical names ----------------------------------------------------------------------


def _is_midnight(value: datetime) -> bool:
    return value.time() == time() and value.utcoffset() == timedelta(0)


def _calendar_name(since: datetime, until: datetime) -> str | None:
    """`2026-10`, `2026-Q3` or `2026-W44` when [since, until) is exactly one of those."""
    if not (_is_midnight(since) and _is_midnight(until)):
        return None
    start, end = since.date(), until.date()
    if start.day == 1 and end == _add_months(start, 1):
        return f"{start.year:04d}-{start.month:02d}"  # strftime's %Y would print 999
    if start.day == 1 and start.month % 3 == 1 and end == _add_months(start, 3):
        return f"{start.year}-Q{(start.month + 2) // 3}"
    if start.isoweekday() == 1 and end == start + timedelta(days=7):
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return None


def _stamp(value: datetime) -> str:
    value = value.astimezone(UTC)
    day = f"{value.year:04d}{value.month:02d}{value.day:02d}"  # four digits, unlike %Y
    if value.time() == time():
        return day
    return f"{day}T{value.hour:02d}{value.minute:02d}{value.second:02d}Z"


def period_name(period: Period) -> str:
    """Canonical label for output paths: `2026-10`, `2026-Q3`, `2026-W44`, `20261015-20261101`.

    An open end reads `start` or `now` (`20261015-now`); no bounds at all is `all`. A bound
    that is not midnight UTC keeps its time (`20261015T120000Z`).
    """
    since, until = period.since, period.until
    if since is None and until is None:
        return "all"
    if since is not None and until is not None:
        named = _calendar_name(since.astimezone(UTC), until.astimezone(UTC))
        if named is not None:
            return named
    start = _stamp(since) if since else "start"
    end = _stamp(until) if until else "now"
    return f"{start}-{end}"
