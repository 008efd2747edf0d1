"""Integrity checks: is the evidence itself authentic, complete at its tail, and time-anchored?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Problem, Status, Verdict, check
from reporting.controls.checks.rules import RISK, SHARE, at_least, chain_verdict, ids, share_verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


@check(
    title="All chains in scope verified",
    description="Every chain with receipts in the period is authentic: signatures, hash "
    "links, sequence and keys verify, and every input record could be read.",
    problem=Problem(
        "broken_chain",
        "{n} chains fail verification",
        Severity.CRITICAL,
        "Investigate the broken chains: compare the store with backups and the issuer's "
        "logs, and treat actions recorded there as unverified until explained.",
    ),
)
def chain_integrity(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    chains = evidence.chains_in_scope
    broken = chains[~chains["authentic"]]
    status = (
        Status.NOT_APPLICABLE if chains.empty else (Status.FAIL if len(broken) else Status.PASS)
    )
    problems = [p for p in evidence.verification.input_problems if p.severity.value == "failure"]
    if problems and status is Status.PASS:
        status = Status.FAIL
    return Verdict(
        status=status,
        statement="every chain with receipts in the period is authentic (signatures, links, keys)",
        population=len(chains),
        failing=len(broken) + len(problems),
        untrusted=int((~scope["trusted"].astype(bool)).sum()),
        metrics={
            "chains": len(chains),
            "broken_chains": len(broken),
            "input_problems": len(problems),
        },
        failing_receipts=ids(scope[~scope["verified"].astype(bool)]["receipt_id"]),
        failing_chains=ids(broken["chain_id"]),
    )


@check(
    title="Chains end with a terminal receipt",
    description="The share of chains that never reached a terminal receipt is within a limit.",
    problem=Problem(
        "chain_not_terminated",
        "{n} chains never reached a terminal receipt",
        Severity.MEDIUM,
        "Make agents close chains with a terminal receipt on every exit path.",
    ),
    max_unknown_share=SHARE | {"default": 0.25},
)
def termination_status(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chains = evidence.chains_in_scope
    authentic = chains[chains["authentic"]]
    counts = chains["termination"].value_counts().to_dict()
    unknown = chains["termination"] == "unknown"
    share = float((authentic["termination"] == "unknown").mean()) if len(authentic) else 0.0
    breached = share > params["max_unknown_share"]
    return chain_verdict(
        "share of chains that never reached a terminal receipt is within the limit",
        chains,
        unknown if breached else pd.Series(False, index=chains.index),
        complete=counts.get("complete", 0),
        interrupted=counts.get("interrupted", 0),
        unknown=counts.get("unknown", 0),
        unknown_share=round(share, 4),
    )


@check(
    title="Chains are witnessed externally",
    description="Chains have an external witness (expected length and final hash), so a "
    "cut-off tail is detectable.",
    problem=Problem(
        "chain_not_witnessed",
        "{n} chains have no external witness",
        Severity.MEDIUM,
        "Publish each chain's length and final hash to a witness the agent cannot write "
        "(a transparency log, a ticket, a separate store).",
    ),
    min_share=SHARE | {"default": 1.0},
)
def witness_coverage(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chains = evidence.chains_in_scope
    witnessed = chains["chain_id"].isin(set(evidence.witnesses))
    share = float(witnessed.mean()) if len(chains) else 0.0
    breached = share < params["min_share"]
    return chain_verdict(
        "chains have an external witness, so a cut-off tail is detectable",
        chains,
        ~witnessed if breached else pd.Series(False, index=chains.index),
        proven_by_verification=True,  # a missing witness is a fact, whatever the chain's state
        witnessed=int(witnessed.sum()),
        share=round(share, 4),
    )


@check(
    title="Key rotations are continuous",
    description="Every key rotation was signed by the outgoing key and names the incoming one.",
    problem=Problem(
        "invalid_key_rotation",
        "{n} chains carry an invalid key rotation",
        Severity.CRITICAL,
        "Re-issue the rotation from the outgoing key and review what the unverified key signed.",
    ),
)
def key_rotation_continuity(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chains = evidence.chains_in_scope
    rotated = chains[chains["rotations"] > 0]
    return chain_verdict(
        "every key rotation was signed by the outgoing key and names the incoming one",
        rotated,
        rotated["invalid_rotations"] > 0,
        proven_by_verification=True,
        rotations=int(rotated["rotations"].sum()),
        invalid=int(rotated["invalid_rotations"].sum()),
    )


@check(
    title="High-risk actions carry a trusted timestamp",
    description="The share of actions at or above a risk level with a valid RFC 3161 "
    "timestamp meets a minimum.",
    problem=Problem(
        "no_trusted_timestamp",
        "{n} high-risk actions carry no valid trusted timestamp",
        Severity.MEDIUM,
        "Have high-risk receipts time-stamped by an RFC 3161 authority.",
    ),
    min_share=SHARE | {"default": 1.0},
    min_risk=RISK,
)
def trusted_timestamp_coverage(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, params["min_risk"])
    stamped = population["trusted_timestamp"].astype(str).isin({"valid"})
    return share_verdict(
        f"share of {params['min_risk']}+ actions with a valid RFC 3161 timestamp meets the minimum",
        population,
        stamped,
        limit=params["min_share"],
        at_most=False,
        fail_ids=~stamped,
    )
