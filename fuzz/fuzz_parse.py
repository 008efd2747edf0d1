"""atheris: `parse_receipt` on arbitrary bytes; only MalformedReceiptError may escape, and
the common path (proved at C speed) returns exactly what the exact path returns, or
declines."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["reporting"]):
    from reporting.receipts.canonical import (
        DEFAULT_MAX_DEPTH,
        MalformedReceiptError,
        _parse_common,
        _parse_exactly,
        parse_receipt,
    )


def test_one_input(data: bytes) -> None:
    common = _parse_common(data, DEFAULT_MAX_DEPTH)
    try:
        parsed = parse_receipt(data)
    except MalformedReceiptError:
        assert common is None, "the common path accepted what the exact path refuses"
        return
    assert isinstance(parsed.document, dict)
    assert parsed.receipt_hash.startswith("sha256:")
    again = parse_receipt(data)  # deterministic
    assert again.canonical == parsed.canonical
    if common is not None:
        assert common == _parse_exactly(data, DEFAULT_MAX_DEPTH)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
