"""Tamper matrix (issue 8): every single-point mutation of SDK-made chains fails safe.

The reference SDK (obsigna) signs three short chains of one store: a plain one, one with
a valid key rotation, and a terminal one that delegates from the plain one; a fourth
chain comes from another store and another trusted issuer. The matrix then applies, one
at a time:

* to every member and array element of every receipt (proof included): change (another
  value of the same type), remove, retype, and duplicate (a member name repeated in the
  JSON text with a conflicting value, and on one receipt with an identical value too; an
  array element repeated);
* to whole receipts: drop (first, middle, last), a second receipt at the same sequence
  (tampered, or re-signed by the issuer: equivocation), sequence numbers swapped (with
  and without re-signing), a receipt spliced in from another chain, from another store,
  or into a store row;
* every index column of store rows (a genesis, a daemon-style row with tool_name, the
  rotation receipt, a terminal receipt), `receipt_json` left intact;
* forged chains (an untrusted key, an unknown issuer, forged receipts appended) and
  rotations to an attacker's key (appended, self-certified, redirected, at genesis);
* encodings that do not change what was signed (whitespace, member order, escapes,
  null-valued optional members, input order, exact copies, CRLF, JSON arrays, stores).

Each mutation goes through the real ingestion path (spool → `verify_spool` → evidence
frame). Whether a mutation changes signed content is decided by an independent oracle
(obsigna's own canonicaliser), never by the code under test. For each mutation the test
asserts (a) the expected codes, precisely: the codes that must appear (on the mutated
record itself where one record carries the change), and every other failure code must
be a named consequence; (b) no row of the affected chain, and never the mutated record,
counts as trusted evidence, and the chains it does not reach stay whole and trusted;
(c) the affected chain is not authentic in the chains frame that feeds the report's
integrity section, and for one representative per class the full report model (posture,
key figures, integrity rows, the chain_integrity finding) counts it, built from a run
of that mutation alone. Encodings that keep the signed content must verify with no
failure at all.

Lanes: one verification run plus one evidence frame costs tens of milliseconds of fixed
overhead, so mutations whose effects cannot reach beyond their own world are verified
in batches. Each batch holds up to `len(LANES)` independent copies of the world (signed
separately, chain ids prefixed with the lane, read from a source of their own), each
with exactly one mutation; every lane is judged only on its own records and chains, a
chain mixing records of two lanes fails the run, and each lane's untouched chains must
stay valid and trusted. Mutations that could reach another lane (a receipt id or chain_id
retyped to a number, which would be the same number in every lane) and those read from a
file (stores, JSON arrays) run alone.

Tail truncation is undetectable without a witness (RECEIPTS.md, §7.3.1): those
mutations are judged against a witness file (length and final hash), and the test
also pins that without one the truncated chain still verifies.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import itertools
import json
import re
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from reporting.controls.assess import assess
from reporting.controls.loader import Framework, load_mappings, shipped_mapping_paths
from reporting.evidence.frame import Evidence, build_evidence, extract_rows
from reporting.receipts.external import Witness
from reporting.receipts.keys import PublicKey, TrustEntry, TrustStore
from reporting.receipts.results import (
    ChainResult,
    Code,
    Origin,
    Problem,
    Severity,
    VerificationResult,
)
from reporting.receipts.sources import read_into, read_lines_into
from reporting.receipts.spool import INDEX_COLUMNS, ReceiptSpool, SourceSummary
from reporting.receipts.verify import VerifyOptions, verify_spool
from reporting.report.build import ReportInputs, ReportOptions, build_report
from reporting.report.model import Posture

from .conftest import SUMMARY_LINES, require_shared
from .factory import ChainBuilder, Key, resign, rotation_fields, write_store

obsigna_hash = pytest.importorskip("obsigna.receipt.hash")

ALPHA = Key.from_seed("tamper-alpha")
ALPHA_NEXT = Key.from_seed("tamper-alpha-next")
GAMMA = Key.from_seed("tamper-gamma")
DELTA = Key.from_seed("tamper-delta")
MALLORY = Key.from_seed("tamper-mallory")
MALLORY_NEXT = Key.from_seed("tamper-mallory-next")

ISSUER_ALPHA = "did:agent:alpha"
ISSUER_GAMMA = "did:agent:gamma"
ISSUER_DELTA = "did:agent:delta"
ISSUER_MALLORY = "did:agent:mallory"
PRINCIPAL = "did:user:alice"

# Base chain names; a lane's chain id is "<lane>/<base name>".
PLAIN, ROTATION, TERMINAL, OTHER_STORE = "tm-plain", "tm-rotation", "tm-terminal", "tm-other"
MAIN_CHAINS = (PLAIN, ROTATION, TERMINAL)
LANES = "abcdefgh"
WITNESS_CODES = frozenset({Code.LENGTH_MISMATCH, Code.FINAL_HASH_MISMATCH})
REPORT_FRAMEWORK = "owasp-asi-2026"  # the smallest shipped mapping with chain_integrity
# The chain that delegates from each chain (its failures make the delegation unverifiable).
CHILDREN = {PLAIN: (TERMINAL,)}
ROTATION_INDEX = {ROTATION: 1}  # where the rotation receipt sits

C = Code  # the tables below are easier to read with a short name


class Bucket(StrEnum):
    SIGNED = "signed content"  # the signed bytes, the signature, or ambiguous JSON
    INDEX = "store index column"  # receipt_json intact
    TRUNCATION = "tail truncation"  # needs a witness (§7.3.1)
    PROOF_METADATA = "proof metadata"  # not signed: the schema decides
    EQUIVALENT = "equivalent encoding"  # same signed content: must verify


def base_of(chain_id: str) -> str:
    return chain_id.split("/", 1)[-1]


# -- the world: chains signed by the reference SDK ---------------------------------------


def _plain_chain(key: Key, chain_id: str, issuer: str = ISSUER_ALPHA) -> ChainBuilder:
    b = ChainBuilder(key, chain_id=chain_id, issuer=issuer, principal=PRINCIPAL)
    b.add(
        "filesystem.file.read",
        "low",
        target={"system": "fs", "resource": "/srv/q3.pdf"},
        parameters_hash="sha256:" + "1" * 64,
        intent={
            "conversation_hash": "sha256:" + "2" * 64,
            "prompt_preview": "summarise Q3",
            "prompt_preview_truncated": False,
        },
        issuer_fields={
            "operator": {"id": "did:org:acme", "name": "Acme"},
            "model": "model-7",
            "session_id": "sess-1",
            "runtime": {"agent_id": "agent-7", "agent_type": "assistant"},
        },
        idempotency_key="req-1",
        correlation_id="corr-1",
    )
    b.add(
        "financial.payment.initiate",
        "critical",
        authorization={
            "scopes": ["payments:write", "payments:read"],
            "granted_at": "2026-10-01T09:00:00Z",
            "expires_at": "2026-10-02T09:00:00Z",
            "grant_ref": "grant-1",
        },
        response_body={"status": 200, "ids": [1, 2]},
        outcome_fields={
            "reversible": True,
            "reversal_method": "refund",
            "reversal_window_seconds": 3600,
        },
    )
    b.add(
        "system.command.execute",
        "high",
        outcome="failure",
        outcome_fields={
            "error": "exit 1",
            "state_change": {
                "before_hash": "sha256:" + "3" * 64,
                "after_hash": "sha256:" + "4" * 64,
            },
        },
        authorization={"scopes": ["exec"], "granted_at": "2026-10-01T09:00:00Z"},
        tool_name="Bash",
    )
    b.add("data.database.query", "low", target={"system": "db"})
    return b


def _rotation_chain(key: Key, new: Key, chain_id: str, issuer: str = ISSUER_ALPHA) -> ChainBuilder:
    b = ChainBuilder(key, chain_id=chain_id, issuer=issuer, principal=PRINCIPAL)
    b.add("communication.email.read", "low")
    b.add("agent.key.rotate", "high", key_rotation=rotation_fields(key, new))
    b.add("document.file.share", "high", key=new, target={"system": "drive", "resource": "d9"})
    b.add("data.api.write", "medium", key=new)
    return b


def _terminal_chain(
    key: Key, chain_id: str, parent: tuple[str, str], issuer: str = ISSUER_GAMMA
) -> ChainBuilder:
    b = ChainBuilder(key, chain_id=chain_id, issuer=issuer, principal=PRINCIPAL)
    delegation = {
        "parent_chain_id": parent[0],
        "parent_receipt_id": parent[1],
        "delegator": {"id": ISSUER_ALPHA},
    }
    b.add("filesystem.file.create", "low", delegation=delegation)
    b.add("filesystem.file.modify", "medium")
    b.add("communication.message.send", "high")
    b.add("filesystem.directory.list", "low", terminal=True, status="complete")
    return b


def _trust() -> TrustStore:
    entries = tuple(
        TrustEntry(issuer, ("*",), (PublicKey(key.raw, name),))
        for issuer, key, name in (
            (ISSUER_ALPHA, ALPHA, "alpha"),
            (ISSUER_GAMMA, GAMMA, "gamma"),
            (ISSUER_DELTA, DELTA, "delta (another store)"),
        )
    )
    return TrustStore(entries=entries, source="tamper matrix")


TRUST = _trust()


@dataclass
class World:
    """One copy of the store (three chains) and of another store's chain, for one lane."""

    lane: str
    chains: dict[str, list[dict[str, Any]]]  # by chain id, in input order
    signers: dict[str, list[Key]]
    other: list[dict[str, Any]]
    witnesses: dict[str, Witness]
    tmp: Path
    store: Path | None = None  # the chains as an SQLite store (lane "a" only)
    rowids: dict[tuple[str, int], int] = field(default_factory=dict)
    lines: list[bytes] = field(default_factory=list)
    line_of: dict[tuple[str, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for chain, index, doc in self.positions():
            self.lines.append(encode(doc).encode())
            self.line_of[(chain, index)] = len(self.lines)

    @property
    def source(self) -> str:
        return f"lane-{self.lane}.jsonl"

    def cid(self, base: str) -> str:
        return f"{self.lane}/{base}"

    @property
    def main(self) -> list[str]:
        return [self.cid(b) for b in MAIN_CHAINS]

    @property
    def receipt_count(self) -> int:
        return sum(len(docs) for docs in self.chains.values())

    def children(self, chain: str | None) -> set[str]:
        return {self.cid(c) for c in CHILDREN.get(base_of(chain or ""), ())}

    def positions(self) -> Iterator[tuple[str, int, dict[str, Any]]]:
        for chain, docs in self.chains.items():
            for index, doc in enumerate(docs):
                yield chain, index, doc

    def origin(self, chain: str, index: int) -> Origin:
        return Origin(self.source, self.line_of[(chain, index)])

    def jsonl(self, replace_lines: dict[int, list[bytes]] | None = None) -> bytes:
        """The input, with line N (1-based) replaced by zero or more lines."""
        out: list[bytes] = []
        for number, line in enumerate(self.lines, start=1):
            out.extend((replace_lines or {}).get(number, [line]))
        return b"".join(line + b"\n" for line in out)

    def replacing_chain(self, chain: str, docs: list[dict[str, Any]]) -> bytes:
        """The input with one chain's receipts replaced by others."""
        numbers = [self.line_of[(chain, i)] for i in range(len(self.chains[chain]))]
        lines: dict[int, list[bytes]] = {n: [] for n in numbers}
        lines[numbers[0]] = [encode(d).encode() for d in docs]
        return self.jsonl(lines)


def build_world(tmp: Path, lane: str, *, with_store: bool = False) -> World:
    cid = functools.partial("{}/{}".format, lane)
    plain = _plain_chain(ALPHA, cid(PLAIN)).receipts
    rotation = _rotation_chain(ALPHA, ALPHA_NEXT, cid(ROTATION)).receipts
    terminal = _terminal_chain(GAMMA, cid(TERMINAL), (cid(PLAIN), plain[1]["id"])).receipts
    other = ChainBuilder(DELTA, chain_id=cid(OTHER_STORE), issuer=ISSUER_DELTA, principal=PRINCIPAL)
    chains = {cid(PLAIN): plain, cid(ROTATION): rotation, cid(TERMINAL): terminal}
    world = World(
        lane=lane,
        chains=chains,
        signers={
            cid(PLAIN): [ALPHA] * 4,
            cid(ROTATION): [ALPHA, ALPHA, ALPHA_NEXT, ALPHA_NEXT],
            cid(TERMINAL): [GAMMA] * 4,
        },
        other=other.extend(4, action_type="data.api.read").receipts,
        witnesses={
            chain: Witness(length=len(docs), final_hash=obsigna_receipt_hash(docs[-1]))
            for chain, docs in chains.items()
        },
        tmp=tmp,
    )
    if with_store:
        world.store = write_store(tmp / f"store-{lane}.db", plain, rotation, terminal)
        db = sqlite3.connect(world.store)
        by_id = dict(db.execute("SELECT id, rowid FROM receipts"))
        db.close()
        world.rowids = {(c, i): by_id[d["id"]] for c, i, d in world.positions()}
    return world


# -- JSON text: plain, or with a duplicated member, or re-encoded equivalently -----------


@dataclass(frozen=True)
class Style:
    item: str = ", "
    key: str = ": "
    pad: str = ""
    escape_names: bool = False  # every character of member names as \uXXXX
    escape_values: bool = False  # every character of string values as \uXXXX
    reverse: bool = False
    float_integers: bool = False  # every integer written as a float: 2.0 (the same number)


PLAIN_STYLE = Style()
Path_ = tuple[str | int, ...]
Dup = tuple[Path_, Any]  # the member to repeat, and the value of its twin (written after it)


def _string(text: str, escape: bool) -> str:
    if not escape:
        return json.dumps(text)
    escaped = json.dumps(text)[1:-1]
    # every character written as \\uXXXX (escapes and non-ASCII are already escaped)
    out = re.sub(r"(\\u[0-9a-fA-F]{4}|\\.|.)", lambda m: _escape_one(m.group(0)), escaped)
    return '"' + out + '"'


def _escape_one(token: str) -> str:
    if token.startswith("\\"):
        return token
    return f"\\u{ord(token):04x}"


def encode(value: Any, style: Style = PLAIN_STYLE, dup: Dup | None = None, at: Path_ = ()) -> str:
    """JSON text of a value; `dup` repeats one object member (the twin goes second)."""
    if isinstance(value, dict):
        items = list(value.items())
        if style.reverse:
            items.reverse()
        parts = []
        for key, item in items:
            here = (*at, key)
            name = _string(key, style.escape_names) + style.key
            parts.append(name + encode(item, style, dup, here))
            if dup is not None and dup[0] == here:
                parts.append(name + encode(dup[1], style, None, here))
        return "{" + style.pad + style.item.join(parts) + style.pad + "}"
    if isinstance(value, list):
        parts = [encode(item, style, dup, (*at, i)) for i, item in enumerate(value)]
        return "[" + style.pad + style.item.join(parts) + style.pad + "]"
    if isinstance(value, str):
        return _string(value, style.escape_values)
    if style.float_integers and type(value) is int and abs(value) <= 2**53:
        return json.dumps(float(value))
    return json.dumps(value)


# -- the oracle: obsigna's canonicaliser, never ours --------------------------------------


def obsigna_signed_bytes(doc: Any) -> str | None:
    """What the issuer signed, per the reference SDK (None: the SDK cannot say)."""
    try:
        normal = obsigna_hash.normalize_receipt_dict(copy.deepcopy(doc))
        return str(obsigna_hash.canonicalize(normal))
    except Exception:  # noqa: BLE001 - any failure means "not the signed bytes"
        return None


def obsigna_receipt_hash(doc: dict[str, Any]) -> str:
    signed = obsigna_signed_bytes(doc)
    assert signed is not None
    return "sha256:" + hashlib.sha256(signed.encode()).hexdigest()


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _signature(doc: dict[str, Any]) -> Any:
    proof = _strip_nulls(doc.get("proof"))
    if not isinstance(proof, dict):
        return ("not an object", repr(proof))
    return (repr(proof.get("type")), repr(proof.get("proofValue")))


def classify(original: dict[str, Any], mutated: Any) -> Bucket:
    """Signed content (or signature) changed, only proof metadata changed, or nothing."""
    if not isinstance(mutated, dict):
        return Bucket.SIGNED
    if obsigna_signed_bytes(mutated) != obsigna_signed_bytes(original):
        return Bucket.SIGNED
    if _signature(mutated) != _signature(original):
        return Bucket.SIGNED
    if _strip_nulls(mutated.get("proof")) == _strip_nulls(original.get("proof")):
        return Bucket.EQUIVALENT
    return Bucket.PROOF_METADATA


_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class ProofSchema:
    """The protocol schema's `proof` definition, read from the shared protocol folder."""

    definition: dict[str, Any]

    def valid(self, proof: Any) -> bool:
        import jsonschema

        proof = _strip_nulls(proof)
        if not jsonschema.Draft202012Validator(self.definition).is_valid(proof):
            return False
        created = proof.get("created")  # format: date-time (not checked by jsonschema here)
        return isinstance(created, str) and _DATE_TIME.match(created) is not None


# -- field paths and single-point edits ---------------------------------------------------


def field_paths(value: Any, at: Path_ = ()) -> Iterator[Path_]:
    """Every member and array element, objects and arrays included, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*at, key)
            yield from field_paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*at, index)
            yield from field_paths(item, (*at, index))


def get_at(doc: Any, path: Path_) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def with_value(doc: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    get_at(out, path[:-1])[path[-1]] = value
    return out


def without(doc: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    del get_at(out, path[:-1])[path[-1]]
    return out


def with_element_repeated(doc: dict[str, Any], path: Path_) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    parent = get_at(out, path[:-1])
    index = path[-1]
    assert isinstance(index, int)
    parent.insert(index + 1, copy.deepcopy(parent[index]))
    return out


def tweak(text: str) -> str:
    """Another string of the same shape: the last digit (else the last letter) moved on."""
    for wanted in (str.isdigit, str.isalpha):
        for i in range(len(text) - 1, -1, -1):
            ch = text[i]
            if ch.isascii() and wanted(ch):
                if ch.isdigit():
                    new = str((int(ch) + 1) % 10)
                elif ch in "zZ":
                    new = chr(ord(ch) - 25)
                else:
                    new = chr(ord(ch) + 1)
                return text[:i] + new + text[i + 1 :]
    return text + "x"


def changed(value: Any) -> Any:
    """A different value of the same JSON type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, str):
        return tweak(value)
    if value is None:
        return "sha256:" + "0" * 64
    if isinstance(value, dict):
        return {**value, "x_injected": "1"}
    assert isinstance(value, list)
    if len(value) >= 2 and value != value[::-1]:
        return value[::-1]
    return [*value, copy.deepcopy(value[-1]) if value else "x"]


def retyped(value: Any) -> Any:
    """The same information as another JSON type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return len(value)
    if value is None:
        return 0
    if isinstance(value, dict):
        return list(value.values())
    return {str(i): item for i, item in enumerate(value)}


def touches(path: Path_, sensitive: Path_) -> bool:
    """The edit at `path` reaches `sensitive` (it is that field, inside it, or contains it)."""
    n = min(len(path), len(sensitive))
    return path[:n] == sensitive[:n]


# What a field's change may break besides its own signature (the next receipt's link and
# the schema are always allowed to break too).
FIELD_CONSEQUENCES: tuple[tuple[Path_, frozenset[Code]], ...] = (
    (
        ("credentialSubject", "chain", "sequence"),
        frozenset({C.SEQUENCE_GAP, C.SEQUENCE_DUPLICATE, C.RECEIPT_AFTER_TERMINAL}),
    ),
    (("credentialSubject", "chain", "previous_receipt_hash"), frozenset({C.GENESIS_NOT_NULL})),
    (("credentialSubject", "chain", "chain_id"), frozenset({C.SEQUENCE_GAP, C.CHAIN_ID_MISMATCH})),
    (("credentialSubject", "chain", "terminal"), frozenset({C.RECEIPT_AFTER_TERMINAL})),
    (("issuer", "id"), frozenset({C.ISSUER_MISMATCH, C.UNKNOWN_ISSUER_KEY})),
    (("credentialSubject", "keyRotation"), frozenset({C.ROTATION_INVALID})),
    (("credentialSubject", "delegation"), frozenset({C.DELEGATION_UNVERIFIABLE})),
    (("credentialSubject", "principal", "id"), frozenset({C.DELEGATION_UNVERIFIABLE})),
)
CHAIN_ID_PATH: Path_ = ("credentialSubject", "chain", "chain_id")


def chain_consequences(chain: str, index: int | None = None) -> frozenset[Code]:
    """Failures a broken receipt may cause elsewhere: a rotation not taken, a delegation."""
    codes: set[Code] = set()
    rotation = ROTATION_INDEX.get(base_of(chain))
    if rotation is not None and (index is None or index <= rotation):
        codes |= {C.ROTATION_INVALID, C.INVALID_SIGNATURE}
    if CHILDREN.get(base_of(chain)):
        codes.add(C.DELEGATION_UNVERIFIABLE)
    return frozenset(codes)


# -- mutations ------------------------------------------------------------------------------


Source = bytes | Callable[[], Path]  # JSON Lines text, or a file written on demand


@dataclass(frozen=True)
class Mutation:
    cls: str
    label: str
    bucket: Bucket
    lane: str
    chain: str | None  # the chain the mutation targets (None: the whole input)
    source: Source
    target: Origin | None = None  # the record that carries the change, when there is one
    any_of: frozenset[Code] = frozenset()  # at least one must be reported (on `target`)
    orphan_any_of: frozenset[Code] = frozenset()  # ... when `target` belongs to no chain
    all_of: frozenset[Code] = frozenset()  # all must be reported (on the target chain)
    allowed: frozenset[Code] = frozenset()  # consequences that may be reported anywhere
    every_receipt: Code | None = None  # reported on every receipt of the target chain
    witness: bool = False  # judged against the witness file (tail truncation)


# A field edit, not yet made, and whether it may share a run with other lanes' edits.
Pending = tuple[bool, Callable[[], Mutation]]
# Retyped, a receipt id or chain_id becomes the same number in every lane: one receipt id
# (or one chain) in two lanes. Those edits run alone; every other edit keeps a lane's ids
# and chain ids its own (a changed string keeps its lane prefix or its UUID).
LANE_UNSAFE_RETYPES: tuple[Path_, ...] = (("id",), CHAIN_ID_PATH)
FIELD_EDITS: dict[str, Callable[[dict[str, Any], Path_], dict[str, Any]]] = {
    "field.change": lambda doc, path: with_value(doc, path, changed(get_at(doc, path))),
    "field.remove": without,
    "field.retype": lambda doc, path: with_value(doc, path, retyped(get_at(doc, path))),
    "field.duplicate-element": with_element_repeated,
}


def field_mutations(world: World, proof_schema: ProofSchema) -> Iterator[Pending]:
    for chain, index, doc in world.positions():
        for path in field_paths(doc):
            edits = ["field.change", "field.remove", "field.retype"]
            if isinstance(path[-1], int):
                edits.append("field.duplicate-element")
            for cls in edits:
                safe = not (cls == "field.retype" and path in LANE_UNSAFE_RETYPES)
                yield (
                    safe,
                    functools.partial(
                        _field_mutation, world, proof_schema, cls, chain, index, path
                    ),
                )
            if isinstance(path[-1], str):
                # a conflicting twin (parsers disagree on which wins); an identical twin too,
                # on the richest receipt (the same strict check must reject both)
                twins = ["field.duplicate-member"]
                if (base_of(chain), index) == (PLAIN, 0):
                    twins.append("field.duplicate-member-identical")
                for cls in twins:
                    yield True, functools.partial(_duplicate_member, world, cls, chain, index, path)


def _where(chain: str, index: int, path: Path_ = ()) -> str:
    name = "/".join(str(p) for p in path)
    return f"{chain}#{index + 1}" + (f" {name}" if name else "")


def _duplicate_member(world: World, cls: str, chain: str, index: int, path: Path_) -> Mutation:
    doc = world.chains[chain][index]
    value = get_at(doc, path)
    twin = value if cls.endswith("identical") else changed(value)
    number = world.line_of[(chain, index)]
    return Mutation(
        cls=cls,
        label=f"{cls} {_where(chain, index, path)}",
        bucket=Bucket.SIGNED,  # ambiguous: which of the two values was signed?
        lane=world.lane,
        chain=chain,
        source=world.jsonl({number: [encode(doc, dup=(path, twin)).encode()]}),
        target=world.origin(chain, index),
        any_of=frozenset({C.MALFORMED_RECEIPT}),
        orphan_any_of=frozenset({C.MALFORMED_RECEIPT}),
        # an unreadable record sorts last: the next receipt's link and sequence break
        allowed=frozenset({C.HASH_LINK_BROKEN, C.SEQUENCE_GAP}) | chain_consequences(chain, index),
    )


def _field_mutation(
    world: World, proof_schema: ProofSchema, cls: str, chain: str, index: int, path: Path_
) -> Mutation:
    doc = world.chains[chain][index]
    mutated = FIELD_EDITS[cls](doc, path)
    number = world.line_of[(chain, index)]
    bucket = classify(doc, mutated)
    base = Mutation(
        cls=cls,
        label=f"{cls} {_where(chain, index, path)}",
        bucket=bucket,
        lane=world.lane,
        chain=chain,
        source=world.jsonl({number: [encode(mutated).encode()]}),
        target=world.origin(chain, index),
    )
    if bucket is Bucket.EQUIVALENT:
        return base
    if bucket is Bucket.PROOF_METADATA:
        if proof_schema.valid(mutated.get("proof")):
            return replace(base, bucket=Bucket.EQUIVALENT)  # not signed, and schema-valid
        return replace(
            base, any_of=frozenset({C.SCHEMA_VIOLATION}), allowed=chain_consequences(chain, index)
        )
    primary = {C.INVALID_SIGNATURE}
    if touches(path, ("issuer", "id")):
        primary.add(C.UNKNOWN_ISSUER_KEY)
    allowed = {C.HASH_LINK_BROKEN, C.SCHEMA_VIOLATION}
    for sensitive, codes in FIELD_CONSEQUENCES:
        if touches(path, sensitive):
            allowed |= codes
    return replace(
        base,
        any_of=frozenset(primary),
        # a receipt without a string chain_id belongs to no chain: an input problem
        orphan_any_of=frozenset({C.SCHEMA_VIOLATION})
        if touches(path, CHAIN_ID_PATH)
        else frozenset(),
        allowed=frozenset(allowed) | chain_consequences(chain, index),
    )


@dataclass(frozen=True)
class Removal:
    """What taking receipt `index` out of its chain's group must report."""

    bucket: Bucket
    all_of: frozenset[Code]
    allowed: frozenset[Code]
    witness: bool


def _removal(world: World, chain: str, index: int) -> Removal:
    if index == len(world.chains[chain]) - 1:  # the tail: only a witness can tell
        return Removal(Bucket.TRUNCATION, WITNESS_CODES, chain_consequences(chain), True)
    consequences = chain_consequences(chain, index)
    if index == 0:  # the chain now starts at sequence 2
        return Removal(Bucket.SIGNED, frozenset({C.SEQUENCE_GAP}), consequences, False)
    gap = frozenset({C.SEQUENCE_GAP, C.HASH_LINK_BROKEN})
    return Removal(Bucket.SIGNED, gap, consequences, False)


def _after_terminal(chain: str) -> frozenset[Code]:
    return frozenset({C.RECEIPT_AFTER_TERMINAL}) if base_of(chain) == TERMINAL else frozenset()


def receipt_mutations(world: World, share: set[tuple[str, int]]) -> Iterator[Mutation]:
    """Whole receipts dropped, doubled, swapped and spliced, at this lane's positions."""
    foreign_chain = {PLAIN: ROTATION, ROTATION: TERMINAL, TERMINAL: PLAIN}
    for chain, index, doc in world.positions():
        if (base_of(chain), index) not in share:
            continue
        number = world.line_of[(chain, index)]
        last = len(world.chains[chain]) - 1
        where = _where(chain, index)
        position = "first" if index == 0 else "last" if index == last else "middle"
        removal = _removal(world, chain, index)
        yield Mutation(
            cls=f"receipt.drop-{position}",
            label=f"drop {where}",
            bucket=removal.bucket,
            lane=world.lane,
            chain=chain,
            source=world.jsonl({number: []}),
            all_of=removal.all_of,
            allowed=removal.allowed,
            witness=removal.witness,
        )
        # the same sequence twice: a tampered copy, or a fork the issuer's key signed
        timestamp = ("credentialSubject", "action", "timestamp")
        twin = with_value(doc, timestamp, tweak(get_at(doc, timestamp)))
        for cls, copy_doc, required in (
            ("receipt.duplicate-tampered", twin, {C.SEQUENCE_DUPLICATE, C.INVALID_SIGNATURE}),
            (
                "receipt.duplicate-equivocation",
                resign(twin, world.signers[chain][index]),
                {C.SEQUENCE_DUPLICATE},
            ),
        ):
            yield Mutation(
                cls=cls,
                label=f"{cls} {where}",
                bucket=Bucket.SIGNED,
                lane=world.lane,
                chain=chain,
                source=world.jsonl({number: [world.lines[number - 1], encode(copy_doc).encode()]}),
                all_of=frozenset(required),
                allowed=frozenset({C.HASH_LINK_BROKEN})
                | _after_terminal(chain)
                | chain_consequences(chain, index),
            )
        # spliced: this receipt replaced by one from another chain / another store. The
        # foreign receipt joins its own chain's group: this chain lost one, and the foreign
        # one alone in its group starts past sequence 1.
        for cls, foreign in (
            (
                "receipt.splice-other-chain",
                world.chains[world.cid(foreign_chain[base_of(chain)])][index],
            ),
            ("receipt.splice-other-store", world.other[index]),
        ):
            yield Mutation(
                cls=cls,
                label=f"{cls} {where}",
                bucket=removal.bucket,
                lane=world.lane,
                chain=chain,
                source=world.jsonl({number: [encode(foreign).encode()]}),
                all_of=removal.all_of,
                allowed=removal.allowed | {C.SEQUENCE_GAP},
                witness=removal.witness,
            )
        if index < last:
            yield from _swaps(world, chain, index)


def _swaps(world: World, chain: str, index: int) -> Iterator[Mutation]:
    """Receipts `index` and `index + 1` trade sequence numbers (re-signed or not)."""
    docs = world.chains[chain]
    first, second = docs[index], docs[index + 1]
    seq = ("credentialSubject", "chain", "sequence")
    swapped = [with_value(first, seq, index + 2), with_value(second, seq, index + 1)]
    numbers = [world.line_of[(chain, index)], world.line_of[(chain, index + 1)]]
    consequences = (
        frozenset({C.HASH_LINK_BROKEN, C.GENESIS_NOT_NULL, C.SCHEMA_VIOLATION, C.SEQUENCE_GAP})
        | _after_terminal(chain)
        | chain_consequences(chain, index)
    )
    where = f"{_where(chain, index)}<->#{index + 2}"
    keys = world.signers[chain][index : index + 2]
    resigned = [resign(d, k) for d, k in zip(swapped, keys, strict=True)]
    # not re-signed: the signatures break; re-signed by the issuer: the links still do
    for cls, docs_, all_of, any_of in (
        ("receipt.swap-sequence", swapped, {C.INVALID_SIGNATURE}, set()),
        (
            "receipt.swap-sequence-resigned",
            resigned,
            set(),
            {C.HASH_LINK_BROKEN, C.GENESIS_NOT_NULL},
        ),
    ):
        yield Mutation(
            cls=cls,
            label=f"{cls} {where}",
            bucket=Bucket.SIGNED,
            lane=world.lane,
            chain=chain,
            source=world.jsonl(
                {n: [encode(d).encode()] for n, d in zip(numbers, docs_, strict=True)}
            ),
            all_of=frozenset(all_of),
            any_of=frozenset(any_of),
            allowed=consequences,
        )


def _equivalent(world: World, cls: str, label: str, source: Source) -> Mutation:
    return Mutation(cls, label, Bucket.EQUIVALENT, world.lane, None, source)


def input_order_mutations(
    world: World, share: set[tuple[str, int]], *, extras: bool
) -> Iterator[Mutation]:
    """Physical order is not signed: the verifier orders by sequence."""
    for chain, index, _ in world.positions():
        if (base_of(chain), index) in share and index + 1 < len(world.chains[chain]):
            a, b = world.line_of[(chain, index)], world.line_of[(chain, index + 1)]
            yield _equivalent(
                world,
                "equivalent.input-order",
                f"lines of {_where(chain, index)} and #{index + 2} swapped",
                world.jsonl({a: [world.lines[b - 1]], b: [world.lines[a - 1]]}),
            )
    if extras:
        reversed_lines = b"".join(line + b"\n" for line in reversed(world.lines))
        yield _equivalent(world, "equivalent.input-order", "whole input reversed", reversed_lines)


ENCODINGS = {
    "equivalent.whitespace": Style(item=" ,\t ", key=" :  ", pad=" \t"),
    "equivalent.member-order": Style(reverse=True),
    "equivalent.escaped-values": Style(escape_values=True),
    "equivalent.escaped-names": Style(escape_names=True),
    "equivalent.number-form": Style(float_integers=True),
}
OPTIONAL_MEMBERS: tuple[Path_, ...] = (  # absent optional members that may be written as null
    ("credentialSubject", "correlation_id"),
    ("issuer", "model"),
    ("credentialSubject", "outcome", "error"),
)


def encoding_mutations(
    world: World, share: set[tuple[str, int]], *, extras: bool
) -> Iterator[Mutation]:
    for chain, index, doc in world.positions():
        if (base_of(chain), index) not in share:
            continue
        number = world.line_of[(chain, index)]
        where = _where(chain, index)
        for cls, style in ENCODINGS.items():
            text = encode(doc, style).encode()
            yield _equivalent(world, cls, f"{cls} {where}", world.jsonl({number: [text]}))
        path = next(p for p in OPTIONAL_MEMBERS if p[-1] not in get_at(doc, p[:-1]))
        text = encode(with_value(doc, path, None)).encode()
        yield _equivalent(
            world,
            "equivalent.null-optional-member",
            f"{'/'.join(str(p) for p in path)}: null added to {where}",
            world.jsonl({number: [text]}),
        )
        yield _equivalent(
            world,
            "equivalent.exact-copy",
            f"exact copy of {where} appended",
            world.jsonl() + world.lines[number - 1] + b"\n",
        )
    if extras:
        crlf = world.jsonl().replace(b"\n", b"\r\n")
        yield _equivalent(world, "equivalent.crlf", "CRLF line endings", crlf)


def file_mutations(world: World) -> Iterator[Mutation]:
    """Other source formats: a pretty-printed JSON array, an SQLite store."""

    def json_array() -> Path:
        path = world.tmp / "pretty.json"
        path.write_text(json.dumps([doc for _, _, doc in world.positions()], indent=2))
        return path

    yield _equivalent(world, "equivalent.json-array", "pretty-printed JSON array", json_array)
    assert world.store is not None
    store = world.store
    yield _equivalent(
        world, "equivalent.sqlite-store", "the chains in an SQLite store", lambda: store
    )


def _store_copy(world: World, edit: Callable[[sqlite3.Connection], None]) -> Path:
    assert world.store is not None
    path = world.tmp / "edited.db"
    path.write_bytes(world.store.read_bytes())
    db = sqlite3.connect(path)
    with db:
        edit(db)
    db.close()
    return path


def _column_value(value: Any, column: str) -> Any:
    if value is None:
        return "sha256:" + "0" * 64 if column == "previous_receipt_hash" else "x"
    if isinstance(value, int):
        return value + 100  # (chain_id, sequence) is unique in the store
    return tweak(value) if value else "edited"


# Rows whose index columns are edited, every column of each: a genesis, a daemon-style
# row (tool_name in the JSON), the rotation receipt and a terminal receipt.
INDEXED_ROWS = ((PLAIN, 0), (PLAIN, 2), (ROTATION, 1), (TERMINAL, 3))


def store_mutations(world: World) -> Iterator[Mutation]:
    """Index columns edited with receipt_json intact; a row's receipt_json replaced."""
    for chain, index, doc in world.positions():
        if base_of(chain) != PLAIN and (base_of(chain), index) not in INDEXED_ROWS:
            continue
        rowid = world.rowids[(chain, index)]
        target = Origin(str(world.tmp / "edited.db"), rowid=rowid)
        columns = INDEX_COLUMNS if (base_of(chain), index) in INDEXED_ROWS else ()
        for column in columns:

            def edit(db: sqlite3.Connection, column: str = column, rowid: int = rowid) -> None:
                query = f"SELECT {column} FROM receipts WHERE rowid = ?"
                (value,) = db.execute(query, (rowid,)).fetchone()
                update = f"UPDATE receipts SET {column} = ? WHERE rowid = ?"
                db.execute(update, (_column_value(value, column), rowid))

            action = doc["credentialSubject"]["action"]
            unbacked = column == "tool_name" and "tool_name" not in action
            yield Mutation(
                cls="store.index-column" + ("-without-signed-value" if unbacked else ""),
                label=f"store column {column} of {_where(chain, index)}",
                bucket=Bucket.INDEX,
                lane=world.lane,
                chain=chain,
                source=functools.partial(_store_copy, world, edit),
                target=target,
                all_of=frozenset({C.INDEX_MISMATCH}),
                any_of=frozenset({C.INDEX_MISMATCH}),
                allowed=chain_consequences(chain),
            )
        # the row's signed JSON replaced by another store's receipt; its columns kept
        foreign = encode(world.other[index])

        def splice(db: sqlite3.Connection, rowid: int = rowid, foreign: str = foreign) -> None:
            db.execute("UPDATE receipts SET receipt_json = ? WHERE rowid = ?", (foreign, rowid))

        removal = _removal(world, chain, index)
        yield Mutation(
            cls="store.row-spliced-from-other-store",
            label=f"receipt_json of {_where(chain, index)} replaced",
            bucket=Bucket.SIGNED,
            lane=world.lane,
            chain=chain,
            source=functools.partial(_store_copy, world, splice),
            target=target,
            any_of=frozenset({C.INDEX_MISMATCH}),
            allowed=frozenset({C.SEQUENCE_GAP, C.HASH_LINK_BROKEN}) | removal.allowed,
        )


def _extend(docs: list[dict[str, Any]], chain: str, issuer: str, key: Key) -> ChainBuilder:
    builder = ChainBuilder(key, chain_id=chain, issuer=issuer, principal=PRINCIPAL)
    builder.receipts = copy.deepcopy(docs)
    return builder


def _forged(
    world: World, chain: str, cls: str, label: str, docs: list[dict[str, Any]], **expect: Any
) -> Mutation:
    """The chain replaced by `docs` in the input."""
    source = world.replacing_chain(chain, docs)
    return Mutation(cls, label, Bucket.SIGNED, world.lane, chain, source, **expect)


def forgery_mutations(world: World, share: set[str]) -> Iterator[Mutation]:
    """Forged chains and rotations to an attacker's key, for this lane's chains."""
    current = {PLAIN: ALPHA, ROTATION: ALPHA_NEXT, TERMINAL: GAMMA}
    issuers = {PLAIN: ISSUER_ALPHA, ROTATION: ISSUER_ALPHA, TERMINAL: ISSUER_GAMMA}
    parent = (world.cid(PLAIN), world.chains[world.cid(PLAIN)][1]["id"])

    def rebuilt(base: str, key: Key, issuer: str) -> list[dict[str, Any]]:
        chain = world.cid(base)
        if base == PLAIN:
            return _plain_chain(key, chain, issuer).receipts
        if base == ROTATION:
            return _rotation_chain(key, MALLORY_NEXT, chain, issuer).receipts
        return _terminal_chain(key, chain, parent, issuer).receipts

    for base in MAIN_CHAINS:
        if base not in share:
            continue
        chain = world.cid(base)
        docs = world.chains[chain]
        issuer = issuers[base]
        rotation = frozenset({C.ROTATION_INVALID}) if base == ROTATION else frozenset()
        children = frozenset({C.DELEGATION_UNVERIFIABLE}) if base in CHILDREN else frozenset()
        after = _after_terminal(chain) | children

        forged = functools.partial(_forged, world, chain)
        yield forged(
            "forged.untrusted-key",
            f"{chain} re-made and signed by an untrusted key",
            rebuilt(base, MALLORY, issuer),
            all_of=frozenset({C.INVALID_SIGNATURE}),
            every_receipt=C.INVALID_SIGNATURE,
            allowed=rotation | children,
        )
        yield forged(
            "forged.unknown-issuer",
            f"{chain} re-made by an issuer with no trusted key",
            rebuilt(base, MALLORY, ISSUER_MALLORY),
            all_of=frozenset({C.UNKNOWN_ISSUER_KEY}),
            every_receipt=C.UNKNOWN_ISSUER_KEY,
            allowed=rotation | children,
        )
        yield forged(
            "forged.appended",
            f"two receipts signed by an untrusted key appended to {chain}",
            _extend(docs, chain, issuer, MALLORY).extend(2).receipts,
            all_of=frozenset({C.INVALID_SIGNATURE}),
            allowed=after,
        )
        # rotations to the attacker's key
        rotated = frozenset({C.INVALID_SIGNATURE, C.ROTATION_INVALID})
        claimed = _extend(docs, chain, issuer, MALLORY)
        claimed.add(
            "agent.key.rotate", "high", key_rotation=rotation_fields(current[base], MALLORY)
        )
        claimed.add()
        yield forged(
            "rotation.appended-by-attacker",
            f"rotation issuer key -> attacker key, signed by the attacker, appended to {chain}",
            claimed.receipts,
            all_of=rotated,
            allowed=after,
        )
        self_made = _extend(docs, chain, issuer, MALLORY)
        self_made.add(
            "agent.key.rotate", "high", key_rotation=rotation_fields(MALLORY, MALLORY_NEXT)
        )
        self_made.add(key=MALLORY_NEXT)
        yield forged(
            "rotation.self-certified-by-attacker",
            f"rotation attacker key -> attacker key 2 appended to {chain}",
            self_made.receipts,
            all_of=rotated,
            allowed=after,
        )
        genesis = ChainBuilder(MALLORY, chain_id=chain, issuer=issuer, principal=PRINCIPAL)
        genesis.add("agent.key.rotate", "high", key_rotation=rotation_fields(MALLORY, MALLORY_NEXT))
        genesis.extend(2, key=MALLORY_NEXT)
        yield forged(
            "rotation.at-genesis-by-attacker",
            f"{chain} replaced by a chain opening with an attacker's rotation",
            genesis.receipts,
            all_of=rotated,
            every_receipt=C.INVALID_SIGNATURE,
            allowed=children,
        )
        if base == ROTATION:
            yield from _redirected_rotation(world, chain)


def _redirected_rotation(world: World, chain: str) -> Iterator[Mutation]:
    """The legitimate rotation re-pointed at the attacker's key; later receipts his."""
    docs = world.chains[chain]
    redirected = copy.deepcopy(docs[1])
    announced = rotation_fields(ALPHA, MALLORY)
    for name in ("new_public_key", "new_key_fingerprint"):
        redirected["credentialSubject"]["keyRotation"][name] = announced[name]
    kept = _extend([docs[0], redirected], chain, ISSUER_ALPHA, MALLORY)
    kept.add("document.file.share", "high")
    kept.add("data.api.write", "medium")
    resigned = _extend([docs[0]], chain, ISSUER_ALPHA, MALLORY)
    resigned.receipts.append(resign(redirected, MALLORY))
    resigned.add("document.file.share", "high")
    for label, builder in (
        ("the rotation's new key replaced by the attacker's, not re-signed", kept),
        ("the rotation's new key replaced by the attacker's, re-signed by him", resigned),
    ):
        yield Mutation(
            cls="rotation.redirected-to-attacker",
            label=f"{label} ({chain})",
            bucket=Bucket.SIGNED,
            lane=world.lane,
            chain=chain,
            source=world.replacing_chain(chain, builder.receipts),
            all_of=frozenset({C.INVALID_SIGNATURE, C.ROTATION_INVALID}),
        )


def lane_stream(worlds: list[World], proof_schema: ProofSchema) -> Iterator[tuple[bool, Mutation]]:
    """(can share a run, mutation), consecutive ones from different lanes where possible.

    Field edits are made in lockstep: the n-th edit is made in lane n mod L (every lane's
    world has the same shape, so the n-th edit is the same edit in each). Whole-receipt,
    forgery and encoding mutations are dealt out: each lane takes some positions.
    """
    streams = [field_mutations(w, proof_schema) for w in worlds]
    for n, pendings in enumerate(zip(*streams, strict=True)):
        safe, make = pendings[n % len(worlds)]
        yield safe, make()
    positions = [(base_of(c), i) for c, i, _ in worlds[0].positions()]
    dealt: list[Iterable[Mutation]] = []
    for k, world in enumerate(worlds):
        share = {p for n, p in enumerate(positions) if n % len(worlds) == k}
        chains = {b for n, b in enumerate(MAIN_CHAINS) if n % len(worlds) == k}
        dealt.append(
            itertools.chain(
                receipt_mutations(world, share),
                forgery_mutations(world, chains),
                input_order_mutations(world, share, extras=k == 0),
                encoding_mutations(world, share, extras=k == 0),
            )
        )
    for mutations in itertools.zip_longest(*dealt):
        for mutation in mutations:
            if mutation is not None:
                yield True, mutation
    yield from ((False, m) for m in store_mutations(worlds[0]))
    yield from ((False, m) for m in file_mutations(worlds[0]))


# -- running and judging ------------------------------------------------------------------


@dataclass
class Run:
    result: VerificationResult
    evidence: Evidence
    sources: tuple[SourceSummary, ...]
    cross_talk: set[str]  # sources whose records ended up in a chain with another's


def run_mutations(worlds: dict[str, World], mutations: list[Mutation], *, witness: bool) -> Run:
    """Verify the mutations' inputs together (one per lane) and build the evidence frame."""
    witnesses: dict[str, Witness] = {}
    spool = ReceiptSpool()
    try:
        for m in mutations:
            world = worlds[m.lane]
            if witness:
                witnesses.update(world.witnesses)
            if isinstance(m.source, bytes):
                read_lines_into(spool, io.BytesIO(m.source), world.source)
            else:
                read_into(spool, m.source())
        options = VerifyOptions(trust=TRUST, witnesses=witnesses)
        result, extracts = verify_spool(spool, options=options, extract=extract_rows)
        sources = tuple(spool.sources)
    finally:
        spool.close()
    evidence = build_evidence(result, extracts, witnesses=witnesses)
    cross_talk: set[str] = set()
    for chain in result.chains:
        mixed = {r.origin.source for r in chain.receipts}
        if len(mixed) > 1:
            cross_talk |= mixed
    return Run(result, evidence, sources, cross_talk)


def _rows(evidence: Evidence) -> list[tuple[str, str, bool]]:
    """(origin, chain id, trusted) of every row of the evidence frame."""
    frame = evidence.receipts
    return list(
        zip(
            frame["origin"].tolist(),
            frame["chain_id"].astype(str).tolist(),
            frame["trusted"].astype(bool).tolist(),
            strict=True,
        )
    )


@dataclass
class View:
    """What one lane sees of a run: its own chains, problems and evidence rows."""

    run: Run
    chains: list[ChainResult]
    problems: list[Problem]  # input problems (those with no origin are everybody's)
    rows: list[tuple[str, str, bool]]

    @classmethod
    def of(cls, run: Run, source: str | None) -> View:
        if source is None:
            return cls(
                run, list(run.result.chains), list(run.result.input_problems), _rows(run.evidence)
            )
        return cls(
            run,
            [c for c in run.result.chains if any(r.origin.source == source for r in c.receipts)],
            [p for p in run.result.input_problems if p.origin is None or p.origin.source == source],
            [row for row in _rows(run.evidence) if row[0].rsplit(":", 1)[0] == source],
        )

    def record_codes(self, origin: Origin) -> tuple[set[Code], bool] | None:
        """The failures reported on one record, and whether it was an input problem."""
        for chain in self.chains:
            for receipt in chain.receipts:
                if receipt.origin == origin:
                    return set(receipt.failures), False
        problems = {p.code for p in self.problems if p.origin == origin}
        return (problems, True) if problems else None

    def failure_codes(self) -> set[Code]:
        codes = {p.code for chain in self.chains for p in chain.failures}
        return codes | {p.code for p in self.problems if p.severity is Severity.FAILURE}

    def chain_codes(self, chain_id: str | None) -> set[Code]:
        return {p.code for c in self.chains if c.chain_id == chain_id for p in c.failures}


@dataclass
class Verdict:
    mutation: Mutation
    detected: bool = False
    witness_used: bool = False
    codes: frozenset[Code] = frozenset()
    violations: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)

    @property
    def key(self) -> str:
        return f"{self.mutation.cls} [{self.mutation.bucket}]"

    def fail(self, kind: str, message: str) -> None:
        self.violations.append((kind, f"{self.mutation.label}: {message}"))


class Judge:
    def __init__(self, worlds: list[World]) -> None:
        self.worlds = {w.lane: w for w in worlds}
        self.originals = {
            chain: [obsigna_receipt_hash(d) for d in docs]
            for w in worlds
            for chain, docs in w.chains.items()
        }
        first = worlds[0]
        baseline = _equivalent(first, "baseline", "baseline", first.jsonl())
        self.baseline_warnings = {
            p.code for c in self.run([baseline], witness=False).result.chains for p in c.warnings
        }

    def run(self, mutations: list[Mutation], *, witness: bool) -> Run:
        return run_mutations(self.worlds, mutations, witness=witness)

    def view(self, run: Run, mutation: Mutation) -> View:
        own = isinstance(mutation.source, bytes)
        return View.of(run, self.worlds[mutation.lane].source if own else None)

    def batch(self, mutations: list[Mutation]) -> list[Verdict]:
        """Judge mutations verified in one run (each in a lane of its own)."""
        blind = self.run(mutations, witness=False)
        witnessed: list[Run] = []

        def with_witness() -> Run:
            if not witnessed:
                witnessed.append(self.run(mutations, witness=True))
            return witnessed[0]

        verdicts = []
        for m in mutations:
            verdict = Verdict(m)
            source = self.worlds[m.lane].source
            if source in blind.cross_talk:
                verdict.fail("a", "its records were verified in a chain with another lane's")
            witnessed_view = functools.partial(self._witnessed_view, with_witness, m)
            self.judge(verdict, self.view(blind, m), witnessed_view)
            verdicts.append(verdict)
        return verdicts

    def _witnessed_view(self, witnessed: Callable[[], Run], mutation: Mutation) -> View:
        return self.view(witnessed(), mutation)

    def judge(self, verdict: Verdict, blind: View, witnessed: Callable[[], View]) -> None:
        m = verdict.mutation
        if m.bucket is Bucket.EQUIVALENT:
            self._equivalent(verdict, blind)
            return
        if m.witness:  # tail truncation: undetectable without a witness (§7.3.1)
            if not self._left_a_trusted_prefix(blind, m.chain):
                message = "without a witness the truncated chain did not verify as a prefix"
                verdict.fail("limit", message)
            final = witnessed()
            verdict.witness_used = True
            self._detection(verdict, final)
        else:
            self._detection(verdict, blind)
            final = blind
            if self._left_a_trusted_prefix(blind, m.chain):
                # the mutated record left its chain's tail: only a witness tells (§7.3.1)
                final = witnessed()
                verdict.witness_used = True
                if not final.chain_codes(m.chain) & WITNESS_CODES:
                    verdict.fail("a", "the witness did not flag the shortened chain")
        self._never_trusted(verdict, final)
        self._counted(verdict, final)

    # (a) the right codes ---------------------------------------------------------------

    def _detection(self, verdict: Verdict, view: View) -> None:
        m = verdict.mutation
        everything = view.failure_codes()
        verdict.codes = frozenset(everything)
        if m.target is not None:
            found = view.record_codes(m.target)
            if found is None:
                verdict.fail("a", f"the mutated record {m.target} is not reported at all")
                return
            codes, orphan = found
            verdict.detected = bool(codes)
            wanted = m.orphan_any_of if orphan else m.any_of
            if not codes & wanted:
                where = "as an input problem" if orphan else "on the record"
                verdict.fail("a", f"{where}: {sorted(codes)}, expected one of {sorted(wanted)}")
        else:
            codes = view.chain_codes(m.chain)
            verdict.detected = bool(codes)
            if m.any_of and not codes & m.any_of:
                verdict.fail(
                    "a", f"chain codes {sorted(codes)}, expected one of {sorted(m.any_of)}"
                )
        if m.all_of:
            reported = view.chain_codes(m.chain)
            if m.target is not None:
                reported |= (view.record_codes(m.target) or (set(), False))[0]
            missing = m.all_of - reported
            if missing:
                verdict.fail("a", f"missing {sorted(missing)}; reported {sorted(everything)}")
        if m.every_receipt is not None:
            for chain in view.chains:
                if chain.chain_id == m.chain:
                    bare = [r.sequence for r in chain.receipts if m.every_receipt not in r.failures]
                    if bare:
                        verdict.fail("a", f"sequences {bare} lack {m.every_receipt}")
        extra = WITNESS_CODES if verdict.witness_used or m.witness else frozenset()
        unexpected = everything - m.any_of - m.orphan_any_of - m.all_of - m.allowed - extra
        if unexpected:
            verdict.fail("a", f"unexpected codes {sorted(unexpected)} (all: {sorted(everything)})")

    def _left_a_trusted_prefix(self, view: View, chain_id: str | None) -> bool:
        """The chain verified, holding exactly its first receipts, unmodified."""
        chains = [c for c in view.chains if c.chain_id == chain_id]
        if len(chains) != 1 or not chains[0].valid or chain_id is None:
            return False
        hashes = [r.receipt_hash for r in chains[0].receipts]
        original = self.originals[chain_id]
        return len(hashes) < len(original) and hashes == original[: len(hashes)]

    # (b) never positive evidence --------------------------------------------------------

    def _never_trusted(self, verdict: Verdict, view: View) -> None:
        m = verdict.mutation
        world = self.worlds[m.lane]
        trusted = [(origin, chain) for origin, chain, ok in view.rows if ok]
        if m.target is not None and str(m.target) in {origin for origin, _ in trusted}:
            verdict.fail("b", f"the mutated record {m.target} is trusted evidence")
        own = sum(1 for _, chain in trusted if chain == m.chain)
        if own:
            verdict.fail("b", f"{own} receipt(s) of {m.chain} are still trusted")
        # no collateral damage: chains the mutation does not reach stay whole and trusted
        reached = {m.chain} | world.children(m.chain)
        for chain in view.chains:
            if chain.chain_id in world.main and chain.chain_id not in reached:
                if not chain.valid:
                    verdict.fail("b", f"untouched chain {chain.chain_id} failed: {chain.failures}")
                if any(c == chain.chain_id and not ok for _, c, ok in view.rows):
                    verdict.fail("b", f"untouched chain {chain.chain_id} lost trusted rows")

    # (c) counted in the integrity section ----------------------------------------------

    def _counted(self, verdict: Verdict, view: View) -> None:
        m = verdict.mutation
        evidence = view.run.evidence
        found = view.record_codes(m.target) if m.target is not None else None
        orphan = found is not None and found[1]  # counted among the report's input problems
        if orphan and m.target not in {p.origin for p in evidence.verification.input_problems}:
            verdict.fail("c", "the orphaned record is not among the input problems")
        chains = evidence.chains_in_scope
        row = chains[chains["chain_id"].astype(str) == m.chain]
        if len(row) != 1:
            verdict.fail("c", f"{m.chain} is in the chains in scope {len(row)} times")
            return
        if bool(row["authentic"].iloc[0]):
            verdict.fail("c", f"{m.chain} counts as authentic in the integrity section")
        if not str(row["failure_codes"].iloc[0]).split():
            verdict.fail("c", f"{m.chain} lists no failure code in the integrity section")

    # equivalent encodings: no false positive -----------------------------------------

    def _equivalent(self, verdict: Verdict, view: View) -> None:
        everything = view.failure_codes()
        verdict.codes = frozenset(everything)
        verdict.detected = bool(everything)
        if everything:
            verdict.fail("fp", f"rejected with {sorted(everything)}")
        warnings = {p.code for c in view.chains for p in c.warnings}
        unexpected = warnings - self.baseline_warnings - {C.DUPLICATE_RECORD}
        if unexpected:
            verdict.fail("fp", f"unexpected warnings {sorted(unexpected)}")
        expected = self.worlds[verdict.mutation.lane].receipt_count
        trusted = sum(1 for _, _, ok in view.rows if ok)
        if len(view.rows) != expected or trusted != expected:
            verdict.fail("fp", f"{trusted}/{len(view.rows)} rows trusted, {expected} receipts")


# -- the full report, once per class, from a run of that mutation alone ------------------


def report_problems(judge: Judge, verdict: Verdict, frameworks: list[Framework]) -> list[str]:
    m = verdict.mutation
    single = judge.run([m], witness=verdict.witness_used)
    evidence = single.evidence
    assessments = tuple(assess(frameworks, evidence))
    model = build_report(
        ReportInputs(evidence, frameworks, assessments, single.sources, TRUST.fingerprints()),
        ReportOptions(organisation="Tamper matrix"),
    )
    problems: list[str] = []
    figures = model.figures
    if figures.trusted_receipts != int(evidence.in_scope["trusted"].astype(bool).sum()):
        problems.append(f"trusted_receipts {figures.trusted_receipts} differs from the frame")
    if m.bucket is Bucket.EQUIVALENT:
        if model.posture is Posture.INTEGRITY_BROKEN or figures.broken_chains:
            problems.append(f"posture {model.posture}, {figures.broken_chains} broken chains")
        if figures.trusted_receipts != figures.receipts_in_scope:
            problems.append("an equivalent encoding lost trusted receipts")
        return problems
    if model.posture is not Posture.INTEGRITY_BROKEN:
        problems.append(f"posture is {model.posture}")
    broken = [row for row in model.integrity if not row.authentic]
    if figures.broken_chains != len(broken) or not broken:
        problems.append(f"broken_chains {figures.broken_chains}, integrity rows {len(broken)}")
    rows = [row for row in model.integrity if row.chain_id == m.chain]
    if len(rows) != 1 or rows[0].authentic or not rows[0].failure_codes:
        problems.append(f"integrity rows of {m.chain}: {rows}")
    else:
        chain_codes = {c.value for c in View.of(single, None).chain_codes(m.chain)}
        if set(rows[0].failure_codes) != chain_codes:
            problems.append(f"integrity row codes {rows[0].failure_codes} != {sorted(chain_codes)}")
    if any(ref.trusted and ref.chain_id == m.chain for ref in model.cited_receipts):
        problems.append(f"a receipt of {m.chain} is cited as trusted")
    integrity = [f for f in model.findings if "chain_integrity" in f.checks]
    if not integrity or m.chain not in integrity[0].chains:
        problems.append(f"no chain_integrity finding names {m.chain}")
    if figures.input_problems != len(evidence.verification.input_problems):
        problems.append("input problems are not counted in the key figures")
    return problems


# -- the matrix -----------------------------------------------------------------------------


@dataclass
class Matrix:
    worlds: list[World]
    verdicts: list[Verdict]
    report_problems: dict[str, list[str]]  # by class and bucket
    runs: int
    seconds: tuple[float, float]  # wall, CPU

    def by_bucket(self, bucket: Bucket) -> list[Verdict]:
        return [v for v in self.verdicts if v.mutation.bucket is bucket]

    def violations(self, *kinds: str, cls: str | None = None) -> list[str]:
        """Violations of the given kinds: of one class, or of every class."""
        return [
            message
            for v in self.verdicts
            if cls is None or v.mutation.cls == cls
            for kind, message in v.violations
            if kind in kinds
        ]

    def report_violations(self, cls: str | None = None) -> list[str]:
        return [
            f"{key} (full report): {problem}"
            for key, problems in self.report_problems.items()
            if cls is None or key.split(" [")[0] == cls
            for problem in problems
        ]


def build_matrix(worlds: list[World], proof_schema: ProofSchema) -> Matrix:
    started, cpu = time.perf_counter(), time.process_time()
    judge = Judge(worlds)
    frameworks = [f for f in load_mappings(shipped_mapping_paths()) if f.id == REPORT_FRAMEWORK]
    assert frameworks, REPORT_FRAMEWORK
    verdicts: list[Verdict] = []
    problems: dict[str, list[str]] = {}
    runs = 0

    def judge_all(batch: list[Mutation]) -> None:
        nonlocal runs
        runs += 1
        for verdict in judge.batch(batch):
            if verdict.key not in problems:  # one full report per class
                problems[verdict.key] = report_problems(judge, verdict, frameworks)
            verdict.mutation = replace(verdict.mutation, source=b"")  # inputs are not kept
            verdicts.append(verdict)
        batch.clear()

    batch: list[Mutation] = []
    for shareable, mutation in lane_stream(worlds, proof_schema):
        if not shareable or not isinstance(mutation.source, bytes):
            judge_all(batch) if batch else None
            judge_all([mutation])
            continue
        if any(m.lane == mutation.lane for m in batch):
            judge_all(batch)
        batch.append(mutation)
        if len(batch) == len(worlds):
            judge_all(batch)
    if batch:
        judge_all(batch)
    seconds = (time.perf_counter() - started, time.process_time() - cpu)
    return Matrix(worlds, verdicts, problems, runs, seconds)


def _summary(matrix: Matrix) -> list[str]:
    signed = matrix.by_bucket(Bucket.SIGNED)
    detected = sum(1 for v in signed if v.detected)
    equivalent = matrix.by_bucket(Bucket.EQUIVALENT)
    false_positives = sum(1 for v in equivalent if v.detected)
    index = matrix.by_bucket(Bucket.INDEX)
    truncation = matrix.by_bucket(Bucket.TRUNCATION)
    proof = matrix.by_bucket(Bucket.PROOF_METADATA)
    rate = 100.0 * detected / len(signed) if signed else 0.0
    lines = [
        f"tamper matrix: {len(matrix.verdicts):,} mutations ({len(signed):,} of signed content), "
        f"detected {rate:.1f}% of signed-content mutations, {false_positives} false positives "
        f"({len(equivalent)} equivalent encodings)",
        f"tamper matrix: index columns {sum(v.detected for v in index)}/{len(index)} detected; "
        f"tail truncations {sum(v.detected for v in truncation)}/{len(truncation)} detected "
        "with a witness, none without (protocol limit); "
        f"proof metadata {sum(v.detected for v in proof)}/{len(proof)} rejected by the schema; "
        f"{sum(v.witness_used for v in signed)} signed-content mutations needed the witness "
        "to break their chain",
        f"tamper matrix: {matrix.runs:,} verification runs in {len(matrix.worlds)} lanes, "
        f"{len(matrix.report_problems)} full reports, "
        f"{matrix.seconds[0]:.1f} s ({matrix.seconds[1]:.1f} s CPU)",
    ]
    per_class: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in matrix.verdicts:
        per_class[verdict.key].append(verdict)
    for key in sorted(per_class):
        verdicts = per_class[key]
        codes = Counter(c.value for v in verdicts for c in v.codes)
        top = ", ".join(f"{code} x{n}" for code, n in codes.most_common(4))
        lines.append(
            f"  {key:<64} {len(verdicts):>5}  detected {sum(v.detected for v in verdicts):>5}"
            + (f"  [{top}]" if top else "")
        )
    return lines


# -- fixtures and tests --------------------------------------------------------------------


@pytest.fixture(scope="module")
def proof_schema() -> ProofSchema:
    schema = json.loads((require_shared() / "schema" / "agent-receipt.schema.json").read_text())
    return ProofSchema({**schema["$defs"]["proof"], "$schema": schema.get("$schema")})


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> list[World]:
    tmp = tmp_path_factory.mktemp("tamper")
    return [build_world(tmp, lane, with_store=lane == LANES[0]) for lane in LANES]


@pytest.fixture(scope="module")
def matrix(
    worlds: list[World], proof_schema: ProofSchema, request: pytest.FixtureRequest
) -> Matrix:
    result = build_matrix(worlds, proof_schema)
    request.config.stash.setdefault(SUMMARY_LINES, []).extend(_summary(result))
    return result


def test_the_unmutated_worlds_verify_and_are_trusted(worlds: list[World]) -> None:
    judge = Judge(worlds)
    baseline = [_equivalent(w, "baseline", "baseline", w.jsonl()) for w in worlds]
    verdicts = judge.batch(baseline)
    assert [v.violations for v in verdicts] == [[]] * len(worlds)
    witnessed = judge.run(baseline, witness=True)
    assert witnessed.result.valid, [c.failures for c in witnessed.result.chains]
    assert not witnessed.cross_talk
    by_id = {c.chain_id: c for c in witnessed.result.chains}
    for world in worlds:
        assert [r.valid for r in by_id[world.cid(ROTATION)].rotations] == [True]
        assert by_id[world.cid(TERMINAL)].termination.value == "complete"


def _show(messages: list[str], limit: int = 25) -> str:
    shown = "\n".join(messages[:limit])
    more = f"\n... and {len(messages) - limit} more" if len(messages) > limit else ""
    return shown + more


def test_every_signed_content_mutation_is_detected(matrix: Matrix) -> None:
    signed = matrix.by_bucket(Bucket.SIGNED)
    missed = [v.mutation.label for v in signed if not v.detected]
    assert len(signed) > 1000
    assert not missed, f"{len(missed)}/{len(signed)} undetected:\n" + _show(missed)


def test_every_index_edit_truncation_and_invalid_proof_is_detected(matrix: Matrix) -> None:
    for bucket in (Bucket.INDEX, Bucket.TRUNCATION, Bucket.PROOF_METADATA):
        verdicts = matrix.by_bucket(bucket)
        missed = [v.mutation.label for v in verdicts if not v.detected]
        assert verdicts, bucket
        assert not missed, _show(missed)


def test_each_mutation_reports_the_expected_codes(matrix: Matrix) -> None:
    wrong = matrix.violations("a", "limit")
    assert not wrong, _show(wrong)


def test_no_mutation_counts_as_positive_evidence(matrix: Matrix) -> None:
    wrong = matrix.violations("b")
    assert not wrong, _show(wrong)


def test_each_mutation_is_counted_in_the_integrity_section(matrix: Matrix) -> None:
    assert len(matrix.report_problems) >= 30  # one full report per class
    wrong = matrix.violations("c") + matrix.report_violations()
    assert not wrong, _show(wrong)


def test_encodings_of_the_same_signed_content_are_accepted(matrix: Matrix) -> None:
    equivalent = matrix.by_bucket(Bucket.EQUIVALENT)
    classes = {v.mutation.cls for v in equivalent}
    assert len(classes) >= 10, classes
    wrong = matrix.violations("fp")
    assert not wrong, _show(wrong)


def test_every_class_of_the_issue_is_in_the_matrix(matrix: Matrix) -> None:
    classes = Counter(v.mutation.cls for v in matrix.verdicts)
    for wanted in (
        "field.change",
        "field.remove",
        "field.retype",
        "field.duplicate-member",
        "field.duplicate-element",
        "receipt.drop-first",
        "receipt.drop-middle",
        "receipt.drop-last",
        "receipt.duplicate-tampered",
        "receipt.swap-sequence",
        "receipt.splice-other-chain",
        "receipt.splice-other-store",
        "store.index-column",
        "forged.untrusted-key",
        "rotation.appended-by-attacker",
        "rotation.redirected-to-attacker",
    ):
        assert classes[wanted] > 0, wanted
    # every member and element of every receipt, proof included, was changed, removed and
    # retyped (each in one of the lanes)
    expected = {
        (base_of(chain), index + 1, "/".join(str(p) for p in path))
        for chain, index, doc in matrix.worlds[0].positions()
        for path in field_paths(doc)
    }
    assert ("tm-plain", 1, "proof/proofValue") in expected
    assert ("tm-terminal", 1, "credentialSubject/delegation/delegator/id") in expected
    for cls in ("field.change", "field.remove", "field.retype"):
        edited = set()
        for v in matrix.verdicts:
            if v.mutation.cls == cls:
                _, where, path = v.mutation.label.split(" ", 2)
                chain, number = where.split("#")
                edited.add((base_of(chain), int(number), path))
        assert edited == expected, cls


def test_escaped_member_names_are_equivalent(matrix: Matrix) -> None:
    cls = "equivalent.escaped-names"
    wrong = matrix.violations("fp", cls=cls) + matrix.report_violations(cls)
    assert not wrong, _show(wrong)


def test_tool_name_column_without_signed_value_is_compared(matrix: Matrix) -> None:
    cls = "store.index-column-without-signed-value"
    wrong = matrix.violations("a", "b", "c", cls=cls) + matrix.report_violations(cls)
    assert not wrong, _show(wrong)


def test_an_escaped_genesis_does_not_launder_a_broken_chain(worlds: list[World]) -> None:
    """Receipt 2 deleted (a gap) and the genesis re-encoded: the chain's receipts stay untrusted."""
    world = worlds[0]
    plain = world.cid(PLAIN)
    genesis = encode(world.chains[plain][0]).replace('"chain_id":', '"\\u0063hain_id":')
    lines = [genesis.encode(), *world.lines[2:]]  # receipt 2 of the plain chain is gone
    source = b"".join(line + b"\n" for line in lines)
    mutation = Mutation("x", "x", Bucket.SIGNED, world.lane, plain, source)
    current = View.of(Judge(worlds).run([mutation], witness=False), None)
    assert any(not c.authentic for c in current.chains if c.chain_id == plain)  # the gap shows
    trusted = [origin for origin, chain, ok in current.rows if ok and chain == plain]
    assert trusted == []  # ... and no receipt of the broken chain may count as evidence
