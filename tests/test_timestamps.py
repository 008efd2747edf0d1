"""Tests for reporting.receipts.timestamps (RFC 3161 trusted timestamps, §7.7).

Tokens are produced inside the tests by a throwaway TSA: a root CA plus a TSA
certificate with a critical id-kp-timeStamping EKU, signing real CMS SignedData
TimeStampTokens assembled with asn1crypto (and, for interoperability, with
pyHanko's DummyTimeStamper).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import cms, core, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from reporting.certificates import PathCode
from reporting.receipts.timestamps import TimestampVerdict, verify_trusted_timestamp

from .helpers import deadline

CODE = "INVALID_TRUSTED_TIMESTAMP"
ACTION_TIME = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
IMPRINT_INPUT = b'{"credentialSubject":{"action":{"type":"filesystem.file.read"}}}'
CERT_NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
CERT_NOT_AFTER = datetime(2027, 1, 1, tzinfo=UTC)
SERIAL = 0x5EED_1234_5678_9ABC

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


# --- throwaway PKI ----------------------------------------------------------------------------


def new_key(kind: str) -> PrivateKey:
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def issue_cert(
    subject_cn: str,
    subject_key: PrivateKey,
    *,
    issuer: tuple[x509.Certificate, PrivateKey] | None = None,
    is_ca: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    not_before: datetime = CERT_NOT_BEFORE,
    not_after: datetime = CERT_NOT_AFTER,
    path_length: int | None = None,
) -> x509.Certificate:
    """Issue a certificate; self-signed when ``issuer`` is None."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    issuer_name, signing_key = (name, subject_key) if issuer is None else issuer_of(issuer)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False
        )
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(signing_key, _signature_hash(signing_key))


def issuer_of(issuer: tuple[x509.Certificate, PrivateKey]) -> tuple[x509.Name, PrivateKey]:
    return issuer[0].subject, issuer[1]


@dataclass(frozen=True)
class Pki:
    root_key: PrivateKey
    root: x509.Certificate

    def tsa(self, kind: str = "ec-p256", **cert_options: Any) -> Tsa:
        key = new_key(kind)
        cert_options.setdefault("eku", [ExtendedKeyUsageOID.TIME_STAMPING])
        cert = issue_cert("Throwaway TSA", key, issuer=(self.root, self.root_key), **cert_options)
        return Tsa(key=key, cert=cert, pss=kind == "rsa-pss")


def new_pki(cn: str = "Throwaway TSA Root") -> Pki:
    key = new_key("ec-p256")
    return Pki(root_key=key, root=issue_cert(cn, key, is_ca=True))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return new_pki()


@pytest.fixture(scope="module")
def ec_tsa(pki: Pki) -> Tsa:
    return pki.tsa("ec-p256")


# --- token assembly (RFC 3161 §2.4.2 / RFC 5652 §5) -------------------------------------------


@dataclass(frozen=True)
class Tsa:
    key: PrivateKey
    cert: x509.Certificate
    pss: bool = False
    extra_certs: tuple[x509.Certificate, ...] = field(default=())


def _asn1_cert(cert: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def build_tst_info(imprint: bytes, gen_time: datetime, hash_name: str = "sha256") -> bytes:
    tst_info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": "1.3.6.1.4.1.99999.1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": hash_name},
                "hashed_message": hashlib.new(hash_name, imprint).digest(),
            },
            "serial_number": SERIAL,
            "gen_time": gen_time,
        }
    )
    return bytes(tst_info.dump())


def _sign(tsa: Tsa, data: bytes) -> tuple[bytes, dict[str, Any]]:
    key = tsa.key
    if isinstance(key, rsa.RSAPrivateKey) and tsa.pss:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        params = {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": 32,
        }
        return key.sign(data, pss, hashes.SHA256()), {
            "algorithm": "rsassa_pss",
            "parameters": params,
        }
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256()), {"algorithm": "sha256_rsa"}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256())), {"algorithm": "sha256_ecdsa"}
    return key.sign(data), {"algorithm": "ed25519"}


def _attribute(attr_type: str, value: Any) -> Any:
    return cms.CMSAttribute({"type": attr_type, "values": [value]})


def build_signer_info(
    tsa: Tsa,
    econtent: bytes,
    *,
    sid: str = "issuer_and_serial_number",
    content_type_attr: str = "tst_info",
    with_signed_attrs: bool = True,
) -> Any:
    digest_name = "sha512" if isinstance(tsa.key, ed25519.Ed25519PrivateKey) else "sha256"
    message_digest = hashlib.new(digest_name, econtent).digest()
    signed_attrs = cms.CMSAttributes(
        [
            _attribute("content_type", cms.ContentType(content_type_attr)),
            _attribute("message_digest", core.OctetString(message_digest)),
        ]
    )
    signature, signature_algorithm = _sign(tsa, signed_attrs.dump())
    asn1_cert = _asn1_cert(tsa.cert)
    if sid == "subject_key_identifier":
        sid_value = cms.SignerIdentifier({"subject_key_identifier": asn1_cert.key_identifier})
    else:
        sid_value = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": {
                    "issuer": asn1_cert.issuer,
                    "serial_number": asn1_cert.serial_number,
                }
            }
        )
    info: dict[str, Any] = {
        "version": "v3" if sid == "subject_key_identifier" else "v1",
        "sid": sid_value,
        "digest_algorithm": {"algorithm": digest_name},
        "signature_algorithm": signature_algorithm,
        "signature": signature,
    }
    if with_signed_attrs:
        info["signed_attrs"] = signed_attrs
    return cms.SignerInfo(info)


def build_token(
    tsa: Tsa,
    imprint: bytes = IMPRINT_INPUT,
    *,
    gen_time: datetime = ACTION_TIME,
    hash_name: str = "sha256",
    econtent_type: str = "tst_info",
    embed_signer: bool = True,
    signer_count: int = 1,
    **signer_options: Any,
) -> bytes:
    econtent = build_tst_info(imprint, gen_time, hash_name)
    signer_info = build_signer_info(tsa, econtent, **signer_options)
    certs = ([tsa.cert] if embed_signer else []) + list(tsa.extra_certs)
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [signer_info["digest_algorithm"]],
            "encap_content_info": {
                "content_type": econtent_type,
                "content": cms.ParsableOctetString(econtent),
            },
            "certificates": [_asn1_cert(cert) for cert in certs],
            "signer_infos": [signer_info] * signer_count,
        }
    )
    content_info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return bytes(content_info.dump())


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def verify(
    der: bytes,
    *,
    imprint: bytes = IMPRINT_INPUT,
    action_time: datetime | None = ACTION_TIME,
    roots: tuple[x509.Certificate, ...] = (),
    tolerance: timedelta = timedelta(minutes=5),
) -> TimestampVerdict:
    return verify_trusted_timestamp(
        b64(der), imprint, action_time=action_time, tolerance=tolerance, tsa_roots=roots
    )


def flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def assert_invalid(verdict: TimestampVerdict) -> None:
    assert verdict.valid is False
    assert verdict.code == CODE
    assert verdict.anchored is False


# --- valid tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec-p256", "rsa-2048", "rsa-pss", "ed25519"])
def test_valid_token_verifies_and_is_anchored_to_its_root(pki: Pki, kind: str) -> None:
    tsa = pki.tsa(kind)
    verdict = verify(build_token(tsa), roots=(pki.root,))
    assert verdict.valid is True
    assert verdict.code is None
    assert verdict.anchored is True
    assert verdict.gen_time == ACTION_TIME
    assert verdict.gen_time is not None
    assert verdict.gen_time.tzinfo is not None
    assert verdict.tsa_subject == "CN=Throwaway TSA"


def test_valid_rsa_2048_token_without_roots_is_valid_but_not_anchored(pki: Pki) -> None:
    tsa = pki.tsa("rsa-2048")
    assert isinstance(tsa.key, rsa.RSAPrivateKey)
    assert tsa.key.key_size == 2048
    verdict = verify(build_token(tsa))
    assert verdict.valid is True
    assert verdict.code is None
    assert verdict.anchored is False


def test_valid_ec_p256_token_without_roots_is_valid_but_not_anchored(ec_tsa: Tsa) -> None:
    assert isinstance(ec_tsa.key, ec.EllipticCurvePrivateKey)
    assert ec_tsa.key.curve.name == "secp256r1"
    verdict = verify(build_token(ec_tsa))
    assert verdict.valid is True
    assert verdict.anchored is False


def test_pyhanko_dummy_timestamper_token_verifies(pki: Pki) -> None:
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    tsa = pki.tsa("rsa-2048")
    key_der = tsa.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    stamper = DummyTimeStamper(
        tsa_cert=_asn1_cert(tsa.cert),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
        fixed_dt=ACTION_TIME,
    )
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(IMPRINT_INPUT).digest(),
            },
            "nonce": 42,
            "cert_req": True,
        }
    )
    response = stamper.request_tsa_response(request)
    der = response["time_stamp_token"].dump()
    verdict = verify(der, roots=(pki.root,))
    assert verdict.valid is True
    assert verdict.anchored is True
    assert verify(der, imprint=b"other").valid is False


@pytest.mark.parametrize("hash_name", ["sha384", "sha512"])
def test_longer_sha2_imprints_are_recomputed_with_their_algorithm(
    ec_tsa: Tsa, hash_name: str
) -> None:
    der = build_token(ec_tsa, hash_name=hash_name)
    assert verify(der).valid is True
    assert_invalid(verify(der, imprint=IMPRINT_INPUT + b" "))


def test_sha1_imprint_is_rejected(ec_tsa: Tsa) -> None:
    assert_invalid(verify(build_token(ec_tsa, hash_name="sha1")))


def test_signer_found_by_subject_key_identifier(ec_tsa: Tsa) -> None:
    verdict = verify(build_token(ec_tsa, sid="subject_key_identifier"))
    assert verdict.valid is True


# --- imprint, digest and signature failures ---------------------------------------------------


def test_imprint_over_different_bytes_fails(ec_tsa: Tsa) -> None:
    der = build_token(ec_tsa, imprint=IMPRINT_INPUT + b"with trusted_timestamp")
    verdict = verify(der, imprint=IMPRINT_INPUT)
    assert_invalid(verdict)
    assert verdict.gen_time == ACTION_TIME  # parsed before the imprint check failed


def test_tampered_tst_info_byte_fails_message_digest(ec_tsa: Tsa, pki: Pki) -> None:
    der = build_token(ec_tsa)
    serial_der = core.Integer(SERIAL).dump()
    assert der.count(serial_der) == 1
    index = der.index(serial_der) + len(serial_der) - 1  # last byte of the TSTInfo serial
    assert verify(der).valid is True
    verdict = verify(flip_byte(der, index), roots=(pki.root,))
    assert_invalid(verdict)
    assert verdict.tsa_subject == "CN=Throwaway TSA"  # failed after the signer was found


@pytest.mark.parametrize("kind", ["ec-p256", "rsa-2048"])
def test_tampered_signature_byte_fails(pki: Pki, kind: str) -> None:
    tsa = pki.tsa(kind)
    der = build_token(tsa)
    signature = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
    index = der.index(signature) + len(signature) - 1
    assert_invalid(verify(flip_byte(der, index), roots=(pki.root,)))


def test_signer_certificate_not_embedded_fails(ec_tsa: Tsa) -> None:
    assert_invalid(verify(build_token(ec_tsa, embed_signer=False)))


def test_two_signer_infos_fail(ec_tsa: Tsa) -> None:
    assert_invalid(verify(build_token(ec_tsa, signer_count=2)))


def test_missing_signed_attributes_fail(ec_tsa: Tsa) -> None:
    assert_invalid(verify(build_token(ec_tsa, with_signed_attrs=False)))


def test_content_type_attribute_other_than_tst_info_fails(ec_tsa: Tsa) -> None:
    assert_invalid(verify(build_token(ec_tsa, content_type_attr="data")))


# --- TSA certificate EKU ----------------------------------------------------------------------


def test_signer_without_time_stamping_eku_fails(pki: Pki) -> None:
    tsa = pki.tsa(eku=None)
    assert_invalid(verify(build_token(tsa)))


def test_signer_with_other_eku_only_fails(pki: Pki) -> None:
    tsa = pki.tsa(eku=[ExtendedKeyUsageOID.CODE_SIGNING])
    assert_invalid(verify(build_token(tsa)))


def test_signer_with_non_critical_time_stamping_eku_fails(pki: Pki) -> None:
    tsa = pki.tsa(eku_critical=False)
    assert_invalid(verify(build_token(tsa)))


# --- genTime tolerance ------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [timedelta(minutes=6), -timedelta(minutes=6), timedelta(days=1)])
def test_gen_time_outside_tolerance_fails(ec_tsa: Tsa, offset: timedelta) -> None:
    verdict = verify(build_token(ec_tsa, gen_time=ACTION_TIME + offset))
    assert_invalid(verdict)
    assert verdict.gen_time == ACTION_TIME + offset


@pytest.mark.parametrize("offset", [timedelta(minutes=5), -timedelta(minutes=4, seconds=59)])
def test_gen_time_inside_tolerance_passes(ec_tsa: Tsa, offset: timedelta) -> None:
    assert verify(build_token(ec_tsa, gen_time=ACTION_TIME + offset)).valid is True


def test_custom_tolerance_is_honoured(ec_tsa: Tsa) -> None:
    der = build_token(ec_tsa, gen_time=ACTION_TIME + timedelta(seconds=30))
    assert verify(der, tolerance=timedelta(seconds=10)).valid is False
    assert verify(der, tolerance=timedelta(minutes=1)).valid is True


def test_no_action_time_skips_the_time_check(ec_tsa: Tsa) -> None:
    der = build_token(ec_tsa, gen_time=ACTION_TIME + timedelta(days=30))
    assert verify(der, action_time=None).valid is True
    assert verify(der).valid is False


def test_naive_action_time_is_taken_as_utc(ec_tsa: Tsa) -> None:
    der = build_token(ec_tsa)
    assert verify(der, action_time=ACTION_TIME.replace(tzinfo=None)).valid is True
    naive_late = (ACTION_TIME + timedelta(hours=1)).replace(tzinfo=None)
    assert verify(der, action_time=naive_late).valid is False


# --- trust anchoring --------------------------------------------------------------------------


def test_untrusted_root_fails(ec_tsa: Tsa, pki: Pki) -> None:
    stranger = new_pki("Some Other Root")
    der = build_token(ec_tsa)
    assert_invalid(verify(der, roots=(stranger.root,)))
    verdict = verify(der, roots=(stranger.root, pki.root))
    assert verdict.valid is True
    assert verdict.anchored is True


def test_root_with_same_name_but_other_key_does_not_anchor(ec_tsa: Tsa) -> None:
    impostor = new_pki("Throwaway TSA Root")
    assert_invalid(verify(build_token(ec_tsa), roots=(impostor.root,)))


def test_self_signed_tsa_listed_as_root_is_anchored() -> None:
    key = new_key("ec-p256")
    cert = issue_cert("Self TSA", key, eku=[ExtendedKeyUsageOID.TIME_STAMPING])
    verdict = verify(build_token(Tsa(key=key, cert=cert)), roots=(cert,))
    assert verdict.valid is True
    assert verdict.anchored is True


def _tsa_under_intermediate(pki: Pki, *, intermediate_is_ca: bool, **mid_options: Any) -> Tsa:
    mid_key = new_key("ec-p256")
    mid = issue_cert(
        "Intermediate",
        mid_key,
        issuer=(pki.root, pki.root_key),
        is_ca=intermediate_is_ca,
        **mid_options,
    )
    tsa_key = new_key("ec-p256")
    tsa_cert = issue_cert(
        "TSA Under Intermediate",
        tsa_key,
        issuer=(mid, mid_key),
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    return Tsa(key=tsa_key, cert=tsa_cert, extra_certs=(mid,))


def test_intermediate_embedded_in_token_anchors_to_root(pki: Pki) -> None:
    tsa = _tsa_under_intermediate(pki, intermediate_is_ca=True)
    verdict = verify(build_token(tsa), roots=(pki.root,))
    assert verdict.valid is True
    assert verdict.anchored is True


def test_missing_intermediate_does_not_anchor(pki: Pki) -> None:
    tsa = replace(_tsa_under_intermediate(pki, intermediate_is_ca=True), extra_certs=())
    assert_invalid(verify(build_token(tsa), roots=(pki.root,)))
    assert verify(build_token(tsa)).valid is True  # still fine when no roots are configured


def test_non_ca_intermediate_does_not_anchor(pki: Pki) -> None:
    tsa = _tsa_under_intermediate(pki, intermediate_is_ca=False)
    verdict = verify(build_token(tsa), roots=(pki.root,))
    assert_invalid(verdict)
    assert verdict.trust_code == PathCode.NOT_A_CA


@pytest.mark.parametrize(
    ("gen_time", "code"),
    [
        (CERT_NOT_AFTER + timedelta(days=1), PathCode.EXPIRED),
        (CERT_NOT_BEFORE - timedelta(days=1), PathCode.NOT_YET_VALID),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_tsa_certificate_must_be_valid_at_gen_time(
    ec_tsa: Tsa, pki: Pki, gen_time: datetime, code: PathCode
) -> None:
    verdict = verify(build_token(ec_tsa, gen_time=gen_time), action_time=None, roots=(pki.root,))
    assert_invalid(verdict)
    assert verdict.trust_code == code
    assert verdict.gen_time == gen_time
    # without roots nothing is anchored, so nothing is dated either
    assert verify(build_token(ec_tsa, gen_time=gen_time), action_time=None).valid is True


def test_intermediate_expired_at_gen_time_does_not_anchor(pki: Pki) -> None:
    tsa = _tsa_under_intermediate(
        pki, intermediate_is_ca=True, not_after=ACTION_TIME - timedelta(days=1)
    )
    verdict = verify(build_token(tsa), roots=(pki.root,))
    assert_invalid(verdict)
    assert verdict.trust_code == PathCode.EXPIRED


def test_path_length_constraint_of_the_root_is_honoured() -> None:
    key = new_key("ec-p256")
    strict = Pki(root_key=key, root=issue_cert("Strict root", key, is_ca=True, path_length=0))
    tsa = _tsa_under_intermediate(strict, intermediate_is_ca=True)
    verdict = verify(build_token(tsa), roots=(strict.root,))
    assert_invalid(verdict)
    assert verdict.trust_code == PathCode.PATH_TOO_LONG
    assert verify(build_token(strict.tsa()), roots=(strict.root,)).anchored is True


def test_crafted_certificates_in_a_token_cannot_stall_verification(pki: Pki) -> None:
    # A receipt is hostile input: twelve CA certificates sharing one name and key make
    # 12! candidate paths unless the search is bounded.
    key = new_key("ec-p256")
    decoys = [issue_cert("Loop", key, is_ca=True) for _ in range(12)]
    tsa_key = new_key("ec-p256")
    tsa_cert = issue_cert(
        "TSA", tsa_key, issuer=(decoys[0], key), eku=[ExtendedKeyUsageOID.TIME_STAMPING]
    )
    token = build_token(Tsa(key=tsa_key, cert=tsa_cert, extra_certs=tuple(decoys)))
    with deadline(30):
        verdict = verify(token, roots=(pki.root,))
    assert_invalid(verdict)
    assert verdict.trust_code == PathCode.PATH_SEARCH_LIMIT


# --- malformed input --------------------------------------------------------------------------


def test_not_base64_fails() -> None:
    verdict = verify_trusted_timestamp("not base64!*", IMPRINT_INPUT, action_time=ACTION_TIME)
    assert_invalid(verdict)
    assert verdict.gen_time is None


def test_base64_with_embedded_newline_fails(ec_tsa: Tsa) -> None:
    text = b64(build_token(ec_tsa))
    assert verify_trusted_timestamp(text, IMPRINT_INPUT, action_time=None).valid is True
    wrapped = text[:64] + "\n" + text[64:]
    assert_invalid(verify_trusted_timestamp(wrapped, IMPRINT_INPUT, action_time=None))


def test_base64_of_garbage_fails() -> None:
    assert_invalid(verify(b"this is not DER at all, just some bytes"))


def test_base64_of_non_tst_info_cms_fails(ec_tsa: Tsa) -> None:
    verdict = verify(build_token(ec_tsa, econtent_type="data", content_type_attr="data"))
    assert_invalid(verdict)
    assert verdict.gen_time is None


def test_base64_of_non_signed_data_content_info_fails() -> None:
    der = cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    assert_invalid(verify(der))


def test_empty_string_fails() -> None:
    assert_invalid(verify_trusted_timestamp("", IMPRINT_INPUT, action_time=ACTION_TIME))


def test_non_string_token_yields_a_verdict() -> None:
    verdict = verify_trusted_timestamp(None, IMPRINT_INPUT, action_time=None)  # type: ignore[arg-type]
    assert_invalid(verdict)


def test_trailing_bytes_after_der_fail(ec_tsa: Tsa) -> None:
    assert_invalid(verify(build_token(ec_tsa) + b"\x00"))


def test_every_truncation_is_rejected_without_raising(ec_tsa: Tsa, pki: Pki) -> None:
    der = build_token(ec_tsa)
    for length in range(1, len(der)):
        assert_invalid(verify(der[:length], roots=(pki.root,)))


def test_every_single_byte_flip_yields_a_verdict(ec_tsa: Tsa, pki: Pki) -> None:
    der = build_token(ec_tsa)
    outcomes = [verify(flip_byte(der, index), roots=(pki.root,)) for index in range(len(der))]
    assert all(isinstance(outcome, TimestampVerdict) for outcome in outcomes)
    assert all(outcome.code == (None if outcome.valid else CODE) for outcome in outcomes)
    # The overwhelming majority of flips hit signed or structural bytes.
    assert sum(outcome.valid for outcome in outcomes) < len(der) // 10
