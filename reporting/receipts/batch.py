"""Verify every chain of a spool, in order, in this process or a pool of processes.

Workers are sent chain keys only and read the records from the spool themselves, so
the parent does not copy receipt bytes between processes. Delegation (§7.6) and the
uniqueness of receipt ids across chains are checked once every chain is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from reporting.receipts.canonical import MalformedReceiptError, parse_receipt
from reporting.receipts.fields import get_path
from reporting.receipts.results import (
    ChainResult,
    Code,
    Outcome,
    Problem,
    VerificationResult,
)
from reporting.receipts.sources import RawRecord, ReceiptSpool, SpoolReader
from reporting.receipts.verify import (
    ChainInput,
    VerifiedReceipt,
    VerifyOptions,
    parse_entry_problem,
    verify_chain,
)

__all__ = ["verify_spool"]


@dataclass(frozen=True, slots=True)
class _DelegationClaim:
    """A receipt's claim to act under delegation from a receipt in another chain."""

    receipt_index: int
    parent_chain_id: Any
    parent_receipt_id: Any
    delegator_id: Any
    principal_id: Any


@dataclass(frozen=True)
class _ChainFacts:
    """What delegation needs to know about a chain once it has left memory."""

    claims: tuple[_DelegationClaim, ...]
    principals: dict[str, Any]  # referenced parent receipt id -> its principal id


@dataclass(frozen=True)
class _JobContext:
    options: VerifyOptions
    parent_ids: frozenset[str]
    extract: Callable[[ChainResult, list[VerifiedReceipt]], Any] | None
    records: SpoolReader | ReceiptSpool


_WORKER_CONTEXT: _JobContext | None = None


def _init_worker(context: _JobContext) -> None:
    global _WORKER_CONTEXT  # noqa: PLW0603 - one context per worker process, set once
    _WORKER_CONTEXT = context


def _facts(verified: list[VerifiedReceipt], parent_ids: frozenset[str]) -> _ChainFacts:
    claims: list[_DelegationClaim] = []
    principals: dict[str, Any] = {}
    for index, item in enumerate(verified):
        subject = item.document.get("credentialSubject", {})
        principal = get_path(subject, "principal", "id")
        if item.result.receipt_id in parent_ids:
            principals[item.result.receipt_id or ""] = principal
        delegation = subject.get("delegation") if isinstance(subject, dict) else None
        if isinstance(delegation, dict):
            claims.append(
                _DelegationClaim(
                    index,
                    delegation.get("parent_chain_id"),
                    delegation.get("parent_receipt_id"),
                    get_path(delegation, "delegator", "id"),
                    principal,
                )
            )
    return _ChainFacts(tuple(claims), principals)


def _run_job(context: _JobContext, job: str | ChainInput) -> tuple[ChainResult, _ChainFacts, Any]:
    key, records = (job, context.records.records_for(job)) if isinstance(job, str) else job
    result, verified = verify_chain(key, records, options=context.options)
    extract = context.extract(result, verified) if context.extract else None
    return result, _facts(verified, context.parent_ids), extract


def _worker_job(job: str | ChainInput) -> tuple[ChainResult, _ChainFacts, Any]:
    assert _WORKER_CONTEXT is not None
    return _run_job(_WORKER_CONTEXT, job)


def _chain_id_of(record: RawRecord) -> str | None:
    try:
        document = parse_receipt(record.raw).document
    except MalformedReceiptError:
        return None
    chain_id = get_path(document, "credentialSubject", "chain", "chain_id")
    return chain_id if isinstance(chain_id, str) else None


def _orphan_problem(record: RawRecord, options: VerifyOptions) -> Problem | None:
    """A record SQLite could not group: malformed, or missing its chain id."""
    problem = parse_entry_problem(record, options)
    if problem is not None or _chain_id_of(record) is not None:
        return problem
    message = "receipt has no string credentialSubject.chain.chain_id; it belongs to no chain"
    return Problem(Code.SCHEMA_VIOLATION, message, None, None, None, record.origin)


def _jobs(
    spool: ReceiptSpool,
    options: VerifyOptions,
    orphans: list[Problem],
    chain_filter: frozenset[str] | None,
) -> Iterator[str | ChainInput]:
    """Chain keys (workers read their records themselves), then lone ungrouped records."""
    for key in spool.chain_keys():
        if chain_filter is None or key in chain_filter:
            yield key
    for record in spool.ungrouped_records():
        problem = _orphan_problem(record, options)
        if problem is not None:
            orphans.append(problem)
        elif chain_filter is None or _chain_id_of(record) in chain_filter:
            yield None, [record]


def _run_all(
    jobs: Iterator[str | ChainInput],
    context: _JobContext,
    workers: int,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[ChainResult, _ChainFacts, Any]]:
    """Verify chains in order, in this process or a pool, with a bounded number in flight."""
    if workers <= 1:
        for job in jobs:
            outcome = _run_job(context, job)
            if progress:
                progress(outcome[0].length)
            yield outcome
        return
    assert isinstance(context.records, ReceiptSpool)
    shared = replace(context, records=context.records.reader())
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(shared,)
    ) as pool:
        pending: list[Future[tuple[ChainResult, _ChainFacts, Any]]] = []
        for job in jobs:
            pending.append(pool.submit(_worker_job, job))
            while len(pending) >= workers * 4:
                outcome = pending.pop(0).result()
                if progress:
                    progress(outcome[0].length)
                yield outcome
        for future in pending:
            outcome = future.result()
            if progress:
                progress(outcome[0].length)
            yield outcome


def _delegation_failures(
    claim: _DelegationClaim, chains: dict[str, ChainResult], principals: dict[str, Any]
) -> str | None:
    """Why a delegation claim cannot be verified, or None when it holds (§7.6)."""
    parent = chains.get(claim.parent_chain_id) if isinstance(claim.parent_chain_id, str) else None
    if parent is None:
        return f"parent chain {claim.parent_chain_id!r} is not in the input"
    if not any(r.receipt_id == claim.parent_receipt_id for r in parent.receipts):
        return f"parent receipt {claim.parent_receipt_id!r} is not in chain {parent.chain_id!r}"
    if claim.delegator_id != parent.issuer:
        return (
            f"delegator {claim.delegator_id!r} is not the parent chain's issuer {parent.issuer!r}"
        )
    if principals.get(str(claim.parent_receipt_id)) != claim.principal_id:
        parent_principal = principals.get(str(claim.parent_receipt_id))
        return f"principal {claim.principal_id!r} differs from the parent's {parent_principal!r}"
    if not parent.valid:
        return f"parent chain {parent.chain_id!r} failed verification"
    return None


def _with_problem(chain: ChainResult, index: int, problem: Problem) -> ChainResult:
    receipts = list(chain.receipts)
    receipt = receipts[index]
    receipts[index] = replace(
        receipt,
        outcome=Outcome.FAILED,
        failures=tuple(dict.fromkeys((*receipt.failures, problem.code))),
    )
    broken_at = index if chain.broken_at is None else min(chain.broken_at, index)
    return replace(
        chain, receipts=tuple(receipts), failures=(*chain.failures, problem), broken_at=broken_at
    )


def _check_delegations(
    chains: list[ChainResult], facts: list[_ChainFacts], principals: dict[str, Any]
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


def verify_spool(
    spool: ReceiptSpool,
    *,
    options: VerifyOptions,
    workers: int = 1,
    chain_filter: frozenset[str] | None = None,
    extract: Callable[[ChainResult, list[VerifiedReceipt]], Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[VerificationResult, list[Any]]:
    """Verify every chain in the spool; returns the results and each chain's extract."""
    context = _JobContext(options, frozenset(spool.delegation_parents()), extract, spool)
    orphans: list[Problem] = list(spool.problems)
    jobs = _jobs(spool, options, orphans, chain_filter)
    chains: list[ChainResult] = []
    facts: list[_ChainFacts] = []
    extracts: list[Any] = []
    principals: dict[str, Any] = {}
    for result, chain_facts, extracted in _run_all(jobs, context, workers, progress):
        chains.append(result)
        facts.append(chain_facts)
        extracts.append(extracted)
        principals.update(chain_facts.principals)
    chains = _check_delegations(chains, facts, principals)
    chains = _flag_shared_ids(chains, spool.ids_in_several_chains())
    orphans.extend(_missing_witnessed_chains(options, chains, chain_filter))
    return VerificationResult(chains=tuple(chains), input_problems=tuple(orphans)), extracts


def _missing_witnessed_chains(
    options: VerifyOptions, chains: list[ChainResult], chain_filter: frozenset[str] | None
) -> list[Problem]:
    """A witnessed chain absent from the input was removed whole: that is a failure."""
    found = {c.chain_id for c in chains}
    return [
        Problem(
            Code.WITNESS_CHAIN_MISSING,
            f"the witness expects chain {chain_id!r} "
            f"({witness.length if witness.length is not None else '?'} receipts); "
            "it is not in the input",
        )
        for chain_id, witness in sorted(options.witnesses.items())
        if chain_id not in found and (chain_filter is None or chain_id in chain_filter)
    ]
