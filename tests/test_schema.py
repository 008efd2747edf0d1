"""Schema per protocol version, named deviations, and timestamps inside real receipts."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from typing import Any

import rfc8785

from reporting.receipts.results import Code

from .factory import ChainBuilder, Key, resign
from .helpers import codes, verify_docs, warning_codes
from .test_timestamps import build_token, new_pki

KEY = Key.from_seed("schema")


def _one(**changes: Any) -> dict[str, Any]:
    doc = ChainBuilder(KEY).add()
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return resign(doc, KEY)


def test_sdk_receipt_is_schema_clean() -> None:
    chain = verify_docs([_one()], KEY.raw)
    assert chain.valid
    assert chain.warnings == ()


def test_missing_required_field_is_a_schema_violation() -> None:
    chain = verify_docs([_one(credentialSubject__outcome=None)], KEY.raw)
    assert codes(chain) == {Code.SCHEMA_VIOLATION}


def test_field_newer_than_the_receipt_version_is_a_violation() -> None:
    doc = _one(version="0.4.0")
    doc["@context"][1] = "https://agentreceipts.ai/context/v1"
    doc["issuer"]["runtime"] = {"agent_id": "sub-1"}
    chain = verify_docs([resign(doc, KEY)], KEY.raw)
    assert Code.SCHEMA_VIOLATION in codes(chain)
    assert any("issuer.runtime" in p.message for p in chain.failures)


def test_context_must_match_the_version() -> None:
    doc = _one(version="0.5.0")  # still context v3
    assert Code.SCHEMA_VIOLATION in codes(verify_docs([doc], KEY.raw))


def test_legacy_type_name_accepted_only_before_0_3_0() -> None:
    legacy = _one(version="0.2.1")
    legacy["@context"][1] = "https://agentreceipts.ai/context/v1"
    legacy["type"][1] = "AIActionReceipt"
    assert verify_docs([resign(legacy, KEY)], KEY.raw).valid
    modern = _one()
    modern["type"][1] = "AIActionReceipt"
    assert Code.SCHEMA_VIOLATION in codes(verify_docs([resign(modern, KEY)], KEY.raw))


def test_non_uuid_identifiers_fail_from_0_3_0() -> None:
    doc = _one(id="urn:receipt:not-a-uuid")
    assert Code.SCHEMA_VIOLATION in codes(verify_docs([doc], KEY.raw))


def test_daemon_tool_name_is_a_known_deviation() -> None:
    doc = _one(credentialSubject__action__tool_name="Bash")
    chain = verify_docs([doc], KEY.raw)
    assert chain.valid
    assert warning_codes(chain) == [Code.KNOWN_SCHEMA_DEVIATION]


def test_null_optional_fields_are_absent() -> None:
    doc = ChainBuilder(KEY).add()
    doc["credentialSubject"]["outcome"]["error"] = None  # as pydantic emitters write it
    doc["credentialSubject"]["intent"] = None
    chain = verify_docs([doc], KEY.raw)
    assert chain.valid, chain.failures


# -- RFC 3161 trusted timestamps inside a receipt (§7.7) ----------------------------------


def _stamped(tsa: Any, *, imprint_override: bytes | None = None) -> dict[str, Any]:
    doc = ChainBuilder(KEY).add(timestamp="2026-10-01T10:00:00.000Z")
    unsigned = {k: v for k, v in copy.deepcopy(doc).items() if k != "proof"}
    imprint_input = imprint_override or rfc8785.dumps(unsigned)
    token = build_token(tsa, imprint_input, gen_time=datetime(2026, 10, 1, 10, 0, 30, tzinfo=UTC))
    doc["credentialSubject"]["action"]["trusted_timestamp"] = base64.b64encode(token).decode()
    return resign(doc, KEY)


def test_receipt_with_a_valid_trusted_timestamp() -> None:
    pki = new_pki()
    doc = _stamped(pki.tsa("ec-p256"))
    unanchored = verify_docs([doc], KEY.raw)
    assert unanchored.valid
    assert warning_codes(unanchored) == [Code.TRUSTED_TIMESTAMP_UNANCHORED]
    anchored = verify_docs([doc], KEY.raw, tsa_roots=(pki.root,))
    assert anchored.valid
    assert anchored.warnings == ()


def test_trusted_timestamp_over_other_bytes_or_untrusted_tsa_fails() -> None:
    pki = new_pki()
    wrong = _stamped(pki.tsa("ec-p256"), imprint_override=b"some other receipt")
    assert codes(verify_docs([wrong], KEY.raw)) == {Code.INVALID_TRUSTED_TIMESTAMP}
    other_root = new_pki("Someone else's root").root
    good = _stamped(pki.tsa("ec-p256"))
    chain = verify_docs([good], KEY.raw, tsa_roots=(other_root,))
    assert codes(chain) == {Code.INVALID_TRUSTED_TIMESTAMP}


def test_trusted_timestamp_not_base64_fails() -> None:
    doc = _one(credentialSubject__action__trusted_timestamp="%%%")
    assert codes(verify_docs([doc], KEY.raw)) == {Code.INVALID_TRUSTED_TIMESTAMP}
