"""`keys init`, loading report-signing identities (PEM, PKCS#12) and the demo identity."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from reporting.errors import EvidenceError, KeyStoreError, UsageError
from reporting.signing.keys import (
    CERT_FILE_NAME,
    CSR_FILE_NAME,
    DEMO_SUBJECT,
    KEY_FILE_NAME,
    SigningIdentity,
    demo_identity,
    init_keys,
    load_identity,
)

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
PASS_ENV = "AE_TEST_SIGNING_PASSPHRASE"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


# --- helpers shared with test_cms.py ---------------------------------------------------


def make_cert(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    subject: str,
    *,
    issuer: tuple[x509.Certificate, object] | None = None,
    ca: bool = False,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=7300),
    key_usage: tuple[bool, bool] | None = (True, True),
    public_key: object = None,
    path_length: int | None = None,
    extensions: tuple[x509.ExtensionType, ...] = (),
    serial: int | None = None,
) -> x509.Certificate:
    """A certificate for ``key`` (self-signed unless ``issuer`` = (cert, key) is given),
    with any further (non-critical) ``extensions``."""
    name = x509.Name.from_rfc4514_string(subject)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(public_key or key.public_key())  # type: ignore[arg-type]
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    if key_usage is not None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=key_usage[0],
                content_commitment=key_usage[1],
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
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signing_key, algorithm)  # type: ignore[arg-type]


def write_key(path: Path, key: object, password: bytes | None = None) -> Path:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    path.chmod(0o600)
    return path


def write_cert(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_pair(tmp_path: Path, key: object, cert: x509.Certificate) -> tuple[Path, Path]:
    return write_key(tmp_path / "key.pem", key), write_cert(tmp_path / "cert.pem", cert)


@pytest.fixture(scope="session")
def rsa2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- keys init ---------------------------------------------------------------------------


@posix_only
def test_init_writes_key_certificate_and_csr(tmp_path: Path) -> None:
    out = tmp_path / "new" / "keys"
    result = init_keys(out, now=NOW)
    assert result.key == out / KEY_FILE_NAME
    assert result.certificate == out / CERT_FILE_NAME
    assert result.csr == out / CSR_FILE_NAME
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [KEY_FILE_NAME, CERT_FILE_NAME, CSR_FILE_NAME]
    )
    assert _mode(result.key) == 0o600
    assert _mode(out) == 0o700
    pem = result.key.read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)


def test_init_certificate_has_subject_usages_and_validity(tmp_path: Path) -> None:
    subject = "CN=Report signer,O=Example GmbH,C=DE"
    result = init_keys(tmp_path, subject=subject, days=90, now=NOW)
    cert = x509.load_pem_x509_certificate(result.certificate.read_bytes())
    key = serialization.load_pem_private_key(result.key.read_bytes(), password=None)
    assert cert.subject.rfc4514_string() == subject
    assert cert.issuer == cert.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Report signer"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not usage.value.key_encipherment
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca is False
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())  # type: ignore[arg-type]
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=90)
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(cert)  # self-signed with the new key


def test_init_csr_verifies_and_matches_the_key(tmp_path: Path) -> None:
    result = init_keys(tmp_path, subject="CN=Signer,O=Org", now=NOW)
    csr = x509.load_pem_x509_csr(result.csr.read_bytes())
    key = serialization.load_pem_private_key(result.key.read_bytes(), password=None)
    assert csr.is_signature_valid
    assert csr.public_key() == key.public_key()
    assert csr.subject.rfc4514_string() == "CN=Signer,O=Org"
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    first = init_keys(tmp_path, now=NOW)
    before = {p: p.read_bytes() for p in (first.key, first.certificate, first.csr)}
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path, now=NOW)
    assert caught.value.code == "FILE_EXISTS"
    assert str(first.key) in str(caught.value)
    assert {d.source for d in caught.value.diagnostics()} == {str(p) for p in before}
    assert {p: p.read_bytes() for p in before} == before


def test_init_refuses_when_any_one_file_exists(tmp_path: Path) -> None:
    (tmp_path / CSR_FILE_NAME).write_text("someone else's request")
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path, now=NOW)
    assert caught.value.code == "FILE_EXISTS"
    assert CSR_FILE_NAME in str(caught.value)
    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert not (tmp_path / CERT_FILE_NAME).exists()


@posix_only
def test_init_force_overwrites_and_keeps_the_key_private(tmp_path: Path) -> None:
    first = init_keys(tmp_path, now=NOW)
    old_key = first.key.read_bytes()
    old_cert = first.certificate.read_bytes()
    first.key.chmod(0o644)
    second = init_keys(tmp_path, force=True, now=NOW)
    assert second.key.read_bytes() != old_key
    assert second.certificate.read_bytes() != old_cert
    assert _mode(second.key) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [KEY_FILE_NAME, CERT_FILE_NAME, CSR_FILE_NAME]
    )  # no temporary files left behind


def test_init_encrypted_key_needs_the_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, "correct horse battery staple")
    result = init_keys(tmp_path, passphrase_env=PASS_ENV, now=NOW)
    assert result.key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=result.key, cert=result.certificate)
    assert caught.value.code == "PASSPHRASE_REQUIRED"
    identity = load_identity(key=result.key, cert=result.certificate, passphrase_env=PASS_ENV)
    assert identity.algorithm == "ecdsa-p256"
    monkeypatch.setenv(PASS_ENV, "wrong")
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=result.key, cert=result.certificate, passphrase_env=PASS_ENV)
    assert caught.value.code == "BAD_PASSPHRASE"
    assert PASS_ENV in str(caught.value)


def test_init_unset_passphrase_variable_is_named_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path / "k", passphrase_env=PASS_ENV, now=NOW)
    assert caught.value.code == "PASSPHRASE_ENV_UNSET"
    assert PASS_ENV in str(caught.value)
    assert not (tmp_path / "k").exists()
    monkeypatch.setenv(PASS_ENV, "")
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path / "k", passphrase_env=PASS_ENV, now=NOW)
    assert caught.value.code == "PASSPHRASE_ENV_EMPTY"


@pytest.mark.parametrize(
    "subject",
    [
        "",
        "   ",
        "hello",
        "CN=",
        "CN=a,XX=b",
        "O=Only an organisation",
        "CN=a+O=b",
        "CN=a,CN=b",
        "CN=x,C=Germany",
        "CN=x,C=de",
        "CN= padded",
        "CN=" + "x" * 65,
        "2.5.4.3=#0c0161",  # a raw OID value is not what --subject means
    ],
)
def test_init_rejects_junk_subjects(tmp_path: Path, subject: str) -> None:
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path, subject=subject, now=NOW)
    assert caught.value.code == "BAD_SUBJECT"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "subject",
    ["CN=Signer", "CN=Signer,O=Example\\, Inc.,C=US", "CN=Ops,OU=Security,O=Org,L=Berlin"],
)
def test_init_accepts_proper_subjects(tmp_path: Path, subject: str) -> None:
    result = init_keys(tmp_path, subject=subject, now=NOW)
    cert = x509.load_pem_x509_certificate(result.certificate.read_bytes())
    assert cert.subject.rfc4514_string() == subject


@pytest.mark.parametrize("days", [0, -1, 36501])
def test_init_rejects_bad_days(tmp_path: Path, days: int) -> None:
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path, days=days, now=NOW)
    assert caught.value.code == "BAD_DAYS"


def test_init_rejects_a_file_as_out_and_a_naive_now(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError) as caught:
        init_keys(target, now=NOW)
    assert caught.value.code == "NOT_A_DIRECTORY"
    with pytest.raises(UsageError) as caught:
        init_keys(tmp_path / "d", now=datetime(2026, 1, 1))
    assert caught.value.code == "NAIVE_DATETIME"


# --- load_identity -------------------------------------------------------------------------


def test_load_ecdsa_p256_from_keys_init(tmp_path: Path) -> None:
    result = init_keys(tmp_path, subject="CN=Signer,O=Org")
    identity = load_identity(key=result.key, cert=result.certificate)
    assert identity.algorithm == "ecdsa-p256"
    assert identity.subject == "CN=Signer,O=Org"
    assert identity.demo is False
    assert identity.chain == ()
    assert identity.warnings == ()
    assert identity.certificate.public_key() == identity.private_key.public_key()


def test_load_rsa_2048(tmp_path: Path, rsa2048: rsa.RSAPrivateKey) -> None:
    key, cert = write_pair(tmp_path, rsa2048, make_cert(rsa2048, "CN=RSA signer"))
    identity = load_identity(key=key, cert=cert, now=NOW)
    assert identity.algorithm == "rsa-2048"
    assert identity.subject == "CN=RSA signer"
    assert identity.warnings == ()


def test_load_rejects_rsa_1024(tmp_path: Path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    key, cert = write_pair(tmp_path, small, make_cert(small, "CN=Small"))
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert, now=NOW)
    assert caught.value.code == "UNSUPPORTED_SIGNING_KEY"
    assert "2048" in str(caught.value)


def test_load_ed25519_with_a_pdf_warning(tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key, cert = write_pair(tmp_path, private, make_cert(private, "CN=Ed signer"))
    identity = load_identity(key=key, cert=cert, now=NOW)
    assert identity.algorithm == "ed25519"
    assert len(identity.warnings) == 1
    assert "PDF 2.0" in identity.warnings[0]
    assert "PDF/A-3" in identity.warnings[0]


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1()])
def test_load_rejects_curves_other_than_p256(tmp_path: Path, curve: ec.EllipticCurve) -> None:
    private = ec.generate_private_key(curve)
    key, cert = write_pair(tmp_path, private, make_cert(private, "CN=Curve"))
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert, now=NOW)
    assert caught.value.code == "UNSUPPORTED_SIGNING_KEY"
    assert "P-256" in str(caught.value)
    assert curve.name in str(caught.value)


@pytest.mark.parametrize(
    "make_key",
    [ed448.Ed448PrivateKey.generate, lambda: dsa.generate_private_key(key_size=2048)],
    ids=["ed448", "dsa"],
)
def test_load_rejects_other_key_types(tmp_path: Path, make_key: object) -> None:
    other = make_key()  # type: ignore[operator]
    p256 = ec.generate_private_key(ec.SECP256R1())
    key = write_key(tmp_path / "key.pem", other)
    cert = write_cert(tmp_path / "cert.pem", make_cert(p256, "CN=Other"))
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert, now=NOW)
    assert caught.value.code == "UNSUPPORTED_SIGNING_KEY"


def test_load_rejects_a_key_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    mine = ec.generate_private_key(ec.SECP256R1())
    theirs = ec.generate_private_key(ec.SECP256R1())
    key, cert = write_pair(tmp_path, mine, make_cert(theirs, "CN=Someone else"))
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert, now=NOW)
    assert caught.value.code == "KEY_CERTIFICATE_MISMATCH"
    assert "CN=Someone else" in str(caught.value)


def test_load_names_an_unset_passphrase_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASS_ENV, raising=False)
    result = init_keys(tmp_path)
    with pytest.raises(UsageError) as caught:
        load_identity(key=result.key, cert=result.certificate, passphrase_env=PASS_ENV)
    assert caught.value.code == "PASSPHRASE_ENV_UNSET"
    assert PASS_ENV in str(caught.value)


def test_load_warns_when_a_passphrase_is_given_for_a_plain_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, "unused")
    result = init_keys(tmp_path)
    identity = load_identity(key=result.key, cert=result.certificate, passphrase_env=PASS_ENV)
    assert any("not encrypted" in w for w in identity.warnings)


def _p12(
    tmp_path: Path, password: bytes, *, with_ca: bool = True
) -> tuple[Path, x509.Certificate, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = make_cert(ca_key, "CN=Org CA,O=Org", ca=True, key_usage=None)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(key, "CN=P12 signer,O=Org", issuer=(ca, ca_key))
    blob = pkcs12.serialize_key_and_certificates(
        b"signer",
        key,
        leaf,
        [ca] if with_ca else None,
        serialization.BestAvailableEncryption(password),
    )
    path = tmp_path / "signer.p12"
    path.write_bytes(blob)
    path.chmod(0o600)
    return path, leaf, ca


def test_load_pkcs12_with_passphrase_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, leaf, ca = _p12(tmp_path, b"p12 secret")
    monkeypatch.setenv(PASS_ENV, "p12 secret")
    identity = load_identity(p12=path, passphrase_env=PASS_ENV, now=NOW)
    assert identity.algorithm == "ecdsa-p256"
    assert identity.certificate == leaf
    assert identity.chain == (ca,)
    assert identity.subject == "CN=P12 signer,O=Org"
    assert identity.warnings == ()


def test_load_pkcs12_passphrase_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, _ = _p12(tmp_path, b"p12 secret")
    monkeypatch.setenv(PASS_ENV, "not it")
    with pytest.raises(KeyStoreError) as caught:
        load_identity(p12=path, passphrase_env=PASS_ENV, now=NOW)
    assert caught.value.code == "BAD_PASSPHRASE"
    with pytest.raises(KeyStoreError) as caught:
        load_identity(p12=path, now=NOW)
    assert caught.value.code == "PASSPHRASE_REQUIRED"
    monkeypatch.delenv(PASS_ENV)
    with pytest.raises(UsageError) as unset:
        load_identity(p12=path, passphrase_env=PASS_ENV, now=NOW)
    assert unset.value.code == "PASSPHRASE_ENV_UNSET"
    assert PASS_ENV in str(unset.value)


def test_load_rejects_a_file_that_is_not_pkcs12(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junk = tmp_path / "junk.p12"
    junk.write_bytes(b"definitely not DER")
    monkeypatch.setenv(PASS_ENV, "x")
    with pytest.raises(KeyStoreError) as caught:
        load_identity(p12=junk, passphrase_env=PASS_ENV, now=NOW)
    assert caught.value.code == "BAD_PKCS12"
    assert caught.value.diagnostics()[0].source == str(junk)


def test_load_chain_files_and_certificate_bundles(tmp_path: Path) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_cert(root_key, "CN=Root", ca=True, key_usage=None)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = make_cert(mid_key, "CN=Intermediate", ca=True, key_usage=None, issuer=(root, root_key))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(key, "CN=Leaf", issuer=(mid, mid_key))
    key_path = write_key(tmp_path / "key.pem", key)
    bundle = write_cert(tmp_path / "bundle.pem", leaf, mid)
    roots = write_cert(tmp_path / "root.pem", root)
    identity = load_identity(key=key_path, cert=bundle, chain=[roots], now=NOW)
    assert identity.certificate == leaf
    assert identity.chain == (mid, root)
    separate = load_identity(
        key=key_path,
        cert=write_cert(tmp_path / "leaf.pem", leaf),
        chain=[write_cert(tmp_path / "mid.pem", mid), roots, roots],
        now=NOW,
    )
    assert separate.chain == (mid, root)  # duplicates dropped, order kept


@posix_only
def test_load_warns_about_a_key_file_readable_by_others(tmp_path: Path) -> None:
    result = init_keys(tmp_path)
    assert load_identity(key=result.key, cert=result.certificate).warnings == ()
    result.key.chmod(0o640)
    warnings = load_identity(key=result.key, cert=result.certificate).warnings
    assert len(warnings) == 1
    assert "has mode 0640, so its group can access it; run chmod 600" in warnings[0]
    assert "0640" in warnings[0]


def test_load_warns_about_missing_key_usages(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key, cert = write_pair(tmp_path, private, make_cert(private, "CN=X", key_usage=(True, False)))
    warnings = load_identity(key=key, cert=cert, now=NOW).warnings
    assert len(warnings) == 1
    assert "nonRepudiation" in warnings[0]
    assert "digitalSignature" not in warnings[0]
    cert = write_cert(tmp_path / "none.pem", make_cert(private, "CN=X", key_usage=None))
    assert load_identity(key=key, cert=cert, now=NOW).warnings == ()


def test_load_rejects_expired_and_future_certificates(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    old = make_cert(private, "CN=Old", not_before=NOW - timedelta(days=30), not_after=NOW)
    key, cert = write_pair(tmp_path, private, old)
    assert load_identity(key=key, cert=cert, now=NOW).subject == "CN=Old"  # last valid second
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert, now=NOW + timedelta(seconds=1))
    assert caught.value.code == "CERTIFICATE_EXPIRED"
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert)  # the real clock: long after 2026-10-01
    assert caught.value.code == "CERTIFICATE_EXPIRED"
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=key, cert=cert, now=NOW - timedelta(days=31))
    assert caught.value.code == "CERTIFICATE_NOT_YET_VALID"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "no signing key"),
        ({"key": Path("k.pem")}, "--sign-key needs --sign-cert"),
        ({"cert": Path("c.pem")}, "--sign-cert needs --sign-key"),
        ({"p12": Path("a.p12"), "key": Path("k.pem")}, "not both"),
    ],
)
def test_load_needs_exactly_one_kind_of_identity(kwargs: dict[str, Path], fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_identity(**kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "SIGNING_OPTIONS"
    assert fragment in str(caught.value)


def test_load_reports_missing_and_garbled_files(tmp_path: Path) -> None:
    result = init_keys(tmp_path)
    missing = tmp_path / "nope.pem"
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=missing, cert=result.certificate)
    assert caught.value.code == "FILE_NOT_FOUND"
    assert caught.value.diagnostics()[0].source == str(missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=garbage, cert=result.certificate)
    assert caught.value.code == "BAD_PRIVATE_KEY"
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=result.key, cert=garbage)
    assert caught.value.code == "BAD_CERTIFICATE"
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=result.key, cert=result.certificate, chain=[result.csr])
    assert caught.value.code == "BAD_CERTIFICATE"


def test_load_accepts_der_files(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = tmp_path / "key.der"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    cert = tmp_path / "cert.der"
    cert.write_bytes(make_cert(private, "CN=DER").public_bytes(serialization.Encoding.DER))
    assert load_identity(key=key, cert=cert, now=NOW).subject == "CN=DER"


def test_errors_are_evidence_errors_with_one_line_messages(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError) as caught:
        load_identity(key=tmp_path / "a", cert=tmp_path / "b")
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


# --- the demo identity ---------------------------------------------------------------------


def test_demo_identity_is_marked_untrusted() -> None:
    identity = demo_identity(not_before=NOW)
    assert identity.demo is True
    assert identity.subject == DEMO_SUBJECT
    assert "UNTRUSTED DEMO SIGNATURE" in identity.subject
    assert identity.algorithm == "ecdsa-p256"
    assert any("UNTRUSTED DEMO SIGNATURE" in w for w in identity.warnings)
    cert = identity.certificate
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=2)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.content_commitment
    assert cert.public_key() == identity.private_key.public_key()
    cert.verify_directly_issued_by(cert)


def test_demo_keys_are_ephemeral() -> None:
    first, second = demo_identity(not_before=NOW), demo_identity(not_before=NOW)
    assert first.certificate.public_key() != second.certificate.public_key()


def test_identity_properties_for_each_algorithm(rsa2048: rsa.RSAPrivateKey) -> None:
    ed = ed25519.Ed25519PrivateKey.generate()
    identity = SigningIdentity(ed, make_cert(ed, "CN=E,O=F"))
    assert (identity.algorithm, identity.subject) == ("ed25519", "CN=E,O=F")
    identity = SigningIdentity(rsa2048, make_cert(rsa2048, "CN=R"), notes=("n",))
    assert (identity.algorithm, identity.warnings) == ("rsa-2048", ("n",))
