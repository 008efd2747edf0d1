"""Report model → PDF/A-3b with the machine-readable evidence attached.

WeasyPrint lays out the same HTML as the browser report (`Medium(pdf=True)`: tighter row
limits, notes that point at the attached files), A4, running header and footer from CSS
paged media, fixed table layout. Rendering is sandboxed: the URL fetcher refuses every
URL (file:, http(s):, data:) and records it, since the document inlines everything it
needs (CSS, SVG) and nothing in it may reach the network or the file system. Any refused
URL is a rendering bug or an injection attempt, so `render_pdf` raises rather than
producing the document.

Reproducible: the document dates (Info and XMP) and the attachments' dates come from
the model's `as_of`, the file identifier is WeasyPrint's digest of the content, and
nothing reads the clock, so the same inputs give the same bytes. Info and XMP carry the
same Producer and Creator, which a later signature must keep (PDF/A).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import weasyprint  # type: ignore[import-untyped]

from reporting.errors import Diagnostic, DiagnosticCode
from reporting.report.html import (
    PDF_LIMITS,
    AttachmentInfo,
    Limits,
    Medium,
    RenderError,
    render_document,
)
from reporting.report.model import ReportModel, utc_instant

__all__ = [
    "PDF_VARIANT",
    "Attachment",
    "LaidOutPdf",
    "RefusingFetcher",
    "finish_pdf",
    "lay_out",
    "lay_out_pdf",
    "pdf_limits",
    "render_pdf",
    "write_pdf",
]

PDF_VARIANT = "pdf/a-3b"
RELATIONSHIP = "Data"
# A fixed date when the model has none (no receipt in scope): never the clock.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    """A file embedded in the PDF as a PDF/A-3 associated file."""

    name: str
    media_type: str
    data: bytes
    description: str


class RefusingFetcher(weasyprint.URLFetcher):  # type: ignore[misc]
    """A WeasyPrint URL fetcher that fetches nothing and remembers what was asked."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False, timeout=1)
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:
        self.refused.append(url)
        raise ValueError(f"resource loading is disabled in reports: {url[:200]!r}")

    def open(self, url: Any, data: Any = None, timeout: Any = None) -> Any:
        return self.fetch(str(getattr(url, "full_url", url)))

    def __call__(self, url: str) -> Any:
        return self.fetch(url)


def _as_of(model: ReportModel) -> datetime:
    moment = utc_instant(model.as_of)
    return EPOCH if moment is None else moment.replace(microsecond=0)


def _pdf_name(media_type: str) -> str:
    """A media type as a PDF name (ISO 32000-1 §7.3.5): irregular bytes as #xx."""
    regular = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-_")
    return "/" + "".join(chr(b) if b in regular else f"#{b:02x}" for b in media_type.encode())


def _finisher(types_by_md5: Mapping[str, str]) -> Any:
    """Post-process WeasyPrint's PDF: give each embedded file its declared media type
    (WeasyPrint guesses one from the name) and list each associated file once in the
    catalog's /AF (WeasyPrint's PDF/A step adds them twice)."""

    def finisher(_document: Any, pdf: Any) -> None:
        for item in pdf.objects:
            extra = getattr(item, "extra", None)
            if not isinstance(extra, dict) or extra.get("Type") != "/EmbeddedFile":
                continue
            checksum = str(extra["Params"]["CheckSum"]).strip("<>")
            if checksum in types_by_md5:
                extra["Subtype"] = _pdf_name(types_by_md5[checksum])
        associated = pdf.catalog.get("AF")
        if associated is not None:
            unique = list(dict.fromkeys(associated))
            associated.clear()
            associated.extend(unique)

    return finisher


def _weasy_attachments(
    attachments: Sequence[Attachment], fetcher: RefusingFetcher, when: datetime
) -> list[Any]:
    return [
        weasyprint.Attachment(
            string=item.data,
            base_url=None,
            url_fetcher=fetcher,
            name=item.name,
            description=item.description,
            created=when,
            modified=when,
            relationship=RELATIONSHIP,
        )
        for item in attachments
    ]


_WEASYPRINT_OPTIONS: dict[str, Any] = {
    "pdf_variant": PDF_VARIANT,
    "uncompressed_pdf": False,
    "custom_metadata": False,
    "presentational_hints": False,
}


@dataclass(frozen=True)
class LaidOutPdf:
    """A paginated document waiting for its attachments' bytes (WeasyPrint lays out
    without them: they only enter the file when it is written)."""

    document: Any  # weasyprint.document.Document
    fetcher: RefusingFetcher
    when: datetime
    attachments: tuple[AttachmentInfo, ...]


def lay_out(
    html: str, *, when: datetime = EPOCH, attachments: Sequence[AttachmentInfo] = ()
) -> LaidOutPdf:
    """Paginate `html` (the costly part of making the PDF)."""
    fetcher = RefusingFetcher()
    document = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).render(
        **_WEASYPRINT_OPTIONS
    )
    return LaidOutPdf(document, fetcher, when, tuple(attachments))


def _write(laid_out: LaidOutPdf, attachments: Sequence[Attachment] = ()) -> bytes:
    """Write a laid-out document as PDF/A-3b with `attachments`, the files its appendix
    announced (same names, types and descriptions, in order)."""
    if _infos(attachments) != laid_out.attachments:
        message = "the attached files differ from those the document lists"
        raise RenderError(Diagnostic(DiagnosticCode.ATTACHMENT_MISMATCH, message))
    types = {
        hashlib.md5(a.data, usedforsecurity=False).hexdigest(): a.media_type for a in attachments
    }
    pdf = laid_out.document.write_pdf(
        attachments=_weasy_attachments(attachments, laid_out.fetcher, laid_out.when),
        finisher=_finisher(types),
        **_WEASYPRINT_OPTIONS,
    )
    return bytes(pdf)


def write_pdf(
    html: str, attachments: Sequence[Attachment] = (), *, when: datetime = EPOCH
) -> tuple[bytes, tuple[str, ...]]:
    """Lay out `html` as PDF/A-3b with `attachments`; return the bytes and every URL the
    document tried to load (all refused)."""
    laid_out = lay_out(html, when=when, attachments=_infos(attachments))
    pdf = _write(laid_out, attachments)
    return pdf, tuple(laid_out.fetcher.refused)


# Rows the findings and the controls may spend on receipts, across the whole document.
FINDING_RECEIPT_BUDGET = 60
SAMPLE_BUDGET = 150


def pdf_limits(model: ReportModel) -> Limits:
    """The PDF's row limits: fixed caps per list, and per-finding and per-control receipts
    shared out so many findings or controls cannot push the page count up."""
    findings = max(1, min(len(model.findings), PDF_LIMITS.finding_details))
    controls = max(1, sum(len(fw.controls) for fw in model.frameworks))
    return replace(
        PDF_LIMITS,
        finding_receipts=max(
            2, min(PDF_LIMITS.finding_receipts, FINDING_RECEIPT_BUDGET // findings)
        ),
        samples=max(1, min(PDF_LIMITS.samples, SAMPLE_BUDGET // controls)),
    )


def _infos(attachments: Sequence[Attachment]) -> tuple[AttachmentInfo, ...]:
    return tuple(AttachmentInfo(a.name, a.media_type, a.description) for a in attachments)


def _refuse_loads(fetcher: RefusingFetcher) -> None:
    refused = fetcher.refused
    if refused:
        LOGGER.error("the report tried to load %d resource(s): %s", len(refused), refused[:5])
        message = f"the report tried to load {len(refused)} resource(s), first {refused[0]!r}"
        raise RenderError(Diagnostic(DiagnosticCode.RESOURCE_REFUSED, message))


def lay_out_pdf(
    model: ReportModel, charts: Mapping[str, str], attachments: Sequence[AttachmentInfo] = ()
) -> LaidOutPdf:
    """The evidence report paginated, announcing `attachments` in its appendix; their
    bytes are only needed by `finish_pdf`, so they can be built meanwhile."""
    names = [a.name for a in attachments]
    if len(set(names)) != len(names):
        raise RenderError(
            Diagnostic(DiagnosticCode.DUPLICATE_ATTACHMENT, "attachment names must be unique")
        )
    medium = Medium(pdf=True, limits=pdf_limits(model), attachments=tuple(attachments))
    html = render_document(model, charts, medium)
    laid_out = lay_out(html, when=_as_of(model), attachments=attachments)
    _refuse_loads(laid_out.fetcher)
    return laid_out


def finish_pdf(laid_out: LaidOutPdf, attachments: Sequence[Attachment] = ()) -> bytes:
    """The laid-out report as PDF/A-3b bytes, `attachments` embedded as associated files."""
    pdf = _write(laid_out, attachments)
    _refuse_loads(laid_out.fetcher)
    return pdf


def render_pdf(
    model: ReportModel, charts: Mapping[str, str], attachments: Sequence[Attachment] = ()
) -> bytes:
    """The evidence report as PDF/A-3b bytes, `attachments` embedded as associated files."""
    return finish_pdf(lay_out_pdf(model, charts, _infos(attachments)), attachments)
