"""Per-action evidence: one flat record per ActionReceipt v1, for the cross-channel timeline.

Every value comes from the signed action record, never from the recorder's unsigned
wrapper (its `ts`, `summary`, `transport`). `trusted` is True only when the receipt's own
verdict passed and its whole chain verified (authentic under a trusted key): anything
else is a finding, never positive evidence. A redacted receipt is never trusted (its
content cannot be checked) and says so in `redacted`, `redacted_fields`.

`channel` is derived from the signed transport: `http` (fetch, forward, connect,
intercept, reverse, http, https), `websocket`, `mcp` (mcp_stdio, mcp_http,
mcp_http_listener, mcp_ws), `control` (receipt_session: the recorder's own session
records), else `other`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from reporting.pipelock.results import SOURCE_PIPELOCK, PipelockVerification, VerifiedAction
from reporting.receipts.results import Outcome

__all__ = ["CHANNELS", "ActionEvidence", "action_evidence", "channel_of"]

CHANNELS = {
    **dict.fromkeys(
        ("fetch", "forward", "connect", "intercept", "reverse", "http", "https"), "http"
    ),
    "websocket": "websocket",
    **dict.fromkeys(("mcp_stdio", "mcp_http", "mcp_http_listener", "mcp_ws"), "mcp"),
    "receipt_session": "control",
}


def channel_of(transport: str | None) -> str:
    return CHANNELS.get(transport or "", "other")


@dataclass(frozen=True, slots=True)
class ActionEvidence:
    """What the evidence frame needs from one Pipelock decision."""

    source_kind: str
    recorder: str | None
    signer_fingerprint: str | None
    chain_id: str
    recorder_session: str | None
    chain_seq: int | None
    receipt_hash: str | None
    action_id: str | None
    parent_action_id: str | None
    request_id: str | None
    timestamp: str | None
    actor: str | None
    principal: str | None
    session_id: str | None
    session_id_original: str | None
    transport: str | None
    channel: str
    method: str | None
    target: str | None
    verdict: str | None
    action_type: str | None
    side_effect_class: str | None
    reversibility: str | None
    intent: str | None
    policy_hash: str | None
    data_classes_in: tuple[str, ...]
    data_classes_out: tuple[str, ...]
    layer: str | None
    pattern: str | None
    severity: str | None
    payload_redactions: int  # redactions Pipelock applied to the request (signed summary)
    redacted: bool  # the recorder's DLP rewrote this receipt: content unverifiable
    redacted_fields: tuple[str, ...]
    session_control: str | None  # session_open / heartbeat / session_close
    trusted: bool
    outcome: str
    failure_codes: tuple[str, ...]
    warning_codes: tuple[str, ...]
    origin: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    return value if isinstance(value, str) and value else None


def _strings(record: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = record.get(name)
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _nested(record: Mapping[str, Any], section: str, name: str) -> Any:
    value = record.get(section)
    return value.get(name) if isinstance(value, dict) else None


def _evidence(action: VerifiedAction, chain_valid: bool) -> ActionEvidence:
    record, result = action.record, action.result
    total = _nested(record, "redaction", "total_redactions")
    kind = _nested(record, "session_control", "kind")
    transport = _text(record, "transport")
    return ActionEvidence(
        source_kind=SOURCE_PIPELOCK,
        recorder=action.recorder,
        signer_fingerprint=action.signer_fingerprint,
        chain_id=action.chain_id,
        recorder_session=action.recorder_session,
        chain_seq=result.sequence,
        receipt_hash=result.receipt_hash,
        action_id=result.receipt_id,
        parent_action_id=_text(record, "parent_action_id"),
        request_id=_text(record, "request_id"),
        timestamp=_text(record, "timestamp"),
        actor=_text(record, "actor"),
        principal=_text(record, "principal"),
        session_id=_text(record, "session_id"),
        session_id_original=_text(record, "session_id_original"),
        transport=transport,
        channel=channel_of(transport),
        method=_text(record, "method"),
        target=_text(record, "target"),
        verdict=_text(record, "verdict"),
        action_type=_text(record, "action_type"),
        side_effect_class=_text(record, "side_effect_class"),
        reversibility=_text(record, "reversibility"),
        intent=_text(record, "intent"),
        policy_hash=_text(record, "policy_hash"),
        data_classes_in=_strings(record, "data_classes_in"),
        data_classes_out=_strings(record, "data_classes_out"),
        layer=_text(record, "layer"),
        pattern=_text(record, "pattern"),
        severity=_text(record, "severity"),
        payload_redactions=total if type(total) is int else 0,
        redacted=action.fully_redacted or bool(action.redacted_fields),
        redacted_fields=action.redacted_fields,
        session_control=kind if isinstance(kind, str) else None,
        trusted=chain_valid and result.outcome is Outcome.PASSED,
        outcome=result.outcome.value,
        failure_codes=tuple(c.value for c in result.failures),
        warning_codes=tuple(c.value for c in result.warnings),
        origin=str(result.origin),
    )


def action_evidence(verification: PipelockVerification) -> Iterator[ActionEvidence]:
    """One flat record per ActionReceipt v1 in `verification`, in chain order."""
    valid = {chain.chain_id: chain.valid for chain in verification.chains}
    for action in verification.actions:
        yield _evidence(action, valid.get(action.chain_id, False))
