"""Detached CMS (PKCS#7) signatures over the manifest: ``manifest.json.p7s``.

Built with asn1crypto rather than cryptography's ``PKCS7SignatureBuilder``: the builder
always stamps the current wall-clock time as signing-time (no way to pass ours, so the
output could not be reproduced) and refuses Ed25519. The structure is what
``openssl cms -sign -binary -outform DER`` produces: SignedData v1, detached content of
type id-data, signer and chain certificates embedded, one SignerInfo identified by
issuer and serial number, signed attributes content-type, signing-time and
message-digest (DER SET OF, sorted), signature over the DER of those attributes.

* ECDSA: SHA-256, ecdsa-with-SHA256 (randomised, so not byte-for-byte reproducible).
* RSA: SHA-256, rsaEncryption (PKCS#1 v1.5), deterministic.
* Ed25519: SHA-512 message digest, as RFC 8419 section 3.1 requires when signed
  attributes are present; PureEdDSA over the attributes; deterministic.

`verify_detached` never raises on bad input; it also accepts RSASSA-PSS and signatures
without signed attributes (``openssl cms -sign -noattr``), which other tools produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from reporting.certificates import PathCode, Usage, validate_path
from reporting.errors import Diagnostic, DiagnosticCode, KeyStoreError, UsageError
from reporting.signing.keys import SigningIdentity

__all__ = ["CmsVerdict", "sign_detached", "verify_detached"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# SignerInfo.signatureAlgorithm (asn1crypto names) -> (scheme, hash named by the OID).
_SIGNATURE_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "rsassa_pkcs1v15": ("rsa", None),
    "sha256_rsa": ("rsa", "sha256"),
    "sha384_rsa": ("rsa", "sha384"),
    "sha512_rsa": ("rsa", "sha512"),
    "rsassa_pss": ("pss", None),
    "ecdsa": ("ecdsa", None),
    "1.2.840.10045.2.1": ("ecdsa", None),  # id-ecPublicKey, used by some producers
    "sha256_ecdsa": ("ecdsa", "sha256"),
    "sha384_ecdsa": ("ecdsa", "sha384"),
    "sha512_ecdsa": ("ecdsa", "sha512"),
    "ed25519": ("ed25519", None),
}
# Errors asn1crypto and cryptography raise on malformed input.
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    AttributeError,
    UnsupportedAlgorithm,
)


@dataclass(frozen=True)
class CmsVerdict:
    """What `verify_detached` found.

    ``valid``: the signature over the data verifies with the embedded signer certificate.
    ``trusted``: valid, and the signer's certificate path leads to one of the trust
    anchors through the embedded certificates, every certificate of it valid at the
    signing time (`reporting.certificates`); ``trust_code`` says why not.
    ``signer`` and ``signing_time`` are set only when ``valid``; ``detail`` explains.
    """

    valid: bool
    trusted: bool
    signer: str | None
    signing_time: datetime | None
    detail: str
    certificate_sha256: str | None = None  # of the signer certificate's DER, when valid
    trust_code: PathCode | None = None


# --- signing --------------------------------------------------------------------------


def _spki(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _cms_time(moment: datetime) -> cms.Time:
    # RFC 5652 section 11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    if 1950 <= moment.year <= 2049:
        return cms.Time({"utc_time": moment})
    return cms.Time({"generalized_time": moment})


def sign_detached(data: bytes, identity: SigningIdentity, *, signing_time: datetime) -> bytes:
    """A DER ContentInfo(SignedData) signing ``data`` detached, at ``signing_time``."""
    if signing_time.tzinfo is None or signing_time.utcoffset() is None:
        raise UsageError(
            Diagnostic(DiagnosticCode.NAIVE_DATETIME, "signing_time must carry a time zone")
        )
    when = signing_time.astimezone(UTC).replace(microsecond=0)
    key = identity.private_key
    if _spki(key.public_key()) != _spki(identity.certificate.public_key()):
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.KEY_CERTIFICATE_MISMATCH,
                f"the signing key does not belong to the signing certificate ({identity.subject})",
            )
        )

    digest_name = "sha512" if isinstance(key, ed25519.Ed25519PrivateKey) else "sha256"
    digest = hashes.Hash(_HASHES[digest_name]())
    digest.update(data)
    attributes = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [_cms_time(when)]}),
            cms.CMSAttribute({"type": "message_digest", "values": [digest.finalize()]}),
        ]
    )
    to_sign = attributes.dump()  # universal SET OF tag, sorted: what RFC 5652 5.4 signs

    signature_algorithm: algos.SignedDigestAlgorithm
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        signature_algorithm = algos.SignedDigestAlgorithm(
            {"algorithm": "rsassa_pkcs1v15", "parameters": core.Null()}
        )
    else:
        signature = key.sign(to_sign)
        signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": "ed25519"})

    signer_cert = asn1_x509.Certificate.load(
        identity.certificate.public_bytes(serialization.Encoding.DER)
    )
    chain = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in identity.chain
    ]
    digest_algorithm = algos.DigestAlgorithm({"algorithm": digest_name})
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {
                            "issuer": signer_cert.issuer,
                            "serial_number": signer_cert.serial_number,
                        }
                    )
                }
            ),
            "digest_algorithm": digest_algorithm,
            "signed_attrs": attributes,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [digest_algorithm],
            "encap_content_info": {"content_type": "data"},
            "certificates": [signer_cert, *chain],
            "signer_infos": [signer_info],
        }
    )
    content_info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return bytes(content_info.dump())


# --- verifying ------------------------------------------------------------------------


class _InvalidError(Exception):
    """Internal: the signature is not valid, for the reason given."""


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _embedded_certificates(signed_data: cms.SignedData) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    certificates = signed_data["certificates"]
    if certificates.native is None:
        return found
    for choice in certificates:
        if choice.name != "certificate":
            continue  # attribute certificates and other formats are not signers
        try:
            found.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        except ValueError:
            continue
    return found


def _find_signer(signer_info: cms.SignerInfo, certs: list[x509.Certificate]) -> x509.Certificate:
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        wanted_issuer = sid.chosen["issuer"]
        wanted_serial = sid.chosen["serial_number"].native
        for cert in certs:
            parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
            if cert.serial_number == wanted_serial and parsed.issuer == wanted_issuer:
                return cert
        raise _InvalidError(
            "the signer certificate (issuer "
            f"{wanted_issuer.human_friendly}, serial {wanted_serial}) is not embedded"
        )
    wanted_ski = sid.chosen.native
    for cert in certs:
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            continue
        if ski.digest == wanted_ski:
            return cert
    raise _InvalidError(
        f"the signer certificate (subject key identifier {bytes(wanted_ski).hex()}) is not embedded"
    )


def _single_value(attributes: cms.CMSAttributes, name: str) -> Any:
    values = [a["values"] for a in attributes if a["type"].native == name]
    if not values:
        return None
    if len(values) != 1 or len(values[0]) != 1:
        raise _InvalidError(f"signed attribute {name} must occur once with one value")
    return values[0][0]


def _pss_padding(parameters: Any) -> tuple[padding.PSS, str]:
    hash_name = parameters["hash_algorithm"]["algorithm"].native
    mgf = parameters["mask_gen_algorithm"]
    if mgf["algorithm"].native != "mgf1":
        raise _InvalidError("RSASSA-PSS with a mask generation function other than MGF1")
    mgf_hash = mgf["parameters"]["algorithm"].native
    if hash_name not in _HASHES or mgf_hash not in _HASHES:
        raise _InvalidError(f"RSASSA-PSS with unsupported hash {hash_name}/{mgf_hash}")
    salt = int(parameters["salt_length"].native)
    return padding.PSS(mgf=padding.MGF1(_HASHES[mgf_hash]()), salt_length=salt), hash_name


def _check_signature(
    public_key: Any, signer_info: cms.SignerInfo, signed_bytes: bytes, digest_name: str
) -> None:
    algorithm = signer_info["signature_algorithm"]
    name = algorithm["algorithm"].native
    if name not in _SIGNATURE_ALGORITHMS:
        raise _InvalidError(f"unsupported signature algorithm {name}")
    scheme, hash_name = _SIGNATURE_ALGORITHMS[name]
    hash_name = hash_name or digest_name
    signature = bytes(signer_info["signature"].native)
    try:
        if scheme == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, signed_bytes, ec.ECDSA(_HASHES[hash_name]()))
        elif scheme == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, signed_bytes, padding.PKCS1v15(), _HASHES[hash_name]())
        elif scheme == "pss" and isinstance(public_key, rsa.RSAPublicKey):
            pss, pss_hash = _pss_padding(algorithm["parameters"])
            public_key.verify(signature, signed_bytes, pss, _HASHES[pss_hash]())
        elif scheme == "ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, signed_bytes)
        else:
            raise _InvalidError(
                f"signature algorithm {name} does not fit the signer's "
                f"{type(public_key).__name__.removeprefix('_')} key"
            )
    except InvalidSignature as exc:
        raise _InvalidError(
            "the signature does not verify with the signer certificate's key"
        ) from exc


def _verify_signer_info(
    data: bytes, signed_data: cms.SignedData, certs: list[x509.Certificate]
) -> tuple[x509.Certificate, datetime | None]:
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise _InvalidError(f"expected exactly one signer, found {len(signer_infos)}")
    signer_info = signer_infos[0]
    expected_version = "v1" if signer_info["sid"].name == "issuer_and_serial_number" else "v3"
    if signer_info["version"].native != expected_version:
        raise _InvalidError(f"SignerInfo version must be {expected_version} for its signer id")
    signer = _find_signer(signer_info, certs)
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise _InvalidError(f"unsupported digest algorithm {digest_name}")
    listed = [a["algorithm"].native for a in signed_data["digest_algorithms"]]
    if digest_name not in listed:
        raise _InvalidError(
            f"the signer's digest algorithm {digest_name} is not listed in SignedData"
        )
    hasher = hashes.Hash(_HASHES[digest_name]())
    hasher.update(data)
    data_digest = hasher.finalize()
    content_type = signed_data["encap_content_info"]["content_type"].native

    attributes = signer_info["signed_attrs"]
    signing_time: datetime | None = None
    if attributes.native is None:
        if content_type != "data":
            raise _InvalidError("content type is not id-data and there are no signed attributes")
        signed_bytes = data
    else:
        attr_type = _single_value(attributes, "content_type")
        if attr_type is None or attr_type.native != content_type:
            raise _InvalidError("the content-type signed attribute is missing or wrong")
        message_digest = _single_value(attributes, "message_digest")
        if message_digest is None:
            raise _InvalidError("the message-digest signed attribute is missing")
        if bytes(message_digest.native) != data_digest:
            raise _InvalidError(
                f"the data does not match the signed message digest ({digest_name}): "
                "the file was changed after signing, or is not the signed file"
            )
        time_value = _single_value(attributes, "signing_time")
        if time_value is not None:
            moment = time_value.native
            if not isinstance(moment, datetime):
                raise _InvalidError("the signing-time signed attribute is malformed")
            signing_time = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        # RFC 5652 5.4: the signature covers the attributes' DER with a SET OF tag.
        signed_bytes = b"\x31" + attributes.dump()[1:]
    if content_type != "data":
        raise _InvalidError(f"signed content type is {content_type}, expected id-data")
    _check_signature(signer.public_key(), signer_info, signed_bytes, digest_name)
    return signer, signing_time


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def verify_detached(
    data: bytes, signature: bytes, *, trust: Sequence[x509.Certificate]
) -> CmsVerdict:
    """Check a detached CMS signature over ``data``; never raises on bad input."""
    try:
        content_info = cms.ContentInfo.load(bytes(signature), strict=True)
        if content_info["content_type"].native != "signed_data":
            return CmsVerdict(
                False, False, None, None, "not a CMS SignedData structure (wrong content type)"
            )
        signed_data = content_info["content"]
        _ = content_info.native  # parse everything: damage anywhere is an error, not ignored
        if signed_data["version"].native not in ("v1", "v3"):
            raise _InvalidError(f"unexpected SignedData version {signed_data['version'].native}")
        certs = _embedded_certificates(signed_data)
        signer, signing_time = _verify_signer_info(data, signed_data, certs)
    except _InvalidError as exc:
        return CmsVerdict(False, False, None, None, f"invalid signature: {exc}")
    except _PARSE_ERRORS as exc:
        return CmsVerdict(
            False, False, None, None, f"not a well-formed DER CMS signature ({_one_line(exc)})"
        )

    name = _subject(signer)
    # The path is validated at the signing time the signed attributes state (the
    # signer's claim; the manifest carries no time-stamp), or now without one.
    path = validate_path(
        signer,
        intermediates=certs,
        trust=trust,
        moment=signing_time,
        usage=Usage.DOCUMENT_SIGNING,
    )
    fingerprint = signer.fingerprint(hashes.SHA256()).hex()
    if not path.trusted:
        detail = f"signature valid, but {path.detail}"
        return CmsVerdict(
            True, False, name, signing_time, detail, fingerprint, trust_code=path.code
        )
    detail = f"signature valid and trusted: {name}"
    return CmsVerdict(True, True, name, signing_time, detail, fingerprint)
