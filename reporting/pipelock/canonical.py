"""The bytes Pipelock signs: Go `encoding/json` output of its typed structs.

ActionReceipt v1 is not JCS. Pipelock marshals Go structs, so the canonical bytes are
the struct's fields in declaration order (`ACTION_RECORD` below, from PIPELOCK.md §2),
compact, with Go's omitempty rules:

* an omitempty member is dropped when absent, null, "", 0, false, [] or {};
* any other member is always written, an absent or null one as its zero value ("", 0,
  false, or null for the `delegation_chain` slice);
* a nested object (a pointer in Go) is dropped only when absent or null; `{}` is
  written with its non-omitempty members zeroed;
* map keys (`by_class`) are sorted; integers are decimal; there are no floats.

Every value must have its Go type (a JSON string for a string, an integer literal in
range for an int, true/false for a bool), and a member the struct does not declare is
refused: Go's decoder would match names case-insensitively and drop unknown ones, and
either would let two texts verify under one signature. Null array elements, which Go
would read as zero values, are refused too (Pipelock never writes them).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reporting.pipelock.strictjson import PipelockFormatError, go_string

__all__ = [
    "ACTION_RECORD",
    "ENDORSEMENT_SIGNED",
    "Field",
    "GoType",
    "SchemaError",
    "canonical_action_record",
    "encode_struct",
    "sha256_hex",
]


class SchemaError(PipelockFormatError):
    """A member of the wrong Go type, or one the struct does not declare."""


class GoType(Enum):
    STRING = "string"
    INT = "int"  # int / int64
    UINT64 = "uint64"
    UINT8 = "uint8"
    BOOL = "bool"
    STRINGS = "[]string"
    INT_MAP = "map[string]int"
    STRUCT = "*struct"
    STRUCTS = "[]struct"


_RANGES = {
    GoType.INT: (-(2**63), 2**63 - 1),
    GoType.UINT64: (0, 2**64 - 1),
    GoType.UINT8: (0, 255),
}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: GoType = GoType.STRING
    omitempty: bool = False
    fields: tuple[Field, ...] = ()  # a struct's own fields, in declaration order
    key: str = dataclasses.field(init=False)  # `"name":`, encoded once

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", go_string(self.name) + ":")


def _f(name: str, kind: GoType = GoType.STRING, *, fields: tuple[Field, ...] = ()) -> Field:
    """A member that is always written."""
    return Field(name, kind, False, fields)


def _o(name: str, kind: GoType = GoType.STRING, *, fields: tuple[Field, ...] = ()) -> Field:
    """An omitempty member."""
    return Field(name, kind, True, fields)


_U64 = GoType.UINT64
_STRUCT = GoType.STRUCT

TAINT_SOURCE = (
    _f("url"),
    _f("kind"),
    _f("level", GoType.UINT8),
    _f("timestamp"),
    _o("receipt_id"),
    _o("match_reason"),
)
REDACTION = (
    _o("profile"),
    _o("provider"),
    _o("parser"),
    _o("total_redactions", GoType.INT),
    _o("by_class", GoType.INT_MAP),
    _o("cache_boundary_kept", GoType.BOOL),
)
SHIELD = (
    _o("pipeline"),
    *(
        _o(name, GoType.INT)
        for name in ("total_rewrites", "extension_probes", "tracking_beacons", "agent_traps")
    ),
    _o("fingerprint_shim_injected", GoType.BOOL),
    *(
        _o(name, GoType.INT)
        for name in (
            "svg_foreign_objects",
            "svg_event_handlers",
            "svg_external_references",
            "svg_hidden_text",
            "svg_animation_injections",
            "body_bytes",
            "scanned_bytes",
        )
    ),
    _o("partial", GoType.BOOL),
    _o("adaptive_signals_recorded", GoType.INT),
    _o("adaptive_signal_max_per_body", GoType.INT),
)
KEY_TRANSITION = (_f("prior_signer_key"), _f("prior_chain_seq", GoType.INT), _f("prior_chain_hash"))
GROUP_BINDING = (
    _f("group_id"),
    _f("shard_index", _U64),
    _f("session_id"),
    _f("open_manifest_sha256"),
    _f("signer_key"),
    _f("previous_group_id"),
    _f("previous_open_manifest_sha256"),
)
SESSION_OPEN = (
    _f("run_nonce"),
    _f("open_nonce"),
    _f("recorder_session"),
    _f("policy_hash"),
    _f("signer_key_epoch"),
    _f("heartbeat_seconds", GoType.INT),
    _f("chain_open_seq", _U64),
    _o("prior_chain_head"),
    _o("prior_chain_seq", _U64),
    _o("genesis_hash"),
    _o("genesis_anchor_head"),
    _o("genesis_anchor_log"),
    _o("posture_capsule_sha256"),
    _o("posture_signer_key_id"),
    _o("containment_nonce"),
    _o("contained_uid"),
    _o("group_binding", _STRUCT, fields=GROUP_BINDING),
)
SESSION_HEARTBEAT = (
    _f("run_nonce"),
    _f("open_nonce"),
    _f("beat", _U64),
    _f("chain_head"),
    _f("chain_seq_head", _U64),
    _f("heartbeat_time"),
    _f("fsync_errors_gated", _U64),
    _f("durability_blocks", _U64),
)
SESSION_CLOSE = (
    _f("run_nonce"),
    _f("open_nonce"),
    _f("final_seq", _U64),
    _f("root_hash"),
    _f("receipt_count", _U64),
    _f("close_reason"),
    _f("fsync_errors_gated", _U64),
    _f("durability_blocks", _U64),
)
SESSION_CONTROL = (
    _f("kind"),
    _o("open", _STRUCT, fields=SESSION_OPEN),
    _o("heartbeat", _STRUCT, fields=SESSION_HEARTBEAT),
    _o("close", _STRUCT, fields=SESSION_CLOSE),
)

ACTION_RECORD = (
    _f("version", GoType.INT),
    _f("action_id"),
    _o("parent_action_id"),
    _f("action_type"),
    _f("timestamp"),
    _f("principal"),
    _f("actor"),
    _f("delegation_chain", GoType.STRINGS),
    _f("target"),
    _o("intent"),
    _o("data_classes_in", GoType.STRINGS),
    _o("data_classes_out", GoType.STRINGS),
    _f("side_effect_class"),
    _f("reversibility"),
    _f("policy_hash"),
    _f("verdict"),
    _o("decision_phase"),
    _o("defer_id"),
    _o("resolution_policy"),
    _o("resolution_source"),
    _o("session_id"),
    _o("session_id_original"),
    _o("session_taint_level"),
    _o("session_contaminated", GoType.BOOL),
    _o("recent_taint_sources", GoType.STRUCTS, fields=TAINT_SOURCE),
    _o("session_task_id"),
    _o("session_task_label"),
    _o("authority_kind"),
    _o("taint_decision"),
    _o("taint_decision_reason"),
    _o("task_override_applied", GoType.BOOL),
    _o("contract_winning_source"),
    _o("contract_live_verdict"),
    _o("contract_policy_sources", GoType.STRINGS),
    _o("contract_rule_id"),
    _o("active_manifest_hash"),
    _o("contract_hash"),
    _o("contract_selector_id"),
    _o("contract_generation", _U64),
    _f("transport"),
    _o("method"),
    _o("layer"),
    _o("pattern"),
    _o("severity"),
    _o("redaction", _STRUCT, fields=REDACTION),
    _o("shield", _STRUCT, fields=SHIELD),
    _o("request_id"),
    _f("chain_prev_hash"),
    _f("chain_seq", _U64),
    _o("run_nonce"),
    _o("key_transition", _STRUCT, fields=KEY_TRANSITION),
    _o("session_control", _STRUCT, fields=SESSION_CONTROL),
    _o("venue"),
    _o("jurisdiction"),
    _o("rulebook_id"),
    _o("remedy_class"),
    _o("contestation_window"),
    _o("precedent_refs", GoType.STRINGS),
)

# The rotation endorsement's signed struct: its first seven members, in this order.
ENDORSEMENT_SIGNED = (
    _f("version", GoType.INT),
    _f("session_id"),
    _f("prior_signer_key"),
    _f("prior_final_seq", _U64),
    _f("prior_tail_hash"),
    _f("new_signer_key"),
    _f("rotated_at"),
)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _type_error(path: str, field: Field, value: Any) -> SchemaError:
    found = "null" if value is None else type(value).__name__
    return SchemaError(f"{path}{field.name}: expected Go {field.type.value}, found {found}")


def _integer(path: str, field: Field, value: Any) -> int:
    if type(value) is not int:
        raise _type_error(path, field, value)
    low, high = _RANGES[field.type]
    if not low <= value <= high:
        raise SchemaError(f"{path}{field.name}: {value} is out of range for Go {field.type.value}")
    return value


def _strings(path: str, field: Field, value: list[Any]) -> str:
    if not all(isinstance(item, str) for item in value):
        raise SchemaError(f"{path}{field.name}: every element must be a string")
    return "[" + ",".join(go_string(item) for item in value) + "]"


def _int_map(path: str, field: Field, value: dict[str, Any]) -> str:
    items = []
    for key in sorted(value):
        number = value[key]
        if type(number) is not int or not -(2**63) <= number < 2**63:
            raise SchemaError(f"{path}{field.name}.{key}: expected Go int")
        items.append(f"{go_string(key)}:{number}")
    return "{" + ",".join(items) + "}"


def _member(path: str, field: Field, value: Any) -> str | None:
    """One member's encoded value, or None when Go would not write it."""
    kind, empty = field.type, field.omitempty
    if kind is GoType.STRING:
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise _type_error(path, field, value)
        return None if empty and not value else go_string(value)
    if kind in _RANGES:
        number = 0 if value is None else _integer(path, field, value)
        return None if empty and number == 0 else str(number)
    if kind is GoType.BOOL:
        flag = False if value is None else value
        if not isinstance(flag, bool):
            raise _type_error(path, field, value)
        return None if empty and not flag else ("true" if flag else "false")
    if value is None:  # slices, maps and pointers: null or absent
        return None if empty or kind is not GoType.STRINGS else "null"
    return _container(path, field, value)


def _container(path: str, field: Field, value: Any) -> str | None:
    kind, empty = field.type, field.omitempty
    if kind is GoType.STRUCT:
        if not isinstance(value, dict):
            raise _type_error(path, field, value)
        return encode_struct(value, field.fields, f"{path}{field.name}.")
    if kind is GoType.INT_MAP:
        if not isinstance(value, dict):
            raise _type_error(path, field, value)
        return None if empty and not value else _int_map(path, field, value)
    if not isinstance(value, list):
        raise _type_error(path, field, value)
    if empty and not value:
        return None
    if kind is GoType.STRINGS:
        return _strings(path, field, value)
    parts = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise SchemaError(f"{path}{field.name}[{index}]: expected an object")
        parts.append(encode_struct(item, field.fields, f"{path}{field.name}[{index}]."))
    return "[" + ",".join(parts) + "]"


def encode_struct(value: dict[str, Any], fields: tuple[Field, ...], path: str = "") -> str:
    """Go's compact encoding of `value` as the struct `fields` describe."""
    known = {f.name for f in fields}
    unknown = [name for name in value if name not in known]
    if unknown:
        raise SchemaError(f"unknown signed field {path}{unknown[0]}")
    parts = []
    for field in fields:
        encoded = _member(path, field, value.get(field.name))
        if encoded is not None:
            parts.append(field.key + encoded)
    return "{" + ",".join(parts) + "}"


def canonical_action_record(record: dict[str, Any]) -> bytes:
    """The canonical bytes of an action_record (their SHA-256 is what is signed)."""
    return encode_struct(record, ACTION_RECORD).encode("utf-8")
