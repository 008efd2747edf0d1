"""EvidenceReceipt v2, Pipelock's second-tier receipt (PIPELOCK.md §4).

The preimage is the receipt with its `signature` object zeroed, canonicalised the way
Pipelock's own canonicaliser does it: object members sorted by their NFC-normalised
names (code point order), strings NFC-normalised and then encoded by Go's
encoding/json (so HTML-safe: `&` is `\\u0026`, unlike plain RFC 8785), integers only
(floats refused), no whitespace. The Ed25519 signature is over the preimage itself.
The key must come from the trust store: `signer_key_id` is only a label.

Key purposes: each payload kind may only be signed by a key of one purpose (the
authority matrix below); a receipt claiming another purpose is `KEY_PURPOSE_MISMATCH`.

Unknown envelope members are refused, except the three Pipelock 3.2.0 added, which
are accepted in their exact form (`pipelock-verify` 0.4.1 rejects them, and so every
v2 receipt of the 3.2.0 live log): `canonicalization` (the fixed constants below),
`crit` (naming only `canonicalization`) and `policy_hash`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from reporting.pipelock.action import ed25519_valid, parse_signature
from reporting.pipelock.canonical import SchemaError, sha256_hex
from reporting.pipelock.strictjson import go_string
from reporting.pipelock.timefmt import normalise_rfc3339
from reporting.receipts.results import Code

__all__ = [
    "CANONICALIZATION",
    "PAYLOAD_AUTHORITY",
    "EvidenceReceipt",
    "parse_evidence_receipt",
    "pipelock_jcs",
]

RECORD_TYPE = "evidence_receipt_v2"
_ACTIVATION = "contract-activation-signing"
_RECEIPTS = "receipt-signing"
PAYLOAD_AUTHORITY = {
    "contract_promote_intent": _ACTIVATION,
    "contract_rollback_authorized": _ACTIVATION,
    "key_rotation": _ACTIVATION,
    "contract_redaction_request": _ACTIVATION,
    "proxy_decision": _RECEIPTS,
    "contract_ratified": _RECEIPTS,
    "contract_promote_committed": _RECEIPTS,
    "contract_rollback_committed": _RECEIPTS,
    "contract_demoted": _RECEIPTS,
    "contract_expired": _RECEIPTS,
    "contract_drift": _RECEIPTS,
    "shadow_delta": _RECEIPTS,
    "opportunity_missing": _RECEIPTS,
}
CANONICALIZATION = {
    "jcs_profile": "pipelock-jcs-rfc8785-nfc-v1",
    "jcs_version": "rfc8785",
    "hash_alg": "sha256",
    "sig_alg": "ed25519",
    "redaction_ruleset_id": "pipelock-transform-v1",
    "redaction_ruleset_version": "1",
    "redaction_ruleset_hash": (
        "sha256:541896788b42651a202448894583a847db9d1aa081c33a7e1f0512303d72527e"
    ),
}
_REQUIRED_STRINGS = ("record_type", "payload_kind", "event_id", "timestamp", "chain_prev_hash")
_OPTIONAL_STRINGS = (
    "principal",
    "actor",
    "active_manifest_hash",
    "contract_hash",
    "selector_id",
    "policy_hash",
)
_ENVELOPE = frozenset(
    {*_REQUIRED_STRINGS, *_OPTIONAL_STRINGS}
    | {"receipt_version", "signature", "chain_seq", "payload", "delegation_chain"}
    | {"contract_generation", "canonicalization", "crit"}
)
_SIGNATURE_MEMBERS = ("signer_key_id", "key_purpose", "algorithm", "signature")
_ZEROED_SIGNATURE = dict.fromkeys(_SIGNATURE_MEMBERS, "")
_INT64 = (-(2**63), 2**63 - 1)


def _jcs_into(parts: list[str], value: Any) -> None:
    if value is None or isinstance(value, bool):
        parts.append({None: "null", True: "true", False: "false"}[value])
    elif type(value) is int:
        if not _INT64[0] <= value <= _INT64[1]:
            raise SchemaError(f"integer {value} is outside Go's int64")
        parts.append(str(value))
    elif isinstance(value, str):
        parts.append(go_string(unicodedata.normalize("NFC", value)))
    elif isinstance(value, list):
        parts.append("[")
        for index, item in enumerate(value):
            parts.append("," if index else "")
            _jcs_into(parts, item)
        parts.append("]")
    elif isinstance(value, dict):
        names = sorted((unicodedata.normalize("NFC", k), k) for k in value)
        if len({nfc for nfc, _ in names}) != len(names):
            raise SchemaError("two member names are equal after NFC normalisation")
        parts.append("{")
        for index, (nfc, original) in enumerate(names):
            parts.append(("," if index else "") + go_string(nfc) + ":")
            _jcs_into(parts, value[original])
        parts.append("}")
    else:  # a float: Pipelock's canonicaliser refuses them in signed content
        raise SchemaError("a number with a fraction or exponent; v2 allows integers only")


def pipelock_jcs(value: Any) -> bytes:
    """Pipelock's JCS profile (`pipelock-jcs-rfc8785-nfc-v1`) of a parsed JSON value."""
    parts: list[str] = []
    _jcs_into(parts, value)
    return "".join(parts).encode("utf-8")


@dataclass
class EvidenceReceipt:
    """A v2 receipt as read: its document, preimage, hash and own problems."""

    document: dict[str, Any]
    preimage: bytes | None = None
    signature: bytes | None = None
    full_hash: str | None = None  # SHA-256 hex of the whole receipt's JCS: the next link
    redacted: bool = False
    problems: list[tuple[Code, str]] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        value = self.document.get(name)
        return value if isinstance(value, str) else None

    @property
    def event_id(self) -> str | None:
        return self.text("event_id")

    @property
    def seq(self) -> int | None:
        value = self.document.get("chain_seq")
        return value if type(value) is int else None

    @property
    def prev(self) -> str | None:
        return self.text("chain_prev_hash")

    @property
    def signer_key_id(self) -> str | None:
        signature = self.document.get("signature")
        value = signature.get("signer_key_id") if isinstance(signature, dict) else None
        return value if isinstance(value, str) else None


def _malformed(receipt: EvidenceReceipt, message: str) -> None:
    receipt.problems.append((Code.MALFORMED_RECEIPT, message))


def _check_types(document: dict[str, Any], receipt: EvidenceReceipt) -> None:
    unknown = sorted(set(document) - _ENVELOPE)
    if unknown:
        _malformed(receipt, f"unknown envelope member {unknown[0]!r}")
    for name in _REQUIRED_STRINGS:
        if not isinstance(document.get(name), str) or not document[name]:
            _malformed(receipt, f"{name} must be a non-empty string")
    for name in _OPTIONAL_STRINGS:
        if name in document and not isinstance(document[name], str):
            _malformed(receipt, f"{name} must be a string")
    for name in ("chain_seq", "contract_generation"):
        value = document.get(name, 0)
        if type(value) is not int or not 0 <= value < 2**64:
            _malformed(receipt, f"{name} must be an unsigned 64-bit integer")
    chain = document.get("delegation_chain", [])
    if not isinstance(chain, list) or not all(isinstance(i, str) for i in chain):
        _malformed(receipt, "delegation_chain must be a list of strings")
    if not isinstance(document.get("payload"), dict):
        _malformed(receipt, "payload must be an object")


def _check_envelope(document: dict[str, Any], receipt: EvidenceReceipt) -> None:
    if document.get("receipt_version") != 2 or type(document.get("receipt_version")) is not int:
        receipt.problems.append((Code.SCHEMA_VIOLATION, "receipt_version must be 2"))
    kind = document.get("payload_kind")
    required = PAYLOAD_AUTHORITY.get(kind) if isinstance(kind, str) else None
    if required is None:
        receipt.problems.append((Code.SCHEMA_VIOLATION, f"unknown payload_kind {kind!r}"))
    signature = document.get("signature")
    if not isinstance(signature, dict) or sorted(signature) != sorted(_SIGNATURE_MEMBERS):
        _malformed(receipt, f"signature must have exactly {', '.join(_SIGNATURE_MEMBERS)}")
        return
    if not all(isinstance(signature[name], str) for name in _SIGNATURE_MEMBERS):
        _malformed(receipt, "signature members must be strings")
        return
    if signature["algorithm"] != "ed25519":
        receipt.problems.append((Code.INVALID_SIGNATURE, "signature.algorithm must be ed25519"))
    try:
        receipt.signature = parse_signature(signature["signature"])
    except ValueError as exc:
        receipt.problems.append((Code.INVALID_SIGNATURE, str(exc)))
    purpose = signature["key_purpose"]
    if required is not None and purpose != required:
        message = f"{kind} must be signed by a {required} key; signature says {purpose!r}"
        receipt.problems.append((Code.KEY_PURPOSE_MISMATCH, message))


def _check_extensions(document: dict[str, Any], receipt: EvidenceReceipt) -> None:
    """Pipelock 3.2.0's `canonicalization` and `crit`: fixed, fully understood forms."""
    crit = document.get("crit")
    if crit is not None and (
        not isinstance(crit, list)
        or crit != ["canonicalization"]
        or "canonicalization" not in document
    ):
        _malformed(receipt, "crit may only name canonicalization, which must be present")
    profile = document.get("canonicalization")
    if profile is not None and profile != CANONICALIZATION:
        _malformed(receipt, "canonicalization is not Pipelock's pipelock-jcs-rfc8785-nfc-v1")


def _check_timestamp(document: dict[str, Any], receipt: EvidenceReceipt) -> None:
    timestamp = document.get("timestamp")
    if not isinstance(timestamp, str):
        return
    try:
        if normalise_rfc3339(timestamp) != timestamp:
            message = f"timestamp {timestamp!r} is not Pipelock's UTC RFC3339Nano form"
            receipt.problems.append((Code.TIMESTAMP_NOT_NORMALISED, message))
    except ValueError as exc:
        receipt.problems.append((Code.SCHEMA_VIOLATION, str(exc)))


def parse_evidence_receipt(document: dict[str, Any]) -> EvidenceReceipt:
    """Everything about one v2 receipt that does not depend on its chain or key."""
    receipt = EvidenceReceipt(document=document)
    _check_types(document, receipt)
    _check_envelope(document, receipt)
    _check_extensions(document, receipt)
    _check_timestamp(document, receipt)
    try:
        receipt.preimage = pipelock_jcs({**document, "signature": _ZEROED_SIGNATURE})
        receipt.full_hash = sha256_hex(pipelock_jcs(document))
    except SchemaError as exc:
        _malformed(receipt, str(exc))
    return receipt


def verifying_key(receipt: EvidenceReceipt, keys: list[bytes]) -> bytes | None:
    """The first of `keys` under which the receipt's signature verifies."""
    if receipt.preimage is None or receipt.signature is None:
        return None
    for key in keys:
        if ed25519_valid(receipt.signature, receipt.preimage, key):
            return key
    return None
