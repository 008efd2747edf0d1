"""Pipelock's decisions as rows of the evidence frame, beside the agents' receipts.

Every ActionReceipt v1 Pipelock signed (`reporting.pipelock.ActionEvidence`) becomes one
row: the columns both kinds share (`frame.ROW_FIELDS`: id, chain, sequence, time, hash,
origin, verdict codes, channel; the rest empty) and the columns only egress has
(`EGRESS_FIELDS`: the firewall's verdict, side-effect class, destination, method, DLP
and redaction flags, request id, recorder, actor...). Values come from the signed record only. Agent
Receipts columns a firewall cannot know (risk, authorization, outcome...) are empty;
`issuer` and `principal` are filled by correlation (`correlation.py`), from the
configured mapping of Pipelock's `actor` and `principal`.

A row is `verified` only when its receipt's own verdict passed: a receipt the
recorder's DLP redaction rewrote is INDETERMINATE, so never verified, never evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from reporting.pipelock import ActionEvidence

__all__ = ["EGRESS_FIELDS", "destination_of", "egress_records"]

EGRESS_FIELDS = (
    "verdict",
    "side_effect_class",
    "destination",
    "method",
    "transport",
    "request_id",
    "layer",
    "pattern",
    "severity",
    "data_classes_out",
    "dlp",
    "redacted",
    "payload_redactions",
    "recorder",
    "recorder_session",
    "actor",
    "egress_principal",
    "session_control",
)
DLP_LAYER = "dlp"


def destination_of(target: str | None) -> str | None:
    """Where a request went: a URL's host (lowercase), else the target as signed (an MCP
    tool name, `response:<id>`); None for a recorder control target."""
    if not target or target.startswith("pipelock://"):
        return None
    if "://" in target:
        try:
            host = urlsplit(target).hostname
        except ValueError:
            return target
        return host or target
    return target


def _shared(action: ActionEvidence) -> dict[str, Any]:
    """The values of the columns both kinds share that a decision has; the frame leaves
    the others empty (`frame.ROW_FIELDS`)."""
    return {
        "receipt_id": action.action_id,
        "chain_id": action.chain_id,
        "sequence": action.chain_seq,
        "session_id": action.session_id,  # the agent's session id, as Pipelock signed it
        "action_type": action.action_type or "",
        "target_resource": action.target,
        "timestamp": action.timestamp,
        "receipt_hash": action.receipt_hash,
        "origin": action.origin,
        "verified": action.outcome == "PASSED",  # never a redacted (INDETERMINATE) receipt
        "failure_codes": " ".join(action.failure_codes),
        "warning_codes": " ".join(action.warning_codes),
        "channel": action.channel,
    }


def _own(action: ActionEvidence) -> tuple[Any, ...]:
    """The `EGRESS_FIELDS` values of one decision, in that order."""
    return (
        action.verdict,
        action.side_effect_class,
        destination_of(action.target),
        action.method,
        action.transport,
        action.request_id,
        action.layer,
        action.pattern,
        action.severity,
        "|".join(action.data_classes_out),
        action.layer == DLP_LAYER,
        action.redacted,
        action.payload_redactions,
        action.recorder,
        action.recorder_session,
        action.actor,
        action.principal,
        action.session_control,
    )


def egress_records(
    actions: Iterable[ActionEvidence],
) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """(shared values, egress rows) of the decisions, in the same order."""
    shared, own = [], []
    for action in actions:
        shared.append(_shared(action))
        own.append(_own(action))
    return shared, own
