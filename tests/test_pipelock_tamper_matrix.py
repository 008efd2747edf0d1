"""Pipelock tamper matrix: every single-point change to signed egress records fails safe.

The world is one recorder session signed independently of the code under test
(`pipelock_support`: pipelock-verify's canonicalisers): a `g1:` open, seven decisions
(allow, block with a DLP hit, strip with a redaction summary, an MCP tool call, a
tainted WebSocket read, a redirect), v2 receipts, a heartbeat, a key rotation with its
endorsement in the log, two decisions under the new key, the close, a transcript root
and a signed checkpoint; and the same receipts as a bare ActionReceipt JSONL export.

Mutations, one at a time:

* signed content (bare JSONL): every member and array element of every receipt
  (envelope and action record, nested session-control, taint and redaction objects)
  changed, removed and retyped; every v2 receipt's members likewise, inside the
  recorder with every entry hash recomputed;
* receipts dropped, swapped, duplicated, spliced in from another chain, re-signed by
  another key, a whole log re-signed by an attacker;
* recorder entries: every wrapper member of every line changed, removed, retyped;
  lines dropped, swapped, duplicated; non-receipt details (checkpoint, transcript
  root, endorsement) changed with every hash recomputed;
* tail truncation after every line, with and without the close;
* rotation abuses: no endorsement, forged, for another successor, session or
  boundary, two conflicting ones, a rotation appended by an attacker, one at genesis;
* encodings that keep the signed bytes (whitespace, member order, escapes, null
  omitempty members, CRLF, blank lines, wrapper member order): these must verify.

Whether a change touches signed content is decided by an oracle independent of the
code under test (pipelock-verify's canonical bytes; the recorder's hash recomputed in
`pipelock_support`). Each mutation must be detected (the run is not valid), report a
code its class names, and leave no row of the affected chain trusted as evidence; on
the bare JSONL, 0.4.1 may never reject what we accept.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from reporting.pipelock import PipelockVerification, action_evidence
from reporting.receipts.results import Code, Outcome

from .conftest import SUMMARY_LINES
from .pipelock_support import (
    ATTACKER,
    KEY_A,
    KEY_B,
    START,
    build_world,
    detail_text,
    entry_hash,
    failure_codes,
    rehash,
    text_of,
    verify,
    with_detail,
    writer,
)

pipelock_verify = pytest.importorskip("pipelock_verify")
from pipelock_verify._canonical import (  # noqa: E402
    _ACTION_RECORD_FIELDS,
    _NESTED_OBJECT_FIELDS,
    _RECEIPT_FIELDS,
    _TAINT_SOURCE_FIELDS,
    canonicalize_receipt,
)
from pipelock_verify._jcs import canonicalize as jcs  # noqa: E402

C = Code


class Bucket(StrEnum):
    SIGNED = "signed content"
    RECEIPTS = "receipts dropped, reordered, spliced or forged"
    RECORDER = "recorder entries"
    TRUNCATION = "tail truncation removing the signed close"
    AFTER_CLOSE = "tail truncation after the signed close"  # recorder seal only
    ROTATION = "rotation abuse"
    EQUIVALENT = "equivalent encoding"


# Codes each class may be caught by (on the mutated record where there is one).
SIGNED_CODES = frozenset(
    {C.INVALID_SIGNATURE, C.MALFORMED_RECEIPT, C.SCHEMA_VIOLATION, C.UNKNOWN_ISSUER_KEY}
)
LINK_CODES = frozenset(
    {C.HASH_LINK_BROKEN, C.SEQUENCE_GAP, C.SEQUENCE_DUPLICATE, C.GENESIS_NOT_NULL}
)
ENTRY_CODES = frozenset(
    {C.RECORDER_ENTRY_HASH_MISMATCH, C.RECORDER_LINK_BROKEN, C.MALFORMED_RECEIPT}
)
EXPECTED = {
    "field": SIGNED_CODES,
    "v2.field": SIGNED_CODES | {C.KEY_PURPOSE_MISMATCH},
    "v2.label": {C.HASH_LINK_BROKEN, C.CHECKPOINT_INVALID},
    "receipt": LINK_CODES | {C.SESSION_BINDING_INVALID, C.SESSION_NOT_CLOSED},
    "forged": SIGNED_CODES | LINK_CODES | {C.ROTATION_INVALID},
    "entry": ENTRY_CODES | {C.TIMESTAMP_NOT_NORMALISED},
    "line": ENTRY_CODES | LINK_CODES | {C.CHECKPOINT_INVALID, C.SESSION_NOT_CLOSED},
    "seal": {C.CHECKPOINT_INVALID, C.TRANSCRIPT_ROOT_MISMATCH, C.ROTATION_INVALID},
    "truncate": {C.SESSION_NOT_CLOSED},
    "rotation": {C.ROTATION_INVALID},
}


@dataclass
class Mutation:
    cls: str
    label: str
    bucket: Bucket
    sources: tuple[tuple[str, str], ...]  # (text, name)
    line: int | None = None  # the mutated receipt's index in its v1 chain, if one
    v2_index: int | None = None
    bare: bool = False  # a bare ActionReceipt JSONL (0.4.1 can judge it)


@dataclass
class Verdict:
    mutation: Mutation
    detected: bool
    codes: set[Code]
    violations: list[str] = field(default_factory=list)
    verdict_041: bool | None = None


# -- the world ----------------------------------------------------------------------------

WORLD = build_world(rotate=True)
OTHER = build_world(seed=9, rotate=False, key=KEY_A)
RECEIPT_LINES = WORLD.receipt_lines()
ENDORSEMENTS = tuple(WORLD.endorsement_files())


def _bare(lines: list[str]) -> tuple[tuple[str, str], ...]:
    return ((text_of(lines), "receipts.jsonl"), *ENDORSEMENTS)


def _recorder(lines: list[str]) -> tuple[tuple[str, str], ...]:
    return ((text_of(lines), "evidence-proxy-0.jsonl"),)


def _types() -> list[str]:
    return [json.loads(line)["type"] for line in WORLD.lines]


# -- value mutations ----------------------------------------------------------------------

_MISSING = object()


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every member and array element below `value` (depth first)."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield (*at, key)
        yield from paths(child, (*at, key))


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, value[0]] if value else ["x"]
    if isinstance(value, dict):
        return {**value, "extra": 1}
    return ["x"]  # null


def _retyped(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return float(value) + 0.5
    if isinstance(value, str):
        return 1
    if isinstance(value, list | dict):
        return {} if isinstance(value, list) else []
    return 0


def _apply(document: Any, path: tuple[Any, ...], op: str) -> Any:
    copy = json.loads(json.dumps(document))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if op == "remove":
        del parent[key]
    else:
        parent[key] = (_changed if op == "change" else _retyped)(parent[key])
    return copy


_GO_ZERO = {"version": 0, "chain_seq": 0, "delegation_chain": None}


def _unknown_member(value: Any, fields: list[tuple[str, bool, str | None]]) -> bool:
    """A member Go's struct does not declare, at any depth (0.4.1's field tables)."""
    if not isinstance(value, dict):
        return False
    known = {name: nested for name, _, nested in fields}
    for name, child in value.items():
        if name not in known:
            return True
        nested = known[name]
        if nested == "taint_source" and isinstance(child, list):
            if any(_unknown_member(item, _TAINT_SOURCE_FIELDS) for item in child):
                return True
        elif nested in _NESTED_OBJECT_FIELDS and _unknown_member(
            child, _NESTED_OBJECT_FIELDS[nested]
        ):
            return True
    return False


def _go_bytes(envelope: dict[str, Any]) -> bytes:
    """Go's bytes for an envelope: pipelock-verify's canonicaliser, with the top-level
    members Go always writes filled in as Go's zero values (0.4.1 omits them)."""
    record = dict(envelope["action_record"])
    for name, omitempty, _ in _ACTION_RECORD_FIELDS:
        if not omitempty and record.get(name) is None:
            record[name] = _GO_ZERO.get(name, "")
    return canonicalize_receipt({**envelope, "action_record": record})


def _same_signed_v1(original: dict[str, Any], mutated: Any) -> bool:
    """The oracle: would Go read the mutated envelope as the same signed bytes?"""
    try:
        if _unknown_member(mutated, _RECEIPT_FIELDS):
            return False
        return _go_bytes(mutated) == _go_bytes(original)
    except Exception:  # noqa: BLE001 - any refusal means the content is not the same
        return False


def signed_field_mutations() -> Iterator[Mutation]:
    for index, line in enumerate(RECEIPT_LINES):
        envelope = json.loads(line)
        for path in paths(envelope):
            for op in ("change", "remove", "retype"):
                mutated = _apply(envelope, path, op)
                lines = list(RECEIPT_LINES)
                lines[index] = json.dumps(mutated, separators=(",", ":"))
                same = _same_signed_v1(envelope, mutated)
                label = f"field.{op} #{index} {'/'.join(map(str, path))}"
                bucket = Bucket.EQUIVALENT if same else Bucket.SIGNED
                yield Mutation(f"field.{op}", label, bucket, _bare(lines), index, bare=True)


_ZEROED = dict.fromkeys(("signer_key_id", "key_purpose", "algorithm", "signature"), "")


def _v2_bytes(document: Any) -> tuple[bytes, bytes, Any]:
    """(preimage, whole receipt) in the reference's JCS, and the signature value."""
    signature = document.get("signature") if isinstance(document, dict) else None
    value = signature.get("signature") if isinstance(signature, dict) else None
    return jcs({**document, "signature": _ZEROED}), jcs(document), value


def v2_field_mutations() -> Iterator[Mutation]:
    """Written by the recorder itself (hashes and checkpoints redone with its key), so
    only v2 verification can catch a change to signed content; a change to the unsigned
    signature labels (signer_key_id, key_purpose, algorithm) is bound only by the next
    receipt's link and the recorder's seal, so it is made by an attacker without the key."""
    v2_lines = [i for i, t in enumerate(_types()) if t == "evidence_receipt"]
    for number, line_index in enumerate(v2_lines):
        document = json.loads(detail_text(WORLD.lines[line_index]))
        for path in paths(document):
            for op in ("change", "remove", "retype"):
                mutated = _apply(document, path, op)
                lines = list(WORLD.lines)
                lines[line_index] = with_detail(lines[line_index], writer.go_json(mutated))
                try:
                    before, after = _v2_bytes(document), _v2_bytes(mutated)
                except Exception:  # noqa: BLE001 - the reference refuses it: not the same
                    before, after = (b"", b"", None), (b"x", b"x", None)
                label = f"v2.field.{op} v2#{number} {'/'.join(map(str, path))}"
                kind = "field"
                if before == after:
                    bucket, key = Bucket.EQUIVALENT, KEY_B
                elif before[0] == after[0] and before[2] == after[2]:
                    bucket, key, kind = Bucket.RECORDER, None, "label"  # unsigned
                else:
                    bucket, key = Bucket.SIGNED, KEY_B
                sources = _recorder(rehash(lines, key))
                yield Mutation(f"v2.{kind}.{op}", label, bucket, sources, v2_index=number)


# -- whole receipts -----------------------------------------------------------------------


def receipt_mutations() -> Iterator[Mutation]:
    n = len(RECEIPT_LINES)
    for i in range(n):
        rest = RECEIPT_LINES[:i] + RECEIPT_LINES[i + 1 :]
        yield Mutation(
            "receipt.drop", f"receipt.drop #{i}", Bucket.RECEIPTS, _bare(rest), bare=True
        )
        doubled = RECEIPT_LINES[: i + 1] + RECEIPT_LINES[i:]
        yield Mutation(
            "receipt.duplicate",
            f"receipt.duplicate #{i}",
            Bucket.RECEIPTS,
            _bare(doubled),
            bare=True,
        )
    for i in range(n - 1):
        swapped = list(RECEIPT_LINES)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        yield Mutation(
            "receipt.swap",
            f"receipt.swap #{i}<->#{i + 1}",
            Bucket.RECEIPTS,
            _bare(swapped),
            bare=True,
        )
    foreign = OTHER.receipt_lines()
    for i in (1, 5, len(foreign) - 2):
        spliced = list(RECEIPT_LINES)
        spliced[i] = foreign[i]
        yield Mutation(
            "receipt.splice-other-chain",
            f"receipt.splice #{i}",
            Bucket.RECEIPTS,
            _bare(spliced),
            i,
            bare=True,
        )


def _resigned(envelope: dict[str, Any], key: Any, **changes: Any) -> str:
    record = {**envelope["action_record"], **changes}
    return json.dumps(writer.sign_action(record, key), separators=(",", ":"))


def forged_mutations() -> Iterator[Mutation]:
    for i in (1, 3, 6):
        envelope = json.loads(RECEIPT_LINES[i])
        lines = list(RECEIPT_LINES)
        lines[i] = _resigned(envelope, ATTACKER, verdict="allow")
        yield Mutation(
            "forged.resigned-by-attacker",
            f"forged.resigned #{i}",
            Bucket.RECEIPTS,
            _bare(lines),
            i,
            bare=True,
        )
    attacker_world = build_world(key=ATTACKER, rotate=False)
    yield Mutation(
        "forged.whole-log-by-attacker",
        "forged.whole log",
        Bucket.RECEIPTS,
        _recorder(attacker_world.lines),
    )
    # receipts appended under the attacker's key, linked to the real tail
    last = json.loads(RECEIPT_LINES[-1])
    record = {**last["action_record"], "chain_seq": last["action_record"]["chain_seq"] + 1}
    record["chain_prev_hash"] = writer.action_hash(last)
    record["session_control"] = None
    record["target"], record["transport"] = "https://exfil.example.net/", "fetch"
    appended = json.dumps(
        writer.sign_action({k: v for k, v in record.items() if v is not None}, ATTACKER)
    )
    yield Mutation(
        "forged.appended-by-attacker",
        "forged.appended",
        Bucket.RECEIPTS,
        _bare([*RECEIPT_LINES, appended]),
        len(RECEIPT_LINES),
        bare=True,
    )


# -- recorder entries ---------------------------------------------------------------------


def _compose(members: list[tuple[str, Any]], detail: str) -> str:
    """A line from its members in order, the detail kept as its raw text."""
    parts = [
        f"{json.dumps(k)}:{detail if k == 'detail' else json.dumps(v, separators=(',', ':'))}"
        for k, v in members
    ]
    return "{" + ",".join(parts) + "}"


_ENTRY_FIELDS = ("ts", "session_id", "trace_id", "type", "event_kind", "transport")
_ENTRY_FIELDS += ("summary", "raw_ref", "prev_hash")


def _entry_equivalent(mutated: dict[str, Any], detail: str, stored: str) -> bool:
    """Go reads the entry as the same hashed fields (absent strings are "")."""
    if mutated.get("v") != 2 or type(mutated.get("seq")) is not int:
        return False
    if mutated.get("hash") != stored or set(mutated) - {*_ENTRY_FIELDS, "v", "seq", "hash"}:
        return False
    if not all(isinstance(v, str) for k, v in mutated.items() if k not in ("v", "seq")):
        return False
    return entry_hash(dict.fromkeys(_ENTRY_FIELDS, "") | mutated, detail) == stored


def entry_mutations() -> Iterator[Mutation]:
    for index, line in enumerate(WORLD.lines):
        document = json.loads(line)
        detail = detail_text(line)
        members = [(k, v) for k, v in document.items()]
        for position, (name, value) in enumerate(members):
            if name == "detail":
                continue
            for op in ("change", "remove", "retype"):
                if op == "remove":
                    changed = members[:position] + members[position + 1 :]
                else:
                    new = (_changed if op == "change" else _retyped)(value)
                    changed = [*members[:position], (name, new), *members[position + 1 :]]
                lines = list(WORLD.lines)
                lines[index] = _compose(changed, detail)
                mutated = {k: v for k, v in changed if k != "detail"}
                same = _entry_equivalent(mutated, detail, document["hash"])
                bucket = Bucket.EQUIVALENT if same else Bucket.RECORDER
                yield Mutation(
                    f"entry.{op}", f"entry.{op} line {index + 1} {name}", bucket, _recorder(lines)
                )
        # the same instant written another way: Go hashes it the same, but not Pipelock's form
        lines = list(WORLD.lines)
        lines[index] = line.replace(
            f'"ts":"{document["ts"]}"', f'"ts":"{document["ts"][:-1]}+00:00"'
        )
        yield Mutation(
            "entry.ts-not-normalised",
            f"entry.ts+00:00 line {index + 1}",
            Bucket.RECORDER,
            _recorder(lines),
        )


def line_mutations() -> Iterator[Mutation]:
    lines = WORLD.lines
    for i in range(len(lines)):
        # dropping the last line (the final checkpoint) is a truncation after the close
        last = Bucket.AFTER_CLOSE if i == len(lines) - 1 else Bucket.RECORDER
        yield Mutation(
            "line.drop", f"line.drop {i + 1}", last, _recorder(lines[:i] + lines[i + 1 :])
        )
        yield Mutation(
            "line.duplicate",
            f"line.duplicate {i + 1}",
            Bucket.RECORDER,
            _recorder(lines[: i + 1] + lines[i:]),
        )
        if _types()[i] == "action_receipt":  # dropped, and every entry hash recomputed
            smart = rehash(lines[:i] + lines[i + 1 :])
            yield Mutation(
                "line.drop-receipt-rehashed",
                f"line.drop+rehash {i + 1}",
                Bucket.RECORDER,
                _recorder(smart),
            )
    for i in range(len(lines) - 1):
        swapped = list(lines)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        yield Mutation(
            "line.swap", f"line.swap {i + 1}<->{i + 2}", Bucket.RECORDER, _recorder(swapped)
        )


def seal_mutations() -> Iterator[Mutation]:
    """Non-receipt details (checkpoint, transcript root, endorsement), hashes recomputed."""
    for index, kind in enumerate(_types()):
        if kind not in ("checkpoint", "transcript_root", "rotation_endorsement"):
            continue
        document = json.loads(detail_text(WORLD.lines[index]))
        for path in paths(document):
            for op in ("change", "remove", "retype"):
                lines = list(WORLD.lines)
                lines[index] = with_detail(lines[index], writer.go_json(_apply(document, path, op)))
                label = f"seal.{op} {kind} {'/'.join(map(str, path))}"
                yield Mutation(
                    f"seal.{kind}.{op}", label, Bucket.RECORDER, _recorder(rehash(lines))
                )


def truncations() -> Iterator[Mutation]:
    types = _types()
    close = max(i for i, t in enumerate(types) if t == "action_receipt")
    for cut in range(1, len(WORLD.lines)):
        bucket = Bucket.TRUNCATION if cut <= close else Bucket.AFTER_CLOSE
        yield Mutation(
            "truncate.recorder", f"truncate after line {cut}", bucket, _recorder(WORLD.lines[:cut])
        )
    for cut in range(1, len(RECEIPT_LINES)):
        yield Mutation(
            "truncate.receipts",
            f"truncate receipts after #{cut}",
            Bucket.TRUNCATION,
            _bare(RECEIPT_LINES[:cut]),
            bare=True,
        )


# -- rotation abuses ----------------------------------------------------------------------


def _rotation_world(
    endorse_with: Any = KEY_A,
    successor: Any = KEY_B,
    marker_key: Any = KEY_B,
    session: str = "proxy",
    seq_offset: int = 0,
    twice: bool = False,
) -> tuple[tuple[str, str], ...]:
    recorder = writer.Recorder()
    emitter = writer.Emitter(recorder, KEY_A, random.Random(3), actor="coding-assistant")
    emitter.open(START)
    emitter.emit(START + timedelta(seconds=1), target="https://x.example", transport="fetch")
    final, tail = emitter.seq - 1, emitter.prev
    endorsements = [
        writer.endorse(
            session, endorse_with, final + seq_offset, tail, successor.hex, "2026-10-05T09:00:05Z"
        )
    ]
    if twice:
        endorsements.append(
            writer.endorse("proxy", KEY_A, final, tail, ATTACKER.hex, "2026-10-05T09:00:05Z")
        )
    emitter.rotate(START + timedelta(seconds=5), marker_key, log=False)
    emitter.emit(START + timedelta(seconds=6), target="https://y.example", transport="fetch")
    emitter.close(START + timedelta(seconds=7))
    files = tuple((json.dumps(e), f"endorsement-{i}.json") for i, e in enumerate(endorsements))
    return ((recorder.text(), "evidence-proxy-0.jsonl"), *files)


def rotation_mutations() -> Iterator[Mutation]:
    cases = {
        "rotation.valid-control": _rotation_world(),
        "rotation.no-endorsement": _rotation_world()[:1],
        "rotation.endorsed-by-attacker": _rotation_world(endorse_with=ATTACKER),
        "rotation.endorsement-names-another-successor": _rotation_world(successor=ATTACKER),
        "rotation.redirected-to-attacker": _rotation_world(marker_key=ATTACKER),
        "rotation.endorsement-for-another-session": _rotation_world(session="other"),
        "rotation.endorsement-for-another-boundary": _rotation_world(seq_offset=1),
        "rotation.two-conflicting-endorsements": _rotation_world(twice=True),
    }
    for cls, sources in cases.items():
        bucket = Bucket.EQUIVALENT if cls.endswith("valid-control") else Bucket.ROTATION
        yield Mutation(cls, cls, bucket, sources)
    # an attacker's rotation appended to the real chain (no endorsement by the old key)
    last = json.loads(RECEIPT_LINES[-1])
    transition = {
        "prior_signer_key": KEY_B.hex,
        "prior_chain_seq": last["action_record"]["chain_seq"],
        "prior_chain_hash": writer.action_hash(last),
    }
    record = {
        **json.loads(RECEIPT_LINES[2])["action_record"],
        "chain_seq": 0,
        "chain_prev_hash": writer.action_hash(last),
        "key_transition": transition,
    }
    record.pop("run_nonce", None)
    marker = json.dumps(writer.sign_action(record, ATTACKER))
    yield Mutation(
        "rotation.appended-by-attacker",
        "rotation.appended",
        Bucket.ROTATION,
        _bare([*RECEIPT_LINES, marker]),
        bare=True,
    )
    # a key_transition on the very first receipt
    first = json.loads(RECEIPT_LINES[0])["action_record"]
    at_genesis = json.dumps(writer.sign_action({**first, "key_transition": transition}, KEY_A))
    yield Mutation(
        "rotation.at-genesis",
        "rotation.at-genesis",
        Bucket.ROTATION,
        _bare([at_genesis, *RECEIPT_LINES[1:]]),
        bare=True,
    )


# -- encodings that keep the signed bytes -------------------------------------------------


def _escape_ascii(text: str) -> str:
    return text.replace('"allow"', '"\\u0061llow"').replace('"fetch"', '"f\\u0065tch"')


def equivalent_encodings() -> Iterator[Mutation]:
    def shuffled(line: str) -> str:
        envelope = json.loads(line)
        record = dict(reversed(list(envelope["action_record"].items())))
        return json.dumps(
            {
                "signer_key": envelope["signer_key"],
                "action_record": record,
                "signature": envelope["signature"],
                "version": 1,
            }
        )

    def nulls(line: str) -> str:
        envelope = json.loads(line)
        record = envelope["action_record"]
        for name in ("intent", "layer", "redaction", "data_classes_in", "shield"):
            record.setdefault(name, None)
        return json.dumps(envelope)

    variants: dict[str, list[str] | str] = {
        "equivalent.whitespace": [
            json.dumps(json.loads(x), indent=None, separators=(" , ", " : ")) for x in RECEIPT_LINES
        ],
        "equivalent.member-order": [shuffled(x) for x in RECEIPT_LINES],
        "equivalent.escaped-ascii": [_escape_ascii(x) for x in RECEIPT_LINES],
        "equivalent.null-omitempty-members": [nulls(x) for x in RECEIPT_LINES],
    }
    for cls, lines in variants.items():
        yield Mutation(cls, cls, Bucket.EQUIVALENT, _bare(list(lines)), bare=True)
    crlf = text_of(RECEIPT_LINES).replace("\n", "\r\n\n")
    yield Mutation(
        "equivalent.crlf-blank-lines", "crlf", Bucket.EQUIVALENT, ((crlf, "r.jsonl"), *ENDORSEMENTS)
    )
    single = json.dumps(json.loads(RECEIPT_LINES[1]), indent=2)
    yield Mutation(
        "equivalent.pretty-single-receipt", "pretty", Bucket.EQUIVALENT, ((single, "one.json"),)
    )

    def reordered(line: str) -> str:
        document = json.loads(line)
        members = list(reversed(list(document.items())))
        return _compose(members, detail_text(line))

    yield Mutation(
        "equivalent.entry-member-order",
        "wrapper order",
        Bucket.EQUIVALENT,
        _recorder([reordered(x) for x in WORLD.lines]),
    )


# -- the matrix ---------------------------------------------------------------------------


def all_mutations() -> Iterator[Mutation]:
    yield from signed_field_mutations()
    yield from v2_field_mutations()
    yield from receipt_mutations()
    yield from forged_mutations()
    yield from entry_mutations()
    yield from line_mutations()
    yield from seal_mutations()
    yield from truncations()
    yield from rotation_mutations()
    yield from equivalent_encodings()


def _expected_codes(mutation: Mutation) -> frozenset[Code]:
    for prefix in sorted(EXPECTED, key=len, reverse=True):
        if mutation.cls.startswith(prefix):
            return frozenset(EXPECTED[prefix])
    return frozenset()


def _passed(chains: list[Any], index: int | None) -> bool:
    """The receipt at `index` of the (only) chain passed its own checks."""
    return (
        bool(chains) and index is not None and chains[0].receipts[index].outcome is Outcome.PASSED
    )


def _judge(mutation: Mutation, result: PipelockVerification) -> Verdict:
    codes = failure_codes(result)
    verdict = Verdict(mutation, detected=not result.valid, codes=codes)
    if mutation.bucket is Bucket.EQUIVALENT:
        if codes:
            verdict.violations.append(
                f"{mutation.label}: equivalent encoding rejected: {sorted(codes)}"
            )
        return verdict
    if mutation.bucket is Bucket.AFTER_CLOSE:
        return verdict
    if not verdict.detected:
        verdict.violations.append(f"{mutation.label}: not detected")
        return verdict
    expected = _expected_codes(mutation)
    if not codes & expected:
        verdict.violations.append(
            f"{mutation.label}: none of {sorted(expected)} in {sorted(codes)}"
        )
    chains = {c.chain_id: c for c in result.chains}
    v1 = [c for c in result.chains if c.source_kind == "pipelock"]
    signed = mutation.bucket is Bucket.SIGNED
    if signed and _passed(v1, mutation.line):
        verdict.violations.append(f"{mutation.label}: the mutated receipt passed")
    v2 = [c for c in result.chains if c.source_kind == "pipelock_evidence"]
    if signed and _passed(v2, mutation.v2_index):
        verdict.violations.append(f"{mutation.label}: the mutated v2 receipt passed")
    trusted = [
        row for row in action_evidence(result) if row.trusted and not chains[row.chain_id].valid
    ]
    if trusted:
        verdict.violations.append(
            f"{mutation.label}: {len(trusted)} rows of a broken chain trusted"
        )
    return verdict


def _verdict_041(mutation: Mutation, tmp: Path) -> bool:
    path = tmp / "receipts.jsonl"
    path.write_text(mutation.sources[0][0])
    endorsements = [text for text, _ in mutation.sources[1:]]
    result = pipelock_verify.verify_chain(
        path, KEY_A.hex, session_id="proxy", rotation_endorsements=endorsements
    )
    return bool(result.valid)


@dataclass
class Matrix:
    verdicts: list[Verdict]
    seconds: float

    def bucket(self, bucket: Bucket) -> list[Verdict]:
        return [v for v in self.verdicts if v.mutation.bucket is bucket]

    def violations(self) -> list[str]:
        return [message for v in self.verdicts for message in v.violations]


def build_matrix(tmp: Path) -> Matrix:
    started = time.perf_counter()
    verdicts = []
    for mutation in all_mutations():
        result = verify(*mutation.sources, keys=None)
        verdict = _judge(mutation, result)
        if mutation.bare and mutation.bucket is not Bucket.EQUIVALENT:
            verdict.verdict_041 = _verdict_041(mutation, tmp)
        verdicts.append(verdict)
    return Matrix(verdicts, time.perf_counter() - started)


def _summary(matrix: Matrix) -> list[str]:
    def rate(verdicts: list[Verdict]) -> str:
        return f"{sum(v.detected for v in verdicts)}/{len(verdicts)}"

    signed = matrix.bucket(Bucket.SIGNED)
    detected = sum(v.detected for v in signed)
    equivalent = matrix.bucket(Bucket.EQUIVALENT)
    judged_041 = [v for v in matrix.verdicts if v.verdict_041 is not None]
    lax_041 = sum(1 for v in judged_041 if v.verdict_041 and v.detected)
    false_positives = sum(v.detected for v in equivalent)
    truncations = matrix.bucket(Bucket.TRUNCATION)
    lines = [
        f"pipelock tamper matrix: {len(matrix.verdicts):,} mutations ({len(signed):,} of "
        f"signed content), detected {100.0 * detected / len(signed):.1f}% of signed-content "
        f"mutations, {false_positives} false positives ({len(equivalent)} equivalent encodings)",
        "pipelock tamper matrix: receipts dropped/reordered/forged "
        f"{rate(matrix.bucket(Bucket.RECEIPTS))}; recorder entries "
        f"{rate(matrix.bucket(Bucket.RECORDER))}; rotation abuses "
        f"{rate(matrix.bucket(Bucket.ROTATION))}; tail truncations removing the close "
        f"{rate(truncations)}, after it {rate(matrix.bucket(Bucket.AFTER_CLOSE))} "
        "(only the recorder's seal is lost: protocol limit)",
        f"pipelock tamper matrix: pipelock-verify 0.4.1 accepted {lax_041} of "
        f"{len(judged_041)} bare-JSONL mutations that we detect; {matrix.seconds:.1f} s",
    ]
    per_class: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in matrix.verdicts:
        per_class[verdict.mutation.cls].append(verdict)
    for cls in sorted(per_class):
        verdicts = per_class[cls]
        codes = Counter(c.value for v in verdicts for c in v.codes)
        top = ", ".join(f"{code} x{n}" for code, n in codes.most_common(3))
        lines.append(
            f"  {cls:<48} {len(verdicts):>5}  detected {sum(v.detected for v in verdicts):>5}"
            + (f"  [{top}]" if top else "")
        )
    return lines


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Matrix:
    result = build_matrix(tmp_path_factory.mktemp("pipelock-matrix"))
    request.config.stash.setdefault(SUMMARY_LINES, []).extend(_summary(result))
    return result


def _show(messages: list[str], limit: int = 25) -> str:
    more = f"\n... and {len(messages) - limit} more" if len(messages) > limit else ""
    return "\n".join(messages[:limit]) + more


def test_the_unmutated_world_verifies() -> None:
    assert verify(WORLD.text).valid
    assert verify(*_bare(RECEIPT_LINES)).valid


def test_every_signed_content_mutation_is_detected(matrix: Matrix) -> None:
    signed = matrix.bucket(Bucket.SIGNED)
    assert len(signed) > 1000
    missed = [v.mutation.label for v in signed if not v.detected]
    assert not missed, _show(missed)


@pytest.mark.parametrize(
    "bucket", [Bucket.RECEIPTS, Bucket.RECORDER, Bucket.TRUNCATION, Bucket.ROTATION], ids=str
)
def test_every_mutation_of_each_kind_is_detected(matrix: Matrix, bucket: Bucket) -> None:
    verdicts = matrix.bucket(bucket)
    assert verdicts
    missed = [v.mutation.label for v in verdicts if not v.detected]
    assert not missed, _show(missed)


def test_each_mutation_reports_its_codes_and_trusts_nothing_broken(matrix: Matrix) -> None:
    wrong = matrix.violations()
    assert not wrong, _show(wrong)


def test_equivalent_encodings_are_accepted(matrix: Matrix) -> None:
    equivalent = matrix.bucket(Bucket.EQUIVALENT)
    assert len({v.mutation.cls for v in equivalent}) >= 8
    rejected = [v.mutation.label for v in equivalent if v.detected]
    assert not rejected, _show(rejected)


def test_we_never_accept_what_0_4_1_rejects(matrix: Matrix) -> None:
    judged = [v for v in matrix.verdicts if v.verdict_041 is not None]
    assert len(judged) > 500
    laxer = [v.mutation.label for v in judged if v.verdict_041 is False and not v.detected]
    assert not laxer, _show(laxer)


def test_every_class_of_the_issue_is_in_the_matrix(matrix: Matrix) -> None:
    classes = Counter(v.mutation.cls for v in matrix.verdicts)
    for wanted in (
        "field.change", "field.remove", "field.retype", "v2.field.change", "receipt.drop",
        "receipt.swap", "receipt.duplicate", "line.drop", "line.swap", "line.duplicate",
        "entry.change", "truncate.recorder", "truncate.receipts", "rotation.no-endorsement",
        "rotation.redirected-to-attacker", "rotation.appended-by-attacker",
    ):  # fmt: skip
        assert classes[wanted] > 0, wanted
    # every member of every receipt was changed, removed and retyped
    members = {
        (index, "/".join(map(str, path)))
        for index, line in enumerate(RECEIPT_LINES)
        for path in paths(json.loads(line))
    }
    assert (0, "action_record/session_control/open/genesis_hash") in members
    for op in ("change", "remove", "retype"):
        edited = {
            (int(v.mutation.label.split()[1][1:]), v.mutation.label.split(" ", 2)[2])
            for v in matrix.verdicts
            if v.mutation.cls == f"field.{op}"
        }
        assert edited == members, op
