"""Pipelock content, detected from bytes, split into records that remember their origin.

Kinds (`PipelockKind`), decided from the content only, never the file name:

* `recorder`: flight-recorder JSONL, lines that are entries (`v`, `seq`, `type`,
  `prev_hash`, `hash`), wrapping v1 and v2 receipts among other entry types;
* `receipt_lines`: bare ActionReceipt v1 JSONL (`evidence-*.jsonl` exports, one
  receipt per line; v2 receipts may be mixed in);
* `receipt` / `evidence_receipt`: one ActionReceipt v1 / EvidenceReceipt v2 as JSON;
* `endorsement`: a rotation endorsement, an input to chain verification;
* `key`: a Pipelock key file (64 hex digits, or JSON with `public_key_hex`): trust
  material for `--keys`, not a record.

Anything else (an Agent Receipt, a JSON array, an SQLite store) is not Pipelock content.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from reporting.pipelock.rotation import is_endorsement
from reporting.pipelock.trust import pipelock_key_from_bytes

__all__ = ["PipelockKind", "PipelockSource", "detect_pipelock", "document_kind", "split_lines"]

_ENTRY_MEMBERS = frozenset({"v", "seq", "type", "prev_hash", "hash"})
_DETECT_LINES = 8  # lines read to decide; the first that is Pipelock's decides
_DETECT_LIMIT = 64 << 20  # a pretty-printed single receipt is small; never parse more to detect


class PipelockKind(StrEnum):
    RECORDER = "recorder"
    RECEIPT_LINES = "receipt_lines"
    RECEIPT = "receipt"
    EVIDENCE_RECEIPT = "evidence_receipt"
    ENDORSEMENT = "endorsement"
    KEY = "key"


@dataclass(frozen=True, slots=True)
class PipelockSource:
    """A file's (or stream's) bytes and the name reports show for it (e.g. its path)."""

    raw: bytes
    origin: str


def document_kind(document: Any) -> str | None:
    """'entry', 'v1', 'v2', 'endorsement' or None for one parsed JSON value."""
    if not isinstance(document, dict):
        return None
    if set(document) >= _ENTRY_MEMBERS:
        return "entry"
    if document.get("record_type") == "evidence_receipt_v2":
        return "v2"
    if "action_record" in document and "signer_key" in document:
        return "v1"
    if is_endorsement(document):
        return "endorsement"
    return None


def split_lines(raw: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without the line end) of each non-blank line."""
    for number, text in enumerate(raw.split(b"\n"), start=1):
        line = text.removesuffix(b"\r")
        if line.strip():
            yield number, line


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


_LINES_KIND = {
    "entry": PipelockKind.RECORDER,
    "v1": PipelockKind.RECEIPT_LINES,
    "v2": PipelockKind.RECEIPT_LINES,
}
_SINGLE_KIND = {
    "entry": PipelockKind.RECORDER,
    "v1": PipelockKind.RECEIPT,
    "v2": PipelockKind.EVIDENCE_RECEIPT,
    "endorsement": PipelockKind.ENDORSEMENT,
}


def detect_pipelock(raw: bytes) -> PipelockKind | None:
    """Which kind of Pipelock content `raw` is, or None when it is none. Cheap: reads
    the first few lines (a mangled first line does not hide a recorder file), or the
    whole text when it is one pretty-printed JSON value."""
    if len(raw) <= 4096 and pipelock_key_from_bytes(raw) is not None:
        return PipelockKind.KEY
    lines = split_lines(raw)
    head = [line for _, line in itertools.islice(lines, _DETECT_LINES)]
    if not head:
        return None
    kinds = [document_kind(_loads(line)) for line in head]
    kind = next((k for k in kinds if k is not None), None)
    if kind is not None:
        if len(head) == 1:
            return _SINGLE_KIND[kind]
        return _LINES_KIND.get(kind)
    if len(raw) > _DETECT_LIMIT or not head[0].lstrip().startswith(b"{"):
        return None
    return _SINGLE_KIND.get(document_kind(_loads(raw)) or "")
