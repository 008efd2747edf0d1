"""Trusted issuer keys: PEM files, daemon key directories and YAML trust stores.

Fingerprints are ``sha256:`` + hex of the raw 32-byte Ed25519 key, never of the PEM.
A chain's genesis key is not named anywhere in it: the verifier tries every key
trusted for the chain's issuer on its first receipt (the daemon archives rotated keys
beside the current one, so the genesis key may be an old one).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from reporting.errors import Diagnostic, DiagnosticCode, KeyStoreError
from reporting.yamlio import LocatedDict, load_yaml

__all__ = [
    "PublicKey",
    "TrustEntry",
    "TrustStore",
    "decode_did_key",
    "decode_multibase_key",
    "did_key_from_raw",
    "fingerprint",
    "load_trust",
]

ED25519_MULTICODEC = b"\xed\x01"
DAEMON_KEY_NAME = "signing.key.pub"
MAX_KEY_FILE_BYTES = 64 << 10  # a PEM public key is a few hundred bytes
_KEY_FORMS = ("pem_file", "pem", "did_key", "multibase")


def fingerprint(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A raw Ed25519 public key and where we were told to trust it."""

    raw: bytes
    label: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)


@dataclass(frozen=True, slots=True)
class TrustEntry:
    """Keys trusted for one issuer (None: any issuer) on chains matching the globs."""

    issuer: str | None
    chain_globs: tuple[str, ...]
    keys: tuple[PublicKey, ...]

    def applies_to(self, issuer: str | None, chain_id: str) -> bool:
        if self.issuer is not None and self.issuer != issuer:
            return False
        return any(fnmatch.fnmatchcase(chain_id, glob) for glob in self.chain_globs)


@dataclass(frozen=True)
class TrustStore:
    """Every trusted key, and which issuer and chains each one may sign."""

    entries: tuple[TrustEntry, ...]
    source: str

    def candidates(self, issuer: str | None, chain_id: str) -> tuple[PublicKey, ...]:
        found: dict[bytes, PublicKey] = {}
        for entry in self.entries:
            if entry.applies_to(issuer, chain_id):
                for key in entry.keys:
                    found.setdefault(key.raw, key)
        return tuple(found.values())

    def fingerprints(self) -> list[dict[str, str | None]]:
        return [
            {"issuer": entry.issuer, "fingerprint": key.fingerprint, "source": key.label}
            for entry in self.entries
            for key in entry.keys
        ]


def _fail(message: str, source: str, line: int | None = None) -> KeyStoreError:
    return KeyStoreError(Diagnostic(DiagnosticCode.INVALID_KEY, message, source, line))


def _raw_from_pem(data: bytes, source: str, line: int | None = None, what: str = "") -> bytes:
    """The raw Ed25519 key of a PEM public key; `what` names the file inside a trust store."""
    prefix = f"{what}: " if what else ""
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        message = f"{prefix}not a PEM SubjectPublicKeyInfo public key ({exc})"
        raise _fail(message, source, line) from exc
    if not isinstance(key, Ed25519PublicKey):
        message = f"{prefix}key is {type(key).__name__}, Agent Receipts need Ed25519"
        raise _fail(message, source, line)
    return key.public_bytes_raw()


def _read_key_file(path: Path) -> bytes:
    """A key file's bytes. Symbolic links are followed (mounted secrets are links), but
    only to a regular file of at most MAX_KEY_FILE_BYTES: never a FIFO, device or
    directory, which could block or never end. Raises OSError or ValueError."""
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path} is not a regular file")
    if status.st_size > MAX_KEY_FILE_BYTES:
        raise ValueError(f"{path} is {status.st_size} bytes, not a public key file")
    with path.open("rb") as handle:
        return handle.read(MAX_KEY_FILE_BYTES)


def did_key_from_raw(raw: bytes) -> str:
    return "did:key:z" + base58.b58encode(ED25519_MULTICODEC + raw).decode("ascii")


def decode_multibase_key(value: str) -> bytes:
    """`u` + base64url or `z` + base58btc of the raw key (a multicodec 0xed01 prefix is allowed)."""
    if value.startswith("u"):
        body = value[1:]
        if "=" in body:
            raise ValueError("multibase 'u' is unpadded base64url")
        decoded = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    elif value.startswith("z"):
        decoded = base58.b58decode(value[1:])
    else:
        raise ValueError("multibase key must start with 'u' (base64url) or 'z' (base58btc)")
    if len(decoded) == 34 and decoded.startswith(ED25519_MULTICODEC):
        decoded = decoded[2:]
    if len(decoded) != 32:
        raise ValueError(f"an Ed25519 key has 32 bytes, found {len(decoded)}")
    return decoded


def decode_did_key(did: str) -> bytes:
    """did:key (multicodec 0xed01, base58btc `z`) → raw 32-byte Ed25519 key."""
    method_id = did.split("#", 1)[0].removeprefix("did:key:")
    if method_id == did or not method_id.startswith("z"):
        raise ValueError("did:key must be 'did:key:z…' (base58btc)")
    decoded = base58.b58decode(method_id[1:])
    if not decoded.startswith(ED25519_MULTICODEC) or len(decoded) != 34:
        raise ValueError("did:key is not an Ed25519 key (multicodec 0xed01, 32 bytes)")
    return decoded[2:]


def _key_from_entry(item: Any, base: Path, source: str, line: int) -> PublicKey:
    if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in _KEY_FORMS:
        raise _fail(f"a key is a mapping with exactly one of {', '.join(_KEY_FORMS)}", source, line)
    form, value = next(iter(item.items()))
    if not isinstance(value, str):
        raise _fail(f"{form} must be a string", source, line)
    label = f"{source}:{line}"
    try:
        if form == "pem_file":  # relative to the trust store; the label is the file read
            path = (base / value).resolve()
            what = f"pem_file {value!r} ({path})"
            return PublicKey(_raw_from_pem(_read_key_file(path), source, line, what), str(path))
        if form == "pem":
            return PublicKey(_raw_from_pem(value.encode("ascii"), source, line), label)
        if form == "did_key":
            return PublicKey(decode_did_key(value), label)
        return PublicKey(decode_multibase_key(value), label)
    except OSError as exc:
        raise _fail(f"cannot read {form} {value!r}: {exc.strerror}", source, line) from exc
    except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
        raise _fail(f"invalid {form}: {exc}", source, line) from exc


def _string_list(value: Any, what: str, source: str, line: int) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise _fail(f"{what} must be a non-empty list of strings", source, line)
    return tuple(value)


def _entry_from_yaml(item: Any, base: Path, source: str, line: int) -> TrustEntry:
    if not isinstance(item, LocatedDict):
        raise _fail("each issuer entry must be a mapping", source, line)
    unknown = set(item) - {"issuer", "chains", "keys"}
    if unknown:
        key = sorted(unknown)[0]
        raise _fail(f"unknown key {key!r} in issuer entry", source, item.line_of(key))
    issuer = item.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise _fail("issuer must be a non-empty string", source, item.line)
    globs = _string_list(item.get("chains", ["*"]), "chains", source, item.line_of("chains"))
    raw_keys = item.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise _fail("keys must be a non-empty list", source, item.line_of("keys"))
    keys = tuple(
        _key_from_entry(k, base, source, k.line if isinstance(k, LocatedDict) else item.line)
        for k in raw_keys
    )
    return TrustEntry(issuer=issuer, chain_globs=globs, keys=keys)


def _load_trust_yaml(path: Path) -> TrustStore:
    source = str(path)
    data = load_yaml(path)
    if not isinstance(data, LocatedDict):
        raise _fail("a trust store is a mapping with 'version' and 'issuers'", source, 1)
    unknown = set(data) - {"version", "issuers"}
    if unknown:
        key = sorted(unknown)[0]
        raise _fail(f"unknown key {key!r}", source, data.line_of(key))
    if data.get("version") != 1:
        raise _fail("version must be 1", source, data.line_of("version"))
    issuers = data.get("issuers")
    if not isinstance(issuers, list) or not issuers:
        raise _fail("issuers must be a non-empty list", source, data.line_of("issuers"))
    entries = tuple(
        _entry_from_yaml(item, path.parent, source, getattr(item, "line", data.line))
        for item in issuers
    )
    return TrustStore(entries=entries, source=source)


def _daemon_key_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob(DAEMON_KEY_NAME + ".rotated-*"))
    current = directory / DAEMON_KEY_NAME
    return ([current] if current.is_file() else []) + [f for f in files if f.is_file()]


def _any_issuer(keys: Iterable[PublicKey], source: str) -> TrustStore:
    return TrustStore(entries=(TrustEntry(None, ("*",), tuple(keys)),), source=source)


def load_trust(path: Path) -> TrustStore:
    """Load `--keys`: a PEM file, a daemon key directory, or a YAML trust store."""
    source = str(path)
    if path.is_dir():
        files = _daemon_key_files(path)
        if not files:
            raise _fail(f"no {DAEMON_KEY_NAME} or {DAEMON_KEY_NAME}.rotated-* here", source)
        keys = [PublicKey(_raw_from_pem(_key_file(f), str(f)), str(f)) for f in files]
        return _any_issuer(keys, source)
    data = _key_file(path, limit=False)
    if data.lstrip().startswith(b"-----BEGIN"):  # a YAML store may hold inline PEM too
        return _any_issuer([PublicKey(_raw_from_pem(data, source), source)], source)
    return _load_trust_yaml(path)


def _key_file(path: Path, *, limit: bool = True) -> bytes:
    """A key file's bytes, or a located KeyStoreError. Without `limit`, only the first
    bytes of a regular file (enough to tell PEM from a YAML trust store)."""
    try:
        if limit:
            return _read_key_file(path)
        if not stat.S_ISREG(path.stat().st_mode):
            raise ValueError("not a regular file, directory of daemon keys or trust store")
        with path.open("rb") as handle:
            head = handle.read(MAX_KEY_FILE_BYTES)
    except OSError as exc:
        raise _fail(f"cannot read: {exc.strerror}", str(path)) from exc
    except ValueError as exc:
        raise _fail(str(exc), str(path)) from exc
    return head
