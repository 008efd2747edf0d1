"""PAdES signing and offline validation of the PDF/A-3b report (reporting.signing.pades).

Every signature is made over a small PDF/A-3b document rendered by the production
WeasyPrint path (`reporting.report.pdf.write_pdf`), with throwaway keys and certificates
valid 2000-2099 so that validation "now" does not depend on the wall clock. The B-T
tests run a local RFC 3161 time-stamp server (pyHanko's `DummyTimeStamper` behind
`http.server` on 127.0.0.1, an ephemeral port), stopped at the end of the module.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import logging
import os
import shutil
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.timestamps import DummyTimeStamper
from pypdf import PdfReader

from reporting.certificates import PathCode
from reporting.report.pdf import Attachment, write_pdf
from reporting.signing.keys import SigningIdentity
from reporting.signing.pades import (
    DEFAULT_FIELD_NAME,
    PdfSignatureVerdict,
    PdfSigningError,
    sign_pdf,
    validate_pdf,
)
from reporting.signing.pades.metadata import MetadataKeepingWriter

from .helpers import deadline

SIGNING_TIME = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
CREATED = "2026-10-31T17:59:21Z"
VALID_FROM = datetime(2000, 1, 1, tzinfo=UTC)
VALID_TO = datetime(2099, 12, 31, tzinfo=UTC)
TITLE = "Signing test report"

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
}

HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{TITLE}</title>
<meta name="author" content="Example Corp">
<meta name="generator" content="Agent Evidence test">
<meta name="dcterms.created" content="{CREATED}">
<meta name="dcterms.modified" content="{CREATED}">
</head><body><h1>Evidence</h1><p>Chains verified: 118 of 120.</p></body></html>"""


# --- keys and certificates -------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"),
        ]
    )


def _certificate(
    key: Any,
    subject: str,
    *,
    issuer: tuple[x509.Name, Any] | None = None,
    ca: bool = False,
    time_stamping: bool = False,
    valid_from: datetime = VALID_FROM,
    valid_to: datetime = VALID_TO,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer is not None else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca and not time_stamping,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if time_stamping:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, algorithm)


def _self_signed(key: Any, subject: str, **kwargs: Any) -> SigningIdentity:
    return SigningIdentity(private_key=key, certificate=_certificate(key, subject, **kwargs))


@pytest.fixture(scope="module")
def p256() -> SigningIdentity:
    return _self_signed(ec.generate_private_key(ec.SECP256R1()), "Report signer P-256")


@pytest.fixture(scope="module")
def rsa2048() -> SigningIdentity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _self_signed(key, "Report signer RSA")


@pytest.fixture(scope="module")
def ed25519_identity() -> SigningIdentity:
    return _self_signed(ed25519.Ed25519PrivateKey.generate(), "Report signer Ed25519")


@pytest.fixture(scope="module")
def stranger() -> SigningIdentity:
    return _self_signed(ec.generate_private_key(ec.SECP256R1()), "Somebody else")


@pytest.fixture(scope="module")
def ca_issued() -> tuple[SigningIdentity, x509.Certificate]:
    """A signer whose certificate a CA issued; the identity carries the CA certificate."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate(root_key, "Example Corp report CA", ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(key, "CISO office", issuer=(root.subject, root_key))
    return SigningIdentity(private_key=key, certificate=leaf, chain=(root,)), root


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    attachment = Attachment("findings.csv", "text/csv", b"id,severity\nF-001,high\n", "findings")
    pdf, refused = write_pdf(HTML, [attachment], when=datetime(2026, 10, 31, tzinfo=UTC))
    assert refused == ()
    return pdf


def _sign(pdf: bytes, identity: SigningIdentity, **kwargs: Any) -> bytes:
    options: dict[str, Any] = {
        "signing_time": SIGNING_TIME,
        "reason": "Evidence report issued by Example Corp",
        "location": "Example Corp",
        "signer_name": identity.certificate.subject.rfc4514_string(),
    }
    options.update(kwargs)
    return sign_pdf(pdf, identity, **options)


@pytest.fixture(scope="module")
def signed_p256(unsigned: bytes, p256: SigningIdentity) -> bytes:
    return _sign(unsigned, p256)


# --- a local RFC 3161 time-stamp authority ----------------------------------------------


@dataclass
class Tsa:
    url: str
    root: x509.Certificate
    stamper: DummyTimeStamper


class _TsaHandler(BaseHTTPRequestHandler):
    stamper: DummyTimeStamper

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self.send_error(415)
            return
        response = self.stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(response)))
        self.end_headers()
        self.wfile.write(response)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _asn1(certificate: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


@contextmanager
def _tsa_server(**leaf_options: Any) -> Iterator[Tsa]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate(root_key, "Test TSA root", ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the dummy is RSA-only
    leaf = _certificate(
        key, "Test TSA", issuer=(root.subject, root_key), time_stamping=True, **leaf_options
    )
    private = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    stamper = DummyTimeStamper(tsa_cert=_asn1(leaf), tsa_key=private, certs_to_embed=None)
    handler = type("Handler", (_TsaHandler,), {"stamper": stamper})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="test-tsa", daemon=True)
    thread.start()
    try:
        yield Tsa(f"http://127.0.0.1:{server.server_address[1]}/tsa", root, stamper)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def tsa() -> Iterator[Tsa]:
    with _tsa_server() as served:
        yield served


@pytest.fixture
def tsa_time(tsa: Tsa) -> Iterator[DummyTimeStamper]:
    """The TSA's stamper, for tests that fix its clock; reset afterwards."""
    yield tsa.stamper
    tsa.stamper.fixed_dt = None


# --- reading the signed file -------------------------------------------------------------


def _xmp(pdf: bytes) -> ET.Element:
    reader = PdfReader(io.BytesIO(pdf))
    data = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    return ET.fromstring(data)


def _xmp_values(root: ET.Element, prefix: str, name: str) -> list[str]:
    qualified = f"{{{NS[prefix]}}}{name}"
    values = []
    for description in root.iter(f"{{{NS['rdf']}}}Description"):
        if qualified in description.attrib:
            values.append(description.attrib[qualified])
        values.extend(child.text or "" for child in description.findall(qualified))
    return values


def _info(pdf: bytes) -> dict[str, Any]:
    return dict(PdfReader(io.BytesIO(pdf)).metadata or {})


def _signature_objects(pdf: bytes) -> tuple[Any, Any, Any]:
    """The catalog, the signature field (widget) and the signature dictionary."""
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    fields = root["/AcroForm"]["/Fields"]
    assert len(fields) == 1
    field = fields[0].get_object()
    return root, field, field["/V"].get_object()


def _flip(pdf: bytes, offset: int) -> bytes:
    return pdf[:offset] + bytes([pdf[offset] ^ 0x01]) + pdf[offset + 1 :]


def _assert_verdict(verdict: PdfSignatureVerdict, **expected: Any) -> None:
    actual = {name: getattr(verdict, name) for name in expected}
    assert actual == expected, verdict.detail


# --- signing and validating ------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["p256", "rsa2048"])
def test_signed_report_validates_and_keeps_the_render_as_first_revision(
    request: pytest.FixtureRequest, unsigned: bytes, algorithm: str
) -> None:
    identity: SigningIdentity = request.getfixturevalue(algorithm)
    signed = _sign(unsigned, identity)

    assert signed[: len(unsigned)] == unsigned
    assert len(signed) > len(unsigned)
    verdict = validate_pdf(signed, trust=[identity.certificate])
    _assert_verdict(
        verdict,
        present=True,
        intact=True,
        valid=True,
        trusted=True,
        covers_whole_file=True,
        timestamp_valid=None,
        signer=identity.certificate.subject.rfc4514_string(),
        signing_time=SIGNING_TIME,
        first_revision_sha256=hashlib.sha256(unsigned).hexdigest(),
    )
    assert verdict.ok


def test_untrusted_anchor_gives_valid_but_untrusted(
    signed_p256: bytes, p256: SigningIdentity, stranger: SigningIdentity
) -> None:
    for trust in ([stranger.certificate], []):
        verdict = validate_pdf(signed_p256, trust=trust)
        _assert_verdict(
            verdict, present=True, intact=True, valid=True, trusted=False, covers_whole_file=True
        )
        assert not verdict.ok
        assert verdict.signer == p256.certificate.subject.rfc4514_string()


def test_signature_by_an_impostor_with_the_same_name_is_untrusted(
    unsigned: bytes, p256: SigningIdentity
) -> None:
    impostor = _self_signed(ec.generate_private_key(ec.SECP256R1()), "Report signer P-256")
    assert impostor.certificate.subject == p256.certificate.subject
    verdict = validate_pdf(_sign(unsigned, impostor), trust=[p256.certificate])
    _assert_verdict(verdict, intact=True, valid=True, trusted=False)


def test_ca_issued_signer_chains_to_the_root(
    unsigned: bytes, ca_issued: tuple[SigningIdentity, x509.Certificate], p256: SigningIdentity
) -> None:
    identity, root = ca_issued
    signed = _sign(unsigned, identity)
    _assert_verdict(validate_pdf(signed, trust=[root]), valid=True, trusted=True)
    _assert_verdict(validate_pdf(signed, trust=[p256.certificate]), valid=True, trusted=False)


def test_a_path_through_an_intermediate_counts_only_when_each_issuer_is_a_ca(
    unsigned: bytes,
) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate(root_key, "Example Corp root CA", ca=True)
    for issuing_is_ca, code in [(True, None), (False, PathCode.NOT_A_CA)]:
        issuing_key = ec.generate_private_key(ec.SECP256R1())
        issuing = _certificate(
            issuing_key,
            "Example Corp issuing CA",
            issuer=(root.subject, root_key),
            ca=issuing_is_ca,
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(key, "CISO office", issuer=(issuing.subject, issuing_key))
        identity = SigningIdentity(private_key=key, certificate=leaf, chain=(issuing,))
        verdict = validate_pdf(_sign(unsigned, identity), trust=[root])
        _assert_verdict(verdict, valid=True, trusted=code is None, trust_code=code)


def test_crafted_certificates_in_a_received_pdf_cannot_stall_validation(
    unsigned: bytes, stranger: SigningIdentity
) -> None:
    # Twelve CA certificates sharing one name and key, carried in the signature: without
    # a bound, path building tries all 12! orderings of them (verify-report would hang).
    key = ec.generate_private_key(ec.SECP256R1())
    loop = (_name("Loop"), key)
    decoys = tuple(_certificate(key, "Loop", issuer=loop, ca=True) for _ in range(12))
    signer_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(signer_key, "Signer", issuer=loop)
    identity = SigningIdentity(private_key=signer_key, certificate=leaf, chain=decoys)
    signed = _sign(unsigned, identity)
    with deadline(30):
        verdict = validate_pdf(signed, trust=[stranger.certificate])
    _assert_verdict(verdict, valid=True, trusted=False, trust_code=PathCode.PATH_SEARCH_LIMIT)


def test_signing_is_deterministic(unsigned: bytes, p256: SigningIdentity, rsa2048: Any) -> None:
    # No wall clock anywhere (dates from signing_time, file identifier derived from the
    # input); ECDSA uses RFC 6979 nonces, RSA PKCS#1 v1.5 is deterministic by design.
    for identity in (p256, rsa2048):
        assert _sign(unsigned, identity) == _sign(unsigned, identity)
    later = _sign(unsigned, p256, signing_time=SIGNING_TIME + timedelta(seconds=1))
    assert later != _sign(unsigned, p256)


# --- PDF/A-3b after signing ------------------------------------------------------------


def test_producer_stays_identical_in_info_and_xmp(unsigned: bytes, signed_p256: bytes) -> None:
    before = _info(unsigned)["/Producer"]
    assert before.startswith("WeasyPrint")
    info_producer = _info(signed_p256)["/Producer"]
    xmp_producers = _xmp_values(_xmp(signed_p256), "pdf", "Producer")
    assert xmp_producers == [info_producer]
    assert info_producer == before


def test_pdfa_identification_is_kept(signed_p256: bytes) -> None:
    root = _xmp(signed_p256)
    assert _xmp_values(root, "pdfaid", "part") == ["3"]
    assert _xmp_values(root, "pdfaid", "conformance") == ["B"]


def test_modification_date_is_the_signing_time(unsigned: bytes, signed_p256: bytes) -> None:
    info = _info(signed_p256)
    assert info["/ModDate"] == "D:20261101093000+00'00"
    assert _xmp_values(_xmp(signed_p256), "xmp", "ModifyDate") == ["2026-11-01T09:30:00+00:00"]
    # creation stays the render's, in both places
    assert info["/CreationDate"] == _info(unsigned)["/CreationDate"]
    assert _xmp_values(_xmp(signed_p256), "xmp", "CreateDate") == [CREATED]
    _root, _field, signature = _signature_objects(signed_p256)
    assert signature["/M"] == "D:20261101093000Z"


def test_signing_time_in_another_zone_is_recorded_in_utc(
    unsigned: bytes, p256: SigningIdentity
) -> None:
    local = SIGNING_TIME.astimezone(timezone(timedelta(hours=2)))
    signed = _sign(unsigned, p256, signing_time=local.replace(microsecond=123))
    assert _info(signed)["/ModDate"] == "D:20261101093000+00'00"
    assert validate_pdf(signed, trust=[p256.certificate]).signing_time == SIGNING_TIME


def test_other_metadata_is_untouched(unsigned: bytes, signed_p256: bytes) -> None:
    before, after = _info(unsigned), _info(signed_p256)
    for key in ("/Title", "/Author", "/Creator", "/CreationDate"):
        assert after[key] == before[key]
    assert _xmp_values(_xmp(signed_p256), "xmp", "CreatorTool") == ["Agent Evidence test"]
    assert b"pyHanko" not in signed_p256[len(unsigned) :]


def test_pdf_version_stays_1_7_with_only_the_esic_extension(signed_p256: bytes) -> None:
    root, _field, _signature = _signature_objects(signed_p256)
    assert signed_p256.startswith(b"%PDF-1.7")
    assert "/Version" not in root
    assert set(root["/Extensions"].keys()) == {"/ESIC"}
    assert root["/Extensions"]["/ESIC"]["/BaseVersion"] == "/1.7"
    assert list(root["/OutputIntents"])  # the PDF/A output intent is still there


def test_signature_is_invisible_pades_with_reason_location_and_name(
    signed_p256: bytes, p256: SigningIdentity
) -> None:
    root, field, signature = _signature_objects(signed_p256)
    assert field["/T"] == DEFAULT_FIELD_NAME
    assert field["/FT"] == "/Sig"
    assert [float(v) for v in field["/Rect"]] == [0, 0, 0, 0]
    flags = int(field["/F"])
    assert flags & 4  # Print (PDF/A: required)
    assert not flags & (1 | 2 | 32 | 256)  # Invisible, Hidden, NoView, ToggleNoView
    assert "/AP" not in field
    assert "/NeedAppearances" not in root["/AcroForm"]
    assert signature["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature["/Reason"] == "Evidence report issued by Example Corp"
    assert signature["/Location"] == "Example Corp"
    assert signature["/Name"] == p256.certificate.subject.rfc4514_string()


def test_ed25519_signs_as_pdf_2_0_and_drops_the_pdfa_claim(
    unsigned: bytes, ed25519_identity: SigningIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    # EdDSA in PDF exists only as ISO/TS 32002 on PDF 2.0; PDF/A-3 is PDF 1.7-based.
    signed = _sign(unsigned, ed25519_identity)
    assert "PDF 2.0" in caplog.text
    assert signed[: len(unsigned)] == unsigned
    root, _field, _signature = _signature_objects(signed)
    assert root["/Version"] == "/2.0"
    assert "/ISO_" in root["/Extensions"]
    xmp = _xmp(signed)
    assert _xmp_values(xmp, "pdfaid", "part") == []
    assert _xmp_values(xmp, "pdf", "Producer") == [_info(signed)["/Producer"]]
    verdict = validate_pdf(signed, trust=[ed25519_identity.certificate])
    _assert_verdict(verdict, intact=True, valid=True, trusted=True, covers_whole_file=True)


# --- tampering -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["first revision", "signature dictionary"])
def test_flipped_byte_in_the_signed_range_breaks_integrity(
    unsigned: bytes, signed_p256: bytes, p256: SigningIdentity, where: str
) -> None:
    if where == "first revision":
        offset = signed_p256.index(b"stream\n") + 200  # inside the render's first stream
        assert offset < len(unsigned)
    else:
        offset = signed_p256.index(b"Example Corp)", len(unsigned))  # the /Location
    tampered = _flip(signed_p256, offset + 3)
    verdict = validate_pdf(tampered, trust=[p256.certificate])
    _assert_verdict(verdict, present=True, intact=False, valid=False, trusted=False)
    assert not verdict.ok


def test_altered_signature_value_is_invalid_but_intact(
    signed_p256: bytes, p256: SigningIdentity
) -> None:
    signature = PdfFileReader(io.BytesIO(signed_p256)).embedded_regular_signatures[0]
    value = signature.signer_info["signature"].native
    offset = signed_p256.index(value.hex().upper().encode()) + len(value) * 2 - 1
    tampered = signed_p256[:offset] + (b"0" if signed_p256[offset : offset + 1] != b"0" else b"1")
    tampered += signed_p256[offset + 1 :]
    verdict = validate_pdf(tampered, trust=[p256.certificate])
    _assert_verdict(verdict, present=True, intact=True, valid=False, trusted=False)


def _append_update(signed: bytes) -> bytes:
    """`signed` plus an incremental update that changes the document title."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    info_ref = writer.trailer.raw_get("/Info")
    info_ref.get_object()["/Title"] = generic.TextStringObject("Nothing to see here")
    writer.mark_update(info_ref)
    out = io.BytesIO()
    writer.write(out)
    updated = out.getvalue()
    assert updated[: len(signed)] == signed
    assert len(updated) > len(signed)
    return updated


def test_appended_incremental_update_is_not_covered(
    unsigned: bytes, signed_p256: bytes, p256: SigningIdentity
) -> None:
    updated = _append_update(signed_p256)
    assert _info(updated)["/Title"] == "Nothing to see here"

    verdict = validate_pdf(updated, trust=[p256.certificate])
    _assert_verdict(
        verdict,
        present=True,
        intact=True,
        valid=True,
        trusted=True,
        covers_whole_file=False,
        first_revision_sha256=hashlib.sha256(unsigned).hexdigest(),
    )
    assert not verdict.ok


def test_trailing_bytes_are_not_covered(signed_p256: bytes, p256: SigningIdentity) -> None:
    verdict = validate_pdf(signed_p256 + b"% appended\n", trust=[p256.certificate])
    _assert_verdict(verdict, intact=True, valid=True, covers_whole_file=False)


# --- time-stamps (B-T) ------------------------------------------------------------------


def test_b_t_with_a_trusted_tsa(unsigned: bytes, p256: SigningIdentity, tsa: Tsa) -> None:
    signed = _sign(unsigned, p256, tsa_url=tsa.url)
    assert signed[: len(unsigned)] == unsigned
    verdict = validate_pdf(signed, trust=[p256.certificate, tsa.root])
    _assert_verdict(
        verdict, intact=True, valid=True, trusted=True, covers_whole_file=True, timestamp_valid=True
    )
    assert verdict.ok
    # the time-stamp authority is not trusted: the time-stamp is not valid, the signer is
    verdict = validate_pdf(signed, trust=[p256.certificate])
    _assert_verdict(verdict, trusted=True, timestamp_valid=False)
    assert not verdict.ok


@pytest.fixture(scope="module")
def former() -> SigningIdentity:
    """A signer whose certificate was valid during 2020 only."""
    return _self_signed(
        ec.generate_private_key(ec.SECP256R1()),
        "Former signer",
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        valid_to=datetime(2021, 1, 1, tzinfo=UTC),
    )


def test_signer_is_judged_at_the_signing_time_it_states(
    unsigned: bytes, former: SigningIdentity
) -> None:
    # No time-stamp: the path is validated at /M (the signer's claim, as Adobe Reader
    # does by default), so a certificate that expired since still counts...
    during = _sign(unsigned, former, signing_time=datetime(2020, 6, 1, 12, 0, tzinfo=UTC))
    verdict = validate_pdf(during, trust=[former.certificate])
    _assert_verdict(verdict, valid=True, trusted=True, trust_code=None)
    assert verdict.ok
    # ...but one that had expired, or was not yet valid, when the signer signed does not.
    for moment, code in [
        (datetime(2021, 6, 1, tzinfo=UTC), PathCode.EXPIRED),
        (datetime(2019, 6, 1, tzinfo=UTC), PathCode.NOT_YET_VALID),
    ]:
        verdict = validate_pdf(
            _sign(unsigned, former, signing_time=moment), trust=[former.certificate]
        )
        _assert_verdict(verdict, valid=True, trusted=False, trust_code=code)
        assert not verdict.ok


def test_a_trusted_time_stamp_overrides_the_stated_signing_time(
    unsigned: bytes, former: SigningIdentity, tsa: Tsa, tsa_time: DummyTimeStamper
) -> None:
    trust = [former.certificate, tsa.root]
    stated = datetime(2020, 6, 1, 12, 0, tzinfo=UTC)
    tsa_time.fixed_dt = stated + timedelta(minutes=1)
    stamped = _sign(unsigned, former, tsa_url=tsa.url, signing_time=stated)
    verdict = validate_pdf(stamped, trust=trust)
    _assert_verdict(verdict, valid=True, trusted=True, timestamp_valid=True)
    # The time-stamp proves the signature existed only after the certificate expired:
    # the stated (back-dated) signing time does not count.
    tsa_time.fixed_dt = datetime(2022, 1, 1, tzinfo=UTC)
    backdated = _sign(unsigned, former, tsa_url=tsa.url, signing_time=stated)
    verdict = validate_pdf(backdated, trust=trust)
    _assert_verdict(
        verdict, valid=True, trusted=False, timestamp_valid=True, trust_code=PathCode.EXPIRED
    )


def test_a_time_stamp_from_an_expired_tsa_certificate_proves_nothing(
    unsigned: bytes, p256: SigningIdentity
) -> None:
    # The TSA's certificate ended in 2021, its token says 2022: the time-stamp is not
    # trusted, and the signer is judged at the time it states instead.
    with _tsa_server(valid_to=datetime(2021, 1, 1, tzinfo=UTC)) as expired_tsa:
        expired_tsa.stamper.fixed_dt = datetime(2022, 1, 1, tzinfo=UTC)
        signed = _sign(unsigned, p256, tsa_url=expired_tsa.url)
        verdict = validate_pdf(signed, trust=[p256.certificate, expired_tsa.root])
        _assert_verdict(verdict, valid=True, trusted=True, timestamp_valid=False)
        assert not verdict.ok
        expired_tsa.stamper.fixed_dt = datetime(2020, 6, 1, tzinfo=UTC)
        signed = _sign(unsigned, p256, tsa_url=expired_tsa.url)
        verdict = validate_pdf(signed, trust=[p256.certificate, expired_tsa.root])
        _assert_verdict(verdict, valid=True, trusted=True, timestamp_valid=True)


def test_unreachable_tsa_is_a_signing_error(unsigned: bytes, p256: SigningIdentity) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PdfSigningError) as error:
        _sign(unsigned, p256, tsa_url=f"http://127.0.0.1:{port}/tsa")
    assert error.value.code == "TSA_FAILED"


# --- input errors and malformed files ---------------------------------------------------


def test_signing_input_errors(unsigned: bytes, p256: SigningIdentity, stranger: Any) -> None:
    cases: list[tuple[str, bytes, Any, dict[str, Any]]] = [
        ("NAIVE_SIGNING_TIME", unsigned, p256, {"signing_time": datetime(2026, 11, 1)}),
        (
            "KEY_CERTIFICATE_MISMATCH",
            unsigned,
            SigningIdentity(private_key=stranger.private_key, certificate=p256.certificate),
            {},
        ),
        (
            "UNSUPPORTED_SIGNING_KEY",
            unsigned,
            _self_signed(rsa.generate_private_key(public_exponent=65537, key_size=1024), "Weak"),
            {},
        ),
        ("UNREADABLE_PDF", b"this is not a PDF", p256, {}),
        ("TSA_URL_INVALID", unsigned, p256, {"tsa_url": "file:///etc/passwd"}),
    ]
    for code, pdf, identity, extra in cases:
        with pytest.raises(PdfSigningError) as error:
            _sign(pdf, identity, **extra)
        assert error.value.code == code


def test_unsigned_pdf_is_reported_absent(unsigned: bytes) -> None:
    verdict = validate_pdf(unsigned, trust=[])
    _assert_verdict(
        verdict,
        present=False,
        intact=False,
        valid=False,
        trusted=False,
        covers_whole_file=False,
        timestamp_valid=None,
        signer=None,
        first_revision_sha256=hashlib.sha256(unsigned).hexdigest(),
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda pdf: b"",
        lambda pdf: b"%PDF-1.7\n",
        lambda pdf: os.urandom(4096),
        lambda pdf: pdf[: len(pdf) // 2],
        lambda pdf: pdf[:-200],
        lambda pdf: pdf.replace(b"/ByteRange", b"/ByteRangX"),
        lambda pdf: pdf.replace(b"/Contents <30", b"/Contents <00"),
    ],
    ids=["empty", "header", "random", "half", "no-trailer", "no-byte-range", "bad-cms"],
)
def test_validate_never_raises_on_malformed_input(
    signed_p256: bytes, p256: SigningIdentity, mangle: Any
) -> None:
    verdict = validate_pdf(mangle(signed_p256), trust=[p256.certificate])
    assert isinstance(verdict, PdfSignatureVerdict)
    assert not verdict.ok
    assert verdict.detail


# --- interoperability: Poppler ---------------------------------------------------------


def _pdfsig() -> str:
    found = shutil.which("pdfsig")
    if found is None:
        reason = "pdfsig (poppler-utils) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must provide it", pytrace=False)
        pytest.skip(reason)
    return found


def test_poppler_reports_the_ecdsa_signature_valid_over_the_whole_file(
    signed_p256: bytes, tmp_path: Path
) -> None:
    pdfsig = _pdfsig()
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_p256)
    result = subprocess.run(
        [pdfsig, str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert "Signature Validation: Signature is Valid." in result.stdout, result.stdout
    assert "Total document signed" in result.stdout
    assert "ETSI.CAdES.detached" in result.stdout


def test_poppler_sees_the_appended_update(signed_p256: bytes, tmp_path: Path) -> None:
    pdfsig = _pdfsig()
    path = tmp_path / "appended.pdf"
    path.write_bytes(_append_update(signed_p256))
    result = subprocess.run(
        [pdfsig, str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert "Total document signed" not in result.stdout, result.stdout


def test_validation_leaves_pyhankos_logger_as_it_found_it(
    signed_p256: bytes, stranger: SigningIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("pyhanko.sign.validation.generic_cms")
    before = list(logger.filters)
    assert not validate_pdf(signed_p256, trust=[stranger.certificate]).trusted
    assert logger.filters == before
    caplog.clear()
    # what pyHanko logs outside our validation is the host's business: still a warning
    with caplog.at_level(logging.WARNING, logger=logger.name):
        try:
            raise ValueError("a trust failure elsewhere in the host process")
        except ValueError:
            logger.warning("Failed to build path", exc_info=True)
    assert [r.levelno for r in caplog.records if r.name == logger.name] == [logging.WARNING]


def test_pyhanko_private_hooks_the_metadata_writer_relies_on(unsigned: bytes) -> None:
    """Tripwire: pades/metadata.py overrides pyHanko's private `_update_meta` and sets
    its private `_document_id`. If pyHanko renames or stops calling either, signed
    reports would silently get pyHanko's wall-clock metadata and a random file id."""
    hook = BasePdfFileWriter.__dict__.get("_update_meta")
    assert callable(hook), "pyHanko no longer defines BasePdfFileWriter._update_meta"
    assert list(inspect.signature(hook).parameters) == ["self"], (
        "pyHanko changed the signature of BasePdfFileWriter._update_meta"
    )
    outputs = []
    for _ in range(2):
        writer = MetadataKeepingWriter(unsigned, moment=SIGNING_TIME, pdf_2_0=False)
        assert isinstance(writer.__dict__.get("_document_id"), generic.ArrayObject), (
            "pyHanko no longer keeps the file identifier in _document_id"
        )
        writer.update_root()  # something to write: an empty update writes nothing
        out = io.BytesIO()
        writer.write(out)
        outputs.append(out.getvalue())
    written = PdfReader(io.BytesIO(outputs[0]))
    assert written.metadata is not None
    assert written.metadata["/ModDate"] == "D:20261101093000+00'00", (
        "pyHanko did not call our _update_meta when writing"
    )
    assert bytes(written.trailer["/ID"][1].original_bytes) == writer.document_id[1], (
        "pyHanko did not write our _document_id"
    )
    assert outputs[0] == outputs[1]


def test_untrusted_signer_is_a_verdict_not_a_logged_warning(
    signed_p256: bytes, stranger: SigningIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        verdict = validate_pdf(signed_p256, trust=[stranger.certificate])
    assert not verdict.trusted
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
