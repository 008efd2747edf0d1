"""Certificate path validation, one set of rules for every signature the tool checks.

Three signatures depend on X.509 trust: the PAdES signature on the report PDF
(`reporting.signing.pades`, through pyHanko), the detached CMS signature on the manifest
(`reporting.signing.cms`) and RFC 3161 time-stamp tokens on receipts
(`reporting.receipts.timestamps`). All three validate the signer's certificate path with
pyhanko-certvalidator (RFC 5280 §6) under the rules below, built here and nowhere else:
pyHanko receives `validation_context`, the other two call `validate_path`.

* Trust anchors: only the certificates given (never the operating system's store). An
  anchor is trusted as itself; it issues other certificates only when it is a CA; its
  validity period, pathLenConstraint, name constraints and policies count (they are
  derived from the certificate, RFC 5937 style).
* Path: built from the certificates the signature carries. Every intermediate must be a
  CA (basicConstraints cA, keyCertSign), pathLenConstraint is honoured, and at most
  `MAX_INTERMEDIATES` intermediates may stand between the signer and its anchor. The
  carried certificates come from the input, and path building tries every ordering of
  same-named issuers, so the search is cut off after `PATH_SEARCH_BUDGET` candidate
  issuers (eight crafted certificates would otherwise take seconds, twelve hours).
* A signer that is itself an anchor must present the anchor certificate byte for
  byte (PKIX trusts any certificate with the anchor's name and key, whatever else it
  says).
* Time: every certificate of the path, the anchor included, must be valid at the
  moment the signature was made: a time-stamp's genTime, a signature's trusted
  time-stamp when it has one, else the signing time its signer states in the signed
  data, else the time of validation. Each caller passes that moment.
* Usage: a document signer (PDF, manifest) needs keyUsage digitalSignature or
  nonRepudiation; a time-stamping authority needs extendedKeyUsage id-kp-timeStamping.
* Revocation is NOT checked. Validation is offline: nothing is fetched, and no CRL or
  OCSP response is consulted, so a revoked certificate stays trusted until it is removed
  from the trust anchors (`--trust`, `--tsa-root`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.authority import (
    AuthorityWithCert,
    CertTrustAnchor,
    derive_quals_from_cert,
)
from pyhanko_certvalidator.errors import (
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.registry import CertificateRegistry, TrustManager

from reporting.aio import run_sync

__all__ = [
    "MAX_INTERMEDIATES",
    "PATH_SEARCH_BUDGET",
    "SIGNER_KEY_USAGES",
    "TSA_KEY_PURPOSE",
    "PathCode",
    "PathVerdict",
    "Usage",
    "asn1_certificate",
    "signer_problem",
    "validate_path",
    "validation_context",
]

MAX_INTERMEDIATES = 4
"""Intermediate CA certificates allowed between a signer and its trust anchor."""
PATH_SEARCH_BUDGET = 64
"""Candidate issuers path building may try for one validation (a real path needs a few)."""


class Usage(Enum):
    """What the signer's certificate must be good for."""

    DOCUMENT_SIGNING = "document signing"
    TIME_STAMPING = "time stamping"


class PathCode(StrEnum):
    """Why a certificate path is not trusted."""

    NO_TRUST_ANCHOR = "NO_TRUST_ANCHOR"
    """No trust anchor was given."""
    NO_PATH = "NO_PATH"
    """No chain of carried certificates leads to a trust anchor."""
    EXPIRED = "CERTIFICATE_EXPIRED"
    """A certificate of the path (anchor included) had expired at the moment."""
    NOT_YET_VALID = "CERTIFICATE_NOT_YET_VALID"
    """A certificate of the path (anchor included) was not yet valid at the moment."""
    NOT_A_CA = "ISSUER_NOT_A_CA"
    """An intermediate certificate is not a CA certificate."""
    PATH_TOO_LONG = "PATH_TOO_LONG"
    """More intermediates than a pathLenConstraint or `MAX_INTERMEDIATES` allows."""
    PATH_SEARCH_LIMIT = "PATH_SEARCH_LIMIT"
    """Path building gave up after `PATH_SEARCH_BUDGET` candidate issuers."""
    WRONG_USAGE = "CERTIFICATE_USAGE"
    """The signer's certificate is not for this use (key usage, extended key usage)."""
    INVALID_PATH = "INVALID_PATH"
    """Any other RFC 5280 failure: a signature in the chain, name constraints, policies,
    an algorithm not allowed, a malformed certificate."""


@dataclass(frozen=True)
class PathVerdict:
    """The outcome of validating one signer's certificate path."""

    trusted: bool
    code: PathCode | None
    """None when trusted."""
    detail: str
    moment: datetime
    """The time at which the path was validated."""


SIGNER_KEY_USAGES = frozenset({"digital_signature", "non_repudiation"})
"""A document signer's certificate needs a keyUsage extension with one of these."""
TSA_KEY_PURPOSE = "time_stamping"
"""A time-stamping authority's certificate needs this extendedKeyUsage purpose."""


def _usage_problem(certificate: Any, usage: Usage) -> str | None:
    """Why `certificate` is not for `usage` (the rules pyHanko's KeyUsageConstraints
    apply to PDF signers: an absent extension grants nothing), or None."""
    if usage is Usage.DOCUMENT_SIGNING:
        extension = certificate.key_usage_value
        granted = set(extension.native) if extension is not None else set()
        if not granted & SIGNER_KEY_USAGES:
            return "its keyUsage has neither digitalSignature nor nonRepudiation"
        return None
    extension = certificate.extended_key_usage_value
    purposes = set(extension.native) if extension is not None else set()
    if TSA_KEY_PURPOSE not in purposes:
        return "its extendedKeyUsage lacks id-kp-timeStamping"
    return None


def asn1_certificate(certificate: x509.Certificate) -> Any:
    """The asn1crypto form pyHanko and certvalidator work with."""
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# --- the validation context ---------------------------------------------------------------


class _BoundedRegistry(CertificateRegistry):
    """The certificates a signature carries, handing out at most `budget` candidate
    issuers in total: certvalidator's depth-first path search has no bound of its own."""

    def __init__(self, budget: int) -> None:
        super().__init__(cert_fetcher=None)
        self.budget = budget
        self.exhausted = False

    def find_potential_issuers(
        self, cert: asn1_x509.Certificate, trust_manager: TrustManager
    ) -> Iterator[Any]:
        for issuer in super().find_potential_issuers(cert, trust_manager):
            if self.budget <= 0:
                self.exhausted = True
                return
            self.budget -= 1
            yield issuer


def _anchor(certificate: Any) -> CertTrustAnchor:
    """An anchor limited by its own certificate, and to `MAX_INTERMEDIATES` below it."""
    qualifiers = derive_quals_from_cert(certificate)
    own_limit = qualifiers.max_path_length
    limit = MAX_INTERMEDIATES if own_limit is None else min(own_limit, MAX_INTERMEDIATES)
    # certvalidator takes the AA path limit from the same qualifiers once a limit is set
    quals = dataclasses.replace(qualifiers, max_path_length=limit, max_aa_path_length=limit)
    return CertTrustAnchor(certificate, quals=quals)


def validation_context(
    trust: Sequence[x509.Certificate],
    *,
    moment: datetime | None,
    certificates: Sequence[x509.Certificate] = (),
) -> ValidationContext:
    """A certvalidator context under this module's rules, validating at `moment` (now
    when None). `certificates` are the untrusted ones a signature carries; pyHanko adds
    those itself."""
    registry = _BoundedRegistry(PATH_SEARCH_BUDGET)
    registry.register_multiple(asn1_certificate(c) for c in certificates)
    return ValidationContext(
        trust_roots=[_anchor(asn1_certificate(c)) for c in trust],
        allow_fetching=False,
        revocation_mode="soft-fail",  # with nothing fetched and no CRL given: not checked
        moment=moment,
        certificate_registry=registry,
    )


# --- validating one path --------------------------------------------------------------------


def validate_path(
    certificate: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    moment: datetime | None,
    usage: Usage,
) -> PathVerdict:
    """Validate `certificate`'s path to one of `trust` at `moment` (now when None; a
    naive moment is UTC), through `intermediates` (the certificates the signature
    carries). Never raises."""
    when = _utc(moment)
    if not trust:
        return PathVerdict(False, PathCode.NO_TRUST_ANCHOR, "no trust anchor given", when)
    key = _cache_key(certificate, intermediates, trust, usage)
    remembered = _TRUSTED_WINDOWS.get(key)
    if remembered is not None and remembered[0] <= when <= remembered[1]:
        return _trusted(certificate, remembered[2], when)
    context: ValidationContext | None = None
    try:
        context = validation_context(trust, moment=when, certificates=intermediates)
        end_entity = asn1_certificate(certificate)
        path = run_sync(
            CertificateValidator(end_entity, validation_context=context).async_validate_path()
        )
    except Exception as exc:  # noqa: BLE001 - certificates from the input fail in many ways
        return _untrusted(certificate, _search_failure(exc, context), _reason(exc), when)
    problem = signer_problem(path, end_entity)
    if problem is not None:
        return _untrusted(certificate, problem, "not the trust anchor's certificate", when)
    wrong_usage = _usage_problem(end_entity, usage)
    if wrong_usage is not None:
        return _untrusted(certificate, PathCode.WRONG_USAGE, wrong_usage, when)
    anchor = path.trust_anchor.authority.name.human_friendly
    _remember(key, path, anchor)
    return _trusted(certificate, anchor, when)


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _search_failure(exc: BaseException, context: ValidationContext | None) -> PathCode:
    registry = None if context is None else context.certificate_registry
    if isinstance(registry, _BoundedRegistry) and registry.exhausted:
        return PathCode.PATH_SEARCH_LIMIT
    return _code_for(exc)


def signer_problem(path: ValidationPath | None, signer: Any) -> PathCode | None:
    """What certvalidator accepts and these rules do not, on a validated `path`: a
    signer with the name and key of an anchor that is not the anchor certificate."""
    if path is None:
        return PathCode.NO_PATH
    if path.pkix_len > 0:
        return None
    authority = path.trust_anchor.authority
    if isinstance(authority, AuthorityWithCert) and authority.certificate.dump() == signer.dump():
        return None
    return PathCode.NO_PATH


# Path validation costs about a millisecond and a receipt store may carry a time-stamp
# on every receipt, nearly all from one TSA. Nothing but the validity periods makes a
# validated path depend on the moment (revocation is not checked), so a trusted path is
# remembered with the period all its certificates share and reused inside it.
_TRUSTED_WINDOWS: dict[tuple[Any, ...], tuple[datetime, datetime, str]] = {}
_MAX_REMEMBERED = 256


def _cache_key(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust: Sequence[x509.Certificate],
    usage: Usage,
) -> tuple[Any, ...]:
    def der(c: x509.Certificate) -> bytes:
        return c.public_bytes(serialization.Encoding.DER)

    return (usage, der(certificate), tuple(map(der, intermediates)), tuple(map(der, trust)))


def _remember(key: tuple[Any, ...], path: ValidationPath, anchor: str) -> None:
    certificates = list(path.iter_certs(include_root=True))
    validity = [c["tbs_certificate"]["validity"] for c in certificates]
    start = max(v["not_before"].native for v in validity)
    end = min(v["not_after"].native for v in validity)
    if len(_TRUSTED_WINDOWS) >= _MAX_REMEMBERED:
        _TRUSTED_WINDOWS.clear()
    _TRUSTED_WINDOWS[key] = (start, end, anchor)


def _subject(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"


def _trusted(certificate: x509.Certificate, anchor: str, when: datetime) -> PathVerdict:
    return PathVerdict(
        True,
        None,
        f"{_subject(certificate)} chains to the trust anchor {anchor}, valid at {when.isoformat()}",
        when,
    )


def _untrusted(
    certificate: x509.Certificate, code: PathCode, reason: str, when: datetime
) -> PathVerdict:
    return PathVerdict(
        False, code, f"{_subject(certificate)} at {when.isoformat()}: {reason}", when
    )


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "failure_msg", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


# certvalidator says why a path failed in its message only; anything not recognised
# here is still untrusted, as INVALID_PATH.
_MESSAGE_CODES = (
    ("is not a CA", PathCode.NOT_A_CA),
    ("exceeds the maximum path length", PathCode.PATH_TOO_LONG),
)


def _code_for(exc: BaseException) -> PathCode:
    if isinstance(exc, ExpiredError):
        return PathCode.EXPIRED
    if isinstance(exc, NotYetValidError):
        return PathCode.NOT_YET_VALID
    if isinstance(exc, PathBuildingError | InvalidCertificateError):
        # InvalidCertificateError here: a self-signed certificate that is no anchor
        return PathCode.NO_PATH
    if isinstance(exc, PathValidationError):
        message = str(exc)
        for fragment, code in _MESSAGE_CODES:
            if fragment in message:
                return code
    return PathCode.INVALID_PATH
