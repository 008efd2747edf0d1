"""Completeness checks: is anything missing from the audit trail, inside or around it?"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Hit, Problem, Status, Verdict, check
from reporting.controls.checks.rules import (
    entry_for,
    producer_timezone_errors,
    undecided,
    verdict,
)
from reporting.controls.vocabulary import Reason, Severity
from reporting.evidence.frame import Evidence

__all__ = ["OPERATING"]


@check(
    title="No audit events were dropped",
    description="No receipt reports audit events lost by an emitter (events_dropped).",
    problem=Problem(
        "events_dropped",
        "{n} [receipt reports|receipts report] audit events lost by the emitter",
        Severity.HIGH,
        "Size emitter buffers so audit events are not dropped, and review the period where "
        "they were.",
    ),
)
def no_events_dropped(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    dropped = scope["action_type"].astype(str) == "agent_receipts.events_dropped"
    trusted = dropped & scope["trusted"].astype(bool)
    return verdict(
        "no receipt reports audit events lost by an emitter",
        scope,
        dropped,
        dropped_events=int(scope.loc[trusted, "drop_count"].fillna(0).sum()),
    )


@check(
    title="Chains have no missing receipts",
    description="No chain skips a sequence number.",
    problem=Problem(
        "sequence_gap",
        "{n} [receipt follows|receipts follow] a gap in [its|their] chain's sequence",
        Severity.HIGH,
        "Recover the missing receipts from backups or treat the gap as lost audit evidence "
        "and investigate it.",
    ),
)
def no_sequence_gaps(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    gap = scope["failure_codes"].astype(str).str.contains("SEQUENCE_GAP", regex=False)
    return verdict("no chain skips a sequence number", scope, gap, proven_by_verification=True)


_WEEKDAYS = {
    "type": "array",
    "items": {"type": "integer", "minimum": 1, "maximum": 7},
    "minItems": 1,
    "uniqueItems": True,
}
OPERATING = {
    "type": "array",
    "minItems": 1,
    "description": "expected producers (issuer globs) and the days (1 = Monday) they record on",
    "items": {
        "type": "object",
        "required": ["issuer", "weekdays"],
        "additionalProperties": False,
        "properties": {
            "issuer": {"type": "string", "minLength": 1},
            "weekdays": _WEEKDAYS,
            "timezone": {"type": "string", "default": "UTC"},
        },
    },
}


def _window(evidence: Evidence) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The period, or (unbounded) the span of the trusted receipts in scope."""
    trusted = evidence.trusted["timestamp"].dropna()
    since = evidence.period.since
    until = evidence.period.until
    start = pd.Timestamp(since) if since else (trusted.min() if len(trusted) else None)
    end = pd.Timestamp(until) if until else (trusted.max() if len(trusted) else None)
    if start is None or end is None or pd.isna(start) or pd.isna(end) or end <= start:
        return None
    return start, end


def _operating_days(
    window: tuple[pd.Timestamp, pd.Timestamp], weekdays: list[int], zone: str
) -> set[str]:
    """The local dates of operating weekdays whose midday falls inside the window."""
    start, end = window
    first = start.tz_convert(zone).normalize() - pd.Timedelta(days=1)
    days = pd.date_range(first, end.tz_convert(zone), freq="D")
    return {
        day.strftime("%Y-%m-%d")
        for day in days
        if day.isoweekday() in weekdays and start <= day + pd.Timedelta(hours=12) < end
    }


@check(
    title="Every expected producer recorded on every operating day",
    description="Each expected producer (deployment: issuer globs and the weekdays they "
    "operate) has at least one receipt on every operating day of the period, in its own "
    "time zone; a day with none at all is a gap in recording (a week without any chain "
    "fails), a day with only unverified receipts leaves the check undecided.",
    problem=Problem(
        "silent_day",
        "{n} operating [day has|days have] no record from an expected producer",
        Severity.MEDIUM,
        "Explain each silent operating day (agent not running, emitter down, records lost) "
        "and check emitter health there.",
    ),
    validator=producer_timezone_errors,
    deployment=("producers",),
    producers=OPERATING,
)
def activity_continuity(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = "every expected producer recorded on every operating day of the period"
    scope = evidence.in_scope
    window = _window(evidence)
    if window is None:
        return verdict(statement, scope.iloc[0:0], pd.Series(dtype=bool))
    entry = entry_for(scope["issuer"], params["producers"])
    silent: dict[str, list[str]] = {}
    unverified: dict[str, list[str]] = {}
    expected = 0
    for position, producer in enumerate(params["producers"]):
        zone = producer.get("timezone", "UTC")
        days = _operating_days(window, producer["weekdays"], zone)
        rows = scope[entry == position]
        local = rows["timestamp"].dt.tz_convert(zone).dt.strftime("%Y-%m-%d")
        seen = set(local[rows["trusted"].astype(bool)].dropna())
        recorded = set(local.dropna())
        expected += len(days)
        if days - recorded:
            silent[producer["issuer"]] = sorted(days - recorded)
        if (days & recorded) - seen:
            unverified[producer["issuer"]] = sorted((days & recorded) - seen)
    gaps = sum(len(v) for v in silent.values())
    metrics: dict[str, Any] = {
        "operating_days": expected,
        "silent_days": silent,
        "unverified_days": unverified,
    }
    if gaps:
        return Verdict(
            status=Status.FAIL,
            statement=statement,
            population=expected,
            failing=gaps,
            metrics=metrics,
            hits=(Hit("", gaps),),
        )
    if unverified:
        return undecided(statement, Reason.NO_TRUSTED_EVIDENCE, population=expected, **metrics)
    return Verdict(status=Status.PASS, statement=statement, population=expected, metrics=metrics)


@check(
    title="Logs cover the retention period",
    description="For every producer active in the period, the verified logs hold receipts in "
    "each of the last `min_months` calendar months up to the period's end: one old receipt "
    "does not stand for the months in between. Shorter evidence does not prove that logs "
    "were discarded, so it leaves the check undecided.",
    problem=Problem(
        "retention_short",
        "{n} [producer's logs do|producers' logs do] not cover the retention period",
        Severity.MEDIUM,
        "Supply (or keep) logs for every month of the required retention period.",
    ),
    min_months={"type": "integer", "minimum": 1, "default": 6},
)
def log_retention(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    frame = evidence.receipts
    trusted = frame[frame["trusted"].astype(bool) & frame["timestamp"].notna()]
    months = params["min_months"]
    statement = (
        f"the verified logs of each producer active in the period hold receipts in each of "
        f"the {months} calendar months up to the period end"
    )
    active = sorted(set(evidence.trusted["issuer"].dropna().astype(str)))
    if not active:
        return verdict(
            statement, evidence.in_scope, pd.Series(False, index=evidence.in_scope.index)
        )
    end = (
        pd.Timestamp(evidence.period.until) if evidence.period.until else trusted["timestamp"].max()
    )
    start = end - pd.DateOffset(months=months)
    wanted = set(
        pd.period_range(
            start.tz_convert(None), end.tz_convert(None) - pd.Timedelta(microseconds=1), freq="M"
        ).astype(str)
    )
    held = trusted[(trusted["timestamp"] >= start) & (trusted["timestamp"] < end)]
    month = held["timestamp"].dt.tz_convert(None).dt.to_period("M").astype(str)
    covered = held.assign(_month=month).groupby(held["issuer"].astype(str))["_month"].agg(set)
    short = {
        issuer: sorted(wanted - covered.get(issuer, set()))
        for issuer in active
        if wanted - covered.get(issuer, set())
    }
    # Per month, how many producers hold nothing (issuer ids are receipt text: not printed).
    missing = Counter(month for gaps in short.values() for month in gaps)
    metrics: dict[str, Any] = {
        "required_months": months,
        "months": sorted(wanted),
        "producers_short": len(short),
        "missing_months": dict(sorted(missing.items())),
    }
    if short:
        return undecided(
            statement,
            Reason.SHORT_HISTORY,
            population=len(active),
            found=(Hit("", len(short)),),
            **metrics,
        )
    return Verdict(status=Status.PASS, statement=statement, population=len(active), metrics=metrics)
