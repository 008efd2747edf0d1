"""Render a report run into its artefacts: HTML, PDF/A-3, JSON, CSV, OSCAL, and a manifest.

File names carry the period and the start of the report id (itself a hash of the
content), so two runs over different evidence never overwrite each other's files.
The manifest lists every artefact and input with its SHA-256; the PDF carries the
manifest and the machine-readable artefacts as PDF/A-3 associated files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
from reporting.report.sandbox import Rendered, RenderJob, RenderLimits, render_isolated, render_job
from reporting.signing.manifest import MANIFEST_NAME, manifest_bytes

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
    return Artefact(MANIFEST_NAME, "application/json", data, "evidence manifest")


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
    from it); without, in this process. Both give the same bytes. With `release_rows`
    the evidence frame's rows are freed once the exports are built (`run` is then spent
    for anything that reads them).
    """
    wanted = set(formats)
    model = run.model
    stem = f"evidence-{period_label(run.assessment.evidence.period)}-{model.report_id}"
    data = [
        Artefact(f"{stem}.json", "application/json", report_json(model), "report model (JSON)"),
        Artefact(
            f"{stem}-findings.csv",
            "text/csv",
            findings_csv(model, run.assessment.evidence),
            "findings, one row per affected receipt",
        ),
        Artefact(
            f"{stem}-oscal.json",
            "application/json",
            oscal_assessment_results(model),
            "OSCAL assessment-results",
        ),
        Artefact(
            f"{stem}-verification.json",
            "application/json",
            verification_results_json(run.assessment.verification.result),
            "per-chain verification results",
        ),
        Artefact(
            f"{stem}-cited-receipts.jsonl",
            "application/jsonl",
            cited_receipts_jsonl(run.cited_receipts),
            "the receipts cited as evidence, as stored",
        ),
    ]
    if release_rows:  # the exports were the last use of the per-receipt rows
        run.assessment.evidence.discard_rows()
    selected = [a for a in data if _format_of(a.name) in wanted]
    # The PDF carries the machine-readable artefacts and a manifest of exactly those. Of
    # the verification results it carries every chain's verdict with every failure and
    # warning, not each passing receipt's own line: those are bulk (hundreds of MB at a
    # million receipts, which no ticket takes) and stay in the -verification.json export.
    chains_only = Artefact(
        f"{stem}-verification-chains.json",
        "application/json",
        verification_results_json(run.assessment.verification.result, include_receipts=False),
        f"per-chain verification results (every receipt's own verdict: {stem}-verification.json)",
    )
    attached = [chains_only if a.name.endswith("-verification.json") else a for a in data]
    inside = (_manifest_artefact(run, attached), *attached) if "pdf" in wanted else ()
    job = RenderJob(
        model=model,
        html="html" in wanted,
        pdf="pdf" in wanted,
        attachments=tuple((a.name, a.media_type, a.data, a.description) for a in inside),
    )
    rendered = _render(job, limits, secret_names) if job.html or job.pdf else Rendered(None, None)
    if rendered.html is not None:
        selected.insert(0, Artefact(f"{stem}.html", "text/html", rendered.html, "report (HTML)"))
    if rendered.pdf is not None:
        selected.insert(
            0, Artefact(f"{stem}.pdf", "application/pdf", rendered.pdf, "report (PDF/A-3b)")
        )
    manifest = _manifest_artefact(run, selected)
    return [*selected, manifest]


def _render(job: RenderJob, limits: RenderLimits | None, secret_names: Sequence[str]) -> Rendered:
    if limits is None:
        return render_job(job)
    return render_isolated(job, limits, secret_names=secret_names)


def _format_of(name: str) -> str:
    if name.endswith("-findings.csv"):
        return "csv"
    if name.endswith("-oscal.json"):
        return "oscal"
    if name.endswith(("-verification.json", "-cited-receipts.jsonl")):
        return "json"
    return "json" if name.endswith(".json") else name.rsplit(".", 1)[-1]
