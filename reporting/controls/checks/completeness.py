"""Completeness checks: is anything missing from the audit trail, inside or around it?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Problem, Status, Verdict, check
from reporting.controls.checks.rules import verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


@check(
    title="No audit events were dropped",
    description="No receipt reports audit events lost by an emitter (events_dropped).",
    problem=Problem(
        "events_dropped",
        "{n} receipts report audit events lost by the emitter",
        Severity.HIGH,
        "Size emitter buffers so audit events are not dropped, and review the period where "
        "they were.",
    ),
)
def no_events_dropped(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    dropped = scope["action_type"].astype(str) == "agent_receipts.events_dropped"
    return verdict(
        "no receipt reports audit events lost by an emitter",
        scope,
        dropped,
        dropped_events=int(scope.loc[dropped, "drop_count"].fillna(0).sum()),
    )


@check(
    title="Chains have no missing receipts",
    description="No chain skips a sequence number.",
    problem=Problem(
        "sequence_gap",
        "{n} receipts follow a gap in their chain's sequence",
        Severity.HIGH,
        "Recover the missing receipts from backups or treat the gap as lost audit evidence "
        "and investigate it.",
    ),
)
def no_sequence_gaps(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    gap = scope["failure_codes"].astype(str).str.contains("SEQUENCE_GAP", regex=False)
    return verdict("no chain skips a sequence number", scope, gap, proven_by_verification=True)


@check(
    title="No silent gaps inside sessions",
    description="No chain is silent for longer than a limit between two receipts.",
    problem=Problem(
        "silent_gap",
        "{n} receipts follow an unexplained silence in recording",
        Severity.MEDIUM,
        "Explain long silences inside sessions; check emitter health there.",
    ),
    max_gap_hours={"type": "number", "exclusiveMinimum": 0, "default": 24},
)
def activity_continuity(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope.sort_values(["chain_id", "sequence"])
    gaps = scope.groupby("chain_id", observed=True)["timestamp"].diff()
    silent = gaps > pd.Timedelta(hours=params["max_gap_hours"])
    return verdict(
        f"no chain is silent for more than {params['max_gap_hours']} h between two receipts",
        scope,
        silent.reindex(scope.index, fill_value=False),
        longest_gap_hours=round(float(gaps.max() / pd.Timedelta(hours=1)), 2)
        if gaps.notna().any()
        else 0.0,
    )


@check(
    title="Logs cover the retention period",
    description="The verified logs reach back at least the retention period from the period's end.",
    problem=Problem(
        "retention_short",
        "{n} producers' logs do not cover the retention period",
        Severity.MEDIUM,
        "Supply (or keep) logs reaching back over the required retention period.",
    ),
    min_days={"type": "integer", "minimum": 1, "default": 183},
)
def log_retention(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    frame = evidence.receipts
    trusted = frame[frame["trusted"].astype(bool)]
    latest = trusted["timestamp"].max() if len(trusted) else None
    end = pd.Timestamp(evidence.period.until) if evidence.period.until else latest
    earliest = trusted["timestamp"].min() if len(trusted) else None
    covered = (
        float((end - earliest) / pd.Timedelta(days=1))
        if earliest is not None and pd.notna(end)
        else 0.0
    )
    required = params["min_days"]
    if frame.empty:
        status = Status.NOT_APPLICABLE
    elif covered >= required:
        status = Status.PASS
    else:
        status = Status.INDETERMINATE  # shorter evidence does not prove logs were discarded
    return Verdict(
        status=status,
        statement=f"the verified logs reach back at least {required} days from the period end",
        population=len(frame),
        metrics={"days_covered": round(covered, 1), "required_days": required},
    )
