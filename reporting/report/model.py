"""The report model: pure, frozen data for every section of the evidence report.

Built once by `build.py` from the run configuration, the verification results, the
evidence frame and the assessments; rendered by HTML, PDF and the exports without
another decision about compliance (data, structure and presentation stay apart).
Everything here is JSON-serialisable through `to_json`; nothing carries a wall-clock
time, so the same inputs give the same model.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from reporting.controls.vocabulary import Severity

__all__ = [
    "REPORT_SCHEMA",
    "ActivitySection",
    "ChainRow",
    "CheckFigure",
    "ControlSection",
    "CountRow",
    "Finding",
    "FrameworkSection",
    "KeyFigures",
    "Posture",
    "ReceiptRef",
    "ReportModel",
    "ScopeSection",
    "Session",
    "SessionEvent",
    "Severity",
    "SignatureNotice",
    "anchor",
    "utc_instant",
]

REPORT_SCHEMA = "agent-evidence/report/v1"


def utc_instant(text: str | None) -> datetime | None:
    """A time the model carries (ISO 8601) as an aware UTC datetime; None when absent, not
    ISO 8601, or beyond Python's years 1 to 9999 once in UTC. Format it with `isoformat`
    (four-digit years), never `strftime` (`%Y` prints year 999 as `999`)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def anchor(framework_id: str, control_id: str) -> str:
    """A control's fragment id in the HTML and PDF (links from findings land there)."""
    return "ctl-" + re.sub(r"[^a-z0-9]+", "-", f"{framework_id}-{control_id}".lower()).strip("-")


class Posture(StrEnum):
    """The executive verdict: integrity first, then whether there is evidence at all, then
    controls. Nothing is supported by nothing: no receipt in scope is NO EVIDENCE."""

    INTEGRITY_BROKEN = "INTEGRITY BROKEN"
    NO_EVIDENCE = "NO EVIDENCE"
    ATTENTION = "ATTENTION"
    SUPPORTED = "SUPPORTED"


@dataclass(frozen=True)
class ReceiptRef:
    """A receipt cited as evidence, with what a reader needs to find and check it."""

    receipt_id: str
    chain_id: str
    sequence: int | None
    receipt_hash: str | None
    timestamp: str | None
    action_type: str
    risk_level: str | None
    issuer: str | None
    principal: str | None
    target: str | None
    trusted: bool
    origin: str


@dataclass(frozen=True)
class CountRow:
    label: str
    count: int
    detail: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyFigures:
    receipts_in_scope: int
    trusted_receipts: int
    chains: int
    broken_chains: int
    agents: int
    principals: int
    high_risk_actions: int
    failed_actions: int
    findings_by_severity: dict[str, int]
    input_problems: int


@dataclass(frozen=True)
class ScopeSection:
    period_since: str | None
    period_until: str | None
    sources: tuple[dict[str, Any], ...]
    trust_anchors: tuple[dict[str, Any], ...]
    mappings: tuple[dict[str, Any], ...]
    checks_run: tuple[str, ...]
    checks_not_run: tuple[str, ...]
    witnesses: int
    grants_file: bool
    settings: dict[str, Any]  # what the run was asked for (the manifest's settings record)
    narrowed_to: str  # the chain, agent, principal and grant patterns, as the cover says them


@dataclass(frozen=True)
class ChainRow:
    chain_id: str
    issuer: str | None
    length: int
    first_timestamp: str | None
    last_timestamp: str | None
    termination: str
    valid: bool
    authentic: bool
    broken_at: int | None
    head_hash: str | None
    genesis_key_fingerprint: str | None
    rotations: int
    witnessed: bool
    failure_codes: tuple[str, ...]
    warning_codes: tuple[str, ...]


@dataclass(frozen=True)
class ActivitySection:
    per_day: tuple[CountRow, ...]  # label = YYYY-MM-DD, detail = {risk level: count}
    by_agent: tuple[CountRow, ...]
    by_principal: tuple[CountRow, ...]
    by_action_type: tuple[CountRow, ...]
    by_outcome: tuple[CountRow, ...]
    failures: tuple[ReceiptRef, ...]
    high_risk: tuple[ReceiptRef, ...]
    high_risk_total: int
    failures_total: int


@dataclass(frozen=True)
class SessionEvent:
    timestamp: str | None
    receipt_id: str
    chain_id: str
    action_type: str
    risk_level: str | None
    outcome: str | None
    issuer: str | None


@dataclass(frozen=True)
class Session:
    key: str
    principal: str | None
    agents: tuple[str, ...]
    chains: tuple[str, ...]
    start: str | None
    end: str | None
    receipts: int
    high_risk: int
    failures: int
    max_risk: str | None
    events: tuple[SessionEvent, ...]  # the first events, bounded
    events_total: int


@dataclass(frozen=True)
class CheckFigure:
    check: str
    status: str
    statement: str
    population: int  # trusted receipts (or authentic chains) examined
    failing: int
    untrusted: int  # left out of the population: they failed verification
    metrics: dict[str, Any]
    params: dict[str, Any]
    role: str = "deciding"  # or "supporting": shown, never deciding the control's status
    reason: str | None = None  # why INDETERMINATE ("not configured", ...)
    detective: bool = False
    exceptions: int = 0  # anomalies a detective check listed for disposition


@dataclass(frozen=True)
class ControlSection:
    id: str
    anchor: str
    title: str
    status: str
    requirement: str
    quote: str
    section: str | None
    applies_to: tuple[str, ...]
    checks: tuple[CheckFigure, ...]
    findings: tuple[str, ...]  # ids of the findings and exceptions that concern it
    sample_evidence: tuple[ReceiptRef, ...]
    manual_evidence: tuple[str, ...]
    crosswalks: dict[str, tuple[str, ...]]
    reason: str = ""  # what decided the status, in one sentence


@dataclass(frozen=True)
class FrameworkSection:
    id: str
    title: str
    version: str
    source: str
    retrieved: str
    amendments: str | None
    license: str | None
    mapping_sha256: str
    counts: dict[str, int]
    manual: tuple[str, ...]
    controls: tuple[ControlSection, ...]
    # None, or why no automated check of this framework applied (nothing is supported
    # by nothing: the counts then show no control decided on evidence)
    unassessed: str | None = None


@dataclass(frozen=True)
class Finding:
    """One defect (or, for `kind` "exception", one kind of anomaly to disposition), found
    by one or more checks: grouped by its root cause, the failing condition (`problem`),
    so a receipt that fails five checks for one reason is one finding. `key` identifies it
    across periods: a digest of the problem, the checks and the controls."""

    id: str
    key: str
    kind: str  # "finding" or "exception"
    severity: Severity
    title: str  # the problem, with its count
    problem: str
    checks: tuple[str, ...]
    statement: str
    remediation: str
    controls: tuple[str, ...]  # "<framework id>:<control id>" whose status it decides
    supporting: tuple[str, ...]  # controls where the checks are supporting information only
    chains: tuple[str, ...]
    receipts: tuple[ReceiptRef, ...]  # the first ones, for reading
    receipt_ids: tuple[str, ...]  # every affected receipt (for the exports)
    affected: int


@dataclass(frozen=True)
class SignatureNotice:
    """Who signs the report, as known when it is built (the signature itself is on the files)."""

    signer: str | None  # certificate subject; None when the report is not signed
    algorithm: str | None
    demo: bool  # an ephemeral key: every page says UNTRUSTED DEMO SIGNATURE


@dataclass(frozen=True)
class ReportModel:
    schema: str
    report_id: str
    organisation: str
    tool_version: str
    signature: SignatureNotice
    as_of: str | None  # the latest receipt time in scope: the model has no wall-clock
    posture: Posture
    posture_reason: str
    figures: KeyFigures
    scope: ScopeSection
    integrity: tuple[ChainRow, ...]
    input_problems: tuple[dict[str, Any], ...]
    activity: ActivitySection
    sessions: tuple[Session, ...]
    frameworks: tuple[FrameworkSection, ...]
    findings: tuple[Finding, ...]
    exceptions: tuple[Finding, ...]  # from detective checks: anomalies to disposition
    attribution: tuple[CountRow, ...]  # agent -> principals
    delegations: tuple[dict[str, Any], ...]
    limitations: tuple[str, ...]
    cited_receipts: tuple[ReceiptRef, ...]
    verification_howto: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self))
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
