"""Integrity checks: is the evidence itself authentic, complete at its tail, and time-anchored?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Hit, Problem, Status, Verdict, check
from reporting.controls.checks.rules import (
    RISK,
    SHARE,
    at_least,
    chain_verdict,
    ids,
    matches,
    shortfall,
)
from reporting.controls.vocabulary import Reason, Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


@check(
    title="All chains in scope verified",
    description="Every chain with receipts in the period is authentic: signatures, hash "
    "links, sequence and keys verify, and every input record could be read.",
    problem=Problem(
        "broken_chain",
        "{n} [chain or input record fails|chains or input records fail] verification",
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
    receipts = ids(scope[~scope["verified"].astype(bool)]["receipt_id"])
    failing = len(broken) + len(problems)
    return Verdict(
        status=status,
        statement="every chain with receipts in the period is authentic (signatures, links, keys)",
        population=len(chains),
        failing=failing,
        untrusted=int((~scope["trusted"].astype(bool)).sum()),
        metrics={
            "chains": len(chains),
            "broken_chains": len(broken),
            "input_problems": len(problems),
        },
        failing_receipts=receipts,
        failing_chains=ids(broken["chain_id"]),
        hits=(Hit("", failing, receipts, ids(broken["chain_id"])),) if failing else (),
    )


@check(
    title="Sessions end with a terminal receipt",
    description="The chains of producers expected to close them end with a terminal receipt "
    "(complete or interrupted). Producers whose chains stay open by design (a daemon's "
    "date-named chains) are listed in `open_chains` and left out; an open chain may still be "
    "running or may have been cut short, so too many of them leave the check undecided.",
    problem=Problem(
        "chain_not_terminated",
        "{n} [chain|chains] never reached a terminal receipt",
        Severity.MEDIUM,
        "Make agents close chains with a terminal receipt on every exit path, or declare the "
        "producer's chains open by design in the deployment section.",
    ),
    max_unknown_share=SHARE | {"default": 0.25},
    open_chains={"type": "array", "items": {"type": "string", "minLength": 1}, "default": []},
)
def termination_status(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chains = evidence.chains_in_scope
    by_design = (
        matches(chains["issuer"].astype(str), params["open_chains"])
        if len(chains)
        else (pd.Series(False, index=chains.index))
    )
    expected = chains[~by_design]
    authentic = expected[expected["authentic"]]
    counts = authentic["termination"].value_counts().to_dict()
    unknown = authentic["termination"] == "unknown"
    share = float(unknown.mean()) if len(authentic) else 0.0
    statement = (
        f"at most {params['max_unknown_share']:.0%} of the chains of producers expected to "
        "close them are left without a terminal receipt"
    )
    metrics: dict[str, Any] = {
        "complete": counts.get("complete", 0),
        "interrupted": counts.get("interrupted", 0),
        "unknown": counts.get("unknown", 0),
        "unknown_share": round(share, 4),
        "open_by_design": int(by_design.sum()),
    }
    return shortfall(
        statement,
        expected,
        expected["termination"] == "unknown",
        Reason.OPEN_CHAINS,
        short=share > params["max_unknown_share"],
        **metrics,
    )


@check(
    title="Chains are witnessed externally",
    description="Chains have an external witness (expected length and final hash), so a "
    "cut-off tail is detectable. The protocol makes witnesses optional: a chain without one "
    "is a scope limitation (its tail cannot be shown complete), not a failure.",
    problem=Problem(
        "chain_not_witnessed",
        "{n} [chain has|chains have] no external witness",
        Severity.LOW,
        "Publish each chain's length and final hash to a witness the agent cannot write "
        "(a transparency log, a ticket, a separate store).",
    ),
    min_share=SHARE | {"default": 1.0},
)
def witness_coverage(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chains = evidence.chains_in_scope
    authentic = chains[chains["authentic"]]
    witnessed = authentic["chain_id"].isin(set(evidence.witnesses))
    share = float(witnessed.mean()) if len(authentic) else 0.0
    statement = "chains have an external witness, so a cut-off tail is detectable"
    metrics: dict[str, Any] = {"witnessed": int(witnessed.sum()), "share": round(share, 4)}
    return shortfall(
        statement,
        chains,
        ~chains["chain_id"].isin(set(evidence.witnesses)),
        Reason.NOT_WITNESSED,
        short=not authentic.empty and share < params["min_share"],
        **metrics,
    )


@check(
    title="Key rotations are continuous",
    description="Every key rotation was signed by the outgoing key and names the incoming one.",
    problem=Problem(
        "invalid_key_rotation",
        "{n} [chain carries|chains carry] an invalid key rotation",
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
    "timestamp meets a minimum. Trusted timestamps are optional in the protocol: an action "
    "without one rests on the issuer's own clock, a scope limitation rather than a failure.",
    problem=Problem(
        "no_trusted_timestamp",
        "{n} high-risk [action carries|actions carry] no valid trusted timestamp",
        Severity.LOW,
        "Have high-risk receipts time-stamped by an RFC 3161 authority.",
    ),
    min_share=SHARE | {"default": 1.0},
    min_risk=RISK,
)
def trusted_timestamp_coverage(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    selection = at_least(evidence.in_scope, params["min_risk"])
    population = selection[selection["trusted"].astype(bool)]
    stamped = population["trusted_timestamp"].astype(str) == "valid"
    share = float(stamped.mean()) if len(population) else 0.0
    statement = (
        f"share of {params['min_risk']}+ actions with a valid RFC 3161 timestamp meets the minimum"
    )
    return shortfall(
        statement,
        selection,
        selection["trusted_timestamp"].astype(str) != "valid",
        Reason.NOT_TIMESTAMPED,
        short=not population.empty and share < params["min_share"],
        share=round(share, 4),
        limit=params["min_share"],
    )
