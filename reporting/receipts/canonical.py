"""Receipt bytes → one parsed document, its canonical bytes and its hash (§7.1, §7.1.1).

Steps, as the spec numbers them:

1. Remove the top-level ``proof``.
2. Null rule: every member whose value is ``null`` is absent, recursively in objects;
   ``credentialSubject.chain.previous_receipt_hash`` is always present (``null`` at
   genesis).
3. Serialise with RFC 8785 (JCS).
4. Receipt hash = ``sha256:`` + lowercase hex SHA-256 of those bytes.

The parse is strict: invalid UTF-8, NaN/Infinity, lone surrogates and duplicate member
names are rejected, because each lets two parsers disagree about what was signed, and
so is integer text beyond ±(2^53-1) that is not the ES6 form of its IEEE 754 double
(RFC 8785 §3.2.2.3 and Appendix B: `9223372036854776000` is that form of 2^63, and
`9223372036854775807` names the same double in other digits). JCS bytes come from
orjson with sorted keys (fast) except where orjson and RFC 8785 can differ — floats,
integers beyond ±(2^53-1), member names at or above U+E000 — where the `rfc8785`
package serialises instead. Nesting is bounded by the caller's limit and
never deeper than MAX_CANONICAL_DEPTH, the deepest orjson serialises (the fallback
recurses in Python).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import rfc8785

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_RECEIPT_BYTES",
    "MAX_CANONICAL_DEPTH",
    "MalformedReceiptError",
    "ParsedReceipt",
    "canonical_json",
    "json_text_hash",
    "parse_receipt",
    "sha256_tag",
]

DEFAULT_MAX_RECEIPT_BYTES = 1 << 20
DEFAULT_MAX_DEPTH = 32
MAX_CANONICAL_DEPTH = 254  # whatever --max-depth says: orjson serialises no deeper
_SAFE_INTEGER = 2**53 - 1
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


class MalformedReceiptError(ValueError):
    """The bytes are not one unambiguous JSON object we can canonicalise."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class ParsedReceipt(NamedTuple):
    """A receipt after the null rule, with the bytes that were signed and their hash."""

    document: dict[str, Any]
    canonical: bytes
    receipt_hash: str


_parsed = ParsedReceipt._make  # positional, no keywords: the cheapest way to build one


def sha256_tag(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# Every member name in JSON text ends with a quote, optional whitespace and a colon. The
# pattern also matches a few things that are not names (a string value starting with a
# colon, an escaped quote before a colon), never fewer: so when its count equals the
# members parsed, no name was dropped as a duplicate.
_NAME_END = re.compile(rb'"[ \t\r\n]*:')
# Text that may hold a member name at or above U+E000: such an escape, or UTF-8 at or
# above U+E000 (lead bytes EE-F4). Anything else is known to sort alike in UTF-16.
_HIGH_TEXT = re.compile(rb"\\u[dDeEfF]|[\xee-\xf4]")


def _scan(value: Any) -> tuple[int, bool, bool]:
    """(members, any float, any null) of a parsed JSON value, without recursion."""
    members, floats, nulls = 0, False, False
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            members += len(node)
            values: Any = node.values()
        elif type(node) is list:
            values = node
        else:
            continue
        for item in values:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append(item)
            elif kind is float:
                floats = True
            elif item is None:
                nulls = True
    return members, floats, nulls


class _DuplicateNameError(Exception):
    pass


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateNameError
    return obj


def _has_duplicate_names(raw: bytes) -> bool:
    """Exact (slow) check, only run when the quick count cannot rule duplicates out."""
    try:
        json.loads(raw, object_pairs_hook=_reject_duplicates)
    except _DuplicateNameError:
        return True
    return False


def _without_nulls(value: Any) -> Any:
    """Null rule (step 2): members whose value is null are absent, recursively in objects."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A value parsed strictly, and what `_scan` found in it."""

    value: Any
    members: int
    floats: bool
    nulls: bool


def _strict_loads(raw: bytes, max_depth: int) -> _Loaded:
    """Parse strictly, all but the duplicate-name check (`_refuse_duplicate_names`) and,
    when a float was seen, the integers' text (`_check_integer_text`).

    orjson rejects invalid UTF-8, NaN/Infinity and lone surrogates, but keeps the last
    of two equal member names silently: the caller checks the names.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedReceiptError(f"invalid JSON: {exc}") from exc
    # Depth before any recursive walk; counting brackets first spares the walk.
    limit = min(max_depth, MAX_CANONICAL_DEPTH)
    if raw.count(b"{") + raw.count(b"[") > limit and _depth_exceeds(value, limit):
        beyond = "" if limit == max_depth else ", the deepest this verifier canonicalises"
        raise MalformedReceiptError(f"JSON nesting deeper than {limit}{beyond}")
    members, floats, nulls = _scan(value)
    return _Loaded(value, members, floats, nulls)


def _refuse_duplicate_names(raw: bytes, members: int) -> None:
    """The name count: a name dropped as a duplicate makes `raw` hold more names."""
    if len(_NAME_END.findall(raw)) != members and _has_duplicate_names(raw):
        raise MalformedReceiptError("duplicate member name: ambiguous signed content")


def _no_member_dropped(
    raw: bytes, document: dict[str, Any], canonical: bytes, *, escapes: bool = True
) -> bool:
    """The same proof as the name count, from colons, at C speed, for the common case.

    Every member of `raw` is one colon (after its name) plus the colons written in its
    strings; orjson writes every colon of a string as it is, and a string reads with the
    colons written in it unless one is escaped (`\\u003a`). So when no colon is escaped
    and the canonical bytes are orjson's (no nulls, no floats), `raw` holds as many colons
    as the members kept in the canonical bytes and the proof, plus those of any member
    dropped as a duplicate: equal counts, nothing was dropped. False when it cannot tell
    (the exact count then decides). `escapes=False` says `raw` holds no backslash.
    """
    if escapes and (b"\\u003a" in raw or b"\\u003A" in raw):
        return False
    kept = canonical.count(b":")
    if "proof" in document:
        kept += 1 + orjson.dumps(document["proof"]).count(b":")
    return raw.count(b":") == kept


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


def _restore_previous_hash(document: dict[str, Any]) -> bool:
    """Step 2's exception: the required-nullable link is present, as null at genesis.
    Says whether it had to be added."""
    subject = document.get("credentialSubject")
    if isinstance(subject, dict):
        chain = subject.get("chain")
        if isinstance(chain, dict) and "previous_receipt_hash" not in chain:
            chain["previous_receipt_hash"] = None
            return True
    return False


def _as_jcs_number(value: int) -> float:
    """An integer beyond ±(2^53-1) is an IEEE double in JCS (§3.2.2.3). Its text is
    accepted only when it is that double's ES6 form: other digits naming the same
    double (`9223372036854775807` for `9223372036854776000`) would verify under one
    signature as two different texts, so they are refused as ambiguous."""
    try:
        as_float = float(value)
    except OverflowError as exc:
        raise MalformedReceiptError(f"integer of {len(str(value))} digits overflows") from exc
    es6 = bytes(rfc8785.dumps(as_float))
    if es6 != str(value).encode():
        es6_text = es6.decode()
        raise MalformedReceiptError(
            f"integer {value} is not in RFC 8785 form ({es6_text}): ambiguous signed content"
        )
    return as_float


def _check_integer_text(raw: bytes) -> None:
    """orjson reads an integer beyond 64 bits as a double, dropping its digits. Read the
    integers exactly and apply `_as_jcs_number`'s rule, which canonicalisation applies
    to the integers orjson keeps (only documents with a double get here)."""
    try:
        exact = json.loads(raw)
    except ValueError as exc:  # e.g. more digits than Python converts
        raise MalformedReceiptError(f"invalid number: {exc}") from exc
    stack = [exact]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > _SAFE_INTEGER:
            _as_jcs_number(node)


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


def json_text_hash(raw: bytes) -> str:
    """`sha256:` + hex SHA-256 of the RFC 8785 form of a JSON text (a response body,
    §4.3.2), parsed as strictly as a receipt (no null rule: a body is not a receipt)."""
    loaded = _strict_loads(raw, MAX_CANONICAL_DEPTH)
    _refuse_duplicate_names(raw, loaded.members)
    if loaded.floats:
        _check_integer_text(raw)
    return sha256_tag(canonical_json(loaded.value))


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
    return _parse_common(raw, max_depth) or _parse_exactly(raw, max_depth)


def _parse_common(raw: bytes, max_depth: int) -> ParsedReceipt | None:
    """The common receipt, proved so at C speed where it can be; None for any other.

    Common: an object, no deeper than the limit, holding no null and no float, no
    member name that sorts differently in UTF-16, its chain link present, canonical
    bytes orjson writes, and no member dropped as a duplicate (`_no_member_dropped`).
    Then `_parse_exactly` would return the same receipt (its quick path, without the
    exact name count); anything else, errors included, is left to it.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(document) is not dict or not _plain_within(
        document, min(max_depth, MAX_CANONICAL_DEPTH)
    ):
        return None
    escapes = b"\\" in raw  # a one-byte search: C's memchr
    if (not raw.isascii() or (escapes and b"\\u" in raw)) and _HIGH_TEXT.search(raw) is not None:
        return None
    if _lacks_previous_hash(document) or type(document.get("proof", {})) is not dict:
        return None
    unsigned = document.copy()
    unsigned.pop("proof", None)
    try:
        canonical = orjson.dumps(unsigned, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return None
    if not _no_member_dropped(raw, document, canonical, escapes=escapes):
        return None
    return _parsed((document, canonical, sha256_tag(canonical)))


def _plain_within(document: dict[str, Any], limit: int) -> bool:
    """No float and no null anywhere, and no deeper than `limit`: one walk, a level at a
    time (`_scan` and `_depth_exceeds` in one, for the common case)."""
    level: list[Any] = [document]
    depth = 1
    while level:
        if depth > limit:
            return False
        below: list[Any] = []
        for node in level:
            for item in node.values() if type(node) is dict else node:
                kind = type(item)
                if kind is str:
                    continue
                if kind is dict or kind is list:
                    below.append(item)
                elif kind is float or item is None:
                    return False
        level = below
        depth += 1
    return True


def _lacks_previous_hash(document: dict[str, Any]) -> bool:
    """Whether step 2's exception would add the chain link (`_restore_previous_hash`)."""
    subject = document.get("credentialSubject")
    chain = subject.get("chain") if isinstance(subject, dict) else None
    return isinstance(chain, dict) and "previous_receipt_hash" not in chain


def _parse_exactly(raw: bytes, max_depth: int) -> ParsedReceipt:
    """Every step, every check: nulls, floats, big integers, names sorting differently in
    UTF-16, the exact duplicate-name count; each error as a MalformedReceiptError."""
    loaded = _strict_loads(raw, max_depth)
    quick = not loaded.floats and not loaded.nulls  # the duplicate check may come after
    if not quick:
        _refuse_duplicate_names(raw, loaded.members)
    if loaded.floats:
        _check_integer_text(raw)
    document = _without_nulls(loaded.value) if loaded.nulls else loaded.value
    if not isinstance(document, dict):
        found = type(document).__name__
        raise MalformedReceiptError(f"a receipt must be a JSON object, found {found}")
    # Cheap guard first: text without such characters needs no walk over member names.
    high_text = (not raw.isascii() or b"\\u" in raw) and _HIGH_TEXT.search(raw) is not None
    needs_rfc8785 = loaded.floats or (high_text and _has_high_member_name(document))
    restored = _restore_previous_hash(document)
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    try:
        canonical = canonicalize(unsigned, force_rfc8785=needs_rfc8785)
    except MalformedReceiptError:
        if quick:  # an ambiguous name is the first thing wrong, as on the exact path
            _refuse_duplicate_names(raw, loaded.members)
        raise
    if quick and (needs_rfc8785 or restored or not _no_member_dropped(raw, document, canonical)):
        _refuse_duplicate_names(raw, loaded.members)
    return ParsedReceipt(document=document, canonical=canonical, receipt_hash=sha256_tag(canonical))
