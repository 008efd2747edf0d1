"""Detached CMS signatures over the manifest (`manifest.json.p7s`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from reporting.certificates import PathCode
from reporting.errors import KeyStoreError, UsageError
from reporting.signing.cms import CmsVerdict, sign_detached, verify_detached
from reporting.signing.keys import SigningIdentity, demo_identity, init_keys, load_identity

from .test_signing_keys import NOW, make_cert

SIGNING_TIME = datetime(2026, 10, 1, 12, 30, 15, tzinfo=UTC)
MANIFEST = b'{"artefacts":[{"name":"report.pdf","sha256":"00"}],"version":1}\n'
OPENSSL_COMMAND = [
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
    "cert.pem",
    "-purpose",
    "any",
]


@pytest.fixture(scope="module")
def identities() -> dict[str, SigningIdentity]:
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed = ed25519.Ed25519PrivateKey.generate()
    return {
        "ecdsa-p256": SigningIdentity(p256, make_cert(p256, "CN=ECDSA signer,O=Org")),
        "rsa-2048": SigningIdentity(rsa_key, make_cert(rsa_key, "CN=RSA signer,O=Org")),
        "ed25519": SigningIdentity(ed, make_cert(ed, "CN=Ed25519 signer,O=Org")),
    }


ALGORITHMS = ["ecdsa-p256", "rsa-2048", "ed25519"]


@pytest.fixture(scope="module")
def pki() -> dict[str, object]:
    """Root CA -> intermediate CA -> leaf, and the leaf's identity with the intermediate."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_cert(root_key, "CN=Root CA,O=Org", ca=True, key_usage=None)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = make_cert(
        mid_key, "CN=Issuing CA,O=Org", ca=True, key_usage=None, issuer=(root, root_key)
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(key, "CN=Leaf signer,O=Org", issuer=(mid, mid_key))
    return {"root": root, "mid": mid, "leaf": leaf, "key": key, "mid_key": mid_key}


def _signed(identity: SigningIdentity, data: bytes = MANIFEST) -> bytes:
    return sign_detached(data, identity, signing_time=SIGNING_TIME)


def _signature_value(der: bytes) -> bytes:
    info = cms.ContentInfo.load(der)
    return bytes(info["content"]["signer_infos"][0]["signature"].native)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_round_trip(identities: dict[str, SigningIdentity], algorithm: str) -> None:
    identity = identities[algorithm]
    verdict = verify_detached(MANIFEST, _signed(identity), trust=[identity.certificate])
    assert verdict == CmsVerdict(
        valid=True,
        trusted=True,
        signer=identity.subject,
        signing_time=SIGNING_TIME,
        detail=f"signature valid and trusted: {identity.subject}",
        certificate_sha256=identity.certificate.fingerprint(hashes.SHA256()).hex(),
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_structure_is_detached_with_the_signed_attributes(
    identities: dict[str, SigningIdentity], algorithm: str
) -> None:
    identity = identities[algorithm]
    info = cms.ContentInfo.load(_signed(identity))
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert signed["encap_content_info"]["content_type"].native == "data"
    assert signed["encap_content_info"]["content"].native is None  # detached
    certs = [c.chosen.dump() for c in signed["certificates"]]
    assert certs == [identity.certificate.public_bytes(serialization.Encoding.DER)]
    (signer,) = signed["signer_infos"]
    digest = "sha512" if algorithm == "ed25519" else "sha256"  # RFC 8419 for Ed25519
    assert signer["digest_algorithm"]["algorithm"].native == digest
    attributes = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    assert set(attributes) == {"content_type", "signing_time", "message_digest"}
    assert attributes["content_type"] == "data"
    assert attributes["signing_time"] == SIGNING_TIME
    hasher = hashes.Hash(hashes.SHA512() if algorithm == "ed25519" else hashes.SHA256())
    hasher.update(MANIFEST)
    assert attributes["message_digest"] == hasher.finalize()
    expected_algorithm = {
        "ecdsa-p256": "sha256_ecdsa",
        "rsa-2048": "rsassa_pkcs1v15",
        "ed25519": "ed25519",
    }[algorithm]
    assert signer["signature_algorithm"]["algorithm"].native == expected_algorithm


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
def test_deterministic_algorithms_give_identical_bytes(
    identities: dict[str, SigningIdentity], algorithm: str
) -> None:
    identity = identities[algorithm]
    assert _signed(identity) == _signed(identity)
    later = sign_detached(MANIFEST, identity, signing_time=SIGNING_TIME + timedelta(seconds=1))
    assert later != _signed(identity)


def test_signing_time_is_kept_to_the_second_and_across_2050(
    identities: dict[str, SigningIdentity],
) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    far = datetime(2051, 3, 4, 5, 6, 7, tzinfo=UTC)
    identity = SigningIdentity(
        ed, make_cert(ed, "CN=Far", not_before=far - timedelta(days=1), not_after=far)
    )
    signature = sign_detached(MANIFEST, identity, signing_time=far.replace(microsecond=999))
    verdict = verify_detached(MANIFEST, signature, trust=[identity.certificate])
    assert verdict.signing_time == far
    assert verdict.trusted
    attrs = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signed_attrs"]
    (time_attr,) = [a for a in attrs if a["type"].native == "signing_time"]
    assert time_attr["values"][0].name == "generalized_time"  # UTCTime stops at 2049
    local = SIGNING_TIME.astimezone(ZoneInfo("Europe/Berlin"))
    verdict = verify_detached(
        MANIFEST,
        sign_detached(MANIFEST, identities["rsa-2048"], signing_time=local),
        trust=[],
    )
    assert verdict.signing_time == SIGNING_TIME


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_data_fails(identities: dict[str, SigningIdentity], algorithm: str) -> None:
    identity = identities[algorithm]
    changed = MANIFEST.replace(b'"00"', b'"01"')
    verdict = verify_detached(changed, _signed(identity), trust=[identity.certificate])
    assert not verdict.valid
    assert not verdict.trusted
    assert verdict.signer is None
    assert verdict.signing_time is None
    assert "message digest" in verdict.detail
    assert not verify_detached(MANIFEST + b" ", _signed(identity), trust=[]).valid


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_signature_fails(identities: dict[str, SigningIdentity], algorithm: str) -> None:
    identity = identities[algorithm]
    der = _signed(identity)
    value = _signature_value(der)
    at = der.rindex(value) + len(value) // 2
    tampered = der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]
    verdict = verify_detached(MANIFEST, tampered, trust=[identity.certificate])
    assert not verdict.valid
    assert not verdict.trusted
    assert "does not verify" in verdict.detail


def test_tampered_signing_time_fails(identities: dict[str, SigningIdentity]) -> None:
    identity = identities["rsa-2048"]
    der = _signed(identity)
    stamp = b"261001123015Z"  # the UTCTime of SIGNING_TIME
    assert der.count(stamp) == 1
    tampered = der.replace(stamp, b"261001123016Z")
    verdict = verify_detached(MANIFEST, tampered, trust=[identity.certificate])
    assert not verdict.valid
    assert "does not verify" in verdict.detail


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_no_single_byte_flip_survives(
    identities: dict[str, SigningIdentity], algorithm: str
) -> None:
    """Never raises; a flip outside the embedded certificate invalidates; none stays trusted."""
    identity = identities[algorithm]
    der = _signed(identity)
    cert_der = identity.certificate.public_bytes(serialization.Encoding.DER)
    cert_start = der.index(cert_der)
    for at in range(len(der)):
        tampered = der[:at] + bytes([der[at] ^ 0x80]) + der[at + 1 :]
        verdict = verify_detached(MANIFEST, tampered, trust=[identity.certificate])
        assert isinstance(verdict, CmsVerdict)
        assert not verdict.trusted, at
        if not cert_start <= at < cert_start + len(cert_der):
            assert not verdict.valid, at


@pytest.mark.parametrize(
    ("junk", "fragment"),
    [
        (b"", "well-formed"),
        (b"\x00", "well-formed"),
        (b"not DER at all", "well-formed"),
        (b"\x30\x80" + b"\x00" * 10, "well-formed"),
        (b"\x30\x03\x06\x01\x00", "not a CMS SignedData"),  # ContentInfo of type 0.0
    ],
)
def test_garbage_never_raises(junk: bytes, fragment: str) -> None:
    verdict = verify_detached(MANIFEST, junk, trust=[])
    assert not verdict.valid
    assert not verdict.trusted
    assert fragment in verdict.detail


def test_truncations_never_raise(identities: dict[str, SigningIdentity]) -> None:
    der = _signed(identities["ed25519"])
    for end in range(0, len(der), 7):
        verdict = verify_detached(MANIFEST, der[:end], trust=[])
        assert not verdict.valid


def test_other_content_types_are_rejected() -> None:
    data_only = cms.ContentInfo({"content_type": "data", "content": b"hello"}).dump()
    verdict = verify_detached(MANIFEST, data_only, trust=[])
    assert not verdict.valid
    assert "SignedData" in verdict.detail


def test_missing_signer_certificate_is_reported(identities: dict[str, SigningIdentity]) -> None:
    identity = identities["ecdsa-p256"]
    info = cms.ContentInfo.load(_signed(identity))
    info["content"]["certificates"] = []
    verdict = verify_detached(MANIFEST, info.dump(force=True), trust=[identity.certificate])
    assert not verdict.valid
    assert "is not embedded" in verdict.detail


def test_signature_algorithm_must_fit_the_key(identities: dict[str, SigningIdentity]) -> None:
    identity = identities["rsa-2048"]
    info = cms.ContentInfo.load(_signed(identity))
    info["content"]["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
    verdict = verify_detached(MANIFEST, info.dump(force=True), trust=[identity.certificate])
    assert not verdict.valid
    assert "does not fit" in verdict.detail


# --- trust ---------------------------------------------------------------------------------


def test_untrusted_anchor_gives_valid_but_untrusted(
    identities: dict[str, SigningIdentity],
) -> None:
    identity = identities["ecdsa-p256"]
    other = identities["rsa-2048"].certificate
    for trust in ([other], []):
        verdict = verify_detached(MANIFEST, _signed(identity), trust=trust)
        assert verdict.valid
        assert not verdict.trusted
        assert verdict.signer == identity.subject
        assert verdict.trust_code == (PathCode.NO_PATH if trust else PathCode.NO_TRUST_ANCHOR)


def test_chain_to_a_root_through_embedded_intermediate(pki: dict[str, object]) -> None:
    leaf, mid, root = pki["leaf"], pki["mid"], pki["root"]
    identity = SigningIdentity(pki["key"], leaf, chain=(mid,))  # type: ignore[arg-type]
    signature = _signed(identity)
    embedded = [c.chosen.dump() for c in cms.ContentInfo.load(signature)["content"]["certificates"]]
    assert len(embedded) == 2
    assert verify_detached(MANIFEST, signature, trust=[root]).trusted  # type: ignore[list-item]
    assert verify_detached(MANIFEST, signature, trust=[mid]).trusted  # type: ignore[list-item]
    assert verify_detached(MANIFEST, signature, trust=[leaf]).trusted  # type: ignore[list-item]
    without = _signed(SigningIdentity(pki["key"], leaf))  # type: ignore[arg-type]
    verdict = verify_detached(MANIFEST, without, trust=[root])  # type: ignore[list-item]
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.trust_code == PathCode.NO_PATH


def test_an_issuer_that_is_not_a_ca_does_not_confer_trust(pki: dict[str, object]) -> None:
    not_ca_key = ec.generate_private_key(ec.SECP256R1())
    not_ca = make_cert(not_ca_key, "CN=Not a CA")
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(key, "CN=Leaf", issuer=(not_ca, not_ca_key))
    verdict = verify_detached(MANIFEST, _signed(SigningIdentity(key, leaf)), trust=[not_ca])
    assert verdict.valid
    assert not verdict.trusted


def test_a_forged_chain_does_not_confer_trust(pki: dict[str, object]) -> None:
    """The leaf names the real intermediate as issuer, but was signed by another key."""
    fake_key = ec.generate_private_key(ec.SECP256R1())
    fake_mid = make_cert(fake_key, "CN=Issuing CA,O=Org", ca=True, key_usage=None)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(key, "CN=Impostor", issuer=(fake_mid, fake_key))
    assert leaf.issuer == pki["mid"].subject  # type: ignore[attr-defined]
    for chain in ((pki["mid"],), (fake_mid,), (pki["mid"], fake_mid)):
        signature = _signed(SigningIdentity(key, leaf, chain=chain))  # type: ignore[arg-type]
        verdict = verify_detached(MANIFEST, signature, trust=[pki["root"]])  # type: ignore[list-item]
        assert verdict.valid
        assert not verdict.trusted


def test_signing_outside_the_certificate_validity_is_not_trusted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(key, "CN=Short", not_before=NOW, not_after=NOW + timedelta(hours=1))
    identity = SigningIdentity(key, cert)
    inside = sign_detached(MANIFEST, identity, signing_time=NOW + timedelta(minutes=30))
    assert verify_detached(MANIFEST, inside, trust=[cert]).trusted
    outside = sign_detached(MANIFEST, identity, signing_time=NOW + timedelta(hours=2))
    verdict = verify_detached(MANIFEST, outside, trust=[cert])
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.trust_code == PathCode.EXPIRED


@pytest.mark.parametrize(
    ("which", "window", "code"),
    [
        ("mid", {"not_after": SIGNING_TIME - timedelta(days=1)}, PathCode.EXPIRED),
        ("root", {"not_after": SIGNING_TIME - timedelta(days=1)}, PathCode.EXPIRED),
        ("mid", {"not_before": SIGNING_TIME + timedelta(days=1)}, PathCode.NOT_YET_VALID),
    ],
    ids=["intermediate-expired", "root-expired", "intermediate-not-yet-valid"],
)
def test_every_certificate_of_the_path_counts_at_the_signing_time(
    which: str, window: dict[str, datetime], code: PathCode
) -> None:
    root_key, mid_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root_window = window if which == "root" else {}
    mid_window = window if which == "mid" else {}
    root = make_cert(root_key, "CN=Root CA", ca=True, key_usage=None, **root_window)
    mid = make_cert(
        mid_key, "CN=Issuing CA", ca=True, key_usage=None, issuer=(root, root_key), **mid_window
    )
    leaf = make_cert(key, "CN=Leaf", issuer=(mid, mid_key))
    verdict = verify_detached(
        MANIFEST, _signed(SigningIdentity(key, leaf, chain=(mid,))), trust=[root]
    )
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.trust_code == code


def test_a_path_length_constraint_is_honoured() -> None:
    root_key, mid_key, key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = make_cert(root_key, "CN=Root CA", ca=True, key_usage=None, path_length=0)
    mid = make_cert(mid_key, "CN=Issuing CA", ca=True, key_usage=None, issuer=(root, root_key))
    leaf = make_cert(key, "CN=Leaf", issuer=(mid, mid_key))
    signature = _signed(SigningIdentity(key, leaf, chain=(mid,)))
    verdict = verify_detached(MANIFEST, signature, trust=[root])
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.trust_code == PathCode.PATH_TOO_LONG
    assert verify_detached(MANIFEST, signature, trust=[mid]).trusted


def test_a_signer_certificate_without_a_signing_key_usage_is_not_trusted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(key, "CN=Encryption only", key_usage=(False, False))
    verdict = verify_detached(MANIFEST, _signed(SigningIdentity(key, cert)), trust=[cert])
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.trust_code == PathCode.WRONG_USAGE


def test_demo_identity_signs_untrusted_unless_pinned() -> None:
    identity = demo_identity(not_before=SIGNING_TIME)
    signature = _signed(identity)
    verdict = verify_detached(MANIFEST, signature, trust=[])
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.signer == "CN=UNTRUSTED DEMO SIGNATURE,O=Agent Evidence demo"


# --- signing errors ------------------------------------------------------------------------


def test_sign_rejects_naive_time_and_mismatched_key(
    identities: dict[str, SigningIdentity],
) -> None:
    identity = identities["ecdsa-p256"]
    with pytest.raises(UsageError) as caught:
        sign_detached(MANIFEST, identity, signing_time=datetime(2026, 1, 1))
    assert caught.value.code == "NAIVE_DATETIME"
    wrong = SigningIdentity(ec.generate_private_key(ec.SECP256R1()), identity.certificate)
    with pytest.raises(KeyStoreError) as mismatch:
        sign_detached(MANIFEST, wrong, signing_time=SIGNING_TIME)
    assert mismatch.value.code == "KEY_CERTIFICATE_MISMATCH"


# --- interoperability ----------------------------------------------------------------------


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        reason = "the openssl command-line tool is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must provide it", pytrace=False)
        pytest.skip(reason)
    return found


def _write_for_openssl(directory: Path, identity: SigningIdentity) -> None:
    (directory / "manifest.json").write_bytes(MANIFEST)
    (directory / "manifest.json.p7s").write_bytes(_signed(identity))
    (directory / "cert.pem").write_bytes(
        identity.certificate.public_bytes(serialization.Encoding.PEM)
    )


def test_openssl_cms_verify_accepts_the_manifest_signature(tmp_path: Path) -> None:
    _openssl()
    keys = init_keys(tmp_path / "keys", subject="CN=Report signer,O=Org")
    identity = load_identity(key=keys.key, cert=keys.certificate)
    assert identity.algorithm == "ecdsa-p256"
    _write_for_openssl(tmp_path, identity)
    ok = subprocess.run(OPENSSL_COMMAND, cwd=tmp_path, capture_output=True, check=False)
    assert ok.returncode == 0, ok.stderr.decode()
    assert ok.stdout == MANIFEST  # openssl writes the verified content
    assert b"Verification successful" in ok.stderr

    manifest = tmp_path / "manifest.json"
    changed = bytearray(manifest.read_bytes())
    changed[10] ^= 0x01
    manifest.write_bytes(bytes(changed))
    bad = subprocess.run(OPENSSL_COMMAND, cwd=tmp_path, capture_output=True, check=False)
    assert bad.returncode != 0
    assert b"Verification successful" not in bad.stderr


def test_openssl_accepts_rsa_and_an_intermediate_chain(
    tmp_path: Path, identities: dict[str, SigningIdentity], pki: dict[str, object]
) -> None:
    _openssl()
    _write_for_openssl(tmp_path, identities["rsa-2048"])
    ok = subprocess.run(OPENSSL_COMMAND, cwd=tmp_path, capture_output=True, check=False)
    assert ok.returncode == 0, ok.stderr.decode()

    chained = SigningIdentity(pki["key"], pki["leaf"], chain=(pki["mid"],))  # type: ignore[arg-type]
    _write_for_openssl(tmp_path, chained)
    root = pki["root"]
    (tmp_path / "cert.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))  # type: ignore[attr-defined]
    ok = subprocess.run(OPENSSL_COMMAND, cwd=tmp_path, capture_output=True, check=False)
    assert ok.returncode == 0, ok.stderr.decode()
    other = identities["ecdsa-p256"].certificate
    (tmp_path / "cert.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    untrusted = subprocess.run(OPENSSL_COMMAND, cwd=tmp_path, capture_output=True, check=False)
    assert untrusted.returncode != 0


def test_we_verify_what_openssl_signs(tmp_path: Path) -> None:
    openssl = _openssl()
    keys = init_keys(tmp_path, subject="CN=OpenSSL signer")
    (tmp_path / "manifest.json").write_bytes(MANIFEST)
    for extra in ([], ["-noattr"]):
        subprocess.run(
            [
                *(openssl, "cms", "-sign", "-binary", "-outform", "DER", "-in", "manifest.json"),
                *("-signer", str(keys.certificate), "-inkey", str(keys.key), "-out", "sig.p7s"),
                *extra,
            ],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
        signature = (tmp_path / "sig.p7s").read_bytes()
        cert = x509.load_pem_x509_certificate(keys.certificate.read_bytes())
        verdict = verify_detached(MANIFEST, signature, trust=[cert])
        assert verdict.valid, verdict.detail
        assert verdict.trusted
        assert verdict.signer == "CN=OpenSSL signer"
        assert (verdict.signing_time is None) == bool(extra)
        assert not verify_detached(MANIFEST[:-1], signature, trust=[cert]).valid


@pytest.mark.parametrize("pss", [False, True], ids=["ecdsa", "rsa-pss"])
def test_we_verify_what_cryptography_signs(
    identities: dict[str, SigningIdentity], pss: bool
) -> None:
    identity = identities["rsa-2048" if pss else "ecdsa-p256"]
    rsa_padding = (
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        if pss
        else None
    )
    signature = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(MANIFEST)
        .add_signer(
            identity.certificate,
            identity.private_key,  # type: ignore[arg-type]
            hashes.SHA256(),
            rsa_padding=rsa_padding,
        )
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
    verdict = verify_detached(MANIFEST, signature, trust=[identity.certificate])
    assert verdict.valid, verdict.detail
    assert verdict.trusted
    assert not verify_detached(MANIFEST + b"\n", signature, trust=[identity.certificate]).valid


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pyhanko_validates_our_signatures(
    identities: dict[str, SigningIdentity], algorithm: str
) -> None:
    """An independent CMS implementation (the only one here that does Ed25519 CMS)."""
    generic_cms = pytest.importorskip(
        "pyhanko.sign.validation.generic_cms", reason="the dev extra (pyhanko) is not installed"
    )
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import ValidationContext

    identity = identities[algorithm]
    signed_data = cms.ContentInfo.load(_signed(identity))["content"]
    root = asn1_x509.Certificate.load(identity.certificate.public_bytes(serialization.Encoding.DER))

    def check(data: bytes) -> object:
        context = ValidationContext(trust_roots=[root])
        return asyncio.run(
            generic_cms.async_validate_detached_cms(
                data, signed_data, signer_validation_context=context
            )
        )

    status = check(MANIFEST)
    assert status.intact  # type: ignore[attr-defined]
    assert status.valid  # type: ignore[attr-defined]
    assert status.trusted  # type: ignore[attr-defined]
    assert not check(MANIFEST + b" ").intact  # type: ignore[attr-defined]
