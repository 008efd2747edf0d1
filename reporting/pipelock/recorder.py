"""The flight recorder's own hash chain, checkpoints and transcript roots (PIPELOCK.md §3).

Each JSONL line is an entry: `v` (1, 2 or 3), `seq` over all entries, the write time
`ts`, the recorder `session_id`, `type`, `transport`, `summary`, `detail`, optional
`trace_id`/`raw_ref` (v2 adds `event_kind`, v3 `chain_kind` and `writer_instance_id`),
`prev_hash` and `hash`. `hash` is the SHA-256 hex of the fields joined by NUL bytes, in
the order `_hashed_fields` lists, with `ts` re-rendered as Go does and `detail` as the
exact bytes on the line. The first entry has `seq` 0 and `prev_hash` `genesis`; each
later one the previous `seq` + 1 and the previous line's `hash`.

`pipelock-verify` 0.4.1 reads only the receipts inside: an edited wrapper, a dropped
checkpoint or a forged v2 entry passes it. Here every entry is checked, a checkpoint's
signature (Ed25519 by the recorder key over the ASCII of its `prev_hash`; an empty
one is an unsigned checkpoint) and its span, and a transcript root against the chain
computed from the receipts before it. Unknown entry types are flagged (a warning).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reporting.pipelock.action import ed25519_valid
from reporting.pipelock.canonical import sha256_hex
from reporting.pipelock.strictjson import PipelockFormatError, member_span
from reporting.pipelock.timefmt import normalise_rfc3339
from reporting.receipts.results import Code, Origin

__all__ = [
    "KNOWN_TYPES",
    "Entry",
    "check_checkpoint",
    "check_entry_links",
    "entry_from_document",
    "transcript_problems",
]

RECEIPT_V1 = "action_receipt"
RECEIPT_V2 = "evidence_receipt"
CHECKPOINT = "checkpoint"
TRANSCRIPT_ROOT = "transcript_root"
ENDORSEMENT = "rotation_endorsement"
KNOWN_TYPES = frozenset(
    {RECEIPT_V1, RECEIPT_V2, CHECKPOINT, TRANSCRIPT_ROOT, ENDORSEMENT}
    | {"decision", "capture", "capture_drop"}
)
_STRINGS_V1 = ("ts", "session_id", "trace_id", "type", "transport", "summary", "raw_ref")
_MEMBERS = {
    1: frozenset({"v", "seq", "detail", "prev_hash", "hash", *_STRINGS_V1}),
    2: frozenset({"v", "seq", "detail", "prev_hash", "hash", "event_kind", *_STRINGS_V1}),
    3: frozenset(
        {"v", "seq", "detail", "prev_hash", "hash", "event_kind", *_STRINGS_V1}
        | {"chain_kind", "writer_instance_id"}
    ),
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{128}")
_CHECKPOINT_MEMBERS = frozenset({"entry_count", "first_seq", "last_seq", "signature"})
_ROOT_MEMBERS = frozenset(
    {"session_id", "final_seq", "root_hash", "receipt_count", "start_time", "end_time"}
)


@dataclass
class Entry:
    """One recorder line: its members, the raw detail text and its own problems."""

    origin: Origin
    document: dict[str, Any]
    detail_text: str  # the detail's exact text on the line ("null" when absent)
    stored_hash: str | None = None
    computed_hash: str | None = None
    problems: list[tuple[Code, str]] = field(default_factory=list)

    def text(self, name: str) -> str:
        value = self.document.get(name)
        return value if isinstance(value, str) else ""

    @property
    def seq(self) -> int | None:
        value = self.document.get("seq")
        return value if type(value) is int else None

    @property
    def type(self) -> str:
        return self.text("type")

    @property
    def session_id(self) -> str:
        return self.text("session_id")

    @property
    def detail(self) -> Any:
        return self.document.get("detail")


def _hashed_fields(version: int, entry: Entry, ts: str) -> list[str]:
    text = entry.text
    fields = [str(version), str(entry.seq), ts, text("session_id")]
    if version >= 3:
        fields += [text("chain_kind"), text("writer_instance_id")]
    fields += [text("trace_id"), text("type")]
    if version >= 2:
        fields.append(text("event_kind"))
    tail = ("transport", "summary")
    return [*fields, *map(text, tail), entry.detail_text, text("raw_ref"), text("prev_hash")]


def _check_members(document: dict[str, Any]) -> int:
    """The entry version, after the members and their Go types; raises PipelockFormatError."""
    version = document.get("v")
    if type(version) is not int or version not in _MEMBERS:
        raise PipelockFormatError(f"unsupported recorder entry version {version!r}")
    unknown = sorted(set(document) - _MEMBERS[version])
    if unknown:
        raise PipelockFormatError(f"unknown member {unknown[0]!r} in a v{version} entry")
    seq = document.get("seq")
    if type(seq) is not int or not 0 <= seq < 2**64:
        raise PipelockFormatError("seq must be an unsigned 64-bit integer")
    for name in _MEMBERS[version] - {"v", "seq", "detail"}:
        if not isinstance(document.get(name, ""), str):
            raise PipelockFormatError(f"{name} must be a string")
    return version


def entry_from_document(document: Any, text: str, origin: Origin) -> Entry:
    """An entry from one parsed line; its hash is recomputed and compared."""
    if not isinstance(document, dict):
        raise PipelockFormatError("a recorder entry must be a JSON object")
    version = _check_members(document)
    span = member_span(text, "detail")
    entry = Entry(origin, document, text[span[0] : span[1]] if span else "null")
    stored = document.get("hash", "")
    entry.stored_hash = stored if _HEX64.fullmatch(stored) else None
    if entry.stored_hash is None:
        entry.problems.append((Code.MALFORMED_RECEIPT, "hash must be 64 lowercase hex digits"))
    try:
        ts = normalise_rfc3339(entry.text("ts"))
    except ValueError as exc:
        entry.problems.append((Code.MALFORMED_RECEIPT, f"ts: {exc}"))
        return entry
    if ts != entry.text("ts"):
        message = f"ts {entry.text('ts')!r} is not Go's UTC RFC3339Nano form"
        entry.problems.append((Code.TIMESTAMP_NOT_NORMALISED, message))
    entry.computed_hash = sha256_hex("\x00".join(_hashed_fields(version, entry, ts)).encode())
    if entry.stored_hash is not None and entry.computed_hash != entry.stored_hash:
        message = f"entry hashes to {entry.computed_hash}; the line says {entry.stored_hash}"
        entry.problems.append((Code.RECORDER_ENTRY_HASH_MISMATCH, message))
    return entry


def check_entry_links(entries: Sequence[Entry]) -> None:
    """seq from 0 and prev_hash from `genesis`, each entry linking to the line before."""
    for index, entry in enumerate(entries):
        prev, seq = entry.text("prev_hash"), entry.seq
        if index == 0:
            if prev != "genesis" or seq != 0:
                message = (
                    f"the recorder chain starts at seq {seq} after {prev!r}, not at seq 0 "
                    "after 'genesis' (earlier entries or files missing)"
                )
                entry.problems.append((Code.RECORDER_LINK_BROKEN, message))
            continue
        before = entries[index - 1]
        if before.stored_hash is None or prev != before.stored_hash:
            message = f"prev_hash {prev!r} is not the previous entry's hash {before.stored_hash!r}"
            entry.problems.append((Code.RECORDER_LINK_BROKEN, message))
        if seq is not None and before.seq is not None and seq != before.seq + 1:
            message = f"entry seq {seq} follows {before.seq}"
            entry.problems.append((Code.RECORDER_LINK_BROKEN, message))
        if entry.session_id != entries[0].session_id:
            message = (
                f"session_id {entry.session_id!r} in recorder session {entries[0].session_id!r}"
            )
            entry.problems.append((Code.RECORDER_LINK_BROKEN, message))


def _uint(detail: dict[str, Any], name: str) -> int | None:
    value = detail.get(name)
    return value if type(value) is int and value >= 0 else None


def check_checkpoint(
    entry: Entry, span_start: int | None, keys: Sequence[bytes]
) -> tuple[int | None, list[str]]:
    """A checkpoint's span and signature; returns its seq and what is wrong with it.

    `span_start` is the first seq a checkpoint may cover (after the previous one)."""
    detail = entry.detail
    if not isinstance(detail, dict) or set(detail) != _CHECKPOINT_MEMBERS:
        return entry.seq, [f"a checkpoint detail has exactly {sorted(_CHECKPOINT_MEMBERS)}"]
    problems = []
    first, last, count = (
        _uint(detail, "first_seq"),
        _uint(detail, "last_seq"),
        _uint(detail, "entry_count"),
    )
    seq = entry.seq
    if seq is None or last != seq - 1:
        problems.append(f"last_seq {last} is not the entry before the checkpoint")
    if first is None or last is None or count != last - first + 1:
        problems.append(f"entry_count {count} does not span first_seq {first}..last_seq {last}")
    if first is not None and span_start is not None and first < span_start:
        problems.append(f"first_seq {first} overlaps the previous checkpoint")
    signature = detail.get("signature")
    if signature == "":
        return seq, problems  # an unsigned checkpoint (signing is optional in Pipelock)
    if not isinstance(signature, str) or not _SIGNATURE_HEX.fullmatch(signature):
        return seq, [*problems, "signature must be 128 lowercase hex digits or empty"]
    message = entry.text("prev_hash").encode("ascii", "replace")
    if not any(ed25519_valid(bytes.fromhex(signature), message, key) for key in keys):
        problems.append("checkpoint signature does not verify under the recorder's keys")
    return seq, problems


@dataclass(frozen=True)
class SignedTail:
    """What the receipts before a transcript root say (from the verified v1 chain)."""

    root_hash: str | None
    final_seq: int | None
    segment_start_time: str | None
    end_time: str | None


def transcript_problems(entry: Entry, tail: SignedTail | None) -> list[str]:
    """A transcript_root entry against the receipts before it."""
    detail = entry.detail
    if not isinstance(detail, dict) or set(detail) != _ROOT_MEMBERS:
        return [f"a transcript_root detail has exactly {sorted(_ROOT_MEMBERS)}"]
    if tail is None:
        return ["transcript_root before any receipt"]
    expected: dict[str, Any] = {
        "session_id": entry.session_id,
        "root_hash": tail.root_hash,
        "final_seq": tail.final_seq,
        "receipt_count": None if tail.final_seq is None else tail.final_seq + 1,
        "start_time": tail.segment_start_time,
        "end_time": tail.end_time,
    }
    return [
        f"transcript_root {name} is {detail.get(name)!r}; the receipts give {value!r}"
        for name, value in expected.items()
        if detail.get(name) != value
    ]
