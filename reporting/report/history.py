"""Against the previous report: what changed since the last period, and the trend.

The previous report reaches this module as plain, already-verified data: the command line
(`reporting.audit.previous`) finds it, checks its signature and manifest, and reads its
report model (`previous_from_json`) into a frozen `PreviousReport`; or it says why none
can be used (`PreviousRefused`). Nothing here reads a file or checks a signature.

Findings are matched by identity (`Finding.key`: the failing condition, the checks and the
controls), never by their ids, which are ranks within one report. Each report carries the
trend of up to the last 12 reports, itself last, so the next one only needs its previous
report to draw a year of months: the earlier points are as that signed report recorded them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reporting.periods import Period, period_name
from reporting.report.model import (
    Disposition,
    FigureChange,
    FindingChange,
    PreviousSection,
    ReportModel,
    StatusChange,
    TrendPoint,
    anchor,
    utc_instant,
)

__all__ = [
    "EGRESS_FIGURE_LABELS",
    "FIGURE_LABELS",
    "TREND_LENGTH",
    "PreviousFinding",
    "PreviousInput",
    "PreviousRefused",
    "PreviousReport",
    "compare",
    "previous_from_json",
    "trend_point",
]

TREND_LENGTH = 12

# The key figures compared, in the order a reader scans them.
FIGURE_LABELS = {
    "receipts_in_scope": "receipts in scope",
    "trusted_receipts": "verified (trusted) receipts",
    "chains": "chains",
    "broken_chains": "chains failing verification",
    "ungrounded_chains": "chains verified but failing the grounded-principal tier",
    "input_problems": "input problems",
    "agents": "agents",
    "principals": "principals",
    "high_risk_actions": "high or critical risk actions",
    "failed_actions": "failed actions",
    "findings": "findings",
    "exceptions": "kinds of exception to disposition",
}
# Compared only when either report has one: a row of zeros says nothing.
OPTIONAL_FIGURES = frozenset({"ungrounded_chains"})
# Compared too when either report has egress records (rows of zeros say nothing otherwise).
EGRESS_FIGURE_LABELS = {
    "egress_decisions": "egress decisions",
    "trusted_egress_decisions": "verified egress decisions",
    "egress_stopped": "requests the egress firewall stopped or changed",
    "uncorrelated_egress": "egress decisions joined to no agent session",
}


@dataclass(frozen=True)
class PreviousFinding:
    key: str
    id: str
    kind: str
    severity: str
    title: str
    affected: int


@dataclass(frozen=True)
class PreviousReport:
    """The verified previous report, as far as the comparison needs it."""

    report_id: str
    manifest_sha256: str  # of its manifest.json: what this report's settings record names
    period_since: str | None
    period_until: str | None
    signer: str | None
    demo: bool  # signed with an ephemeral UNTRUSTED DEMO key
    posture: str
    counts: Mapping[str, Mapping[str, int]]  # framework -> status -> controls
    controls: tuple[tuple[str, str, str], ...]  # (framework, control, status)
    titles: Mapping[str, str]  # "<framework>:<control>" -> title
    findings: tuple[PreviousFinding, ...]  # findings and exceptions, in its order
    figures: Mapping[str, int]
    trend: tuple[TrendPoint, ...]  # as it recorded it, itself last
    dispositions: tuple[Disposition, ...]

    def record(self) -> dict[str, Any]:
        """What the manifest's settings record says about it (it changes the report)."""
        return {"report_id": self.report_id, "manifest_sha256": self.manifest_sha256}


@dataclass(frozen=True)
class PreviousRefused:
    """An earlier report was found (or named) but cannot be used; `code` says why."""

    code: str  # PREVIOUS_UNVERIFIED, PREVIOUS_UNTRUSTED, PREVIOUS_UNREADABLE, ...
    reason: str
    report_id: str | None = None
    manifest_sha256: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "refused": self.code,
            "report_id": self.report_id,
            "manifest_sha256": self.manifest_sha256,
        }


PreviousInput = PreviousReport | PreviousRefused | None


# -- reading a previous report's model ----------------------------------------------------


def _member(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValueError(f"the report model has no valid {name!r}")
    return value


def _optional_text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError("control counts are not a mapping")
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


def _trend(points: Any) -> tuple[TrendPoint, ...]:
    if not isinstance(points, list):
        return ()
    return tuple(
        TrendPoint(
            report_id=_member(p, "report_id", str),
            period=_member(p, "period", str),
            period_since=_optional_text(p, "period_since"),
            period_until=_optional_text(p, "period_until"),
            posture=_member(p, "posture", str),
            controls=_counts(p.get("controls")),
        )
        for p in points
        if isinstance(p, dict)
    )


def _dispositions(entries: Any) -> tuple[Disposition, ...]:
    if not isinstance(entries, list):
        return ()
    found = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("a disposition is not an object")
        found.append(
            Disposition(
                finding_key=_member(entry, "finding_key", str),
                finding_id=_optional_text(entry, "finding_id"),
                owner=_member(entry, "owner", str),
                status=_member(entry, "status", str),
                due=_optional_text(entry, "due"),
                expires=_optional_text(entry, "expires"),
                ticket=_optional_text(entry, "ticket"),
                justification=_optional_text(entry, "justification"),
                carried_from=_optional_text(entry, "carried_from"),
                overdue=False,
                expired=False,
            )
        )
    return tuple(found)


def _findings(model: Mapping[str, Any]) -> tuple[PreviousFinding, ...]:
    found = []
    for name in ("findings", "exceptions"):
        for item in _member(model, name, list):
            if not isinstance(item, dict):
                raise ValueError(f"an entry of {name!r} is not an object")
            found.append(
                PreviousFinding(
                    key=_member(item, "key", str),
                    id=_member(item, "id", str),
                    kind=_member(item, "kind", str),
                    severity=_member(item, "severity", str),
                    title=_member(item, "title", str),
                    affected=_member(item, "affected", int),
                )
            )
    return tuple(found)


def previous_from_json(
    data: bytes, *, manifest_sha256: str, signer: str | None, demo: bool
) -> PreviousReport:
    """The previous report's model (`agent-evidence/report/v1` JSON, from a verified
    report) as a `PreviousReport`. ValueError, with the reason, for anything else: a
    verified file can still be another tool's, or another version's."""
    try:
        model = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"the report model is not JSON ({exc})") from exc
    if not isinstance(model, dict) or model.get("schema") != "agent-evidence/report/v1":
        raise ValueError("not an agent-evidence/report/v1 report model")
    try:
        return _previous(model, manifest_sha256=manifest_sha256, signer=signer, demo=demo)
    except (TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"the report model is malformed ({exc!r})") from exc


def _previous(
    model: dict[str, Any], *, manifest_sha256: str, signer: str | None, demo: bool
) -> PreviousReport:
    scope = _member(model, "scope", dict)
    controls, titles, counts = [], {}, {}
    for framework in _member(model, "frameworks", list):
        framework_id = _member(framework, "id", str)
        counts[framework_id] = _counts(framework.get("counts"))
        for control in _member(framework, "controls", list):
            control_id = _member(control, "id", str)
            controls.append((framework_id, control_id, _member(control, "status", str)))
            titles[f"{framework_id}:{control_id}"] = _member(control, "title", str)
    figures = {
        k: v
        for k, v in _member(model, "figures", dict).items()
        if isinstance(v, int) and not isinstance(v, bool)
    }
    findings = _findings(model)
    figures["findings"] = sum(1 for f in findings if f.kind == "finding")
    figures["exceptions"] = sum(1 for f in findings if f.kind == "exception")
    return PreviousReport(
        report_id=_member(model, "report_id", str),
        manifest_sha256=manifest_sha256,
        period_since=_optional_text(scope, "period_since"),
        period_until=_optional_text(scope, "period_until"),
        signer=signer,
        demo=demo,
        posture=_member(model, "posture", str),
        counts=counts,
        controls=tuple(controls),
        titles=titles,
        findings=findings,
        figures=figures,
        trend=_trend(model.get("trend")),
        dispositions=_dispositions(model.get("dispositions")),
    )


# -- comparing ----------------------------------------------------------------------------


def _period_label(since: str | None, until: str | None) -> str:
    return period_name(Period(utc_instant(since), utc_instant(until)))


def _summed(counts: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for by_status in counts.values():
        for status, count in by_status.items():
            total[status] = total.get(status, 0) + count
    return total


def trend_point(model: ReportModel) -> TrendPoint:
    """This report as a point of the trend."""
    return TrendPoint(
        report_id=model.report_id,
        period=_period_label(model.scope.period_since, model.scope.period_until),
        period_since=model.scope.period_since,
        period_until=model.scope.period_until,
        posture=model.posture.value,
        controls=_summed({f.id: f.counts for f in model.frameworks}),
    )


def _previous_point(previous: PreviousReport) -> TrendPoint:
    return TrendPoint(
        report_id=previous.report_id,
        period=_period_label(previous.period_since, previous.period_until),
        period_since=previous.period_since,
        period_until=previous.period_until,
        posture=previous.posture,
        controls=_summed(previous.counts),
    )


def _status_changes(previous: PreviousReport, model: ReportModel) -> tuple[StatusChange, ...]:
    """Controls whose status changed, in this report's order; then those it no longer has."""
    then = {(f, c): status for f, c, status in previous.controls}
    changes = []
    for framework in model.frameworks:
        for c in framework.controls:
            before = then.pop((framework.id, c.id), None)
            if before != c.status:
                changes.append(
                    StatusChange(framework.id, c.id, c.anchor, c.title, before, c.status)
                )
    for (framework_id, control_id), before in then.items():
        title = previous.titles.get(f"{framework_id}:{control_id}", "")
        changes.append(
            StatusChange(
                framework_id, control_id, anchor(framework_id, control_id), title, before, None
            )
        )
    return tuple(changes)


def _finding_changes(previous: PreviousReport, model: ReportModel) -> tuple[FindingChange, ...]:
    """New findings first, then recurring ones (both in this report's order), then the
    resolved ones (in the previous report's order)."""
    then = {f.key: f for f in previous.findings}
    current = (*model.findings, *model.exceptions)
    new: list[FindingChange] = []
    recurring: list[FindingChange] = []
    for f in current:
        before = then.get(f.key)
        change = FindingChange(
            key=f.key,
            change="new" if before is None else "recurring",
            kind=f.kind,
            id=f.id,
            previous_id=None if before is None else before.id,
            severity=f.severity.value,
            title=f.title,
            affected_then=None if before is None else before.affected,
            affected_now=f.affected,
        )
        (new if before is None else recurring).append(change)
    now = {f.key for f in current}
    resolved = [
        FindingChange(f.key, "resolved", f.kind, None, f.id, f.severity, f.title, f.affected, None)
        for f in previous.findings
        if f.key not in now
    ]
    return (*new, *recurring, *resolved)


def _figure_changes(previous: PreviousReport, model: ReportModel) -> tuple[FigureChange, ...]:
    figures = model.figures
    labels = dict(FIGURE_LABELS)
    if figures.egress_decisions or previous.figures.get("egress_decisions"):
        labels |= EGRESS_FIGURE_LABELS
    now = {name: getattr(figures, name, None) for name in labels}
    now["findings"], now["exceptions"] = len(model.findings), len(model.exceptions)
    changes = (
        FigureChange(name, label, previous.figures.get(name), int(now[name] or 0))
        for name, label in labels.items()
    )
    return tuple(c for c in changes if c.figure not in OPTIONAL_FIGURES or c.then or c.now)


def _verified_how(previous: PreviousReport) -> str:
    if previous.demo:
        return (
            "Its signature and manifest verify, but it is signed with an UNTRUSTED DEMO "
            "SIGNATURE, like this report: the comparison shows what changed, not who made "
            "the earlier report."
        )
    return (
        f"Its signature (by {previous.signer or 'an unnamed signer'}) and its manifest "
        "verified before it was used."
    )


def compare(
    model: ReportModel, previous: PreviousInput
) -> tuple[PreviousSection, tuple[TrendPoint, ...]]:
    """The comparison with the previous report (or why there is none) and the trend of up
    to `TREND_LENGTH` reports ending with this one."""
    here = trend_point(model)
    if previous is None:
        reason = "No earlier report of the same organisation, frameworks and scope was found."
        return PreviousSection("none", "NO_PREVIOUS", reason), (here,)
    if isinstance(previous, PreviousRefused):
        section = PreviousSection(
            "refused",
            previous.code,
            previous.reason,
            report_id=previous.report_id,
            manifest_sha256=previous.manifest_sha256,
        )
        return section, (here,)
    earlier = previous.trend or (_previous_point(previous),)
    section = PreviousSection(
        status="compared",
        code=None,
        reason=_verified_how(previous),
        report_id=previous.report_id,
        manifest_sha256=previous.manifest_sha256,
        period=_period_label(previous.period_since, previous.period_until),
        period_since=previous.period_since,
        period_until=previous.period_until,
        signer=previous.signer,
        demo=previous.demo,
        posture=previous.posture,
        counts={k: dict(v) for k, v in previous.counts.items()},
        controls=_status_changes(previous, model),
        findings=_finding_changes(previous, model),
        figures=_figure_changes(previous, model),
    )
    return section, (*earlier, here)[-TREND_LENGTH:]
