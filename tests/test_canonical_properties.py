"""Canonicalisation against the `rfc8785` package as oracle; the parser only raises coded errors."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from reporting.receipts.canonical import (
    DEFAULT_MAX_DEPTH,
    MalformedReceiptError,
    _parse_common,
    _parse_exactly,
    canonical_json,
    parse_receipt,
)

from .helpers import examples

SAFE_INT = 2**53 - 1
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE_INT, max_value=SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=examples(400))
@given(json_values)
def test_canonical_json_matches_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=examples(300))
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_parse_receipt_matches_oracle_after_null_rule(document: dict[str, Any]) -> None:
    def without_nulls(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_nulls(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [without_nulls(v) for v in value]
        return value

    raw = json.dumps(document).encode()
    try:
        parsed = parse_receipt(raw)
    except MalformedReceiptError:
        return  # only too-deep input may be refused here
    expected = {k: v for k, v in without_nulls(document).items() if k != "proof"}
    assert parsed.canonical == rfc8785.dumps(expected)


@settings(max_examples=examples(500))
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_coded_error_or_a_parse(raw: bytes) -> None:
    # Any exception other than the coded one fails the test.
    with contextlib.suppress(MalformedReceiptError):
        parse_receipt(raw)


@settings(max_examples=examples(300))
@given(st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=5), st.data())
def test_duplicate_member_names_are_always_refused(document: dict[str, int], data: Any) -> None:
    name = data.draw(st.sampled_from(sorted(document)))
    body = json.dumps(document)[1:-1]
    spacing = data.draw(st.sampled_from(["", " ", "\n\t "]))
    raw = "{" + body + f", {json.dumps(name)}{spacing}:{spacing}1" + "}"
    with pytest.raises(MalformedReceiptError, match="duplicate"):
        parse_receipt(raw.encode())


# -- the common path (proved at C speed) against the exact path ----------------------------

texts = st.text(alphabet='a:"\\é\ue000😀 1.', max_size=6)
receipt_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(texts, receipt_like, max_size=5),
    st.booleans(),
    st.sampled_from([(", ", ": "), (",", ":"), (",\n ", " : ")]),
    st.one_of(st.none(), st.tuples(st.integers(min_value=0), receipt_like)),
)
def test_common_path_agrees_with_the_exact_path(
    document: dict[str, Any],
    ascii_only: bool,
    separators: tuple[str, str],
    duplicate: tuple[int, Any] | None,
) -> None:
    """Whatever the text (escapes, colons in strings, floats, nulls, a duplicate name),
    the common path either declines or returns exactly what the exact path returns."""
    raw = json.dumps(document, ensure_ascii=ascii_only, separators=separators)
    if duplicate is not None and document:
        name = sorted(document)[duplicate[0] % len(document)]
        member = json.dumps(name, ensure_ascii=ascii_only) + separators[1]
        raw = raw[:-1] + separators[0] + member + json.dumps(duplicate[1]) + "}"
    data = raw.encode()
    common = _parse_common(data, DEFAULT_MAX_DEPTH)
    try:
        exact = _parse_exactly(data, DEFAULT_MAX_DEPTH)
    except MalformedReceiptError:
        assert common is None
        return
    assert common is None or common == exact


def test_an_escaped_colon_cannot_hide_a_dropped_duplicate() -> None:
    """Colons are counted in the text: a colon escaped in a kept string (one fewer in the
    text) must not make up for the colon of a member dropped as a duplicate."""
    raw = b'{"a": "\\u003a", "b": 1, "b": 2}'
    with pytest.raises(MalformedReceiptError, match="duplicate"):
        parse_receipt(raw)
    with pytest.raises(MalformedReceiptError, match="duplicate"):
        parse_receipt(raw.replace(b"003a", b"003A"))
