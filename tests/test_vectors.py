"""Conformance: every cross-implementation vector file drives these tests (principle 9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reporting.receipts.canonical import canonical_json, parse_receipt, sha256_tag
from reporting.receipts.keys import decode_did_key, did_key_from_raw
from reporting.receipts.results import Code, Termination

from .conftest import PROTOCOL, require_shared
from .helpers import codes, raw_key, verify_docs, warning_codes

EXPECTED_VECTOR_FILES = {
    "canonicalization_vectors.json",
    "did_key_vectors.json",
    "go_vectors.json",
    "malformed_vectors.json",
    "py_vectors.json",
    "rotation_event_example.json",
    "ts_vectors.json",
    "v020_vectors.json",
    "v030_vectors.json",
    "v040_vectors.json",
    "v050_vectors.json",
}
# Malformed receipts the protocol says MUST be rejected, with the code we must give.
MALFORMED_CODES = {
    "wrong_proof_type": {Code.INVALID_SIGNATURE, Code.SCHEMA_VIOLATION},
    "mutated_action_type": {Code.INVALID_SIGNATURE},
    "mutated_principal_id": {Code.INVALID_SIGNATURE},
    "truncated_proof_value": {Code.INVALID_SIGNATURE, Code.SCHEMA_VIOLATION},
    "wrong_multibase_prefix": {Code.INVALID_SIGNATURE, Code.SCHEMA_VIOLATION},
    "flipped_proof_byte": {Code.INVALID_SIGNATURE},
}
MALFORMED_CHAIN_CODES = {"missing_previous_receipt_hash_mid_chain": {Code.HASH_LINK_BROKEN}}


def _load(name: str) -> Any:
    require_shared()
    return json.loads((PROTOCOL / "vectors" / name).read_text())


def _vectors(name: str, key: str) -> list[dict[str, Any]]:
    if not (PROTOCOL / "vectors" / name).is_file():
        return []
    return json.loads((PROTOCOL / "vectors" / name).read_text())[key]


def test_every_vector_file_is_exercised(vectors_dir: Path) -> None:
    found = {p.name for p in vectors_dir.glob("*.json")}
    assert found == EXPECTED_VECTOR_FILES, "a vector file was added or removed: wire it in here"


@pytest.mark.parametrize(
    "vector",
    _vectors("canonicalization_vectors.json", "canonicalization_vectors"),
    ids=lambda v: v["name"],
)
def test_canonicalization_vector(vector: dict[str, Any]) -> None:
    value = -0.0 if vector["name"] == "number_negative_zero" else vector["input"]
    assert canonical_json(value).decode() == vector["canonical"]


def test_canonicalization_vectors_were_found() -> None:
    assert len(_load("canonicalization_vectors.json")["canonicalization_vectors"]) >= 30


def _hash_vectors() -> list[dict[str, Any]]:
    return [
        v
        for v in _vectors("canonicalization_vectors.json", "receipt_hash_vectors")
        if "receipt" in v
    ]


@pytest.mark.parametrize("vector", _hash_vectors(), ids=lambda v: v["name"])
def test_receipt_hash_vector(vector: dict[str, Any]) -> None:
    vectors = {v["name"]: v for v in _hash_vectors()}
    expected = vector["expectedHash"]
    if expected.startswith("SAME_AS_"):
        expected = vectors[expected.removeprefix("SAME_AS_")]["expectedHash"]
    parsed = parse_receipt(json.dumps(vector["receipt"]).encode())
    assert parsed.receipt_hash == expected
    if "mustContainSubstring" in vector:
        assert vector["mustContainSubstring"] in parsed.canonical.decode()


def test_hash_vectors_were_found() -> None:
    assert len(_hash_vectors()) >= 10


def test_legacy_signature_preservation_vector() -> None:
    legacy = next(
        v
        for v in _load("canonicalization_vectors.json")["receipt_hash_vectors"]
        if v["name"] == "receipt_signature_preservation_legacy_0_2_0"
    )
    assert "terminalChain" in legacy["receiptsFrom"]
    data = _load("v020_vectors.json")
    chain = verify_docs(data["terminalChain"]["receipts"], raw_key(data["keys"]["publicKey"]))
    assert chain.valid, chain.failures


@pytest.mark.parametrize("sdk", ["py_vectors.json", "go_vectors.json", "ts_vectors.json"])
def test_sdk_vector(sdk: str) -> None:
    data = _load(sdk)
    canonical = canonical_json(data["canonicalization"]["receiptInput"]).decode()
    assert canonical == data["canonicalization"]["receiptExpected"]
    assert (
        canonical_json(data["canonicalization"]["simpleInput"]).decode()
        == data["canonicalization"]["simpleExpected"]
    )
    assert sha256_tag(data["hashing"]["simpleInput"].encode()) == data["hashing"]["simpleExpected"]
    parsed = parse_receipt(json.dumps(data["signing"]["signed"]).encode())
    assert parsed.receipt_hash == data["hashing"]["receiptExpected"]
    chain = verify_docs([data["signing"]["signed"]], raw_key(data["keys"]["publicKey"]))
    assert chain.valid, chain.failures


def test_v020_terminal_chain() -> None:
    data = _load("v020_vectors.json")
    key = raw_key(data["keys"]["publicKey"])
    terminal = data["terminalChain"]
    chain = verify_docs(terminal["receipts"], key)
    assert chain.valid is terminal["expectedValid"]
    assert chain.termination is Termination.COMPLETE
    strict = verify_docs(terminal["receipts"], key, require_terminal=True)
    assert strict.valid is terminal["expectedValidWithRequireTerminal"]
    # Legacy non-UUID identifiers are a named deviation, not a failure.
    assert Code.KNOWN_SCHEMA_DEVIATION in warning_codes(chain)


def test_v020_response_hash_and_disclosure() -> None:
    data = _load("v020_vectors.json")
    response = data["responseHash"]
    assert sha256_tag(canonical_json(response["redactedResponse"])) == response["expectedHash"]
    assert sha256_tag(canonical_json(response["rawResponse"])) != response["expectedHash"]
    disclosure = data["parametersDisclosureReceipt"]
    parsed = parse_receipt(json.dumps(disclosure["receipt"]).encode())
    assert parsed.receipt_hash == disclosure["expectedReceiptHash"]
    chain = verify_docs([disclosure["receipt"]], raw_key(data["keys"]["publicKey"]))
    assert chain.valid is disclosure["expectedValid"]


def _single_receipt_vectors() -> list[tuple[str, str]]:
    return [
        (file, name)
        for file in ("v030_vectors.json", "v040_vectors.json", "v050_vectors.json")
        if (PROTOCOL / "vectors" / file).is_file()
        for name, value in json.loads((PROTOCOL / "vectors" / file).read_text()).items()
        if isinstance(value, dict) and "receipt" in value
    ]


@pytest.mark.parametrize(("file", "name"), _single_receipt_vectors())
def test_versioned_receipt_vector(file: str, name: str) -> None:
    data = _load(file)
    vector = data[name]
    parsed = parse_receipt(json.dumps(vector["receipt"]).encode())
    assert parsed.receipt_hash == vector["expectedReceiptHash"]
    chain = verify_docs([vector["receipt"]], raw_key(data["keys"]["publicKey"]))
    assert chain.valid is vector["expectedValid"], chain.failures


def test_versioned_receipt_vectors_were_found() -> None:
    require_shared()
    assert len(_single_receipt_vectors()) >= 7


def test_v040_duplicate_idempotency_chain() -> None:
    data = _load("v040_vectors.json")
    vector = data["duplicateIdempotencyChain"]
    chain = verify_docs(vector["receipts"], raw_key(data["keys"]["publicKey"]))
    assert chain.valid is vector["expectedValid"]
    duplicates = [c for c in warning_codes(chain) if c is Code.DUPLICATE_IDEMPOTENCY_KEY]
    assert len(duplicates) == vector["expectedWarningCount"]


@pytest.mark.parametrize(
    "vector", _vectors("malformed_vectors.json", "receipts"), ids=lambda v: v["name"]
)
def test_malformed_receipt_is_rejected(vector: dict[str, Any]) -> None:
    data = _load("malformed_vectors.json")
    chain = verify_docs([vector["receipt"]], raw_key(data["keys"]["publicKey"]))
    assert not chain.valid
    assert MALFORMED_CODES[vector["name"]] <= codes(chain)


@pytest.mark.parametrize(
    "vector", _vectors("malformed_vectors.json", "chains"), ids=lambda v: v["name"]
)
def test_malformed_chain_is_rejected(vector: dict[str, Any]) -> None:
    data = _load("malformed_vectors.json")
    chain = verify_docs(vector["receipts"], raw_key(data["keys"]["publicKey"]))
    assert not chain.valid
    assert MALFORMED_CHAIN_CODES[vector["name"]] <= codes(chain)


def test_malformed_vectors_were_found() -> None:
    data = _load("malformed_vectors.json")
    assert {v["name"] for v in data["receipts"]} == set(MALFORMED_CODES)
    assert {v["name"] for v in data["chains"]} == set(MALFORMED_CHAIN_CODES)


RFC8032_TEST2_PUBLIC = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
ROTATION_HASH = "sha256:6983c9bd6fb24e844b90f7616315a914fdedc5fef8126e11d46149ba2f320457"


def test_rotation_event_example() -> None:
    receipt = _load("rotation_event_example.json")
    assert parse_receipt(json.dumps(receipt).encode()).receipt_hash == ROTATION_HASH
    chain = verify_docs([receipt], bytes.fromhex(RFC8032_TEST2_PUBLIC))
    assert chain.valid, chain.failures
    assert [r.valid for r in chain.rotations] == [True]
    wrong_key = verify_docs([receipt], bytes(32))
    assert Code.INVALID_SIGNATURE in codes(wrong_key)


@pytest.mark.parametrize(
    "vector", _vectors("did_key_vectors.json", "vectors"), ids=lambda v: v["name"]
)
def test_did_key_vector(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["public_key_hex"])
    assert did_key_from_raw(raw) == vector["did"]
    assert decode_did_key(vector["did"]) == raw
    method = vector["did_document"]["verificationMethod"][0]
    assert decode_did_key(method["id"]) == raw


def test_did_key_vectors_were_found() -> None:
    assert len(_load("did_key_vectors.json")["vectors"]) >= 3
