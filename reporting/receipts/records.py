"""A receipt's stored bytes and where they came from, the run's limits on reading them,
and the one strict reader of a receipt's keys.

The spool groups records by chain id, the verifier looks response bodies up by receipt
id, and delegation (§7.6) names a parent receipt id: each is read by `read_keys`, with
the same strict parser and the same limits as verification itself, so a record the
verifier would reject never lends its keys to anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from reporting.receipts.canonical import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_RECEIPT_BYTES,
    MalformedReceiptError,
    parse_receipt,
)
from reporting.receipts.fields import get_path
from reporting.receipts.results import Origin

__all__ = ["RawRecord", "ReadLimits", "ReceiptKeys", "keys_of", "read_keys"]


class RawRecord(NamedTuple):
    """One receipt's stored bytes, where they came from, and the store's index columns.

    `receipt_key` is the receipt id as the spool read it (`read_keys`, or SQLite where
    the two cannot differ): for looking bodies up ahead of verification, never evidence.
    A named tuple: one is built for every record read back, and sent between processes.
    """

    raw: bytes
    origin: Origin
    index_columns: dict[str, object] | None = None
    receipt_key: str | None = None


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """The largest receipt (bytes) and the deepest nesting a run reads."""

    max_bytes: int = DEFAULT_MAX_RECEIPT_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


@dataclass(frozen=True, slots=True)
class ReceiptKeys:
    """What a receipt says it is: its chain, its id, and the receipt it was delegated from."""

    chain_id: str | None
    receipt_id: str | None
    parent_receipt_id: str | None


def read_keys(raw: bytes, limits: ReadLimits) -> ReceiptKeys | None:
    """A receipt's keys as the verifier reads it, or None when the verifier would reject
    it (malformed, ambiguous, over the limits). A key that is not a string is None."""
    try:
        document = parse_receipt(raw, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    except MalformedReceiptError:
        return None
    return keys_of(document.document)


def keys_of(document: dict[str, Any]) -> ReceiptKeys:
    """The keys of a receipt already parsed strictly."""
    return ReceiptKeys(
        chain_id=_text(get_path(document, "credentialSubject", "chain", "chain_id")),
        receipt_id=_text(document.get("id")),
        parent_receipt_id=_text(
            get_path(document, "credentialSubject", "delegation", "parent_receipt_id")
        ),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
