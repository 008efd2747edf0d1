"""Compose the stages. No printing here: the CLI is the only place that writes to a terminal."""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from cryptography import x509

from reporting.config import CheckOverride
from reporting.controls.assess import FrameworkAssessment, assess
from reporting.controls.loader import Framework, load_mappings, shipped_mapping_paths
from reporting.errors import Diagnostic, InputError, UsageError
from reporting.evidence.frame import Evidence, Period, build_evidence, extract_rows
from reporting.receipts.batch import check_executor, verify_spool
from reporting.receipts.canonical import DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECEIPT_BYTES
from reporting.receipts.external import BodiesDirectory, load_grants, load_witnesses
from reporting.receipts.keys import TrustStore, load_trust
from reporting.receipts.results import VerificationResult
from reporting.receipts.sources import ReceiptSpool, SourceSummary, spool_sources
from reporting.receipts.verify import VerifyOptions
from reporting.report.build import ReportInputs, ReportOptions, build_report
from reporting.report.model import ReportModel

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "AssessRequest",
    "AssessmentRun",
    "ReportRun",
    "VerificationRun",
    "VerifyRequest",
    "default_workers",
    "load_tsa_roots",
    "resolve_frameworks",
    "run_assessment",
    "run_report",
    "run_verification",
]

_RECORDS_PER_WORKER = 2000


@dataclass(frozen=True)
class VerifyRequest:
    """What the user asked to verify, as paths and flags (before anything is loaded)."""

    sources: tuple[str, ...]
    keys: Path
    witness: Path | None = None
    grants: Path | None = None
    bodies: Path | None = None
    tsa_roots: tuple[Path, ...] = ()
    require_terminal: bool = False
    chains: frozenset[str] | None = None  # chain ids or glob patterns (`--chain`)
    workers: int | None = None  # local processes (the local executor only)
    max_receipt_bytes: int = DEFAULT_MAX_RECEIPT_BYTES  # larger receipts: RECEIPT_TOO_LARGE
    max_depth: int = DEFAULT_MAX_DEPTH  # deeper JSON nesting: MALFORMED_RECEIPT
    executor: str = "local"  # or "dask": verify on the cluster of `scheduler`
    scheduler: str | Client | None = None  # tcp://HOST:PORT, or a connected distributed.Client


@dataclass(frozen=True)
class VerificationRun:
    result: VerificationResult
    sources: tuple[SourceSummary, ...]
    trust: TrustStore


def default_workers(records: int) -> int:
    """All cores for large inputs; one process when a pool would cost more than it saves."""
    cores = os.cpu_count() or 1
    return max(1, min(cores, records // _RECORDS_PER_WORKER))


def load_tsa_roots(paths: Sequence[Path]) -> tuple[x509.Certificate, ...]:
    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            roots.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise InputError(Diagnostic("INVALID_CERTIFICATE", str(exc), str(path))) from exc
    return tuple(roots)


def select_chains(
    patterns: frozenset[str] | None, spool: ReceiptSpool, witnessed: Iterable[str]
) -> frozenset[str] | None:
    """`--chain` glob patterns → the chain ids they select, among the chains in the input
    and the chains a witness expects (so a witnessed chain removed whole is still reported).

    A pattern that selects nothing is a usage error naming it: a typo must never give a
    report over nothing.
    """
    if patterns is None:
        return None
    known = sorted({*spool.chain_keys(), *witnessed})
    selected: set[str] = set()
    unmatched = []
    for pattern in sorted(patterns):
        matches = [k for k in known if fnmatch.fnmatchcase(k, pattern)]
        if not matches:
            unmatched.append(pattern)
        selected.update(matches)
    if unmatched:
        raise UsageError(
            [
                Diagnostic("NO_SUCH_CHAIN", f"--chain {pattern!r} matches no chain in the sources")
                for pattern in unmatched
            ]
        )
    return frozenset(selected)


def build_options(request: VerifyRequest) -> VerifyOptions:
    return VerifyOptions(
        trust=load_trust(request.keys),
        require_terminal=request.require_terminal,
        witnesses=load_witnesses(request.witness) if request.witness else {},
        grants=load_grants(request.grants) if request.grants else None,
        bodies=BodiesDirectory(request.bodies) if request.bodies else None,
        tsa_roots=load_tsa_roots(request.tsa_roots),
        max_receipt_bytes=request.max_receipt_bytes,
        max_depth=request.max_depth,
    )


@contextmanager
def connected(request: VerifyRequest) -> Iterator[str | Client | None]:
    """The scheduler to verify on: for Dask, a client connected before any input is read,
    so a wrong address fails at once (closed afterwards unless it was the caller's)."""
    check_executor(request.executor, request.scheduler)
    if request.executor != "dask" or request.scheduler is None:
        yield request.scheduler
        return
    from reporting.receipts.dask_executor import connect

    with connect(request.scheduler) as client:
        yield client


def run_verification(
    request: VerifyRequest,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerificationRun:
    options = build_options(request)
    with connected(request) as scheduler, spool_sources(request.sources, stdin=stdin) as spool:
        workers = request.workers or default_workers(spool.record_count())
        result, _ = verify_spool(
            spool,
            options=options,
            workers=workers,
            chain_filter=select_chains(request.chains, spool, options.witnesses),
            progress=progress,
            executor=request.executor,
            scheduler=scheduler,
        )
        return VerificationRun(result=result, sources=tuple(spool.sources), trust=options.trust)


# -- assessment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AssessRequest:
    verify: VerifyRequest
    frameworks: tuple[str, ...] = ()  # shipped ids or paths to mapping files; () = all shipped
    overrides: tuple[CheckOverride, ...] = ()  # per-control check parameters from a config
    config_path: str | None = None  # where the overrides came from, for error messages
    period: Period = field(default_factory=Period)


@dataclass(frozen=True)
class AssessmentRun:
    verification: VerificationRun
    evidence: Evidence
    frameworks: tuple[Framework, ...]
    assessments: tuple[FrameworkAssessment, ...]


def resolve_frameworks(selection: Sequence[str]) -> list[Framework]:
    """Shipped framework ids or mapping file paths → loaded frameworks (all shipped by default)."""
    shipped = {p.stem: p for p in shipped_mapping_paths()}
    if not selection:
        return load_mappings(shipped.values())
    paths: list[Path] = []
    for item in selection:
        if item in shipped:
            paths.append(shipped[item])
        elif Path(item).is_file():
            paths.append(Path(item))
        else:
            known = ", ".join(sorted(shipped)) or "none shipped"
            message = f"unknown framework {item!r} (shipped: {known}; or give a mapping file path)"
            raise UsageError(Diagnostic("UNKNOWN_FRAMEWORK", message))
    return load_mappings(paths)


StageListener = Callable[[str, float], None]


@contextmanager
def stage(name: str, listener: StageListener | None) -> Iterator[None]:
    """Time one stage of the run and tell the listener (the CLI's --verbose log)."""
    start = time.perf_counter()
    yield
    if listener is not None:
        listener(name, time.perf_counter() - start)


@contextmanager
def _assessed(
    request: AssessRequest,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
    on_stage: StageListener | None = None,
) -> Iterator[tuple[AssessmentRun, ReceiptSpool]]:
    """Verify and assess, keeping the spool open for stages that cite raw receipts."""
    with stage("load mappings and keys", on_stage):
        frameworks = apply_overrides(
            resolve_frameworks(request.frameworks), request.overrides, source=request.config_path
        )
        options = build_options(request.verify)
    with ExitStack() as cluster:
        scheduler = cluster.enter_context(connected(request.verify))  # before reading input
        with stage("read sources", on_stage):
            spool = spool_sources(request.verify.sources, stdin=stdin)
        with spool:
            with stage("verify chains", on_stage):
                workers = request.verify.workers or default_workers(spool.record_count())
                result, extracts = verify_spool(
                    spool,
                    options=options,
                    workers=workers,
                    chain_filter=select_chains(request.verify.chains, spool, options.witnesses),
                    extract=extract_rows,
                    progress=progress,
                    executor=request.verify.executor,
                    scheduler=scheduler,
                )
            cluster.close()  # the cluster's part is done
            with stage("build evidence", on_stage):
                evidence = build_evidence(
                    result,
                    extracts,
                    period=request.period,
                    grants=options.grants,
                    witnesses=options.witnesses,
                )
            with stage("assess controls", on_stage):
                assessments = tuple(assess(frameworks, evidence))
            yield (
                AssessmentRun(
                    verification=VerificationRun(
                        result=result, sources=tuple(spool.sources), trust=options.trust
                    ),
                    evidence=evidence,
                    frameworks=tuple(frameworks),
                    assessments=assessments,
                ),
                spool,
            )


def _override(framework: Framework, override: CheckOverride, source: str | None) -> Framework:
    controls = []
    matched = False
    for control in framework.controls:
        if control.id == override.control:
            refs = []
            for ref in control.checks:
                if ref.check == override.check:
                    matched = True
                    ref = replace(ref, params={**ref.params, **override.params})  # noqa: PLW2901
                refs.append(ref)
            control = replace(control, checks=tuple(refs))  # noqa: PLW2901
        controls.append(control)
    if not matched:
        message = (
            f"override for {override.framework} {override.control} {override.check}: "
            "no such check on that control in the loaded mappings"
        )
        raise InputError(Diagnostic("CONFIG", message, source, override.line))
    return replace(framework, controls=tuple(controls))


def apply_overrides(
    frameworks: Sequence[Framework],
    overrides: Sequence[CheckOverride],
    *,
    source: str | None = None,
) -> list[Framework]:
    """Merge per-control check parameters (validated when the config was loaded)."""
    result = list(frameworks)
    for override in overrides:
        index = next((i for i, f in enumerate(result) if f.id == override.framework), None)
        if index is None:
            message = f"override for framework {override.framework!r}, which is not being assessed"
            raise InputError(Diagnostic("CONFIG", message, source, override.line))
        result[index] = _override(result[index], override, source)
    return result


def run_assessment(
    request: AssessRequest,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
) -> AssessmentRun:
    with _assessed(request, stdin=stdin, progress=progress) as (run, _):
        return run


@dataclass(frozen=True)
class ReportRun:
    """An assessment, its report model, and the stored bytes of every receipt it cites."""

    assessment: AssessmentRun
    model: ReportModel
    cited_receipts: dict[str, bytes]


def run_report(
    request: AssessRequest,
    report: ReportOptions,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
    on_stage: StageListener | None = None,
) -> ReportRun:
    with _assessed(request, stdin=stdin, progress=progress, on_stage=on_stage) as (run, spool):
        inputs = ReportInputs(
            evidence=run.evidence,
            frameworks=run.frameworks,
            assessments=run.assessments,
            sources=run.verification.sources,
            trust=run.verification.trust,
        )
        with stage("build report model", on_stage):
            model = build_report(inputs, report)
            cited = spool.raw_receipts(ref.receipt_id for ref in model.cited_receipts)
        return ReportRun(assessment=run, model=model, cited_receipts=cited)
