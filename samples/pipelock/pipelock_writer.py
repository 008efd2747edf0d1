"""Write signed Pipelock flight-recorder files the way Pipelock does (samples and tests).

Signed bytes come from the reference verifier `pipelock-verify` (its Go-order
canonicaliser for ActionReceipt v1 and its JCS for EvidenceReceipt v2, a dev
dependency), never from `reporting.pipelock`: what our verifier judges is then made by
an independent implementation, like the receipt samples made with `obsigna`. Keys are
PyNaCl Ed25519 keys from fixed seed phrases (sample keys, not secrets). The recorder's
entry hash is computed here too, from PIPELOCK.md §3.

* `Recorder`: the flight recorder, its entries and their hash chain (entry v2).
* `Emitter`: Pipelock's receipt emitter over a recorder: chain_seq and links, runs with
  their signed open (`g1:` at genesis, restart opens after), heartbeats and close,
  transcript roots, key rotations with their endorsement, and v2 receipts.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nacl.signing
from pipelock_verify._canonical import canonicalize_action_record, canonicalize_receipt
from pipelock_verify._jcs import canonicalize as jcs
from pipelock_verify._verify import _compute_session_open_genesis as g1_genesis

__all__ = ["Emitter", "Recorder", "SampleKey", "go_json", "iso", "uuid7"]

_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
ENDORSEMENT_DOMAIN = b"pipelock-rotation-endorsement-v1\x00"


def go_json(value: Any) -> str:
    """Compact JSON as Go's json.Marshal writes it (HTML-safe), members in dict order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_HTML)


def iso(moment: datetime) -> str:
    """UTC RFC3339Nano with trailing zeros trimmed, as Go renders time.Time."""
    moment = moment.astimezone(UTC)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def uuid7(moment: datetime, rng: random.Random) -> str:
    """A UUIDv7 (time-ordered, as Pipelock's action ids) from a seeded generator."""
    value = (int(moment.timestamp() * 1000) << 80) | (0x7 << 76) | rng.getrandbits(12) << 64
    value |= (0b10 << 62) | rng.getrandbits(62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class SampleKey:
    """An Ed25519 key from a seed phrase (seed = SHA-256 of the phrase)."""

    def __init__(self, phrase: str) -> None:
        self.signing = nacl.signing.SigningKey(hashlib.sha256(phrase.encode()).digest())
        self.hex = bytes(self.signing.verify_key).hex()

    def sign(self, message: bytes) -> bytes:
        return self.signing.sign(message).signature


def sign_action(record: dict[str, Any], key: SampleKey) -> dict[str, Any]:
    digest = hashlib.sha256(canonicalize_action_record(record)).digest()
    signature = "ed25519:" + key.sign(digest).hex()
    return {"version": 1, "action_record": record, "signature": signature, "signer_key": key.hex}


def action_hash(envelope: dict[str, Any]) -> str:
    return hashlib.sha256(canonicalize_receipt(envelope)).hexdigest()


def sign_evidence(
    document: dict[str, Any], key: SampleKey, key_id: str, purpose: str
) -> dict[str, Any]:
    zeroed = dict.fromkeys(("signer_key_id", "key_purpose", "algorithm", "signature"), "")
    preimage = jcs({**document, "signature": zeroed})
    signature = {
        "signer_key_id": key_id,
        "key_purpose": purpose,
        "algorithm": "ed25519",
        "signature": "ed25519:" + key.sign(preimage).hex(),
    }
    return {**document, "signature": signature}


def evidence_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(jcs(document)).hexdigest()


def endorse(
    session_id: str, old: SampleKey, final_seq: int, tail_hash: str, new_key: str, rotated_at: str
) -> dict[str, Any]:
    """A rotation endorsement: the old key's signature over its successor."""
    body = {
        "version": 1,
        "session_id": session_id,
        "prior_signer_key": old.hex,
        "prior_final_seq": final_seq,
        "prior_tail_hash": tail_hash,
        "new_signer_key": new_key,
        "rotated_at": rotated_at,
    }
    digest = hashlib.sha256(ENDORSEMENT_DOMAIN + go_json(body).encode()).digest()
    return {**body, "endorsement": "ed25519:" + old.sign(digest).hex()}


@dataclass
class Recorder:
    """A flight recorder writing v2 entries (with `event_kind`) to one hash chain."""

    session_id: str = "proxy"
    lines: list[str] = field(default_factory=list)
    seq: int = 0
    prev_hash: str = "genesis"
    since_checkpoint: int = 0
    first_in_span: int = 0

    def record(
        self,
        entry_type: str,
        ts: str,
        detail: str,
        *,
        transport: str = "",
        summary: str = "",
        event_kind: str = "",
    ) -> str:
        """Append an entry whose detail is the JSON text `detail`; returns its hash."""
        fields = [
            "2", str(self.seq), ts, self.session_id, "", entry_type, event_kind,
            transport, summary, detail, "", self.prev_hash,
        ]  # fmt: skip
        digest = hashlib.sha256("\x00".join(fields).encode()).hexdigest()
        members = [
            f'"v":2,"seq":{self.seq},"ts":{go_json(ts)},"session_id":{go_json(self.session_id)}',
            f'"type":{go_json(entry_type)},"event_kind":{go_json(event_kind)}',
            f'"transport":{go_json(transport)},"summary":{go_json(summary)},"detail":{detail}',
            f'"prev_hash":{go_json(self.prev_hash)},"hash":{go_json(digest)}',
        ]
        self.lines.append("{" + ",".join(members) + "}")
        self.prev_hash, self.seq = digest, self.seq + 1
        if entry_type != "checkpoint":
            self.since_checkpoint += 1
        return digest

    def checkpoint(self, ts: str, key: SampleKey | None) -> None:
        """A checkpoint over the entries since the last one, signed over prev_hash."""
        signature = key.sign(self.prev_hash.encode()).hex() if key else ""
        detail = {
            "entry_count": self.since_checkpoint,
            "first_seq": self.first_in_span,
            "last_seq": self.seq - 1,
            "signature": signature,
        }
        summary = (
            f"checkpoint: {self.since_checkpoint} entries [seq {self.first_in_span}-{self.seq - 1}]"
        )
        self.record("checkpoint", ts, go_json(detail), summary=summary, event_kind="checkpoint")
        self.since_checkpoint, self.first_in_span = 0, self.seq

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


@dataclass
class _Run:
    run_nonce: str
    open_nonce: str


class Emitter:
    """Pipelock's receipt emitter: signs receipts and records them, keeping the chain."""

    def __init__(
        self,
        recorder: Recorder,
        key: SampleKey,
        rng: random.Random,
        *,
        principal: str = "local",
        actor: str = "pipelock",
        policy_hash: str = "",
    ) -> None:
        self.recorder, self.key, self.rng = recorder, key, rng
        self.principal, self.actor = principal, actor
        self.policy_hash = policy_hash or hashlib.sha256(b"pipelock.yaml").hexdigest()
        self.seq, self.prev = 0, "genesis"
        self.segment_count = 0
        self.segment_start: str | None = None
        self.last_time: str | None = None
        self.run: _Run | None = None
        self.beat = 0
        self.v2_seq, self.v2_prev = 0, "genesis"
        self.endorsements: list[dict[str, Any]] = []

    # -- receipts ---------------------------------------------------------------------
    def _base(self, moment: datetime, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "version": 1,
            "action_id": uuid7(moment, self.rng),
            "action_type": "unclassified",
            "timestamp": iso(moment),
            "principal": self.principal,
            "actor": self.actor,
            "delegation_chain": None,
            "target": "",
            "side_effect_class": "none",
            "reversibility": "unknown",
            "policy_hash": self.policy_hash,
            "verdict": "allow",
            "transport": "",
        }
        record.update(fields)
        record.update({"chain_prev_hash": self.prev, "chain_seq": self.seq})
        if self.run is not None:
            record["run_nonce"] = self.run.run_nonce
        return record

    def _write(
        self, record: dict[str, Any], moment: datetime, key: SampleKey | None = None
    ) -> dict[str, Any]:
        envelope = sign_action(record, key or self.key)
        summary = f"receipt: {record['verdict']} {record['action_type']} {record['transport']}"
        written = iso(moment.replace(microsecond=min(moment.microsecond + 350, 999999)))
        self.recorder.record(
            "action_receipt",
            written,
            canonicalize_receipt(envelope).decode(),
            transport=record["transport"],
            summary=summary,
            event_kind=record["action_type"],
        )
        if self.seq == 0:
            self.segment_start = record["timestamp"]
        self.prev, self.seq = action_hash(envelope), self.seq + 1
        self.segment_count += 1
        self.last_time = record["timestamp"]
        return envelope

    def emit(self, moment: datetime, **fields: Any) -> dict[str, Any]:
        """One decision receipt (`target`, `verdict`, `transport`, ... as keyword fields)."""
        return self._write(self._base(moment, **fields), moment)

    def _control(
        self, moment: datetime, kind: str, member: str, payload: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        target = (
            "pipelock://session/"
            + {"open": "open", "heartbeat": "heartbeat", "close": "close"}[member]
        )
        return self._base(
            moment,
            target=target,
            transport="receipt_session",
            session_control={"kind": kind, member: payload},
            **extra,
        )

    def open(self, moment: datetime, *, heartbeat_seconds: int = 60) -> dict[str, Any]:
        """A run's signed open: `g1:` genesis at seq 0, else a restart open."""
        self.run = _Run(self.rng.randbytes(16).hex(), self.rng.randbytes(16).hex())
        self.beat = 0
        payload: dict[str, Any] = {
            "run_nonce": self.run.run_nonce,
            "open_nonce": self.run.open_nonce,
            "recorder_session": self.recorder.session_id,
            "policy_hash": self.policy_hash,
            "signer_key_epoch": self.key.hex,
            "heartbeat_seconds": heartbeat_seconds,
            "chain_open_seq": self.seq,
        }
        if self.seq == 0 and self.prev == "genesis":
            self.prev = payload["genesis_hash"] = g1_genesis(payload)
        else:
            payload["prior_chain_head"], payload["prior_chain_seq"] = self.prev, self.seq - 1
        return self._write(self._control(moment, "session_open", "open", payload), moment)

    def heartbeat(self, moment: datetime) -> dict[str, Any]:
        assert self.run is not None
        self.beat += 1
        payload = {
            "run_nonce": self.run.run_nonce,
            "open_nonce": self.run.open_nonce,
            "beat": self.beat,
            "chain_head": self.prev,
            "chain_seq_head": self.seq - 1,
            "heartbeat_time": iso(moment),
            "fsync_errors_gated": 0,
            "durability_blocks": 0,
        }
        return self._write(self._control(moment, "heartbeat", "heartbeat", payload), moment)

    def close(
        self, moment: datetime, reason: str = "graceful_shutdown", **wrong: Any
    ) -> dict[str, Any]:
        """The run's signed close (`wrong` overrides payload members, for tests)."""
        assert self.run is not None
        payload = {
            "run_nonce": self.run.run_nonce,
            "open_nonce": self.run.open_nonce,
            "final_seq": self.seq,
            "root_hash": self.prev,
            "receipt_count": self.segment_count + 1,
            "close_reason": reason,
            "fsync_errors_gated": 0,
            "durability_blocks": 0,
        } | wrong
        return self._write(self._control(moment, "session_close", "close", payload), moment)

    def transcript_root(self, moment: datetime) -> None:
        root = {
            "session_id": self.recorder.session_id,
            "final_seq": self.seq - 1,
            "root_hash": self.prev,
            "receipt_count": self.seq,
            "start_time": self.segment_start,
            "end_time": self.last_time,
        }
        summary = f"transcript_root: {self.seq} receipts, root={self.prev[:16]}"
        self.recorder.record(
            "transcript_root",
            iso(moment),
            go_json(root),
            summary=summary,
            event_kind="transcript_root",
        )

    def rotate(self, moment: datetime, new_key: SampleKey, *, log: bool = True) -> dict[str, Any]:
        """A new key segment: an endorsement by the old key (in the log as a
        rotation_endorsement entry unless `log` is False), then the new key's signed
        marker (a seq-0 open with key_transition), as in PIPELOCK.md §2."""
        old, final_seq, tail = self.key, self.seq - 1, self.prev
        session = self.recorder.session_id
        endorsement = endorse(session, old, final_seq, tail, new_key.hex, iso(moment))
        self.endorsements.append(endorsement)
        if log:
            summary = f"rotation_endorsement: {old.hex[:16]} -> {new_key.hex[:16]}"
            self.recorder.record(
                "rotation_endorsement", iso(moment), go_json(endorsement),
                summary=summary, event_kind="rotation_endorsement",
            )  # fmt: skip
        self.key, self.seq, self.segment_count = new_key, 0, 0
        self.run = _Run(self.rng.randbytes(16).hex(), self.rng.randbytes(16).hex())
        payload = {
            "run_nonce": self.run.run_nonce,
            "open_nonce": self.run.open_nonce,
            "recorder_session": self.recorder.session_id,
            "policy_hash": self.policy_hash,
            "signer_key_epoch": new_key.hex,
            "heartbeat_seconds": 60,
            "chain_open_seq": 0,
            "prior_chain_head": tail,
            "prior_chain_seq": final_seq,
        }
        transition = {
            "prior_signer_key": old.hex,
            "prior_chain_seq": final_seq,
            "prior_chain_hash": tail,
        }
        record = self._control(moment, "session_open", "open", payload, key_transition=transition)
        return self._write(record, moment)

    def evidence(
        self, moment: datetime, payload: dict[str, Any], *, kind: str = "proxy_decision"
    ) -> dict[str, Any]:
        """An EvidenceReceipt v2 on its own chain, recorded as an evidence_receipt entry."""
        document = {
            "record_type": "evidence_receipt_v2",
            "receipt_version": 2,
            "payload_kind": kind,
            "event_id": uuid7(moment, self.rng),
            "timestamp": iso(moment),
            "principal": self.principal,
            "actor": self.actor,
            "chain_seq": self.v2_seq,
            "chain_prev_hash": self.v2_prev,
            "payload": payload,
        }
        purpose = "contract-activation-signing" if kind == "key_rotation" else "receipt-signing"
        signed = sign_evidence(document, self.key, self.key.hex, purpose)
        self.v2_seq, self.v2_prev = self.v2_seq + 1, evidence_hash(signed)
        summary = f"{kind}: {payload.get('action_type', '')} {payload.get('verdict', '')}".strip()
        self.recorder.record(
            "evidence_receipt", iso(moment), go_json(signed),
            transport=str(payload.get("transport", "")), summary=summary, event_kind=kind,
        )  # fmt: skip
        return signed
