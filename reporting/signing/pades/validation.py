"""Offline validation of the report PDF's PAdES signature.

`validate_pdf` checks the first signature with pyHanko against an explicit list of
trust anchors (never the operating system's), fetching nothing, with revocation
checking in soft-fail mode, and requires the signer's key usage to include
digitalSignature or nonRepudiation. It never raises.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import CertTrustAnchor

from reporting.aio import run_sync
from reporting.certificates import asn1_certificate

__all__ = ["PdfSignatureVerdict", "validate_pdf"]

# Trust problems that only mean "the certificate is not valid now": a trusted signature
# time-stamp from inside the validity period is proof of existence at that time.
_EXPIRY_INDICATIONS = frozenset(
    {
        AdESIndeterminate.EXPIRED,
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
    }
)


@dataclass(frozen=True)
class PdfSignatureVerdict:
    """The outcome of checking the (first) signature of a PDF. Each flag is one check."""

    present: bool
    """A signature field with a signature exists."""
    intact: bool
    """The signed byte range hashes to the digest the signature covers."""
    valid: bool
    """Intact, and the signature value verifies against the signer's public key."""
    trusted: bool
    """Valid, and the signer's certificate chains to one of the given trust anchors."""
    covers_whole_file: bool
    """No byte of the file lies outside the signed revision (except the signature)."""
    timestamp_valid: bool | None
    """A signature time-stamp is intact, valid and trusted; None when there is none."""
    signer: str | None
    """The signer certificate's subject, RFC 4514."""
    signing_time: datetime | None
    """The signing time the signer claims (``/M``); a time-stamp's time is in `detail`."""
    first_revision_sha256: str | None
    """SHA-256 (hex) of the file's first revision: the unsigned render."""
    detail: str

    @property
    def ok(self) -> bool:
        """Every check passed: present, intact, valid, trusted, whole file covered, and
        a time-stamp, if any, valid."""
        return (
            self.present
            and self.intact
            and self.valid
            and self.trusted
            and self.covers_whole_file
            and self.timestamp_valid is not False
        )


def _first_revision_end(reader: PdfFileReader, pdf: bytes) -> int:
    """Offset just past the first revision: its ``%%EOF`` marker and one end-of-line."""
    end_of_xref = reader.xrefs.get_xref_container_info(0).end_location
    marker = pdf.find(b"%%EOF", end_of_xref)
    if marker < 0:
        return len(pdf)
    end = marker + len(b"%%EOF")
    if pdf[end : end + 2] == b"\r\n":
        return end + 2
    if pdf[end : end + 1] in (b"\r", b"\n"):
        return end + 1
    return end


class _TrustFailureToDebug(logging.Filter):
    """pyHanko logs every failed trust-path search as a WARNING with a traceback. Here an
    untrusted signer is a verdict, not a warning (every demo report has one): such
    records go out at DEBUG, traceback kept, so default handlers stay quiet."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and record.exc_info:
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
        return True


_PYHANKO_CMS_LOGGER = "pyhanko.sign.validation.generic_cms"
_TRUST_FAILURE_FILTER = _TrustFailureToDebug()


def _quiet_trust_failures() -> None:
    logger = logging.getLogger(_PYHANKO_CMS_LOGGER)
    if _TRUST_FAILURE_FILTER not in logger.filters:
        logger.addFilter(_TRUST_FAILURE_FILTER)


def _context(trust: Sequence[Any], moment: datetime | None = None) -> ValidationContext:
    # Anchors carry their own validity period: an expired self-signed signer (the usual
    # case, `keys init`) is not trusted after it expires (pyHanko ignores an anchor's
    # dates unless asked).
    anchors = [CertTrustAnchor(c, derive_default_quals_from_cert=True) for c in trust]
    return ValidationContext(
        trust_roots=anchors,
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=moment,
    )


_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)


def _status(
    signature: EmbeddedPdfSignature, trust: Sequence[Any], moment: datetime | None = None
) -> PdfSignatureStatus:
    return run_sync(
        async_validate_pdf_signature(
            signature,
            signer_validation_context=_context(trust, moment),
            ts_validation_context=_context(trust),
            key_usage_settings=_KEY_USAGE,
            # pyHanko's difference analysis of appended revisions walks the whole object
            # graph (about 20 s on a 1,300-object report, and attacker-controlled). The
            # verdict only needs to know that bytes were appended: coverage says so.
            skip_diff=True,
        )
    )


def _strict_whole_file(signature: EmbeddedPdfSignature, size: int) -> bool:
    """The byte range is [0, a, b, c] with the gap exactly the /Contents string and the
    second range ending at the end of the file."""
    byte_range = [int(v) for v in signature.byte_range]
    if len(byte_range) != 4 or byte_range[0] != 0:
        return False
    _, first_length, second_start, second_length = byte_range
    contents = len(signature.pkcs7_content) * 2 + 2
    return second_start == first_length + contents and second_start + second_length == size


def _subject(certificate: Any) -> str | None:
    try:
        loaded = x509.load_der_x509_certificate(certificate.dump())
    except ValueError:
        return None
    return loaded.subject.rfc4514_string()


def _absent(detail: str, first_revision: str | None) -> PdfSignatureVerdict:
    return PdfSignatureVerdict(
        present=False,
        intact=False,
        valid=False,
        trusted=False,
        covers_whole_file=False,
        timestamp_valid=None,
        signer=None,
        signing_time=None,
        first_revision_sha256=first_revision,
        detail=detail,
    )


def validate_pdf(pdf: bytes, *, trust: Sequence[x509.Certificate]) -> PdfSignatureVerdict:
    """Check the first signature of `pdf` offline against the `trust` anchors.

    Only `trust` is trusted (never the system store); nothing is fetched; revocation is
    checked in soft-fail mode with what the file carries. With several signatures the
    first (the issuer's) is checked and any later one counts as bytes outside it. When
    the signer's certificate has expired but a trusted signature time-stamp proves the
    signature existed while it was valid, the signer is validated at that time. Never
    raises: a malformed file gives ``present=False`` (or False flags) and a `detail`.
    """
    data = bytes(pdf)
    _quiet_trust_failures()
    try:
        anchors = [asn1_certificate(c) for c in trust]
    except Exception as exc:  # noqa: BLE001 - a bad anchor is reported, not raised
        return _absent(f"unusable trust anchor: {exc}", None)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        first_revision = hashlib.sha256(data[: _first_revision_end(reader, data)]).hexdigest()
    except Exception as exc:  # noqa: BLE001 - never raise on malformed input
        return _absent(f"not a readable PDF: {type(exc).__name__}: {exc}", None)
    try:
        signatures = list(reader.embedded_regular_signatures)
    except Exception as exc:  # noqa: BLE001
        return _absent(f"unreadable signature field: {type(exc).__name__}: {exc}", first_revision)
    if not signatures:
        return _absent("no signature in the PDF", first_revision)
    signature = signatures[0]
    try:
        return _verdict(signature, anchors, data, first_revision, len(signatures))
    except Exception as exc:  # noqa: BLE001
        return PdfSignatureVerdict(
            present=True,
            intact=False,
            valid=False,
            trusted=False,
            covers_whole_file=False,
            timestamp_valid=None,
            signer=None,
            signing_time=None,
            first_revision_sha256=first_revision,
            detail=f"the signature could not be validated: {type(exc).__name__}: {exc}",
        )


def _verdict(
    signature: EmbeddedPdfSignature,
    anchors: Sequence[Any],
    data: bytes,
    first_revision: str,
    count: int,
) -> PdfSignatureVerdict:
    status = _status(signature, anchors)
    notes: list[str] = []
    tst = status.timestamp_validity
    timestamp_valid = None if tst is None else bool(tst.intact and tst.valid and tst.trusted)
    if (
        not status.trusted
        and status.intact
        and status.valid
        and status.trust_problem_indic in _EXPIRY_INDICATIONS
        and tst is not None
        and timestamp_valid
    ):
        at_timestamp = _status(signature, anchors, moment=tst.timestamp)
        if at_timestamp.trusted:
            notes.append(
                f"signer certificate validated at the time-stamp {tst.timestamp.isoformat()} "
                f"(not valid now: {_indication(status)})"
            )
            status = at_timestamp
    intact = bool(status.intact)
    valid = intact and bool(status.valid)
    trusted = valid and bool(status.trusted)
    whole = (
        status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        and count == 1
        and _strict_whole_file(signature, len(data))
    )
    signer = _subject(status.signing_cert)
    claimed = status.signer_reported_dt
    notes.insert(
        0,
        _summary(status, intact=intact, valid=valid, trusted=trusted, whole=whole, count=count),
    )
    if tst is not None:
        notes.append(
            f"signature time-stamp {tst.timestamp.isoformat()} "
            f"{'valid and trusted' if timestamp_valid else 'NOT valid or not trusted'}"
        )
    return PdfSignatureVerdict(
        present=True,
        intact=intact,
        valid=valid,
        trusted=trusted,
        covers_whole_file=whole,
        timestamp_valid=timestamp_valid,
        signer=signer,
        signing_time=claimed.astimezone(UTC) if claimed is not None else None,
        first_revision_sha256=first_revision,
        detail="; ".join(notes),
    )


def _indication(status: PdfSignatureStatus) -> str:
    indication = status.trust_problem_indic
    if indication is None:
        return "NO_CERTIFICATE_CHAIN_FOUND"
    return str(getattr(indication, "name", indication))


def _summary(
    status: PdfSignatureStatus, *, intact: bool, valid: bool, trusted: bool, whole: bool, count: int
) -> str:
    if not intact:
        return "the signed bytes do not match the signature's digest (the file was altered)"
    if not valid:
        return "the signature value does not verify against the signer's certificate"
    parts = ["signature intact and valid"]
    if trusted:
        parts.append("signer trusted")
    else:
        parts.append(f"signer NOT trusted ({_indication(status)})")
    if not whole:
        extra = f"{count} signatures" if count > 1 else "bytes were appended after it"
        level = status.modification_level
        parts.append(
            f"the signature does not cover the whole file ({extra}"
            + (f", modification level {level.name}" if level is not None else "")
            + ")"
        )
    return ", ".join(parts)
