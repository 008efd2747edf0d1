"""Verified receipts → the evidence frame: one pandas row per receipt, plus a chains frame.

Rows are extracted while each chain is in memory (in the verifying process), so the
parsed receipts never have to be held all at once. A row is `trusted` only when its
own verdict passed and its whole chain is authentic (after the cross-chain delegation
checks; grounded-principal failures judge authorization, not authenticity): untrusted
rows are findings, never positive evidence. Rows outside the
reporting period stay in the frame (their chains needed them) with `in_scope` False.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from reporting.periods import Period
from reporting.receipts.external import Grant, Witness
from reporting.receipts.results import PLACEABLE_CODES, POLICY_CODES, Code, VerificationResult
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
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TIMESTAMP_CODES = {
    Code.INVALID_TRUSTED_TIMESTAMP: "invalid",
    Code.TRUSTED_TIMESTAMP_UNANCHORED: "unanchored",
}


@dataclass(frozen=True)
class Evidence:
    """Everything a check may look at. Checks read; they never change it."""

    receipts: pd.DataFrame
    chains: pd.DataFrame
    verification: VerificationResult
    period: Period = field(default_factory=Period)
    grants: dict[str, Grant] | None = None
    witnesses: dict[str, Witness] = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)  # the period and patterns the report is about

    # Cached: checks and the report ask for these dozens of times, and each is a copy.
    @cached_property
    def in_scope(self) -> pd.DataFrame:
        return self.receipts[self.receipts["in_scope"]]

    @cached_property
    def trusted(self) -> pd.DataFrame:
        """In-scope rows that may count as positive evidence."""
        scope = self.in_scope
        return scope[scope["trusted"]]

    def discard_rows(self) -> None:
        """Free the per-receipt rows once nothing more will be derived from them.

        The report process calls this before the layout: at a million receipts the rows
        are most of its memory, and the rendered documents only need the report model.
        Afterwards the frames are empty (same columns), not stale.
        """
        object.__setattr__(self, "receipts", self.receipts.iloc[0:0].copy())
        for view in ("in_scope", "trusted", "chains_in_scope"):
            self.__dict__.pop(view, None)

    @cached_property
    def chains_in_scope(self) -> pd.DataFrame:
        """The chains the report is about (`_chains_in_scope`), rows or not."""
        return self.chains[self.chains["in_scope"]]


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


def rows_block(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Rows (`ROW_FIELDS` tuples) as a frame with the dtypes checks rely on."""
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
    return frame


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
            codes = np.concatenate(
                [p.cat.set_categories(categories).cat.codes.to_numpy() for p in parts]
            )
            columns[name] = pd.Categorical.from_codes(codes, categories=categories)
        else:
            columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


def _receipts_frame(blocks: list[pd.DataFrame], verification: VerificationResult) -> pd.DataFrame:
    # A chain id is authentic only if every chain verified under it is: two chains can
    # share an id (a record that could not be grouped with its chain is verified alone).
    not_authentic = {c.chain_id for c in verification.chains if not c.authentic}
    authentic_chains = {c.chain_id for c in verification.chains} - not_authentic
    frame = _concat_blocks(blocks)
    _final_verdicts(frame, verification)
    frame["chain_authentic"] = frame["chain_id"].isin(authentic_chains).astype(bool)
    frame["trusted"] = frame["verified"] & frame["chain_authentic"]
    frame["time_authentic"] = _time_authentic(frame)
    return frame


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
    """
    matching = _in_report(frame, scope)
    placed = _chain_ids(frame, frame["time_authentic"])
    placed_in = _chain_ids(frame, frame["time_authentic"] & matching)
    selected = _chain_ids(frame, matching & frame["chain_authentic"])
    for chain in verification.chains:
        if chain.authentic or not _named(chain.chain_id, scope.chains):
            continue
        outside = chain.chain_id in placed and chain.chain_id not in placed_in
        if not outside or chain.chain_id in witnessed:
            selected.add(chain.chain_id)
    return selected


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
        if chain.failures
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
) -> Evidence:
    """Assemble the frames once verification (delegation included) is final. `scope`
    (or just a `period`) says what the report is about."""
    blocks = [block for block in extracts if block is not None]
    resolved = scope or Scope(period=period or Period())
    receipts = _receipts_frame(blocks, verification)
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
    )
