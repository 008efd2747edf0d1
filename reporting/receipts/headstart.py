"""Long chains verified while their records are still being spooled (issue 17).

Spooling a 40,000-receipt chain takes a third of a second of one core, and the workers
used to wait for it. A `HeadStart` watches the records as the spool stores them, with
the chain key and sequence SQLite read (`spool.SpooledRow`): once a chain holds
EARLY_CHUNK records not yet sent, that run of sequences goes to a worker with the
records themselves, so every core verifies from the first runs of the first file on.

A run sent early is a guess: that no record still to come falls in its range of
sequences, and that the finished spool groups its records as they were grouped when
it was sent. `early_runs` checks each guess against the finished spool (the same rows,
as many rows, and the same delegation parents among them) and keeps a chain's runs only
when all hold; any other chain is planned from the spool as before, whole. A run kept is
walked by the code that walks every chunk (`jobs.walk_run`), from the records the spool
would give it, so its outcome is the one the spool would have given.

Only JSON and JSON Lines are watched as they are spooled (a store is copied in one
statement), and only when the sources are large enough to need more than one process.
Memory stays bounded: at most MAX_HELD_CHUNKS runs' worth of records waiting to be sent,
and at most IN_FLIGHT_PER_WORKER runs sent and not finished per worker (spooling waits
beyond).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

from reporting.receipts.executors import EarlyRecord, StartedPool, send_early, start_pool
from reporting.receipts.jobs import ChunkJob, Extract, JobContext, Outcome
from reporting.receipts.options import VerifyOptions
from reporting.receipts.spool import ChunkPlan, ReceiptSpool, SpoolReader, StoredBatch, key_text

__all__ = [
    "EARLY_CHUNK",
    "MIN_BYTES",
    "EarlyRun",
    "HeadStart",
    "head_start_for",
]

EARLY_CHUNK = 2_000  # records in a run sent early
IN_FLIGHT_PER_WORKER = 2  # runs sent early and not finished, per worker; spooling waits beyond
MAX_HELD_CHUNKS = 4  # runs' worth of records held for chains not sent yet (bounded memory)
MIN_BYTES = 2 << 20  # JSON and JSON Lines to read before a head start pays (a few thousand)


def head_start_for(
    options: VerifyOptions,
    *,
    workers: int | None,
    executor: str,
    chains: frozenset[str] | None,
    extract: Extract | None = None,
) -> HeadStart | None:
    """A head start where it can help: this machine's processes, more than one of them
    (None: every core), and every chain of the input (a `--chain` selection is known only
    once the spool is finished)."""
    processes = workers if workers is not None else (os.cpu_count() or 1)
    if executor != "local" or chains is not None or processes < 2:
        return None
    return HeadStart(options, workers=processes, extract=extract)


@dataclass(frozen=True)
class EarlyRun:
    """A run of one chain's sequences, sent to a worker before the spool was finished."""

    plan: ChunkPlan
    last: int  # the run's last sequence: the `previous` of the run after it
    count: int  # how many records it was sent
    known_parents: frozenset[str]  # the delegation parents known when it was sent
    future: Future[list[Outcome]]


# A record held for a run: its sequence, the record as sent (`EarlyRecord`: bytes,
# source, line, array index, receipt key), and whether it holds a \\u escape.
_Held = tuple[int, bytes, str, int | None, int | None, object, bool]
_SEQUENCE, _ESCAPED = itemgetter(0), itemgetter(6)


@dataclass
class _Watch:
    """One chain while its records are spooled."""

    held: list[_Held] = field(default_factory=list)  # not sent yet, in arrival order
    low: int | None = None  # where the next run begins (None: below every sequence)
    last: int | None = None  # the last sequence sent
    previous: list[_Held] = field(default_factory=list)  # the records at that sequence
    runs: list[EarlyRun] = field(default_factory=list)
    reading: bool = True  # records still read early (False: left to the spool)
    consistent: bool = True  # no record arrived inside a run already sent


class HeadStart:
    """Sends long chains' first runs to workers while the sources are spooled."""

    def __init__(
        self,
        options: VerifyOptions,
        *,
        workers: int,
        extract: Extract | None,
        chunk: int = EARLY_CHUNK,
        min_bytes: int = MIN_BYTES,
    ) -> None:
        self.options = options
        self.workers = workers
        self.extract = extract
        self.chunk = chunk  # records in a run sent early (a quarter for the first ones)
        self.min_bytes = min_bytes  # of JSON and JSON Lines, to start at all
        self.max_held = MAX_HELD_CHUNKS * chunk
        self.started: StartedPool | None = None
        self._watches: dict[str, _Watch] = {}
        self._held = 0
        self._parents: set[str] = set()
        self._in_flight: deque[Future[list[Outcome]]] = deque()
        self._sent = 0  # runs sent early

    def start(self, spool: ReceiptSpool) -> None:
        """Fork the workers now, before this process starts any thread, and watch the
        spool. Jobs read from the spool (after it is finished) find the delegation
        parents there (`JobContext.parent_ids` None)."""
        context = JobContext(self.options, None, self.extract, SpoolReader(spool.path))
        self.started = StartedPool(start_pool(self.workers, context), {})
        spool.watcher = self.spooled

    def close(self) -> None:
        if self.started is not None:
            self.started.pool.shutdown(wait=True, cancel_futures=True)
            self.started = None

    # -- while spooling -----------------------------------------------------------------

    def spooled(self, batch: StoredBatch) -> None:
        if any(batch.parent_keys):
            self._parents.update(filter(None, map(key_text, batch.parent_keys)))
        held: list[_Held] = list(
            zip(
                batch.sequences,
                batch.raws,
                repeat(batch.source),
                batch.lines,
                batch.indexes,
                batch.receipt_keys,
                batch.escaped,
                strict=False,  # `repeat` never ends; the columns are as long as each other
            )
        )
        for key, records in _by_chain(batch.chain_keys, held):
            self._watch(key, [r for r in records if r[0] is not None])
        if self._held > self.max_held:
            self._hold_less()

    def _watch(self, key: str, records: list[_Held]) -> None:
        """Hold a chain's new records (those with a sequence; the others are left to the
        spool's last run of the chain) and send a run once enough are held."""
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch()
        if not records:
            return
        if watch.low is not None and min(map(_SEQUENCE, records)) < watch.low:
            watch.consistent = False  # inside a run already sent: the guess failed
            self._stop(watch)
        elif not watch.reading:
            return
        elif any(map(_ESCAPED, records)):
            self._stop(watch)  # its keys may read differently once the spool is finished
        else:
            watch.held.extend(records)
            self._held += len(records)
            # The first runs are small, so that every worker starts within milliseconds.
            first = self._sent < self.workers
            if len(watch.held) >= (self.chunk // 4 if first else self.chunk):
                self._send(key, watch)

    def _stop(self, watch: _Watch) -> None:
        self._held -= len(watch.held)
        watch.held, watch.previous, watch.reading = [], [], False

    def _hold_less(self) -> None:
        """Too many records held for chains read side by side: the chains holding fewest
        stop being read early (the spool has their records)."""
        for watch in sorted(self._watches.values(), key=lambda w: len(w.held)):
            if self._held <= self.max_held // 2:
                return
            if watch.held:
                self._stop(watch)

    def _send(self, key: str, watch: _Watch) -> None:
        """Send the held records below the highest sequence held (a sequence is never
        split between runs, and the chain's last records always stay for the spool)."""
        top = max(map(_SEQUENCE, watch.held))
        sent = [r for r in watch.held if r[0] != top]
        if not sent or self.started is None:
            return
        last = max(map(_SEQUENCE, sent))
        plan = ChunkPlan(watch.low, top, False, watch.last)
        # Never the chain's last run, whatever count the whole plan has: `final` is False.
        job = ChunkJob(key, len(watch.runs), len(watch.runs) + 2, plan)
        parents = frozenset(self._parents)
        future = send_early(
            self.started.pool, job, _records(sent), _records(watch.previous), parents
        )
        watch.runs.append(EarlyRun(plan, last, len(sent), parents, future))
        watch.previous = [r for r in sent if r[0] == last]
        watch.held = [r for r in watch.held if r[0] == top]
        watch.low, watch.last = top, last
        self._held -= len(sent)
        self._in_flight.append(future)
        self._sent += 1
        self._wait_for_workers()

    def _wait_for_workers(self) -> None:
        """Spooling waits while every worker has runs queued: memory stays bounded."""
        while len(self._in_flight) > self.workers * IN_FLIGHT_PER_WORKER:
            wait(self._in_flight, return_when=FIRST_COMPLETED)
            self._in_flight = deque(f for f in self._in_flight if not f.done())

    # -- once the spool is finished ------------------------------------------------------

    def early_runs(self, spool: ReceiptSpool) -> dict[str, list[EarlyRun]]:
        """Each chain's runs sent early whose guess held (see the module docstring); the
        runs of every other chain are cancelled, and its records read from the spool."""
        parents = spool.delegation_parents()
        kept: dict[str, list[EarlyRun]] = {}
        for key, watch in self._watches.items():
            if (
                watch.runs
                and watch.consistent
                and all(_still_holds(spool, key, run, parents) for run in watch.runs)
            ):
                kept[key] = watch.runs
            else:
                for run in watch.runs:
                    run.future.cancel()
        self._watches, self._held = {}, 0
        return kept


def _by_chain(keys: tuple[str | None, ...], held: list[_Held]) -> Iterator[tuple[str, list[_Held]]]:
    """The batch's records by chain key (those SQLite read none for are left to the
    spool); a batch of one chain, the common case, in one piece."""
    distinct = set(keys)
    if len(distinct) == 1:
        (key,) = distinct
        if key is not None:
            yield key, held
        return
    chains: dict[str, list[_Held]] = {}
    for key, record in zip(keys, held, strict=True):
        if key is not None:
            chains.setdefault(key, []).append(record)
    yield from chains.items()


def _still_holds(spool: ReceiptSpool, key: str, run: EarlyRun, parents: set[str]) -> bool:
    """The finished spool gives the run the rows it was sent, and the delegation parents
    among its receipts are those it was told of.

    The rows sent stay in the run's range: their chain key and sequence were read when
    they were stored, finishing the spool re-reads only the keys of rows without a chain
    key, with a \\u escape or with a key that is not UTF-8 (none is sent), and no row is
    ever removed. So the range holds
    the rows sent and perhaps others: it holds exactly those when it holds as many.
    """
    assert run.plan.high is not None
    if spool.count_in(key, run.plan.low, run.plan.high) != run.count:
        return False
    if not parents and not run.known_parents:
        return True
    ids = spool.receipt_keys_in(key, run.plan.low, run.plan.high)
    return ids & parents == ids & run.known_parents


def _records(held: list[_Held]) -> list[EarlyRecord]:
    return [record[1:6] for record in held]
