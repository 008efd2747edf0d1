"""Out-of-band inputs to verification: witnesses, grants and response bodies.

* Witness file (§7.3.1): the expected length and/or final hash of chains, recorded
  somewhere the agent cannot write; the only way to detect tail truncation.
* Grants file (v0.6.0 §7.9): what each ``authorization.grant_ref`` was minted for.
* Bodies directory (§4.3.2): response bodies, one ``<receipt uuid>.json`` each, to
  recompute ``outcome.response_hash``. The verifier sees bodies through the
  `ResponseBodies` protocol, as bytes: it parses and hashes them itself, strictly, so a
  body it cannot hash unambiguously is that receipt's result, not the run's end.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reporting.errors import Diagnostic, DiagnosticCode, InputError
from reporting.yamlio import LocatedDict, load_yaml

__all__ = [
    "BodiesDirectory",
    "Grant",
    "ResponseBodies",
    "Witness",
    "load_grants",
    "load_witnesses",
]

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_BODY_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Witness:
    length: int | None
    final_hash: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    subject: str
    scopes: tuple[str, ...] = ()
    issued_at: str | None = None
    expires_at: str | None = None
    issuer: str | None = None


def _fail(message: str, source: str, line: int | None) -> InputError:
    return InputError(Diagnostic(DiagnosticCode.INVALID_INPUT, message, source, line))


def _versioned_section(path: Path, section: str) -> LocatedDict:
    data = load_yaml(path)
    source = str(path)
    if not isinstance(data, LocatedDict):
        raise _fail(f"expected a mapping with 'version' and '{section}'", source, 1)
    unknown = set(data) - {"version", section}
    if unknown:
        key = sorted(unknown)[0]
        raise _fail(f"unknown key {key!r}", source, data.line_of(key))
    if data.get("version") != 1:
        raise _fail("version must be 1", source, data.line_of("version"))
    body = data.get(section)
    if not isinstance(body, LocatedDict):
        raise _fail(f"'{section}' must be a mapping", source, data.line_of(section))
    return body


def _entry(body: LocatedDict, key: str, allowed: set[str], source: str) -> LocatedDict:
    entry = body[key]
    if not isinstance(entry, LocatedDict):
        raise _fail(f"entry {key!r} must be a mapping", source, body.line_of(key))
    unknown = set(entry) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise _fail(f"unknown key {name!r} in {key!r}", source, entry.line_of(name))
    return entry


def load_witnesses(path: Path) -> dict[str, Witness]:
    """`chains: {<chain id>: {length: N, final_hash: sha256:…}}`, at least one of the two."""
    source = str(path)
    body = _versioned_section(path, "chains")
    witnesses: dict[str, Witness] = {}
    for chain_id in body:
        entry = _entry(body, chain_id, {"length", "final_hash"}, source)
        length, final_hash = entry.get("length"), entry.get("final_hash")
        if length is None and final_hash is None:
            raise _fail(f"{chain_id!r} needs length or final_hash", source, entry.line)
        if length is not None and (not isinstance(length, int) or length < 0):
            raise _fail("length must be a non-negative integer", source, entry.line_of("length"))
        if final_hash is not None and not (isinstance(final_hash, str) and _HASH.match(final_hash)):
            line = entry.line_of("final_hash")
            raise _fail("final_hash must be sha256:<64 lowercase hex>", source, line)
        witnesses[str(chain_id)] = Witness(length=length, final_hash=final_hash)
    return witnesses


def _optional_str(entry: LocatedDict, key: str, source: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise _fail(f"{key} must be a string", source, entry.line_of(key))
    return value


def load_grants(path: Path) -> dict[str, Grant]:
    """`grants: {<grant_ref>: {subject, scopes, issued_at, expires_at, issuer}}`."""
    source = str(path)
    body = _versioned_section(path, "grants")
    grants: dict[str, Grant] = {}
    allowed = {"subject", "scopes", "issued_at", "expires_at", "issuer"}
    for ref in body:
        entry = _entry(body, ref, allowed, source)
        subject = entry.get("subject")
        if not isinstance(subject, str) or not subject:
            raise _fail(f"grant {ref!r} needs a subject", source, entry.line)
        scopes = entry.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise _fail("scopes must be a list of strings", source, entry.line_of("scopes"))
        grants[str(ref)] = Grant(
            subject=subject,
            scopes=tuple(scopes),
            issued_at=_optional_str(entry, "issued_at", source),
            expires_at=_optional_str(entry, "expires_at", source),
            issuer=_optional_str(entry, "issuer", source),
        )
    return grants


# A body file is named after its receipt: `<uuid>.json` or `<full id>.json`. Receipt ids
# are untrusted text, so only names that cannot leave the directory are looked up.
_BODY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


def _body_names(receipt_id: str) -> list[str]:
    names = dict.fromkeys((receipt_id.removeprefix("urn:receipt:"), receipt_id))
    return [name for name in names if _BODY_NAME.fullmatch(name) and ".." not in name]


class ResponseBodies(Protocol):
    """Where the verifier looks up a receipt's response body (§4.3.2)."""

    def body_bytes(self, receipt_id: str) -> bytes | None:
        """The body's bytes, or None when none was supplied for this receipt.

        Raises InputError when a body exists but cannot be read (the run's input is
        broken, not the receipt).
        """
        ...


@dataclass(frozen=True)
class BodiesDirectory:
    """Response bodies named after the receipt: `<uuid>.json` or `<full id>.json`.

    Only regular files directly inside the directory are read. A receipt id that could
    name anything else (a path separator, `..`, a leading dot, a NUL, an overlong name)
    is never looked up, so its body counts as not supplied. A body that is a symbolic
    link, a directory or a device is refused with an error naming it: the directory is
    out-of-band evidence the operator prepares, and one that points elsewhere is broken.
    """

    path: Path

    def __post_init__(self) -> None:
        if not self.path.is_dir():
            raise _fail("bodies must be a directory", str(self.path), None)

    def body_bytes(self, receipt_id: str) -> bytes | None:
        """The body's bytes, or None. A body that cannot be read raises InputError."""
        for name in _body_names(receipt_id):
            candidate = self.path / f"{name}.json"
            try:
                status = candidate.lstat()
            except FileNotFoundError:
                continue
            except OSError as exc:
                message = f"cannot look up response body: {exc.strerror}"
                raise _fail(message, str(candidate), None) from exc
            if stat.S_ISLNK(status.st_mode):
                raise _fail(
                    "response body is a symbolic link; bodies must be regular files in "
                    "the bodies directory",
                    str(candidate),
                    None,
                )
            if not stat.S_ISREG(status.st_mode):
                raise _fail("response body is not a regular file", str(candidate), None)
            return self._read(candidate)
        return None

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            # O_NOFOLLOW: a file swapped for a link after the check above is not followed.
            handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise _fail(f"cannot read response body: {exc.strerror}", str(path), None) from exc
        with os.fdopen(handle, "rb") as stream:
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise _fail("response body is not a regular file", str(path), None)
            if status.st_size > _MAX_BODY_BYTES:
                size = status.st_size
                raise _fail(f"body is {size} bytes, limit {_MAX_BODY_BYTES}", str(path), None)
            data = stream.read(_MAX_BODY_BYTES + 1)
        if len(data) > _MAX_BODY_BYTES:
            raise _fail(f"body is over {_MAX_BODY_BYTES} bytes", str(path), None)
        return data
