"""Reporting periods from the command line: a month, or explicit bounds (UTC by default)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from reporting.errors import Diagnostic, UsageError
from reporting.evidence.frame import Period

__all__ = ["parse_period"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _instant(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        message = f"{flag} {text!r} is not an ISO date or date-time"
        raise UsageError(Diagnostic("BAD_PERIOD", message)) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_period(period: str | None, since: str | None, until: str | None) -> Period:
    """`--period YYYY-MM` or `--since/--until`; the end is exclusive."""
    if period is not None:
        if since or until:
            raise UsageError(
                Diagnostic("BAD_PERIOD", "--period cannot be combined with --since/--until")
            )
        match = _MONTH.match(period)
        if match is None:
            raise UsageError(Diagnostic("BAD_PERIOD", f"--period {period!r} is not YYYY-MM"))
        year, month = int(match[1]), int(match[2])
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return Period(start, end)
    resolved = Period(
        _instant(since, "--since") if since else None, _instant(until, "--until") if until else None
    )
    if resolved.since and resolved.until and resolved.since >= resolved.until:
        raise UsageError(Diagnostic("BAD_PERIOD", "--since must be before --until"))
    return resolved
