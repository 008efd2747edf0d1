"""PAdES baseline signatures on the report PDF (ETSI EN 319 142-1), with pyHanko.

`sign_pdf` appends one incremental update to the unsigned render, so the first revision
stays byte-identical (a manifest can list the PDF by the digest of that revision) and
the signature covers the entire file. It is B-B, or B-T when a time-stamping authority
is given (RFC 3161 signature time-stamp in the CMS unsigned attributes). The signature
field is invisible (zero-size widget, print flag set, no appearance), as PDF/A allows.

Where this differs from pyHanko's defaults:

* The metadata update keeps PDF/A's Info and XMP in agreement and dated at the signing
  time (`reporting.signing.pades.metadata`).
* pyHanko declares the ISO/TS 32002 developer extension for ECDSA on the NIST curves,
  which moves the catalog to PDF 2.0; PDF/A-3 is based on PDF 1.7. For ECDSA and RSA
  only the ETSI ESIC extension (base version 1.7) is declared, and the writer refuses
  any attempt to raise the version.
* Ed25519 is defined for PDF signatures only by ISO/TS 32002, i.e. for PDF 2.0. Signing
  with an Ed25519 key therefore upgrades the catalog to PDF 2.0 and drops the PDF/A
  conformance claim (a warning is logged).
* The second file identifier is derived from the input (see the metadata module) and
  ECDSA signs deterministically (RFC 6979) where the backend supports it, so signing the
  same render with the same key and time gives the same bytes (B-B; a time-stamp token
  is new each time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import constants as signer_constants
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.signers.pdf_signer import (
    PdfSignatureMetadata,
    PdfSigner,
    PdfSigningSession,
)
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from reporting.aio import run_sync
from reporting.certificates import asn1_certificate
from reporting.errors import Diagnostic, DiagnosticCode, PdfSigningError
from reporting.signing.pades.metadata import MetadataKeepingWriter

__all__ = ["DEFAULT_FIELD_NAME", "PrivateKey", "SigningIdentityLike", "sign_pdf"]

LOGGER = logging.getLogger(__name__)

DEFAULT_FIELD_NAME = "AgentEvidenceSignature"
TSA_TIMEOUT_SECONDS = 20

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

# Digest per key: SHA-256 for P-256 and RSA (PAdES baseline, ETSI TS 119 312), the
# curve's own size for the larger NIST curves, SHA-512 for Ed25519 (RFC 8419).
_CURVE_DIGESTS = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}
MIN_RSA_BITS = 2048
PDF_17 = (1, 7)


class SigningIdentityLike(Protocol):
    """What signing needs from `reporting.signing.keys.SigningIdentity`."""

    @property
    def private_key(self) -> PrivateKey: ...

    @property
    def certificate(self) -> x509.Certificate: ...

    @property
    def chain(self) -> tuple[x509.Certificate, ...]: ...


def _utc_second(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise PdfSigningError(
            Diagnostic(DiagnosticCode.NAIVE_SIGNING_TIME, "signing_time must carry a time zone")
        )
    return moment.astimezone(UTC).replace(microsecond=0)


def _digest_for(key: PrivateKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "sha512"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise PdfSigningError(
                Diagnostic(
                    DiagnosticCode.UNSUPPORTED_SIGNING_KEY,
                    f"RSA signing keys must have at least {MIN_RSA_BITS} bits, "
                    f"this one has {key.key_size}",
                )
            )
        return "sha256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        digest = _CURVE_DIGESTS.get(key.curve.name)
        if digest is None:
            raise PdfSigningError(
                Diagnostic(
                    DiagnosticCode.UNSUPPORTED_SIGNING_KEY,
                    f"ECDSA on {key.curve.name} is not supported; use P-256",
                )
            )
        return digest
    raise PdfSigningError(
        Diagnostic(
            DiagnosticCode.UNSUPPORTED_SIGNING_KEY,
            f"unsupported signing key type {type(key).__name__}; use ECDSA P-256, RSA or Ed25519",
        )
    )


def _check_key_matches(identity: SigningIdentityLike) -> None:
    def spki(public_key: Any) -> bytes:
        return bytes(
            public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    if spki(identity.private_key.public_key()) != spki(identity.certificate.public_key()):
        raise PdfSigningError(
            Diagnostic(
                DiagnosticCode.KEY_CERTIFICATE_MISMATCH,
                "the signing key does not belong to the certificate "
                f"{identity.certificate.subject.rfc4514_string()}",
            )
        )


def _hash_for(digest: str) -> hashes.HashAlgorithm:
    return {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest]


def _ecdsa_sign(key: ec.EllipticCurvePrivateKey, data: bytes, digest: str) -> bytes:
    """ECDSA with RFC 6979 deterministic nonces where the backend has them."""
    try:
        return key.sign(data, ec.ECDSA(_hash_for(digest), deterministic_signing=True))
    except (TypeError, UnsupportedAlgorithm):
        return key.sign(data, ec.ECDSA(_hash_for(digest)))


class _KeySigner(Signer):
    """A pyHanko signer over a `cryptography` private key held in memory."""

    def __init__(
        self, key: PrivateKey, certificate: Any, others: Sequence[Any], digest: str
    ) -> None:
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [certificate, *others]
            ),
            embed_roots=True,
        )
        self._key = key
        self._digest = digest

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        key = self._key
        if digest_algorithm != self._digest:
            raise PdfSigningError(
                Diagnostic(DiagnosticCode.SIGNING_FAILED, f"unexpected digest {digest_algorithm}")
            )
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return _ecdsa_sign(key, data, digest_algorithm)
        return key.sign(data, padding.PKCS1v15(), _hash_for(digest_algorithm))


class _PadesSigner(PdfSigner):
    """pyHanko's signer with a given signing time and PDF/A-3-compatible extensions."""

    def __init__(
        self,
        meta: PdfSignatureMetadata,
        signer: Signer,
        *,
        timestamper: HTTPTimeStamper | None,
        moment: datetime,
        pdf_2_0: bool,
    ) -> None:
        super().__init__(
            meta,
            signer,
            timestamper=timestamper,
            new_field_spec=SigFieldSpec(sig_field_name=str(meta.field_name), box=None),
        )
        self._moment = moment
        self._pdf_2_0 = pdf_2_0

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        # The /M entry and everything else pyHanko dates come from the session's time.
        session.system_time = self._moment
        return session

    def register_extensions(self, pdf_out: BasePdfFileWriter, *, md_algorithm: str) -> None:
        if self._pdf_2_0:
            # EdDSA: ISO/TS 32002 on PDF 2.0, as pyHanko declares it.
            super().register_extensions(pdf_out, md_algorithm=md_algorithm)
            return
        # PAdES on PDF 1.7: the ETSI ESIC extension only (pyHanko would also declare
        # ISO/TS 32002 for NIST-curve ECDSA, moving the file to PDF 2.0).
        pdf_out.ensure_output_version(version=PDF_17)  # type: ignore[no-untyped-call]
        pdf_out.register_extension(signer_constants.ESIC_EXTENSION_1)


def _timestamper(tsa_url: str | None) -> HTTPTimeStamper | None:
    if tsa_url is None:
        return None
    parts = urlsplit(tsa_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PdfSigningError(
            Diagnostic(
                DiagnosticCode.TSA_URL_INVALID, f"the time-stamp URL must be http(s): {tsa_url!r}"
            )
        )
    return HTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS)


def sign_pdf(
    pdf: bytes,
    identity: SigningIdentityLike,
    *,
    signing_time: datetime,
    reason: str,
    location: str,
    signer_name: str,
    tsa_url: str | None = None,
    field_name: str = DEFAULT_FIELD_NAME,
) -> bytes:
    """Sign `pdf` with an invisible PAdES baseline signature (B-B; B-T with `tsa_url`).

    The result starts with `pdf` byte for byte; one incremental update adds the
    signature field, the signature (covering the whole file) and the metadata update
    (Info and XMP modification dates set to `signing_time`, Producer kept identical in
    both). `signing_time` must be time-zone aware; it is used in UTC to the second.
    Raises `PdfSigningError` with a code when the input, key or TSA fails.
    """
    moment = _utc_second(signing_time)
    key = identity.private_key
    digest = _digest_for(key)
    _check_key_matches(identity)
    eddsa = isinstance(key, ed25519.Ed25519PrivateKey)
    if eddsa:
        LOGGER.warning(
            "Ed25519 signature: the signed PDF declares PDF 2.0 (ISO/TS 32002) and drops "
            "its PDF/A-3 conformance claim; use ECDSA P-256 to keep PDF/A-3b"
        )
    timestamper = _timestamper(tsa_url)
    signer = _KeySigner(
        key,
        asn1_certificate(identity.certificate),
        [asn1_certificate(c) for c in identity.chain],
        digest,
    )
    meta = PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm=digest,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name,
    )
    pades = _PadesSigner(meta, signer, timestamper=timestamper, moment=moment, pdf_2_0=eddsa)
    try:
        writer = MetadataKeepingWriter(bytes(pdf), moment=moment, pdf_2_0=eddsa)
    except PdfSigningError:
        raise
    except Exception as exc:  # any parser failure means "not a readable PDF"
        raise PdfSigningError(
            Diagnostic(DiagnosticCode.UNREADABLE_PDF, f"cannot read the PDF to sign: {exc}")
        ) from exc
    if writer.prev.encrypted:
        raise PdfSigningError(
            Diagnostic(DiagnosticCode.ENCRYPTED_PDF, "refusing to sign an encrypted PDF")
        )
    try:
        output = run_sync(pades.async_sign_pdf(writer))
    except PdfSigningError:
        raise
    except Exception as exc:  # pyHanko, aiohttp and OS errors alike
        code = (
            DiagnosticCode.TSA_FAILED
            if timestamper is not None and _is_tsa_error(exc)
            else DiagnosticCode.SIGNING_FAILED
        )
        raise PdfSigningError(
            Diagnostic(code, f"signing failed: {type(exc).__name__}: {exc}")
        ) from exc
    return bytes(output.getvalue())


def _is_tsa_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimestampRequestError | OSError | asyncio.TimeoutError):
            return True
        if type(seen).__module__.startswith("aiohttp"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
