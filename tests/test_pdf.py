"""The PDF report: PDF/A-3b with attachments, bounded page count, reproducible bytes, and a
sandbox that loads nothing (no file, no network) whatever the receipts contain."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from reporting.errors import EvidenceError
from reporting.report import pdf as pdf_module
from reporting.report.html import Medium, render_document
from reporting.report.model import CountRow, ReportModel
from reporting.report.pdf import Attachment, pdf_limits, render_pdf, write_pdf
from tests.conftest import require_binary
from tests.test_html import CHARTS, FILE_URL, IMG_URL, LOCAL_URL, hostile_model

REPO = Path(__file__).resolve().parents[1]
MAX_PAGES = 70  # 73 mapped controls (55 before the audit review) and the exceptions

ATTACHMENTS = (
    Attachment("report.json", "application/json", b'{"schema": "x"}\n', "The report model"),
    Attachment("findings.csv", "text/csv", b"id,severity\r\nF-001,critical\r\n", "Findings"),
    Attachment(
        "receipts.bin", "application/octet-stream", bytes(range(256)) * 4, "Arbitrary bytes"
    ),
)


def render_to(model_path: str, out_path: str) -> None:
    """Entry point for the second, separate-process render of the determinism test."""
    model = pickle.loads(Path(model_path).read_bytes())
    Path(out_path).write_bytes(render_pdf(model, CHARTS, ATTACHMENTS))


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(sample_report: Any) -> ReportModel:
    result: ReportModel = sample_report.model
    return result


@pytest.fixture(scope="module")
def rendered(model: ReportModel) -> tuple[bytes, float]:
    start = time.perf_counter()
    data = render_pdf(model, CHARTS, ATTACHMENTS)
    return data, time.perf_counter() - start


@pytest.fixture(scope="module")
def pdf(rendered: tuple[bytes, float]) -> bytes:
    return rendered[0]


@pytest.fixture(scope="module")
def reader(pdf: bytes, tmp_path_factory: pytest.TempPathFactory) -> PdfReader:
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    path.write_bytes(pdf)
    return PdfReader(path)


@pytest.fixture(scope="module")
def text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


# -- content ------------------------------------------------------------------------------


def test_render_time_and_pages(rendered: tuple[bytes, float], reader: PdfReader) -> None:
    seconds = rendered[1]
    print(f"\nsample PDF: {len(reader.pages)} pages, {seconds:.1f} s, {len(rendered[0])} bytes")
    assert seconds < 300


def test_page_count_is_bounded(reader: PdfReader) -> None:
    assert 10 < len(reader.pages) <= MAX_PAGES


def test_text_has_ids_and_figures(text: str, model: ReportModel) -> None:
    flat = re.sub(r"\s+", " ", text)
    assert model.report_id in flat
    assert model.organisation in flat
    assert f"{model.figures.receipts_in_scope:,}" in flat
    assert f"{model.figures.trusted_receipts:,}" in flat
    assert model.posture.value in flat
    for framework in model.frameworks:
        for control in framework.controls:
            assert control.id in flat, control.id
    for finding in model.findings:
        assert finding.id in flat, finding.id
    assert "Signature: see the signed PDF / manifest" in flat


def test_running_header_and_footer(reader: PdfReader, model: ReportModel) -> None:
    total = len(reader.pages)
    last = reader.pages[-1].extract_text()
    assert f"Page {total} of {total}" in last
    assert f"Posture: {model.posture.value}" in last
    assert model.report_id in reader.pages[1].extract_text()


def test_omitted_rows_point_at_the_attachments(text: str, model: ReportModel) -> None:
    flat = re.sub(r"\s+", " ", text)
    assert f"of {model.activity.failures_total} failed actions" in flat
    assert "attached JSON report model" in flat
    for attachment in ATTACHMENTS:
        assert attachment.name in flat  # listed in the appendix


def test_pdftoppm_renders_every_page(pdf: bytes, reader: PdfReader, tmp_path: Path) -> None:
    pdftoppm = require_binary("pdftoppm", "poppler-utils")
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        [pdftoppm, "-r", "40", "-png", str(source), str(tmp_path / "page")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Syntax Error" not in result.stderr
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == len(reader.pages)
    assert all(p.stat().st_size > 1000 for p in pages)


# -- PDF/A-3 and attachments --------------------------------------------------------------


def test_attachments_extract_byte_for_byte(reader: PdfReader) -> None:
    attached = reader.attachments
    assert sorted(attached) == sorted(a.name for a in ATTACHMENTS)
    for attachment in ATTACHMENTS:
        assert attached[attachment.name] == [attachment.data]


def test_attachments_are_associated_files(reader: PdfReader) -> None:
    root = reader.trailer["/Root"]
    associated = [ref.get_object() for ref in root["/AF"]]
    assert len(associated) == len(ATTACHMENTS)
    by_name = {spec["/UF"]: spec for spec in associated}
    for attachment in ATTACHMENTS:
        spec = by_name[attachment.name]
        assert spec["/AFRelationship"] == "/Data"
        assert spec["/Desc"] == attachment.description
        stream = spec["/EF"]["/F"].get_object()
        assert stream["/Subtype"] == "/" + attachment.media_type
        assert stream["/Params"]["/ModDate"] == "D:20261031175921Z"


def test_pdfa_markers(reader: PdfReader, model: ReportModel) -> None:
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert 'pdfaid:part="3"' in xmp
    assert 'pdfaid:conformance="B"' in xmp
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert reader.pdf_header == "%PDF-1.7"
    info = reader.metadata
    assert info is not None
    producer = re.search(r'pdf:Producer="([^"]+)"', xmp)
    assert producer is not None
    assert info["/Producer"] == producer.group(1)
    assert info["/Creator"] == f"Agent Evidence {model.tool_version}"
    assert f"<xmp:CreatorTool>{info['/Creator']}</xmp:CreatorTool>" in xmp
    # dates come from the evidence (model.as_of), never from the clock
    assert model.as_of is not None
    assert model.as_of.startswith("2026-10-31T17:59:21")
    assert info["/CreationDate"] == "D:20261031175921+00'00"
    assert "<xmp:CreateDate>2026-10-31T17:59:21+00:00</xmp:CreateDate>" in xmp
    assert len(reader.trailer["/ID"]) == 2


def test_fonts_are_embedded(reader: PdfReader) -> None:
    seen = 0
    for page in reader.pages[:5]:
        fonts = page["/Resources"].get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            descriptors = [font.get("/FontDescriptor")] + [
                d.get_object().get("/FontDescriptor") for d in font.get("/DescendantFonts", [])
            ]
            descriptor = next(d.get_object() for d in descriptors if d is not None)
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            seen += 1
    assert seen


@pytest.mark.slow  # make check: the render child's bytes equal ours (test_render_limits.py)
def test_same_inputs_same_bytes(model: ReportModel, pdf: bytes, tmp_path: Path) -> None:
    """The same inputs laid out by another interpreter, with another hash seed."""
    model_path, out_path = tmp_path / "model.pickle", tmp_path / "report.pdf"
    model_path.write_bytes(pickle.dumps(model))
    code = "import sys; from tests.test_pdf import render_to; render_to(sys.argv[1], sys.argv[2])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    command = [sys.executable, "-c", code, str(model_path), str(out_path)]
    subprocess.run(command, cwd=REPO, env=env, timeout=900, check=True)
    assert out_path.read_bytes() == pdf


# -- bounded at any input size ------------------------------------------------------------


def huge_model(model: ReportModel) -> ReportModel:
    """The sample inflated far past every PDF limit."""
    activity = model.activity
    agents = tuple(CountRow(f"did:agent:a{i:04d}", 1000 - i) for i in range(600))
    findings = tuple(replace(f, id=f"F-{i:03d}") for i, f in enumerate(model.findings * 3, start=1))
    return replace(
        model,
        integrity=tuple(
            replace(c, chain_id=f"{c.chain_id}-{k:02d}") for k in range(20) for c in model.integrity
        ),
        input_problems=tuple(
            {"code": "UNREADABLE", "severity": "failure", "message": f"record {i}", "origin": None}
            for i in range(1000)
        ),
        activity=replace(
            activity,
            per_day=tuple(CountRow(f"day {i:03d}", i, {"low": i}) for i in range(366)),
            by_agent=agents,
            by_principal=agents,
            by_action_type=agents,
            failures=activity.failures * 2,
            high_risk=activity.high_risk * 2,
        ),
        sessions=tuple(replace(s, events=(s.events * 3)[:40]) for s in model.sessions),
        findings=findings,
        attribution=tuple(
            CountRow(row.label, row.count, {f"did:user:u{j}": j for j in range(60)})
            for row in agents
        ),
        delegations=model.delegations * 6,
        cited_receipts=tuple(
            replace(r, receipt_id=f"{r.receipt_id}-{k}")
            for k in range(16)
            for r in model.cited_receipts
        ),
    )


def test_page_count_bounded_for_huge_input(model: ReportModel, tmp_path: Path) -> None:
    huge = huge_model(model)
    assert len(huge.integrity) > 2000
    data = render_pdf(huge, CHARTS, ATTACHMENTS)
    path = tmp_path / "huge.pdf"
    path.write_bytes(data)
    reader = PdfReader(path)
    assert len(reader.pages) <= MAX_PAGES
    flat = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    limits = pdf_limits(huge)
    assert f"Showing {limits.chains} of {len(huge.integrity):,} chains" in flat
    assert f"Showing {limits.cited} of {len(huge.cited_receipts):,} cited receipts" in flat


# -- sandbox ------------------------------------------------------------------------------


def small_model(model: ReportModel) -> ReportModel:
    """A few rows of everything: quick to lay out."""
    frameworks = tuple(replace(fw, controls=fw.controls[:3]) for fw in model.frameworks[:1])
    findings = model.findings[:3]
    ids = {f.id for f in findings}
    frameworks = tuple(
        replace(
            fw,
            controls=tuple(
                replace(c, findings=tuple(i for i in c.findings if i in ids)) for c in fw.controls
            ),
        )
        for fw in frameworks
    )
    activity = replace(
        model.activity,
        failures=model.activity.failures[:4],
        high_risk=model.activity.high_risk[:4],
        per_day=model.activity.per_day[:3],
    )
    return replace(
        model,
        integrity=model.integrity[:4],
        activity=activity,
        sessions=tuple(replace(s, events=s.events[:3]) for s in model.sessions[:1]),
        frameworks=frameworks,
        findings=findings,
        cited_receipts=model.cited_receipts[:6],
    )


def _passwd_marker() -> str | None:
    try:
        first = Path("/etc/passwd").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return first[:12] or None


def test_hostile_receipt_text_is_neither_fetched_nor_attached(
    model: ReportModel, tmp_path: Path
) -> None:
    hostile = hostile_model(small_model(model))
    html = render_document(hostile, CHARTS, Medium(pdf=True, limits=pdf_limits(hostile)))
    assert FILE_URL in html  # the payloads are in the document, as text
    data, refused = write_pdf(html, ATTACHMENTS)
    assert refused == ()  # the fetcher was never even asked
    render_pdf(hostile, CHARTS, ATTACHMENTS)  # and the public entry point agrees
    path = tmp_path / "hostile.pdf"
    path.write_bytes(data)
    reader = PdfReader(path)
    assert sorted(reader.attachments) == sorted(a.name for a in ATTACHMENTS)
    flat = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    assert FILE_URL in flat
    assert LOCAL_URL in flat
    assert '<img src="http://127.0.0.1:9/x">' in flat
    assert IMG_URL[:20] in flat
    marker = _passwd_marker()
    if marker:
        assert marker not in flat
        assert marker.encode() not in data


def test_fetcher_refuses_and_records_everything(tmp_path: Path) -> None:
    """If markup ever did reach the document, nothing would load: every URL is refused."""
    urls = [
        FILE_URL,
        LOCAL_URL,
        "http://127.0.0.1:9/style.css",
        "http://127.0.0.1:9/import.css",
        "file:///etc/hostname",
        "data:image/png;base64,iVBORw0KGgo=",
    ]
    html = f"""<!DOCTYPE html><html><head>
<link rel="stylesheet" href="{urls[2]}">
<link rel="attachment" href="{urls[0]}" title="passwd">
<style>@import url("{urls[3]}"); body {{ background: url("{urls[4]}"); }}</style>
</head><body><p>x</p><img src="{urls[1]}"><img src="{urls[5]}"></body></html>"""
    data, refused = write_pdf(html)
    assert set(refused) == set(urls)
    path = tmp_path / "probe.pdf"
    path.write_bytes(data)
    assert PdfReader(path).attachments == {}
    marker = _passwd_marker()
    if marker:
        assert marker.encode() not in data


def test_render_pdf_refuses_a_document_that_loads_something(
    model: ReportModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(*_args: Any, **_kwargs: Any) -> str:
        return f'<!DOCTYPE html><html><body><img src="{LOCAL_URL}"></body></html>'

    monkeypatch.setattr(pdf_module, "render_document", leaky)
    with pytest.raises(EvidenceError) as caught:
        render_pdf(small_model(model), CHARTS, ())
    assert caught.value.code == "RESOURCE_REFUSED"


def test_duplicate_attachment_names_are_refused(model: ReportModel) -> None:
    twice = (ATTACHMENTS[0], ATTACHMENTS[0])
    with pytest.raises(EvidenceError) as caught:
        render_pdf(small_model(model), CHARTS, twice)
    assert caught.value.code == "DUPLICATE_ATTACHMENT"


def test_chart_svg_references_stay_inside_the_document() -> None:
    """Charts may use gradients, clips, markers, patterns and <use>: WeasyPrint resolves
    those fragment references itself, without asking the fetcher."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'viewBox="0 0 200 100" width="200" height="100"><defs>'
        '<linearGradient id="g"><stop offset="0" stop-color="red"/>'
        '<stop offset="1" stop-color="blue"/></linearGradient>'
        '<clipPath id="c"><rect width="100" height="50"/></clipPath>'
        '<marker id="m" markerWidth="4" markerHeight="4"><circle r="2"/></marker>'
        '<pattern id="p" width="4" height="4" patternUnits="userSpaceOnUse">'
        '<rect width="2" height="2"/></pattern></defs>'
        '<rect id="r" width="200" height="100" fill="url(#g)" clip-path="url(#c)"/>'
        '<use href="#r" x="10"/><use xlink:href="#r" y="10"/>'
        '<line x2="100" y2="100" stroke="black" marker-end="url(#m)"/>'
        '<rect x="100" width="50" height="50" fill="url(#p)" opacity="0.5"/>'
        '<text x="5" y="90">label</text></svg>'
    )
    data, refused = write_pdf(f"<!DOCTYPE html><html><body>{svg}</body></html>")
    assert refused == ()
    assert data.startswith(b"%PDF-1.7")


def test_table_headers_keep_their_words_whole(text: str) -> None:
    """The per-agent table's narrow Receipts column broke its header as "Receipt / s"."""
    assert "Agent (issuer) Receipts" in text
    assert not re.search(r"\bReceipt\n\s*s\b", text)
