"""Detective checks: anomalies in how agents behaved (rates, hours, novelty, failures)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from reporting.controls.checks.registry import Problem, Status, Verdict, check
from reporting.controls.checks.rules import SHARE, share_verdict, verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


@check(
    title="Action failure rate within limit",
    description="The share of actions that failed is within a limit.",
    problem=Problem(
        "failure_rate_high",
        "{n} failed actions push the failure rate over its limit",
        Severity.MEDIUM,
        "Review the failing actions and their causes.",
    ),
    max_rate=SHARE | {"default": 0.10},
)
def failure_rate(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    failed = scope["outcome"].astype(str) == "failure"
    return share_verdict(
        "share of actions that failed is within the limit",
        scope,
        failed,
        limit=params["max_rate"],
        at_most=True,
        fail_ids=failed,
    )


@check(
    title="No bursts of activity",
    description="No agent takes more than a number of actions in one minute.",
    problem=Problem(
        "burst",
        "{n} actions fall in bursts above the per-minute limit",
        Severity.LOW,
        "Rate-limit agents and review the bursts.",
    ),
    max_per_minute={"type": "integer", "minimum": 1, "default": 30},
)
def burst_detection(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    minute = scope["timestamp"].dt.floor("min")
    # Rows without an issuer (unverified records can carry any JSON there) or a time are
    # grouped among themselves, never dropped: a NaN count would crash the verdict.
    per_minute = scope.assign(_minute=minute).groupby(
        ["issuer", "_minute"], observed=True, dropna=False
    )
    counts = per_minute["receipt_id"].transform("size").fillna(0)
    burst = counts > params["max_per_minute"]
    return verdict(
        f"no agent takes more than {params['max_per_minute']} actions in one minute",
        scope,
        burst.reindex(scope.index, fill_value=False),
        busiest_minute=int(counts.max()) if len(counts) else 0,
    )


_CLOCK = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}


def _timezone_errors(name: str) -> list[str]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"timezone: {name!r} is not an IANA time zone"]
    return []


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


@check(
    title="Actions within working hours",
    description="At most a number of actions fall outside the configured working hours.",
    problem=Problem(
        "outside_working_hours",
        "{n} actions fall outside working hours",
        Severity.LOW,
        "Review out-of-hours activity, or set the working hours of this deployment.",
    ),
    start=_CLOCK | {"default": "06:00"},
    end=_CLOCK | {"default": "22:00"},
    weekdays={
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 7},
        "minItems": 1,
        "default": [1, 2, 3, 4, 5],
    },
    timezone={"type": "string", "default": "UTC"},
    validator=lambda params: _timezone_errors(params["timezone"]),
    max_outside={"type": "integer", "minimum": 0, "default": 0},
)
def working_hours(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    zone = ZoneInfo(params["timezone"])  # validated when the mapping was loaded
    local = scope["timestamp"].dt.tz_convert(zone)
    minutes = local.dt.hour * 60 + local.dt.minute
    start = _minutes(params["start"])
    end = _minutes(params["end"])
    inside_hours = (
        (minutes >= start) & (minutes < end)
        if start <= end
        else (minutes >= start) | (minutes < end)
    )
    weekday = (local.dt.day_of_week + 1).isin(params["weekdays"])
    outside = ~(inside_hours & weekday)
    trusted_outside = int((outside & scope["trusted"].astype(bool)).sum())
    failing = (
        outside if trusted_outside > params["max_outside"] else pd.Series(False, index=scope.index)
    )
    return verdict(
        f"at most {params['max_outside']} actions fall outside {params['start']}-{params['end']} "
        f"on days {params['weekdays']} ({params['timezone']})",
        scope,
        failing,
        outside=int(outside.sum()),
    )


@check(
    title="No first-seen action types or targets",
    description="Action types and target systems in the period were all seen before it.",
    problem=Problem(
        "first_seen",
        "{n} actions involve something not seen before the period",
        Severity.LOW,
        "Review newly seen action types and targets.",
    ),
)
def first_seen(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    frame = evidence.receipts
    scope = evidence.in_scope
    since = evidence.period.since
    history = (
        frame[frame["trusted"].astype(bool) & (frame["timestamp"] < pd.Timestamp(since))]
        if since
        else frame.iloc[0:0]
    )
    if history.empty:
        return Verdict(
            status=Status.NOT_APPLICABLE if scope.empty else Status.INDETERMINATE,
            statement="action types and targets in the period were seen before it (needs history)",
            population=len(scope),
            metrics={"history_receipts": 0},
        )
    seen_types = set(history["action_type"].astype(str))
    seen_targets = set(history["target_system"].dropna().astype(str))
    new_type = ~scope["action_type"].astype(str).isin(seen_types)
    new_target = scope["target_system"].notna() & ~scope["target_system"].astype(str).isin(
        seen_targets
    )
    return verdict(
        "action types and target systems in the period were all seen before it",
        scope,
        new_type | new_target,
        new_action_types=sorted(set(scope.loc[new_type, "action_type"].astype(str))),
        new_targets=sorted(set(scope.loc[new_target, "target_system"].astype(str))),
    )
