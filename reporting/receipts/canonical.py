"""Receipt bytes → one parsed document, its canonical bytes and its hash (§7.1, §7.1.1).

Steps, as the spec numbers them:

1. Remove the top-level ``proof``.
2. Null rule: every member whose value is ``null`` is absent, recursively in objects;
   ``credentialSubject.chain.previous_receipt_hash`` is always present (``null`` at
   genesis).
3. Serialise with RFC 8785 (JCS).
4. Receipt hash = ``sha256:`` + lowercase hex SHA-256 of those bytes.

The parse is strict: invalid UTF-8, NaN/Infinity, lone surrogates and duplicate member
names are rejected, because each lets two parsers disagree about what was signed.
JCS bytes come from orjson with sorted keys (fast) except where orjson and RFC 8785
can differ — floats, integers beyond ±(2^53-1), member names at or above U+E000 — where
the `rfc8785` package serialises instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_RECEIPT_BYTES",
    "MalformedReceiptError",
    "ParsedReceipt",
    "canonical_json",
    "parse_receipt",
    "sha256_tag",
]

DEFAULT_MAX_RECEIPT_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 32
_SAFE_INTEGER = 2**53 - 1
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


class MalformedReceiptError(ValueError):
    """The bytes are not one unambiguous JSON object we can canonicalise."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True, slots=True)
class ParsedReceipt:
    """A receipt after the null rule, with the bytes that were signed and their hash."""

    document: dict[str, Any]
    canonical: bytes
    receipt_hash: str


def sha256_tag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _reject_constant(name: str) -> Any:
    raise MalformedReceiptError(f"{name} is not a JSON number")


def _build_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Object hook: reject duplicate names, apply the null rule (step 2)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [name for name, _ in pairs]
        duplicate = next(n for n in names if names.count(n) > 1)
        message = f"duplicate member name {duplicate!r}: ambiguous signed content"
        raise MalformedReceiptError(message)
    if None in obj.values():
        return {k: v for k, v in obj.items() if v is not None}
    return obj


class _FloatSeen:
    """parse_float hook that remembers a float was parsed (JCS number formatting)."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, text: str) -> float:
        self.seen = True
        return float(text)


def _strict_loads(text: str, floats: _FloatSeen) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=_build_object,
            parse_float=floats,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise MalformedReceiptError(f"invalid JSON: {exc.msg} at {where}") from exc
    except RecursionError as exc:
        raise MalformedReceiptError("JSON nesting too deep") from exc


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def _restore_previous_hash(document: dict[str, Any]) -> None:
    """Step 2's exception: the required-nullable link is present, as null at genesis."""
    subject = document.get("credentialSubject")
    if isinstance(subject, dict):
        chain = subject.get("chain")
        if isinstance(chain, dict) and "previous_receipt_hash" not in chain:
            chain["previous_receipt_hash"] = None


def _as_jcs_number(value: int) -> int | float:
    """Integers beyond ±(2^53-1) are IEEE doubles in JCS; refuse those a double cannot hold."""
    as_float = float(value)
    if int(as_float) != value:
        raise MalformedReceiptError(f"integer {value} cannot be represented exactly in RFC 8785")
    return as_float


def _jcs_domain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jcs_domain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jcs_domain(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INTEGER:
        return _as_jcs_number(value)
    return value


def canonicalize(value: Any, *, force_rfc8785: bool = False) -> bytes:
    """RFC 8785 bytes of a JSON value (no null rule; see `parse_receipt` for receipts)."""
    if not force_rfc8785:
        try:
            return orjson.dumps(value, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # big integer, surrogate or unsupported type: let rfc8785 decide
    try:
        return bytes(rfc8785.dumps(_jcs_domain(value)))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, TypeError, ValueError) as exc:
        raise MalformedReceiptError(f"cannot canonicalise: {exc}") from exc


def _needs_rfc8785(value: Any) -> bool:
    """True when orjson's sorted output could differ from RFC 8785 for this value."""
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return _has_high_member_name(dict.fromkeys(value)) or any(
            _needs_rfc8785(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(_needs_rfc8785(v) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of any JSON value, choosing the exact serialiser where needed."""
    return canonicalize(value, force_rfc8785=_needs_rfc8785(value))


def _has_high_member_name(value: Any) -> bool:
    """A member name at or above U+E000 sorts differently by UTF-16 than by code point."""
    if isinstance(value, dict):
        return any(
            (not k.isascii() and max(k) >= "\ue000") or _has_high_member_name(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_high_member_name(v) for v in value)
    return False


def parse_receipt(
    raw: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_RECEIPT_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ParsedReceipt:
    """Parse raw receipt bytes once and derive the signed bytes and the receipt hash."""
    if len(raw) > max_bytes:
        message = f"receipt is {len(raw)} bytes, limit {max_bytes}"
        raise MalformedReceiptError(message, too_large=True)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedReceiptError(f"not valid UTF-8 at byte {exc.start}") from exc
    floats = _FloatSeen()
    document = _strict_loads(text, floats)
    if not isinstance(document, dict):
        found = type(document).__name__
        raise MalformedReceiptError(f"a receipt must be a JSON object, found {found}")
    # Cheap guards first: a shallow, plain-ASCII receipt needs neither walk.
    if text.count("{") + text.count("[") > max_depth and _depth_exceeds(document, max_depth):
        raise MalformedReceiptError(f"JSON nesting deeper than {max_depth}")
    exotic_text = not text.isascii() or "\\u" in text
    needs_rfc8785 = floats.seen or (exotic_text and _has_high_member_name(document))
    _restore_previous_hash(document)
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    canonical = canonicalize(unsigned, force_rfc8785=needs_rfc8785)
    return ParsedReceipt(document=document, canonical=canonical, receipt_hash=sha256_tag(canonical))
