"""Render a report into its artefacts: HTML, PDF/A-3, JSON, CSV, OSCAL.

File names carry the period and the report id, so two runs over different evidence never
overwrite each other's files. The PDF carries the machine-readable artefacts as PDF/A-3
associated files, with a manifest of them that the caller builds (`inner_manifest`: the
report stage knows nothing of signing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reporting.evidence.frame import Evidence
from reporting.periods import Period, period_name
from reporting.receipts.document import verification_document
from reporting.receipts.results import VerificationResult
from reporting.report.exports import (
    cited_receipts_jsonl,
    findings_csv,
    oscal_assessment_results,
    report_json,
)
from reporting.report.model import ReportModel
from reporting.report.names import BRIEF_SUFFIX, MANIFEST_DESCRIPTION, MANIFEST_NAME
from reporting.report.requests import evidence_requests_csv
from reporting.report.sandbox import Rendered, RenderJob, RenderLimits, render_job, start_render

__all__ = [
    "FORMATS",
    "Artefact",
    "RenderInputs",
    "period_label",
    "render_artefacts",
]

# Builds the manifest the PDF carries, from the listings of the files it carries.
InnerManifest = Callable[[Sequence[dict[str, Any]]], bytes]

FORMATS = ("pdf", "html", "json", "csv", "oscal", "brief")


@dataclass(frozen=True)
class Artefact:
    name: str
    media_type: str
    data: bytes
    description: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def listing(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "media_type": self.media_type,
            "size": len(self.data),
            "sha256": self.sha256,
        }


def period_label(period: Period) -> str:
    """The period as it appears in file names (`2026-10`, `2026-Q3`, `20261015-now`, …)."""
    return period_name(period)


@dataclass(frozen=True)
class RenderInputs:
    """What rendering needs: the model, and for the exports the rows, the verification
    results and the cited receipts' stored bytes."""

    model: ReportModel
    evidence: Evidence
    verification: VerificationResult
    cited_receipts: dict[str, bytes]

    @property
    def stem(self) -> str:
        return f"evidence-{period_label(self.evidence.period)}-{self.model.report_id}"


@dataclass(frozen=True)
class _Export:
    """An export's name, type and description (known before its bytes) and its builder."""

    name: str
    media_type: str
    description: str
    build: Callable[[], bytes]
    reads_rows: bool = False  # built from the evidence frame's per-receipt rows

    def artefact(self) -> Artefact:
        return Artefact(self.name, self.media_type, self.build(), self.description)


def _exports(run: RenderInputs, stem: str) -> list[_Export]:
    model, evidence = run.model, run.evidence
    return [
        _Export(
            f"{stem}.json", "application/json", "report model (JSON)", lambda: report_json(model)
        ),
        _Export(
            f"{stem}-findings.csv",
            "text/csv",
            "findings, one row per affected receipt",
            lambda: findings_csv(model, evidence),
            reads_rows=True,
        ),
        _Export(
            f"{stem}-evidence-requests.csv",
            "text/csv",
            "manual evidence still to supply, per control, with its owner (the request list)",
            lambda: evidence_requests_csv(model.evidence_requests),
        ),
        _Export(
            f"{stem}-oscal.json",
            "application/json",
            "OSCAL assessment-results",
            lambda: oscal_assessment_results(model),
        ),
        _Export(
            f"{stem}-verification.json",
            "application/json",
            "per-chain verification results",
            lambda: _verification(run, include_receipts=True),
        ),
        _Export(
            f"{stem}-cited-receipts.jsonl",
            "application/jsonl",
            "the receipts cited as evidence, as stored",
            lambda: cited_receipts_jsonl(run.cited_receipts),
        ),
    ]


def _verification(run: RenderInputs, *, include_receipts: bool) -> bytes:
    scope = run.model.scope
    return verification_document(
        run.verification,
        sources=scope.sources,
        trust_anchors=scope.trust_anchors,
        include_receipts=include_receipts,
    )


def _attached(run: RenderInputs, stem: str, exports: list[_Export]) -> list[_Export]:
    """The exports the PDF carries. Of the verification results it carries every chain's
    verdict with every failure and warning, not each passing receipt's own line: those
    are bulk (hundreds of MB at a million receipts, which no ticket takes) and stay in
    the -verification.json export."""
    chains_only = _Export(
        f"{stem}-verification-chains.json",
        "application/json",
        f"per-chain verification results (every receipt's own verdict: {stem}-verification.json)",
        lambda: _verification(run, include_receipts=False),
    )
    return [chains_only if e.name.endswith("-verification.json") else e for e in exports]


def render_artefacts(
    run: RenderInputs,
    formats: Iterable[str],
    *,
    inner_manifest: InnerManifest,
    limits: RenderLimits | None = None,
    secret_names: Sequence[str] = (),
    release_rows: bool = False,
) -> list[Artefact]:
    """Every requested artefact, in a fixed order (the caller adds the manifest).

    With `limits`, charts, HTML and PDF are laid out in a child process under those
    limits (`reporting.report.sandbox`; `secret_names` are environment variables kept
    from it) while this process builds the exports the PDF carries; without, all in
    this process. Both give the same bytes. With `release_rows` the evidence frame's
    rows are freed once the exports are built (`run` is then spent for anything that
    reads them).
    """
    wanted = set(formats)
    model = run.model
    stem = run.stem
    exports = _exports(run, stem)
    attached = _attached(run, stem, exports) if "pdf" in wanted else []
    announced = [(MANIFEST_NAME, "application/json", MANIFEST_DESCRIPTION)] if attached else []
    announced += [(e.name, e.media_type, e.description) for e in attached]
    # The brief carries a manifest of no file (it attaches none) with the same results
    # digest: `verify-report` checks the brief alone, and that it belongs to the report.
    brief = (stem + BRIEF_SUFFIX, inner_manifest([])) if "brief" in wanted else None
    job = RenderJob(
        model=model,
        html="html" in wanted,
        pdf="pdf" in wanted,
        attachments=tuple(announced),
        brief=brief,
    )
    with _start(job, limits, secret_names) as pending:
        built = _built(exports, run.evidence if release_rows else None)
        carried = [built[e.name] if e.name in built else e.artefact() for e in attached]
        inside = [_manifest_of(inner_manifest, carried), *carried] if carried else []
        rendered = pending.finish([a.data for a in inside])
    selected = [a for a in built.values() if _format_of(a.name) in wanted]
    if rendered.html is not None:
        selected.insert(0, Artefact(f"{stem}.html", "text/html", rendered.html, "report (HTML)"))
    if rendered.brief is not None and brief is not None:
        selected.insert(
            0, Artefact(brief[0], "application/pdf", rendered.brief, "brief (PDF/A-3b)")
        )
    if rendered.pdf is not None:
        selected.insert(
            0, Artefact(f"{stem}.pdf", "application/pdf", rendered.pdf, "report (PDF/A-3b)")
        )
    return selected


def _built(exports: list[_Export], release: Evidence | None) -> dict[str, Artefact]:
    """Every export, in order. Those that read the per-receipt rows are built first, and
    `release`'s rows freed before the rest: the per-receipt verdicts (hundreds of MB at a
    million receipts) are then built where the rows were, not beside them."""
    built = {e.name: e.artefact() for e in exports if e.reads_rows}
    if release is not None:  # the exports were the last use of the per-receipt rows
        release.discard_rows()
    built.update((e.name, e.artefact()) for e in exports if not e.reads_rows)
    return {e.name: built[e.name] for e in exports}


def _manifest_of(build: InnerManifest, artefacts: Iterable[Artefact]) -> Artefact:
    data = build([a.listing() for a in artefacts])
    return Artefact(MANIFEST_NAME, "application/json", data, MANIFEST_DESCRIPTION)


class _Renderer(Protocol):
    def __enter__(self) -> _Renderer: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def finish(self, attachment_data: Sequence[bytes]) -> Rendered: ...


@dataclass
class _InProcess:
    """Renders when `finish` is called, in this process (or nothing, for exports only)."""

    job: RenderJob | None

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def finish(self, attachment_data: Sequence[bytes]) -> Rendered:
        if self.job is None:
            return Rendered(None, None)
        return render_job(self.job, lambda: attachment_data)


def _start(job: RenderJob, limits: RenderLimits | None, secret_names: Sequence[str]) -> _Renderer:
    """A renderer already at work on `job` (in a child) or ready to (in this process)."""
    if not (job.html or job.pdf or job.brief):
        return _InProcess(None)
    if limits is None:
        return _InProcess(job)
    return start_render(job, limits, secret_names=secret_names)


def _format_of(name: str) -> str:
    if name.endswith(BRIEF_SUFFIX):
        return "brief"
    if name.endswith("-findings.csv"):
        return "csv"
    if name.endswith("-oscal.json"):
        return "oscal"
    if name.endswith(("-verification.json", "-cited-receipts.jsonl")):
        return "json"
    return "json" if name.endswith(".json") else name.rsplit(".", 1)[-1]
