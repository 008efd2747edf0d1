"""Report signing identities: `keys init`, loading PEM / PKCS#12 keys, and the demo key.

Decisions (see DESIGN.md, "Signing"):

* Accepted keys: ECDSA on P-256 only, RSA of 2048 bits or more, and Ed25519 (with a
  warning: Ed25519 makes the PDF a PDF 2.0 file, not PDF/A-3). P-384 and every other
  curve are refused (``UNSUPPORTED_SIGNING_KEY``): the issue asks for P-256, and
  `SigningIdentity.algorithm` names a closed set of algorithms.
* A certificate that is expired or not yet valid is an error (``CERTIFICATE_EXPIRED``,
  ``CERTIFICATE_NOT_YET_VALID``), not a warning: a report signed with it would fail
  verification from the moment it is written.
* A certificate whose key usage extension lacks digitalSignature or nonRepudiation gets a
  warning; a certificate without the extension (no restriction, RFC 5280) gets none.
* A private key file (PEM, DER or PKCS#12) with any group/other permission bit set gets
  a warning naming the file, its mode and the fix (``chmod 600``), not an error:
  containers often mount secrets 0644, but the operator must see it.
* Passphrases come only from an environment variable named on the command line or in
  the config, never from an argument; an unset or empty variable is an error naming the
  variable, and a "name" that is not a variable name is refused without echoing it (it
  may be the passphrase itself, pasted in the wrong place). No message, warning or
  artefact ever carries a passphrase or private key material.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from reporting.errors import Diagnostic, DiagnosticCode, KeyStoreError, UsageError

__all__ = [
    "CERT_FILE_NAME",
    "CSR_FILE_NAME",
    "DEFAULT_SUBJECT",
    "DEMO_SUBJECT",
    "DEMO_WARNING",
    "ED25519_WARNING",
    "KEY_FILE_NAME",
    "InitResult",
    "PrivateKey",
    "SigningIdentity",
    "demo_identity",
    "init_keys",
    "load_identity",
    "parse_subject",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

DEMO_SUBJECT = "CN=UNTRUSTED DEMO SIGNATURE,O=Agent Evidence demo"
DEFAULT_SUBJECT = "CN=Agent Evidence report signer"
ED25519_WARNING = "Ed25519 signing key: the PDF becomes PDF 2.0, not PDF/A-3"
DEMO_WARNING = "UNTRUSTED DEMO SIGNATURE: ephemeral key, nobody can vouch for the signer"
KEY_FILE_NAME = "signing-key.pem"
CERT_FILE_NAME = "signing-cert.pem"
CSR_FILE_NAME = "signing.csr.pem"

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MIN_RSA_BITS = 2048
MAX_DAYS = 36500
DEMO_VALIDITY = timedelta(days=2)

# Attribute names `--subject` accepts (RFC 4514 keywords plus the usual extras).
_SUBJECT_ATTRIBUTES = {
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STREET_ADDRESS,
    NameOID.DOMAIN_COMPONENT,
    NameOID.USER_ID,
    NameOID.EMAIL_ADDRESS,
    NameOID.SERIAL_NUMBER,
}


@dataclass(frozen=True)
class SigningIdentity:
    """A private key, its certificate and the certificates chaining it to a CA.

    ``notes`` carries warnings found while loading (file permissions, key usage); the
    ``warnings`` property adds the ones that follow from the key itself.
    """

    private_key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    demo: bool = False
    notes: tuple[str, ...] = ()

    @property
    def algorithm(self) -> str:
        key = self.private_key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if isinstance(key.curve, ec.SECP256R1):
                return "ecdsa-p256"
            return f"ecdsa-{key.curve.name}"
        if isinstance(key, rsa.RSAPrivateKey):
            return f"rsa-{key.key_size}"
        return "ed25519"

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def warnings(self) -> tuple[str, ...]:
        found: list[str] = []
        if self.demo:
            found.append(DEMO_WARNING)
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            found.append(ED25519_WARNING)
        found.extend(self.notes)
        return tuple(found)


@dataclass(frozen=True)
class InitResult:
    key: Path
    certificate: Path
    csr: Path


# --- helpers --------------------------------------------------------------------------


def _utc(moment: datetime | None, what: str) -> datetime:
    if moment is None:
        return datetime.now(UTC).replace(microsecond=0)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageError(
            Diagnostic(DiagnosticCode.NAIVE_DATETIME, f"{what} must carry a time zone")
        )
    return moment.astimezone(UTC).replace(microsecond=0)


def _passphrase(env: str | None) -> bytes | None:
    if env is None:
        return None
    if not _VARIABLE_NAME.fullmatch(env):
        raise UsageError(
            Diagnostic(
                DiagnosticCode.PASSPHRASE_ENV_INVALID,
                "--passphrase-env takes the NAME of an environment variable (letters, digits "
                "and _), not the passphrase; the value given is not shown",
            )
        )
    value = os.environ.get(env)
    if value is None:
        raise UsageError(
            Diagnostic(
                DiagnosticCode.PASSPHRASE_ENV_UNSET,
                f"the passphrase environment variable {env} is not set",
            )
        )
    if value == "":
        raise UsageError(
            Diagnostic(
                DiagnosticCode.PASSPHRASE_ENV_EMPTY,
                f"the passphrase environment variable {env} is empty",
            )
        )
    return value.encode("utf-8")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyStoreError(
            Diagnostic(DiagnosticCode.FILE_NOT_FOUND, f"{what} {path} does not exist", str(path))
        ) from exc
    except IsADirectoryError as exc:
        raise KeyStoreError(
            Diagnostic(DiagnosticCode.FILE_UNREADABLE, f"{what} {path} is a directory", str(path))
        ) from exc
    except OSError as exc:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.FILE_UNREADABLE,
                f"cannot read {what} {path}: {exc.strerror}",
                str(path),
            )
        ) from exc


def _permission_note(path: Path) -> tuple[str, ...]:
    """A warning when other users may read (or change) a private key file."""
    if os.name != "posix":
        return ()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return ()
    if not mode & 0o077:
        return ()
    classes = (("its group", 0o070), ("other users", 0o007))
    who = " and ".join(name for name, bits in classes if mode & bits)
    return (
        f"private key file {path} has mode {mode:04o}, so {who} can access it; "
        f"run chmod 600 {path}",
    )


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN" in data


def _is_encrypted_pem(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data


def _load_private_key(
    data: bytes, path: Path, password: bytes | None, env: str | None
) -> tuple[object, tuple[str, ...]]:
    source = str(path)
    loader = (
        serialization.load_pem_private_key if _is_pem(data) else serialization.load_der_private_key
    )
    notes: tuple[str, ...] = ()
    if password is not None and _is_pem(data) and not _is_encrypted_pem(data):
        notes = (f"passphrase variable {env} given, but key file {path} is not encrypted",)
        password = None
    try:
        return loader(data, password=password), notes
    except TypeError as exc:
        if password is None:
            raise KeyStoreError(
                Diagnostic(
                    DiagnosticCode.PASSPHRASE_REQUIRED,
                    f"private key {path} is encrypted: name the environment variable "
                    "holding its passphrase",
                    source,
                )
            ) from exc
        # An unencrypted DER key with a passphrase given: load it without.
        try:
            key = loader(data, password=None)
        except (TypeError, ValueError) as inner:
            raise KeyStoreError(
                Diagnostic(
                    DiagnosticCode.BAD_PRIVATE_KEY, f"cannot load private key {path}", source
                )
            ) from inner
        return key, (f"passphrase variable {env} given, but key file {path} is not encrypted",)
    except ValueError as exc:
        if password is not None:
            raise KeyStoreError(
                Diagnostic(
                    DiagnosticCode.BAD_PASSPHRASE,
                    f"cannot decrypt private key {path} with the passphrase in {env} "
                    "(wrong passphrase, or a damaged key)",
                    source,
                )
            ) from exc
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_PRIVATE_KEY,
                f"{path} is not a PEM or DER (PKCS#8, PKCS#1 or SEC1) private key",
                source,
            )
        ) from exc
    except (OverflowError, IndexError) as exc:  # pragma: no cover - defensive
        raise KeyStoreError(
            Diagnostic(DiagnosticCode.BAD_PRIVATE_KEY, f"cannot load private key {path}", source)
        ) from exc


def _check_key(key: object, source: str) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyStoreError(
                Diagnostic(
                    DiagnosticCode.UNSUPPORTED_SIGNING_KEY,
                    f"ECDSA signing keys must use curve P-256 (secp256r1), not {key.curve.name}",
                    source,
                )
            )
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyStoreError(
                Diagnostic(
                    DiagnosticCode.UNSUPPORTED_SIGNING_KEY,
                    f"RSA signing keys need at least {MIN_RSA_BITS} bits, "
                    f"this one has {key.key_size}",
                    source,
                )
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise KeyStoreError(
        Diagnostic(
            DiagnosticCode.UNSUPPORTED_SIGNING_KEY,
            f"unsupported signing key type {type(key).__name__}: use ECDSA P-256, "
            f"RSA >= {MIN_RSA_BITS} bits or Ed25519",
            source,
        )
    )


def _load_certificates(data: bytes, path: Path, what: str) -> list[x509.Certificate]:
    try:
        if _is_pem(data):
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_CERTIFICATE,
                f"{what} {path} is not a PEM or DER X.509 certificate",
                str(path),
            )
        ) from exc
    if not certs:  # pragma: no cover - load_pem_x509_certificates raises instead
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_CERTIFICATE, f"{what} {path} holds no certificate", str(path)
            )
        )
    return certs


def _spki(key: object) -> bytes:
    if not isinstance(
        key,
        ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey,
    ):
        return b""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_certificate(
    key: PrivateKey, cert: x509.Certificate, source: str, now: datetime
) -> tuple[str, ...]:
    try:
        cert_key = cert.public_key()
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_CERTIFICATE,
                f"certificate {source} has an unreadable public key",
                source,
            )
        ) from exc
    if _spki(cert_key) != _spki(key.public_key()):
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.KEY_CERTIFICATE_MISMATCH,
                f"the private key does not belong to certificate {source} "
                f"({cert.subject.rfc4514_string()})",
                source,
            )
        )
    if now > cert.not_valid_after_utc:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.CERTIFICATE_EXPIRED,
                f"certificate {source} ({cert.subject.rfc4514_string()}) expired on "
                f"{cert.not_valid_after_utc.isoformat()}",
                source,
            )
        )
    if now < cert.not_valid_before_utc:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.CERTIFICATE_NOT_YET_VALID,
                f"certificate {source} ({cert.subject.rfc4514_string()}) is valid only from "
                f"{cert.not_valid_before_utc.isoformat()}",
                source,
            )
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    missing = [
        name
        for name, present in (
            ("digitalSignature", usage.digital_signature),
            ("nonRepudiation", usage.content_commitment),
        )
        if not present
    ]
    if missing:
        return (
            f"certificate {source} key usage lacks {' and '.join(missing)}; "
            "validators may reject the signature",
        )
    return ()


def _load_p12(
    path: Path, password: bytes | None, env: str | None
) -> tuple[object, x509.Certificate, list[x509.Certificate]]:
    data = _read(path, "PKCS#12 file")
    source = str(path)
    try:
        asn1_pkcs12.Pfx.load(data)["version"].native  # noqa: B018 - parse check
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_PKCS12, f"{path} is not a PKCS#12 (.p12/.pfx) file", source
            )
        ) from exc
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError as exc:
        if password is None:
            raise KeyStoreError(
                Diagnostic(
                    DiagnosticCode.PASSPHRASE_REQUIRED,
                    f"PKCS#12 file {path} is protected: name the environment variable "
                    "holding its passphrase",
                    source,
                )
            ) from exc
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_PASSPHRASE,
                f"cannot open PKCS#12 file {path} with the passphrase in {env} "
                "(wrong passphrase, or a damaged file)",
                source,
            )
        ) from exc
    except (TypeError, OverflowError) as exc:  # pragma: no cover - defensive
        raise KeyStoreError(
            Diagnostic(DiagnosticCode.BAD_PKCS12, f"cannot read PKCS#12 file {path}", source)
        ) from exc
    if key is None:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_PKCS12, f"PKCS#12 file {path} holds no private key", source
            )
        )
    if cert is None:
        raise KeyStoreError(
            Diagnostic(
                DiagnosticCode.BAD_PKCS12, f"PKCS#12 file {path} holds no certificate", source
            )
        )
    return key, cert, list(extra)


def _usage(message: str) -> UsageError:
    return UsageError(Diagnostic(DiagnosticCode.SIGNING_OPTIONS, message))


# --- loading --------------------------------------------------------------------------


def load_identity(
    *,
    key: Path | None = None,
    cert: Path | None = None,
    chain: Sequence[Path] = (),
    p12: Path | None = None,
    passphrase_env: str | None = None,
    now: datetime | None = None,
) -> SigningIdentity:
    """Load ``--sign-key``/``--sign-cert`` (+ ``--sign-chain``) or ``--sign-p12``.

    The passphrase (for an encrypted key or the PKCS#12 file) is read only from
    ``os.environ[passphrase_env]``. ``now`` (default: the current time) is the moment
    the certificate must be valid at.
    """
    if p12 is not None and (key is not None or cert is not None):
        raise _usage("give either --sign-p12 or --sign-key with --sign-cert, not both")
    if p12 is None:
        if key is None and cert is None:
            raise _usage("no signing key: give --sign-key with --sign-cert, or --sign-p12")
        if key is None:
            raise _usage("--sign-cert needs --sign-key (the certificate's private key)")
        if cert is None:
            raise _usage("--sign-key needs --sign-cert (the key's X.509 certificate)")
    at = _utc(now, "now")
    password = _passphrase(passphrase_env)

    notes: list[str] = []
    certs: list[x509.Certificate]
    if p12 is not None:
        notes.extend(_permission_note(p12))
        raw_key, leaf, extra = _load_p12(p12, password, passphrase_env)
        key_source = cert_source = str(p12)
        certs = [leaf, *extra]
    else:
        assert key is not None
        assert cert is not None
        notes.extend(_permission_note(key))
        raw_key, key_notes = _load_private_key(
            _read(key, "private key"), key, password, passphrase_env
        )
        notes.extend(key_notes)
        key_source, cert_source = str(key), str(cert)
        certs = _load_certificates(_read(cert, "certificate"), cert, "certificate")
    private_key = _check_key(raw_key, key_source)
    for path in chain:
        certs.extend(_load_certificates(_read(path, "chain file"), path, "chain file"))
    leaf_cert, rest = certs[0], certs[1:]
    notes.extend(_check_certificate(private_key, leaf_cert, cert_source, at))
    unique: list[x509.Certificate] = []
    for extra_cert in rest:
        if extra_cert != leaf_cert and extra_cert not in unique:
            unique.append(extra_cert)
    return SigningIdentity(
        private_key=private_key,
        certificate=leaf_cert,
        chain=tuple(unique),
        notes=tuple(notes),
    )


# --- creating -------------------------------------------------------------------------


def parse_subject(subject: str) -> x509.Name:
    """Parse ``"CN=…,O=…,C=…"`` strictly: known attributes, one value each, a CN."""

    def bad(reason: str) -> UsageError:
        return UsageError(
            Diagnostic(
                DiagnosticCode.BAD_SUBJECT,
                f'--subject {subject!r} {reason}; expected e.g. "CN=Report signer,O=Example,C=DE"',
            )
        )

    if not subject.strip():
        raise bad("is empty")
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError as exc:
        raise bad(f"is not an RFC 4514 name ({exc})") from exc
    seen: set[x509.ObjectIdentifier] = set()
    for rdn in name.rdns:
        if len(rdn) != 1:
            raise bad("has a multi-valued component ('+')")
        (attribute,) = list(rdn)
        if attribute.oid not in _SUBJECT_ATTRIBUTES:
            raise bad(f"uses an unsupported attribute {attribute.oid.dotted_string}")
        if attribute.oid in seen:
            raise bad(f"repeats {attribute.rfc4514_attribute_name}")
        seen.add(attribute.oid)
        value = attribute.value
        if not isinstance(value, str) or not value.strip():
            raise bad(f"has an empty {attribute.rfc4514_attribute_name}")
        if value != value.strip():
            raise bad(f"has spaces around the {attribute.rfc4514_attribute_name} value")
        if attribute.oid == NameOID.COUNTRY_NAME and not (
            len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()
        ):
            raise bad("has a country that is not a two-letter upper-case code")
        if attribute.oid == NameOID.COMMON_NAME and len(value) > 64:
            raise bad("has a CN longer than 64 characters")
    if NameOID.COMMON_NAME not in seen:
        raise bad("has no CN")
    return name


# digitalSignature + nonRepudiation (content_commitment): a report signer, nothing more.
SIGNER_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _signer_extensions(
    builder: x509.CertificateBuilder, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (
        builder.add_extension(
            SIGNER_KEY_USAGE,
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
    )


def _self_signed(
    key: ec.EllipticCurvePrivateKey, name: x509.Name, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    return _signer_extensions(builder, key.public_key()).sign(key, hashes.SHA256())


def demo_identity(*, not_before: datetime) -> SigningIdentity:
    """An ephemeral ECDSA P-256 key, self-signed as "UNTRUSTED DEMO SIGNATURE" for 2 days."""
    start = _utc(not_before, "not_before")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string(DEMO_SUBJECT)
    cert = _self_signed(key, name, start, start + DEMO_VALIDITY)
    return SigningIdentity(private_key=key, certificate=cert, demo=True)


def _csr(key: ec.EllipticCurvePrivateKey, name: x509.Name) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .add_extension(
            SIGNER_KEY_USAGE,
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, *, mode: int, force: bool) -> None:
    """Write ``data`` with ``mode`` from the first byte on; replace atomically with force."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    if not force:
        try:
            fd = os.open(path, flags, mode)
        except FileExistsError as exc:
            raise UsageError(
                Diagnostic(
                    DiagnosticCode.FILE_EXISTS,
                    f"{path} exists; pass --force to overwrite it",
                    str(path),
                )
            ) from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def init_keys(
    out: Path,
    *,
    subject: str = DEFAULT_SUBJECT,
    days: int = 365,
    passphrase_env: str | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> InitResult:
    """`keys init`: an ECDSA P-256 key (0600), a self-signed certificate and a CSR in ``out``."""
    name = parse_subject(subject)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise UsageError(
            Diagnostic(
                DiagnosticCode.BAD_DAYS, f"--days must be a whole number from 1 to {MAX_DAYS}"
            )
        )
    start = _utc(now, "now")
    password = _passphrase(passphrase_env)
    result = InitResult(
        key=out / KEY_FILE_NAME, certificate=out / CERT_FILE_NAME, csr=out / CSR_FILE_NAME
    )
    if out.exists() and not out.is_dir():
        raise UsageError(
            Diagnostic(
                DiagnosticCode.NOT_A_DIRECTORY,
                f"--out {out} exists and is not a directory",
                str(out),
            )
        )
    targets = (result.key, result.certificate, result.csr)
    if not force:
        existing = [path for path in targets if path.exists() or path.is_symlink()]
        if existing:
            raise UsageError(
                [
                    Diagnostic(
                        DiagnosticCode.FILE_EXISTS,
                        f"{path} exists; pass --force to overwrite it",
                        str(path),
                    )
                    for path in existing
                ]
            )
    if not out.exists():
        try:
            out.mkdir(mode=0o700, parents=True)
            out.chmod(0o700)
        except OSError as exc:
            raise UsageError(
                Diagnostic(
                    DiagnosticCode.CANNOT_CREATE_DIRECTORY,
                    f"cannot create {out}: {exc.strerror}",
                    str(out),
                )
            ) from exc

    key = ec.generate_private_key(ec.SECP256R1())
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password is not None
        else serialization.NoEncryption()
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    cert = _self_signed(key, name, start, start + timedelta(days=days))
    csr = _csr(key, name)
    try:
        _write(result.key, key_pem, mode=0o600, force=force)
        _write(
            result.certificate,
            cert.public_bytes(serialization.Encoding.PEM),
            mode=0o644,
            force=force,
        )
        _write(result.csr, csr.public_bytes(serialization.Encoding.PEM), mode=0o644, force=force)
    except OSError as exc:
        raise UsageError(
            Diagnostic(
                DiagnosticCode.CANNOT_WRITE,
                f"cannot write to {out}: {exc.strerror}",
                exc.filename if isinstance(exc.filename, str) else str(out),
            )
        ) from exc
    return result
