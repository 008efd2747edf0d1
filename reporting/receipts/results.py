"""Typed, frozen results of chain verification, with stable machine codes.

Tests and reports assert codes, never message text (DESIGN.md, principle 2). Every
problem names the receipt it concerns and says what was expected and what was found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "PLACEABLE_CODES",
    "POLICY_CODES",
    "SOURCE_AGENT_RECEIPTS",
    "ChainResult",
    "Code",
    "Origin",
    "Outcome",
    "Problem",
    "ReceiptResult",
    "Rotation",
    "Severity",
    "Termination",
    "VerificationResult",
    "VerifiedReceipt",
    "pickled_with_columns",
    "receipt_columns",
    "receipts_from_columns",
]


SOURCE_AGENT_RECEIPTS = "agent_receipts"


class Severity(StrEnum):
    FAILURE = "failure"
    WARNING = "warning"


class Code(StrEnum):
    """Machine codes. Failures break the chain; warnings are advisories."""

    # Failures
    MALFORMED_RECEIPT = "MALFORMED_RECEIPT"
    RECEIPT_TOO_LARGE = "RECEIPT_TOO_LARGE"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    UNKNOWN_ISSUER_KEY = "UNKNOWN_ISSUER_KEY"
    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    HASH_LINK_BROKEN = "HASH_LINK_BROKEN"
    GENESIS_NOT_NULL = "GENESIS_NOT_NULL"
    SEQUENCE_GAP = "SEQUENCE_GAP"
    SEQUENCE_DUPLICATE = "SEQUENCE_DUPLICATE"
    CHAIN_ID_MISMATCH = "CHAIN_ID_MISMATCH"
    ISSUER_MISMATCH = "ISSUER_MISMATCH"
    RECEIPT_AFTER_TERMINAL = "RECEIPT_AFTER_TERMINAL"
    TERMINAL_REQUIRED = "TERMINAL_REQUIRED"
    LENGTH_MISMATCH = "LENGTH_MISMATCH"
    FINAL_HASH_MISMATCH = "FINAL_HASH_MISMATCH"
    WITNESS_CHAIN_MISSING = "WITNESS_CHAIN_MISSING"
    ROTATION_INVALID = "ROTATION_INVALID"
    RESPONSE_HASH_MISMATCH = "RESPONSE_HASH_MISMATCH"
    RESPONSE_BODY_UNVERIFIABLE = "RESPONSE_BODY_UNVERIFIABLE"
    INVALID_TRUSTED_TIMESTAMP = "INVALID_TRUSTED_TIMESTAMP"
    DELEGATION_UNVERIFIABLE = "DELEGATION_UNVERIFIABLE"
    UNGROUNDED_PRINCIPAL = "UNGROUNDED_PRINCIPAL"
    PRINCIPAL_GRANT_MISMATCH = "PRINCIPAL_GRANT_MISMATCH"
    DUPLICATE_RECEIPT_ID = "DUPLICATE_RECEIPT_ID"
    INDEX_MISMATCH = "INDEX_MISMATCH"
    # Failures only Pipelock's signed egress records can have (reporting/pipelock/)
    RECORDER_ENTRY_HASH_MISMATCH = "RECORDER_ENTRY_HASH_MISMATCH"
    RECORDER_LINK_BROKEN = "RECORDER_LINK_BROKEN"
    CHECKPOINT_INVALID = "CHECKPOINT_INVALID"
    TRANSCRIPT_ROOT_MISMATCH = "TRANSCRIPT_ROOT_MISMATCH"
    SESSION_BINDING_INVALID = "SESSION_BINDING_INVALID"
    SESSION_COUNT_MISMATCH = "SESSION_COUNT_MISMATCH"
    SESSION_NOT_CLOSED = "SESSION_NOT_CLOSED"
    TIMESTAMP_NOT_NORMALISED = "TIMESTAMP_NOT_NORMALISED"
    KEY_PURPOSE_MISMATCH = "KEY_PURPOSE_MISMATCH"
    UNBOUND_EXT = "UNBOUND_EXT"
    # Warnings
    DUPLICATE_IDEMPOTENCY_KEY = "DUPLICATE_IDEMPOTENCY_KEY"
    INCOMPLETE_TOOL_ROUNDTRIP = "INCOMPLETE_TOOL_ROUNDTRIP"
    EVENTS_DROPPED = "EVENTS_DROPPED"
    RESPONSE_BODY_NOT_SUPPLIED = "RESPONSE_BODY_NOT_SUPPLIED"
    KNOWN_SCHEMA_DEVIATION = "KNOWN_SCHEMA_DEVIATION"
    RISK_BELOW_TAXONOMY_DEFAULT = "RISK_BELOW_TAXONOMY_DEFAULT"
    DUPLICATE_RECORD = "DUPLICATE_RECORD"
    TRUSTED_TIMESTAMP_UNANCHORED = "TRUSTED_TIMESTAMP_UNANCHORED"
    RECEIPT_REDACTED = "RECEIPT_REDACTED"
    UNKNOWN_ENTRY_TYPE = "UNKNOWN_ENTRY_TYPE"

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self in _WARNINGS else Severity.FAILURE

    @property
    def meaning(self) -> str:
        """What the code says, in a sentence (docs/verification.md is generated from it)."""
        return MEANINGS[self]


_WARNINGS = frozenset(
    {
        Code.DUPLICATE_IDEMPOTENCY_KEY,
        Code.INCOMPLETE_TOOL_ROUNDTRIP,
        Code.EVENTS_DROPPED,
        Code.RESPONSE_BODY_NOT_SUPPLIED,
        Code.KNOWN_SCHEMA_DEVIATION,
        Code.RISK_BELOW_TAXONOMY_DEFAULT,
        Code.DUPLICATE_RECORD,
        Code.TRUSTED_TIMESTAMP_UNANCHORED,
        Code.RECEIPT_REDACTED,
        Code.UNKNOWN_ENTRY_TYPE,
    }
)


MEANINGS: dict[Code, str] = {
    Code.MALFORMED_RECEIPT: "not one unambiguous JSON object (duplicate names, NaN, lone "
    "surrogates, invalid UTF-8, nesting beyond --max-depth, content after it, integer text "
    "that is not the ES6 form of its double)",
    Code.RECEIPT_TOO_LARGE: "over --max-receipt-bytes (1 MiB by default; nothing over 64 MiB is "
    "ever read)",
    Code.SCHEMA_VIOLATION: "fails the protocol schema for its version (fields a version "
    "predates included)",
    Code.UNKNOWN_ISSUER_KEY: "no trusted key for the issuer on this chain (or, for Pipelock, "
    "for this recorder session)",
    Code.INVALID_SIGNATURE: "the signature does not verify, or proofValue is not u + 86 "
    "base64url characters (64 bytes)",
    Code.HASH_LINK_BROKEN: "previous_receipt_hash is not the previous receipt's hash",
    Code.GENESIS_NOT_NULL: "the first receipt's previous_receipt_hash is not null",
    Code.SEQUENCE_GAP: "the sequence skips a number: a receipt is missing",
    Code.SEQUENCE_DUPLICATE: "two receipts claim one sequence number",
    Code.CHAIN_ID_MISMATCH: "a receipt from another chain",
    Code.ISSUER_MISMATCH: "a receipt from another issuer",
    Code.RECEIPT_AFTER_TERMINAL: "a receipt after the chain's terminal receipt",
    Code.TERMINAL_REQUIRED: "no terminal receipt, and --require-terminal asks for one",
    Code.LENGTH_MISMATCH: "the chain's length differs from its witness",
    Code.FINAL_HASH_MISMATCH: "the chain's last receipt hash differs from its witness",
    Code.WITNESS_CHAIN_MISSING: "a chain the witness names is not in the input at all",
    Code.ROTATION_INVALID: "a key rotation whose event type, algorithms or fingerprints do not "
    "hold, that the outgoing key did not sign, or (Pipelock) an endorsement that does not "
    "match its boundary",
    Code.RESPONSE_HASH_MISMATCH: "a supplied response body does not hash to response_hash",
    Code.RESPONSE_BODY_UNVERIFIABLE: "a supplied response body cannot be canonicalised (not "
    "JSON, duplicate names, an integer no double holds, too deep)",
    Code.INVALID_TRUSTED_TIMESTAMP: "an RFC 3161 token that does not verify, imprints other "
    "bytes, lacks the time-stamping usage, is more than 5 minutes from action.timestamp, or "
    "(with --tsa-root) comes from an untrusted TSA",
    Code.DELEGATION_UNVERIFIABLE: "the parent chain or receipt is missing or not authentic, "
    "the delegator is not its issuer, or the principal differs (§7.6)",
    Code.UNGROUNDED_PRINCIPAL: "with --grants: a high or critical action without a "
    "resolvable grant (§7.9)",
    Code.PRINCIPAL_GRANT_MISMATCH: "with --grants: a grant minted for another principal",
    Code.DUPLICATE_RECEIPT_ID: "one receipt id in two chains",
    Code.INDEX_MISMATCH: "a store index column that disagrees with the signed JSON",
    Code.RECORDER_ENTRY_HASH_MISMATCH: "Pipelock: a flight-recorder line whose hash is not "
    "the hash of its fields (an edited line)",
    Code.RECORDER_LINK_BROKEN: "Pipelock: a recorder entry whose prev_hash is not the "
    "previous entry's hash (a line dropped, moved or added)",
    Code.CHECKPOINT_INVALID: "Pipelock: a checkpoint whose signature does not verify under "
    "the recorder's key",
    Code.TRANSCRIPT_ROOT_MISMATCH: "Pipelock: a transcript root that disagrees with the "
    "receipts it summarises",
    Code.SESSION_BINDING_INVALID: "Pipelock: a session open, heartbeat or close (or the g1: "
    "genesis binding) that does not bind to its chain",
    Code.SESSION_COUNT_MISMATCH: "Pipelock: a session close whose counts disagree with the "
    "receipts",
    Code.SESSION_NOT_CLOSED: "Pipelock: the session's last run has no signed close (cut off "
    "at the end), unless a witness pins its tail",
    Code.TIMESTAMP_NOT_NORMALISED: "Pipelock: a timestamp not in its UTC RFC3339Nano form "
    "(Go and other verifiers would hash other bytes)",
    Code.KEY_PURPOSE_MISMATCH: "Pipelock: an EvidenceReceipt v2 signed for a key purpose that "
    "may not sign its kind",
    Code.UNBOUND_EXT: "Pipelock: unsigned ext on the last receipt, not covered by a signed "
    "checkpoint or a witness",
    Code.DUPLICATE_IDEMPOTENCY_KEY: "one idempotency key used twice (retries are legitimate)",
    Code.INCOMPLETE_TOOL_ROUNDTRIP: "the chain ends with a pending call",
    Code.EVENTS_DROPPED: "the emitter reported audit events it lost",
    Code.RESPONSE_BODY_NOT_SUPPLIED: "response_hash present, its body not supplied",
    Code.KNOWN_SCHEMA_DEVIATION: "the signing daemon's action.tool_name, or non-UUID ids "
    "before 0.3.0 (the protocol's own vectors carry them)",
    Code.RISK_BELOW_TAXONOMY_DEFAULT: "a risk level below the action type's taxonomy default",
    Code.DUPLICATE_RECORD: "an identical receipt seen twice (counted once)",
    Code.TRUSTED_TIMESTAMP_UNANCHORED: "a valid RFC 3161 token, no --tsa-root given to anchor it",
    Code.RECEIPT_REDACTED: "Pipelock: a receipt rewritten by the recorder's own DLP redaction "
    "(labelled, never forged, never evidence)",
    Code.UNKNOWN_ENTRY_TYPE: "Pipelock: a recorder entry of a type this verifier does not know",
}


# Failures of the grounded-principal tier (§7.9) judge authorization, not authenticity:
# the receipt is still what its issuer signed, so it stays usable as evidence (of the
# very failure, among others). Every other failure makes a receipt untrustworthy.
POLICY_CODES = frozenset({Code.UNGROUNDED_PRINCIPAL, Code.PRINCIPAL_GRANT_MISMATCH})

# Failures that leave a receipt's own bytes as a trusted key signed them: they concern its
# place in the chain (links, sequence, terminal, witness), an index column, a linked
# chain or body, or policy. A receipt failing only these still states an authentic time,
# so it may place its (broken) chain in or out of a reporting period. Any other code,
# including codes added later, means its content cannot be relied on: the allowlist fails
# safe, towards keeping a broken chain in scope.
PLACEABLE_CODES = POLICY_CODES | frozenset(
    {
        Code.HASH_LINK_BROKEN,
        Code.GENESIS_NOT_NULL,
        Code.SEQUENCE_GAP,
        Code.SEQUENCE_DUPLICATE,
        Code.RECEIPT_AFTER_TERMINAL,
        Code.TERMINAL_REQUIRED,
        Code.LENGTH_MISMATCH,
        Code.FINAL_HASH_MISMATCH,
        Code.INDEX_MISMATCH,
        Code.DELEGATION_UNVERIFIABLE,
        Code.RESPONSE_HASH_MISMATCH,
        Code.RESPONSE_BODY_UNVERIFIABLE,
        Code.INVALID_TRUSTED_TIMESTAMP,
    }
)


class Outcome(StrEnum):
    """Per-check outcome vocabulary (after pyHanko's and AdES' indications)."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


class Termination(StrEnum):
    """How a chain ended (§7.3.3). `unknown` is derived, never valid on the wire."""

    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    UNKNOWN = "unknown"


class Origin(NamedTuple):
    """Where a record came from: a file and line (or array index), or a store and rowid.

    A named tuple, like `ReceiptResult`: every receipt has one, and a tuple is built,
    sent between processes and read back cheaply (a frozen dataclass costs several
    microseconds a receipt to pickle and unpickle)."""

    source: str
    line: int | None = None
    rowid: int | None = None
    index: int | None = None  # type: ignore[assignment]  # the array index, not tuple.index

    def __str__(self) -> str:
        if self.rowid is not None:
            return f"{self.source}#rowid={self.rowid}"
        element = f" (element {self.index})" if self.index is not None else ""
        if self.line is not None:
            return f"{self.source}:{self.line}{element}"
        return self.source + element


@dataclass(frozen=True, slots=True)
class Problem:
    """A failure or warning, tied to a receipt where there is one."""

    code: Code
    message: str
    receipt_id: str | None = None
    sequence: int | None = None
    index: int | None = None
    origin: Origin | None = None

    @property
    def severity(self) -> Severity:
        return self.code.severity

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "receipt_id": self.receipt_id,
            "sequence": self.sequence,
            "index": self.index,
            "origin": str(self.origin) if self.origin else None,
        }


class ReceiptResult(NamedTuple):
    """Every receipt's own verdict, reported even when its chain broke elsewhere (a named
    tuple, immutable: amend one with `_replace`)."""

    receipt_id: str | None
    origin: Origin
    sequence: int | None
    receipt_hash: str | None
    outcome: Outcome
    failures: tuple[Code, ...] = ()
    warnings: tuple[Code, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "receipt_id": self.receipt_id,
            "origin": str(self.origin),
            "sequence": self.sequence,
            "receipt_hash": self.receipt_hash,
            "outcome": self.outcome.value,
            "failures": [c.value for c in self.failures],
            "warnings": [c.value for c in self.warnings],
        }


class VerifiedReceipt(NamedTuple):
    """A parsed receipt and its verdict, handed to later stages while its chain is in memory."""

    document: dict[str, Any]
    result: ReceiptResult


def receipt_columns(receipts: Sequence[ReceiptResult]) -> tuple[tuple[Any, ...], ...]:
    """Receipts' verdicts as columns (their origins as columns too): what is sent between
    processes, pickled in a third of the time the named tuples themselves take."""
    if not receipts:
        return ()
    columns = list(zip(*receipts, strict=True))
    columns[1] = tuple(zip(*columns[1], strict=True))
    return tuple(columns)


def receipts_from_columns(columns: tuple[tuple[Any, ...], ...]) -> tuple[ReceiptResult, ...]:
    """The verdicts `receipt_columns` took apart, built back (`_make`, no keywords)."""
    if not columns:
        return ()
    origins = map(Origin._make, zip(*columns[1], strict=True))
    return tuple(map(ReceiptResult._make, zip(columns[0], origins, *columns[2:], strict=True)))


def pickled_with_columns(result: Any) -> tuple[Any, ...]:
    """`__reduce__` for a result holding `receipts`: its fields, the receipts as columns."""
    state = {f.name: getattr(result, f.name) for f in fields(result)}
    state["receipts"] = receipt_columns(result.receipts)
    return (_unpickled_with_columns, (type(result), state))


def _unpickled_with_columns(kind: type[Any], state: dict[str, Any]) -> Any:
    state["receipts"] = receipts_from_columns(state["receipts"])
    return kind(**state)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A key rotation traversed inside a chain (§7.3.7)."""

    receipt_id: str | None
    sequence: int | None
    old_key_fingerprint: str
    new_key_fingerprint: str
    valid: bool

    def to_json(self) -> dict[str, object]:
        return {
            "receipt_id": self.receipt_id,
            "sequence": self.sequence,
            "old_key_fingerprint": self.old_key_fingerprint,
            "new_key_fingerprint": self.new_key_fingerprint,
            "valid": self.valid,
        }


@dataclass(frozen=True)
class ChainResult:
    """The verdict on one chain, with every receipt's status and every problem found."""

    chain_id: str
    issuer: str | None
    length: int
    first_timestamp: str | None
    last_timestamp: str | None
    head_hash: str | None
    genesis_key_fingerprint: str | None
    termination: Termination
    rotations: tuple[Rotation, ...] = ()
    failures: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    receipts: tuple[ReceiptResult, ...] = field(default=(), repr=False)
    broken_at: int | None = None
    # What kind of record the chain holds: "agent_receipts", or for Pipelock's signed
    # egress records "pipelock" (ActionReceipt v1) and "pipelock_evidence" (v2).
    source_kind: str = SOURCE_AGENT_RECEIPTS

    @property
    def valid(self) -> bool:
        return not self.failures

    @property
    def authentic(self) -> bool:
        """No failure other than a policy-tier one: its receipts are what was signed."""
        return all(p.code in POLICY_CODES for p in self.failures)

    @property
    def broken_at_sequence(self) -> int | None:
        """The sequence number of the receipt where the chain broke: `broken_at` is a
        position in the stored order, and a reader cites receipts by chain and sequence."""
        at = self.broken_at
        if at is None or not 0 <= at < len(self.receipts):
            return None
        return self.receipts[at].sequence

    def to_json(self, *, include_receipts: bool = True) -> dict[str, object]:
        data: dict[str, object] = {
            "chain_id": self.chain_id,
            "valid": self.valid,
            "authentic": self.authentic,
            "issuer": self.issuer,
            "length": self.length,
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "head_hash": self.head_hash,
            "genesis_key_fingerprint": self.genesis_key_fingerprint,
            "termination": self.termination.value,
            "broken_at": self.broken_at,
            "rotations": [r.to_json() for r in self.rotations],
            "failures": [p.to_json() for p in self.failures],
            "warnings": [p.to_json() for p in self.warnings],
        }
        if self.source_kind != SOURCE_AGENT_RECEIPTS:  # Agent Receipts output unchanged
            data["source_kind"] = self.source_kind
        if include_receipts:
            data["receipts"] = [r.to_json() for r in self.receipts]
        return data

    def __reduce__(self) -> tuple[Any, ...]:
        return pickled_with_columns(self)  # a worker's verdicts, sent back as columns


@dataclass(frozen=True)
class VerificationResult:
    """All chains found in the inputs, plus problems that belong to no chain."""

    chains: tuple[ChainResult, ...]
    input_problems: tuple[Problem, ...] = ()

    @property
    def valid(self) -> bool:
        no_input_failures = all(p.severity is Severity.WARNING for p in self.input_problems)
        return no_input_failures and all(c.valid for c in self.chains)

    @property
    def receipt_count(self) -> int:
        return sum(c.length for c in self.chains)
