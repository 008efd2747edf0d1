"""Egress checks: what the agents sent over the network, as their egress firewall decided it.

The population is Pipelock's decisions about the agents' requests (`Evidence.egress`;
its own session records left out), trusted only when the receipt and its recorder
session verified under a trusted key. Decisions carry the agent they were correlated to
(`issuer`) and its session (`agent_session`, `reporting.evidence.correlation`).

* `egress_instrumented`: the agents that act over the network have their egress
  recorded at all (no records: INDETERMINATE, not instrumented);
* `exfiltration_prevented`: every request in which the firewall's DLP found sensitive
  data was blocked or stripped;
* `egress_allowlist`: the destinations and MCP tools reached are on the deployment's
  allowlist (no shipped allowlist: INDETERMINATE, not configured);
* `egress_writes_backed`: every write the firewall let out matches an authorised action
  in the agent's own receipts of the same session. Only the two channels together show
  a request the agent never recorded, or made without authority.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Hit, Problem, Status, Verdict, check
from reporting.controls.checks.rules import (
    GLOBS,
    entry_codes,
    ids,
    matches,
    per_value,
    undecided,
    verdict,
)
from reporting.controls.vocabulary import Reason, Severity
from reporting.evidence.frame import Evidence

__all__ = ["NETWORK_CHANNELS"]

# The channels of agent actions that cross the network (`frame._CHANNELS`).
NETWORK_CHANNELS = ["api", "financial", "communication", "mcp", "browser", "network"]
_WORDS = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
# The grounded-principal tier's verdicts: the receipt is authentic, its authority is not.
_UNGROUNDED = ("UNGROUNDED_PRINCIPAL", "PRINCIPAL_GRANT_MISMATCH")


def _no_decisions(evidence: Evidence, statement: str, **metrics: Any) -> Verdict:
    """No egress decision in scope: nothing in scope at all is NOT_APPLICABLE; agents
    acting without any egress record leave the check undecided, not instrumented."""
    if evidence.in_scope.empty:
        return Verdict(status=Status.NOT_APPLICABLE, statement=statement, population=0)
    return undecided(statement, Reason.NOT_INSTRUMENTED, population=0, **metrics)


@check(
    title="Egress is instrumented",
    description="The agents that act over the network (API, payment, message, MCP, browser "
    "actions in their receipts) have their egress recorded by a firewall whose signed "
    "decisions verify (Pipelock). Without any such record, protection at the system "
    "boundary cannot be evidenced: the check cannot decide (not instrumented), and neither "
    "can it for an agent whose requests the firewall never saw.",
    problem=Problem(
        "egress_not_instrumented",
        "{n} [agent acts|agents act] over the network without verified egress records",
        Severity.MEDIUM,
        "Route these agents' egress through a firewall that signs its decisions (Pipelock), "
        "and give its flight recorder and keys to the report (and a correlation section "
        "mapping its actors to the agents).",
    ),
    channels=GLOBS | {"default": NETWORK_CHANNELS},
)
def egress_instrumented(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = "every agent acting over the network has its egress recorded by a verified firewall"
    trusted_agents = evidence.trusted
    networked = trusted_agents[matches(trusted_agents["channel"], params["channels"])]
    agents = sorted(set(networked["issuer"].dropna().astype(str)))
    decisions = evidence.egress
    if decisions.empty:
        return _no_decisions(evidence, statement, networked_agents=len(agents))
    trusted = evidence.egress_trusted
    if trusted.empty:
        return undecided(
            statement, Reason.NO_TRUSTED_EVIDENCE, population=0, untrusted=len(decisions)
        )
    covered = set(trusted["issuer"].dropna().astype(str))
    missing = [agent for agent in agents if agent not in covered]
    metrics: dict[str, Any] = {
        "decisions": len(trusted),
        "networked_agents": len(agents),
        "agents_without_egress_records": len(missing),
        "uncorrelated_decisions": int(trusted["agent_session"].isna().sum()),
    }
    if missing:
        rows = networked[networked["issuer"].astype(str).isin(missing)]
        found = Hit("", len(missing), (), ids(rows["chain_id"].astype(str)))
        return undecided(
            statement,
            Reason.NOT_INSTRUMENTED,
            population=len(trusted),
            untrusted=len(decisions) - len(trusted),
            found=(found,),
            **metrics,
        )
    return Verdict(
        status=Status.PASS,
        statement=statement,
        population=len(trusted),
        untrusted=len(decisions) - len(trusted),
        metrics=metrics,
    )


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(values.astype(str).value_counts().items())}


@check(
    title="Sensitive data leaving is stopped",
    description="Every request in which the egress firewall's data-loss prevention found "
    "sensitive data (a secret, credentials, personal or financial data) was blocked, or "
    "stripped of it, before it left: none was let through. The stopped ones are evidence "
    "that the control works.",
    problem=Problem(
        "sensitive_data_let_out",
        "{n} [request|requests] carrying sensitive data [was|were] let through the egress firewall",
        Severity.HIGH,
        "Treat the data as disclosed (rotate the secrets, notify as required), and make the "
        "firewall's policy block or strip what its DLP finds.",
    ),
    stopping=_WORDS | {"default": ["block", "strip"]},
)
def exfiltration_prevented(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    stopping = params["stopping"]
    statement = (
        f"every request in which DLP found sensitive data was stopped ({', '.join(stopping)})"
    )
    decisions = evidence.egress
    if decisions.empty:
        return _no_decisions(evidence, statement)
    hit = decisions["dlp"].astype(bool)
    let_out = hit & ~decisions["verdict"].astype(str).isin(stopping)
    trusted_hits = decisions[hit & decisions["trusted"].astype(bool)]
    return verdict(
        statement,
        decisions,
        let_out,
        dlp_hits=len(trusted_hits),
        by_verdict=_counts(trusted_hits["verdict"]),
        by_pattern=_counts(trusted_hits["pattern"].dropna()),
    )


_EGRESS_INVENTORY = {
    "type": "array",
    "minItems": 1,
    "description": "per producer (issuer glob): the destinations (host globs) its egress "
    "may reach and the MCP tools (globs) it may call; a kind left out is not checked",
    "items": {
        "type": "object",
        "required": ["issuer"],
        "additionalProperties": False,
        "properties": {"issuer": {"type": "string", "minLength": 1}, "destinations": GLOBS}
        | {"mcp_tools": GLOBS},
    },
}
# Which allowlist a decision's destination is checked against, by its channel.
_ALLOWLIST_OF = {"http": "destinations", "websocket": "destinations", "mcp": "mcp_tools"}


@check(
    title="Egress reaches only allowlisted destinations and tools",
    description="Every destination (host) an agent's requests reached through the egress "
    "firewall, and every MCP tool it called, is on the deployment's allowlist for that "
    "agent; requests the firewall blocked or redirected reached nothing and are not counted. "
    "There is no "
    "shipped allowlist: until the deployment lists one, the check cannot decide.",
    problem=Problem(
        "destination_not_allowlisted",
        "{n} [request|requests] reached a destination or MCP tool outside the allowlist",
        Severity.HIGH,
        "Review the unlisted destinations and tools: block them at the firewall, or approve "
        "them and add them to the deployment's inventory.",
    ),
    also=(
        Problem(
            "egress_producer_not_listed",
            "{n} egress [request comes|requests come] from agents missing from the allowlist",
            Severity.HIGH,
            "Identify the unlisted agents (and map the firewall's actors to them); stop them "
            "or add them to the inventory.",
        ),
    ),
    deployment=("producers",),
    producers=_EGRESS_INVENTORY,
    unused=_WORDS | {"default": ["block", "redirect"]},
)
def egress_allowlist(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = "every destination and MCP tool the agents' egress reached is on the allowlist"
    decisions = evidence.egress
    if decisions.empty:
        return _no_decisions(evidence, statement)
    reached = decisions[
        ~decisions["verdict"].astype(str).isin(params["unused"]) & decisions["destination"].notna()
    ]
    entries = params["producers"]
    entry, codes = entry_codes(reached, entries, "egress_producer_not_listed")
    unlisted: dict[str, set[str]] = {}
    for position, allowed in enumerate(entries):
        for channel, kind in _ALLOWLIST_OF.items():
            if kind not in allowed:
                continue
            rows = reached[(entry == position) & (reached["channel"].astype(str) == channel)]
            values = rows["destination"].astype(str)
            outside = ~per_value(values, _allowed(allowed[kind]))
            codes[outside[outside].index] = ""
            unlisted.setdefault(kind, set()).update(values[outside])
    return verdict(
        statement,
        reached,
        codes,
        unlisted={k: sorted(v) for k, v in sorted(unlisted.items()) if v},
    )


def _allowed(patterns: Sequence[str]) -> Callable[[str], bool]:
    def allowed(value: str) -> bool:
        return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)

    return allowed


# -- the cross-channel check ---------------------------------------------------------------


def _authorised(rows: pd.DataFrame) -> pd.Series:
    """Agent receipts acting on authority: an authorization valid at the action's time (as
    the receipt states it) that the verifier did not find ungrounded (with --grants)."""
    times = rows["timestamp"]
    issued, expires = rows["granted_at"], rows["expires_at"]
    valid = (issued.isna() | (issued <= times)) & (expires.isna() | (times < expires))
    codes = rows["failure_codes"].astype(str)
    grounded = ~per_value(codes, lambda text: any(c in text.split() for c in _UNGROUNDED))
    return rows["has_authorization"].astype(bool) & valid & grounded


def _same_system(host: str, system: str) -> bool:
    """A URL's host names the receipt's target system: the same, a subdomain, or a label."""
    host, system = host.lower(), system.lower()
    return host == system or host.endswith("." + system) or system in host.split(".")


def _same_target(row: Any) -> bool:
    """Whether an agent action (`system`, `resource`, `tool`) is the request (`destination`,
    `target`): an MCP call names the tool; a URL names the system and holds the resource."""
    if row.channel == "mcp":
        tool = row.tool if isinstance(row.tool, str) else ""
        return bool(tool) and (row.destination == tool or row.destination.endswith("." + tool))
    system = row.system if isinstance(row.system, str) else ""
    resource = (row.resource if isinstance(row.resource, str) else "").strip("/")
    if not system or not _same_system(row.destination, system):
        return False
    return not resource or resource in row.target


def _backed(population: pd.DataFrame, actions: pd.DataFrame, window: pd.Timedelta) -> pd.Series:
    """Per decision: whether an authorised agent action of its session, within the window,
    is the same request."""
    if population.empty or actions.empty:
        return pd.Series(False, index=population.index)
    left = pd.DataFrame(
        {
            "decision": population.index,
            "session": population["agent_session"].astype(object).to_numpy(),
            "at": population["timestamp"].to_numpy(),
            "channel": population["channel"].astype(str).to_numpy(),
            "destination": population["destination"].astype(str).to_numpy(),
            "target": population["target_resource"].astype(str).to_numpy(),
        }
    )
    right = pd.DataFrame(
        {
            "session": actions["agent_session"].astype(object).to_numpy(),
            "acted": actions["timestamp"].to_numpy(),
            "system": actions["target_system"].astype(object).to_numpy(),
            "resource": actions["target_resource"].astype(object).to_numpy(),
            "tool": actions["tool_name"].astype(object).to_numpy(),
        }
    )
    pairs = left.merge(right, on="session")
    pairs = pairs[(pairs["acted"] - pairs["at"]).abs() <= window]
    matched = {row.decision for row in pairs.itertuples(index=False) if _same_target(row)}
    return pd.Series(population.index.isin(list(matched)), index=population.index)


@check(
    title="Egress writes are backed by authorised agent actions",
    description="Every request the egress firewall let out that writes (side effect "
    "external_write or financial) matches an action in the agent's own receipts of the same "
    "session: the same target system and resource (or MCP tool), close in time, carrying "
    "an authorization valid when it acted and grounded in its grant. A write no authorised "
    "agent action accounts for was never recorded by the agent, or was made without "
    "authority: only the two channels together show it.",
    problem=Problem(
        "egress_write_unbacked",
        "{n} [write|writes] let out by the egress firewall [has|have] no authorised agent "
        "action behind [it|them]",
        Severity.HIGH,
        "Find what made each request (an unrecorded code path, a tool acting beyond its "
        "grant, an intruder on the host), reverse its effect where needed, and require an "
        "authorised, recorded agent action before such writes leave.",
    ),
    also=(
        Problem(
            "egress_write_uncorrelated",
            "{n} [write|writes] let out by the egress firewall [belongs|belong] to no agent "
            "session",
            Severity.MEDIUM,
            "Map the firewall's actors and principals to the agents (the correlation section) "
            "and have agents pass their session id to the firewall; then review the writes.",
        ),
    ),
    verdicts=_WORDS | {"default": ["allow"]},
    side_effects=_WORDS | {"default": ["external_write", "financial"]},
    window_seconds={"type": "integer", "minimum": 0, "default": 300},
)
def egress_writes_backed(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = (
        "every write the egress firewall let out matches an authorised action of the same "
        "agent session"
    )
    decisions = evidence.egress
    if decisions.empty:
        return _no_decisions(evidence, statement)
    population = decisions[
        decisions["verdict"].astype(str).isin(params["verdicts"])
        & decisions["side_effect_class"].astype(str).isin(params["side_effects"])
    ]
    agents = evidence.agent_receipts
    actions = agents[agents["trusted"].astype(bool)]
    actions = actions[_authorised(actions)]
    window = pd.Timedelta(seconds=params["window_seconds"])
    backed = _backed(population, actions, window)
    uncorrelated = population["agent_session"].isna()
    codes = pd.Series(None, index=population.index, dtype=object)
    codes = codes.mask(~backed, "").mask(uncorrelated, "egress_write_uncorrelated")
    return verdict(
        statement,
        population,
        codes,
        backed=int((backed & population["trusted"].astype(bool)).sum()),
        by_destination=_counts(population.loc[codes.notna(), "destination"].dropna()),
    )
