"""One ActionReceipt v1: strict envelope, canonical bytes, hash, signature (PIPELOCK.md §2).

`parse_action_receipt` takes the parsed envelope and its exact text and derives, once,
everything the chain walk needs. Problems found in the receipt alone are collected on
it, in Go's validation order; the walk adds what only the chain can tell (which key
must have signed, links, sessions, rotations).

Redaction: Pipelock's recorder may rewrite a receipt it logs when DLP finds a secret in
it: `target`/`pattern` become `[REDACTED]` and `redacted_fields` lists them, or the whole
entry detail becomes `{"redacted": true, ...}`. The original is then in the encrypted
raw escrow only, so the signature cannot be checked; such a receipt is labelled
`RECEIPT_REDACTED` (never `INVALID_SIGNATURE`), its verdict is indeterminate, and the
link from the next receipt to it cannot be checked either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings
import nacl.exceptions

from reporting.pipelock.canonical import SchemaError, canonical_action_record, sha256_hex
from reporting.pipelock.strictjson import compact_go, go_string, member_span
from reporting.pipelock.timefmt import normalise_rfc3339
from reporting.receipts.results import Code, Severity

__all__ = [
    "ACTION_TYPES",
    "HEX64",
    "REDACTED",
    "REPLACED_BY_REDACTION",
    "ActionReceipt",
    "ed25519_valid",
    "full_redaction",
    "parse_action_receipt",
    "parse_signature",
    "redacted_receipt",
]

ACTION_TYPES = frozenset(
    {"read", "derive", "write", "delegate", "authorize", "spend", "commit", "actuate"}
    | {"unclassified"}
)
REDACTED = "[REDACTED]"
REPLACED_BY_REDACTION = "the recorder's DLP redaction replaced this receipt; it is unverifiable"
REDACTABLE = ("target", "pattern")
ENVELOPE = ("version", "action_record", "signature", "signer_key", "ext")
HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"ed25519:([0-9a-f]{128})")


def ed25519_valid(signature: bytes, message: bytes, key: bytes) -> bool:
    """Pure Ed25519 via libsodium (strict RFC 8032 checks)."""
    try:
        nacl.bindings.crypto_sign_open(signature + message, key)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True


def parse_signature(value: Any) -> bytes:
    """`ed25519:` + 128 lowercase hex digits → 64 bytes; ValueError otherwise."""
    match = _SIGNATURE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("signature must be 'ed25519:' + 128 lowercase hex digits")
    return bytes.fromhex(match.group(1))


def full_redaction(detail: Any) -> bool:
    """The recorder's whole-detail DLP wrapper (`{"redacted": true, ...}`)."""
    return isinstance(detail, dict) and detail.get("redacted") is True and "version" not in detail


@dataclass
class ActionReceipt:
    """A v1 receipt as read: its signed record and what was derived from it."""

    record: dict[str, Any]
    signer_hex: str | None = None
    signature: bytes | None = None
    canonical: bytes | None = None
    receipt_hash: str | None = None  # lowercase hex, as Pipelock writes chain_prev_hash
    has_ext: bool = False
    self_signed: bool = False  # the signature verifies under the embedded signer_key
    redacted_fields: tuple[str, ...] = ()
    fully_redacted: bool = False
    well_typed: bool = False  # every member has its Go type: safe to read as typed
    problems: list[tuple[Code, str]] = field(default_factory=list)

    # typed views of the signed record (None when absent or of the wrong type)
    def text(self, name: str) -> str | None:
        value = self.record.get(name)
        return value if isinstance(value, str) else None

    def number(self, name: str) -> int | None:
        """An integer member; absent or null is Go's zero once the record is well typed."""
        value = self.record.get(name)
        if value is None and self.well_typed:
            return 0
        return value if type(value) is int else None

    def section(self, *path: str) -> dict[str, Any] | None:
        node: Any = self.record
        for name in path:
            node = node.get(name) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else None

    @property
    def action_id(self) -> str | None:
        return self.text("action_id")

    @property
    def seq(self) -> int | None:
        return self.number("chain_seq")

    @property
    def prev(self) -> str | None:
        return self.text("chain_prev_hash")

    @property
    def signer_key(self) -> bytes | None:
        return bytes.fromhex(self.signer_hex) if self.signer_hex else None

    @property
    def redacted(self) -> bool:
        return self.fully_redacted or bool(self.redacted_fields)

    @property
    def failed_alone(self) -> bool:
        """A failure found in the receipt alone (warnings aside)."""
        return any(code.severity is Severity.FAILURE for code, _ in self.problems)


def redacted_receipt() -> ActionReceipt:
    """A receipt the recorder replaced wholesale with its DLP wrapper."""
    receipt = ActionReceipt(record={}, fully_redacted=True)
    receipt.problems.append((Code.RECEIPT_REDACTED, REPLACED_BY_REDACTION))
    return receipt


def _envelope(document: dict[str, Any], receipt: ActionReceipt) -> bool:
    """Check the envelope; False when there is no action record to read."""
    unknown = [name for name in document if name not in ENVELOPE]
    if unknown:
        receipt.problems.append((Code.MALFORMED_RECEIPT, f"unknown envelope member {unknown[0]!r}"))
    version = document.get("version")
    if type(version) is not int:
        receipt.problems.append((Code.MALFORMED_RECEIPT, "version must be an integer"))
    elif version != 1:
        receipt.problems.append((Code.SCHEMA_VIOLATION, f"unsupported version {version}"))
    signer = document.get("signer_key")
    if isinstance(signer, str) and HEX64.fullmatch(signer):
        receipt.signer_hex = signer
    else:
        message = "signer_key must be 64 lowercase hex digits (a raw Ed25519 key)"
        receipt.problems.append((Code.MALFORMED_RECEIPT, message))
    try:
        receipt.signature = parse_signature(document.get("signature"))
    except ValueError as exc:
        receipt.problems.append((Code.INVALID_SIGNATURE, str(exc)))
    if not isinstance(document.get("action_record"), dict):
        receipt.problems.append((Code.MALFORMED_RECEIPT, "action_record must be an object"))
        return False
    return True


def _selective_redaction(record: dict[str, Any], receipt: ActionReceipt) -> dict[str, Any]:
    """The record without `redacted_fields`, after checking the marker is Pipelock's own."""
    names = record.get("redacted_fields")
    if names is None:
        return record
    valid = (
        isinstance(names, list)
        and names
        and all(n in REDACTABLE and record.get(n) == REDACTED for n in names)
        and len(set(names)) == len(names)
    )
    if not valid:
        message = "redacted_fields must list target/pattern, each set to '[REDACTED]'"
        receipt.problems.append((Code.MALFORMED_RECEIPT, message))
        return record
    receipt.redacted_fields = tuple(names)
    message = f"the recorder's DLP redaction rewrote {', '.join(names)}; signature uncheckable"
    receipt.problems.append((Code.RECEIPT_REDACTED, message))
    return {k: v for k, v in record.items() if k != "redacted_fields"}


def _validate(receipt: ActionReceipt) -> None:
    """Go's ActionRecord.Validate, in its order, then our timestamp normalisation check."""
    problems = receipt.problems
    if receipt.record.get("version") != 1:
        problems.append((Code.SCHEMA_VIOLATION, "action_record.version must be 1"))
    if not receipt.action_id:
        problems.append((Code.SCHEMA_VIOLATION, "action_id is empty"))
    action_type = receipt.text("action_type")
    if action_type not in ACTION_TYPES:
        problems.append((Code.SCHEMA_VIOLATION, f"invalid action_type {action_type!r}"))
    timestamp = receipt.text("timestamp") or ""
    try:
        if normalise_rfc3339(timestamp) != timestamp:
            message = f"timestamp {timestamp!r} is not Pipelock's UTC RFC3339Nano form"
            problems.append((Code.TIMESTAMP_NOT_NORMALISED, message))
    except ValueError as exc:
        problems.append((Code.SCHEMA_VIOLATION, str(exc)))
    for name in ("target", "verdict", "transport"):
        if not receipt.text(name):
            problems.append((Code.SCHEMA_VIOLATION, f"{name} is empty"))


def _receipt_hash(receipt: ActionReceipt, canonical: bytes, ext: str | None) -> str:
    """SHA-256 hex of the envelope as Go marshals it (ext last, compacted)."""
    envelope = (
        b'{"version":1,"action_record":'
        + canonical
        + f',"signature":{go_string("ed25519:" + (receipt.signature or b"").hex())}'.encode()
        + f',"signer_key":{go_string(receipt.signer_hex or "")}'.encode()
        + (f',"ext":{compact_go(ext)}'.encode() if ext is not None else b"")
        + b"}"
    )
    return sha256_hex(envelope)


def parse_action_receipt(document: dict[str, Any], text: str) -> ActionReceipt:
    """Everything about one v1 envelope that does not depend on its chain."""
    receipt = ActionReceipt(record={})
    if not _envelope(document, receipt):
        return receipt
    record = _selective_redaction(document["action_record"], receipt)
    receipt.record = record
    try:
        canonical = canonical_action_record(record)
    except SchemaError as exc:
        receipt.problems.append((Code.MALFORMED_RECEIPT, str(exc)))
        return receipt
    receipt.well_typed = True
    _validate(receipt)
    if receipt.redacted or receipt.signature is None or receipt.signer_hex is None:
        return receipt
    if any(code is Code.MALFORMED_RECEIPT for code, _ in receipt.problems):
        return receipt
    span = member_span(text, "ext") if "ext" in document else None
    receipt.has_ext = span is not None
    receipt.canonical = canonical
    receipt.receipt_hash = _receipt_hash(
        receipt, canonical, text[span[0] : span[1]] if span else None
    )
    digest = bytes.fromhex(sha256_hex(canonical))
    receipt.self_signed = ed25519_valid(
        receipt.signature, digest, bytes.fromhex(receipt.signer_hex)
    )
    return receipt
