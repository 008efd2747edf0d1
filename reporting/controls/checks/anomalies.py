"""Detective checks: anomalies in how agents behaved (failure rates, bursts, hours, novelty).

Detecting and listing anomalies is the control operating (SOC 2 CC7.2's points of focus):
what these checks find are exceptions to be dispositioned by a person, listed in the
report, not control failures. A detective check passes when it could run on trusted
evidence; it is INDETERMINATE when it could not (no history, or a deployment parameter
such as working hours not configured: these have no shipped defaults).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import (
    SHARE,
    detection,
    entry_for,
    producer_timezone_errors,
    undecided,
)
from reporting.controls.vocabulary import Reason, Severity
from reporting.evidence.frame import Evidence

__all__ = ["WORKING_HOURS"]


@check(
    title="Action failure rate monitored",
    description="Detects a failure rate above a limit; the failed actions behind it are "
    "exceptions to review.",
    problem=Problem(
        "failure_rate_high",
        "{n} failed [action pushes|actions push] the failure rate over its limit",
        Severity.LOW,
        "Review the failing actions and their causes; record the disposition.",
    ),
    detective=True,
    max_rate=SHARE | {"default": 0.10},
)
def failure_rate(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    failed = scope["outcome"].astype(str) == "failure"
    trusted = scope["trusted"].astype(bool)
    rate = float(failed[trusted].mean()) if bool(trusted.any()) else 0.0
    over = rate > params["max_rate"]
    return detection(
        f"a failure rate above {params['max_rate']:.0%} is detected and its failed actions "
        "listed for review",
        scope,
        failed if over else pd.Series(False, index=scope.index),
        rate=round(rate, 4),
        limit=params["max_rate"],
    )


@check(
    title="Bursts of activity detected",
    description="Detects minutes in which one agent takes more than a number of actions; "
    "those actions are exceptions to review.",
    problem=Problem(
        "burst",
        "{n} [action falls|actions fall] in bursts above the per-minute limit",
        Severity.LOW,
        "Review the bursts and record their disposition; rate-limit agents where they were "
        "not expected.",
    ),
    detective=True,
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
    return detection(
        f"minutes in which an agent takes more than {params['max_per_minute']} actions are "
        "detected and listed for review",
        scope,
        burst.reindex(scope.index, fill_value=False),
        busiest_minute=int(counts.max()) if len(counts) else 0,
    )


_CLOCK = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
WORKING_HOURS = {
    "type": "array",
    "minItems": 1,
    "description": "per producer (issuer glob): its working hours and time zone, or "
    "`always: true` for one that works around the clock (deployment; no default)",
    "items": {
        "type": "object",
        "required": ["issuer"],
        "additionalProperties": False,
        "properties": {
            "issuer": {"type": "string", "minLength": 1},
            "always": {"const": True},
            "start": _CLOCK,
            "end": _CLOCK,
            "weekdays": {
                "type": "array",
                "items": {"type": "integer", "minimum": 1, "maximum": 7},
                "minItems": 1,
                "uniqueItems": True,
            },
            "timezone": {"type": "string"},
        },
        "oneOf": [
            {"required": ["always"]},
            {"required": ["start", "end", "weekdays", "timezone"]},
        ],
    },
}


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _outside(rows: pd.DataFrame, hours: dict[str, Any]) -> pd.Series:
    if hours.get("always"):
        return pd.Series(False, index=rows.index)
    local = rows["timestamp"].dt.tz_convert(ZoneInfo(hours["timezone"]))
    minutes = local.dt.hour * 60 + local.dt.minute
    start, end = _minutes(hours["start"]), _minutes(hours["end"])
    inside = (
        (minutes >= start) & (minutes < end)
        if start <= end
        else (minutes >= start) | (minutes < end)
    )
    weekday = (local.dt.day_of_week + 1).isin(hours["weekdays"])
    return ~(inside & weekday).fillna(False).astype(bool)


@check(
    title="Out-of-hours activity detected",
    description="Detects actions outside each producer's working hours, in its own time "
    "zone; they are exceptions to review. Working hours describe the deployment and have "
    "no default: a producer without them leaves the check not configured.",
    problem=Problem(
        "outside_working_hours",
        "{n} [action falls|actions fall] outside [its|their] agent's working hours",
        Severity.LOW,
        "Review the out-of-hours actions and record their disposition.",
    ),
    detective=True,
    validator=producer_timezone_errors,
    deployment=("producers",),
    producers=WORKING_HOURS,
)
def working_hours(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = "actions outside their producer's working hours are detected and listed for review"
    scope = evidence.in_scope
    entry = entry_for(scope["issuer"], params["producers"])
    if bool((entry < 0).any()):
        return undecided(
            statement,
            Reason.NOT_CONFIGURED,
            population=int(scope["trusted"].astype(bool).sum()),
            not_configured=["producers"],
            producers_without_hours=int(scope.loc[entry < 0, "issuer"].nunique(dropna=False)),
        )
    outside = pd.Series(False, index=scope.index)
    for position, hours in enumerate(params["producers"]):
        rows = scope[entry == position]
        outside[rows.index] = _outside(rows, hours)
    return detection(statement, scope, outside, outside_hours=int(outside.sum()))


_NOVELTY = {
    "issuer": "agents",
    "principal": "principals",
    "model": "models",
    "tool_name": "tools",
    "action_type": "action types",
    "target_system": "target systems",
}


@check(
    title="First-seen agents and behaviour detected",
    description="Detects agents, principals, models, tools, action types and target systems "
    "appearing in the period that no trusted receipt before it shows; the actions involved "
    "are exceptions to review. Needs receipts from before the period.",
    problem=Problem(
        "first_seen",
        "{n} [action involves|actions involve] an agent, principal, model, tool, action type "
        "or target not seen before the period",
        Severity.LOW,
        "Review what is new (agents, principals, models, tools, action types, targets) "
        "against change and registration records; record the disposition.",
    ),
    detective=True,
)
def first_seen(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    frame = evidence.receipts
    scope = evidence.in_scope
    since = evidence.period.since
    statement = (
        "agents, principals, models, tools, action types and targets first seen in the period "
        "are detected and listed for review"
    )
    history = (
        frame[frame["trusted"].astype(bool) & (frame["timestamp"] < pd.Timestamp(since))]
        if since
        else frame.iloc[0:0]
    )
    if history.empty:
        if scope.empty:
            return detection(statement, scope, pd.Series(False, index=scope.index))
        return undecided(
            statement,
            Reason.NO_HISTORY,
            population=int(scope["trusted"].astype(bool).sum()),
            history_receipts=0,
        )
    new = pd.Series(False, index=scope.index)
    found: dict[str, list[str]] = {}
    for column, label in _NOVELTY.items():
        seen = set(history[column].dropna().astype(str))
        fresh = scope[column].notna() & ~scope[column].astype(object).astype(str).isin(seen)
        fresh &= scope["trusted"].astype(bool)
        new |= fresh
        values = sorted(set(scope.loc[fresh, column].astype(str)))
        if values:
            found[label] = values
    return detection(statement, scope, new, history_receipts=len(history), new=found)
