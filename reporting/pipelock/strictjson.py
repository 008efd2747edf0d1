"""Strict JSON in, Go `encoding/json` bytes out: the two ends of every Pipelock hash.

Parsing is as strict as for Agent Receipts, and stricter than Go where Go is lenient in
ways Pipelock never writes: invalid UTF-8, a byte-order mark, `NaN`/`Infinity`, lone
surrogates, duplicate member names, trailing data, `-0`, integers Python cannot hold and
nesting beyond `MAX_DEPTH` (128, as the digest says) are all rejected, each because it
lets two readers disagree about what was signed. Numbers keep their JSON type: `1` is an
int, `1.0` and `1e0` are floats, so a Go integer field can refuse the latter.

Go's encoder escapes `"`, `\\`, `\\n`, `\\r`, `\\t`, `\\b`, `\\f`, other characters below
U+0020 as lowercase `\\u00xx`, and `<`, `>`, `&`, U+2028, U+2029 as `\\u003c`... (HTML-safe);
everything else, `/` and non-ASCII included, is written raw. Python's `json.dumps`
without `ensure_ascii` does exactly the first part, so `go_string` adds the second.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "PipelockFormatError",
    "compact_go",
    "decode_text",
    "go_string",
    "loads_strict",
    "member_span",
]

MAX_DEPTH = 128
_HTML_SAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_WHITESPACE = " \t\r\n"


class PipelockFormatError(ValueError):
    """Bytes that are not one unambiguous JSON document (or not the expected shape)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class _DuplicateError(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateError(name)
            seen.add(name)
    return document


def _reject_constant(name: str) -> Any:
    raise PipelockFormatError(f"{name} is not JSON")


def _integer(text: str) -> int:
    if text == "-0":
        raise PipelockFormatError("-0 is not an integer Go writes")
    return int(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_reject_constant, parse_int=_integer
)
_SPAN_DECODER = json.JSONDecoder()  # only to find where a value already parsed ends


def _too_deep(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def decode_text(raw: bytes) -> str:
    """UTF-8 text of a record, refusing invalid UTF-8 and a byte-order mark."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelockFormatError(f"invalid UTF-8 at byte {exc.start}") from exc
    if text.startswith("\ufeff"):
        raise PipelockFormatError("byte-order mark before the JSON value")
    return text


def loads_strict(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON value strictly (see the module docstring); raises PipelockFormatError."""
    try:
        value = _DECODER.decode(text)
    except _DuplicateError as exc:
        raise PipelockFormatError(f"duplicate member name {exc.args[0]!r}") from exc
    except PipelockFormatError:
        raise
    except json.JSONDecodeError as exc:
        raise PipelockFormatError(f"invalid JSON: {exc.msg} at character {exc.pos}") from exc
    except RecursionError as exc:
        raise PipelockFormatError(f"JSON nesting deeper than {max_depth}") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise PipelockFormatError(f"invalid number: {exc}") from exc
    brackets = text.count("{") + text.count("[")
    if brackets > max_depth and isinstance(value, dict | list) and _too_deep(value, max_depth):
        raise PipelockFormatError(f"JSON nesting deeper than {max_depth}")
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise PipelockFormatError("lone UTF-16 surrogate in a string")
    return value


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def member_span(text: str, wanted: str) -> tuple[int, int] | None:
    """Where the top-level member `wanted` has its value in `text`, a JSON object already
    parsed by `loads_strict` (so every step below succeeds): the raw bytes of `detail` and
    `ext` are hashed as written, never re-serialised. Stops at the member it wants."""
    position = _skip(text, 0) + 1  # past "{"
    while True:
        position = _skip(text, position)
        if text[position] == "}":
            return None
        name, position = _SPAN_DECODER.raw_decode(text, position)
        position = _skip(text, _skip(text, position) + 1)  # past ":"
        _, end = _SPAN_DECODER.raw_decode(text, position)
        if name == wanted:
            return position, end
        position = _skip(text, end)
        if text[position] == ",":
            position += 1


_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\<>&\u2028\u2029]')


def go_string(value: str) -> str:
    """A string as Go's encoding/json writes it (HTML-safe escaping)."""
    if _NEEDS_ESCAPE.search(value) is None:  # the common case: nothing to escape
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False).translate(_HTML_SAFE)


def compact_go(raw: str) -> str:
    """Go's json.Marshal of a RawMessage: whitespace outside strings removed, `<>&`,
    U+2028 and U+2029 escaped inside them, every other character kept as written."""
    out: list[str] = []
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            out.append(char.translate(_HTML_SAFE))
        elif char == '"':
            in_string = True
            out.append(char)
        elif char not in _WHITESPACE:
            out.append(char)
    return "".join(out)
