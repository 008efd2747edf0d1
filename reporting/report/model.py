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
    "AgentMatrixRow",
    "AgentRow",
    "AgentSection",
    "ChainRow",
    "CheckFigure",
    "ControlSection",
    "CountRow",
    "Disposition",
    "EgressSection",
    "EvidenceRequest",
    "FigureChange",
    "Finding",
    "FindingChange",
    "FrameworkSection",
    "KeyFigures",
    "Posture",
    "PreviousSection",
    "ReceiptRef",
    "ReportModel",
    "ScopeSection",
    "Session",
    "SessionEvent",
    "Severity",
    "SignatureNotice",
    "StatusChange",
    "TrendPoint",
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
    source_kind: str = "agent_receipts"  # or "pipelock": an egress firewall's decision
    verdict: str | None = None  # the firewall's verdict (allow, block, strip, ...)


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
    # The egress firewall's side (Pipelock): `chains` and `broken_chains` count its
    # recorder sessions too; its decisions are counted here, never as receipts.
    recorder_sessions: int = 0
    broken_recorder_sessions: int = 0
    egress_decisions: int = 0
    trusted_egress_decisions: int = 0
    egress_stopped: int = 0  # trusted decisions that did not let the request out as sent
    uncorrelated_egress: int = 0  # decisions joined to no agent session
    # chains that verified but fail the grounded-principal tier (a grant not resolved to
    # the principal): authentic evidence, counted apart from the broken ones
    ungrounded_chains: int = 0


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
    # "agent_receipts"; "pipelock" for a recorder session (issuer: the recorder's name),
    # "pipelock_evidence" for its EvidenceReceipt v2 chain
    source_kind: str = "agent_receipts"
    broken_at_sequence: int | None = None  # the sequence number of the receipt at broken_at


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
    channel: str | None = None  # shell, file, api, mcp, http, ... (both kinds)
    source_kind: str = "agent_receipts"  # or "pipelock": what the firewall decided
    verdict: str | None = None  # the firewall's verdict on the request
    target: str | None = None  # where the request went (a URL, an MCP tool)
    trusted: bool = True
    sequence: int | None = None  # cited with the chain: `2026-10-20 seq 23`


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
    events: tuple[SessionEvent, ...]  # the first events, bounded, both channels by time
    events_total: int
    egress_decisions: int = 0  # the firewall's decisions joined to this session
    egress_stopped: int = 0  # of which it blocked, stripped, redirected or flagged


@dataclass(frozen=True)
class EgressSection:
    """What the agents sent over the network, as their egress firewall (Pipelock) decided
    it: counts over the decisions in scope, the stopped ones and what joined no session."""

    decisions: int = 0
    trusted: int = 0
    recorders: tuple[CountRow, ...] = ()  # recorder -> decisions, detail {verdict: n}
    by_agent: tuple[CountRow, ...] = ()  # agent -> decisions joined to its sessions, by verdict
    by_channel: tuple[CountRow, ...] = ()
    by_verdict: tuple[CountRow, ...] = ()
    destinations: tuple[CountRow, ...] = ()  # the most frequent, detail {verdict: n}
    stopped: tuple[ReceiptRef, ...] = ()  # decisions other than allow, the first ones
    stopped_total: int = 0
    uncorrelated: tuple[ReceiptRef, ...] = ()  # decisions joined to no session, first ones
    uncorrelated_total: int = 0
    correlation: dict[str, int] = field(default_factory=dict)  # how each decision joined


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
    unit: str = "receipt"  # what `affected` counts: receipt, chain, input record, day, ...
    agents: tuple[str, ...] = ()  # the agents (issuers) it concerns
    principals: tuple[str, ...] = ()  # the principals of the receipts it cites
    frameworks: tuple[str, ...] = ()  # the framework ids of its controls


@dataclass(frozen=True)
class AgentRow:
    """One agent (issuer): what it did, how its chains verified, the findings that list
    it, and each framework's control statuses on its own evidence (what a report narrowed
    to it with `--issuer` says)."""

    agent: str
    chains: int
    broken_chains: int  # failed verification
    ungrounded_chains: int  # verified, but failing the grounded-principal tier
    receipts: int
    trusted_receipts: int
    high_risk: int  # high or critical risk actions
    failed: int  # actions whose outcome is failure
    principals: tuple[CountRow, ...]  # whom it acted for, most receipts first (bounded)
    principals_total: int
    findings: tuple[str, ...]  # ids of the findings and exceptions that list it
    findings_by_severity: dict[str, int]  # findings (not exceptions) by severity
    frameworks: dict[str, dict[str, int]]  # framework id → controls by status; {}: not assessed
    # The egress firewall's (Pipelock's) decisions joined to this agent's sessions, by
    # verdict; an uncorrelated decision counts for no agent. Empty without egress records.
    egress: dict[str, int] = field(default_factory=dict)
    egress_unverified: int = 0  # of those, decisions that may not count as evidence


@dataclass(frozen=True)
class AgentMatrixRow:
    """One control across the agents: its status in the report and on each assessed
    agent's own evidence (in `AgentSection.rows` order)."""

    framework: str
    control: str
    anchor: str
    title: str
    status: str
    by_agent: tuple[str, ...]


@dataclass(frozen=True)
class AgentSection:
    rows: tuple[AgentRow, ...]  # most receipts first (bounded)
    total: int  # agents with receipts in scope
    assessed: int  # the first `assessed` rows have their own assessment
    matrix: tuple[AgentMatrixRow, ...]  # one row per control, one column per assessed agent

    @classmethod
    def empty(cls) -> AgentSection:
        return cls(rows=(), total=0, assessed=0, matrix=())


@dataclass(frozen=True)
class SignatureNotice:
    """Who signs the report, as known when it is built (the signature itself is on the files)."""

    signer: str | None  # certificate subject; None when the report is not signed
    algorithm: str | None
    demo: bool  # an ephemeral key: every page says UNTRUSTED DEMO SIGNATURE
    certificate_sha256: str | None = None  # SHA-256 of the signer certificate (DER), hex
    # When the report was generated: the signing time the pipeline decided before
    # rendering (ISO 8601, UTC). Not part of the report id; None when not signed.
    signing_time: str | None = None


# -- against the previous report, dispositions, the manual-evidence request list ----------


@dataclass(frozen=True)
class TrendPoint:
    """One report of the trend: its period, posture and controls by status (every
    framework's counts summed)."""

    report_id: str
    period: str  # the period's label, as in file names: 2026-10, 2026-W44, ...
    period_since: str | None
    period_until: str | None
    posture: str
    controls: dict[str, int]


@dataclass(frozen=True)
class StatusChange:
    """A control whose status differs from the previous report's (None: not in that report)."""

    framework: str
    control: str
    anchor: str
    title: str
    then: str | None
    now: str | None


@dataclass(frozen=True)
class FindingChange:
    """A finding (or exception) by its identity (`Finding.key`): new, recurring or resolved."""

    key: str
    change: str  # "new", "recurring", "resolved"
    kind: str  # "finding" or "exception"
    id: str | None  # in this report; None when resolved
    previous_id: str | None  # in the previous report; None when new
    severity: str
    title: str
    affected_then: int | None
    affected_now: int | None


@dataclass(frozen=True)
class FigureChange:
    figure: str  # a KeyFigures member, or "findings" / "exceptions"
    label: str
    then: int | None
    now: int


@dataclass(frozen=True)
class PreviousSection:
    """The previous report this one was compared with, and what changed since; or why
    there is no comparison (`status` "none": no earlier report; "refused": one was found
    but failed verification or could not be used, `code` and `reason` say why)."""

    status: str  # "compared", "none", "refused"
    code: str | None  # machine code when not compared: NO_PREVIOUS, PREVIOUS_UNVERIFIED, ...
    reason: str
    report_id: str | None = None
    manifest_sha256: str | None = None  # of the previous report's manifest.json
    period: str | None = None
    period_since: str | None = None
    period_until: str | None = None
    signer: str | None = None
    demo: bool = False
    posture: str | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # framework -> status counts
    controls: tuple[StatusChange, ...] = ()
    findings: tuple[FindingChange, ...] = ()
    figures: tuple[FigureChange, ...] = ()


@dataclass(frozen=True)
class Disposition:
    """What the team decided about one finding (by its key). It never changes a result;
    it is shown beside the finding and carried to the next period."""

    finding_key: str
    finding_id: str | None  # the finding in this report; None when no finding has the key
    owner: str
    status: str  # "open", "in remediation", "risk accepted", "false positive"
    due: str | None  # YYYY-MM-DD
    expires: str | None  # YYYY-MM-DD, when an accepted risk must be reviewed again
    ticket: str | None
    justification: str | None
    carried_from: str | None  # the previous report's id, when this period's file is silent
    overdue: bool  # due before the reference date and still open or in remediation
    expired: bool  # an accepted risk past its expiry date


@dataclass(frozen=True)
class EvidenceRequest:
    """A control's manual evidence still to be supplied, with the owner the configuration
    names for it: one row of the auditor's request list."""

    framework: str
    control: str
    anchor: str
    title: str
    status: str
    evidence: tuple[str, ...]
    owner: str | None


def _no_previous() -> PreviousSection:
    return PreviousSection("none", "NO_PREVIOUS", "no previous report was given or found")


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
    # Against the previous report (issue 16): the comparison, and up to the last 12
    # reports' posture and controls by status (oldest first, this one last).
    previous: PreviousSection = field(default_factory=_no_previous)
    trend: tuple[TrendPoint, ...] = ()
    dispositions: tuple[Disposition, ...] = ()  # overdue and expired first
    dispositions_as_of: str | None = None  # the date overdue is judged against (YYYY-MM-DD)
    evidence_requests: tuple[EvidenceRequest, ...] = ()
    egress: EgressSection = field(default_factory=EgressSection)
    agents: AgentSection = field(default_factory=AgentSection.empty)  # who did what

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
