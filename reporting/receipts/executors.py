"""Where jobs run: this machine's processes, or a Dask cluster, behind one small interface.

An `Executor` takes the run's jobs, in order, and yields each with its outcome, in the
same order, keeping a bounded number in flight so memory stays bounded. `LocalExecutor`
runs them here, in this process (one worker) or a pool of processes that read their
records from the spool themselves; `dask_executor.DaskExecutor` ships each job's
records to a cluster. Both run `jobs.run_batch` on the other side.

A pool may be started before the spool is finished (`start_pool`, for `headstart.py`):
runs sent to it early (`send_early`) carry their records, and `LocalExecutor` takes
their outcomes in their place among the jobs (`StartedPool`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from reporting.collector import tune_for_batch_work
from reporting.errors import Diagnostic, DiagnosticCode, UsageError
from reporting.receipts.chunks import collector_paused
from reporting.receipts.jobs import (
    BATCH_RECORDS,
    ChunkJob,
    Job,
    JobContext,
    Outcome,
    batches,
    run_batch,
    walk_run,
)
from reporting.receipts.records import RawRecord
from reporting.receipts.results import Origin
from reporting.receipts.rules import RunStart
from reporting.receipts.spool import ReceiptSpool, SpoolReader, key_text

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from distributed import Client

__all__ = [
    "EXECUTORS",
    "EarlyRecord",
    "Executor",
    "LocalExecutor",
    "StartedPool",
    "check_executor",
    "default_workers",
    "executor_for",
    "send_early",
    "start_pool",
]

EXECUTORS = ("local", "dask")  # this machine's processes, or a Dask cluster
IN_FLIGHT_PER_WORKER = 4  # batches submitted and not yet collected, per worker


class Executor(Protocol):
    """Runs jobs and yields (job, outcome) in job order."""

    def run(self, jobs: Iterator[Job], context: JobContext) -> Iterator[tuple[Job, Outcome]]: ...


def default_workers(records: int) -> int:
    """All cores for large inputs; one process when a pool would cost more than it saves."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, records // BATCH_RECORDS))


def check_executor(executor: str, scheduler: object) -> None:
    """A known executor, and a scheduler exactly when it is Dask's."""
    if executor not in EXECUTORS:
        message = f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}"
        raise UsageError(Diagnostic(DiagnosticCode.UNKNOWN_EXECUTOR, message))
    if executor == "local" and scheduler is not None:
        message = "a scheduler is only used with --executor dask"
        raise UsageError(Diagnostic(DiagnosticCode.SCHEDULER_WITHOUT_DASK, message))
    if executor == "dask" and scheduler is None:
        message = "--executor dask needs --scheduler ADDRESS (for example tcp://HOST:8786)"
        raise UsageError(Diagnostic(DiagnosticCode.SCHEDULER_MISSING, message))


# -- this machine ---------------------------------------------------------------------------

_WORKER_CONTEXT: JobContext | None = None

# A record sent with a run (`send_early`): bytes, source, line, array index, and its
# receipt key as the spool stored it.
EarlyRecord = tuple[bytes, str, int | None, int | None, object]


def _init_worker(context: JobContext) -> None:
    global _WORKER_CONTEXT  # noqa: PLW0603 - one context per worker process, set once
    _WORKER_CONTEXT = context
    tune_for_batch_work()


def _worker_context() -> JobContext:
    """This worker's context; in a pool started before the spool was finished, with the
    delegation parents read from the spool at the first job that reads it."""
    global _WORKER_CONTEXT  # noqa: PLW0603 - completed once, in this worker
    context = _WORKER_CONTEXT
    assert context is not None
    if context.parent_ids is None:
        assert isinstance(context.records, SpoolReader)
        parents = frozenset(context.records.delegation_parents())
        context = _WORKER_CONTEXT = replace(context, parent_ids=parents)
    return context


def _worker_batch(jobs: list[Job]) -> list[Outcome]:
    return run_batch(_worker_context(), jobs)


def _worker_early(
    job: ChunkJob,
    records: list[EarlyRecord],
    previous: list[EarlyRecord],
    parent_ids: frozenset[str],
) -> list[Outcome]:
    assert _WORKER_CONTEXT is not None
    context = replace(_WORKER_CONTEXT, parent_ids=parent_ids)
    with collector_paused():
        return [walk_run(context, job, RunStart(), _records(records), _records(previous))]


def _records(rows: list[EarlyRecord]) -> list[RawRecord]:
    """As the spool reads a record of a file or a stream back (`spool._record_from_row`)."""
    return [
        RawRecord(raw, Origin(source, line, None, index), None, key_text(key))
        for raw, source, line, index, key in rows
    ]


def _ready() -> None:
    """The first task: submitting it forks every worker of a pool (the fork method)."""


def start_pool(workers: int, context: JobContext) -> ProcessPoolExecutor:
    """A pool of `workers` processes, forked now: call it before this process starts any
    thread (the spool's file hasher), which a forked child must not inherit."""
    from concurrent.futures import ProcessPoolExecutor  # multiprocessing: only for a pool

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(context,))
    pool.submit(_ready).result()
    return pool


def send_early(
    pool: ProcessPoolExecutor,
    job: ChunkJob,
    records: list[EarlyRecord],
    previous: list[EarlyRecord],
    parent_ids: frozenset[str],
) -> Future[list[Outcome]]:
    """Walk one run of a chain from its records, sent with it (`jobs.walk_run`, from no
    state, as a worker walks any run), with the delegation parents known so far."""
    return pool.submit(_worker_early, job, records, previous, parent_ids)


@dataclass(frozen=True)
class StartedPool:
    """A pool started before the spool was finished, and the outcomes of the runs sent
    to it early, by (chain key, run number): `LocalExecutor` does not send those again."""

    pool: ProcessPoolExecutor
    early: dict[tuple[str, int], Future[list[Outcome]]]


@dataclass(frozen=True)
class LocalExecutor:
    """Jobs in this process (`workers` 1) or in a pool of `workers` processes.

    Pool workers are sent chain keys only and read the records from the spool
    themselves, so the parent copies no receipt bytes between processes. The pool may
    be one started earlier (`started`), which is shut down here all the same.
    """

    workers: int
    sizes: dict[str, int]  # records per chain key, to batch small chains
    started: StartedPool | None = None

    def run(self, jobs: Iterator[Job], context: JobContext) -> Iterator[tuple[Job, Outcome]]:
        grouped = batches(jobs, self.sizes)
        if self.workers <= 1 and self.started is None:
            for batch in grouped:
                yield from zip(batch, run_batch(context, batch), strict=True)
            return
        with self._pool(context) as pool:
            pending: deque[tuple[list[Job], Future[list[Outcome]]]] = deque()
            for batch in grouped:
                pending.append(
                    (batch, self._sent_early(batch) or pool.submit(_worker_batch, batch))
                )
                while len(pending) >= self.workers * IN_FLIGHT_PER_WORKER:
                    done, future = pending.popleft()
                    yield from zip(done, future.result(), strict=True)
            for done, future in pending:
                yield from zip(done, future.result(), strict=True)

    @contextmanager
    def _pool(self, context: JobContext) -> Iterator[ProcessPoolExecutor]:
        if self.started is not None:
            try:
                yield self.started.pool
            finally:
                self.started.pool.shutdown(wait=True, cancel_futures=True)
            return
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing: only for a pool

        assert isinstance(context.records, ReceiptSpool)
        shared = replace(context, records=context.records.reader())
        with ProcessPoolExecutor(
            max_workers=self.workers, initializer=_init_worker, initargs=(shared,)
        ) as pool:
            yield pool

    def _sent_early(self, batch: list[Job]) -> Future[list[Outcome]] | None:
        job = batch[0]
        if self.started is None or len(batch) != 1 or not isinstance(job, ChunkJob):
            return None
        return self.started.early.get((job.chain_key, job.number))


@contextmanager
def executor_for(
    executor: str,
    scheduler: str | Client | None,
    *,
    workers: int,
    sizes: dict[str, int],
    started: StartedPool | None = None,
) -> Iterator[Executor]:
    """The executor asked for; a Dask cluster is connected for the run (`distributed` is
    imported only then). `started`: a local pool already working on early runs."""
    check_executor(executor, scheduler)
    if executor == "local":
        yield LocalExecutor(workers, sizes, started)
        return
    from reporting.receipts.dask_executor import DaskExecutor, connect

    assert scheduler is not None
    with connect(scheduler) as client:
        yield DaskExecutor(client)
