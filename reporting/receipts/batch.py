"""Verify every chain of a spool, in order, in this process or a pool of processes.

Pool workers are sent chain keys only and read the records from the spool themselves,
so the parent does not copy receipt bytes between processes (a Dask cluster's workers
cannot read this machine's files: `dask_executor` ships the records with each job).
A chain longer than `CHUNK_SIZE` is cut into runs of sequences that workers walk in
parallel; the parent carries the walk's state across the runs (`stitch_chunks`), so
memory is bounded by the chunk size and one long chain still uses every core.
Delegation (§7.6) and the uniqueness of receipt ids across chains are checked once
every chain is known.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from reporting.collector import tune_for_batch_work
from reporting.errors import Diagnostic, UsageError
from reporting.receipts.canonical import MalformedReceiptError, parse_receipt
from reporting.receipts.fields import get_path
from reporting.receipts.results import (
    POLICY_CODES,
    ChainResult,
    Code,
    Outcome,
    Problem,
    VerificationResult,
)
from reporting.receipts.sources import ChunkPlan, RawRecord, ReceiptSpool
from reporting.receipts.verify import (
    ChainInput,
    ChunkResult,
    ChunkStart,
    SequenceRange,
    VerifiedReceipt,
    VerifyOptions,
    finish_chain,
    parse_entry_problem,
    stitch_chunks,
    verified_receipts,
    walk_chunk,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["CHUNK_SIZE", "EXECUTORS", "Extract", "check_executor", "verify_spool"]

CHUNK_SIZE = 10_000  # receipts a worker holds parsed at once (plus one sequence's copies)
BATCH_RECORDS = 2_000  # small chains are sent to a worker together until a task holds this many

# Turns a job's parsed receipts (chain id and receipts, for each chain or run in the job)
# into what later stages keep; it runs in the worker, while the documents are in memory.
Extract = Callable[[Sequence[tuple[str, list[VerifiedReceipt]]]], Any]

EXECUTORS = ("local", "dask")  # this machine's processes, or a Dask cluster


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
    principals: dict[tuple[str, str], Any]  # (chain id, referenced receipt id) -> principal

    def shifted(self, offset: int) -> _ChainFacts:
        claims = tuple(replace(c, receipt_index=c.receipt_index + offset) for c in self.claims)
        return _ChainFacts(claims, self.principals)


@dataclass(frozen=True)
class _ChunkJob:
    """One run of a long chain's sequences."""

    chain_key: str
    number: int
    count: int
    plan: ChunkPlan


_Job = str | _ChunkJob | ChainInput
_Outcome = tuple[ChainResult | ChunkResult, _ChainFacts, Any]
_ChainOutcome = tuple[ChainResult, _ChainFacts, list[Any]]


class _RecordSource(Protocol):
    """Where a job's records are read: the spool, or (on a cluster) nowhere."""

    def records_for(self, chain_key: str) -> list[RawRecord]: ...
    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]: ...
    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]: ...


@dataclass(frozen=True)
class _JobContext:
    options: VerifyOptions
    parent_ids: frozenset[str]
    extract: Extract | None
    records: _RecordSource


_WORKER_CONTEXT: _JobContext | None = None


def _init_worker(context: _JobContext) -> None:
    global _WORKER_CONTEXT  # noqa: PLW0603 - one context per worker process, set once
    _WORKER_CONTEXT = context
    tune_for_batch_work()


def _facts(
    chain_id: str, documents: Sequence[dict[str, Any] | None], parent_ids: frozenset[str]
) -> _ChainFacts:
    """Delegation claims (indexed from the run's first receipt) and referenced principals."""
    claims: list[_DelegationClaim] = []
    principals: dict[tuple[str, str], Any] = {}
    for index, document in enumerate(documents):
        if document is None:
            continue
        subject = document.get("credentialSubject", {})
        principal = get_path(subject, "principal", "id")
        receipt_id = document.get("id")
        if isinstance(receipt_id, str) and receipt_id in parent_ids:
            principals.setdefault((chain_id, receipt_id), principal)
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


def _outcome(
    context: _JobContext,
    result: ChainResult | ChunkResult,
    documents: Sequence[dict[str, Any] | None],
) -> _Outcome:
    """What a job sends back: its verdicts, its delegation facts and its extract."""
    extract = None
    if context.extract is not None:
        verified = verified_receipts(documents, result.receipts)
        extract = context.extract([(result.chain_id, verified)])
    return result, _facts(result.chain_id, documents, context.parent_ids), extract


def _chunk_records(
    source: _RecordSource, job: _ChunkJob
) -> tuple[list[RawRecord], list[RawRecord]]:
    """A run's records, and those of the sequence just before it."""
    plan = job.plan
    records = source.records_in(job.chain_key, plan)
    previous = source.records_at(job.chain_key, plan.previous) if plan.previous is not None else []
    return records, previous


def _run_chunk(context: _JobContext, job: _ChunkJob, start: ChunkStart) -> _Outcome:
    return _walk_run(context, job, start, *_chunk_records(context.records, job))


def _walk_run(
    context: _JobContext,
    job: _ChunkJob,
    start: ChunkStart,
    records: list[RawRecord],
    previous: list[RawRecord],
) -> _Outcome:
    plan = job.plan
    chunk, documents = walk_chunk(
        job.chain_key,
        records,
        options=context.options,
        start=start,
        previous=previous,
        final=job.number == job.count - 1,
        sequences=SequenceRange(plan.low, plan.high, plan.nulls),
    )
    return _outcome(context, chunk, documents)


def _walk_whole(
    context: _JobContext, job: str | ChainInput
) -> tuple[ChainResult, list[dict[str, Any] | None]]:
    key, records = (job, context.records.records_for(job)) if isinstance(job, str) else job
    chunk, documents = walk_chunk(key, records, options=context.options)
    return finish_chain([chunk], context.options), documents


def _run_job(context: _JobContext, job: _Job) -> _Outcome:
    if isinstance(job, _ChunkJob):
        return _run_chunk(context, job, ChunkStart())
    return _outcome(context, *_walk_whole(context, job))


def _run_batch(context: _JobContext, jobs: Sequence[_Job]) -> list[_Outcome]:
    """Jobs run as one task; whole chains share one extract (one block of rows).

    The extract travels with the batch's first chain: the extracts are consumed in
    order, so where a block sits does not matter, only that each row is in one block.
    """
    whole = [job for job in jobs if not isinstance(job, _ChunkJob)]
    if context.extract is None or len(whole) != len(jobs) or len(jobs) < 2:
        return [_run_job(context, job) for job in jobs]
    walked = [_walk_whole(context, job) for job in whole]
    runs = [(r.chain_id, verified_receipts(docs, r.receipts)) for r, docs in walked]
    block = context.extract(runs)
    return [
        (
            result,
            _facts(result.chain_id, documents, context.parent_ids),
            block if number == 0 else None,
        )
        for number, (result, documents) in enumerate(walked)
    ]


def _worker_batch(jobs: Sequence[_Job]) -> list[_Outcome]:
    assert _WORKER_CONTEXT is not None
    return _run_batch(_WORKER_CONTEXT, jobs)


def _batches(jobs: Iterator[_Job], sizes: dict[str, int]) -> Iterator[list[_Job]]:
    """Small chains together until a batch holds BATCH_RECORDS records; a run alone."""
    batch: list[_Job] = []
    held = 0
    for job in jobs:
        if isinstance(job, _ChunkJob):
            if batch:
                yield batch
                batch, held = [], 0
            yield [job]
            continue
        batch.append(job)
        held += sizes.get(job, 1) if isinstance(job, str) else len(job[1])
        if held >= BATCH_RECORDS:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _join_chunks(
    context: _JobContext, jobs: list[_ChunkJob], outcomes: list[_Outcome]
) -> _ChainOutcome:
    """Stitch a long chain's runs (re-walking any whose start state was wrong) and finish it."""
    if not all(isinstance(o[0], ChunkResult) and o[0].in_range for o in outcomes):
        # The spool's ordering and the verifier's disagree (hostile or odd sequences):
        # walk the whole chain in one piece instead.
        result, facts, extract = _run_job(context, jobs[0].chain_key)
        assert isinstance(result, ChainResult)
        return result, facts, [extract]
    kept = list(outcomes)

    def rewalk(number: int, start: ChunkStart) -> ChunkResult:
        kept[number] = _run_chunk(context, jobs[number], start)
        chunk = kept[number][0]
        assert isinstance(chunk, ChunkResult)
        return chunk

    chunks = [o[0] for o in outcomes if isinstance(o[0], ChunkResult)]
    accepted = stitch_chunks(chunks, rewalk)
    result = finish_chain(accepted, context.options)
    claims: list[_DelegationClaim] = []
    principals: dict[tuple[str, str], Any] = {}
    offset = 0
    for chunk, (_, facts, _) in zip(accepted, kept, strict=True):
        claims.extend(facts.shifted(offset).claims)
        principals.update({k: v for k, v in facts.principals.items() if k not in principals})
        offset += len(chunk.receipts)
    return result, _ChainFacts(tuple(claims), principals), [o[2] for o in kept]


def _chain_id_of(record: RawRecord, options: VerifyOptions) -> str | None:
    try:
        limits = {"max_bytes": options.max_receipt_bytes, "max_depth": options.max_depth}
        document = parse_receipt(record.raw, **limits).document
    except MalformedReceiptError:
        return None
    chain_id = get_path(document, "credentialSubject", "chain", "chain_id")
    return chain_id if isinstance(chain_id, str) else None


def _orphan_problem(record: RawRecord, options: VerifyOptions) -> Problem | None:
    """A record SQLite could not group: malformed, or missing its chain id."""
    problem = parse_entry_problem(record, options)
    if problem is not None or _chain_id_of(record, options) is not None:
        return problem
    message = "receipt has no string credentialSubject.chain.chain_id; it belongs to no chain"
    return Problem(Code.SCHEMA_VIOLATION, message, None, None, None, record.origin)


def _plan_jobs(
    spool: ReceiptSpool,
    chain_filter: frozenset[str] | None,
    chunk_size: int,
    sizes: dict[str, int],
) -> list[_Job]:
    """Chain keys (workers read their records themselves); long chains as runs of sequences.

    Planned before any worker starts: cutting a chain writes to the spool.
    """
    jobs: list[_Job] = []
    for key in spool.chain_keys():
        if chain_filter is not None and key not in chain_filter:
            continue
        if sizes.get(key, 0) <= chunk_size:
            jobs.append(key)
            continue
        plans = spool.chunk_plan(key, chunk_size)
        jobs.extend(_ChunkJob(key, n, len(plans), plan) for n, plan in enumerate(plans))
    return jobs


def _lone_records(
    spool: ReceiptSpool,
    options: VerifyOptions,
    orphans: list[Problem],
    chain_filter: frozenset[str] | None,
) -> Iterator[_Job]:
    """Records SQLite could not group, each verified alone (or reported as an orphan)."""
    for record in spool.ungrouped_records():
        problem = _orphan_problem(record, options)
        if problem is not None:
            orphans.append(problem)
        elif chain_filter is None or _chain_id_of(record, options) in chain_filter:
            yield None, [record]


def _run_all(
    jobs: Iterator[_Job], context: _JobContext, workers: int, sizes: dict[str, int]
) -> Iterator[tuple[_Job, _Outcome]]:
    """Run jobs in order, in this process or a pool, with a bounded number in flight."""
    batches = _batches(jobs, sizes)
    if workers <= 1:
        for batch in batches:
            yield from zip(batch, _run_batch(context, batch), strict=True)
        return
    assert isinstance(context.records, ReceiptSpool)
    shared = replace(context, records=context.records.reader())
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(shared,)
    ) as pool:
        pending: deque[tuple[list[_Job], Future[list[_Outcome]]]] = deque()
        for batch in batches:
            pending.append((batch, pool.submit(_worker_batch, batch)))
            while len(pending) >= workers * 4:
                done, future = pending.popleft()
                yield from zip(done, future.result(), strict=True)
        for done, future in pending:
            yield from zip(done, future.result(), strict=True)


Runner = Callable[[Iterator[_Job], _JobContext], Iterator[tuple[_Job, _Outcome]]]


def check_executor(executor: str, scheduler: object) -> None:
    """A known executor, and a scheduler exactly when it is Dask's."""
    if executor not in EXECUTORS:
        message = f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}"
        raise UsageError(Diagnostic("UNKNOWN_EXECUTOR", message))
    if executor == "local" and scheduler is not None:
        message = "a scheduler is only used with --executor dask"
        raise UsageError(Diagnostic("SCHEDULER_WITHOUT_DASK", message))
    if executor == "dask" and scheduler is None:
        message = "--executor dask needs --scheduler ADDRESS (for example tcp://HOST:8786)"
        raise UsageError(Diagnostic("SCHEDULER_MISSING", message))


@contextmanager
def _runner(
    executor: str, scheduler: str | Client | None, workers: int, sizes: dict[str, int]
) -> Iterator[Runner]:
    """How jobs run: `_run_all` here, or on a Dask cluster connected for this run."""
    if executor == "local":
        yield lambda jobs, context: _run_all(jobs, context, workers, sizes)
        return
    from reporting.receipts.dask_executor import connect, run_on_cluster

    assert scheduler is not None
    with connect(scheduler) as client:
        yield lambda jobs, context: run_on_cluster(client, jobs, context)


def _chains(
    outcomes: Iterator[tuple[_Job, _Outcome]],
    context: _JobContext,
    progress: Callable[[int], None] | None,
) -> Iterator[_ChainOutcome]:
    """Whole chains from job outcomes, joining each long chain's runs as they arrive."""
    runs: list[_ChunkJob] = []
    run_outcomes: list[_Outcome] = []
    for job, outcome in outcomes:
        if progress:
            progress(len(outcome[0].receipts))
        if not isinstance(job, _ChunkJob):
            result, facts, extract = outcome
            assert isinstance(result, ChainResult)
            yield result, facts, [extract]
            continue
        runs.append(job)
        run_outcomes.append(outcome)
        if job.number == job.count - 1:
            yield _join_chunks(context, runs, run_outcomes)
            runs, run_outcomes = [], []


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
    claim: _DelegationClaim,
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
    chains: list[ChainResult], facts: list[_ChainFacts], principals: dict[tuple[str, str], Any]
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
    extract: Extract | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    executor: str = "local",
    scheduler: str | Client | None = None,
) -> tuple[VerificationResult, list[Any]]:
    """Verify every chain in the spool; returns the results and the extracts, in order.

    A chain read in chunks has one extract per chunk, so the extracts are a flat list in
    chain order; a chain's receipts are all in the extracts that precede the next's.
    `executor="local"` runs in `workers` processes here; `"dask"` on the cluster whose
    scheduler address (or connected `distributed.Client`) is `scheduler`, with the same
    results.
    """
    check_executor(executor, scheduler)
    context = _JobContext(options, frozenset(spool.delegation_parents()), extract, spool)
    orphans: list[Problem] = list(spool.problems)
    sizes = spool.chain_sizes()
    planned = _plan_jobs(spool, chain_filter, chunk_size, sizes)
    jobs = itertools.chain(planned, _lone_records(spool, options, orphans, chain_filter))
    chains: list[ChainResult] = []
    facts: list[_ChainFacts] = []
    extracts: list[Any] = []
    principals: dict[tuple[str, str], Any] = {}
    with _runner(executor, scheduler, workers, sizes) as run:
        for result, chain_facts, extracted in _chains(run(jobs, context), context, progress):
            chains.append(result)
            facts.append(chain_facts)
            extracts.extend(extracted)
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
