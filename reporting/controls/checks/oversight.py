"""Human oversight checks: could a person approve, reverse or stop what agents did?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import (
    GLOBS,
    RISK,
    at_least,
    chain_verdict,
    matches,
    present,
    undecided,
    verdict,
)
from reporting.controls.vocabulary import Reason, Severity
from reporting.evidence.frame import Evidence

__all__ = ["DESTRUCTIVE"]

DESTRUCTIVE = ["*.delete", "financial.payment.*", "*.share", "*.send"]
_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}


def _approved_by_receipt(
    evidence: Evidence, population: pd.DataFrame, params: dict[str, Any]
) -> pd.Series:
    """An approval receipt by a human principal shares the action's correlation_id and
    precedes it by at most the window."""
    receipts = evidence.receipts
    approvals = receipts[
        receipts["trusted"].astype(bool)
        & matches(receipts["action_type"], params["approval_actions"])
        & (receipts["principal_type"].astype(str) == "HumanPrincipal")
        & present(receipts["correlation_id"])
    ]
    if approvals.empty or population.empty:
        return pd.Series(False, index=population.index)
    pairs = (
        population[["correlation_id", "timestamp"]]
        .reset_index()
        .merge(
            approvals[["correlation_id", "timestamp"]].rename(columns={"timestamp": "approved"}),
            on="correlation_id",
        )
    )
    window = pd.Timedelta(minutes=params["window_minutes"])
    fits = (pairs["approved"] <= pairs["timestamp"]) & (
        pairs["approved"] >= pairs["timestamp"] - window
    )
    approved = set(pairs.loc[fits, "index"])
    return pd.Series(population.index.isin(approved), index=population.index)


def _single_use_grant(evidence: Evidence, population: pd.DataFrame, minutes: int) -> pd.Series:
    """A grant issued for this action: used by no other action, issued within the window."""
    uses = evidence.receipts["grant_ref"].value_counts()
    refs = population["grant_ref"]
    single = refs.map(uses).eq(1) & present(refs)
    issued = population["granted_at"]
    grants = evidence.grants
    if grants is not None:
        registry = {r: grants[r].issued_at for r in set(refs.dropna()) if r in grants}
        from_registry = pd.to_datetime(refs.astype(object).map(registry), utc=True, errors="coerce")
        issued = from_registry.where(refs.isin(set(registry)), issued)
    window = pd.Timedelta(minutes=minutes)
    timely = (issued <= population["timestamp"]) & (issued >= population["timestamp"] - window)
    return single & timely.fillna(False)


@check(
    title="Critical actions are approved one by one",
    description="Every critical action (of the control's action population) has a per-action "
    "approval: an approval receipt by a human principal sharing its correlation_id, a "
    "correlation_id naming an approval recorded elsewhere, or a single-use grant issued "
    "within the window before it. A standing grant is not an approval.",
    problem=Problem(
        "no_approval",
        "{n} critical [action carries|actions carry] no approval of that action",
        Severity.HIGH,
        "Require a per-action approval for these actions (an approval receipt sharing the "
        "action's correlation_id, or a single-use grant issued just before it): a standing "
        "grant authorizes, it does not approve.",
    ),
    min_risk=RISK | {"default": "critical"},
    actions=GLOBS | {"default": ["*"]},
    window_minutes={"type": "integer", "minimum": 1, "default": 15},
    approval_actions=GLOBS | {"default": ["*.approve", "*.approval", "*.approval.*"]},
    approval_references=_NAMES | {"default": []},
)
def human_approval(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chosen = at_least(evidence.in_scope, params["min_risk"])
    population = chosen[matches(chosen["action_type"], params["actions"])]
    by_receipt = _approved_by_receipt(evidence, population, params)
    references = params["approval_references"]
    by_reference = (
        matches(population["correlation_id"].astype(object).fillna(""), references)
        if references
        else pd.Series(False, index=population.index)
    )
    by_grant = _single_use_grant(evidence, population, params["window_minutes"])
    approved = by_receipt | by_reference | by_grant
    return verdict(
        f"every {params['min_risk']}+ action of {params['actions']} was approved on its own "
        f"(approval receipt, approval reference, or a single-use grant issued at most "
        f"{params['window_minutes']} min before)",
        population,
        ~approved,
        by_approval_receipt=int(by_receipt.sum()),
        by_approval_reference=int(by_reference.sum()),
        by_single_use_grant=int(by_grant.sum()),
    )


@check(
    title="Overseers' stops are recorded",
    description="Interruptions attributable to an overseer are on record: chains that end "
    "`interrupted` on a receipt taken for a human principal, other than a daemon's own "
    "shutdown (`exclude_actions`). Without any, receipts do not evidence the stop procedure.",
    problem=Problem(
        "stop_not_evidenced",
        "{n} [period shows|periods show] no stop by an overseer",
        Severity.LOW,
        "Test the stop procedure and keep its record; receipts show it only when it is used.",
    ),
    exclude_actions=GLOBS | {"default": ["agent_receipts.*"]},
)
def overseer_stops(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chains = evidence.chains_in_scope
    statement = "stops and interruptions by an overseer are recorded in the period"
    authentic = chains[chains["authentic"]]
    scope = evidence.trusted
    last = scope.sort_values("sequence").groupby("chain_id", observed=True).tail(1)
    interrupted = set(authentic.loc[authentic["termination"] == "interrupted", "chain_id"])
    stops = last[
        last["chain_id"].astype(str).isin(interrupted)
        & ~matches(last["action_type"], params["exclude_actions"])
        & (last["principal_type"].astype(str) == "HumanPrincipal")
    ]
    metrics: dict[str, Any] = {"interrupted_chains": len(interrupted), "overseer_stops": len(stops)}
    if authentic.empty or not stops.empty:
        return chain_verdict(statement, chains, pd.Series(False, index=chains.index), **metrics)
    return undecided(
        statement,
        Reason.NOT_EVIDENCED,
        population=len(authentic),
        untrusted=len(chains) - len(authentic),
        **metrics,
    )


@check(
    title="Destructive actions declare reversibility",
    description="Every destructive action states whether it can be reversed. The field is "
    "optional in the protocol and declaring reversibility is not the ability to override: "
    "supporting (advisory) evidence only.",
    problem=Problem(
        "reversibility_undeclared",
        "{n} destructive [action does|actions do] not declare reversibility",
        Severity.LOW,
        "Declare reversibility and the reversal method on destructive actions.",
    ),
    actions=GLOBS | {"default": DESTRUCTIVE},
)
def reversibility_declared(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    return verdict(
        "every destructive action states whether it can be reversed",
        population,
        population["reversible"].isna(),
    )


@check(
    title="Reversals point at their original",
    description="Every reversal receipt names an original receipt present in the evidence.",
    problem=Problem(
        "reversal_unlinked",
        "{n} [reversal names|reversals name] no original receipt in the evidence",
        Severity.HIGH,
        "Make reversal receipts reference the receipt they reverse.",
    ),
)
def reversal_links(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[scope["reversal_of"].notna()]
    receipts = evidence.receipts
    # Only the named originals are looked up: not a set of every trusted receipt id.
    named = receipts["receipt_id"].isin(set(population["reversal_of"]))
    known = set(receipts.loc[named & receipts["trusted"], "receipt_id"])
    return verdict(
        "every reversal receipt names an original present in the evidence",
        population,
        ~population["reversal_of"].isin(known),
        reversals=int(population["trusted"].astype(bool).sum()),
    )
