"""Verify the RFC 3161 trusted timestamp carried by an Agent Receipt (§7.7).

A receipt may carry ``credentialSubject.action.trusted_timestamp``: a base64
(standard alphabet) DER-encoded RFC 3161 TimeStampToken, i.e. a CMS
``ContentInfo`` wrapping ``SignedData`` whose encapsulated content is a
``TSTInfo`` (RFC 3161 §2.4.2).

Imprint rule
------------
The token sits inside the signed receipt, so its message imprint cannot cover
itself.  Our rule: the message imprint is the SHA-256 (SHA-384 and SHA-512 are
accepted too) of the receipt's canonical bytes computed with ``proof`` removed
AND ``credentialSubject.action.trusted_timestamp`` removed.  The caller
computes those bytes and passes them in as ``imprint_input``; this module never
canonicalises.

Checks, in order (the first failure wins, code ``INVALID_TRUSTED_TIMESTAMP``):

1. the token is strict base64;
2. the DER is a ``ContentInfo``/``SignedData`` with eContentType id-ct-TSTInfo
   and a parsable ``TSTInfo``;
3. ``TSTInfo.messageImprint`` uses SHA-256/384/512 and equals the hash of
   ``imprint_input``;
4. exactly one ``SignerInfo``; its certificate is embedded in the token and
   matched by ``sid``; signed attributes are present with content-type
   id-ct-TSTInfo and a message-digest equal to the digest of the eContent
   octets; the signature over the DER ``SET OF`` encoding of the signed
   attributes verifies (RFC 5652 §5.4) with RSA PKCS#1 v1.5, RSA-PSS, ECDSA,
   Ed25519 or Ed448;
5. the signer certificate has a critical extendedKeyUsage containing
   id-kp-timeStamping (RFC 3161 §2.3);
6. when ``action_time`` is given, ``|genTime - action_time| <= tolerance``
   (a naive ``action_time`` is taken to be UTC);
7. when ``tsa_roots`` is non-empty, the signer's certificate path leads to one of
   them, every certificate of it valid at genTime (`reporting.certificates`, the
   path validation every signature of the tool shares: RFC 5280 through
   intermediates embedded in the token, each a CA, at most a few levels; revocation
   is not checked).

With no ``tsa_roots`` the verdict is ``anchored=False`` without failing; the caller
decides whether to warn.

The ESS signing-certificate attributes (RFC 3161 §2.4.1) are not checked.

``verify_trusted_timestamp`` never raises on malformed token input: every
problem is reported as a :class:`TimestampVerdict`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from reporting.certificates import PathCode, Usage, validate_path

__all__ = ["TimestampVerdict", "verify_trusted_timestamp"]

_FAILURE_CODE = "INVALID_TRUSTED_TIMESTAMP"

_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
_OID_CONTENT_TYPE_ATTR = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST_ATTR = "1.2.840.113549.1.9.4"

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}

# asn1crypto parses lazily and reports malformed input with a variety of built-in exceptions.
_ASN1_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    UnicodeError,
    RecursionError,
)
# cryptography signals malformed certificates with ValueError and a few bespoke exceptions.
_CRYPTO_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
_DECODE_ERRORS: tuple[type[Exception], ...] = _ASN1_ERRORS + _CRYPTO_ERRORS
_MISSING_EXTENSION_ERRORS: tuple[type[Exception], ...] = (x509.ExtensionNotFound, *_CRYPTO_ERRORS)
_BAD_SIGNATURE_PARAMS: tuple[type[Exception], ...] = (*_ASN1_ERRORS, UnsupportedAlgorithm)

_PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)


@dataclass(frozen=True)
class TimestampVerdict:
    """Outcome of verifying one RFC 3161 trusted timestamp.

    ``gen_time`` and ``tsa_subject`` are filled in as soon as they are known, so a
    failed verdict may still carry them.  ``anchored`` is only established once the
    token signature has verified; it stays False when an earlier check fails.
    """

    valid: bool  # True only when every check passed
    code: str | None  # None when valid; "INVALID_TRUSTED_TIMESTAMP" on any failure
    detail: str  # one sentence: what was expected and what was found
    gen_time: datetime | None  # TSTInfo genTime (tz-aware UTC) when it could be parsed
    tsa_subject: str | None  # signer certificate subject (RFC 4514) when known
    anchored: bool  # True when the TSA signer chains to one of tsa_roots
    trust_code: PathCode | None = None  # why the TSA's path is not trusted, when checked


def verify_trusted_timestamp(
    token_b64: str,
    imprint_input: bytes,
    *,
    action_time: datetime | None,
    tolerance: timedelta = timedelta(minutes=5),
    tsa_roots: Sequence[x509.Certificate] = (),
) -> TimestampVerdict:
    """Verify a base64 RFC 3161 TimeStampToken against ``imprint_input``.

    ``imprint_input`` is the receipt's canonical bytes without ``proof`` and without
    ``credentialSubject.action.trusted_timestamp`` (see the module docstring).
    """
    progress = _Progress()
    try:
        detail = _run_checks(
            token_b64,
            imprint_input,
            action_time=action_time,
            tolerance=tolerance,
            tsa_roots=tsa_roots,
            progress=progress,
        )
    except _CheckFailedError as rejection:
        return progress.verdict(valid=False, detail=rejection.detail)
    return progress.verdict(valid=True, detail=detail)


class _CheckFailedError(Exception):
    """Internal signal: a check failed; ``detail`` says what was expected and found."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Progress:
    """Facts learned so far, reported even when a later check fails."""

    gen_time: datetime | None = None
    tsa_subject: str | None = None
    anchored: bool = False
    trust_code: PathCode | None = None

    def verdict(self, *, valid: bool, detail: str) -> TimestampVerdict:
        return TimestampVerdict(
            valid=valid,
            code=None if valid else _FAILURE_CODE,
            detail=detail,
            gen_time=self.gen_time,
            tsa_subject=self.tsa_subject,
            anchored=self.anchored,
            trust_code=self.trust_code,
        )


@dataclass(frozen=True)
class _ParsedToken:
    signed_data: Any  # asn1crypto cms.SignedData
    tst_info: Any  # asn1crypto tsp.TSTInfo
    econtent: bytes  # the eContent octets (the DER of TSTInfo) covered by message-digest


def _run_checks(
    token_b64: str,
    imprint_input: bytes,
    *,
    action_time: datetime | None,
    tolerance: timedelta,
    tsa_roots: Sequence[x509.Certificate],
    progress: _Progress,
) -> str:
    der = _decode_base64(token_b64)
    token = _parse_token(der)
    gen_time = progress.gen_time = _read_gen_time(token.tst_info)
    _check_message_imprint(token.tst_info, imprint_input)
    signer_info = _single_signer_info(token.signed_data)
    embedded = _embedded_certificates(token.signed_data)
    signer_cert = _find_signer_certificate(signer_info, embedded)
    progress.tsa_subject = _subject_string(signer_cert)
    digest_name = _signer_digest_name(signer_info)
    _check_signed_attributes(signer_info, token.econtent, digest_name)
    _check_signature(signer_info, signer_cert, digest_name)
    _check_time_stamping_eku(signer_cert)
    if action_time is not None:
        _check_time_tolerance(gen_time, action_time, tolerance)
    if tsa_roots:
        _check_trust_path(
            signer_cert, [cert for _, cert in embedded], tsa_roots, gen_time, progress
        )
    checked = "imprint, signature, timeStamping EKU" + (", time" if action_time else "")
    anchoring = "anchored to a trusted root" if progress.anchored else "not anchored"
    return (
        f"Timestamp token by {progress.tsa_subject!r} at {gen_time.isoformat()} "
        f"verified ({checked}), {anchoring}."
    )


# --- (1) base64 -------------------------------------------------------------------------------


def _decode_base64(token_b64: object) -> bytes:
    if not isinstance(token_b64, str):
        raise _CheckFailedError(
            "Expected the trusted timestamp to be a base64 string, "
            f"found {type(token_b64).__name__}."
        )
    if not token_b64:
        raise _CheckFailedError("Expected a base64 RFC 3161 token, found an empty string.")
    try:
        der = base64.b64decode(token_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _CheckFailedError(
            f"Expected strict standard-alphabet base64, found undecodable text ({exc})."
        ) from exc
    if not der:
        raise _CheckFailedError("Expected a DER RFC 3161 token, found base64 of zero bytes.")
    return der


# --- (2) ASN.1 structure ----------------------------------------------------------------------


@contextmanager
def _malformed_as(what: str) -> Iterator[None]:
    """Turn asn1crypto's parse errors inside the block into a rejection about ``what``."""
    try:
        yield
    except _ASN1_ERRORS as exc:
        raise _CheckFailedError(
            f"Expected a well-formed {what}, found malformed ASN.1 ({exc})."
        ) from exc


def _parse_token(der: bytes) -> _ParsedToken:
    with _malformed_as("DER CMS ContentInfo"):
        content_info = cms.ContentInfo.load(der, strict=True)
        outer_type = _dotted(content_info["content_type"])
    if outer_type != _OID_SIGNED_DATA:
        raise _CheckFailedError(
            f"Expected a ContentInfo of type signedData ({_OID_SIGNED_DATA}), found {outer_type}."
        )
    with _malformed_as("CMS SignedData"):
        signed_data = content_info["content"]
        encap = signed_data["encap_content_info"]
        econtent_type = _dotted(encap["content_type"])
        signed_data["signer_infos"].native  # noqa: B018 - force asn1crypto's lazy parser
    if econtent_type != _OID_TST_INFO:
        raise _CheckFailedError(
            f"Expected eContentType id-ct-TSTInfo ({_OID_TST_INFO}), found {econtent_type}."
        )
    with _malformed_as("TSTInfo"):
        econtent_value = encap["content"]
        if econtent_value.native is None:
            raise _CheckFailedError(
                "Expected an encapsulated TSTInfo, found detached (absent) eContent."
            )
        econtent = bytes(econtent_value)
        tst_info = tsp.TSTInfo.load(econtent, strict=True)
        tst_info.native  # noqa: B018 - force asn1crypto's lazy parser
    return _ParsedToken(signed_data=signed_data, tst_info=tst_info, econtent=econtent)


def _dotted(oid: Any) -> str:
    dotted = oid.dotted
    if not isinstance(dotted, str):
        raise TypeError(f"object identifier expected, found {type(dotted).__name__}")
    return dotted


def _native_bytes(value: Any) -> bytes:
    native = value.native
    if not isinstance(native, bytes):
        raise TypeError(f"octet string expected, found {type(native).__name__}")
    return native


def _native_str(value: Any) -> str:
    native = value.native
    if not isinstance(native, str):
        raise TypeError(f"name expected, found {type(native).__name__}")
    return native


def _read_gen_time(tst_info: Any) -> datetime:
    with _malformed_as("TSTInfo genTime"):
        gen_time = tst_info["gen_time"].native
    # asn1crypto yields its own extended_datetime (not a datetime) for year 0.
    if not isinstance(gen_time, datetime):
        raise _CheckFailedError(f"Expected genTime to be a date-time, found {gen_time!r}.")
    if gen_time.tzinfo is None:
        raise _CheckFailedError("Expected genTime in UTC (RFC 3161 §2.4.2), found a local time.")
    return gen_time.astimezone(UTC)


# --- (3) message imprint ----------------------------------------------------------------------


def _digest(algorithm_name: str, data: bytes) -> bytes:
    hasher = hashes.Hash(_HASHES[algorithm_name])
    hasher.update(data)
    return hasher.finalize()


def _check_message_imprint(tst_info: Any, imprint_input: bytes) -> None:
    with _malformed_as("TSTInfo messageImprint"):
        imprint = tst_info["message_imprint"]
        algorithm = _native_str(imprint["hash_algorithm"]["algorithm"])
        hashed_message = _native_bytes(imprint["hashed_message"])
    if algorithm not in _HASHES:
        raise _CheckFailedError(
            f"Expected a messageImprint hash of sha256, sha384 or sha512, found {algorithm}."
        )
    expected = _digest(algorithm, imprint_input)
    if not hmac.compare_digest(expected, hashed_message):
        raise _CheckFailedError(
            f"Expected the messageImprint to be {algorithm} {expected.hex()} of the receipt "
            f"without proof and trusted_timestamp, found {hashed_message.hex()}."
        )


# --- (4) signer, signed attributes, signature -------------------------------------------------


def _single_signer_info(signed_data: Any) -> Any:
    with _malformed_as("SignedData signerInfos"):
        signer_infos = signed_data["signer_infos"]
        count = len(signer_infos)
        if count == 1:
            return signer_infos[0]
    raise _CheckFailedError(f"Expected exactly one SignerInfo, found {count}.")


def _embedded_certificates(signed_data: Any) -> list[tuple[Any, x509.Certificate]]:
    """The token's X.509 certificates as (asn1crypto, cryptography) pairs; others skipped."""
    with _malformed_as("SignedData certificates"):
        choices = signed_data["certificates"]
        if choices.native is None:
            return []
        asn1_certs = [choice.chosen for choice in choices if choice.name == "certificate"]
    pairs: list[tuple[Any, x509.Certificate]] = []
    for asn1_cert in asn1_certs:
        try:
            pairs.append((asn1_cert, x509.load_der_x509_certificate(asn1_cert.dump())))
        except _DECODE_ERRORS:
            continue
    return pairs


def _find_signer_certificate(
    signer_info: Any, embedded: list[tuple[Any, x509.Certificate]]
) -> x509.Certificate:
    with _malformed_as("SignerInfo sid"):
        sid = signer_info["sid"]
        for asn1_cert, cert in embedded:
            if _sid_matches(sid, asn1_cert, cert):
                return cert
        kind = sid.name
    raise _CheckFailedError(
        f"Expected the signer certificate (by {kind}) among the token's "
        f"{len(embedded)} certificate(s), found none matching."
    )


def _sid_matches(sid: Any, asn1_cert: Any, cert: x509.Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        wanted = sid.chosen
        return bool(
            wanted["serial_number"].native == cert.serial_number
            and wanted["issuer"] == asn1_cert.issuer
        )
    if sid.name == "subject_key_identifier":
        return _native_bytes(sid.chosen) == _subject_key_identifier(cert)
    return False


def _subject_string(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except _CRYPTO_ERRORS as exc:
        raise _CheckFailedError(
            f"Expected a parsable TSA certificate subject, found a malformed one ({exc})."
        ) from exc


def _subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except _MISSING_EXTENSION_ERRORS:
        return None
    return ski.value.digest


def _signer_digest_name(signer_info: Any) -> str:
    with _malformed_as("SignerInfo digestAlgorithm"):
        name = _native_str(signer_info["digest_algorithm"]["algorithm"])
    if name not in _HASHES:
        raise _CheckFailedError(
            f"Expected a SignerInfo digestAlgorithm of sha256, sha384 or sha512, found {name}."
        )
    return name


def _single_attribute_value(signed_attrs: Any, oid: str, label: str) -> Any:
    matches = [attr for attr in signed_attrs if _dotted(attr["type"]) == oid]
    if len(matches) != 1 or len(matches[0]["values"]) != 1:
        values = sum(len(attr["values"]) for attr in matches)
        raise _CheckFailedError(
            f"Expected exactly one {label} signed attribute with one value, "
            f"found {len(matches)} attribute(s) with {values} value(s)."
        )
    return matches[0]["values"][0]


def _check_signed_attributes(signer_info: Any, econtent: bytes, digest_name: str) -> None:
    with _malformed_as("SignerInfo signedAttrs"):
        signed_attrs = signer_info["signed_attrs"]
        if signed_attrs.native is None or len(signed_attrs) == 0:
            raise _CheckFailedError("Expected signed attributes in the SignerInfo, found none.")
        content_type = _dotted(
            _single_attribute_value(signed_attrs, _OID_CONTENT_TYPE_ATTR, "content-type")
        )
        message_digest = _native_bytes(
            _single_attribute_value(signed_attrs, _OID_MESSAGE_DIGEST_ATTR, "message-digest")
        )
    if content_type != _OID_TST_INFO:
        raise _CheckFailedError(
            f"Expected the content-type attribute to be id-ct-TSTInfo, found {content_type}."
        )
    expected = _digest(digest_name, econtent)
    if not hmac.compare_digest(expected, message_digest):
        raise _CheckFailedError(
            f"Expected the message-digest attribute to be {digest_name} {expected.hex()} of the "
            f"TSTInfo, found {message_digest.hex()} (TSTInfo altered after signing)."
        )


def _check_signature(signer_info: Any, cert: x509.Certificate, digest_name: str) -> None:
    with _malformed_as("SignerInfo signature fields"):
        # RFC 5652 §5.4: the signature covers the DER of the attributes tagged as SET OF.
        signed_bytes = signer_info["signed_attrs"].untag().dump()
        signature = _native_bytes(signer_info["signature"])
        algorithm = signer_info["signature_algorithm"]
        scheme = _native_str(algorithm["algorithm"])
    family = _signature_family(algorithm, scheme)
    try:
        public_key = cert.public_key()
    except _CRYPTO_ERRORS as exc:
        raise _CheckFailedError(
            f"Expected a usable TSA public key, found an unloadable one ({exc})."
        ) from exc
    if not isinstance(public_key, _PublicKey):
        raise _CheckFailedError(
            f"Expected an RSA, EC, Ed25519 or Ed448 TSA key, found {type(public_key).__name__}."
        )
    _check_combined_hash(algorithm, scheme, digest_name)
    try:
        _verify_with_key(
            public_key,
            family=family,
            algorithm=algorithm,
            signature=signature,
            signed_bytes=signed_bytes,
            digest_name=digest_name,
        )
    except InvalidSignature as exc:
        raise _CheckFailedError(
            f"Expected a valid {scheme} signature by the TSA certificate over the signed "
            "attributes, found a signature that does not verify."
        ) from exc
    except _BAD_SIGNATURE_PARAMS as exc:
        raise _CheckFailedError(
            f"Expected verifiable {scheme} signature parameters, found unusable ones ({exc})."
        ) from exc


def _signature_family(algorithm: Any, scheme: str) -> str:
    """Map a signatureAlgorithm (e.g. sha256_rsa) to its family (e.g. rsassa_pkcs1v15)."""
    try:
        family = algorithm.signature_algo
    except _ASN1_ERRORS as exc:
        raise _CheckFailedError(
            f"Expected an RSA, RSA-PSS, ECDSA or EdDSA signatureAlgorithm, found {scheme}."
        ) from exc
    if not isinstance(family, str):
        raise _CheckFailedError(f"Expected a known signatureAlgorithm, found {scheme}.")
    return family


def _check_combined_hash(algorithm: Any, scheme: str, digest_name: str) -> None:
    """A signatureAlgorithm like sha384_rsa must agree with the SignerInfo digestAlgorithm."""
    if scheme in {"rsassa_pkcs1v15", "rsassa_pss", "ecdsa", "ed25519", "ed448"}:
        return
    with _malformed_as("SignerInfo signatureAlgorithm"):
        implied = algorithm.hash_algo
    if implied != digest_name:
        raise _CheckFailedError(
            f"Expected signatureAlgorithm {scheme} to use digestAlgorithm {digest_name}, "
            f"found it implies {implied}."
        )


def _verify_with_key(
    public_key: _PublicKey,
    *,
    family: str,
    algorithm: Any,
    signature: bytes,
    signed_bytes: bytes,
    digest_name: str,
) -> None:
    """Raise InvalidSignature (or a parse error) unless the signature verifies."""
    hash_algorithm = _HASHES[digest_name]
    if family == "rsassa_pkcs1v15" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, signed_bytes, padding.PKCS1v15(), hash_algorithm)
    elif family == "rsassa_pss" and isinstance(public_key, rsa.RSAPublicKey):
        pss, pss_hash = _pss_padding(algorithm["parameters"])
        public_key.verify(signature, signed_bytes, pss, pss_hash)
    elif family == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, signed_bytes, ec.ECDSA(hash_algorithm))
    elif family in {"ed25519", "ed448"} and isinstance(
        public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
    ):
        public_key.verify(signature, signed_bytes)
    else:
        raise _CheckFailedError(
            f"Expected a signature algorithm matching the TSA's {type(public_key).__name__}, "
            f"found {family}."
        )


def _pss_padding(params: Any) -> tuple[padding.PSS, hashes.HashAlgorithm]:
    hash_name = _native_str(params["hash_algorithm"]["algorithm"])
    mgf = params["mask_gen_algorithm"]
    mgf_name = _native_str(mgf["algorithm"])
    mgf_hash_name = _native_str(mgf["parameters"]["algorithm"])
    salt_length = params["salt_length"].native
    if hash_name not in _HASHES or mgf_name != "mgf1" or mgf_hash_name not in _HASHES:
        raise _CheckFailedError(
            "Expected RSA-PSS with MGF1 and sha256/384/512, "
            f"found hash {hash_name}, {mgf_name} with {mgf_hash_name}."
        )
    if not isinstance(salt_length, int):
        raise TypeError("RSA-PSS salt length must be an integer")
    mgf1 = padding.MGF1(_HASHES[mgf_hash_name])
    return padding.PSS(mgf=mgf1, salt_length=salt_length), _HASHES[hash_name]


# --- (5) extended key usage -------------------------------------------------------------------


def _check_time_stamping_eku(cert: x509.Certificate) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise _CheckFailedError(
            "Expected the TSA certificate to carry extendedKeyUsage id-kp-timeStamping, "
            "found no extendedKeyUsage extension."
        ) from exc
    except _CRYPTO_ERRORS as exc:
        raise _CheckFailedError(
            f"Expected parsable TSA certificate extensions, found malformed ones ({exc})."
        ) from exc
    if ExtendedKeyUsageOID.TIME_STAMPING not in eku.value:
        purposes = ", ".join(oid.dotted_string for oid in eku.value)
        raise _CheckFailedError(
            f"Expected extendedKeyUsage to include id-kp-timeStamping, found [{purposes}]."
        )
    if not eku.critical:
        raise _CheckFailedError(
            "Expected the timeStamping extendedKeyUsage to be critical (RFC 3161 §2.3), "
            "found it non-critical."
        )


# --- (6) time ---------------------------------------------------------------------------------


def _check_time_tolerance(gen_time: datetime, action_time: datetime, tolerance: timedelta) -> None:
    if action_time.tzinfo is None:
        action_time = action_time.replace(tzinfo=UTC)
    drift = abs(gen_time - action_time)
    if drift > tolerance:
        raise _CheckFailedError(
            f"Expected genTime within {tolerance} of the action time {action_time.isoformat()}, "
            f"found {gen_time.isoformat()} ({drift} apart)."
        )


# --- (7) trust anchoring ----------------------------------------------------------------------


def _check_trust_path(
    signer_cert: x509.Certificate,
    embedded: Sequence[x509.Certificate],
    tsa_roots: Sequence[x509.Certificate],
    gen_time: datetime,
    progress: _Progress,
) -> None:
    """The TSA's certificate path leads to one of ``tsa_roots``, valid at genTime."""
    path = validate_path(
        signer_cert,
        intermediates=embedded,
        trust=tsa_roots,
        moment=gen_time,
        usage=Usage.TIME_STAMPING,
    )
    progress.anchored = path.trusted
    progress.trust_code = path.code
    if not path.trusted:
        raise _CheckFailedError(
            f"Expected the TSA certificate to chain to one of {len(tsa_roots)} trusted TSA "
            f"root(s) at genTime, but it does not ({path.code}: {path.detail}): "
            "the TSA is not trusted."
        )
