"""Verification jobs on a Dask cluster: `--executor dask --scheduler tcp://HOST:PORT`.

Cluster workers may run on other machines and cannot read this machine's spool or
files, so the parent reads each job's records (and the response bodies they name) and
ships them with the job; the options (the trust store's public keys, witnesses, grants,
TSA certificates) and the extract function go to every worker once. Small jobs travel
in batches to spread the per-task cost; a bounded number of batches is in flight, so
the parent's memory stays bounded, and outcomes come back in job order, so the results
are exactly those of a local run. Re-walks of chunks and whole-chain fallbacks (rare)
stay in the parent, which still has the spool.

`distributed` is imported only here, and only when Dask is asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from reporting.errors import Diagnostic, DiagnosticCode, InputError, UsageError
from reporting.receipts.external import ResponseBodies
from reporting.receipts.jobs import (
    BATCH_RECORDS,
    ChainInput,
    ChunkJob,
    Job,
    JobContext,
    Outcome,
    chunk_records,
    run_job,
    walk_run,
)
from reporting.receipts.options import VerifyOptions
from reporting.receipts.records import RawRecord, read_keys
from reporting.receipts.rules import RunStart
from reporting.receipts.spool import ChunkPlan

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["CONNECT_TIMEOUT", "INSTALL_HINT", "DaskExecutor", "connect"]

# Install from this repository or a wheel built from it: never by bare name from an index
# ("agent-evidence" on PyPI is an unrelated project).
INSTALL_HINT = "pip install '<this repository or its wheel>[dask]', e.g. pip install '.[dask]'"
CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler before giving up
IN_FLIGHT_PER_THREAD = 4  # batches submitted and not yet collected, per worker thread


def _client_class() -> type[Client]:
    try:
        from distributed import Client
    except ImportError as exc:
        message = f"--executor dask needs Dask's distributed scheduler: {INSTALL_HINT}"
        raise UsageError(Diagnostic(DiagnosticCode.DASK_NOT_INSTALLED, message)) from exc
    return Client


@contextmanager
def connect(scheduler: str | Client, *, timeout: float | None = None) -> Iterator[Client]:
    """A client of the scheduler at this address (closed afterwards), or the given client.

    A client passed in stays the caller's: it is used as it is and not closed. An address
    that does not answer within `timeout` (default CONNECT_TIMEOUT) is a usage error.
    """
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    client_class = _client_class()
    if not isinstance(scheduler, str):
        if not isinstance(scheduler, client_class):
            message = f"a scheduler is an address or a distributed.Client, not {scheduler!r}"
            raise UsageError(Diagnostic(DiagnosticCode.SCHEDULER_INVALID, message))
        yield scheduler
        return
    from distributed.comm.addressing import get_address_host_port

    try:
        get_address_host_port(scheduler)  # refused before a client exists to clean up
    except ValueError as exc:
        message = f"not a Dask scheduler address (tcp://HOST:PORT): {exc}"
        raise UsageError(Diagnostic(DiagnosticCode.SCHEDULER_INVALID, message, scheduler)) from exc
    try:
        client = client_class(scheduler, timeout=timeout, set_as_default=False)
    except (OSError, ValueError) as exc:
        message = f"cannot reach the Dask scheduler within {timeout:g} s: {exc}"
        raise UsageError(
            Diagnostic(DiagnosticCode.SCHEDULER_UNREACHABLE, message, scheduler)
        ) from exc
    try:
        yield client
    finally:
        client.close()


# -- what travels -------------------------------------------------------------------------


class _NoLocalRecords:
    """A cluster worker's record source: its records arrive with each job."""

    def records_for(self, chain_key: str) -> list[RawRecord]:
        raise RuntimeError(f"chain {chain_key!r}: a cluster worker cannot read the spool")

    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]:
        raise RuntimeError(f"chain {chain_key!r}: a cluster worker cannot read the spool")

    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]:
        raise RuntimeError(f"chain {chain_key!r}: a cluster worker cannot read the spool")


class _SharedContext:
    """The job context as it travels to every worker, once.

    Certificates cross as DER (they do not pickle), the spool and the bodies directory
    stay behind (records and bodies travel with each job).
    """

    def __init__(self, context: JobContext) -> None:
        self.context = context

    def __getstate__(self) -> dict[str, Any]:
        options = self.context.options
        roots = [certificate.public_bytes(Encoding.DER) for certificate in options.tsa_roots]
        portable = replace(
            self.context,
            options=replace(options, tsa_roots=(), bodies=None),
            records=_NoLocalRecords(),
        )
        return {"context": portable, "tsa_roots": roots}

    def __setstate__(self, state: dict[str, Any]) -> None:
        context: JobContext = state["context"]
        roots = tuple(x509.load_der_x509_certificate(der) for der in state["tsa_roots"])
        self.context = replace(context, options=replace(context.options, tsa_roots=roots))


@dataclass(frozen=True)
class _ShippedBodies:
    """The response bodies a job's receipts name, read by the parent from its directory.

    A body the parent could not read is an error raised only if the verifier asks for
    it, as it would be when reading the directory.
    """

    bodies: dict[str, bytes | None] = field(default_factory=dict)
    errors: dict[str, list[Diagnostic]] = field(default_factory=dict)

    def body_bytes(self, receipt_id: str) -> bytes | None:
        if receipt_id in self.errors:
            raise InputError(self.errors[receipt_id])
        if receipt_id not in self.bodies:
            raise RuntimeError(f"the body of {receipt_id} was not shipped with its job")
        return self.bodies[receipt_id]


def _receipt_id(record: RawRecord, options: VerifyOptions) -> str | None:
    """The id the verifier will look a body up by: the spool's key, or the strict read."""
    if record.receipt_key is not None:
        return record.receipt_key
    keys = read_keys(record.raw, options.limits)
    return keys.receipt_id if keys is not None else None


def _bodies_for(
    directory: ResponseBodies | None, records: Iterable[RawRecord], options: VerifyOptions
) -> _ShippedBodies | None:
    if directory is None:
        return None
    shipped = _ShippedBodies()
    for record in records:
        receipt_id = _receipt_id(record, options)
        if receipt_id is None or receipt_id in shipped.bodies:
            continue
        try:
            shipped.bodies[receipt_id] = directory.body_bytes(receipt_id)
        except InputError as error:
            shipped.errors[receipt_id] = error.diagnostics()
    return shipped


@dataclass(frozen=True)
class _Payload:
    """One job as it travels: a whole chain (or lone record) or a run, with its records."""

    job: ChainInput | ChunkJob
    records: list[RawRecord]
    previous: list[RawRecord]
    bodies: _ShippedBodies | None

    @property
    def size(self) -> int:
        return len(self.records) + len(self.previous)


def _payload(context: JobContext, job: Job) -> _Payload:
    """Read a job's records (and bodies) from this machine, to send them with it."""
    previous: list[RawRecord] = []
    shipped: ChainInput | ChunkJob
    if isinstance(job, ChunkJob):
        records, previous = chunk_records(context.records, job)
        shipped = job
    elif isinstance(job, str):
        records = context.records.records_for(job)
        shipped = (job, records)
    else:
        records = job[1]
        shipped = job
    bodies = _bodies_for(context.options.bodies, [*records, *previous], context.options)
    return _Payload(shipped, records, previous, bodies)


# -- on the worker ------------------------------------------------------------------------


def _run_payload(context: JobContext, payload: _Payload) -> Outcome:
    if payload.bodies is not None:
        context = replace(context, options=replace(context.options, bodies=payload.bodies))
    if isinstance(payload.job, ChunkJob):
        return walk_run(context, payload.job, RunStart(), payload.records, payload.previous)
    return run_job(context, payload.job)


def _run_batch(shared: _SharedContext, payloads: list[_Payload]) -> list[Outcome]:
    return [_run_payload(shared.context, payload) for payload in payloads]


# -- in the parent ------------------------------------------------------------------------


def _batches(
    jobs: Iterator[Job], context: JobContext
) -> Iterator[tuple[list[Job], list[_Payload]]]:
    """Consecutive jobs with their payloads, grouped until a group holds BATCH_RECORDS."""
    group: list[Job] = []
    payloads: list[_Payload] = []
    size = 0
    for job in jobs:
        payload = _payload(context, job)
        group.append(job)
        payloads.append(payload)
        size += payload.size
        if size >= BATCH_RECORDS:
            yield group, payloads
            group, payloads, size = [], [], 0
    if group:
        yield group, payloads


@dataclass(frozen=True)
class DaskExecutor:
    """Jobs on the cluster of a connected client, in batches, a bounded number in flight."""

    client: Client

    def run(self, jobs: Iterator[Job], context: JobContext) -> Iterator[tuple[Job, Outcome]]:
        """Outcomes in job order, as a local run gives them."""
        client = self.client
        shared = client.scatter(_SharedContext(context), broadcast=True, hash=False)
        threads = sum(client.nthreads().values())
        limit = IN_FLIGHT_PER_THREAD * max(1, threads)
        pending: deque[tuple[list[Job], Future[list[Outcome]]]] = deque()

        def collect() -> Iterator[tuple[Job, Outcome]]:
            group, future = pending.popleft()
            outcomes: list[Outcome] = future.result()
            yield from zip(group, outcomes, strict=True)

        for group, payloads in _batches(jobs, context):
            # Receipt bytes go straight to a worker, not through the scheduler's task graph.
            [data] = client.scatter([payloads], hash=False)
            pending.append((group, client.submit(_run_batch, shared, data, pure=False)))
            while len(pending) >= limit:
                yield from collect()
        while pending:
            yield from collect()
