"""Verification jobs: what one task verifies, how it runs, and how long chains are joined.

A job is a whole chain (its key; a worker reads its records itself), a record verified
alone, or one run of a long chain's sequences (`ChunkJob`). Jobs run in order, in this
process or in an executor's workers (`executors.py`), which all call `run_batch` with a
`JobContext`: the options, the ids delegation refers to, the extract to run while the
documents are in memory, and where records are read. Outcomes come back in job order;
`chain_outcomes` joins each long chain's runs as they arrive (`chunks.stitch_chunks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reporting.receipts.chunks import (
    ChunkResult,
    SequenceRange,
    collector_paused,
    finish_chain,
    stitch_chunks,
    verified_receipts,
    walk_chunk,
)
from reporting.receipts.crosschain import ChainFacts, chain_facts
from reporting.receipts.options import VerifyOptions
from reporting.receipts.records import RawRecord, keys_of
from reporting.receipts.results import ChainResult, Code, Problem, VerifiedReceipt
from reporting.receipts.rules import RunStart, parse_entry
from reporting.receipts.spool import ChunkPlan, ReceiptSpool

__all__ = [
    "BATCH_RECORDS",
    "CHUNK_SIZE",
    "ChainInput",
    "ChainOutcome",
    "ChunkJob",
    "Extract",
    "Job",
    "JobContext",
    "Outcome",
    "RecordSource",
    "batches",
    "chain_outcomes",
    "chunk_records",
    "plan_jobs",
    "run_batch",
    "run_job",
    "walk_run",
]

CHUNK_SIZE = 10_000  # receipts a worker holds parsed at once (plus one sequence's copies)
BATCH_RECORDS = 2_000  # small jobs are sent to a worker together until a task holds this many

# Turns a job's parsed receipts (chain id and receipts, for each chain or run in the job)
# into what later stages keep; it runs in the worker, while the documents are in memory.
Extract = Callable[[Sequence[tuple[str, list[VerifiedReceipt]]]], Any]
ChainInput = tuple[str | None, list[RawRecord]]  # a chain's key (None: a lone record), records


@dataclass(frozen=True)
class ChunkJob:
    """One run of a long chain's sequences."""

    chain_key: str
    number: int
    count: int
    plan: ChunkPlan


Job = str | ChunkJob | ChainInput
Outcome = tuple[ChainResult | ChunkResult, ChainFacts, Any]  # verdict, facts, extract
ChainOutcome = tuple[ChainResult, ChainFacts, list[Any]]


class RecordSource(Protocol):
    """Where a job's records are read: the spool (or, on a cluster, nowhere)."""

    def records_for(self, chain_key: str) -> list[RawRecord]: ...
    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]: ...
    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]: ...


@dataclass(frozen=True)
class JobContext:
    """What every job of a run needs besides its own records."""

    options: VerifyOptions
    # Receipt ids some receipt names as its delegation parent; None until known (a pool
    # started before the spool was finished reads them from it: `executors.py`).
    parent_ids: frozenset[str] | None
    extract: Extract | None
    records: RecordSource


# -- running jobs ---------------------------------------------------------------------------


def chunk_records(source: RecordSource, job: ChunkJob) -> tuple[list[RawRecord], list[RawRecord]]:
    """A run's records, and those of the sequence just before it."""
    plan = job.plan
    records = source.records_in(job.chain_key, plan)
    previous = source.records_at(job.chain_key, plan.previous) if plan.previous is not None else []
    return records, previous


def _outcome(
    context: JobContext,
    result: ChainResult | ChunkResult,
    documents: Sequence[dict[str, Any] | None],
) -> Outcome:
    """What a job sends back: its verdicts, its delegation facts and its extract."""
    extract = None
    if context.extract is not None:
        verified = verified_receipts(documents, result.receipts)
        extract = context.extract([(result.chain_id, verified)])
    return result, chain_facts(result.chain_id, documents, _parents(context)), extract


def _parents(context: JobContext) -> frozenset[str]:
    assert context.parent_ids is not None, "delegation parents are known before a job runs"
    return context.parent_ids


def walk_run(
    context: JobContext,
    job: ChunkJob,
    start: RunStart,
    records: list[RawRecord],
    previous: list[RawRecord],
) -> Outcome:
    """Walk one run of a long chain from `start`, its records already read."""
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


def _run_chunk(context: JobContext, job: ChunkJob, start: RunStart) -> Outcome:
    return walk_run(context, job, start, *chunk_records(context.records, job))


def _walk_whole(
    context: JobContext, job: str | ChainInput
) -> tuple[ChainResult, list[dict[str, Any] | None]]:
    key, records = (job, context.records.records_for(job)) if isinstance(job, str) else job
    chunk, documents = walk_chunk(key, records, options=context.options)
    return finish_chain([chunk], context.options), documents


def run_job(context: JobContext, job: Job) -> Outcome:
    if isinstance(job, ChunkJob):
        return _run_chunk(context, job, RunStart())
    return _outcome(context, *_walk_whole(context, job))


def run_batch(context: JobContext, jobs: Sequence[Job]) -> list[Outcome]:
    """Jobs run as one task; whole chains share one extract (one block of rows).

    The extract travels with the batch's first chain: the extracts are consumed in
    order, so where a block sits does not matter, only that each row is in one block.
    """
    with collector_paused():  # the documents are dropped before the collector looks
        whole = [job for job in jobs if not isinstance(job, ChunkJob)]
        if context.extract is None or len(whole) != len(jobs) or len(jobs) < 2:
            return [run_job(context, job) for job in jobs]
        walked = [_walk_whole(context, job) for job in whole]
        runs = [(r.chain_id, verified_receipts(docs, r.receipts)) for r, docs in walked]
        block = context.extract(runs)
        return [
            (
                result,
                chain_facts(result.chain_id, documents, _parents(context)),
                block if n == 0 else None,
            )
            for n, (result, documents) in enumerate(walked)
        ]


# -- planning -----------------------------------------------------------------------------


def batches(jobs: Iterator[Job], sizes: dict[str, int]) -> Iterator[list[Job]]:
    """Small chains together until a batch holds BATCH_RECORDS records; a run alone."""
    batch: list[Job] = []
    held = 0
    for job in jobs:
        if isinstance(job, ChunkJob):
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


def _orphan(record: RawRecord, options: VerifyOptions) -> Problem | str:
    """A record the spool could not group: its problem, or the chain id it does have
    (when the run's limits let it parse where the spool's did not)."""
    entry = parse_entry(record, options)
    if entry.problems:
        return entry.problems[0]
    chain_id = keys_of(entry.document).chain_id
    if chain_id is not None:
        return chain_id
    message = "receipt has no string credentialSubject.chain.chain_id; it belongs to no chain"
    return Problem(Code.SCHEMA_VIOLATION, message, None, None, None, record.origin)


def plan_jobs(
    spool: ReceiptSpool,
    options: VerifyOptions,
    *,
    chain_filter: frozenset[str] | None,
    chunk_size: int,
    sizes: dict[str, int],
    early: Mapping[str, tuple[Sequence[ChunkPlan], int]] | None = None,
    tail_size: int | None = None,
) -> tuple[list[Job], list[Problem]]:
    """The run's jobs, in order, and the problems of records that belong to no chain.

    Chain keys (workers read their records themselves); long chains as runs of
    sequences; records SQLite could not group, each verified alone or reported. Planned
    once the spool is finished: cutting a chain reads the whole spool's index. `early`
    holds, by chain key, the runs already sent (`headstart.py`) and their last sequence:
    such a chain is planned on from there, in runs of `tail_size` (the last jobs of the
    run: small ones keep every worker busy to the end).
    """
    jobs: list[Job] = []
    for key in spool.chain_keys():
        if chain_filter is not None and key not in chain_filter:
            continue
        sent, last = early[key] if early and key in early else ((), 0)
        if not sent and sizes.get(key, 0) <= chunk_size:
            jobs.append(key)
            continue
        after = (sent[-1].high, last) if sent and sent[-1].high is not None else None
        size = (tail_size or chunk_size) if sent else chunk_size
        plans = [*sent, *spool.chunk_plan(key, size, after=after)]
        jobs.extend(ChunkJob(key, n, len(plans), plan) for n, plan in enumerate(plans))
    orphans: list[Problem] = []
    for record in spool.ungrouped_records():
        found = _orphan(record, options)
        if isinstance(found, Problem):
            orphans.append(found)
        elif chain_filter is None or found in chain_filter:
            jobs.append((None, [record]))
    return jobs, orphans


# -- joining ------------------------------------------------------------------------------


def _join_chunks(
    context: JobContext, jobs: list[ChunkJob], outcomes: list[Outcome]
) -> ChainOutcome:
    """Stitch a long chain's runs (re-walking any whose start state was wrong) and finish it."""
    if not all(isinstance(o[0], ChunkResult) and o[0].in_range for o in outcomes):
        # The spool's ordering and the verifier's disagree (hostile or odd sequences):
        # walk the whole chain in one piece instead.
        result, facts, extract = run_job(context, jobs[0].chain_key)
        assert isinstance(result, ChainResult)
        return result, facts, [extract]
    kept = list(outcomes)

    def rewalk(number: int, start: RunStart) -> ChunkResult:
        kept[number] = _run_chunk(context, jobs[number], start)
        chunk = kept[number][0]
        assert isinstance(chunk, ChunkResult)
        return chunk

    chunks = [o[0] for o in outcomes if isinstance(o[0], ChunkResult)]
    accepted = stitch_chunks(chunks, rewalk)
    result = finish_chain(accepted, context.options)
    facts = ChainFacts.joined(
        [(facts, len(chunk.receipts)) for chunk, (_, facts, _) in zip(accepted, kept, strict=True)]
    )
    return result, facts, [o[2] for o in kept]


def chain_outcomes(
    outcomes: Iterator[tuple[Job, Outcome]],
    context: JobContext,
    progress: Callable[[int], None] | None,
) -> Iterator[ChainOutcome]:
    """Whole chains from job outcomes, joining each long chain's runs as they arrive."""
    runs: list[ChunkJob] = []
    run_outcomes: list[Outcome] = []
    for job, outcome in outcomes:
        if progress:
            progress(len(outcome[0].receipts))
        if not isinstance(job, ChunkJob):
            result, facts, extract = outcome
            assert isinstance(result, ChainResult)
            yield result, facts, [extract]
            continue
        runs.append(job)
        run_outcomes.append(outcome)
        if job.number == job.count - 1:
            yield _join_chunks(context, runs, run_outcomes)
            runs, run_outcomes = [], []
