"""Canonicalisation against the `rfc8785` package as oracle; the parser only raises coded errors."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from reporting.receipts.canonical import MalformedReceiptError, canonical_json, parse_receipt

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
