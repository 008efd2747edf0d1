"""Receipt schema validation per protocol version, with the known deviations named.

The protocol's JSON Schema (2020-12) is checked with `jsonschema_rs` (≈6 µs a receipt;
the pure-Python validator takes ≈750 µs, more than the signature). Two deviations seen
in real producers are tolerated by a patched copy of the schema and reported as
warnings (KNOWN_SCHEMA_DEVIATION) instead of failures:

* ``action.tool_name``: written by the signing daemon, not listed by the schema;
* identifiers that are not UUIDs (``id``, ``action.id``) at versions before 0.3.0: the
  protocol's own 0.2.x cross-SDK vectors carry them and are declared valid.

Versions also gate fields: a receipt may not use a field its version predates (the
JSON-LD context of that version does not define it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs

from reporting.receipts.fields import get_path
from reporting.receipts.results import Code

__all__ = ["SchemaFinding", "check_receipt_schema", "taxonomy_defaults"]

LEGACY_IDENTIFIER_VERSIONS = frozenset({"0.1.0", "0.2.0", "0.2.1"})
# Matched whole (`fullmatch`): the schema's `$` is the end of the text, where Python's
# would also allow a final newline.
_RECEIPT_ID = re.compile(
    r"urn:receipt:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_ACTION_ID = re.compile(r"act_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_VERSION_ORDER = ("0.1.0", "0.2.0", "0.2.1", "0.3.0", "0.4.0", "0.5.0", "0.6.0")
_VERSION_RANK = {version: rank for rank, version in enumerate(_VERSION_ORDER)}
_RISK_ORDER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_MAX_REPORTED_ERRORS = 3

# (path inside the receipt, first version that defines it, what it is)
_FIELD_INTRODUCED = (
    (("credentialSubject", "action", "peer_credential"), "0.3.0", "action.peer_credential"),
    (("credentialSubject", "action", "emitter_metadata"), "0.3.0", "action.emitter_metadata"),
    (("credentialSubject", "action", "idempotency_key"), "0.4.0", "action.idempotency_key"),
    (("issuer", "runtime"), "0.5.0", "issuer.runtime"),
    (
        ("credentialSubject", "outcome", "response_disclosure"),
        "0.6.0",
        "outcome.response_disclosure",
    ),
)

_LAST_GATED_VERSION = max(
    [introduced for _path, introduced, _name in _FIELD_INTRODUCED] + ["0.3.0"],
    key=_VERSION_RANK.__getitem__,
)  # 0.3.0: the HPKE disclosure gate below
_LAST_GATED_RANK = _VERSION_RANK[_LAST_GATED_VERSION]
_UNREAD: Any = object()  # `check_receipt_schema` reads the action itself


@dataclass(frozen=True, slots=True)
class SchemaFinding:
    code: Code
    message: str


def _protocol_file(name: str) -> Any:
    text = resources.files("reporting").joinpath("data", "protocol", name).read_text("utf-8")
    return json.loads(text)


def _tolerant_schema(*, identifiers: bool = True) -> dict[str, Any]:
    """The protocol schema, relaxed exactly where a deviation is reported separately
    (read afresh and changed in place: a deep copy cost more than reading it);
    `identifiers=False` keeps the protocol's identifier rules."""
    patched: dict[str, Any] = _protocol_file("agent-receipt.schema.json")
    action = patched["$defs"]["action"]["properties"]
    action["tool_name"] = {"type": "string"}
    if identifiers:
        action["id"] = {"type": "string", "pattern": "^act_."}
        patched["properties"]["id"] = {"type": "string", "pattern": "^urn:receipt:."}
        types = patched["properties"]["type"]["prefixItems"]
        types[1] = {"enum": ["AgentReceipt", "AIActionReceipt"]}
    return patched


@cache
def _validator() -> Any:
    schema = _tolerant_schema()
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@cache
def _strict_validator() -> Any:
    """The tolerant schema with the protocol's identifier rules. A receipt valid under it
    has no schema error and nothing for `_identifier_findings` to report, so the common
    case takes one validation (the rest run only when it fails)."""
    schema = _tolerant_schema(identifiers=False)
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@cache
def taxonomy_defaults() -> dict[str, str]:
    """Action type → default risk level, from the protocol taxonomy (§5, §6)."""
    taxonomy = _protocol_file("action-types.json")
    return {
        entry["type"]: entry["risk_level"]
        for domain in taxonomy["domains"].values()
        for entry in domain["actions"]
    }


def _pointer(path: list[str | int]) -> str:
    return "/" + "/".join(str(p) for p in path) if path else "/"


def _schema_errors(document: dict[str, Any]) -> list[SchemaFinding]:
    validator = _validator()
    if validator.is_valid(document):  # the common case, without building error objects
        return []
    errors = list(validator.iter_errors(document))
    shown = "; ".join(
        f"at {_pointer(e.instance_path)}: {e.message}" for e in errors[:_MAX_REPORTED_ERRORS]
    )
    more = f" (and {len(errors) - _MAX_REPORTED_ERRORS} more)" if len(errors) > 3 else ""
    return [SchemaFinding(Code.SCHEMA_VIOLATION, f"schema: {shown}{more}")]


def _version_rank(version: Any) -> int:
    return _VERSION_RANK.get(version, -1) if isinstance(version, str) else -1


def _version_gates(document: dict[str, Any], version: Any) -> Iterator[SchemaFinding]:
    rank = _version_rank(version)
    if rank >= _LAST_GATED_RANK:
        return  # every gated field is defined at this version
    for path, introduced, name in _FIELD_INTRODUCED:
        if rank < _version_rank(introduced) and get_path(document, *path) is not None:
            message = f"{name} is defined from version {introduced}, receipt says {version}"
            yield SchemaFinding(Code.SCHEMA_VIOLATION, message)
    disclosure = get_path(document, "credentialSubject", "action", "parameters_disclosure")
    if isinstance(disclosure, dict) and "ct" in disclosure and rank < _version_rank("0.3.0"):
        message = f"the HPKE disclosure envelope is defined from 0.3.0, receipt says {version}"
        yield SchemaFinding(Code.SCHEMA_VIOLATION, message)


def _identifier_findings(document: dict[str, Any], version: Any) -> Iterator[SchemaFinding]:
    legacy = isinstance(version, str) and version in LEGACY_IDENTIFIER_VERSIONS
    checks = (
        ("id", document.get("id"), _RECEIPT_ID),
        ("action.id", get_path(document, "credentialSubject", "action", "id"), _ACTION_ID),
    )
    for name, value, pattern in checks:
        if isinstance(value, str) and not pattern.fullmatch(value):
            code = Code.KNOWN_SCHEMA_DEVIATION if legacy else Code.SCHEMA_VIOLATION
            yield SchemaFinding(code, f"{name} {value!r} is not a UUID identifier")
    types = document.get("type")
    if isinstance(types, list) and len(types) == 2 and types[1] == "AIActionReceipt" and not legacy:
        yield SchemaFinding(Code.SCHEMA_VIOLATION, "type AIActionReceipt was retired in 0.3.0")


def _semantic_findings(action: Any) -> list[SchemaFinding]:
    if not isinstance(action, dict):
        return []
    findings = []
    if "tool_name" in action:
        message = "action.tool_name is not in the schema (daemon receipt)"
        findings.append(SchemaFinding(Code.KNOWN_SCHEMA_DEVIATION, message))
    # Any JSON value may sit where a string belongs: a list is not even hashable.
    action_type, risk = action.get("type"), action.get("risk_level")
    default = taxonomy_defaults().get(action_type) if isinstance(action_type, str) else None
    if (
        default is not None
        and isinstance(risk, str)
        and risk in _RISK_ORDER
        and (_RISK_ORDER[risk] < _RISK_ORDER[default])
    ):
        message = f"risk_level {risk!r} is below the taxonomy default {default!r} (§6)"
        findings.append(SchemaFinding(Code.RISK_BELOW_TAXONOMY_DEFAULT, message))
    return findings


def check_receipt_schema(document: dict[str, Any], *, action: Any = _UNREAD) -> list[SchemaFinding]:
    """Schema failures and deviation warnings for one null-normalised receipt; `action`:
    its `credentialSubject.action`, when the caller has read it already."""
    if action is _UNREAD:
        action = get_path(document, "credentialSubject", "action")
    version = document.get("version")
    strict = _strict_validator().is_valid(document)
    if strict and _version_rank(version) >= _LAST_GATED_RANK:  # the common case
        return _semantic_findings(action)
    findings = [] if strict else _schema_errors(document)
    findings.extend(_version_gates(document, version))
    if not strict:
        findings.extend(_identifier_findings(document, version))
    findings.extend(_semantic_findings(action))
    return findings
