"""The approval brief (`--format brief`) and a small report that stays small (issue 16).

The brief is one or two A4 pages whatever the model, signed (PAdES) and listed in the
manifest like every artefact, and `verify-report` checks it in the directory and alone.
A report about one chain of 17 receipts keeps the full report's structure, but what has
nothing to say (a control with nothing beyond its status) takes one line, not a card.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pypdf import PdfReader

from reporting.audit.verify_report import verify_report
from reporting.report.brief import MAX_PAGES, render_brief
from reporting.report.charts import render_charts
from reporting.report.html import Medium, render_document
from reporting.report.model import ReportModel
from reporting.report.pdf import pdf_limits, render_pdf
from reporting.report.requests import EvidenceOwner, evidence_requests
from reporting.settings import OutputSettings
from reporting.signing.manifest import ManifestInputs, manifest_bytes

from .conftest import sample_settings

ONE_CHAIN = "chain_finance-ops_006"  # 17 receipts


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _brief(run: Any, model: ReportModel | None = None) -> bytes:
    model = model or run.model
    inputs = ManifestInputs.of(model, run.assessment.verification.result, run.settings)
    return render_brief(model, "evidence-brief.pdf", manifest_bytes(inputs, []))


@pytest.fixture(scope="module")
def one_chain() -> Any:
    from reporting.pipeline import run_report

    settings = sample_settings()
    return run_report(replace(settings, verify=replace(settings.verify, chains=(ONE_CHAIN,))))


def test_the_brief_fits_two_pages_and_says_what_a_ticket_needs(sample_report: Any) -> None:
    model = sample_report.model
    pages = _pages(_brief(sample_report))
    assert len(pages) <= MAX_PAGES
    text = _flat(" ".join(pages))
    for needed in (
        model.posture.value,
        model.report_id,
        "2026-10-0100:00:00to2026-11-0100:00:00UTC",  # the period
        "Peragent",
        "did:agent:finance-ops",
        "Manualevidenceoutstanding",
        "agent-evidenceverify-reportevidence-brief.pdf",
        *(f.title for f in model.findings[:3]),
        *(f.remediation for f in model.findings[:3]),
    ):
        assert _flat(needed) in text, needed


def test_a_brief_that_would_not_fit_is_laid_out_with_shorter_lists(sample_report: Any) -> None:
    """Long remediations on every finding: still at most two pages (fewer findings)."""
    long = "Do this carefully, step by step, and record who did it. " * 20
    findings = tuple(replace(f, remediation=long) for f in sample_report.model.findings)
    crowded = replace(sample_report.model, findings=findings * 3)
    pages = _pages(_brief(sample_report, crowded))
    assert len(pages) <= MAX_PAGES
    assert "more findings in the report" in " ".join(pages)


def test_the_brief_names_the_signer_fingerprint(sample_report: Any) -> None:
    signed = replace(
        sample_report.model.signature, signer="CN=Approver", algorithm="ECDSA", demo=False
    )
    model = replace(sample_report.model, signature=replace(signed, certificate_sha256="ab" * 32))
    assert "ab" * 32 in _flat(" ".join(_pages(_brief(sample_report, model))))


def test_the_brief_says_who_supplies_the_manual_evidence(sample_report: Any) -> None:
    """The request list's owners, each with the number of controls it must answer for."""
    owners = (EvidenceOwner("soc2", "IT security"), EvidenceOwner("*", "GRC team"))
    requests = evidence_requests(sample_report.model.frameworks, owners)
    model = replace(sample_report.model, evidence_requests=requests)
    text = _flat(" ".join(_pages(_brief(sample_report, model))))
    for owner in ("IT security", "GRC team"):
        mine = sum(1 for r in requests if r.owner == owner)
        assert _flat(f"{owner} ({mine} controls)") in text


def test_the_brief_is_signed_listed_and_checked_by_verify_report(tmp_path: Path) -> None:
    from reporting.pipeline import run_signed_report

    settings = sample_settings()
    settings = replace(
        settings,
        verify=replace(settings.verify, chains=(ONE_CHAIN,)),
        output=OutputSettings(directory=tmp_path, formats=("brief", "json")),
    )
    written = run_signed_report(settings)
    directory = written.directory
    [brief] = directory.glob("*-brief.pdf")
    assert not [p for p in directory.glob("*.pdf") if p != brief]  # the brief alone
    manifest = json.loads((directory / "manifest.json").read_text())
    assert brief.name in {a["name"] for a in manifest["artefacts"]}
    assert brief.name in {a["name"] for a in written.summary["artefacts"]}
    trust = [x509.load_pem_x509_certificate((directory / "signer-cert.pem").read_bytes())]
    whole = verify_report(directory, trust=trust)
    assert whole.ok, [c for c in whole.checks if not c.passed]
    names = {c.name for c in whole.checks}  # the only PDF is checked as the brief it is
    assert {"brief_signature", "brief_belongs", "artefacts_match"} <= names
    assert not names & {"pdf_signature", "pdf_attachments"}
    alone = verify_report(brief, trust=trust)
    assert alone.ok, [c for c in alone.checks if not c.passed]
    assert "manifests_agree" in {c.name for c in alone.checks}
    assert len(_pages(brief.read_bytes())) <= MAX_PAGES


def _one_chain_report_checked(
    tmp_path: Path, formats: tuple[str, ...]
) -> tuple[Path, list[x509.Certificate], dict[str, bool]]:
    """A signed one-chain report in `formats`, its signer as the trust, and what
    verify-report says of each check."""
    from reporting.pipeline import run_signed_report

    settings = sample_settings()
    settings = replace(
        settings,
        verify=replace(settings.verify, chains=(ONE_CHAIN,)),
        output=OutputSettings(directory=tmp_path / "out", formats=formats),
    )
    directory = run_signed_report(settings).directory
    trust = [x509.load_pem_x509_certificate((directory / "signer-cert.pem").read_bytes())]
    checks = {c.name: c.passed for c in verify_report(directory, trust=trust).checks}
    return directory, trust, checks


def test_verify_report_checks_a_brief_beside_the_report(tmp_path: Path) -> None:
    """A brief from another report, or one changed after signing, fails in the directory."""
    import shutil

    directory, trust, checks = _one_chain_report_checked(tmp_path, ("pdf", "brief"))
    assert checks["brief_signature"]
    assert checks["brief_signer_trusted"]
    assert checks["brief_belongs"]
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    [brief] = copy.glob("*-brief.pdf")
    brief.write_bytes(brief.read_bytes() + b"%% appended after signing\n")
    checks = {c.name: c.passed for c in verify_report(copy, trust=trust).checks}
    assert not checks["brief_signature"]
    assert not checks["artefacts_match"]


# -- a small report stays small -------------------------------------------------------------


def test_a_one_chain_report_collapses_what_has_nothing_to_say(one_chain: Any) -> None:
    """A report about one chain of 17 receipts was 39 pages (51 with the per-agent view):
    each of 73 controls had a card. Those with nothing beyond their status take a line."""
    model = one_chain.model
    assert model.figures.receipts_in_scope == 17
    charts = render_charts(model)
    html = render_document(model, charts, Medium(pdf=True, limits=pdf_limits(model)))
    cards = set(re.findall(r'<div class="control" id="([^"]+)"', html))
    lines = set(re.findall(r'<tr id="(ctl-[^"]+)"', html))
    decided = {ref for f in (*model.findings, *model.exceptions) for ref in f.controls}
    for fw in model.frameworks:
        for control in fw.controls:
            loud = control.status in ("NOT_SATISFIED", "INDETERMINATE") or (
                f"{fw.id}:{control.id}" in decided
            )
            assert (control.anchor in cards) is loud, control.id
            assert (control.anchor in lines) is not loud, control.id
    pdf = render_pdf(model, charts)
    # 30 pages before the request list of manual evidence (the auditor's list: 138 items of
    # 73 controls, grouped by owner, about 2 pages) and the sign-off page joined the report
    assert len(_pages(pdf)) <= 35
