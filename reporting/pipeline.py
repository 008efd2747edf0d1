"""Compose every stage, from the sources to the written, signed report. No printing here.

    sources ─► verify ─► evidence ─► assess ─► report model ─► render ─► sign ─► write

`run_verification` stops after verification (the `verify` command); `run_assessment`
after the assessment; `run_report` after the report model; `run_signed_report` runs the
whole pipeline and returns what it wrote. Each stage takes plain inputs and returns
plain results; only this module knows the order. The CLI parses, calls one of these,
prints and maps the outcome to an exit code.
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from reporting import __version__
from reporting.errors import Diagnostic, DiagnosticCode, InputError, UsageError
from reporting.pipelock.inputs import (
    TrustInputs,
    claim_pipelock,
    combined_result,
    load_trust_inputs,
    raw_records,
    selected_only,
    split_witnesses,
    verify_claimed,
)
from reporting.pipelock.results import PipelockOptions, PipelockVerification
from reporting.receipts.canonical import canonical_json
from reporting.receipts.executors import check_executor, default_workers
from reporting.receipts.external import BodiesDirectory, load_grants, load_witnesses
from reporting.receipts.headstart import HeadStart, head_start_for
from reporting.receipts.keys import TrustStore
from reporting.receipts.records import ReadLimits
from reporting.receipts.results import VerificationResult
from reporting.receipts.sources import ReceiptSpool, SourceSummary, spool_sources
from reporting.receipts.verify import VerifyOptions, verify_spool
from reporting.settings import RunSettings, VerifyRequest, settings_record

# The stages after verification are imported where they are used, so that `verify`
# (and `import reporting.pipeline`) loads no pandas, no mappings and no renderer.
if TYPE_CHECKING:
    import pandas as pd
    from cryptography import x509
    from distributed import Client

    from reporting.config import CheckOverride
    from reporting.controls.assess import FrameworkAssessment
    from reporting.controls.loader import CheckRef, Framework
    from reporting.evidence.frame import Evidence
    from reporting.report.artefacts import Artefact
    from reporting.report.model import Posture, ReportModel, SignatureNotice
    from reporting.report.sandbox import RenderLimits
    from reporting.signing.keys import SigningIdentity

__all__ = [
    "AssessmentRun",
    "ReportRun",
    "VerificationRun",
    "WrittenReport",
    "apply_overrides",
    "default_workers",
    "load_tsa_roots",
    "render_report",
    "report_id",
    "resolve_frameworks",
    "run_assessment",
    "run_report",
    "run_signed_report",
    "run_verification",
    "select_chains",
    "signing_identity",
    "stage",
]

StageListener = Callable[[str, float], None]


@contextmanager
def stage(name: str, listener: StageListener | None) -> Iterator[None]:
    """Time one stage of the run and tell the listener (the CLI's progress and --verbose)."""
    start = time.perf_counter()
    yield
    if listener is not None:
        listener(name, time.perf_counter() - start)


# -- 1. sources and verification ----------------------------------------------------------


@dataclass(frozen=True)
class VerificationRun:
    """Both verifiers' results as one (`result`: Agent Receipts chains and Pipelock
    recorder sessions), the Pipelock actions for the evidence frame, and what was trusted."""

    result: VerificationResult
    sources: tuple[SourceSummary, ...]
    trust: TrustStore
    trust_anchors: tuple[dict[str, Any], ...] = ()  # issuer, fingerprint, source (display)
    egress: PipelockVerification = field(default_factory=lambda: PipelockVerification(()))

    def source_listing(self) -> list[dict[str, Any]]:
        return [
            {"path": s.path, "kind": s.kind, "records": s.records, "sha256": s.sha256}
            for s in self.sources
        ]


def load_tsa_roots(paths: Sequence[Path]) -> tuple[x509.Certificate, ...]:
    if not paths:
        return ()  # certificates cost a fiftieth of a second to import: only when named
    from cryptography import x509

    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            roots.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise InputError(
                Diagnostic(DiagnosticCode.INVALID_CERTIFICATE, str(exc), str(path))
            ) from exc
    return tuple(roots)


@dataclass(frozen=True)
class RunOptions:
    """What both verifiers are told out of band, loaded once from the request."""

    receipts: VerifyOptions
    pipelock: PipelockOptions
    trust: TrustInputs

    @property
    def witnesses(self) -> dict[str, Any]:
        """Every witnessed chain, of either kind."""
        return {**self.receipts.witnesses, **self.pipelock.witnesses}


def build_options(request: VerifyRequest) -> RunOptions:
    trust = load_trust_inputs(request.key_paths)
    witnesses = load_witnesses(request.witness) if request.witness else {}
    receipt_witnesses, pipelock_witnesses = split_witnesses(witnesses)
    return RunOptions(
        receipts=VerifyOptions(
            trust=trust.receipts,
            require_terminal=request.require_terminal,
            witnesses=receipt_witnesses,
            grants=load_grants(request.grants) if request.grants else None,
            bodies=BodiesDirectory(request.bodies) if request.bodies else None,
            tsa_roots=load_tsa_roots(request.tsa_roots),
            max_receipt_bytes=request.max_receipt_bytes,
            max_depth=request.max_depth,
        ),
        pipelock=PipelockOptions(
            trust=trust.pipelock,
            witnesses=pipelock_witnesses,
            max_record_bytes=request.max_receipt_bytes,
            max_depth=request.max_depth,
        ),
        trust=trust,
    )


def select_chains(
    patterns: frozenset[str] | None,
    spool: ReceiptSpool,
    witnessed: Iterable[str],
    others: Iterable[str] = (),
) -> frozenset[str] | None:
    """`--chain` glob patterns → the chain ids they select, among the chains in the input
    (`others`: the Pipelock chains) and the chains a witness expects (so a witnessed chain
    removed whole is still reported).

    A pattern that selects nothing is a usage error naming it: a typo must never give a
    report over nothing. The chains holding the selected chains' delegation parents are
    verified with them (§7.6 needs them); the report's scope still names only the patterns.
    """
    if patterns is None:
        return None
    known = sorted({*spool.chain_keys(), *witnessed, *others})
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
                Diagnostic(
                    DiagnosticCode.NO_SUCH_CHAIN,
                    f"--chain {pattern!r} matches no chain in the sources",
                )
                for pattern in unmatched
            ]
        )
    # What the selected chains depend on is verified too (a report still scopes to them).
    return frozenset(selected | spool.delegation_parent_chains(selected))


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


@contextmanager
def _spooled(
    request: VerifyRequest,
    stdin: BinaryIO | None,
    *,
    display: bool,
    head_start: HeadStart | None = None,
) -> Iterator[ReceiptSpool]:
    """The sources, spooled. With `display`, files are named by their display names (what
    a report may print); else by the paths as given (what `verify` prints on a terminal).
    With `head_start`, long chains are verified while they are spooled (`_verify` then
    takes it too)."""
    name = request.name if display else None
    limits = ReadLimits(request.max_receipt_bytes, request.max_depth)
    with spool_sources(
        request.sources,
        stdin=stdin,
        name=name,
        limits=limits,
        claim=claim_pipelock,
        head_start=head_start,
    ) as spool:
        yield spool


@dataclass(frozen=True)
class _Verified:
    result: VerificationResult  # both kinds
    extracts: list[Any]  # the Agent Receipts rows, as the `extract` hook made them
    egress: PipelockVerification  # the Pipelock part, with its actions


def _head_start(
    request: VerifyRequest, options: RunOptions, extract: Callable[..., Any] | None = None
) -> HeadStart | None:
    """Long receipt chains verified while they are spooled (`reporting.receipts.headstart`)."""
    return head_start_for(
        options.receipts,
        workers=request.workers,
        executor=request.executor,
        chains=request.chains,
        extract=extract,
    )


def _verify(
    request: VerifyRequest,
    options: RunOptions,
    spool: ReceiptSpool,
    scheduler: str | Client | None,
    *,
    extract: Callable[..., pd.DataFrame] | None,
    progress: Callable[[int], None] | None,
    head_start: HeadStart | None = None,
) -> _Verified:
    """Verify the Pipelock sources (first: `--chain` may name their chains), then the
    spooled receipts, and combine the two results."""
    egress = verify_claimed(spool.claimed, options.pipelock)
    selected = select_chains(
        request.chains, spool, options.witnesses, [c.chain_id for c in egress.chains]
    )
    workers = request.workers or default_workers(spool.record_count())
    result, extracts = verify_spool(
        spool,
        options=options.receipts,
        workers=workers,
        chain_filter=selected,
        extract=extract,
        progress=progress,
        executor=request.executor,
        scheduler=scheduler,
        head_start=head_start,
    )
    egress = selected_only(egress, options.pipelock, selected)
    return _Verified(combined_result(result, egress), extracts, egress)


def _without_names(value: Any) -> Any:
    """A settings record without display names: files count by their digests alone."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in ("name", "path")}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def _trust_anchors(trust: TrustInputs, request: VerifyRequest) -> list[dict[str, Any]]:
    return [
        {**anchor, "source": request.name(str(anchor["source"])) if anchor["source"] else None}
        for anchor in trust.anchors()
    ]


def run_verification(
    request: VerifyRequest,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerificationRun:
    options = build_options(request)
    head_start = _head_start(request, options)
    with (
        connected(request) as scheduler,
        _spooled(request, stdin, display=False, head_start=head_start) as spool,
    ):
        verified = _verify(
            request,
            options,
            spool,
            scheduler,
            extract=None,
            progress=progress,
            head_start=head_start,
        )
        return _verification_run(verified, spool, options, request)


def _verification_run(
    verified: _Verified, spool: ReceiptSpool, options: RunOptions, request: VerifyRequest
) -> VerificationRun:
    return VerificationRun(
        result=verified.result,
        sources=tuple(spool.sources),
        trust=options.receipts.trust,
        trust_anchors=tuple(_trust_anchors(options.trust, request)),
        egress=verified.egress,
    )


# -- 2. evidence and assessment -----------------------------------------------------------


@dataclass(frozen=True)
class AssessmentRun:
    verification: VerificationRun
    evidence: Evidence
    frameworks: tuple[Framework, ...]
    assessments: tuple[FrameworkAssessment, ...]


def resolve_frameworks(selection: Sequence[str]) -> list[Framework]:
    """Shipped framework ids or mapping file paths → loaded frameworks (all shipped by default)."""
    from reporting.controls.loader import load_mappings, shipped_mapping_paths

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
            raise UsageError(Diagnostic(DiagnosticCode.UNKNOWN_FRAMEWORK, message))
    return load_mappings(paths)


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
        raise InputError(Diagnostic(DiagnosticCode.CONFIG, message, source, override.line))
    return replace(framework, controls=tuple(controls))


def _everywhere(framework: Framework, override: CheckOverride) -> Framework:
    def merged(ref: CheckRef) -> CheckRef:
        if ref.check != override.check:
            return ref
        return replace(ref, params={**ref.params, **override.params})

    controls = tuple(
        replace(control, checks=tuple(merged(ref) for ref in control.checks))
        for control in framework.controls
    )
    return replace(framework, controls=controls)


def apply_overrides(
    frameworks: Sequence[Framework],
    overrides: Sequence[CheckOverride],
    *,
    source: str | None = None,
) -> list[Framework]:
    """Merge per-control check parameters (validated when the config was loaded).

    An override for every control (`*`, from the deployment section) reaches each use of
    its check in every framework; there may be none.
    """
    from reporting.config import EVERY

    result = list(frameworks)
    for override in overrides:
        if override.framework == EVERY:
            result = [_everywhere(framework, override) for framework in result]
            continue
        index = next((i for i, f in enumerate(result) if f.id == override.framework), None)
        if index is None:
            message = f"override for framework {override.framework!r}, which is not being assessed"
            raise InputError(Diagnostic(DiagnosticCode.CONFIG, message, source, override.line))
        result[index] = _override(result[index], override, source)
    return result


def mapping_records(frameworks: Sequence[Framework]) -> list[dict[str, Any]]:
    """The mappings as the manifest and the scope section name them (no machine paths)."""
    return [
        {"id": f.id, "version": f.version, "sha256": f.sha256, "path": Path(f.path).name}
        for f in frameworks
    ]


@contextmanager
def _assessed(
    settings: RunSettings,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
    on_stage: StageListener | None = None,
) -> Iterator[tuple[AssessmentRun, ReceiptSpool]]:
    """Verify and assess, keeping the spool open for stages that cite raw receipts."""
    from reporting.controls.assess import assess
    from reporting.evidence.frame import build_evidence, extract_rows
    from reporting.pipelock import action_evidence

    request = settings.verify
    with stage("load mappings and keys", on_stage):
        frameworks = apply_overrides(
            resolve_frameworks(settings.frameworks), settings.overrides, source=settings.config_path
        )
        options = build_options(request)
    with ExitStack() as cluster:
        scheduler = cluster.enter_context(connected(request))  # before reading input
        head_start = _head_start(request, options, extract_rows)
        with stage("read sources", on_stage):
            spool = cluster.enter_context(
                _spooled(request, stdin, display=True, head_start=head_start)
            )
        with stage("verify chains", on_stage):
            verified = _verify(
                request,
                options,
                spool,
                scheduler,
                extract=extract_rows,
                progress=progress,
                head_start=head_start,
            )
        with stage("build evidence", on_stage):
            evidence = build_evidence(
                verified.result,
                verified.extracts,
                scope=settings.scope,
                grants=options.receipts.grants,
                witnesses=options.witnesses,
                egress=action_evidence(verified.egress),
                correlation=settings.correlation,
            )
        with stage("assess controls", on_stage):
            assessments = tuple(assess(frameworks, evidence))
        yield (
            AssessmentRun(
                verification=_verification_run(verified, spool, options, request),
                evidence=evidence,
                frameworks=tuple(frameworks),
                assessments=assessments,
            ),
            spool,
        )


def run_assessment(
    settings: RunSettings,
    *,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
) -> AssessmentRun:
    with _assessed(settings, stdin=stdin, progress=progress) as (run, _):
        return run


# -- 3. the report model ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRun:
    """An assessment, its report model, the stored bytes of every receipt it cites, and
    the settings record the manifest carries."""

    assessment: AssessmentRun
    model: ReportModel
    cited_receipts: dict[str, bytes]
    settings: dict[str, Any]


def report_id(settings: dict[str, Any], sources: Sequence[SourceSummary]) -> str:
    """`AER-` + 16 hex digits over the tool version, the settings that change results and
    the sources' content digests: the same inputs give the same id, however the paths were
    spelled and whatever formats were asked for."""
    identity = {
        "tool_version": __version__,
        "settings": _without_names(settings),
        "sources": [{"kind": s.kind, "records": s.records, "sha256": s.sha256} for s in sources],
    }
    return "AER-" + hashlib.sha256(canonical_json(identity)).hexdigest()[:16].upper()


def run_report(
    settings: RunSettings,
    *,
    signature: SignatureNotice | None = None,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
    on_stage: StageListener | None = None,
) -> ReportRun:
    from reporting.controls.assess import assess_agents
    from reporting.report.build import ReportInputs, ReportOptions, build_report
    from reporting.report.dispositions import load_dispositions

    # The dispositions file is checked before the long work: a typo fails at once.
    dispositions = load_dispositions(settings.dispositions) if settings.dispositions else ()
    with _assessed(settings, stdin=stdin, progress=progress, on_stage=on_stage) as (run, spool):
        record = settings_record(settings, mapping_records(run.frameworks))
        with stage("assess each agent", on_stage):
            by_agent = assess_agents(run.frameworks, run.evidence)
        inputs = ReportInputs(
            evidence=run.evidence,
            frameworks=run.frameworks,
            assessments=run.assessments,
            sources=run.verification.sources,
            trust_anchors=run.verification.trust_anchors,
            by_agent=by_agent,
        )
        options = ReportOptions(
            report_id=report_id(record, run.verification.sources),
            organisation=settings.organisation,
            settings=record,
            signature=signature or ReportOptions().signature,
            previous=settings.previous,
            dispositions=dispositions,
            evidence_owners=settings.evidence_owners,
        )
        with stage("build report model", on_stage):
            model = build_report(inputs, options)
            cited_ids = [ref.receipt_id for ref in model.cited_receipts]
            cited = spool.raw_receipts(cited_ids)
            egress = run.verification.egress
            cited |= raw_records(egress, spool.claimed, set(cited_ids) - set(cited))
        return ReportRun(assessment=run, model=model, cited_receipts=cited, settings=record)


# -- 4. render, sign, write ---------------------------------------------------------------


@dataclass(frozen=True)
class WrittenReport:
    """What `run_signed_report` wrote, where, and the summary it wrote beside it."""

    directory: Path
    files: tuple[tuple[Path, str], ...]  # (path, sha256) of every file written
    model: ReportModel
    summary: dict[str, Any]
    earlier: Path | None = None  # an earlier report with this id, kept where it was

    @property
    def posture(self) -> Posture:
        return self.model.posture


def signing_identity(settings: RunSettings, *, now: datetime | None = None) -> SigningIdentity:
    """The key that signs the report: the configured one, else an ephemeral demo key."""
    from reporting.signing.keys import demo_identity, load_identity

    signing = settings.signing
    if not signing.given:
        return demo_identity(not_before=now or datetime.now(UTC))
    return load_identity(
        key=signing.key,
        cert=signing.certificate,
        chain=signing.chain,
        p12=signing.p12,
        passphrase_env=signing.passphrase_env,
    )


def exit_status(posture: Posture, frameworks: Sequence[Any], fail_on: str) -> int:
    """1 when what `--fail-on` names was found, else 0; the report is produced either way.

    A report over no evidence fails like broken integrity: it certifies nothing.
    """
    from reporting.report.model import Posture

    untrustworthy = posture in (Posture.INTEGRITY_BROKEN, Posture.NO_EVIDENCE)
    unsupported = any(f.counts.get("NOT_SATISFIED", 0) for f in frameworks)
    failed = {"integrity": untrustworthy, "controls": untrustworthy or unsupported}
    return 1 if failed.get(fail_on, False) else 0


def render_report(
    run: ReportRun,
    formats: Iterable[str],
    *,
    limits: RenderLimits | None = None,
    secret_names: Sequence[str] = (),
    release_rows: bool = False,
) -> list[Artefact]:
    """The rendered artefacts of a report run (`reporting.report.artefacts.render_artefacts`),
    the PDF carrying a manifest of what it carries."""
    from reporting.report.artefacts import RenderInputs, render_artefacts
    from reporting.signing.manifest import ManifestInputs, manifest_bytes

    assessment = run.assessment
    result = assessment.verification.result
    manifest = ManifestInputs.of(run.model, result, run.settings)
    return render_artefacts(
        RenderInputs(run.model, assessment.evidence, result, run.cited_receipts),
        formats,
        inner_manifest=lambda listings: manifest_bytes(manifest, listings),
        limits=limits,
        secret_names=secret_names,
        release_rows=release_rows,
    )


def run_signed_report(
    settings: RunSettings,
    *,
    identity: SigningIdentity | None = None,
    signing_time: datetime | None = None,
    stdin: BinaryIO | None = None,
    progress: Callable[[int], None] | None = None,
    on_stage: StageListener | None = None,
    secret_names: Sequence[str] = (),
) -> WrittenReport:
    """The whole pipeline: verify, assess, model, render, sign, write."""
    from reporting.periods import period_name
    from reporting.report.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, RenderLimits
    from reporting.report.writer import write_artefacts
    from reporting.signing.manifest import ManifestInputs
    from reporting.signing.outputs import notice_for, seal_artefacts
    from reporting.summary import summary_document

    identity = identity or signing_identity(settings)
    # Decided before rendering: the cover and the sign-off page give it as the generation
    # time, and the PDF and manifest signatures carry it. The report id does not depend on it.
    signing_time = signing_time or datetime.now(UTC)
    notice = notice_for(identity, signing_time=signing_time)
    run = run_report(settings, signature=notice, stdin=stdin, progress=progress, on_stage=on_stage)
    model = run.model
    output = settings.output
    limits = RenderLimits(
        timeout=output.render_timeout or DEFAULT_TIMEOUT,
        memory_mb=output.render_memory or DEFAULT_MEMORY_MB,
    )
    with stage("render", on_stage):
        rendered = render_report(
            run, output.formats, limits=limits, secret_names=secret_names, release_rows=True
        )
    code = exit_status(model.posture, model.frameworks, settings.fail_on)
    with stage("sign", on_stage):
        sealed, summary = seal_artefacts(
            rendered,
            identity,
            manifest=ManifestInputs.of(model, run.assessment.verification.result, run.settings),
            summary=lambda listings: summary_document(model, settings, identity, listings, code),
            organisation=settings.organisation,
            signing_time=signing_time,
            tsa_url=settings.signing.tsa,
        )
    directory = output.directory / period_name(settings.period) / model.report_id
    with stage("write", on_stage):
        written = write_artefacts(directory, sealed)
    used = written[0].parent
    return WrittenReport(
        directory=used,
        files=tuple(zip(written, (a.sha256 for a in sealed), strict=True)),
        model=model,
        summary=summary,
        earlier=directory if used != directory else None,
    )
