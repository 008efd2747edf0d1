"""Assessment run → report model. Decides nothing about compliance; it arranges evidence.

Lists are bounded (the first N items, with exact totals) so the rendered report stays
readable at any input size; the exports carry everything.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reporting import __version__
from reporting.controls.assess import ControlAssessment, FrameworkAssessment
from reporting.controls.checks import REGISTRY, CheckResult, Hit, Problem, Status, problem_of
from reporting.controls.checks.rules import MAX_LISTED
from reporting.controls.loader import Framework
from reporting.controls.vocabulary import Reason
from reporting.evidence.correlation import joined
from reporting.evidence.frame import RISK_RANK, Evidence
from reporting.pipelock import SOURCE_PIPELOCK
from reporting.receipts.results import SOURCE_AGENT_RECEIPTS
from reporting.receipts.sources import SourceSummary
from reporting.report import wording
from reporting.report.agents import agent_section
from reporting.report.dispositions import DispositionEntry, apply_dispositions
from reporting.report.history import PreviousInput, PreviousReport, compare
from reporting.report.model import (
    REPORT_SCHEMA,
    ActivitySection,
    ChainRow,
    CheckFigure,
    ControlSection,
    CountRow,
    EgressSection,
    Finding,
    FrameworkSection,
    KeyFigures,
    Posture,
    ReceiptRef,
    ReportModel,
    ScopeSection,
    Session,
    SessionEvent,
    Severity,
    SignatureNotice,
    anchor,
    utc_instant,
)
from reporting.report.requests import EvidenceOwner, evidence_requests

__all__ = ["ReportInputs", "ReportOptions", "anchor", "build_report"]

LIST_LIMIT = 50
FINDING_RECEIPTS = 25
SAMPLE_EVIDENCE = 5
TOP_SESSIONS = 5
SESSION_EVENTS = 40

LIMITATIONS = (
    "Receipts record what agents reported doing; they cannot prove an action that was never "
    "recorded, or that a recorded action had the effect it claims.",
    "Without an external witness, removing the last receipts of a chain is undetectable: "
    "an open chain may have been truncated.",
    "Action timestamps are asserted by the issuer unless a trusted (RFC 3161) timestamp "
    "vouches for them.",
    "The evidence is as trustworthy as the keys in the trust store: a stolen issuer key can "
    "sign receipts that verify.",
    "Store index columns are not evidence; only the signed JSON is.",
    "Mappings say which evidence supports a requirement; they do not establish legal "
    "compliance, and the listed manual evidence is still needed.",
)
HOWTO = (
    "Verify the chains again from the same sources: agent-evidence verify SOURCE --keys K.",
    "Each receipt hash is sha256 over the RFC 8785 serialisation of the receipt without its "
    "proof (null members absent); it must equal the next receipt's previous_receipt_hash.",
    "Each signature is Ed25519 over the same bytes, by the issuer key listed in the scope "
    "section (or the key a verified rotation announced).",
    "A Pipelock decision (recorder session chain pipelock:…) is an ActionReceipt v1: Ed25519 "
    "by the recorder key listed in the scope section over SHA-256 of its action record in Go "
    "JSON field order, chained by chain_prev_hash; docs/pipelock.md has every rule.",
)


# The settings record's members the scope section shows in their own tables.
_SHOWN_ELSEWHERE = frozenset({"schema", "frameworks", "organisation", "period"})


@dataclass(frozen=True)
class ReportInputs:
    """What the report is built from: the outputs of the earlier stages."""

    evidence: Evidence
    frameworks: Sequence[Framework]
    assessments: Sequence[FrameworkAssessment]
    sources: Sequence[SourceSummary]
    trust_anchors: Sequence[dict[str, Any]]  # issuer, fingerprint, source (display name)
    # each agent's own assessment (`assess_agents`): what an --issuer report on it says
    by_agent: Mapping[str, Sequence[FrameworkAssessment]] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportOptions:
    """What the run decided outside the evidence: its id, who it is for, its settings."""

    report_id: str = "AER-UNSET"
    organisation: str = "Unnamed organisation"
    settings: dict[str, Any] = field(default_factory=dict)  # the manifest's settings record
    signature: SignatureNotice = field(
        default_factory=lambda: SignatureNotice(signer=None, algorithm=None, demo=False)
    )
    previous: PreviousInput = None  # the verified previous report, or why none is used
    dispositions: tuple[DispositionEntry, ...] = ()  # this period's dispositions file
    evidence_owners: tuple[EvidenceOwner, ...] = ()  # who supplies which manual evidence


# -- rows -> references -------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def _ref(row: Any) -> ReceiptRef:
    target = " ".join(
        str(v) for v in (row["target_system"], row["target_resource"]) if isinstance(v, str)
    )
    return ReceiptRef(
        receipt_id=str(row["receipt_id"]),
        chain_id=str(row["chain_id"]),
        sequence=None if pd.isna(row["sequence"]) else int(row["sequence"]),
        receipt_hash=row["receipt_hash"],
        timestamp=_iso(row["timestamp"]),
        action_type=str(row["action_type"]),
        risk_level=None if pd.isna(row["risk_level"]) else str(row["risk_level"]),
        issuer=None if pd.isna(row["issuer"]) else str(row["issuer"]),
        principal=None if pd.isna(row["principal"]) else str(row["principal"]),
        target=target or None,
        trusted=bool(row["trusted"]),
        origin=str(row["origin"]),
        source_kind=_kind(row),
        verdict=_text_or_none(row.get("verdict")),
    )


def _kind(row: Any) -> str:
    value = row.get("source_kind")
    return SOURCE_AGENT_RECEIPTS if value is None or pd.isna(value) else str(value)


def _refs(frame: pd.DataFrame, limit: int) -> tuple[ReceiptRef, ...]:
    """The first `limit` receipts by time, chain and sequence (ties: frame order)."""
    return tuple(_ref(row) for _, row in _earliest(frame, limit).iterrows())


def _earliest(frame: pd.DataFrame, limit: int) -> pd.DataFrame:
    """`frame` sorted (stable) by time, chain and sequence, first `limit` rows.

    Only rows no later than the limit-th earliest time can be among them: those are
    sorted, not the whole frame (a million rows for a check that fails everywhere).
    Receipts without a time sort last, so this holds whenever `limit` rows have one.
    """
    times = frame["timestamp"]
    if len(frame) > limit > 0 and int(times.notna().sum()) >= limit:
        frame = frame[times <= times.nsmallest(limit).iloc[-1]]
    return frame.sort_values(["timestamp", "chain_id", "sequence"], kind="stable").head(limit)


def _counts(series: pd.Series, limit: int | None = None) -> tuple[CountRow, ...]:
    """Values as text and how often each occurs, most first; missing values are not
    counted. Counted before the values become text: one string per distinct value."""
    by_label: Counter[str] = Counter()
    for value, count in series.value_counts(dropna=True).items():
        if count:  # a category no row in `series` has (the frame's other rows may)
            by_label[str(value)] += int(count)
    ordered = sorted(by_label.items(), key=lambda item: (-item[1], item[0]))
    return tuple(CountRow(label, count) for label, count in ordered[:limit])


# -- sections -----------------------------------------------------------------------------


def _figures(evidence: Evidence, findings: Sequence[Finding]) -> KeyFigures:
    scope = evidence.in_scope
    chains = evidence.chains_in_scope
    by_severity = {s.value: sum(1 for f in findings if f.severity is s) for s in Severity}
    return KeyFigures(
        receipts_in_scope=len(scope),
        trusted_receipts=int(scope["trusted"].sum()),
        chains=len(chains),
        broken_chains=int((~chains["authentic"]).sum()),
        agents=int(scope["issuer"].nunique()),
        principals=int(scope["principal"].nunique()),
        high_risk_actions=int((scope["risk_rank"].fillna(0) >= RISK_RANK["high"]).sum()),
        failed_actions=int((scope["outcome"].astype(str) == "failure").sum()),
        findings_by_severity=by_severity,
        input_problems=len(evidence.verification.input_problems),
        **_egress_figures(evidence),
        ungrounded_chains=int((chains["authentic"] & ~chains["valid"]).sum()),
    )


def _egress_figures(evidence: Evidence) -> dict[str, int]:
    chains = evidence.chains_in_scope
    recorders = chains[chains.get("source_kind", pd.Series(dtype=object)) == SOURCE_PIPELOCK]
    sessions = {c.removesuffix("/v2") for c in _pipelock_chains(chains)}
    broken = {c.removesuffix("/v2") for c in _pipelock_chains(chains[~chains["authentic"]])}
    decisions = evidence.egress
    trusted = evidence.egress_trusted
    recorded = {
        "recorder_sessions": len(recorders),
        "broken_recorder_sessions": len(broken & sessions),
    }
    if decisions.empty:
        return recorded
    return recorded | {
        "egress_decisions": len(decisions),
        "trusted_egress_decisions": len(trusted),
        "egress_stopped": int(_stopped(trusted).sum()),
        "uncorrelated_egress": int(decisions["agent_session"].isna().sum())
        if len(decisions)
        else 0,
    }


def _pipelock_chains(chains: pd.DataFrame) -> set[str]:
    if "source_kind" not in chains:
        return set()
    kinds = chains["source_kind"].astype(str)
    return set(chains.loc[kinds != SOURCE_AGENT_RECEIPTS, "chain_id"].astype(str))


def _stopped(decisions: pd.DataFrame) -> pd.Series:
    """Decisions that did not let the request out as it was sent (anything but allow)."""
    if "verdict" not in decisions:
        return pd.Series(False, index=decisions.index)
    return decisions["verdict"].astype(str) != "allow"


def _posture(evidence: Evidence, frameworks: Sequence[FrameworkAssessment]) -> tuple[Posture, str]:
    broken = int((~evidence.chains_in_scope["authentic"]).sum())
    problems = sum(1 for p in evidence.verification.input_problems if p.severity.value == "failure")
    if broken or problems:
        failed = [
            f"{wording.count(broken, 'chain')} in scope failed verification" if broken else "",
            f"{wording.count(problems, 'input record')} could not be read" if problems else "",
        ]
        return Posture.INTEGRITY_BROKEN, (
            " and ".join(part for part in failed if part) + ": the evidence itself is in question."
        )
    if evidence.in_scope.empty:
        return Posture.NO_EVIDENCE, (
            "no receipt falls in the period and scope of this report: there is no evidence "
            "to support any requirement, and no control was assessed on evidence."
        )
    unsatisfied = sum(a.counts["NOT_SATISFIED"] for a in frameworks)
    if unsatisfied:
        return (
            Posture.ATTENTION,
            f"every chain verified; {wording.count(unsatisfied, 'control')} "
            f"{wording.plural(unsatisfied, 'is', 'are')} not supported.",
        )
    return Posture.SUPPORTED, "every chain verified and no control is contradicted by the evidence."


def _scope(inputs: ReportInputs, settings: dict[str, Any]) -> ScopeSection:
    evidence = inputs.evidence
    ran = sorted({r.check for a in inputs.assessments for c in a.controls for r in c.results})
    return ScopeSection(
        period_since=_iso(evidence.period.since),
        period_until=_iso(evidence.period.until),
        sources=tuple(
            {
                "path": s.path,
                "kind": s.kind,
                "records": s.records,
                "sha256": s.sha256,
            }
            for s in inputs.sources
        ),
        trust_anchors=tuple(inputs.trust_anchors),
        mappings=tuple(
            {"id": f.id, "version": f.version, "sha256": f.sha256, "path": Path(f.path).name}
            for f in inputs.frameworks
        ),
        checks_run=tuple(ran),
        checks_not_run=tuple(sorted(set(REGISTRY) - set(ran))),
        witnesses=len(evidence.witnesses),
        grants_file=evidence.grants is not None,
        settings={k: v for k, v in settings.items() if k not in _SHOWN_ELSEWHERE},
        narrowed_to=evidence.scope.label(),
    )


def _broken_at_sequence(evidence: Evidence) -> dict[str, int]:
    """Chain id → the sequence number of the receipt where it broke (`broken_at` is a
    position in the stored order: a reader cites receipts by sequence)."""
    out = {}
    for chain in evidence.verification.chains:
        if (sequence := chain.broken_at_sequence) is not None:
            out[chain.chain_id] = sequence
    return out


def _integrity(evidence: Evidence) -> tuple[ChainRow, ...]:
    witnessed = set(evidence.witnesses)
    sequences = _broken_at_sequence(evidence)
    rows = []
    for _, chain in evidence.chains_in_scope.sort_values("chain_id").iterrows():
        rows.append(
            ChainRow(
                chain_id=str(chain["chain_id"]),
                issuer=_text_or_none(chain["issuer"]),
                length=int(chain["length"]),
                first_timestamp=_iso(chain["first_timestamp"]),
                last_timestamp=_iso(chain["last_timestamp"]),
                termination=str(chain["termination"]),
                valid=bool(chain["valid"]),
                authentic=bool(chain["authentic"]),
                broken_at=None if pd.isna(chain["broken_at"]) else int(chain["broken_at"]),
                head_hash=_text_or_none(chain["head_hash"]),
                genesis_key_fingerprint=_text_or_none(chain["genesis_key_fingerprint"]),
                rotations=int(chain["rotations"]),
                witnessed=chain["chain_id"] in witnessed,
                failure_codes=tuple(str(chain["failure_codes"]).split()),
                warning_codes=tuple(str(chain["warning_codes"]).split()),
                source_kind=str(chain.get("source_kind", SOURCE_AGENT_RECEIPTS)),
                broken_at_sequence=sequences.get(str(chain["chain_id"])),
            )
        )
    return tuple(rows)


def _text_or_none(value: Any) -> str | None:
    """A frame cell as text; a missing value (None, or pandas' NaN) as None, never 'nan'."""
    return None if value is None or pd.isna(value) else str(value)


def _activity(evidence: Evidence) -> ActivitySection:
    scope = evidence.in_scope
    failures = scope[scope["outcome"].astype(str) == "failure"]
    high = scope[scope["risk_rank"].fillna(0) >= RISK_RANK["high"]]
    return ActivitySection(
        per_day=_per_day(scope),
        by_agent=_counts(scope["issuer"]),
        by_principal=_counts(scope["principal"]),
        by_action_type=_counts(scope["action_type"], 15),
        by_outcome=_counts(scope["outcome"]),
        failures=_refs(failures, LIST_LIMIT),
        high_risk=_highest_risk_first(high, LIST_LIMIT),
        high_risk_total=len(high),
        failures_total=len(failures),
    )


def _highest_risk_first(frame: pd.DataFrame, limit: int) -> tuple[ReceiptRef, ...]:
    """The first `limit` receipts by risk (highest first), then time, chain and sequence."""
    refs: list[ReceiptRef] = []
    for rank in sorted(frame["risk_rank"].dropna().unique(), reverse=True):
        if len(refs) >= limit:
            break
        refs.extend(_refs(frame[frame["risk_rank"] == rank], limit - len(refs)))
    return tuple(refs)


def _per_day(scope: pd.DataFrame) -> tuple[CountRow, ...]:
    """Receipts per UTC day (those without a time are left out), with the count of each
    risk level given as text (receipts without one count only in the day's total)."""
    day = scope["timestamp"].dt.normalize()
    known = day.notna()
    pairs = pd.DataFrame({"day": day[known], "risk": scope["risk_level"][known]})
    sizes = pairs.groupby(["day", "risk"], sort=False, observed=True, dropna=False).size()
    totals: Counter[str] = Counter()
    by_day: dict[str, Counter[str]] = {}
    for (moment, risk), count in sizes.items():
        label = moment.date().isoformat()  # four-digit years, unlike strftime
        totals[label] += int(count)
        risks = by_day.setdefault(label, Counter())
        if not pd.isna(risk):
            risks[str(risk)] += int(count)
    return tuple(
        CountRow(label, totals[label], dict(sorted(risks.items())))
        for label, risks in sorted(by_day.items())
    )


def _session_keys(scope: pd.DataFrame) -> pd.Series:
    """Session per receipt: the issuer's session id, else its chain.

    Delegated chains join their parent's session, so a sub-agent's work shows with it.
    A chain's session and parent are those of its last row. Resolved once per distinct
    (chain, own session): a month has millions of rows and few of those.
    """
    return _resolved_sessions(scope)[0]


def _resolved_sessions(scope: pd.DataFrame) -> tuple[pd.Series, dict[str, str]]:
    """`_session_keys`, and each own session (id, else chain) → the session it shows in:
    what a firewall decision joined to a sub-agent's own session shows in too."""
    chains = scope["chain_id"].astype(str)
    own = scope["session_id"].astype(object).where(scope["session_id"].notna(), chains).tolist()
    chain_list = chains.tolist()
    by_chain = dict(zip(chain_list, own, strict=True))
    parents = scope["delegation_parent_chain"].astype(object).tolist()
    last_parent = zip(chain_list, parents, strict=True)
    chain_parent = {c: p for c, p in dict(last_parent).items() if isinstance(p, str)}

    def resolve(chain: str, key: Any) -> str:
        seen = set()
        while chain in chain_parent and chain not in seen:
            seen.add(chain)
            chain = chain_parent[chain]
            key = by_chain.get(chain, key)
        return str(key)

    resolved: dict[tuple[str, Any], str] = {}
    keys = []
    for pair in zip(chain_list, own, strict=True):
        key = resolved.get(pair)
        if key is None:
            key = resolved[pair] = resolve(*pair)
        keys.append(key)
    shown_in: dict[str, str] = {}
    for (_, session), key in resolved.items():
        shown_in.setdefault(str(session), key)
    return pd.Series(keys, index=scope.index), shown_in


def _top_session_keys(keyed: pd.DataFrame) -> list[str]:
    """The TOP_SESSIONS sessions by highest risk, then high-risk count, size and key.

    Ranked on aggregates, so only the sessions shown are built (a month has thousands).
    """
    ranks = keyed["risk_rank"].astype("float64").fillna(-1)
    stats = (
        pd.DataFrame(
            {"session": keyed["_session"], "rank": ranks, "high": ranks >= RISK_RANK["high"]}
        )
        .groupby("session", sort=True)
        .agg(max_rank=("rank", "max"), high=("high", "sum"), size=("rank", "size"))
    )
    ordered = sorted(
        stats.itertuples(),
        key=lambda r: (-int(r.max_rank), -int(r.high), -int(r.size), str(r.Index)),
    )
    return [str(r.Index) for r in ordered[:TOP_SESSIONS]]


def _timeline_sessions(timeline: pd.DataFrame) -> pd.Series:
    """Session per row of both kinds: an agent receipt's (`_session_keys`), the agent
    session a firewall decision joined (`agent_session`; none: uncorrelated, left out),
    shown where that session's receipts are (a sub-agent's, in its parent's)."""
    agents = _of_agents(timeline)
    keys = pd.Series(None, index=timeline.index, dtype=object)
    shown_in: dict[str, str] = {}
    if agents.any():
        keys[agents], shown_in = _resolved_sessions(timeline[agents])
    if "agent_session" in timeline and not agents.all():
        sessions = timeline.loc[~agents, "agent_session"].astype(object).tolist()
        keys[~agents] = [shown_in.get(s, s) if isinstance(s, str) else None for s in sessions]
    return keys


def _of_agents(frame: pd.DataFrame) -> pd.Series:
    if "source_kind" not in frame:
        return pd.Series(True, index=frame.index)
    return (frame["source_kind"] == SOURCE_AGENT_RECEIPTS).astype(bool)


def _event(row: Any) -> SessionEvent:
    """One row of a session's timeline: an agent's action or the firewall's decision."""
    kind = _kind(row)
    return SessionEvent(
        _iso(row["timestamp"]),
        str(row["receipt_id"]),
        str(row["chain_id"]),
        str(row["action_type"]),
        None if pd.isna(row["risk_level"]) else str(row["risk_level"]),
        None if pd.isna(row["outcome"]) else str(row["outcome"]),
        None if pd.isna(row["issuer"]) else str(row["issuer"]),
        sequence=None if pd.isna(row["sequence"]) else int(row["sequence"]),  # every row has one
        channel=_text_or_none(row.get("channel")),
        source_kind=kind,
        verdict=_text_or_none(row.get("verdict")),
        target=_text_or_none(row["target_resource"]) if kind != SOURCE_AGENT_RECEIPTS else None,
        trusted=bool(row.get("trusted", True)),
    )


def _sessions(evidence: Evidence) -> tuple[Session, ...]:
    """The top sessions, each one timeline of both channels: what the agents did and what
    they tried to send where, with the firewall's verdict."""
    timeline = evidence.timeline
    session_of = _timeline_sessions(timeline)
    scope = timeline[session_of.notna()]
    session_of = session_of[session_of.notna()]
    if scope.empty:
        return ()
    keyed = pd.DataFrame({"_session": session_of, "risk_rank": scope["risk_rank"]})
    sessions = []
    for key in _top_session_keys(keyed):
        rows = scope[session_of == key]
        agents = _of_agents(rows)
        receipts, decisions = rows[agents], rows[~agents]
        shown = _earliest(rows, SESSION_EVENTS)  # the head of the session's timeline
        times = rows["timestamp"]
        last = pd.NaT if times.isna().any() else times.max()  # receipts without a time last
        ranks = receipts["risk_rank"].fillna(-1)
        max_rank = int(ranks.max()) if len(ranks) else -1
        high = int((ranks >= RISK_RANK["high"]).sum())
        sessions.append(
            (
                (-max_rank, -high, -len(rows), str(key)),
                Session(
                    key=str(key),
                    principal=next(iter(shown["principal"].dropna().astype(str)), None),
                    agents=tuple(sorted(set(rows["issuer"].dropna().astype(str)))),
                    chains=tuple(sorted(set(rows["chain_id"].astype(str)))),
                    start=_iso(shown["timestamp"].iloc[0]),
                    end=_iso(last),
                    receipts=len(receipts),
                    high_risk=high,
                    failures=int((receipts["outcome"].astype(str) == "failure").sum()),
                    max_risk=next((k for k, v in RISK_RANK.items() if v == max_rank), None),
                    events=tuple(_event(r) for _, r in shown.iterrows()),
                    events_total=len(rows),
                    egress_decisions=len(decisions),
                    egress_stopped=int(_stopped(decisions).sum()),
                ),
            )
        )
    return tuple(
        session for _, session in sorted(sessions, key=lambda item: item[0])[:TOP_SESSIONS]
    )


# -- findings -----------------------------------------------------------------------------


@dataclass
class _Group:
    """The hits of one problem, gathered across every check run and control citing it."""

    problem: Problem
    statements: dict[str, str] = field(default_factory=dict)  # check → what it tested
    controls: set[str] = field(default_factory=set)
    supporting: set[str] = field(default_factory=set)
    receipts: set[str] = field(default_factory=set)
    chains: set[str] = field(default_factory=set)
    count: int = 0
    per_receipt: bool = True  # every hit counts receipts (not chains or days)

    def add(self, result: CheckResult, hit: Hit, ref: str, *, deciding: bool) -> None:
        self.statements[result.check] = result.statement
        (self.controls if deciding else self.supporting).add(ref)
        self.receipts.update(hit.receipts)
        self.chains.update(hit.chains)
        self.count = max(self.count, hit.count)
        self.per_receipt &= len(hit.receipts) == min(hit.count, MAX_LISTED)

    @property
    def affected(self) -> int:
        """Receipts (or chains, days) affected: exact while the ids listed are complete."""
        return max(self.count, len(self.receipts)) if self.per_receipt else self.count

    def key(self) -> str:
        """Stable across periods: the problem, the checks and the controls, not receipts."""
        identity = [
            self.problem.code,
            sorted(self.statements),
            sorted(self.controls | self.supporting),
        ]
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def _groups(frameworks: Sequence[FrameworkAssessment], *, detective: bool) -> dict[str, _Group]:
    """Failures (or a detective check's exceptions) grouped by their problem."""
    groups: dict[str, _Group] = {}
    for assessment in frameworks:
        for control in assessment.controls:
            ref = f"{assessment.framework.id}:{control.control.id}"
            for result, cited in zip(control.results, control.control.checks, strict=True):
                if detective != result.detective or (
                    result.status is not Status.FAIL and not result.exceptions
                ):
                    continue
                for hit in result.hits:
                    group = groups.setdefault(hit.problem, _Group(problem_of(hit.problem)))
                    group.add(result, hit, ref, deciding=cited.deciding)
    return groups


def _values(frame: pd.DataFrame, column: str) -> set[str]:
    return {str(v) for v in frame[column].astype(object).dropna().unique()}


@dataclass(frozen=True)
class _Attribution:
    """What a finding's agents and principals are read from: the rows by receipt id, the
    chains' issuers, and which problems each agent's own assessment found."""

    rows: pd.DataFrame  # every receipt row, indexed by receipt id
    chain_issuers: dict[str, str]
    problems_by_agent: dict[str, set[str]]

    def of(self, group: _Group) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(agents, principals): of the receipts it cites, else of its chains' rows; a
        problem counted in days or producers (no receipt to cite) names the agents whose
        own assessment found it."""
        cited = self.rows.loc[self.rows.index.intersection(sorted(group.receipts))]
        if cited.empty and group.chains:
            cited = self.rows[self.rows["chain_id"].astype(str).isin(group.chains)]
        agents = _values(cited, "issuer") | {
            self.chain_issuers[c] for c in group.chains if c in self.chain_issuers
        }
        if not group.receipts and not group.chains:
            code = group.problem.code
            agents = {a for a, found in self.problems_by_agent.items() if code in found}
        return tuple(sorted(agents)), tuple(sorted(_values(cited, "principal")))


def _attribution_of(
    evidence: Evidence, by_agent: Mapping[str, Sequence[FrameworkAssessment]]
) -> _Attribution:
    chains = evidence.chains
    kinds = (
        chains["source_kind"] if "source_kind" in chains else [SOURCE_AGENT_RECEIPTS] * len(chains)
    )
    # A recorder session's issuer is the recorder's name, not an agent: the agents of a
    # finding about it are those its decisions were correlated to (read from its rows).
    issuers = {
        str(c): str(i)
        for c, i, kind in zip(chains["chain_id"], chains["issuer"], kinds, strict=True)
        if isinstance(i, str) and kind == SOURCE_AGENT_RECEIPTS
    }
    found = {
        agent: {
            hit.problem
            for a in assessments
            for c in a.controls
            for r in c.results
            if r.status is Status.FAIL or r.exceptions
            for hit in r.hits
        }
        for agent, assessments in by_agent.items()
    }
    return _Attribution(evidence.receipts.set_index("receipt_id", drop=False), issuers, found)


def _finding(group: _Group, attribution: _Attribution, kind: str) -> Finding:
    problem = group.problem
    found_by = "; ".join(f"{check}: {text}" for check, text in sorted(group.statements.items()))
    verb = "Detected for review (an exception to disposition, not a control failure)"
    rows = attribution.rows
    cited = rows.loc[rows.index.intersection(sorted(group.receipts))]
    agents, principals = attribution.of(group)
    controls = group.controls | group.supporting
    return Finding(
        id="",
        key=group.key(),
        kind=kind,
        severity=problem.severity,
        title=problem.headline(group.affected),
        problem=problem.code,
        checks=tuple(sorted(group.statements)),
        statement=(
            f"{verb} by {found_by}."
            if kind == "exception"
            else f"Evidence does not support: {found_by}."
        ),
        remediation=problem.remediation,
        controls=tuple(sorted(group.controls)),
        supporting=tuple(sorted(group.supporting - group.controls)),
        chains=tuple(sorted(group.chains)),
        receipts=_refs(cited, FINDING_RECEIPTS),
        receipt_ids=tuple(sorted(group.receipts)),
        affected=group.affected,
        unit=problem.unit,
        agents=agents,
        principals=principals,
        frameworks=tuple(sorted({ref.partition(":")[0] for ref in controls})),
    )


def _findings(
    evidence: Evidence,
    frameworks: Sequence[FrameworkAssessment],
    by_agent: Mapping[str, Sequence[FrameworkAssessment]],
) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    """The findings (one per failing condition, whatever number of checks and controls see
    it) and the exceptions detective checks listed, most severe and widest first."""
    attribution = _attribution_of(evidence, by_agent)
    out = []
    for kind, prefix, detective in (("finding", "F", False), ("exception", "E", True)):
        drafts = [
            _finding(g, attribution, kind)
            for g in _groups(frameworks, detective=detective).values()
        ]
        drafts.sort(key=lambda f: (f.severity.rank, -f.affected, f.problem))
        out.append(tuple(replace(f, id=f"{prefix}-{i:03d}") for i, f in enumerate(drafts, start=1)))
    return out[0], out[1]


# -- frameworks ---------------------------------------------------------------------------


class _RowsById:
    """A frame's rows by receipt id, in frame order, as `frame[ids.isin(wanted)]` gives
    them: the ids are hashed once for every control, not once per control (a million
    strings each time)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._ids = pd.Index(frame["receipt_id"])

    def rows(self, wanted: Iterable[str]) -> pd.DataFrame:
        positions = self._ids.get_indexer_for(list(wanted))
        return self._frame.iloc[np.unique(positions[positions >= 0])]


def _control_section(
    framework_id: str,
    control: ControlAssessment,
    findings: Sequence[Finding],
    in_scope: _RowsById,
    recent: tuple[ReceiptRef, ...],
) -> ControlSection:
    ref = f"{framework_id}:{control.control.id}"
    related = tuple(f.id for f in findings if ref in f.controls or ref in f.supporting)
    failing_ids = {
        rid for r in control.deciding if r.status is Status.FAIL for rid in r.failing_receipts
    }
    sample = _refs(in_scope.rows(failing_ids), SAMPLE_EVIDENCE) if failing_ids else recent
    return ControlSection(
        id=control.control.id,
        anchor=anchor(framework_id, control.control.id),
        title=control.control.title,
        status=control.status.value,
        requirement=control.control.requirement,
        quote=control.control.quote,
        section=control.control.section,
        applies_to=control.control.applies_to,
        checks=tuple(
            CheckFigure(
                r.check,
                r.status.value,
                r.statement,
                r.population,
                r.failing,
                r.untrusted,
                r.metrics,
                r.params,
                role=cited.role,
                reason=None if r.reason is None else r.reason.value,
                detective=r.detective,
                exceptions=r.exceptions,
            )
            for r, cited in zip(control.results, control.control.checks, strict=True)
        ),
        findings=related,
        sample_evidence=sample if control.control.checks else (),
        manual_evidence=control.control.manual_evidence,
        crosswalks=control.control.crosswalks,
        reason=control.reason,
    )


def _recent_trusted(evidence: Evidence) -> tuple[ReceiptRef, ...]:
    """The latest trusted receipts: the sample cited under controls with nothing failing."""
    scope = evidence.in_scope
    trusted = scope[scope["trusted"]]
    latest = (
        trusted.nlargest(SAMPLE_EVIDENCE, "timestamp", keep="first") if len(trusted) else trusted
    )
    return _refs(latest, SAMPLE_EVIDENCE)


def _framework_sections(
    frameworks: Sequence[FrameworkAssessment], findings: Sequence[Finding], evidence: Evidence
) -> tuple[FrameworkSection, ...]:
    recent = _recent_trusted(evidence)
    in_scope = _RowsById(evidence.in_scope)
    return tuple(
        FrameworkSection(
            id=a.framework.id,
            title=a.framework.title,
            version=a.framework.version,
            source=a.framework.source,
            retrieved=a.framework.retrieved,
            amendments=a.framework.amendments,
            license=a.framework.license,
            mapping_sha256=a.framework.sha256,
            counts=a.counts,
            manual=a.manual,
            controls=tuple(
                _control_section(a.framework.id, c, findings, in_scope, recent) for c in a.controls
            ),
            unassessed=_unassessed(a, evidence),
        )
        for a in frameworks
    )


def _unassessed(assessment: FrameworkAssessment, evidence: Evidence) -> str | None:
    """Why no automated check of the framework applied, if none did."""
    results = [r for c in assessment.controls for r in c.results]
    if any(r.status is not Status.NOT_APPLICABLE for r in results):
        return None
    if evidence.in_scope.empty:
        return (
            "No automated check applied: no receipt is in the period and scope of this "
            "report. No control of this framework is supported by evidence."
        )
    return "No automated check of this framework had anything in scope to judge."


# -- attribution, limitations, citations --------------------------------------------------


def _attribution(evidence: Evidence) -> tuple[CountRow, ...]:
    scope = evidence.in_scope
    rows = []
    for agent, group in scope.groupby(scope["issuer"].astype(str), sort=True):
        principals = group["principal"].astype(str).value_counts()
        rows.append(
            CountRow(
                str(agent), len(group), {str(k): int(v) for k, v in sorted(principals.items())}
            )
        )
    return tuple(rows)


def _delegations(evidence: Evidence) -> tuple[dict[str, Any], ...]:
    scope = evidence.in_scope
    delegated = scope[scope["delegation_parent_chain"].notna()].sort_values(
        ["chain_id", "sequence"]
    )
    return tuple(
        {
            "chain_id": str(row["chain_id"]),
            "issuer": row["issuer"],
            "parent_chain_id": row["delegation_parent_chain"],
            "parent_receipt_id": row["delegation_parent_receipt"],
            "delegator": row["delegator"],
            "verified": "DELEGATION_UNVERIFIABLE" not in str(row["failure_codes"]),
        }
        for _, row in delegated.head(LIST_LIMIT).iterrows()
    )


def _tally(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(values.astype(str).value_counts().items())}


def _by_verdict(frame: pd.DataFrame, column: str, limit: int | None = None) -> tuple[CountRow, ...]:
    """Decisions per value of `column`, most first, with how many of each verdict."""
    rows = []
    for label, group in frame.groupby(frame[column].astype(str), sort=True, observed=True):
        verdicts = group["verdict"].astype(str).value_counts()
        rows.append(
            CountRow(str(label), len(group), {str(k): int(v) for k, v in sorted(verdicts.items())})
        )
    rows.sort(key=lambda r: (-r.count, r.label))
    return tuple(rows[:limit])


def _egress(evidence: Evidence) -> EgressSection:
    """The firewall's side of the period: its decisions about the agents' requests."""
    decisions = evidence.egress
    if decisions.empty:
        return EgressSection()
    correlated = joined(decisions)  # as the per-agent view counts them
    stopped = decisions[_stopped(decisions)]
    uncorrelated = decisions[decisions["agent_session"].isna()]
    return EgressSection(
        decisions=len(decisions),
        trusted=int(decisions["trusted"].astype(bool).sum()),
        recorders=_by_verdict(decisions[decisions["recorder"].notna()], "recorder"),
        by_agent=_by_verdict(correlated, "issuer"),
        by_channel=_counts(decisions["channel"]),
        by_verdict=_counts(decisions["verdict"]),
        destinations=_by_verdict(decisions[decisions["destination"].notna()], "destination", 15),
        stopped=_refs(stopped, LIST_LIMIT),
        stopped_total=len(stopped),
        uncorrelated=_refs(uncorrelated, LIST_LIMIT),
        uncorrelated_total=len(uncorrelated),
        correlation={
            str(k): int(v)
            for k, v in sorted(decisions["correlation"].astype(str).value_counts().items())
        },
    )


def _egress_limitations(evidence: Evidence) -> list[str]:
    decisions = evidence.egress
    if decisions.empty:
        return [
            "No egress records (Pipelock flight recorders) were given: what the agents sent "
            "over the network is not evidenced, and the egress checks cannot decide."
        ]
    found = [
        "Egress records show the requests that passed through the firewall: traffic that "
        "bypassed it is not recorded. The firewall's actor and principal are joined to "
        "agents by the configured correlation, not by anything the agents signed."
    ]
    unjoined = int(decisions["agent_session"].isna().sum())
    if unjoined:
        found.append(
            f"{wording.count(unjoined, 'egress decision')} joined no agent session "
            f"(uncorrelated): {'it is' if unjoined == 1 else 'they are'} "
            "listed under Egress, not in any session timeline."
        )
    return found


def _limitations(evidence: Evidence, frameworks: Sequence[FrameworkAssessment]) -> tuple[str, ...]:
    """The general limits of receipts, then this run's own scope limitations."""
    extra = []
    scope = evidence.in_scope
    untrusted = scope[~scope["trusted"].astype(bool)]
    if len(untrusted):
        chains = untrusted["chain_id"].astype(str).nunique()
        extra.append(
            f"{wording.count(len(untrusted), 'receipt')} in {wording.count(chains, 'chain')} that "
            "failed verification are "
            "left out of every check's population: they are neither evidence for nor against "
            "any control, and are reported once, under Evidence integrity (chain_integrity)."
        )
    extra.extend(_egress_limitations(evidence))
    if evidence.grants is None:
        extra.append(
            "No grants file was given: grant references were checked for presence, not resolved."
        )
    chains = evidence.chains_in_scope
    unwitnessed = int(
        (chains["authentic"] & ~chains["chain_id"].isin(set(evidence.witnesses))).sum()
    )
    if unwitnessed:
        extra.append(
            f"{wording.count(unwitnessed, 'verified chain')} "
            f"{wording.plural(unwitnessed, 'has', 'have')} no external witness: their tails cannot "
            "be shown complete (the protocol makes witnesses optional)."
        )
    unconfigured = sorted(
        {
            r.check
            for a in frameworks
            for c in a.controls
            for r in c.results
            if r.reason is Reason.NOT_CONFIGURED
        }
    )
    if unconfigured:
        extra.append(
            "Deployment parameters were not configured for "
            + ", ".join(unconfigured)
            + ": those checks are INDETERMINATE (see the deployment section of report.yaml)."
        )
    return LIMITATIONS + tuple(extra)


def _cited(
    findings: Iterable[Finding], sections: Iterable[FrameworkSection]
) -> tuple[ReceiptRef, ...]:
    refs: dict[str, ReceiptRef] = {}
    for finding in findings:
        for ref in finding.receipts:
            refs.setdefault(ref.receipt_id, ref)
    for section in sections:
        for control in section.controls:
            for ref in control.sample_evidence:
                refs.setdefault(ref.receipt_id, ref)
    return tuple(refs[k] for k in sorted(refs))


def _reference_date(model: ReportModel) -> date | None:
    """The day dispositions are judged overdue on: the generation (signing) date; for a
    model built without one, the end of the period, else the latest receipt's day."""
    for moment in (model.signature.signing_time, model.scope.period_until, model.as_of):
        instant = utc_instant(moment)
        if instant is not None:
            return instant.date()
    return None


def _against_last_period(model: ReportModel, options: ReportOptions) -> ReportModel:
    """The comparison with the previous report, the trend, the dispositions (this
    period's file, else carried from the previous report) and the request list."""
    previous, trend = compare(model, options.previous)
    carried = options.previous if isinstance(options.previous, PreviousReport) else None
    as_of = _reference_date(model)
    dispositions = apply_dispositions(
        (*model.findings, *model.exceptions),
        options.dispositions,
        carried=carried.dispositions if carried else (),
        carried_from=carried.report_id if carried else None,
        as_of=as_of,
    )
    return replace(
        model,
        previous=previous,
        trend=trend,
        dispositions=dispositions,
        dispositions_as_of=as_of.isoformat() if as_of and dispositions else None,
        evidence_requests=evidence_requests(model.frameworks, options.evidence_owners),
    )


def build_report(inputs: ReportInputs, options: ReportOptions | None = None) -> ReportModel:
    settings = options or ReportOptions()
    evidence = inputs.evidence
    findings, exceptions = _findings(evidence, inputs.assessments, inputs.by_agent)
    sections = _framework_sections(inputs.assessments, findings + exceptions, evidence)
    posture, reason = _posture(evidence, inputs.assessments)
    latest = evidence.in_scope["timestamp"].max() if len(evidence.in_scope) else None
    model = ReportModel(
        schema=REPORT_SCHEMA,
        report_id=settings.report_id,
        organisation=settings.organisation,
        tool_version=__version__,
        signature=settings.signature,
        as_of=_iso(latest),
        posture=posture,
        posture_reason=reason,
        figures=_figures(evidence, findings),
        scope=_scope(inputs, settings.settings),
        integrity=_integrity(evidence),
        input_problems=tuple(p.to_json() for p in evidence.verification.input_problems),
        activity=_activity(evidence),
        sessions=_sessions(evidence),
        frameworks=sections,
        findings=findings,
        exceptions=exceptions,
        attribution=_attribution(evidence),
        delegations=_delegations(evidence),
        limitations=_limitations(evidence, inputs.assessments),
        cited_receipts=_cited(findings + exceptions, sections),
        verification_howto=HOWTO,
        egress=_egress(evidence),
        agents=agent_section(evidence, inputs.assessments, findings + exceptions, inputs.by_agent),
    )
    return _against_last_period(model, settings)
