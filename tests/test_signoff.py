"""The sign-off page and the generation time (issue 16): who generated the report (the
signer's subject and certificate fingerprint) and when (the signing time the pipeline
decides before rendering, on the cover too), and a space for the reviewer's attestation.
The report id does not depend on the generation time; with it pinned, the bytes repeat."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from reporting.cli import main
from reporting.pipeline import WrittenReport, run_signed_report
from reporting.settings import OutputSettings, RunSettings, VerifyRequest
from reporting.signing.keys import SigningIdentity, load_identity

from .conftest import require_binary
from .factory import ChainBuilder, Key, write_jsonl
from .shared_reports import SAMPLE_SOURCES
from .test_history import report

KEY = Key.from_seed("signoff")
WHEN = datetime(2026, 11, 2, 7, 30, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunSettings, SigningIdentity]:
    directory = tmp_path_factory.mktemp("signoff")
    source = write_jsonl(
        directory / "receipts.jsonl", ChainBuilder(KEY, chain_id="chain_signoff").extend(5).receipts
    )
    keys = directory / "keys"
    assert main(["keys", "init", "--out", str(keys), "--subject", "CN=Sign-off signer"]) == 0
    identity = load_identity(key=keys / "signing-key.pem", cert=keys / "signing-cert.pem")
    verify = VerifyRequest(sources=(str(source),), keys=KEY.write_pem(directory / "key.pem"))
    return RunSettings(verify=verify, organisation="Sign-off Corp"), identity


def _run(inputs, out: Path, when: datetime) -> WrittenReport:
    settings, identity = inputs
    settings = replace(settings, output=OutputSettings(directory=out, formats=("html", "json")))
    return run_signed_report(settings, identity=identity, signing_time=when)


def _html(written: WrittenReport) -> str:
    return next(p for p, _ in written.files if p.suffix == ".html").read_text()


def test_the_generation_time_is_the_signing_time_and_not_in_the_report_id(inputs, tmp_path) -> None:
    first = _run(inputs, tmp_path / "a", WHEN)
    later = _run(inputs, tmp_path / "b", WHEN.replace(hour=9))
    assert first.model.report_id == later.model.report_id
    assert first.model.signature.signing_time == "2026-11-02T07:30:15+00:00"
    assert later.model.signature.signing_time == "2026-11-02T09:30:15+00:00"
    html = _html(first)
    cover = html[: html.index('id="summary"')]
    assert "<dt>Generated</dt><dd>2026-11-02 07:30:15 UTC" in cover
    assert "Evidence as of" in cover


def test_with_the_time_pinned_the_bytes_repeat(inputs, tmp_path) -> None:
    first = _run(inputs, tmp_path / "a", WHEN)
    again = _run(inputs, tmp_path / "b", WHEN)
    assert _html(first) == _html(again)


def test_the_sign_off_page_names_the_signer_and_leaves_room_to_attest(inputs, tmp_path) -> None:
    written = _run(inputs, tmp_path / "a", WHEN)
    html = _html(written)
    signoff = html[html.index('id="signoff"') : html.index('id="appendix"')]
    fingerprint = written.summary["signature"]["certificate_sha256"]
    assert written.model.signature.certificate_sha256 == fingerprint
    [certificate] = x509.load_pem_x509_certificates(
        (written.directory / "signer-cert.pem").read_bytes()
    )
    assert certificate.fingerprint(hashes.SHA256()).hex() == fingerprint
    assert fingerprint in signoff
    assert "CN=Sign-off signer" in signoff
    assert "2026-11-02 07:30:15 UTC" in signoff
    for field in ("Reviewer (name)", "Role", "Decision", "Date", "Signature"):
        assert f"<th>{field}</th>" in signoff
    assert written.model.signature.demo is False


def test_a_demo_signed_report_says_nobody_vouches_for_who_generated_it(inputs, tmp_path) -> None:
    settings, _ = inputs
    settings = replace(settings, output=OutputSettings(directory=tmp_path, formats=("html",)))
    written = run_signed_report(settings, signing_time=WHEN)
    html = _html(written)
    signoff = html[html.index('id="signoff"') : html.index('id="appendix"')]
    assert "UNTRUSTED DEMO SIGNATURE" in signoff
    assert written.model.signature.certificate_sha256 in signoff


# -- the PDF, against the previous week ---------------------------------------------------


@pytest.fixture(scope="module")
def w44_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """W43 (JSON), then W44 as a PDF into the same directory; the PDF's text."""
    pdftotext = require_binary("pdftotext", "poppler-utils")
    out = tmp_path_factory.mktemp("pdf")
    w43 = report(out, "2026-W43")
    args = ["--period", "2026-W44", "--out", str(out), "--format", "pdf,json", "--quiet"]
    assert main(["report", *SAMPLE_SOURCES, *args, "--fail-on", "never"]) == 0
    [pdf] = out.glob("2026-W44/*/*.pdf")
    text = subprocess.run(
        [pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    [model] = pdf.parent.glob(f"evidence-*-{pdf.parent.name}.json")
    return re.sub(r"\s+", " ", text), {"w43": w43.report_id, **json.loads(model.read_text())}


def test_the_pdf_compares_with_the_previous_week_and_has_a_sign_off_page(w44_pdf) -> None:
    text, model = w44_pdf
    assert "Against the previous report" in text
    assert f"Compared with report {model['w43']} for 2026-W43" in text
    assert "Since the previous report" in text
    assert "Controls whose status changed" in text
    assert "Manual evidence to request" in text
    assert "Reviewer's attestation" in text
    generated = model["signature"]["signing_time"].replace("T", " ")[:19]
    assert f"Generated: {generated} UTC" in text
    assert model["signature"]["certificate_sha256"] in text.replace(" ", "")
