"""The approval brief: the report's verdict on one or two A4 pages, for a ticket.

Posture, scope and period, key figures, control status per framework, per-agent status,
the top findings with their remediation, the manual evidence still outstanding, and how
to verify it (report id, signer and certificate fingerprint, `verify-report`). The same
model, words and badges as the report (`templates/brief.html.j2`), laid out by the same
sandboxed WeasyPrint as PDF/A-3b, carrying a manifest so `verify-report` can check the
brief alone; signed and listed in the directory's manifest like every artefact.

Two pages at most, whatever the input: the lists are short, and should a model still not
fit (long names, many frameworks), the brief is laid out again with shorter lists, down
to one finding and one agent.
"""

from __future__ import annotations

from dataclasses import replace

from reporting.report.html import PDF_LIMITS, AttachmentInfo, Limits, Medium, render_document
from reporting.report.model import ReportModel
from reporting.report.names import MANIFEST_DESCRIPTION, MANIFEST_NAME
from reporting.report.pdf import Attachment, finish_pdf, lay_out_document

__all__ = ["BRIEF_LIMITS", "BRIEF_TEMPLATE", "MAX_PAGES", "render_brief"]

BRIEF_TEMPLATE = "brief.html.j2"
MAX_PAGES = 2
BRIEF_LIMITS = replace(PDF_LIMITS, top_findings=6, top_agents=8, principals=3)
# Shorter lists, tried in turn when the brief does not fit on MAX_PAGES.
_SHORTER = (
    {"top_findings": 4, "top_agents": 5},
    {"top_findings": 2, "top_agents": 3},
    {"top_findings": 1, "top_agents": 1},
)


def _limits() -> list[Limits]:
    return [BRIEF_LIMITS, *(replace(BRIEF_LIMITS, **shorter) for shorter in _SHORTER)]


def render_brief(model: ReportModel, name: str, manifest: bytes) -> bytes:
    """The brief as PDF/A-3b bytes named `name`, carrying `manifest` (manifest.json)."""
    attached = Attachment(MANIFEST_NAME, "application/json", manifest, MANIFEST_DESCRIPTION)
    info = AttachmentInfo(attached.name, attached.media_type, attached.description)
    laid_out = None
    for limits in _limits():
        medium = Medium(pdf=True, limits=limits, attachments=(info,), name=name)
        html = render_document(model, {}, medium, template=BRIEF_TEMPLATE)
        laid_out = lay_out_document(model, html, (info,))
        if len(laid_out.document.pages) <= MAX_PAGES:
            break
    assert laid_out is not None  # _limits() is never empty
    return finish_pdf(laid_out, [attached])
