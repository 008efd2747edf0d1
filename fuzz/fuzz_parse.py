"""atheris: `parse_receipt` on arbitrary bytes; only MalformedReceiptError may escape."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["reporting"]):
    from reporting.receipts.canonical import MalformedReceiptError, parse_receipt


def test_one_input(data: bytes) -> None:
    try:
        parsed = parse_receipt(data)
    except MalformedReceiptError:
        return
    assert isinstance(parsed.document, dict)
    assert parsed.receipt_hash.startswith("sha256:")
    again = parse_receipt(data)  # deterministic
    assert again.canonical == parsed.canonical


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
