"""Offline validation of the report PDF's PAdES signature.

`validate_pdf` checks the first signature with pyHanko: integrity, signature value,
coverage of the whole file, the signature time-stamp, and the signer's certificate path
under the rules of `reporting.certificates` (explicit trust anchors only, nothing
fetched, revocation not checked). The path is validated at the signature's time: the
time of a trusted signature time-stamp when there is one (proof the signature existed
then), else the signing time the signer states (``/M``), else now; a time-stamp
authority's path at its time-stamp's time. It never raises.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel

from reporting.aio import run_sync
from reporting.certificates import (
    SIGNER_KEY_USAGES,
    PathCode,
    Usage,
    signer_problem,
    validate_path,
    validation_context,
)

__all__ = ["PdfSignatureVerdict", "validate_pdf"]


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
    """Valid, and the signer's certificate path leads to one of the given trust anchors,
    valid at the signature's time (`reporting.certificates`)."""
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
    trust_code: PathCode | None = None
    """Why the signer is not trusted, when the signature is valid but not trusted."""

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


# --- pyHanko's log -----------------------------------------------------------------------


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


@contextmanager
def _trust_failures_at_debug() -> Iterator[None]:
    """The filter above on pyHanko's logger for the duration of one validation only:
    the host process's logging is its own."""
    logger = logging.getLogger(_PYHANKO_CMS_LOGGER)
    quiet = _TrustFailureToDebug()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


# --- validation --------------------------------------------------------------------------

# reporting.certificates' usage rule for document signers, in the form pyHanko takes
_SIGNER_USAGE = KeyUsageConstraints(key_usage=SIGNER_KEY_USAGES, match_all_key_usages=False)

# The trust problems pyHanko reports as an AdES sub-indication that have a code of
# their own; any other is INVALID_PATH.
_INDICATION_CODES: dict[object, PathCode] = {
    AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND: PathCode.NO_PATH,
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: PathCode.EXPIRED,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: PathCode.EXPIRED,
    AdESIndeterminate.EXPIRED: PathCode.EXPIRED,
    AdESIndeterminate.NOT_YET_VALID: PathCode.NOT_YET_VALID,
}


def _status(
    signature: EmbeddedPdfSignature,
    trust: Sequence[x509.Certificate],
    *,
    signer_at: datetime | None,
    stamped_at: datetime | None,
) -> PdfSignatureStatus:
    return run_sync(
        async_validate_pdf_signature(
            signature,
            signer_validation_context=validation_context(trust, moment=signer_at),
            ts_validation_context=validation_context(trust, moment=stamped_at),
            key_usage_settings=_SIGNER_USAGE,
            # pyHanko's difference analysis of appended revisions walks the whole object
            # graph (about 20 s on a 1,300-object report, and attacker-controlled). The
            # verdict only needs to know that bytes were appended: coverage says so.
            skip_diff=True,
        )
    )


def _stamped_time(signature: EmbeddedPdfSignature) -> datetime | None:
    """The genTime the first signature time-stamp token states (checked by pyHanko)."""
    try:
        attributes = signature.signer_info["unsigned_attrs"]
        if not isinstance(attributes, cms.CMSAttributes):
            return None
        for attribute in attributes:
            if attribute["type"].native == "signature_time_stamp_token":
                token = attribute["values"][0]["content"]
                moment = token["encap_content_info"]["content"].parsed["gen_time"].native
                return moment if isinstance(moment, datetime) else None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None
    return None


def _strict_whole_file(signature: EmbeddedPdfSignature, size: int) -> bool:
    """The byte range is [0, a, b, c] with the gap exactly the /Contents string and the
    second range ending at the end of the file."""
    byte_range = [int(v) for v in signature.byte_range]
    if len(byte_range) != 4 or byte_range[0] != 0:
        return False
    _, first_length, second_start, second_length = byte_range
    contents = len(signature.pkcs7_content) * 2 + 2
    return second_start == first_length + contents and second_start + second_length == size


def _certificate(asn1_certificate: Any) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(asn1_certificate.dump())
    except ValueError:
        return None


def _subject(asn1_certificate: Any) -> str | None:
    loaded = _certificate(asn1_certificate)
    return None if loaded is None else loaded.subject.rfc4514_string()


def _failed(
    detail: str, first_revision: str | None, *, present: bool = False
) -> PdfSignatureVerdict:
    """Every check failed: no signature, or one that could not be validated at all."""
    return PdfSignatureVerdict(
        present=present,
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
    not checked. With several signatures the first (the issuer's) is checked and any
    later one counts as bytes outside it. The signer's path is validated at the time of
    a trusted signature time-stamp, else at the signing time the signer states. Never
    raises: a malformed file gives ``present=False`` (or False flags) and a `detail`.
    """
    data = bytes(pdf)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        first_revision = hashlib.sha256(data[: _first_revision_end(reader, data)]).hexdigest()
    except Exception as exc:  # noqa: BLE001 - never raise on malformed input
        return _failed(f"not a readable PDF: {type(exc).__name__}: {exc}", None)
    try:
        signatures = list(reader.embedded_regular_signatures)
    except Exception as exc:  # noqa: BLE001
        return _failed(f"unreadable signature field: {type(exc).__name__}: {exc}", first_revision)
    if not signatures:
        return _failed("no signature in the PDF", first_revision)
    signature = signatures[0]
    try:
        with _trust_failures_at_debug():
            return _verdict(signature, trust, data, first_revision, len(signatures))
    except Exception as exc:  # noqa: BLE001
        detail = f"the signature could not be validated: {type(exc).__name__}: {exc}"
        return _failed(detail, first_revision, present=True)


def _validated_status(
    signature: EmbeddedPdfSignature, trust: Sequence[x509.Certificate]
) -> tuple[PdfSignatureStatus, str]:
    """pyHanko's status with the signer validated at the signature's time, and which
    time that was. One pass when the time-stamp (if any) is trusted, else two."""
    claimed = signature.self_reported_timestamp
    stamped = _stamped_time(signature)
    moment = stamped or claimed
    status = _status(signature, trust, signer_at=moment, stamped_at=stamped)
    tst = status.timestamp_validity
    proven = tst.timestamp if tst is not None and tst.valid and tst.trusted else None
    wanted = proven or claimed
    if wanted != moment:
        status = _status(signature, trust, signer_at=wanted, stamped_at=stamped)
    if proven is not None:
        return status, f"at the trusted time-stamp {proven.isoformat()}"
    if claimed is not None:
        return status, f"at the signing time the signer states, {claimed.isoformat()}"
    return status, "now (the signature states no time)"


def _trust_code(
    signature: EmbeddedPdfSignature,
    status: PdfSignatureStatus,
    trust: Sequence[x509.Certificate],
) -> PathCode | None:
    """None when the valid signature's signer is trusted, else why not. pyHanko's AdES
    indication is coarse (a not-yet-valid or non-CA certificate is a "general failure"):
    the path is validated again here, at the same time, for the reason."""
    if status.trusted:
        return signer_problem(status.validation_path, status.signing_cert)
    signer = _certificate(status.signing_cert)
    carried = [c for c in map(_certificate, signature.other_embedded_certs) if c is not None]
    if signer is not None:
        again = validate_path(
            signer,
            intermediates=carried,
            trust=trust,
            moment=status.validation_time,
            usage=Usage.DOCUMENT_SIGNING,
        )
        if again.code is not None:
            return again.code
    return _INDICATION_CODES.get(status.trust_problem_indic, PathCode.INVALID_PATH)


def _verdict(
    signature: EmbeddedPdfSignature,
    trust: Sequence[x509.Certificate],
    data: bytes,
    first_revision: str,
    count: int,
) -> PdfSignatureVerdict:
    status, validated_at = _validated_status(signature, trust)
    tst = status.timestamp_validity
    timestamp_valid = None if tst is None else bool(tst.intact and tst.valid and tst.trusted)
    intact = bool(status.intact)
    valid = intact and bool(status.valid)
    trust_code = _trust_code(signature, status, trust) if valid else None
    trusted = valid and trust_code is None
    whole = (
        status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        and count == 1
        and _strict_whole_file(signature, len(data))
    )
    claimed = status.signer_reported_dt
    notes = [
        _summary(
            status, intact=intact, valid=valid, whole=whole, count=count, trust_code=trust_code
        )
    ]
    if valid:
        notes.append(f"signer certificate path validated {validated_at}")
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
        signer=_subject(status.signing_cert),
        signing_time=claimed.astimezone(UTC) if claimed is not None else None,
        first_revision_sha256=first_revision,
        detail="; ".join(notes),
        trust_code=trust_code,
    )


def _summary(
    status: PdfSignatureStatus,
    *,
    intact: bool,
    valid: bool,
    whole: bool,
    count: int,
    trust_code: PathCode | None,
) -> str:
    if not intact:
        return "the signed bytes do not match the signature's digest (the file was altered)"
    if not valid:
        return "the signature value does not verify against the signer's certificate"
    parts = ["signature intact and valid"]
    if trust_code is None:
        parts.append("signer trusted")
    else:
        parts.append(f"signer NOT trusted ({trust_code})")
    if not whole:
        extra = f"{count} signatures" if count > 1 else "bytes were appended after it"
        level = status.modification_level
        parts.append(
            f"the signature does not cover the whole file ({extra}"
            + (f", modification level {level.name}" if level is not None else "")
            + ")"
        )
    return ", ".join(parts)
