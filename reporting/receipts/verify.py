"""Independent verification of Agent Receipt chains (spec §7.1-§7.9): the entry points.

* `verify_chain` verifies one chain's records in this process;
* `verify_spool` verifies every chain of a spool: it plans the jobs (`jobs.py`), runs
  them on an executor (`executors.py`: this machine's processes or a Dask cluster),
  joins long chains' runs (`chunks.py`), then runs the checks across chains
  (`crosschain.py`). The rules themselves are in `rules.py`, step by step. With a head
  start (`headstart.py`) the pool was started while the spool was written, and the
  runs it verified then are taken where their guesses held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reporting.receipts.chunks import collector_paused, finish_chain, verified_receipts, walk_chunk
from reporting.receipts.crosschain import ChainFacts, check_across_chains
from reporting.receipts.executors import StartedPool, executor_for
from reporting.receipts.headstart import EarlyRun, HeadStart
from reporting.receipts.jobs import CHUNK_SIZE, Extract, JobContext, chain_outcomes, plan_jobs
from reporting.receipts.options import VerifyOptions
from reporting.receipts.records import RawRecord
from reporting.receipts.results import ChainResult, Problem, VerificationResult, VerifiedReceipt
from reporting.receipts.spool import ReceiptSpool

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "CHUNK_SIZE",
    "Extract",
    "VerifiedReceipt",
    "VerifyOptions",
    "verify_chain",
    "verify_spool",
]


def verify_chain(
    chain_key: str | None,
    records: Sequence[RawRecord],
    *,
    options: VerifyOptions,
) -> tuple[ChainResult, list[VerifiedReceipt]]:
    """Verify one chain's records; every receipt gets its own verdict."""
    with collector_paused():
        chunk, documents = walk_chunk(chain_key, records, options=options)
        result = finish_chain([chunk], options)
        return result, verified_receipts(documents, result.receipts)


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
    head_start: HeadStart | None = None,
) -> tuple[VerificationResult, list[Any]]:
    """Verify every chain in the spool; returns the results and the extracts, in order.

    A chain read in chunks has one extract per chunk, so the extracts are a flat list in
    chain order; a chain's receipts are all in the extracts that precede the next's.
    `executor="local"` runs in `workers` processes here; `"dask"` on the cluster whose
    scheduler address (or connected `distributed.Client`) is `scheduler`, with the same
    results. `head_start`: the one the spool was written with (`spool_sources`), whose
    pool then runs every job.
    """
    sizes = spool.chain_sizes()
    context = JobContext(options, frozenset(spool.delegation_parents()), extract, spool)
    started, early = _taken_over(head_start, spool, executor, chain_filter)
    tail_size = None
    if started is not None and head_start is not None:
        assert head_start.extract is extract, "the head start ran another extract"
        workers = head_start.workers
        tail_size = max(1, head_start.chunk // workers)
    with executor_for(executor, scheduler, workers=workers, sizes=sizes, started=started) as runner:
        jobs, orphans = plan_jobs(
            spool,
            options,
            chain_filter=chain_filter,
            chunk_size=chunk_size,
            sizes=sizes,
            early={key: ([r.plan for r in runs], runs[-1].last) for key, runs in early.items()},
            tail_size=tail_size,
        )
        shared_ids = spool.ids_in_several_chains()  # while a started pool works
        chains: list[ChainResult] = []
        facts: list[ChainFacts] = []
        extracts: list[Any] = []
        for result, chain_facts, extracted in chain_outcomes(
            runner.run(iter(jobs), context), context, progress
        ):
            chains.append(result)
            facts.append(chain_facts)
            extracts.extend(extracted)
    checked, missing = check_across_chains(
        chains,
        facts,
        shared_ids=shared_ids,
        options=options,
        chain_filter=chain_filter,
    )
    problems: list[Problem] = [*spool.problems, *orphans, *missing]
    return VerificationResult(chains=tuple(checked), input_problems=tuple(problems)), extracts


def _taken_over(
    head_start: HeadStart | None,
    spool: ReceiptSpool,
    executor: str,
    chain_filter: frozenset[str] | None,
) -> tuple[StartedPool | None, dict[str, list[EarlyRun]]]:
    """The pool a head start started, with the early runs kept (those of selected chains
    whose guesses held); none when there was no head start or the jobs run elsewhere."""
    if head_start is None or head_start.started is None:
        return None, {}
    runs = head_start.early_runs(spool)
    if executor != "local":
        head_start.close()
        return None, {}
    kept = {k: r for k, r in runs.items() if chain_filter is None or k in chain_filter}
    futures = {(key, n): run.future for key, runs in kept.items() for n, run in enumerate(runs)}
    return replace(head_start.started, early=futures), kept
