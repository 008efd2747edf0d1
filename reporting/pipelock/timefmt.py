"""RFC 3339 timestamps as Go's `time` package reads and writes them.

Go parses RFC 3339 with at most nine fractional digits and writes UTC `RFC3339Nano`
with trailing zeros trimmed (`2026-04-15T12:00:00.12Z`). Pipelock always writes that
form; anything else was written by someone else, and Go and `pipelock-verify` 0.4.1
would then hash different bytes for it (Go re-renders, 0.4.1 hashes as written).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["normalise_rfc3339"]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))"
)


def normalise_rfc3339(text: str) -> str:
    """The UTC RFC3339Nano rendering Go would give `text`; ValueError if Go would refuse it."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7) or ""
    if match.group(8) == "Z":
        offset = timedelta(0)
    else:
        hours, minutes = int(match.group(10)), int(match.group(11))
        if hours > 23 or minutes > 59:
            raise ValueError(f"time zone offset out of range: {text!r}")
        sign = -1 if match.group(9) == "-" else 1
        offset = sign * timedelta(hours=hours, minutes=minutes)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC) - offset
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid date or time: {text!r}") from exc
    nanos = fraction.ljust(9, "0").rstrip("0")
    day_part = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    time_part = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    return f"{day_part}T{time_part}" + (f".{nanos}" if nanos else "") + "Z"
