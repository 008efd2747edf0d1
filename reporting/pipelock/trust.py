"""Which Pipelock keys are trusted, for which recorder and recorder sessions.

Two inputs, both combined by union (`--keys` may be given more than once):

* a Pipelock key file, as Pipelock writes it: 64 hex digits (a raw Ed25519 public
  key) and a newline; also the conformance vectors' JSON key files, which carry it as
  `public_key_hex` (`test-key.json`, `v2-test-keys.json`). Such a key trusts any
  recorder session and names no recorder;
* the `pipelock:` section of a YAML trust store::

      pipelock:
        - name: edge-proxy-prod          # how reports name this recorder
          keys: [{hex: 7b50779c…}, {file: keys/edge.pub}]
          sessions: ["proxy"]            # optional: the recorder sessions it signs

A key is never trusted because a receipt embeds it: `signer_key` is self-asserted.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reporting.errors import Diagnostic, DiagnosticCode, KeyStoreError
from reporting.receipts.keys import PublicKey
from reporting.yamlio import LocatedDict

__all__ = [
    "PipelockRecorder",
    "PipelockTrust",
    "is_pipelock_key_file",
    "load_pipelock_key_file",
    "parse_pipelock_section",
    "pipelock_key_from_bytes",
]

MAX_KEY_FILE_BYTES = 4096  # 64 hex digits, or the vectors' small JSON key files
_HEX_KEY = re.compile(rb"\s*([0-9a-fA-F]{64})\s*")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]{64}")
_RECORDER_MEMBERS = frozenset({"name", "keys", "sessions"})
_KEY_FORMS = ("hex", "file")


@dataclass(frozen=True, slots=True)
class PipelockRecorder:
    """One Pipelock instance: its report name, its keys, the sessions it may sign."""

    name: str | None
    keys: tuple[PublicKey, ...]
    sessions: tuple[str, ...] | None = None  # None: any recorder session

    def trusts(self, key: bytes, session: str | None) -> bool:
        if self.sessions is not None and session not in self.sessions:
            return False
        return any(k.raw == key for k in self.keys)


@dataclass(frozen=True)
class PipelockTrust:
    """Every trusted recorder; `union` combines several `--keys` inputs."""

    recorders: tuple[PipelockRecorder, ...] = ()

    def union(self, *others: PipelockTrust) -> PipelockTrust:
        recorders = list(self.recorders)
        for other in others:
            recorders.extend(r for r in other.recorders if r not in recorders)
        return PipelockTrust(tuple(recorders))

    def recorder_for(self, key: bytes, session: str | None) -> PipelockRecorder | None:
        """The first recorder (named ones first) that trusts `key` for `session`."""
        ordered = sorted(self.recorders, key=lambda r: r.name is None)
        return next((r for r in ordered if r.trusts(key, session)), None)

    def keys_for(self, session: str | None) -> tuple[PublicKey, ...]:
        found: dict[bytes, PublicKey] = {}
        for recorder in self.recorders:
            if recorder.sessions is None or session in recorder.sessions:
                for key in recorder.keys:
                    found.setdefault(key.raw, key)
        return tuple(found.values())

    def fingerprints(self) -> list[dict[str, str | None]]:
        return [
            {"recorder": r.name, "fingerprint": k.fingerprint, "source": k.label}
            for r in self.recorders
            for k in r.keys
        ]


def _fail(message: str, source: str, line: int | None = None) -> KeyStoreError:
    return KeyStoreError(Diagnostic(DiagnosticCode.INVALID_KEY, message, source, line))


def pipelock_key_from_bytes(data: bytes) -> bytes | None:
    """The raw key in a Pipelock key file's bytes, or None if they are not one."""
    match = _HEX_KEY.fullmatch(data)
    if match is not None:
        return bytes.fromhex(match.group(1).decode("ascii"))
    if not data.lstrip().startswith(b"{"):
        return None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    value = document.get("public_key_hex") if isinstance(document, dict) else None
    if isinstance(value, str) and _HEX_DIGITS.fullmatch(value):
        return bytes.fromhex(value)
    return None


def is_pipelock_key_file(data: bytes) -> bool:
    """Whether `--keys` bytes are a Pipelock key file (for the trust loader's dispatch)."""
    return pipelock_key_from_bytes(data) is not None


def _read_key_file(path: Path) -> bytes:
    """A regular file of at most MAX_KEY_FILE_BYTES (links followed: mounted secrets are
    links; never a FIFO or device, which could block). Raises OSError or ValueError."""
    status = path.stat()
    if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_KEY_FILE_BYTES:
        raise ValueError(f"{path} is not a regular file of at most {MAX_KEY_FILE_BYTES} bytes")
    with path.open("rb") as handle:
        return handle.read(MAX_KEY_FILE_BYTES)


def load_pipelock_key_file(path: Path) -> PipelockTrust:
    """A Pipelock key file as trust: this key, any recorder session, no recorder name."""
    source = str(path)
    try:
        data = _read_key_file(path)
    except OSError as exc:
        raise _fail(f"cannot read: {exc.strerror}", source) from exc
    except ValueError as exc:
        raise _fail(str(exc), source) from exc
    raw = pipelock_key_from_bytes(data)
    if raw is None:
        message = "not a Pipelock key (64 hex digits, or JSON with public_key_hex)"
        raise _fail(message, source)
    return PipelockTrust((PipelockRecorder(None, (PublicKey(raw, source),)),))


def _key(item: Any, base: Path, source: str, line: int) -> PublicKey:
    if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in _KEY_FORMS:
        raise _fail("a Pipelock key is a mapping with exactly one of hex, file", source, line)
    form, value = next(iter(item.items()))
    if not isinstance(value, str):
        raise _fail(f"{form} must be a string (quote a hex key)", source, line)
    if form == "hex":
        if _HEX_DIGITS.fullmatch(value) is None:
            raise _fail("hex must be 64 hex digits (a raw Ed25519 public key)", source, line)
        return PublicKey(bytes.fromhex(value), f"{source}:{line}")
    path = (base / value).resolve()
    trust = load_pipelock_key_file(path)
    return trust.recorders[0].keys[0]


def _sessions(item: LocatedDict, source: str) -> tuple[str, ...] | None:
    if "sessions" not in item:
        return None
    value = item["sessions"]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s for s in value):
        message = "sessions must be a non-empty list of recorder session names"
        raise _fail(message, source, item.line_of("sessions"))
    return tuple(value)


def _recorder(item: Any, base: Path, source: str, line: int) -> PipelockRecorder:
    if not isinstance(item, LocatedDict):
        raise _fail("each pipelock entry must be a mapping", source, line)
    unknown = sorted(set(item) - _RECORDER_MEMBERS)
    if unknown:
        raise _fail(
            f"unknown key {unknown[0]!r} in pipelock entry", source, item.line_of(unknown[0])
        )
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _fail("name must be a non-empty string", source, item.line)
    keys = item.get("keys")
    if not isinstance(keys, list) or not keys:
        raise _fail("keys must be a non-empty list", source, item.line_of("keys"))
    parsed = tuple(
        _key(k, base, source, k.line if isinstance(k, LocatedDict) else item.line_of("keys"))
        for k in keys
    )
    return PipelockRecorder(name, parsed, _sessions(item, source))


def parse_pipelock_section(section: Any, *, source: str, base: Path, line: int) -> PipelockTrust:
    """The `pipelock:` list of a trust store already loaded with `reporting.yamlio`.

    `line` is where the section starts; `base` is the trust store's directory (for
    `file:` keys). Raises KeyStoreError naming the file and line.
    """
    if not isinstance(section, list) or not section:
        raise _fail("pipelock must be a non-empty list of recorders", source, line)
    recorders = [_recorder(item, base, source, getattr(item, "line", line)) for item in section]
    names = [r.name for r in recorders]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise _fail(f"recorder name {duplicate!r} appears twice", source, line)
    return PipelockTrust(tuple(recorders))
