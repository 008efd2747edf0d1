"""Verified records → the evidence frame: one pandas row per record, plus a chains frame.

One frame holds both kinds of signed record (`source_kind`): the agents' own receipts
(`agent_receipts`) and the egress firewall's decisions (`pipelock`, `egress.py`), each
with the `channel` it travelled (`shell`, `file`, `api`, `mcp`, `browser`... from the
action type; `http`, `mcp`, `websocket` from Pipelock's transport) and the `signer` the
trust store names for the key that signed it (the issuer; the recorder). Pipelock
decisions join the agent sessions they belong to (`correlation.py`).

Receipt rows are extracted while each chain is in memory (in the verifying process), so
the parsed receipts never have to be held all at once. A row is `trusted` only when its
own verdict passed and its whole chain is authentic (after the cross-chain delegation
checks; grounded-principal failures judge authorization, not authenticity): untrusted
rows are findings, never positive evidence. Rows outside the
reporting period stay in the frame (their chains needed them) with `in_scope` False.
Scope is decided the same way for both kinds (`_chains_in_scope`): a recorder session
is a chain.
"""

from __future__ import annotations

import fnmatch
import glob
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from reporting.evidence.correlation import CorrelationRules, correlate
from reporting.evidence.egress import EGRESS_FIELDS, egress_records
from reporting.periods import Period
from reporting.pipelock import SOURCE_PIPELOCK, SOURCE_PIPELOCK_EVIDENCE, ActionEvidence
from reporting.receipts.external import Grant, Witness
from reporting.receipts.results import (
    PLACEABLE_CODES,
    POLICY_CODES,
    SOURCE_AGENT_RECEIPTS,
    ChainResult,
    Code,
    VerificationResult,
)
from reporting.receipts.schema import taxonomy_defaults
from reporting.receipts.verify import VerifiedReceipt
from reporting.scope import Scope

__all__ = ["RISK_RANK", "Evidence", "Period", "build_evidence", "extract_rows"]

RISK_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
ROW_FIELDS = (
    "receipt_id",
    "chain_id",
    "sequence",
    "issuer",
    "agent_name",
    "runtime_agent_id",
    "session_id",
    "principal",
    "principal_type",
    "action_type",
    "domain",
    "risk_level",
    "taxonomy_risk",
    "target_system",
    "target_resource",
    "timestamp",
    "outcome",
    "error",
    "reversible",
    "reversal_of",
    "has_authorization",
    "scopes",
    "granted_at",
    "expires_at",
    "grant_ref",
    "delegation_parent_chain",
    "delegation_parent_receipt",
    "delegator",
    "has_conversation_hash",
    "prompt_preview",
    "has_parameters_hash",
    "has_response_hash",
    "disclosure_mode",
    "trusted_timestamp",
    "idempotency_key",
    "correlation_id",
    "drop_count",
    "model",
    "tool_name",
    "exe_path",
    "has_reasoning_hash",
    "has_state_change",
    "receipt_hash",
    "origin",
    "verified",
    "failure_codes",
    "warning_codes",
    "channel",
)
_CATEGORICAL = (
    "chain_id",
    "issuer",
    "agent_name",
    "runtime_agent_id",
    "session_id",
    "principal",
    "principal_type",
    "action_type",
    "domain",
    "risk_level",
    "taxonomy_risk",
    "target_system",
    "outcome",
    "disclosure_mode",
    "trusted_timestamp",
    "scopes",
    "failure_codes",
    "warning_codes",
    "delegation_parent_chain",
    "delegator",
    "model",
    "tool_name",
    "exe_path",
    "channel",
)
# The egress columns (`egress.EGRESS_FIELDS`): categories, flags, a count, and text.
_EGRESS_FLAGS = ("dlp", "redacted")
_EGRESS_COUNTS = ("payload_redactions",)
_EGRESS_TEXT = ("request_id",)
# Channels of the agents' own actions, by action type (first prefix that matches);
# receipts an MCP proxy signed (they name the tool) are `mcp`.
_CHANNELS = (
    ("system.command.", "shell"),
    ("system.pty.", "shell"),
    ("system.code.", "shell"),
    ("system.browser.", "browser"),
    ("system.", "system"),
    ("filesystem.", "file"),
    ("document.", "document"),
    ("communication.", "communication"),
    ("data.api.", "api"),
    ("data.database.", "database"),
    ("financial.", "financial"),
    ("network.", "network"),
    ("agent.", "control"),
    ("agent_receipts.", "control"),
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TIMESTAMP_CODES = {
    Code.INVALID_TRUSTED_TIMESTAMP: "invalid",
    Code.TRUSTED_TIMESTAMP_UNANCHORED: "unanchored",
}


@dataclass(frozen=True)
class Evidence:
    """Everything a check may look at. Checks read; they never change it.

    `receipts` is the one frame of both kinds (`source_kind`). The views a check takes
    its population from: `in_scope` and `trusted`, the agents' own receipts (every
    Agent Receipts check); `egress` and `egress_trusted`, the firewall's decisions about
    the agents' requests (the recorder's own session records left out); `timeline`,
    both kinds in scope, for session timelines.
    """

    receipts: pd.DataFrame
    chains: pd.DataFrame
    verification: VerificationResult
    period: Period = field(default_factory=Period)
    grants: dict[str, Grant] | None = None
    witnesses: dict[str, Witness] = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)  # the period and patterns the report is about
    correlation: CorrelationRules | None = None  # how Pipelock decisions joined sessions

    # Cached: checks and the report ask for these dozens of times, and each is a copy.
    @cached_property
    def agent_receipts(self) -> pd.DataFrame:
        """The agents' own receipts, in scope or not (history before the period)."""
        frame = self.receipts
        return frame[_of_kind(frame, SOURCE_AGENT_RECEIPTS)]

    @cached_property
    def in_scope(self) -> pd.DataFrame:
        """The agents' own receipts in scope."""
        frame = self.receipts
        return frame[frame["in_scope"] & _of_kind(frame, SOURCE_AGENT_RECEIPTS)]

    @cached_property
    def trusted(self) -> pd.DataFrame:
        """In-scope receipts that may count as positive evidence."""
        scope = self.in_scope
        return scope[scope["trusted"]]

    @cached_property
    def egress(self) -> pd.DataFrame:
        """Pipelock's decisions in scope about requests (not its session records)."""
        frame = self.receipts
        if "channel" not in frame:
            return frame.iloc[0:0]
        decision = _of_kind(frame, SOURCE_PIPELOCK) & (frame["channel"] != "control")
        return frame[frame["in_scope"] & decision]

    @cached_property
    def egress_trusted(self) -> pd.DataFrame:
        """In-scope egress decisions that may count as positive evidence."""
        egress = self.egress
        return egress[egress["trusted"]]

    @cached_property
    def timeline(self) -> pd.DataFrame:
        """Both kinds in scope, the recorder's session records left out."""
        frame = self.receipts
        if "channel" not in frame:
            return self.in_scope
        recorder = _of_kind(frame, SOURCE_PIPELOCK) & (frame["channel"] == "control")
        return frame[frame["in_scope"] & ~recorder]

    def discard_rows(self) -> None:
        """Free the per-receipt rows once nothing more will be derived from them.

        The report process calls this before the layout: at a million receipts the rows
        are most of its memory, and the rendered documents only need the report model.
        Afterwards the frames are empty (same columns), not stale.
        """
        object.__setattr__(self, "receipts", self.receipts.iloc[0:0].copy())
        for view in (
            "agent_receipts",
            "in_scope",
            "trusted",
            "egress",
            "egress_trusted",
            "timeline",
            "chains_in_scope",
        ):
            self.__dict__.pop(view, None)

    @cached_property
    def chains_in_scope(self) -> pd.DataFrame:
        """The chains the report is about (`_chains_in_scope`), rows or not."""
        return self.chains[self.chains["in_scope"]]

    def agents(self) -> list[str]:
        """The agents (issuers) with receipts in scope, most receipts first."""
        counts = self.in_scope["issuer"].astype(object).dropna().astype(str).value_counts()
        return sorted(counts.index, key=lambda agent: (-int(counts[agent]), agent))

    @cached_property
    def _broken_in_scope(self) -> tuple[frozenset[str], frozenset[str]]:
        """(the broken chains in scope, those of them a narrower report keeps whatever
        agent it is about: no receipt whose own content verified places them, or the
        witness names them)."""
        chains = self.chains_in_scope
        broken = {str(c) for c in chains.loc[~chains["authentic"].astype(bool), "chain_id"]}
        rows = self.receipts[self.receipts["chain_id"].astype(str).isin(broken)]
        placed = _chain_ids(rows, rows["time_authentic"].astype(bool))
        return frozenset(broken), frozenset((broken - placed) | (broken & set(self.witnesses)))

    def for_agent(self, issuer: str) -> Evidence:
        """This evidence as a report narrowed to one more agent sees it (`--issuer` with the
        id as a literal pattern): the same rows and verdicts, in scope exactly where that
        report puts them (a broken chain its authentic receipts cannot place stays in every
        agent's scope). Only the rows of the chains it can hold are copied: the agent's own,
        the recorder sessions holding egress decisions correlation gave it (with their v2
        chains), and the broken chains nothing places outside it."""
        scope = replace(self.scope, issuers=(glob.escape(issuer),))
        broken, kept = self._broken_in_scope
        frame = self.receipts
        own = frame["in_scope"].to_numpy(bool) & (frame["issuer"] == issuer).to_numpy(bool)
        chains = {str(c) for c in frame.loc[own, "chain_id"].unique()}
        candidates = chains | {f"{c}/v2" for c in chains if c.startswith("pipelock:")} | kept
        rows = self.receipts[self.receipts["chain_id"].astype(str).isin(candidates)].copy()
        selected = _chains_in_scope(rows, self.verification, scope, set(self.witnesses))
        # Never wider than this report; a broken chain left out of the rows has receipts
        # whose own content verified and places it with other agents only.
        selected &= set(self.chains_in_scope["chain_id"].astype(str))
        selected -= broken - candidates
        _mark_scope(rows, selected, scope)
        narrowed = self.chains.assign(in_scope=self.chains["chain_id"].astype(str).isin(selected))
        return replace(self, receipts=rows, chains=narrowed, scope=scope)


def _of_kind(frame: pd.DataFrame, kind: str) -> pd.Series:
    """Rows of one source kind (a frame without the column holds receipts only)."""
    if "source_kind" not in frame:
        return pd.Series(kind == SOURCE_AGENT_RECEIPTS, index=frame.index)
    return frame["source_kind"] == kind


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _disclosure_mode(action: dict[str, Any]) -> str:
    disclosure = action.get("parameters_disclosure")
    if not isinstance(disclosure, dict):
        return "none"
    return "hpke" if "ct" in disclosure and "recipients" in disclosure else "legacy_plaintext"


def _timestamp_status(
    action: dict[str, Any], warnings: Sequence[Code], failures: Sequence[Code]
) -> str:
    if "trusted_timestamp" not in action:
        return "none"
    for code, status in _TIMESTAMP_CODES.items():
        if code in failures or code in warnings:
            return status
    return "valid"


def _state_change_committed(outcome: dict[str, Any]) -> bool:
    """The outcome commits to the state before and after the action (both hashes)."""
    change = _dict(outcome.get("state_change"))
    return isinstance(change.get("before_hash"), str) and isinstance(change.get("after_hash"), str)


def _channel(action_type: str, action: dict[str, Any]) -> str:
    """The channel an agent's action used: `mcp` when an MCP proxy signed it, else by type."""
    if isinstance(action.get("tool_name"), str):
        return "mcp"
    return next((c for prefix, c in _CHANNELS if action_type.startswith(prefix)), "other")


def _row(document: dict[str, Any], chain_id: str, item: VerifiedReceipt) -> tuple[Any, ...]:
    issuer = _dict(document.get("issuer"))
    subject = _dict(document.get("credentialSubject"))
    action = _dict(subject.get("action"))
    outcome = _dict(subject.get("outcome"))
    authorization = _dict(subject.get("authorization"))
    delegation = _dict(subject.get("delegation"))
    intent = _dict(subject.get("intent"))
    principal = _dict(subject.get("principal"))
    target = _dict(action.get("target"))
    action_type = _text(action.get("type")) or ""
    scopes = authorization.get("scopes")
    result = item.result
    return (
        result.receipt_id,
        chain_id,
        result.sequence,
        _text(issuer.get("id")),
        _text(issuer.get("name")),
        _text(_dict(issuer.get("runtime")).get("agent_id")),
        _text(issuer.get("session_id")),
        _text(principal.get("id")),
        _text(principal.get("type")),
        action_type,
        action_type.split(".", 1)[0] if action_type else "",
        _text(action.get("risk_level")),
        taxonomy_defaults().get(action_type),
        _text(target.get("system")),
        _text(target.get("resource")),
        _text(action.get("timestamp")),
        _text(outcome.get("status")),
        _text(outcome.get("error")),
        outcome.get("reversible") if isinstance(outcome.get("reversible"), bool) else None,
        _text(outcome.get("reversal_of")),
        bool(authorization),
        "|".join(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else "",
        _text(authorization.get("granted_at")),
        _text(authorization.get("expires_at")),
        _text(authorization.get("grant_ref")),
        _text(delegation.get("parent_chain_id")),
        _text(delegation.get("parent_receipt_id")),
        _text(_dict(delegation.get("delegator")).get("id")),
        isinstance(intent.get("conversation_hash"), str),
        _text(intent.get("prompt_preview")),
        isinstance(action.get("parameters_hash"), str),
        isinstance(outcome.get("response_hash"), str),
        _disclosure_mode(action),
        _timestamp_status(action, result.warnings, result.failures),
        _text(action.get("idempotency_key")),
        _text(subject.get("correlation_id")),
        _dict(action.get("emitter_metadata")).get("drop_count"),
        _text(issuer.get("model")),
        _text(action.get("tool_name")),
        _text(_dict(action.get("peer_credential")).get("exe_path")),
        isinstance(intent.get("reasoning_hash"), str),
        _state_change_committed(outcome),
        result.receipt_hash,
        str(result.origin),
        all(code in POLICY_CODES for code in result.failures),
        " ".join(c.value for c in result.failures),
        " ".join(c.value for c in result.warnings),
        _channel(action_type, action),
    )


def extract_rows(runs: Sequence[tuple[str, list[VerifiedReceipt]]]) -> pd.DataFrame:
    """The `extract` hook of `verify_spool`: a typed block of rows for one job's chains.

    It runs in the worker, so the parent receives compact columns (categories, numbers,
    dates) instead of a Python tuple per receipt.
    """
    return rows_block(
        [_row(item.document, chain_id, item) for chain_id, verified in runs for item in verified]
    )


# Times a report can place and print: years 1 to 9999 in UTC (Python's datetime range).
# A signed time beyond it (0001-01-01T00:00:00+14:00 is year 0 in UTC) is kept in the
# verification results but cannot be placed in any period: it reads as no time.
_EARLIEST = pd.Timestamp("0001-01-01T00:00:00", tz="UTC")
_LATEST = pd.Timestamp("9999-12-31T23:59:59.999999", tz="UTC")


def _utc(series: pd.Series) -> pd.Series:
    times = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
    return times.where((times >= _EARLIEST) & (times <= _LATEST))


def _int64_column(values: Iterable[Any]) -> Any:
    """Integers as nullable int64, read from the rows' own values (pandas would infer
    float64 for a column with gaps and lose digits); anything else is missing: a bool,
    text, a number beyond 64 bits."""
    return pd.array(
        [
            v
            if isinstance(v, int) and not isinstance(v, bool) and _INT64_MIN <= v <= _INT64_MAX
            else None
            for v in values
        ],
        dtype="Int64",
    )


def rows_block(
    rows: Sequence[tuple[Any, ...]],
    *,
    source_kind: str = SOURCE_AGENT_RECEIPTS,
    egress: Sequence[tuple[Any, ...]] | None = None,
) -> pd.DataFrame:
    """Rows (`ROW_FIELDS` tuples) as a frame with the dtypes checks rely on; the egress
    columns from `egress` (`EGRESS_FIELDS` tuples, one per row), else empty."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(ROW_FIELDS))
    for column in ("timestamp", "granted_at", "expires_at"):
        frame[column] = _utc(frame[column])
    for column in ("sequence", "drop_count"):
        position = ROW_FIELDS.index(column)
        frame[column] = _int64_column(row[position] for row in rows)
    frame["risk_rank"] = frame["risk_level"].map(RISK_RANK).astype("Int64")
    frame["taxonomy_rank"] = frame["taxonomy_risk"].map(RISK_RANK).astype("Int64")
    frame["verified"] = frame["verified"].astype(bool)
    for column in _CATEGORICAL:
        frame[column] = frame[column].astype("category")
    frame["source_kind"] = pd.Categorical([source_kind] * len(frame))
    _egress_columns(frame, egress)
    return frame


def _egress_columns(frame: pd.DataFrame, egress: Sequence[tuple[Any, ...]] | None) -> None:
    """The egress columns: from `egress`, or empty (receipts have none: built without a
    value per row, since a job's block may hold a million receipts)."""
    if egress is None:
        size = len(frame)
        for column in EGRESS_FIELDS:
            frame[column] = _empty_column(column, size)
        return
    values = pd.DataFrame.from_records(list(egress), columns=list(EGRESS_FIELDS))
    for column in EGRESS_FIELDS:
        series = values[column]
        if column in _EGRESS_FLAGS:
            frame[column] = series.fillna(False).astype(bool).to_numpy()
        elif column in _EGRESS_COUNTS:
            frame[column] = _int64_column(series.tolist())
        elif column in _EGRESS_TEXT:
            frame[column] = series.astype(object).to_numpy()
        else:
            frame[column] = pd.Categorical(series.astype(object))


def _empty_column(column: str, size: int) -> Any:
    if column in _EGRESS_FLAGS:
        return np.zeros(size, dtype=bool)
    if column in _EGRESS_COUNTS:
        return pd.arrays.IntegerArray(np.zeros(size, dtype=np.int64), np.ones(size, dtype=bool))
    if column in _EGRESS_TEXT:
        return np.full(size, None, dtype=object)
    return pd.Categorical.from_codes(np.full(size, -1, dtype=np.int8), categories=[])


def _recoded(part: pd.Series, categories: list[Any]) -> Any:
    """A block's category codes in the union's categories. A column the block does not have
    (a receipt's egress columns: no category) is all missing, without being looked up."""
    if len(part.cat.categories) == 0:
        return np.full(len(part), -1, dtype=np.int8)
    return part.cat.set_categories(categories).cat.codes.to_numpy()


def _concat_blocks(blocks: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame from many blocks; categorical columns get the union of their categories,
    sorted, so the frame does not depend on how the receipts were split into jobs."""
    if not blocks:
        return rows_block([])
    columns: dict[str, Any] = {}
    for name in blocks[0].columns:
        parts = [block[name] for block in blocks]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            categories = sorted(set().union(*(p.cat.categories for p in parts)))
            codes = np.concatenate([_recoded(p, categories) for p in parts])
            columns[name] = pd.Categorical.from_codes(codes, categories=categories)
        else:
            columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


def _empty(field: str) -> Any:
    """A shared column's value on a row whose kind does not have it."""
    if field.startswith("has_"):
        return False
    return {"action_type": "", "scopes": "", "disclosure_mode": "none"}.get(
        field, "none" if field == "trusted_timestamp" else None
    )


def egress_block(actions: Iterable[ActionEvidence]) -> pd.DataFrame:
    """Pipelock's decisions as a block of rows (`egress.py`)."""
    shared, own = egress_records(actions)
    rows = [tuple(values.get(f, _empty(f)) for f in ROW_FIELDS) for values in shared]
    return rows_block(rows, source_kind=SOURCE_PIPELOCK, egress=own)


def _receipts_frame(
    blocks: list[pd.DataFrame],
    verification: VerificationResult,
    correlation: CorrelationRules | None,
) -> pd.DataFrame:
    # A chain id is authentic only if every chain verified under it is: two chains can
    # share an id (a record that could not be grouped with its chain is verified alone).
    not_authentic = {c.chain_id for c in verification.chains if not c.authentic}
    authentic_chains = {c.chain_id for c in verification.chains} - not_authentic
    frame = _concat_blocks(blocks)
    _final_verdicts(frame, verification)
    frame["chain_authentic"] = frame["chain_id"].isin(authentic_chains).astype(bool)
    frame["trusted"] = frame["verified"] & frame["chain_authentic"]
    frame["time_authentic"] = _time_authentic(frame)
    correlate(frame, correlation)
    frame["signer"] = _signers(frame)
    return frame


def _signers(frame: pd.DataFrame) -> pd.Categorical:
    """Who the trust store says signed a row whose signature verified under a trusted key:
    its issuer (Agent Receipts), its recorder (Pipelock); None when unverified."""
    pipelock = (frame["source_kind"] == SOURCE_PIPELOCK).to_numpy()
    names = np.where(pipelock, frame["recorder"].astype(object), frame["issuer"].astype(object))
    verified = frame["verified"].to_numpy() & pd.notna(names)
    return pd.Categorical(np.where(verified, names, None))


def _in_period(times: pd.Series, period: Period) -> pd.Series:
    inside = times.notna()
    if period.since is not None:
        inside &= times >= pd.Timestamp(period.since)
    if period.until is not None:
        inside &= times < pd.Timestamp(period.until)
    return inside


def _matching(values: pd.Series, patterns: Sequence[str]) -> pd.Series:
    """Rows whose text matches one of the glob patterns (every row when there are none);
    a missing value matches nothing. Decided once per distinct value."""
    if not patterns:
        return pd.Series(True, index=values.index)
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    table = np.fromiter(
        (any(fnmatch.fnmatchcase(str(u), p) for p in patterns) for u in uniques),
        dtype=bool,
        count=len(uniques),
    )
    hits = np.append(table, False)[codes]  # code -1 (missing) reads the appended False
    return pd.Series(hits, index=values.index, dtype=bool)


def _in_report(frame: pd.DataFrame, scope: Scope) -> pd.Series:
    """Rows the report is about by what they state: the period, chain, agent, principal
    and grant patterns (which of those statements can be believed is decided by caller)."""
    return (
        _in_period(frame["timestamp"], scope.period)
        & _matching(frame["chain_id"], scope.chains)
        & _matching(frame["issuer"], scope.issuers)
        & _matching(frame["principal"], scope.principals)
        & _matching(frame["grant_ref"], scope.grants)
    )


def _time_authentic(frame: pd.DataFrame) -> pd.Series:
    """Rows whose own content is what a trusted key signed (every failure they carry is
    about links, sequence, witness or policy, never their bytes or signature), so the time
    they state is authentic even when their chain broke elsewhere."""
    allowed = {code.value for code in PLACEABLE_CODES}
    codes = frame["failure_codes"].astype("category")
    placeable = codes.map(lambda text: set(str(text).split()) <= allowed).astype(bool)
    return placeable & frame["timestamp"].notna()


def _chain_ids(frame: pd.DataFrame, mask: pd.Series) -> set[str]:
    return {str(c) for c in frame.loc[mask, "chain_id"].unique()}


def _chains_in_scope(
    frame: pd.DataFrame, verification: VerificationResult, scope: Scope, witnessed: set[str]
) -> set[str]:
    """Which chains the report is about, decided from verified evidence only.

    An authentic chain is in scope when one of its receipts falls in the period and
    matches the scope's patterns. A chain that failed verification is in scope unless its
    authentic receipts (their own signature verified, so what they state is what was
    signed) place it wholly outside: a forged or removed timestamp, agent or principal can
    never move broken evidence out of the report. A broken chain that matches the chain
    patterns and that the witness names is always in scope of the integrity verdict.

    A Pipelock session's EvidenceReceipt v2 chain (`…/v2`, no rows of its own) goes with
    its ActionReceipt chain; alone, it is placed like a chain by its signed first and
    last times when authentic, and kept in scope when broken.
    """
    matching = _in_report(frame, scope)
    placed = _chain_ids(frame, frame["time_authentic"])
    placed_in = _chain_ids(frame, frame["time_authentic"] & matching)
    selected = _chain_ids(frame, matching & frame["chain_authentic"])
    second_tier = []
    for chain in verification.chains:
        if chain.source_kind == SOURCE_PIPELOCK_EVIDENCE:
            second_tier.append(chain)
        elif not chain.authentic and _named(chain.chain_id, scope.chains):
            outside = chain.chain_id in placed and chain.chain_id not in placed_in
            if not outside or chain.chain_id in witnessed:
                selected.add(chain.chain_id)
    known = {chain.chain_id for chain in verification.chains}
    for chain in second_tier:
        session = chain.chain_id.removesuffix("/v2")
        if session != chain.chain_id and session in known:
            inside = session in selected
        else:
            inside = _named(chain.chain_id, scope.chains) and (
                not chain.authentic or _spans_period(chain, scope.period)
            )
        if inside:
            selected.add(chain.chain_id)
    return selected


def _spans_period(chain: ChainResult, period: Period) -> bool:
    """Whether a chain's signed first-to-last span meets the period."""
    first, last = _utc(pd.Series([chain.first_timestamp, chain.last_timestamp]))
    if pd.isna(first) or pd.isna(last):
        return False
    after_start = period.since is None or last >= pd.Timestamp(period.since)
    before_end = period.until is None or first < pd.Timestamp(period.until)
    return bool(after_start and before_end)


def _named(chain_id: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(chain_id, p) for p in patterns)


def _mark_scope(frame: pd.DataFrame, chains_in_scope: set[str], scope: Scope) -> None:
    """A row is in scope when its chain is and what it authentically states matches the
    scope; a row whose content cannot be trusted counts wherever its (broken, in-scope)
    chain does."""
    in_chain = frame["chain_id"].isin(chains_in_scope).astype(bool)
    frame["in_scope"] = in_chain & (_in_report(frame, scope) | ~frame["time_authentic"])


def _chains_frame(verification: VerificationResult, in_scope: set[str]) -> pd.DataFrame:
    records = [
        {
            "chain_id": chain.chain_id,
            "issuer": chain.issuer,
            "length": chain.length,
            "valid": chain.valid,
            "authentic": chain.authentic,
            "termination": chain.termination.value,
            "first_timestamp": chain.first_timestamp,
            "last_timestamp": chain.last_timestamp,
            "head_hash": chain.head_hash,
            "genesis_key_fingerprint": chain.genesis_key_fingerprint,
            "rotations": len(chain.rotations),
            "invalid_rotations": sum(1 for r in chain.rotations if not r.valid),
            "broken_at": chain.broken_at,
            "failure_codes": " ".join(sorted({p.code.value for p in chain.failures})),
            "warning_codes": " ".join(sorted({p.code.value for p in chain.warnings})),
            "in_scope": chain.chain_id in in_scope,
            "source_kind": chain.source_kind,
        }
        for chain in verification.chains
    ]
    frame = pd.DataFrame.from_records(
        records,
        columns=[
            "chain_id",
            "issuer",
            "length",
            "valid",
            "authentic",
            "termination",
            "first_timestamp",
            "last_timestamp",
            "head_hash",
            "genesis_key_fingerprint",
            "rotations",
            "invalid_rotations",
            "broken_at",
            "failure_codes",
            "warning_codes",
            "in_scope",
            "source_kind",
        ],
    )
    for column in ("first_timestamp", "last_timestamp"):
        frame[column] = _utc(frame[column])
    for column in ("valid", "authentic", "in_scope"):  # bool even when empty: masks stay masks
        frame[column] = frame[column].astype(bool)
    for column in ("length", "rotations", "invalid_rotations"):
        frame[column] = frame[column].astype("int64")
    return frame


def _final_verdicts(frame: pd.DataFrame, verification: VerificationResult) -> None:
    """Give every row of a chain that failed its receipt's final verdict.

    Rows are extracted while a chain (or a chunk of it) is verified; checks that need
    other chains or the whole chain (delegation, receipt ids shared across chains, the
    witness on a chunked chain's last receipt, and any added later) amend verdicts
    afterwards. Any chain with a failure is re-read from its final result, whatever the
    code, so no amended receipt can stay counted as trusted evidence. A chain without
    failures has nothing to amend.
    """
    updates = {
        (chain.chain_id, receipt.receipt_id): receipt
        for chain in verification.chains
        if chain.failures and chain.source_kind == SOURCE_AGENT_RECEIPTS  # Pipelock's are final
        for receipt in chain.receipts
    }
    if not updates:
        return
    keys = zip(frame["chain_id"].astype(str), frame["receipt_id"], strict=True)
    failure_codes = frame["failure_codes"].astype(object).to_numpy(copy=True)
    verified = frame["verified"].to_numpy(copy=True)
    for position, key in enumerate(keys):
        receipt = updates.get(key)
        if receipt is not None:
            failure_codes[position] = " ".join(c.value for c in receipt.failures)
            verified[position] = all(c in POLICY_CODES for c in receipt.failures)
    frame["failure_codes"] = pd.Series(failure_codes, index=frame.index).astype("category")
    frame["verified"] = verified


def build_evidence(
    verification: VerificationResult,
    extracts: Iterable[pd.DataFrame | None],
    *,
    period: Period | None = None,
    scope: Scope | None = None,
    grants: dict[str, Grant] | None = None,
    witnesses: dict[str, Witness] | None = None,
    egress: Iterable[ActionEvidence] = (),
    correlation: CorrelationRules | None = None,
) -> Evidence:
    """Assemble the frames once verification (delegation included) is final. `scope`
    (or just a `period`) says what the report is about; `egress` are Pipelock's
    decisions (`reporting.pipelock.action_evidence`), joined to agent sessions by the
    `correlation` rules."""
    blocks = [block for block in extracts if block is not None]
    blocks.append(egress_block(egress))
    resolved = scope or Scope(period=period or Period())
    receipts = _receipts_frame(blocks, verification, correlation)
    chains = _chains_in_scope(receipts, verification, resolved, set(witnesses or {}))
    _mark_scope(receipts, chains, resolved)
    return Evidence(
        receipts=receipts,
        chains=_chains_frame(verification, chains),
        verification=verification,
        period=resolved.period,
        grants=grants,
        witnesses=witnesses or {},
        scope=resolved,
        correlation=correlation,
    )
