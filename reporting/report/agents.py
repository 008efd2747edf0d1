"""Who did what: one row per agent (issuer), and each control's status per agent.

An agent's row counts its chains (and how they verified), its receipts, its high-risk and
failed actions, the principals it acted for, the egress decisions joined to its sessions
(by the firewall's verdict) and the findings that list it. Its status per
framework is its own assessment (`reporting.controls.assess.assess_agents`): what a report
narrowed to that agent with `--issuer` says, decided by the checks, never here. The first
`AGENTS_ASSESSED` agents by receipts have one; the rows and the matrix are bounded, the
totals exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pandas as pd

from reporting.controls.assess import FrameworkAssessment
from reporting.evidence.correlation import joined
from reporting.evidence.frame import RISK_RANK, Evidence
from reporting.report.model import (
    AgentMatrixRow,
    AgentRow,
    AgentSection,
    CountRow,
    Finding,
    Severity,
    anchor,
)

__all__ = ["AGENT_ROWS", "PRINCIPALS_PER_AGENT", "agent_section"]

AGENT_ROWS = 200
PRINCIPALS_PER_AGENT = 50


def _chain_counts(evidence: Evidence) -> dict[str, Counter[str]]:
    """Agent → its chains in scope: all, broken, verified but ungrounded."""
    chains = evidence.chains_in_scope
    out: dict[str, Counter[str]] = {}
    for issuer, authentic, valid in zip(
        chains["issuer"], chains["authentic"], chains["valid"], strict=True
    ):
        if not isinstance(issuer, str):
            continue
        counted = out.setdefault(issuer, Counter())
        counted["chains"] += 1
        counted["broken"] += not authentic
        counted["ungrounded"] += bool(authentic and not valid)
    return out


def _activity(scope: pd.DataFrame) -> pd.DataFrame:
    """Per agent: receipts, trusted receipts, high-risk and failed actions (one pass)."""
    frame = pd.DataFrame(
        {
            "agent": scope["issuer"].astype(object),
            "trusted": scope["trusted"].astype(bool),
            "high": scope["risk_rank"].fillna(-1) >= RISK_RANK["high"],
            "failed": scope["outcome"].astype(str) == "failure",
        }
    )
    return frame.groupby("agent", sort=False).agg(
        receipts=("trusted", "size"),
        trusted=("trusted", "sum"),
        high=("high", "sum"),
        failed=("failed", "sum"),
    )


def _egress(evidence: Evidence) -> dict[str, tuple[dict[str, int], int]]:
    """Agent → (its egress decisions by verdict, how many of them are not trusted).

    A decision counts for the agent whose session it joined (`evidence/correlation.py`);
    an uncorrelated one, even of a mapped actor, counts for no agent (the Egress section
    lists it)."""
    decisions = evidence.egress
    if decisions.empty:
        return {}
    out: dict[str, tuple[dict[str, int], int]] = {}
    correlated = joined(decisions)
    for agent, group in correlated.groupby(correlated["issuer"].astype(str), sort=True):
        verdicts = group["verdict"].astype(str).value_counts()
        by_verdict = {str(v): int(n) for v, n in sorted(verdicts.items())}
        out[str(agent)] = (by_verdict, int((~group["trusted"].astype(bool)).sum()))
    return out


def _principals(scope: pd.DataFrame) -> dict[str, list[tuple[str, int]]]:
    """Agent → (principal, receipts), most receipts first."""
    pairs = pd.DataFrame(
        {"agent": scope["issuer"].astype(object), "principal": scope["principal"].astype(object)}
    ).dropna()
    out: dict[str, list[tuple[str, int]]] = {}
    for (agent, principal), n in pairs.value_counts().items():
        out.setdefault(str(agent), []).append((str(principal), int(n)))
    for listed in out.values():
        listed.sort(key=lambda item: (-item[1], item[0]))
    return out


def _row(
    agent: str,
    *,
    activity: pd.Series,
    principals: list[tuple[str, int]],
    chains: Counter[str],
    findings: Sequence[Finding],
    assessments: Sequence[FrameworkAssessment] | None,
    egress: tuple[dict[str, int], int],
) -> AgentRow:
    listed = [f for f in findings if agent in f.agents]
    severities = Counter(f.severity.value for f in listed if f.kind == "finding")
    return AgentRow(
        agent=agent,
        chains=chains["chains"],
        broken_chains=chains["broken"],
        ungrounded_chains=chains["ungrounded"],
        receipts=int(activity["receipts"]),
        trusted_receipts=int(activity["trusted"]),
        high_risk=int(activity["high"]),
        failed=int(activity["failed"]),
        principals=tuple(CountRow(p, n) for p, n in principals[:PRINCIPALS_PER_AGENT]),
        principals_total=len(principals),
        findings=tuple(f.id for f in listed),
        findings_by_severity={s.value: severities.get(s.value, 0) for s in Severity},
        frameworks={a.framework.id: a.counts for a in assessments} if assessments else {},
        egress=egress[0],
        egress_unverified=egress[1],
    )


def _matrix(
    frameworks: Sequence[FrameworkAssessment],
    by_agent: Mapping[str, Sequence[FrameworkAssessment]],
    agents: Sequence[str],
) -> tuple[AgentMatrixRow, ...]:
    statuses: dict[tuple[str, str, str], str] = {
        (agent, a.framework.id, c.control.id): c.status.value
        for agent in agents
        for a in by_agent[agent]
        for c in a.controls
    }
    return tuple(
        AgentMatrixRow(
            framework=a.framework.id,
            control=c.control.id,
            anchor=anchor(a.framework.id, c.control.id),
            title=c.control.title,
            status=c.status.value,
            by_agent=tuple(
                statuses.get((agent, a.framework.id, c.control.id), "") for agent in agents
            ),
        )
        for a in frameworks
        for c in a.controls
    )


def agent_section(
    evidence: Evidence,
    frameworks: Sequence[FrameworkAssessment],
    findings: Sequence[Finding],
    by_agent: Mapping[str, Sequence[FrameworkAssessment]],
) -> AgentSection:
    """The agents in scope, most receipts first (so those with their own assessment, the
    first ones, come first), with what the report found about each."""
    scope = evidence.in_scope
    agents = evidence.agents()
    shown = agents[:AGENT_ROWS]
    activity = _activity(scope)
    principals = _principals(scope)
    chains = _chain_counts(evidence)
    egress = _egress(evidence)
    rows = tuple(
        _row(
            agent,
            activity=activity.loc[agent],
            principals=principals.get(agent, []),
            chains=chains.get(agent, Counter()),
            findings=findings,
            assessments=by_agent.get(agent),
            egress=egress.get(agent, ({}, 0)),
        )
        for agent in shown
    )
    assessed = [agent for agent in shown if agent in by_agent]
    return AgentSection(
        rows=rows,
        total=len(agents),
        assessed=len(assessed),
        matrix=_matrix(frameworks, by_agent, assessed) if assessed else (),
    )
