"""Render a report run into its artefacts: HTML, PDF/A-3, JSON, CSV, OSCAL, and a manifest.

File names carry the period and the start of the report id (itself a hash of the
content), so two runs over different evidence never overwrite each other's files.
The manifest lists every artefact and input with its SHA-256; the PDF carries the
manifest and the machine-readable artefacts as PDF/A-3 associated files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reporting.evidence.frame import Period
from reporting.periods import period_name
from reporting.pipeline import ReportRun
from reporting.report.exports import (
    cited_receipts_jsonl,
    findings_csv,
    oscal_assessment_results,
    report_json,
    verification_results_json,
)
from reporting.report.sandbox import Rendered, RenderJob, RenderLimits, render_job, start_render
from reporting.signing.manifest import MANIFEST_NAME, manifest_bytes

MANIFEST_DESCRIPTION = "evidence manifest"

__all__ = ["FORMATS", "Artefact", "period_label", "render_artefacts"]

FORMATS = ("pdf", "html", "json", "csv", "oscal")


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


def _manifest_artefact(run: ReportRun, artefacts: Iterable[Artefact]) -> Artefact:
    data = manifest_bytes(run, [a.listing() for a in artefacts])
    return Artefact(MANIFEST_NAME, "application/json", data, MANIFEST_DESCRIPTION)


@dataclass(frozen=True)
class _Export:
    """An export's name, type and description (known before its bytes) and its builder."""

    name: str
    media_type: str
    description: str
    build: Callable[[], bytes]

    def artefact(self) -> Artefact:
        return Artefact(self.name, self.media_type, self.build(), self.description)


def _exports(run: ReportRun, stem: str) -> list[_Export]:
    model, evidence = run.model, run.assessment.evidence
    result = run.assessment.verification.result
    return [
        _Export(
            f"{stem}.json", "application/json", "report model (JSON)", lambda: report_json(model)
        ),
        _Export(
            f"{stem}-findings.csv",
            "text/csv",
            "findings, one row per affected receipt",
            lambda: findings_csv(model, evidence),
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
            lambda: verification_results_json(result),
        ),
        _Export(
            f"{stem}-cited-receipts.jsonl",
            "application/jsonl",
            "the receipts cited as evidence, as stored",
            lambda: cited_receipts_jsonl(run.cited_receipts),
        ),
    ]


def _attached(run: ReportRun, stem: str, exports: list[_Export]) -> list[_Export]:
    """The exports the PDF carries. Of the verification results it carries every chain's
    verdict with every failure and warning, not each passing receipt's own line: those
    are bulk (hundreds of MB at a million receipts, which no ticket takes) and stay in
    the -verification.json export."""
    result = run.assessment.verification.result
    chains_only = _Export(
        f"{stem}-verification-chains.json",
        "application/json",
        f"per-chain verification results (every receipt's own verdict: {stem}-verification.json)",
        lambda: verification_results_json(result, include_receipts=False),
    )
    return [chains_only if e.name.endswith("-verification.json") else e for e in exports]


def render_artefacts(
    run: ReportRun,
    formats: Iterable[str],
    *,
    limits: RenderLimits | None = None,
    secret_names: Sequence[str] = (),
    release_rows: bool = False,
) -> list[Artefact]:
    """Every requested artefact plus the manifest, in a fixed order.

    With `limits`, charts, HTML and PDF are laid out in a child process under those
    limits (`reporting.report.sandbox`; `secret_names` are environment variables kept
    from it) while this process builds the exports the PDF carries; without, all in
    this process. Both give the same bytes. With `release_rows` the evidence frame's
    rows are freed once the exports are built (`run` is then spent for anything that
    reads them).
    """
    wanted = set(formats)
    model = run.model
    stem = f"evidence-{period_label(run.assessment.evidence.period)}-{model.report_id}"
    exports = _exports(run, stem)
    attached = _attached(run, stem, exports) if "pdf" in wanted else []
    announced = [(MANIFEST_NAME, "application/json", MANIFEST_DESCRIPTION)] if attached else []
    announced += [(e.name, e.media_type, e.description) for e in attached]
    job = RenderJob(
        model=model, html="html" in wanted, pdf="pdf" in wanted, attachments=tuple(announced)
    )
    with _start(job, limits, secret_names) as pending:
        built = {e.name: e.artefact() for e in exports}
        if release_rows:  # the exports were the last use of the per-receipt rows
            run.assessment.evidence.discard_rows()
        carried = [built[e.name] if e.name in built else e.artefact() for e in attached]
        inside = [_manifest_artefact(run, carried), *carried] if carried else []
        rendered = pending.finish([a.data for a in inside])
    selected = [a for a in built.values() if _format_of(a.name) in wanted]
    if rendered.html is not None:
        selected.insert(0, Artefact(f"{stem}.html", "text/html", rendered.html, "report (HTML)"))
    if rendered.pdf is not None:
        selected.insert(
            0, Artefact(f"{stem}.pdf", "application/pdf", rendered.pdf, "report (PDF/A-3b)")
        )
    manifest = _manifest_artefact(run, selected)
    return [*selected, manifest]


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
    if not (job.html or job.pdf):
        return _InProcess(None)
    if limits is None:
        return _InProcess(job)
    return start_render(job, limits, secret_names=secret_names)


def _format_of(name: str) -> str:
    if name.endswith("-findings.csv"):
        return "csv"
    if name.endswith("-oscal.json"):
        return "oscal"
    if name.endswith(("-verification.json", "-cited-receipts.jsonl")):
        return "json"
    return "json" if name.endswith(".json") else name.rsplit(".", 1)[-1]
