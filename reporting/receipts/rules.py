"""The protocol's verification rules (§7.1-§7.9), step by step, over one chain's receipts.

A chain's records are parsed (`parse_entry`), put in sequence order
(`ordered_entries`), then walked in that order by `ChainWalk`, which runs every check
on every receipt, so an audit lists each broken record instead of stopping at the first
(after pyHanko's validation status model). For each receipt, in this order:

1. schema, per version (`schema.py`), with the known deviations as warnings;
2. §7.1/§7.2 the signature over the null-normalised RFC 8785 bytes of the stored JSON,
   under the chain's active key; at genesis every trusted key for the issuer is tried;
   ``proofValue`` strictly encoded;
3. §7.3 the hash link to the previous receipt, genesis ``previous_receipt_hash: null``,
   and §7.3.5 sequence contiguity and duplicates;
4. §7.3.4 one ``chain_id``, §7.5 one issuer, §7.3.2 nothing after a terminal receipt;
5. §7.3.7 key rotation: only a valid, outgoing-key-signed rotation changes the key;
6. the store's index columns against the signed JSON (the columns are not evidence);
7. §7.7 RFC 3161 trusted timestamps (`timestamps.py`);
8. §7.9 grounded principal, with a grants file;
9. dropped audit events the emitter reported (warning).

Over a run of receipts: §4.3.2 response hashes when bodies are supplied, §7.3.6
idempotency keys, and on the chain's last receipt §7.3.3 termination (with
``--require-terminal``) and an incomplete tool round-trip. Over the whole chain
(`witness_problems`, `chain_level_problems`): §7.3.1 the witness, duplicate idempotency
keys, bodies not supplied. Checks across chains (§7.6 delegation, duplicate receipt
ids, witnessed chains missing) are in `crosschain.py`.

A long chain may be walked in runs (`chunks.py`): `RunStart` is the walk's state where
a run begins, and the walk reports the state where it ends.
"""

from __future__ import annotations

import binascii
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import nacl.bindings
import nacl.exceptions
import orjson

from reporting.receipts.canonical import (
    MalformedReceiptError,
    ParsedReceipt,
    canonical_json,
    json_text_hash,
    parse_receipt,
)
from reporting.receipts.fields import get_path
from reporting.receipts.keys import PublicKey, decode_multibase_key, fingerprint
from reporting.receipts.options import VerifyOptions
from reporting.receipts.records import RawRecord
from reporting.receipts.results import (
    Code,
    Outcome,
    Problem,
    ReceiptResult,
    Rotation,
    Severity,
    Termination,
)
from reporting.receipts.schema import check_receipt_schema
from reporting.words import count

__all__ = [
    "ChainWalk",
    "Entry",
    "RunStart",
    "TerminalMark",
    "as_integer",
    "chain_level_problems",
    "ordered_entries",
    "parse_entry",
    "witness_problems",
]

PROOF_TYPE = "Ed25519Signature2020"
_HIGH_RISK = frozenset({"high", "critical"})
EVENTS_DROPPED_TYPE = "agent_receipts.events_dropped"


# -- reading a receipt's parts ------------------------------------------------------------


def as_integer(value: Any) -> int | None:
    """A JSON number that is an integer, read as the schema reads it: JSON Schema's
    `integer` is any number with a zero fractional part, so `2.0` is 2 (and RFC 8785
    writes both as `2`: the same signed bytes). Anything else is None."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _sequence(document: dict[str, Any]) -> int | None:
    return as_integer(get_path(document, "credentialSubject", "chain", "sequence"))


def _lenient_sequence(record: RawRecord, options: VerifyOptions) -> int | None:
    """Where a record that failed the strict parse claims to sit, read leniently (a
    duplicate member, say, does not hide its sequence): only to place its failure in
    its chain, never as evidence. Records over the size limit are not read."""
    if len(record.raw) > options.max_receipt_bytes:
        return None
    try:
        document = orjson.loads(record.raw)
    except orjson.JSONDecodeError:
        return None
    return _sequence(document) if isinstance(document, dict) else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# base64url to the standard alphabet; the standard alphabet's own `+` and `/` (not
# base64url) become a character strict decoding refuses.
_FROM_BASE64URL = bytes.maketrans(b"-_+/", b"+/!!")
# 86 characters carry 516 bits, 4 more than 64 bytes: in the one canonical encoding they
# are zero, so the last character is one of these.
_CANONICAL_LAST = frozenset("AQgw")


def _decode_proof_value(proof: Any) -> bytes:
    """Strict encoding: `u` + 86 unpadded base64url characters decoding to 64 bytes, in
    their one canonical spelling (one C call decodes, refusing anything else)."""
    if not isinstance(proof, dict):
        raise ValueError("proof is missing or not an object")
    if proof.get("type") != PROOF_TYPE:
        raise ValueError(f"proof.type must be {PROOF_TYPE}, found {proof.get('type')!r}")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("u"):
        raise ValueError("proofValue must be multibase 'u' (base64url)")
    if len(value) != 87:
        raise ValueError(f"proofValue must be 'u' + 86 base64url characters, found {len(value)}")
    try:
        body = value.encode("ascii")[1:].translate(_FROM_BASE64URL)
        signature = binascii.a2b_base64(body + b"==", strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ValueError("proofValue must be 'u' + 86 base64url characters") from exc
    if value[-1] not in _CANONICAL_LAST:
        raise ValueError("proofValue is not the canonical encoding of 64 bytes")
    return signature


def _signature_valid(signature: bytes, message: bytes, key: bytes) -> bool:
    """Ed25519 via libsodium (strict RFC 8032 checks, no pre-hash)."""
    try:
        nacl.bindings.crypto_sign_open(signature + message, key)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


# -- one receipt at a time ----------------------------------------------------------------


def _section(parent: dict[str, Any], name: str) -> dict[str, Any]:
    value = parent.get(name)
    return value if type(value) is dict else {}  # parsed JSON holds plain dicts only


class Entry:
    """A record in a chain, parsed (or not), accumulating its problems.

    The parts every check reads are looked up once here: this is the hot path.
    """

    __slots__ = (
        "action",
        "chain",
        "document",
        "outcome",
        "placement",
        "problems",
        "receipt_hash",
        "receipt_id",
        "record",
        "sequence",
        "signed",
        "subject",
    )

    def __init__(self, record: RawRecord, parsed: ParsedReceipt | None) -> None:
        self.record = record
        # None: the record could not be parsed (every check below needs a parsed receipt)
        self.receipt_hash = parsed.receipt_hash if parsed is not None else None
        self.signed = parsed.canonical if parsed is not None else b""  # dropped once checked
        self.problems: list[Problem] = []
        document: dict[str, Any] = parsed.document if parsed is not None else {}
        subject = document.get("credentialSubject")
        if type(subject) is not dict:  # parsed JSON holds plain dicts only
            subject = {}
        self.document, self.subject = document, subject
        self.chain = chain = _section(subject, "chain")
        self.action = _section(subject, "action")
        self.outcome = _section(subject, "outcome")
        receipt_id = document.get("id")
        self.receipt_id: str | None = receipt_id if type(receipt_id) is str else None
        sequence = chain.get("sequence")
        self.sequence: int | None = sequence if type(sequence) is int else as_integer(sequence)
        self.placement = self.sequence  # where it sits in sequence order (see _ordered)

    def add(self, code: Code, message: str, index: int | None) -> None:
        self.problems.append(
            Problem(code, message, self.receipt_id, self.sequence, index, self.record.origin)
        )

    def place_at(self, index: int) -> None:
        """A record that could not be parsed learns its index once its chain is ordered."""
        self.problems = [replace(p, index=index) for p in self.problems]

    def result(self) -> ReceiptResult:
        if not self.problems:  # the common case: no code tuples, positional `_make`
            return _make_result(
                (
                    self.receipt_id,
                    self.record.origin,
                    self.sequence,
                    self.receipt_hash,
                    _PASSED,
                    (),
                    (),
                )
            )
        failures = tuple(
            dict.fromkeys(p.code for p in self.problems if p.severity is Severity.FAILURE)
        )
        warnings = tuple(
            dict.fromkeys(p.code for p in self.problems if p.severity is Severity.WARNING)
        )
        return ReceiptResult(
            receipt_id=self.receipt_id,
            origin=self.record.origin,
            sequence=self.sequence,
            receipt_hash=self.receipt_hash,
            outcome=Outcome.FAILED if failures else Outcome.PASSED,
            failures=failures,
            warnings=warnings,
        )


_make_result = ReceiptResult._make
_PASSED = Outcome.PASSED


def parse_entry(record: RawRecord, options: VerifyOptions) -> Entry:
    try:
        parsed = parse_receipt(
            record.raw, max_bytes=options.max_receipt_bytes, max_depth=options.max_depth
        )
    except MalformedReceiptError as exc:
        entry = Entry(record, None)
        entry.placement = _lenient_sequence(record, options)
        entry.add(
            Code.RECEIPT_TOO_LARGE if exc.too_large else Code.MALFORMED_RECEIPT, str(exc), None
        )
        return entry
    return Entry(record, parsed)


_LAST = 2**62  # where a parsed receipt without a sequence is placed: after every other


def _in_sequence_order(entries: list[Entry]) -> list[Entry]:
    """Entries ordered by sequence, ties in arrival order.

    A parsed receipt sits at its sequence (one without any, last). A record that could
    not be parsed sits where it claims to (`_lenient_sequence`), or else right after the
    record that arrived before it: a malformed receipt in the middle of a chain is that
    chain's first failure where it stands, not after the link it breaks.
    """
    keys: list[tuple[int, int, int]] = []
    before = (-1, -1)  # the arrival predecessor's (placement, position)
    for position, entry in enumerate(entries):
        if entry.placement is not None:
            before = (entry.placement, position)
        elif entry.receipt_hash is not None:
            before = (_LAST, position)
        keys.append((*before, position))
    order = sorted(range(len(entries)), key=keys.__getitem__)
    return [entries[i] for i in order]


def _dedupe(entries: list[Entry]) -> tuple[list[Entry], list[Problem]]:
    """The same receipt twice (same hash, so the same signed content and id) is kept
    once, with a warning."""
    seen: set[str] = set()
    kept: list[Entry] = []
    warnings: list[Problem] = []
    for entry in entries:
        key = entry.receipt_hash
        if key is not None and key in seen:
            message = f"identical copy of {entry.receipt_id} also at another origin; counted once"
            warnings.append(
                Problem(
                    Code.DUPLICATE_RECORD,
                    message,
                    entry.receipt_id,
                    entry.sequence,
                    None,
                    entry.record.origin,
                )
            )
            continue
        if key is not None:
            seen.add(key)
        kept.append(entry)
    return kept, warnings


def ordered_entries(
    records: Sequence[RawRecord], options: VerifyOptions
) -> tuple[list[Entry], list[Problem]]:
    """Parse a run's records and put them in sequence order; identical copies once."""
    parsed = [parse_entry(record, options) for record in records]
    return _dedupe(_in_sequence_order(parsed))


# -- the chain walk -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TerminalMark:
    """The first terminal receipt of a chain: no receipt may follow it (§7.3.2)."""

    receipt_id: str | None
    sequence: int | None


@dataclass(frozen=True)
class RunStart:
    """The walk's state where a run of a chain's receipts begins.

    A whole chain starts from nothing. A chunk of a long chain is walked in a worker
    from nothing too (speculatively); `stitch_chunks` keeps that walk only when it is
    the walk the carried-over state would have produced, else walks it again from the
    exact state.
    """

    offset: int = 0  # chain index of the run's first receipt
    issuer_known: bool = False
    issuer: str | None = None
    active_key: bytes | None = None
    genesis_key: PublicKey | None = None
    terminal: TerminalMark | None = None


@dataclass
class ChainWalk:
    """State carried from receipt to receipt while walking one chain in sequence order.

    `run` checks each receipt of `entries` (a whole chain, or one run of it starting
    from `start`) and leaves the state where the run ends in the fields below.
    """

    chain_id: str
    options: VerifyOptions
    entries: list[Entry]
    start: RunStart = field(default_factory=RunStart)
    final: bool = True
    issuer: str | None = None
    active_key: bytes | None = None
    genesis_key: PublicKey | None = None
    first_key: bytes | None = None
    rotations: list[Rotation] = field(default_factory=list)
    terminal: TerminalMark | None = None
    missing_bodies: int = 0
    idempotency_keys: Counter[str] = field(default_factory=Counter)
    first_timestamp: str | None = None  # the earliest and latest action.timestamp
    last_timestamp: str | None = None
    has_parsed: bool = False  # a receipt of the run could be parsed

    def run(self, previous: Entry | None = None) -> None:
        """Walk the entries; `previous` is the receipt before the first (a chunk's overlap).

        Each receipt links to the last receipt before it that could be parsed: a record
        that could not be is its own failure, where it stands, and breaks a link only
        if the receipt after it does not link past it.
        """
        first = next((e for e in self.entries if e.receipt_hash is not None), None)
        self._begin(first)
        for local, entry in enumerate(self.entries):
            if entry.receipt_hash is not None:
                self._check_receipt(self.start.offset + local, entry, previous)
                previous = entry
            else:
                entry.place_at(self.start.offset + local)
        self._end()

    def run_as_read(self, records: Sequence[RawRecord], previous: Entry | None = None) -> bool:
        """`run` over `records` parsed one at a time, each checked as soon as it is parsed,
        while its document is fresh in memory (a run's receipts are then never all held
        with their signed bytes at once).

        That is `run` over `ordered_entries(records)` only when every record parses and
        the sequences strictly increase in arrival order (the common case: the order is
        the arrival order, and there is no identical copy to drop). False as soon as a
        record does not fit; the walk is then spoiled: walk the records with `run`.
        """
        last: int | None = None
        for local, record in enumerate(records):
            entry = parse_entry(record, self.options)
            sequence = entry.sequence
            if entry.receipt_hash is None or sequence is None:
                return False
            if last is not None and sequence <= last:
                return False
            if last is None:
                self._begin(entry)
            self.entries.append(entry)
            self._check_receipt(self.start.offset + local, entry, previous)
            previous, last = entry, sequence
        if last is None:
            self._begin(None)
        self._end()
        return True

    def _begin(self, first: Entry | None) -> None:
        """The state where the run starts; the chain's issuer is the first receipt's."""
        self.active_key, self.genesis_key = self.start.active_key, self.start.genesis_key
        self.terminal = self.start.terminal
        if self.start.issuer_known:
            self.issuer = self.start.issuer
        else:
            self.issuer = get_path(first.document, "issuer", "id") if first else None

    def _end(self) -> None:
        if self.final:
            self._check_termination_claims()

    def _check_receipt(self, index: int, entry: Entry, previous: Entry | None) -> None:
        """The steps of the module docstring, in its order, on one parsed receipt (a step
        that does not apply to the receipt is skipped here: this is the hot path)."""
        # 1 (a missing or malformed action reads as {}: no finding, as the schema says)
        for finding in check_receipt_schema(entry.document, action=entry.action):
            entry.add(finding.code, finding.message, index)
        self._check_signature(index, entry)  # 2
        self._check_link(index, entry, previous)  # 3
        self._check_binding(index, entry)  # 4
        if entry.subject.get("keyRotation") is not None:
            self._check_rotation(index, entry)  # 5
        if entry.record.index_columns is not None:
            self._check_index_columns(index, entry)  # 6
        action = entry.action
        if action.get("trusted_timestamp") is not None:
            self._check_trusted_timestamp(index, entry)  # 7
        if self.options.grants is not None:
            self._check_grounded_principal(index, entry)  # 8
        if action.get("type") == EVENTS_DROPPED_TYPE:
            self._check_events_dropped(index, entry)  # 9
        if entry.chain.get("terminal") is True and self.terminal is None:
            self.terminal = TerminalMark(entry.receipt_id, entry.sequence)
        # over the run: response hashes (§4.3.2), idempotency keys (§7.3.6) and times
        if entry.outcome.get("response_hash") is not None:
            self._check_response_hash(index, entry)
        key = action.get("idempotency_key")
        if type(key) is str and key:
            self.idempotency_keys[key] += 1
        timestamp = action.get("timestamp")
        if type(timestamp) is str:
            if self.first_timestamp is None or timestamp < self.first_timestamp:
                self.first_timestamp = timestamp
            if self.last_timestamp is None or timestamp > self.last_timestamp:
                self.last_timestamp = timestamp

    # §7.1 / §7.2
    def _check_signature(self, index: int, entry: Entry) -> None:
        assert entry.receipt_hash is not None
        searching = not self.has_parsed and self.active_key is None
        self.has_parsed = True
        try:
            signature = _decode_proof_value(entry.document.get("proof"))
        except (ValueError, binascii.Error) as exc:
            entry.add(Code.INVALID_SIGNATURE, f"invalid proof: {exc}", index)
            return
        message, entry.signed = entry.signed, b""  # checked once; not kept in memory
        if self.active_key is not None:
            if not _signature_valid(signature, message, self.active_key):
                fp = fingerprint(self.active_key)
                entry.add(
                    Code.INVALID_SIGNATURE,
                    f"signature does not verify under the active key {fp}",
                    index,
                )
            return
        self._find_genesis_key(index, entry, signature, message)
        if searching:
            self.first_key = self.active_key

    def _find_genesis_key(self, index: int, entry: Entry, signature: bytes, message: bytes) -> None:
        """Try every trusted key for the issuer; the one that verifies becomes active."""
        candidates = self.options.trust.candidates(self.issuer, self.chain_id)
        if not candidates:
            entry.add(
                Code.UNKNOWN_ISSUER_KEY,
                f"no trusted key for issuer {self.issuer!r} on chain {self.chain_id!r}",
                index,
            )
            return
        for key in candidates:
            if _signature_valid(signature, message, key.raw):
                self.active_key, self.genesis_key = key.raw, key
                return
        tried = ", ".join(k.fingerprint for k in candidates)
        entry.add(
            Code.INVALID_SIGNATURE,
            f"signature verifies under none of the trusted keys ({tried})",
            index,
        )

    # §7.3, §7.3.5
    def _check_link(self, index: int, entry: Entry, previous: Entry | None) -> None:
        link = entry.chain.get("previous_receipt_hash")
        sequence = entry.sequence
        if previous is None:
            if sequence is not None and sequence != 1:
                entry.add(
                    Code.SEQUENCE_GAP, f"chain starts at sequence {sequence}, expected 1", index
                )
            elif link is not None:
                entry.add(
                    Code.GENESIS_NOT_NULL,
                    f"genesis previous_receipt_hash must be null, found {link!r}",
                    index,
                )
            return
        assert previous.receipt_hash is not None
        if link != previous.receipt_hash:
            entry.add(
                Code.HASH_LINK_BROKEN,
                f"previous_receipt_hash is {link!r}; previous receipt hashes to "
                f"{previous.receipt_hash}",
                index,
            )
        before = previous.sequence
        if sequence is None or before is None:
            return
        if sequence == before:
            entry.add(Code.SEQUENCE_DUPLICATE, f"sequence {sequence} occurs more than once", index)
        elif sequence != before + 1:
            entry.add(
                Code.SEQUENCE_GAP,
                f"sequence {sequence} follows {before}; expected {before + 1}",
                index,
            )

    # §7.3.4, §7.5, §7.3.2
    def _check_binding(self, index: int, entry: Entry) -> None:
        chain_id = entry.chain.get("chain_id")
        if chain_id != self.chain_id:
            entry.add(
                Code.CHAIN_ID_MISMATCH,
                f"chain_id is {chain_id!r}, chain is {self.chain_id!r}",
                index,
            )
        issuer_object = entry.document.get("issuer")
        issuer = issuer_object.get("id") if type(issuer_object) is dict else None
        if issuer != self.issuer:
            entry.add(
                Code.ISSUER_MISMATCH,
                f"issuer is {issuer!r}, chain issuer is {self.issuer!r}",
                index,
            )
        if self.terminal is not None:
            message = (
                f"receipt follows the terminal receipt {self.terminal.receipt_id} "
                f"(sequence {self.terminal.sequence})"
            )
            entry.add(Code.RECEIPT_AFTER_TERMINAL, message, index)

    # §7.3.7
    def _check_rotation(self, index: int, entry: Entry) -> None:
        rotation = entry.subject.get("keyRotation")
        if rotation is None:
            return
        signed_ok = not any(
            p.code in (Code.INVALID_SIGNATURE, Code.UNKNOWN_ISSUER_KEY) for p in entry.problems
        )
        try:
            new_key = _rotation_new_key(rotation, self.active_key)
        except ValueError as exc:
            entry.add(Code.ROTATION_INVALID, f"key rotation rejected: {exc}", index)
            self._record_rotation(entry, rotation, valid=False)
            return
        if not signed_ok:
            entry.add(
                Code.ROTATION_INVALID, "rotation receipt is not signed by the outgoing key", index
            )
            self._record_rotation(entry, rotation, valid=False)
            return
        self.active_key = new_key
        self._record_rotation(entry, rotation, valid=True)

    def _record_rotation(self, entry: Entry, rotation: Any, *, valid: bool) -> None:
        old = rotation.get("old_key_fingerprint") if isinstance(rotation, dict) else None
        new = rotation.get("new_key_fingerprint") if isinstance(rotation, dict) else None
        self.rotations.append(Rotation(entry.receipt_id, entry.sequence, str(old), str(new), valid))

    def _check_index_columns(self, index: int, entry: Entry) -> None:
        columns = entry.record.index_columns
        if columns is None or entry.receipt_hash is None:
            return
        for name, expected in _index_expectations(entry.document, entry.receipt_hash):
            found = columns.get(name)
            if found != expected and not (expected is None and found in (None, "")):
                entry.add(
                    Code.INDEX_MISMATCH,
                    f"store column {name} is {found!r}, signed JSON says {expected!r}",
                    index,
                )

    # §7.7
    def _check_trusted_timestamp(self, index: int, entry: Entry) -> None:
        token = entry.action.get("trusted_timestamp")
        if token is None:
            return
        # Loaded with the first token: CMS and certificate paths cost a twentieth of a
        # second to import, and most receipts carry no token.
        from reporting.receipts.timestamps import verify_trusted_timestamp

        imprint_input = _canonical_without_timestamp(entry.document)
        action_time = _parse_time(entry.action.get("timestamp"))
        verdict = verify_trusted_timestamp(
            token if isinstance(token, str) else "",
            imprint_input,
            action_time=action_time,
            tolerance=self.options.timestamp_tolerance,
            tsa_roots=self.options.tsa_roots,
        )
        if not verdict.valid:
            entry.add(Code.INVALID_TRUSTED_TIMESTAMP, verdict.detail, index)
        elif not verdict.anchored:
            entry.add(
                Code.TRUSTED_TIMESTAMP_UNANCHORED,
                "timestamp token is valid but its TSA is not in --tsa-roots",
                index,
            )

    # §7.9
    def _check_grounded_principal(self, index: int, entry: Entry) -> None:
        grants = self.options.grants
        if grants is None:
            return
        risk = entry.action.get("risk_level")
        if not isinstance(risk, str) or risk not in _HIGH_RISK:
            return  # a risk level that is not text is a schema violation, reported there
        grant_ref = get_path(entry.subject, "authorization", "grant_ref")
        principal = get_path(entry.subject, "principal", "id")
        if not isinstance(grant_ref, str) or not grant_ref:
            entry.add(
                Code.UNGROUNDED_PRINCIPAL, "high-risk action without authorization.grant_ref", index
            )
        elif grant_ref not in grants:
            entry.add(
                Code.UNGROUNDED_PRINCIPAL,
                f"grant_ref {grant_ref!r} is not in the grants file",
                index,
            )
        elif grants[grant_ref].subject != principal:
            subject = grants[grant_ref].subject
            entry.add(
                Code.PRINCIPAL_GRANT_MISMATCH,
                f"grant subject {subject!r} is not principal {principal!r}",
                index,
            )

    def _check_events_dropped(self, index: int, entry: Entry) -> None:
        if entry.action.get("type") != EVENTS_DROPPED_TYPE:
            return
        count = get_path(
            entry.document, "credentialSubject", "action", "emitter_metadata", "drop_count"
        )
        entry.add(
            Code.EVENTS_DROPPED,
            f"the emitter dropped {count} audit events before this receipt",
            index,
        )

    # §4.3.2 (over the run; what needs the whole chain is below the walk)
    def _check_response_hash(self, index: int, entry: Entry) -> None:
        expected = entry.outcome.get("response_hash")
        if not isinstance(expected, str) or entry.receipt_id is None:
            return
        bodies = self.options.bodies
        body = bodies.body_bytes(entry.receipt_id) if bodies else None
        if body is None:
            self.missing_bodies += 1
            return
        try:
            actual = json_text_hash(body)
        except MalformedReceiptError as exc:
            message = f"the supplied response body cannot be hashed unambiguously: {exc}"
            entry.add(Code.RESPONSE_BODY_UNVERIFIABLE, message, index)
            return
        if actual != expected:
            message = f"response body hashes to {actual}, receipt says {expected}"
            entry.add(Code.RESPONSE_HASH_MISMATCH, message, index)

    def _check_termination_claims(self) -> None:
        if not self.entries:
            return
        last_index = self.start.offset + len(self.entries) - 1
        last = self.entries[-1]
        terminal = last.chain.get("terminal") is True
        if self.options.require_terminal and not terminal:
            last.add(
                Code.TERMINAL_REQUIRED,
                "last receipt is not terminal and --require-terminal is set",
                last_index,
            )
        outcome = last.outcome.get("status")
        if not terminal and outcome == "pending":
            message = "last receipt is a pending tool call whose result never arrived"
            last.add(Code.INCOMPLETE_TOOL_ROUNDTRIP, message, last_index)

    def termination(self) -> Termination:
        last = self.entries[-1].document if self.entries else {}
        if get_path(last, "credentialSubject", "chain", "terminal") is not True:
            return Termination.UNKNOWN
        if get_path(last, "credentialSubject", "chain", "status") == "interrupted":
            return Termination.INTERRUPTED
        return Termination.COMPLETE


def _rotation_new_key(rotation: Any, active_key: bytes | None) -> bytes:
    """§7.3.7 sub-checks; returns the incoming key only when every one holds."""
    if not isinstance(rotation, dict):
        raise ValueError("keyRotation must be an object")
    if rotation.get("event_type") != "key_rotated":
        raise ValueError(f"event_type must be 'key_rotated', found {rotation.get('event_type')!r}")
    if rotation.get("signed_with") != "old":
        raise ValueError(f"signed_with must be 'old', found {rotation.get('signed_with')!r}")
    for side in ("old_algorithm", "new_algorithm"):
        if rotation.get(side) != "ed25519":
            raise ValueError(f"{side} must be 'ed25519', found {rotation.get(side)!r}")
    if active_key is None:
        raise ValueError("the outgoing key is unknown (the rotation receipt did not verify)")
    if rotation.get("old_key_fingerprint") != fingerprint(active_key):
        found = rotation.get("old_key_fingerprint")
        raise ValueError(
            f"old_key_fingerprint is {found!r}, outgoing key is {fingerprint(active_key)}"
        )
    encoded = rotation.get("new_public_key")
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise ValueError("new_public_key must be multibase 'u' base64url")
    try:
        new_key = decode_multibase_key(encoded)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"new_public_key: {exc}") from exc
    if rotation.get("new_key_fingerprint") != fingerprint(new_key):
        found = rotation.get("new_key_fingerprint")
        raise ValueError(
            f"new_key_fingerprint is {found!r}, new_public_key is {fingerprint(new_key)}"
        )
    return new_key


def _canonical_without_timestamp(document: dict[str, Any]) -> bytes:
    """The bytes a trusted timestamp imprints: the receipt minus proof and the token itself."""
    subject = dict(document.get("credentialSubject", {}))
    action = {k: v for k, v in subject.get("action", {}).items() if k != "trusted_timestamp"}
    subject["action"] = action
    unsigned = {k: v for k, v in document.items() if k != "proof"}
    unsigned["credentialSubject"] = subject
    return canonical_json(unsigned)


def _index_expectations(document: dict[str, Any], receipt_hash: str) -> Iterator[tuple[str, Any]]:
    """Store index columns and the signed values they must repeat."""
    subject = document.get("credentialSubject", {})
    yield "id", document.get("id")
    yield "chain_id", get_path(subject, "chain", "chain_id")
    yield "sequence", get_path(subject, "chain", "sequence")
    yield "previous_receipt_hash", get_path(subject, "chain", "previous_receipt_hash")
    yield "receipt_hash", receipt_hash
    yield "action_type", get_path(subject, "action", "type")
    yield "tool_name", get_path(subject, "action", "tool_name")
    yield "risk_level", get_path(subject, "action", "risk_level")
    yield "status", get_path(subject, "outcome", "status")
    yield "timestamp", get_path(subject, "action", "timestamp")
    yield "issuer_id", get_path(document, "issuer", "id")
    yield "principal_id", get_path(subject, "principal", "id")


# -- over the whole chain -----------------------------------------------------------------


def witness_problems(
    options: VerifyOptions, chain_id: str, length: int, head: str | None, last: ReceiptResult | None
) -> list[Problem]:
    """§7.3.1: the witness's length and final hash, reported on the chain's last receipt."""
    witness = options.witnesses.get(chain_id)
    if witness is None:
        return []
    where = (last.receipt_id, last.sequence, length - 1, last.origin) if last else (None,) * 4
    problems = []
    if witness.length is not None and witness.length != length:
        message = f"witness expects {witness.length} receipts, found {length}"
        problems.append(Problem(Code.LENGTH_MISMATCH, message, *where))
    if witness.final_hash is not None and witness.final_hash != head:
        message = f"witness expects final hash {witness.final_hash}, found {head}"
        problems.append(Problem(Code.FINAL_HASH_MISMATCH, message, *where))
    return problems


def chain_level_problems(missing_bodies: int, idempotency_keys: Counter[str]) -> list[Problem]:
    """Bodies not supplied (§4.3.2) and duplicate idempotency keys (§7.3.6): warnings."""
    problems: list[Problem] = []
    if missing_bodies:
        carry = "carries" if missing_bodies == 1 else "carry"
        message = (
            f"{count(missing_bodies, 'receipt')} {carry} response_hash; body not supplied, "
            "hash unchecked"
        )
        problems.append(Problem(Code.RESPONSE_BODY_NOT_SUPPLIED, message))
    for key, uses in sorted(idempotency_keys.items()):
        if uses > 1:
            message = (
                f"idempotency_key {key!r} appears on {uses:,} receipts (retries are legitimate)"
            )
            problems.append(Problem(Code.DUPLICATE_IDEMPOTENCY_KEY, message))
    return problems
