"""Where jobs run: this machine's processes, or a Dask cluster, behind one small interface.

An `Executor` takes the run's jobs, in order, and yields each with its outcome, in the
same order, keeping a bounded number in flight so memory stays bounded. `LocalExecutor`
runs them here, in this process (one worker) or a pool of processes that read their
records from the spool themselves; `dask_executor.DaskExecutor` ships each job's
records to a cluster. Both run `jobs.run_batch` on the other side.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from reporting.collector import tune_for_batch_work
from reporting.errors import Diagnostic, DiagnosticCode, UsageError
from reporting.receipts.jobs import BATCH_RECORDS, Job, JobContext, Outcome, batches, run_batch
from reporting.receipts.spool import ReceiptSpool

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "check_executor",
    "default_workers",
    "executor_for",
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


def _init_worker(context: JobContext) -> None:
    global _WORKER_CONTEXT  # noqa: PLW0603 - one context per worker process, set once
    _WORKER_CONTEXT = context
    tune_for_batch_work()


def _worker_batch(jobs: list[Job]) -> list[Outcome]:
    assert _WORKER_CONTEXT is not None
    return run_batch(_WORKER_CONTEXT, jobs)


@dataclass(frozen=True)
class LocalExecutor:
    """Jobs in this process (`workers` 1) or in a pool of `workers` processes.

    Pool workers are sent chain keys only and read the records from the spool
    themselves, so the parent copies no receipt bytes between processes.
    """

    workers: int
    sizes: dict[str, int]  # records per chain key, to batch small chains

    def run(self, jobs: Iterator[Job], context: JobContext) -> Iterator[tuple[Job, Outcome]]:
        grouped = batches(jobs, self.sizes)
        if self.workers <= 1:
            for batch in grouped:
                yield from zip(batch, run_batch(context, batch), strict=True)
            return
        assert isinstance(context.records, ReceiptSpool)
        shared = replace(context, records=context.records.reader())
        with ProcessPoolExecutor(
            max_workers=self.workers, initializer=_init_worker, initargs=(shared,)
        ) as pool:
            pending: deque[tuple[list[Job], Future[list[Outcome]]]] = deque()
            for batch in grouped:
                pending.append((batch, pool.submit(_worker_batch, batch)))
                while len(pending) >= self.workers * IN_FLIGHT_PER_WORKER:
                    done, future = pending.popleft()
                    yield from zip(done, future.result(), strict=True)
            for done, future in pending:
                yield from zip(done, future.result(), strict=True)


@contextmanager
def executor_for(
    executor: str, scheduler: str | Client | None, *, workers: int, sizes: dict[str, int]
) -> Iterator[Executor]:
    """The executor asked for; a Dask cluster is connected for the run (`distributed` is
    imported only then)."""
    check_executor(executor, scheduler)
    if executor == "local":
        yield LocalExecutor(workers, sizes)
        return
    from reporting.receipts.dask_executor import DaskExecutor, connect

    assert scheduler is not None
    with connect(scheduler) as client:
        yield DaskExecutor(client)
