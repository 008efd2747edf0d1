"""Join Pipelock's egress decisions to the agent sessions they belong to.

An egress firewall names who sent a request by its own labels: `actor` (the agent, as
Pipelock was told to call it) and `principal` (the user). The `correlation:` section of
the configuration maps those to the Agent Receipts' issuer ids and principal ids
(`CorrelationRules`). With it, each Pipelock decision joins one agent session:

1. its actor must be mapped to an issuer (else `actor_not_mapped`);
2. the candidates are that issuer's sessions whose time span (first to last receipt,
   widened by `tolerance_seconds` on both sides) contains the decision's signed
   timestamp; a mapped principal keeps only the sessions of that principal;
3. where both sides carry a session id (the decision's `session_id`, the agent's
   `issuer.session_id`), only a session with the same id may join (a session keyed by
   its chain, without an id, only when no session has it);
4. exactly one candidate joins (`session_id` when the ids agree, else `time`); none is
   `no_session`, several are `ambiguous`.

A session is the issuer's `session_id`, else its chain id, and spans the receipts whose
time is authentic (signed by a trusted key). Nothing is dropped: a decision that cannot
be joined keeps its row, with the reason in `correlation` and no `agent_session`, and
the report shows it as uncorrelated. The recorder's own session records (open,
heartbeat, close) are not an agent's requests and join nothing (`recorder_control`).

Columns written on the frame: `agent_session` (every row: an agent row's own session;
a joined decision's session), `correlation` (Pipelock rows: how, or why not), and, on
Pipelock rows, `issuer` and `principal`: the mapped agent and principal (the joined
session's principal when the principal is not mapped), so scope patterns on agents and
principals apply to both kinds alike.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["JOINED", "CorrelationRules", "correlate", "joined"]

SOURCE_AGENT_RECEIPTS = "agent_receipts"
SOURCE_PIPELOCK = "pipelock"
JOINED = ("session_id", "time")  # the `correlation` values of a joined decision
_CONTROL_CHANNEL = "control"


@dataclass(frozen=True)
class CorrelationRules:
    """The `correlation:` section: Pipelock's labels → the receipts' ids."""

    actors: Mapping[str, str] = field(default_factory=dict)  # actor -> issuer id
    principals: Mapping[str, str] = field(default_factory=dict)  # principal -> principal id
    tolerance_seconds: int = 60

    def to_json(self) -> dict[str, Any]:
        return {
            "actors": dict(sorted(self.actors.items())),
            "principals": dict(sorted(self.principals.items())),
            "tolerance_seconds": self.tolerance_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CorrelationRules:
        return cls(
            actors={str(k): str(v) for k, v in dict(data.get("actors") or {}).items()},
            principals={str(k): str(v) for k, v in dict(data.get("principals") or {}).items()},
            tolerance_seconds=int(data.get("tolerance_seconds", 60)),
        )


@dataclass(frozen=True)
class _Session:
    key: str
    session_id: str | None  # the issuer's session id; None for a session keyed by chain
    start: pd.Timestamp
    end: pd.Timestamp
    principals: frozenset[str]


class _Sessions:
    """One issuer's sessions, sorted by start, for finding those spanning a time."""

    def __init__(self, sessions: list[_Session], tolerance: pd.Timedelta) -> None:
        self.sessions = sorted(sessions, key=lambda s: (s.start, s.key))
        self.starts = [s.start - tolerance for s in self.sessions]
        self.tolerance = tolerance
        ends: list[pd.Timestamp] = []
        for session in self.sessions:  # the latest end among the sessions so far
            ends.append(max(ends[-1], session.end) if ends else session.end)
        self.latest_end = ends

    def spanning(self, moment: pd.Timestamp) -> list[_Session]:
        found = []
        index = bisect.bisect_right(self.starts, moment) - 1
        while index >= 0 and self.latest_end[index] + self.tolerance >= moment:
            if self.sessions[index].end + self.tolerance >= moment:
                found.append(self.sessions[index])
            index -= 1
        return found


def _own_session(frame: pd.DataFrame) -> pd.Series:
    """An agent row's session: its issuer's session id, else its chain."""
    sessions = frame["session_id"].astype(object)
    return sessions.where(sessions.notna(), frame["chain_id"].astype(object))


def _agent_sessions(
    frame: pd.DataFrame, issuers: set[str], tolerance: pd.Timedelta
) -> dict[str, _Sessions]:
    agents = frame[
        (frame["source_kind"] == SOURCE_AGENT_RECEIPTS)
        & frame["time_authentic"]
        & frame["issuer"].isin(issuers)
    ]
    if agents.empty:
        return {}
    spans = (
        pd.DataFrame(
            {
                "issuer": agents["issuer"].astype(str),
                "key": _own_session(agents).astype(str),
                "session_id": agents["session_id"].astype(object),
                "timestamp": agents["timestamp"],
                "principal": agents["principal"].astype(object),
            }
        )
        .groupby(["issuer", "key"], sort=True)
        .agg(
            start=("timestamp", "min"),
            end=("timestamp", "max"),
            session_id=("session_id", "first"),
            principals=("principal", lambda p: frozenset(str(v) for v in p.dropna())),
        )
    )
    by_issuer: dict[str, list[_Session]] = defaultdict(list)
    for (issuer, key), row in spans.iterrows():
        session_id = row["session_id"] if isinstance(row["session_id"], str) else None
        by_issuer[str(issuer)].append(
            _Session(str(key), session_id, row["start"], row["end"], row["principals"])
        )
    return {issuer: _Sessions(found, tolerance) for issuer, found in by_issuer.items()}


def _candidates(
    sessions: _Sessions | None,
    moment: Any,
    principal: str | None,
    session_id: str | None,
) -> list[_Session]:
    if sessions is None or moment is None or pd.isna(moment):
        return []
    found = sessions.spanning(moment)
    if principal is not None:
        found = [s for s in found if not s.principals or principal in s.principals]
    if session_id is not None:
        same = [s for s in found if s.session_id == session_id]
        found = same or [s for s in found if s.session_id is None]
    return found


def _join(
    row: Mapping[str, Any], rules: CorrelationRules, sessions: Mapping[str, _Sessions]
) -> tuple[str | None, str | None, str | None, str]:
    """(issuer, principal, agent session, how) for one Pipelock decision."""
    if row["channel"] == _CONTROL_CHANNEL:
        return None, None, None, "recorder_control"
    issuer = rules.actors.get(_text(row["actor"]) or "")
    principal = rules.principals.get(_text(row["egress_principal"]) or "")
    if issuer is None:
        return None, principal, None, "actor_not_mapped"
    session_id = _text(row["session_id"])
    found = _candidates(sessions.get(issuer), row["timestamp"], principal, session_id)
    if len(found) != 1:
        return issuer, principal, None, "ambiguous" if found else "no_session"
    joined = found[0]
    if principal is None and len(joined.principals) == 1:
        principal = next(iter(joined.principals))
    how = "session_id" if session_id is not None and joined.session_id == session_id else "time"
    return issuer, principal, joined.key, how


def joined(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions that joined an agent session: those an agent's counts include (an
    uncorrelated decision, even of a mapped actor, counts for no agent)."""
    return decisions[decisions["agent_session"].notna() & decisions["issuer"].notna()]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def correlate(frame: pd.DataFrame, rules: CorrelationRules | None) -> None:
    """Write `agent_session`, `correlation` and the Pipelock rows' `issuer` and
    `principal` on `frame` (see the module docstring). Without rules nothing joins."""
    rules = rules or CorrelationRules()
    agent = (frame["source_kind"] == SOURCE_AGENT_RECEIPTS).to_numpy()
    agent_session = _own_session(frame).where(agent, None).astype(object)
    how = pd.Series(None, index=frame.index, dtype=object)
    egress = frame[~agent]
    if not egress.empty:
        tolerance = pd.Timedelta(seconds=rules.tolerance_seconds)
        sessions = _agent_sessions(frame, set(rules.actors.values()), tolerance)
        columns = ["channel", "actor", "egress_principal", "session_id", "timestamp"]
        joins = [_join(row, rules, sessions) for row in egress[columns].to_dict("records")]
        issuers, principals, keys, reasons = (list(part) for part in zip(*joins, strict=True))
        agent_session.loc[egress.index] = keys
        how.loc[egress.index] = reasons
        _set_text(frame, "issuer", egress.index, issuers)
        _set_text(frame, "principal", egress.index, principals)
    frame["agent_session"] = agent_session
    frame["correlation"] = how.astype("category")


def _set_text(frame: pd.DataFrame, column: str, index: pd.Index, values: list[str | None]) -> None:
    """Set values of a categorical column at `index`, adding categories as needed."""
    series = frame[column].astype(object)
    series.loc[index] = values
    frame[column] = series.astype("category")
