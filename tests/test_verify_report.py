"""verify-report: a signed report verifies, and every tampering fails with its own check."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from reporting.cli import main

from .conftest import require_binary
from .shared_reports import (
    PASSPHRASE,
    PASSPHRASE_ENV,
    SAMPLE_FILES,
    SAMPLE_SOURCES,
    run_directory,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SOURCES = list(SAMPLE_SOURCES)


@pytest.fixture(scope="module")
def signed(signed_sample_report) -> tuple[Path, Path]:
    return signed_sample_report.directory, signed_sample_report.cert


@pytest.fixture
def copy(signed, tmp_path: Path) -> tuple[Path, Path]:
    report, cert = signed
    target = tmp_path / "report"
    shutil.copytree(report, target)
    return target, cert


def _failed(path: Path, *args: str, capsys) -> tuple[int, set[str]]:
    code = main(["verify-report", str(path), *args])
    out = capsys.readouterr().out
    return code, {
        line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("FAIL")
    }


def _pdf(directory: Path) -> Path:
    return next(directory.glob("*.pdf"))


def test_a_signed_report_verifies_from_the_pdf_and_the_manifest(copy, capsys) -> None:
    report, cert = copy
    assert _failed(_pdf(report), "--trust", str(cert), capsys=capsys) == (0, set())
    assert _failed(report / "manifest.json", "--trust", str(cert), capsys=capsys) == (0, set())


def test_without_a_trust_anchor_the_signature_is_intact_but_untrusted(copy, capsys) -> None:
    report, _ = copy
    code, failed = _failed(report / "manifest.json", capsys=capsys)
    assert code == 1
    assert failed == {"manifest_signer_trusted", "pdf_signer_trusted"}


def test_flipped_byte_in_the_pdf(copy, capsys) -> None:
    report, cert = copy
    pdf = _pdf(report)
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    pdf.write_bytes(bytes(data))
    code, failed = _failed(pdf, "--trust", str(cert), capsys=capsys)
    assert code == 1
    assert "pdf_signature" in failed


def test_an_update_appended_after_signing(copy, capsys) -> None:
    from pypdf import PdfWriter

    report, cert = copy
    pdf = _pdf(report)
    writer = PdfWriter(str(pdf), incremental=True)
    writer.add_metadata({"/Title": "changed after signing"})
    appended = report / "appended.pdf"
    with appended.open("wb") as handle:
        writer.write(handle)
    code, failed = _failed(appended, "--trust", str(cert), capsys=capsys)
    assert code == 1
    assert "pdf_covers_whole_file" in failed


def test_manifest_edited(copy, capsys) -> None:
    report, cert = copy
    manifest = report / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"Example Corp"', b'"Other Corp"', 1))
    code, failed = _failed(manifest, "--trust", str(cert), capsys=capsys)
    assert code == 1
    assert "manifest_signature" in failed


def test_artefact_beside_the_manifest_edited(copy, capsys) -> None:
    report, cert = copy
    model = next(p for p in report.glob("evidence-*.json"))
    model.write_bytes(model.read_bytes() + b" ")
    code, failed = _failed(report / "manifest.json", "--trust", str(cert), capsys=capsys)
    assert code == 1
    assert failed == {"artefacts_match"}


def test_signature_by_an_untrusted_certificate(copy, tmp_path: Path, capsys) -> None:
    report, _ = copy
    assert (
        main(["keys", "init", "--out", str(tmp_path / "other"), "--subject", "CN=Someone else"])
        == 0
    )
    code, failed = _failed(
        _pdf(report), "--trust", str(tmp_path / "other" / "signing-cert.pem"), capsys=capsys
    )
    assert code == 1
    assert {"pdf_signer_trusted", "manifest_signer_trusted"} <= failed


def test_an_attachment_swapped(copy, tmp_path: Path, monkeypatch, capsys) -> None:
    """An attacker with the signing key re-signs a PDF whose attachment no longer matches."""
    from pypdf import PdfReader

    from reporting.report.pdf import Attachment
    from reporting.signing.keys import load_identity
    from reporting.signing.pades import sign_pdf

    report, cert = copy
    keys = cert.parent
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    original = PdfReader(str(_pdf(report)))
    attachments = [
        Attachment(name, "application/octet-stream", data[0], name)
        for name, data in original.attachments.items()
    ]
    swapped = [
        a
        if a.name == "manifest.json"
        or (not a.name.endswith(".csv") and not a.name.endswith("-oscal.json"))
        else Attachment(a.name, a.media_type, a.data + b"\n", a.description)
        for a in attachments
    ]
    # rebuild from the same unsigned content is not needed: append a PDF with swapped files
    from datetime import UTC, datetime

    import weasyprint

    html = weasyprint.HTML(string="<p>swapped</p>")
    unsigned = html.write_pdf(
        pdf_variant="pdf/a-3b",
        attachments=[
            weasyprint.Attachment(string=a.data, name=a.name, description=a.description)
            for a in swapped
        ],
    )
    identity = load_identity(key=keys / "signing-key.pem", cert=cert, passphrase_env=PASSPHRASE_ENV)
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(
        sign_pdf(
            unsigned,
            identity,
            signing_time=datetime.now(UTC),
            reason="r",
            location="l",
            signer_name="s",
        )
    )
    code, failed = _failed(forged, "--trust", str(cert), capsys=capsys)
    assert code == 1
    assert "pdf_attachments" in failed
    assert "pdf_signature" not in failed


def test_rederive_matches_the_sources_and_catches_an_altered_receipt(
    copy, tmp_path: Path, capsys
) -> None:
    report, cert = copy
    manifest = report / "manifest.json"
    same = ["--trust", str(cert), "--rederive", *SOURCES, *SAMPLE_FILES]
    assert _failed(manifest, *same, capsys=capsys) == (0, set())
    altered = tmp_path / "altered.db"
    shutil.copy(SAMPLES / "receipts.db", altered)
    low = '"risk_level": "low"'
    with sqlite3.connect(altered) as db:
        cursor = db.execute(
            "UPDATE receipts SET receipt_json = replace(receipt_json, ?, ?) WHERE rowid = "
            "(SELECT rowid FROM receipts WHERE instr(receipt_json, ?) > 0 LIMIT 1)",
            (low, '"risk_level": "medium"', low),
        )
        assert cursor.rowcount == 1
    changed = ["--trust", str(cert), "--rederive", str(altered), *SOURCES[1:], *SAMPLE_FILES]
    code, failed = _failed(manifest, *changed, capsys=capsys)
    assert code == 1
    assert failed == {"rederive"}


def test_demo_signature_is_marked_and_untrusted(demo_report, capsys) -> None:
    demo, pdf = demo_report.directory, demo_report.pdf
    code, failed = _failed(pdf, capsys=capsys)
    assert code == 1
    # the demo writes the approval brief too, signed by the same demo key
    assert failed == {"pdf_signer_trusted", "manifest_signer_trusted", "brief_signer_trusted"}
    pdftotext = require_binary("pdftotext", "poppler-utils")
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True)
    pages = text.stdout.split("\f")[:-1]
    assert len(pages) > 10
    assert [n for n, text in enumerate(pages, 1) if "UNTRUSTED DEMO SIGNATURE" not in text] == []
    demo_cert = demo / "signer-cert.pem"
    assert _failed(pdf, "--trust", str(demo_cert), capsys=capsys) == (0, set())


def test_usage_errors(tmp_path: Path, capsys) -> None:
    assert main(["verify-report", str(tmp_path / "missing.pdf")]) == 2
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.7 nothing")
    assert main(["verify-report", str(tmp_path / "x.pdf"), "--rederive", "a.db"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_openssl_accepts_the_manifest_signature(copy) -> None:
    report, cert = copy
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    run = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-content",
            "manifest.json",
            "-in",
            "manifest.json.p7s",
            "-CAfile",
            str(cert),
            "-purpose",
            "any",
        ],
        cwd=report,
        capture_output=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def test_pkcs12_signing_with_passphrase_from_the_environment(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        load_pem_private_key,
        pkcs12,
    )

    assert (
        main(["keys", "init", "--out", str(tmp_path / "keys"), "--subject", "CN=P12 signer"]) == 0
    )
    key = load_pem_private_key((tmp_path / "keys" / "signing-key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((tmp_path / "keys" / "signing-cert.pem").read_bytes())
    bundle = pkcs12.serialize_key_and_certificates(
        b"signer",
        key,
        cert,
        None,
        BestAvailableEncryption(b"s3cret"),  # type: ignore[arg-type]
    )
    (tmp_path / "signer.p12").write_bytes(bundle)
    monkeypatch.setenv("REPORT_P12_PASSPHRASE", "s3cret")
    code = main(
        [
            "report",
            *SOURCES,
            "--format",
            "json",
            "--out",
            str(tmp_path / "out"),
            "--sign-p12",
            str(tmp_path / "signer.p12"),
            "--passphrase-env",
            "REPORT_P12_PASSPHRASE",
        ]
    )
    assert code == 1
    capsys.readouterr()
    trust = str(tmp_path / "keys" / "signing-cert.pem")
    assert _failed(
        run_directory(tmp_path / "out") / "manifest.json", "--trust", trust, capsys=capsys
    ) == (
        0,
        set(),
    )
    monkeypatch.setenv("REPORT_P12_PASSPHRASE", "wrong")
    code = main(
        [
            "report",
            *SOURCES,
            "--format",
            "json",
            "--out",
            str(tmp_path / "out2"),
            "--sign-p12",
            str(tmp_path / "signer.p12"),
            "--passphrase-env",
            "REPORT_P12_PASSPHRASE",
        ]
    )
    assert code == 2
    assert "BAD_PASSPHRASE" in capsys.readouterr().err
