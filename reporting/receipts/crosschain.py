"""Checks across chains, once every chain is known: §7.6 delegation, receipt ids unique
across chains, and witnessed chains missing from the input.

A chain's facts (`chain_facts`) are gathered while its documents are in memory (in a
worker); the checks run in the parent over the chains' verdicts and facts, and amend
the receipts they concern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reporting.receipts.external import Witness
from reporting.receipts.fields import get_path
from reporting.receipts.options import VerifyOptions
from reporting.receipts.results import POLICY_CODES, ChainResult, Code, Outcome, Problem

__all__ = [
    "ChainFacts",
    "DelegationClaim",
    "chain_facts",
    "check_across_chains",
    "missing_witnessed",
]


@dataclass(frozen=True, slots=True)
class DelegationClaim:
    """A receipt's claim to act under delegation from a receipt in another chain."""

    receipt_index: int
    parent_chain_id: Any
    parent_receipt_id: Any
    delegator_id: Any
    principal_id: Any


@dataclass(frozen=True)
class ChainFacts:
    """What delegation needs to know about a chain once it has left memory."""

    claims: tuple[DelegationClaim, ...]
    principals: dict[tuple[str, str], Any]  # (chain id, referenced receipt id) -> principal

    @staticmethod
    def joined(runs: Sequence[tuple[ChainFacts, int]]) -> ChainFacts:
        """The facts of a chain walked in runs: each run's facts and its receipt count."""
        claims: list[DelegationClaim] = []
        principals: dict[tuple[str, str], Any] = {}
        offset = 0
        for facts, length in runs:
            claims.extend(replace(c, receipt_index=c.receipt_index + offset) for c in facts.claims)
            for key, principal in facts.principals.items():
                principals.setdefault(key, principal)
            offset += length
        return ChainFacts(tuple(claims), principals)


def chain_facts(
    chain_id: str, documents: Sequence[dict[str, Any] | None], parent_ids: frozenset[str]
) -> ChainFacts:
    """Delegation claims (indexed from the run's first receipt) and referenced principals."""
    claims: list[DelegationClaim] = []
    principals: dict[tuple[str, str], Any] = {}
    for index, document in enumerate(documents):
        if document is None:
            continue
        subject = document.get("credentialSubject", {})
        receipt_id = document.get("id")
        parent = bool(parent_ids) and isinstance(receipt_id, str) and receipt_id in parent_ids
        delegation = subject.get("delegation") if isinstance(subject, dict) else None
        if not parent and not isinstance(delegation, dict):
            continue  # most receipts: neither a parent nor delegated
        principal = get_path(subject, "principal", "id")
        if parent:
            principals.setdefault((chain_id, str(receipt_id)), principal)
        if isinstance(delegation, dict):
            claims.append(
                DelegationClaim(
                    index,
                    delegation.get("parent_chain_id"),
                    delegation.get("parent_receipt_id"),
                    get_path(delegation, "delegator", "id"),
                    principal,
                )
            )
    return ChainFacts(tuple(claims), principals)


# Failures that leave a receipt what its issuer signed, where its chain says it is: the
# policy tier (§7.9), a store column that disagrees with the signed JSON (the column is
# not evidence), and what a witness or --require-terminal says of the chain's end.
_STILL_AUTHENTIC = POLICY_CODES | {
    Code.INDEX_MISMATCH,
    Code.LENGTH_MISMATCH,
    Code.FINAL_HASH_MISMATCH,
    Code.TERMINAL_REQUIRED,
}


def _first_inauthentic(chain: ChainResult) -> int | None:
    """The index of the first receipt that is not authentic, with all before it."""
    return next(
        (
            index
            for index, receipt in enumerate(chain.receipts)
            if not _STILL_AUTHENTIC.issuperset(receipt.failures)
        ),
        None,
    )


def _delegation_failures(
    claim: DelegationClaim,
    chains: dict[str, ChainResult],
    principals: dict[tuple[str, str], Any],
) -> str | None:
    """Why a delegation claim cannot be verified, or None when it holds (§7.6).

    The four checks: the parent chain is in the input; the parent receipt is in it and
    authentic (it, and every receipt before it, verified: a break after it, or a store
    column that disagrees, does not make it less so); the delegator is the parent
    chain's issuer; the principal is the parent receipt's.
    """
    parent = chains.get(claim.parent_chain_id) if isinstance(claim.parent_chain_id, str) else None
    if parent is None:
        return f"parent chain {claim.parent_chain_id!r} is not in the input"
    index = next(
        (i for i, r in enumerate(parent.receipts) if r.receipt_id == claim.parent_receipt_id),
        None,
    )
    if index is None:
        return f"parent receipt {claim.parent_receipt_id!r} is not in chain {parent.chain_id!r}"
    broken = _first_inauthentic(parent)
    if broken is not None and broken <= index:
        return (
            f"parent receipt {claim.parent_receipt_id!r} is not authentic: chain "
            f"{parent.chain_id!r} fails at index {broken}, at or before it"
        )
    if claim.delegator_id != parent.issuer:
        return (
            f"delegator {claim.delegator_id!r} is not the parent chain's issuer {parent.issuer!r}"
        )
    parent_principal = principals.get((parent.chain_id, str(claim.parent_receipt_id)))
    if parent_principal != claim.principal_id:
        return f"principal {claim.principal_id!r} differs from the parent's {parent_principal!r}"
    return None


def _with_problem(chain: ChainResult, index: int, problem: Problem) -> ChainResult:
    receipts = list(chain.receipts)
    receipt = receipts[index]
    receipts[index] = receipt._replace(
        outcome=Outcome.FAILED,
        failures=tuple(dict.fromkeys((*receipt.failures, problem.code))),
    )
    broken_at = index if chain.broken_at is None else min(chain.broken_at, index)
    return replace(
        chain, receipts=tuple(receipts), failures=(*chain.failures, problem), broken_at=broken_at
    )


def _check_delegations(
    chains: list[ChainResult], facts: list[ChainFacts], principals: dict[tuple[str, str], Any]
) -> list[ChainResult]:
    by_id = {c.chain_id: c for c in chains}
    checked: list[ChainResult] = []
    for original, chain_facts in zip(chains, facts, strict=True):
        chain = original
        for claim in chain_facts.claims:
            reason = _delegation_failures(claim, by_id, principals)
            if reason is not None:
                receipt = chain.receipts[claim.receipt_index]
                problem = Problem(
                    Code.DELEGATION_UNVERIFIABLE,
                    reason,
                    receipt.receipt_id,
                    receipt.sequence,
                    claim.receipt_index,
                    receipt.origin,
                )
                chain = _with_problem(chain, claim.receipt_index, problem)
        checked.append(chain)
    return checked


def _flag_shared_ids(chains: list[ChainResult], shared: set[str]) -> list[ChainResult]:
    """Receipt ids are globally unique; one id in two chains is a failure in both."""
    if not shared:
        return chains
    flagged: list[ChainResult] = []
    for original in chains:
        chain = original
        for index, receipt in enumerate(original.receipts):
            if receipt.receipt_id in shared:
                message = f"receipt id {receipt.receipt_id} also appears in another chain"
                problem = Problem(
                    Code.DUPLICATE_RECEIPT_ID,
                    message,
                    receipt.receipt_id,
                    receipt.sequence,
                    index,
                    receipt.origin,
                )
                chain = _with_problem(chain, index, problem)
        flagged.append(chain)
    return flagged


def missing_witnessed(
    witnesses: Mapping[str, Witness], found: set[str], chain_filter: frozenset[str] | None
) -> list[Problem]:
    """A witnessed chain absent from the input was removed whole: that is a failure (of
    the run, for every witnessed chain the filter selects that is not `found`)."""
    return [
        Problem(
            Code.WITNESS_CHAIN_MISSING,
            f"the witness expects chain {chain_id!r} "
            f"({witness.length if witness.length is not None else '?'} receipts); "
            "it is not in the input",
        )
        for chain_id, witness in sorted(witnesses.items())
        if chain_id not in found and (chain_filter is None or chain_id in chain_filter)
    ]


def check_across_chains(
    chains: Sequence[ChainResult],
    facts: Sequence[ChainFacts],
    *,
    shared_ids: set[str],
    options: VerifyOptions,
    chain_filter: frozenset[str] | None,
) -> tuple[list[ChainResult], list[Problem]]:
    """The chains amended by delegation and shared receipt ids, and the problems of the
    run as a whole (witnessed chains not in the input)."""
    principals: dict[tuple[str, str], Any] = {}
    for chain_facts in facts:
        principals.update(chain_facts.principals)
    checked = _check_delegations(list(chains), list(facts), principals)
    checked = _flag_shared_ids(checked, shared_ids)
    found = {c.chain_id for c in checked}
    return checked, missing_witnessed(options.witnesses, found, chain_filter)
