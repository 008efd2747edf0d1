"""The ActionReceipt v1 chain walk: links, keys, sessions, rotations (PIPELOCK.md §2).

Receipts are walked in file order and every receipt is checked, so a report lists each
broken record rather than the first. The rules:

* sequence: the first receipt has `chain_seq` 0; each later one the previous + 1; a
  later 0 only at a rotation marker (a receipt with `key_transition`);
* links: the first `chain_prev_hash` is `genesis` or a `g1:` genesis binding; each
  later one is the previous receipt's hash (ext included);
* keys: the first receipt's `signer_key` must be trusted for the recorder session
  (else `UNKNOWN_ISSUER_KEY`: the rest is then only self-consistent); each key segment
  has one signer; a new segment's key is trusted only through a rotation endorsement
  signed by the old key for exactly this boundary, session and successor;
* sessions: the `g1:` binding of the opening receipt, restart opens bound to the
  previous receipt, heartbeats and closes bound to the previous hash and sequence,
  closes counting the receipts of their key segment, one open per run, nothing of a
  run after its close, and a final run without its signed close (`SESSION_NOT_CLOSED`:
  truncated at the end, or still running; a witness can pin the tail instead).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reporting.pipelock.action import ActionReceipt
from reporting.pipelock.rotation import Endorsement
from reporting.receipts.keys import PublicKey, fingerprint
from reporting.receipts.results import Code, Origin, Rotation

__all__ = ["ChainItem", "WalkContext", "WalkOutcome", "g1_genesis", "walk_chain"]

GENESIS = "genesis"
G1_PREFIX = "g1:"
_OPEN_FRAME = b"pipelock.receipt.session_open.v1"
_FRAMED_BEFORE = ("run_nonce", "open_nonce", "recorder_session", "policy_hash", "signer_key_epoch")
_FRAMED_AFTER = (
    "genesis_anchor_head",
    "genesis_anchor_log",
    "posture_capsule_sha256",
    "containment_nonce",
    "contained_uid",
)
_PAYLOAD_OF = {"session_open": "open", "heartbeat": "heartbeat", "session_close": "close"}


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    return value if isinstance(value, str) else ""


def _number(payload: Mapping[str, Any], name: str) -> int | None:
    """A numeric member as Go reads it: absent or null is 0."""
    value = payload.get(name)
    if value is None:
        return 0
    return value if type(value) is int else None


def g1_genesis(open_payload: Mapping[str, Any]) -> str:
    """`g1:` + SHA-256 over length-prefixed frames of the session-open fields."""
    beat = open_payload.get("heartbeat_seconds")
    seconds = beat if type(beat) is int and beat > 0 else 0
    frames = [
        _OPEN_FRAME,
        *(_text(open_payload, n).encode() for n in _FRAMED_BEFORE),
        struct.pack(">Q", min(seconds, 2**64 - 1)),
        *(_text(open_payload, n).encode() for n in _FRAMED_AFTER),
    ]
    digest = hashlib.sha256(b"".join(struct.pack(">Q", len(f)) + f for f in frames))
    return G1_PREFIX + digest.hexdigest()


@dataclass
class ChainItem:
    """A receipt in its chain, where it came from, and its verdict's inputs."""

    receipt: ActionReceipt
    origin: Origin


@dataclass(frozen=True)
class WalkContext:
    trusted: tuple[PublicKey, ...]  # keys trusted for this chain's recorder session
    endorsements: Mapping[tuple[str, int, str], Sequence[Endorsement]]
    standalone: bool = False  # one receipt on its own: no chain-start checks


@dataclass
class _Run:
    run_nonce: str
    open_nonce: str
    closed: bool = False


@dataclass
class WalkOutcome:
    rotations: list[Rotation] = field(default_factory=list)
    used_endorsements: list[Endorsement] = field(default_factory=list)
    verified_keys: list[bytes] = field(default_factory=list)  # genesis + endorsed successors
    active_keys: list[bytes] = field(default_factory=list)  # every segment's signer
    genesis_key: PublicKey | None = None
    recorder_sessions: list[str] = field(default_factory=list)  # signed, from opens
    has_open: bool = False
    unclosed: bool = False  # the last run has no signed close
    closed: bool = False


class _Walk:
    def __init__(self, items: Sequence[ChainItem], context: WalkContext) -> None:
        self.items = items
        self.context = context
        self.outcome = WalkOutcome()
        self.active: str | None = None  # signer hex of the current key segment
        self.segment_count = 0
        self.segment_opened = False  # the root segment holds an open (for rotations)
        self.root_has_open = False
        self.runs: dict[str, _Run] = {}
        self.run: _Run | None = None
        self.expected_seq: int | None = 0
        self.endorsed_sessions: list[tuple[int, Endorsement]] = []
        self.rotation_keys: list[tuple[bytes, bytes]] = []  # (old, new), one per rotation

    def add(self, index: int, code: Code, message: str) -> None:
        self.items[index].receipt.problems.append((code, message))

    def previous(self, index: int) -> ActionReceipt | None:
        return self.items[index - 1].receipt if index > 0 else None

    # -- per receipt ----------------------------------------------------------------
    def run_walk(self) -> WalkOutcome:
        for index, item in enumerate(self.items):
            receipt = item.receipt
            self.segment_count += 1
            if receipt.fully_redacted:  # content unknown: it still takes one sequence
                self.expected_seq = None if self.expected_seq is None else self.expected_seq + 1
                continue
            boundary = self._check_sequence(index, receipt)
            self._check_link(index, receipt)
            self._check_key(index, receipt, boundary)
            # a malformed record's session fields mean nothing, and one receipt on its
            # own has no run to belong to
            if receipt.well_typed and not self.context.standalone:
                self._check_session(index, receipt)
        self._finish()
        return self.outcome

    def _check_sequence(self, index: int, receipt: ActionReceipt) -> bool:
        """Sequence rules; True when the receipt starts a new key segment."""
        seq, transition = receipt.seq, receipt.section("key_transition")
        if index == 0:
            if transition is not None:
                self.add(index, Code.ROTATION_INVALID, "the first receipt has a key_transition")
            if seq not in (0, None) and not self.context.standalone:
                self.add(index, Code.SEQUENCE_GAP, f"chain starts at chain_seq {seq}, not 0")
            self.expected_seq = None if seq is None else seq + 1
            return False
        boundary = seq == 0 and transition is not None
        if seq == 0 and transition is None:
            message = "chain_seq restarts at 0 without a key_transition"
            self.add(index, Code.ROTATION_INVALID, message)
        elif seq is not None and seq != 0 and transition is not None:
            self.add(index, Code.ROTATION_INVALID, f"key_transition at chain_seq {seq}, not 0")
        elif seq is not None and not boundary and self.expected_seq is not None:
            if seq == self.expected_seq - 1:
                self.add(index, Code.SEQUENCE_DUPLICATE, f"chain_seq {seq} occurs twice")
            elif seq != self.expected_seq:
                message = f"chain_seq {seq} where {self.expected_seq} was expected"
                self.add(index, Code.SEQUENCE_GAP, message)
        self.expected_seq = None if seq is None else seq + 1
        return boundary

    def _check_link(self, index: int, receipt: ActionReceipt) -> None:
        prev = receipt.prev
        if index == 0:
            if self.context.standalone:
                return
            if prev != GENESIS and not (prev or "").startswith(G1_PREFIX):
                message = f"the first chain_prev_hash must be 'genesis' or 'g1:…', found {prev!r}"
                self.add(index, Code.GENESIS_NOT_NULL, message)
            return
        before = self.previous(index)
        assert before is not None
        if before.redacted:
            return  # unverifiable; the redacted receipt carries RECEIPT_REDACTED
        if before.receipt_hash is None:
            message = "the previous receipt could not be read; link unverifiable"
            self.add(index, Code.HASH_LINK_BROKEN, message)
        elif prev != before.receipt_hash:
            message = (
                f"chain_prev_hash {prev!r}; the previous receipt hashes to {before.receipt_hash}"
            )
            self.add(index, Code.HASH_LINK_BROKEN, message)

    # -- keys and rotations ---------------------------------------------------------
    def _check_key(self, index: int, receipt: ActionReceipt, boundary: bool) -> None:
        signer = receipt.signer_hex
        if signer is None:
            return
        if index == 0:
            self._genesis_key(index, signer)
        elif boundary:
            self._rotation(index, receipt)
        elif signer != self.active:
            message = (
                f"signed by {signer[:16]}…, the key segment's signer is {(self.active or '')[:16]}…"
            )
            self.add(index, Code.INVALID_SIGNATURE, message)
        if receipt.canonical is not None and not receipt.self_signed:
            self.add(index, Code.INVALID_SIGNATURE, "signature does not verify under signer_key")

    def _genesis_key(self, index: int, signer: str) -> None:
        raw = bytes.fromhex(signer)
        self.active = signer
        self.outcome.active_keys.append(raw)
        trusted = next((k for k in self.context.trusted if k.raw == raw), None)
        if trusted is not None:
            self.outcome.genesis_key = trusted
            self.outcome.verified_keys.append(raw)
            return
        if not self.context.trusted:
            message = (
                "no Pipelock key is trusted for this recorder session; self-consistent at most"
            )
        else:
            known = ", ".join(k.fingerprint for k in self.context.trusted)
            message = f"signer_key {fingerprint(raw)} is not a trusted key ({known})"
        self.add(index, Code.UNKNOWN_ISSUER_KEY, message)

    def _rotation(self, index: int, receipt: ActionReceipt) -> None:
        before = self.previous(index)
        assert before is not None
        assert receipt.signer_hex is not None
        old, new = self.active or "", receipt.signer_hex
        problems = _transition_problems(receipt, before, old)
        matches = self.context.endorsements.get((old, before.seq or 0, receipt.prev or ""), ())
        distinct = {(e.new_signer_key, e.rotated_at, e.session_id) for e in matches}
        if not matches:
            problems.append("no rotation endorsement by the old key matches this boundary")
        elif len(distinct) > 1:
            problems.append(f"{len(distinct)} different endorsements claim this boundary")
        else:
            endorsement = matches[0]
            self.outcome.used_endorsements.extend(matches)
            self.endorsed_sessions.append((index, endorsement))
            if endorsement.new_signer_key != new:
                problems.append(
                    f"the endorsement names successor {endorsement.new_signer_key[:16]}…"
                )
        for message in problems:
            self.add(index, Code.ROTATION_INVALID, message)
        old_raw, new_raw = bytes.fromhex(old) if old else b"", bytes.fromhex(new)
        self.rotation_keys.append((old_raw, new_raw))
        self.outcome.rotations.append(
            Rotation(
                receipt.action_id,
                receipt.seq,
                fingerprint(old_raw),
                fingerprint(new_raw),
                not problems,
            )
        )
        self.outcome.active_keys.append(new_raw)
        self.active = new
        self.segment_count = 1

    # -- sessions -------------------------------------------------------------------
    def _check_session(self, index: int, receipt: ActionReceipt) -> None:
        control = receipt.section("session_control")
        run_nonce = receipt.text("run_nonce") or ""
        if control is None:
            self._ordinary(index, run_nonce)
            return
        kind = control.get("kind")
        member = _PAYLOAD_OF.get(kind) if isinstance(kind, str) else None
        present = [name for name in _PAYLOAD_OF.values() if control.get(name) is not None]
        if member is None or present != [member]:
            message = f"session_control kind {kind!r} with payload {present}"
            self.add(index, Code.SESSION_BINDING_INVALID, message)
            return
        payload = control[member]
        if not run_nonce or _text(payload, "run_nonce") != run_nonce:
            message = "session control needs run_nonce, equal in the record and its payload"
            self.add(index, Code.SESSION_BINDING_INVALID, message)
        if member == "open":
            self._open(index, receipt, payload)
        elif self._in_active_run(index, payload, member):
            if member == "heartbeat":
                self._heartbeat(index, receipt, payload)
            else:
                self._close(index, receipt, payload)

    def _ordinary(self, index: int, run_nonce: str) -> None:
        run = self.run
        if run is not None and run.closed:
            message = f"receipt after the close of run {run.run_nonce}; only an open may follow"
            self.add(index, Code.RECEIPT_AFTER_TERMINAL, message)
        elif run is not None and run_nonce != run.run_nonce:
            message = f"run_nonce {run_nonce!r} inside run {run.run_nonce!r}"
            self.add(index, Code.SESSION_BINDING_INVALID, message)
        elif run is None and run_nonce:
            message = f"receipt of run {run_nonce!r} before that run's open"
            self.add(index, Code.SESSION_BINDING_INVALID, message)

    def _open(self, index: int, receipt: ActionReceipt, payload: Mapping[str, Any]) -> None:
        run_nonce = _text(payload, "run_nonce")
        if run_nonce in self.runs:
            self.add(index, Code.SESSION_BINDING_INVALID, f"a second open for run {run_nonce!r}")
        self.outcome.has_open = True
        if not self.outcome.rotations:
            self.root_has_open = True
        self.outcome.recorder_sessions.append(_text(payload, "recorder_session"))
        for message in self._open_binding(index, receipt, payload):
            self.add(index, Code.SESSION_BINDING_INVALID, message)
        self.run = self.runs[run_nonce] = _Run(run_nonce, _text(payload, "open_nonce"))

    def _open_binding(
        self, index: int, receipt: ActionReceipt, payload: Mapping[str, Any]
    ) -> list[str]:
        problems = []
        prior_head, prior_seq = payload.get("prior_chain_head"), _number(payload, "prior_chain_seq")
        if index == 0:
            genesis = g1_genesis(payload)
            if receipt.prev == GENESIS:
                problems.append("a session open must bind a g1: genesis, not 'genesis'")
            elif receipt.prev != genesis or payload.get("genesis_hash") != genesis:
                problems.append(f"g1 binding broken: the open's fields give {genesis}")
            if _number(payload, "chain_open_seq") != 0:
                problems.append("the opening receipt's chain_open_seq must be 0")
            if prior_head or prior_seq:
                problems.append("the opening receipt has prior_chain_head/prior_chain_seq")
            return problems
        before = self.previous(index)
        assert before is not None
        if payload.get("genesis_hash"):
            problems.append("a restart open carries genesis_hash")
        if _number(payload, "chain_open_seq") != receipt.seq:
            problems.append(f"chain_open_seq {_number(payload, 'chain_open_seq')} is not chain_seq")
        if not before.redacted and prior_head != before.receipt_hash:
            problems.append("prior_chain_head is not the previous receipt's hash")
        if prior_seq != before.seq and not before.fully_redacted:
            problems.append(f"prior_chain_seq {prior_seq} is not the previous chain_seq")
        return problems

    def _in_active_run(self, index: int, payload: Mapping[str, Any], member: str) -> bool:
        run = self.run
        if run is None:
            self.add(index, Code.SESSION_BINDING_INVALID, f"{member} without a session open")
            return False
        if run.closed:
            self.add(index, Code.RECEIPT_AFTER_TERMINAL, f"{member} after the run's close")
            return False
        nonces = (_text(payload, "run_nonce"), _text(payload, "open_nonce"))
        if nonces != (run.run_nonce, run.open_nonce):
            message = (
                f"{member} nonces {nonces} do not match the open {(run.run_nonce, run.open_nonce)}"
            )
            self.add(index, Code.SESSION_BINDING_INVALID, message)
        return True

    def _bound_to_previous(self, index: int, payload: Mapping[str, Any], member: str) -> None:
        """A heartbeat's chain_head, a close's root_hash: the previous receipt's hash."""
        before = self.previous(index)
        if (
            before is not None
            and not before.redacted
            and payload.get(member) != before.receipt_hash
        ):
            self.add(index, Code.SESSION_BINDING_INVALID, f"{member} is not the previous hash")

    def _heartbeat(self, index: int, receipt: ActionReceipt, payload: Mapping[str, Any]) -> None:
        self._bound_to_previous(index, payload, "chain_head")
        if receipt.seq is not None and _number(payload, "chain_seq_head") != receipt.seq - 1:
            head = _number(payload, "chain_seq_head")
            message = f"heartbeat chain_seq_head {head} is not chain_seq - 1"
            self.add(index, Code.SESSION_BINDING_INVALID, message)

    def _close(self, index: int, receipt: ActionReceipt, payload: Mapping[str, Any]) -> None:
        assert self.run is not None
        self._bound_to_previous(index, payload, "root_hash")
        if _number(payload, "final_seq") != receipt.seq:
            final = _number(payload, "final_seq")
            message = f"close final_seq {final} is not chain_seq {receipt.seq}"
            self.add(index, Code.SESSION_COUNT_MISMATCH, message)
        if _number(payload, "receipt_count") != self.segment_count:
            message = (
                f"close counts {_number(payload, 'receipt_count')} receipts; the key segment has "
                f"{self.segment_count}"
            )
            self.add(index, Code.SESSION_COUNT_MISMATCH, message)
        self.run.closed = True

    # -- after the last receipt -----------------------------------------------------
    def _finish(self) -> None:
        outcome = self.outcome
        outcome.closed = self.run is not None and self.run.closed
        outcome.unclosed = self.run is not None and not self.run.closed
        sessions = set(outcome.recorder_sessions)
        if len(sessions) > 1:
            first_open = next(
                i
                for i, it in enumerate(self.items)
                if it.receipt.section("session_control", "open")
            )
            message = f"session opens name several recorder sessions: {sorted(sessions)}"
            self.add(first_open, Code.SESSION_BINDING_INVALID, message)
        if outcome.rotations and not self.root_has_open:
            index = next(
                i for i, it in enumerate(self.items) if it.receipt.section("key_transition")
            )
            self.add(index, Code.ROTATION_INVALID, "the root key segment has no session open")
        for index, endorsement in self.endorsed_sessions:
            wrong = sorted(s for s in sessions if s != endorsement.session_id)
            if wrong:
                message = (
                    f"signed recorder session {wrong[0]!r} does not match endorsement session "
                    f"{endorsement.session_id!r}"
                )
                self.add(index, Code.ROTATION_INVALID, message)
                self._invalidate_rotation(index)
        # A successor is trusted only through a valid rotation from a trusted key.
        for rotation, (old, new) in zip(outcome.rotations, self.rotation_keys, strict=True):
            if rotation.valid and old in outcome.verified_keys:
                outcome.verified_keys.append(new)

    def _invalidate_rotation(self, index: int) -> None:
        action_id = self.items[index].receipt.action_id
        for number, rotation in enumerate(self.outcome.rotations):
            if rotation.receipt_id == action_id and rotation.valid:
                self.outcome.rotations[number] = Rotation(
                    rotation.receipt_id,
                    rotation.sequence,
                    rotation.old_key_fingerprint,
                    rotation.new_key_fingerprint,
                    False,
                )


def _transition_problems(receipt: ActionReceipt, before: ActionReceipt, old: str) -> list[str]:
    """The marker's key_transition against the old segment's key, final seq and tail."""
    transition = receipt.section("key_transition") or {}
    problems = []
    if transition.get("prior_signer_key") != old:
        problems.append("key_transition.prior_signer_key is not the old segment's key")
    if not before.fully_redacted and _number(transition, "prior_chain_seq") != before.seq:
        problems.append("key_transition.prior_chain_seq is not the old segment's final chain_seq")
    if transition.get("prior_chain_hash") != receipt.prev:
        problems.append("key_transition.prior_chain_hash is not chain_prev_hash")
    return problems


def walk_chain(items: Sequence[ChainItem], context: WalkContext) -> WalkOutcome:
    """Check every receipt of one chain in order; problems are added to the receipts."""
    return _Walk(items, context).run_walk()
