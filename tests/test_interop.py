"""Interoperability with the reference SDK: its chains verify; each forgery fails with its code."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

from reporting.receipts.results import Code, Termination

from .factory import ChainBuilder, Key, resign, rotation_fields, write_jsonl, write_store
from .helpers import codes, trust, verify_docs, verify_paths, warning_codes

KEY = Key.from_seed("interop-main")
OTHER = Key.from_seed("interop-other")


def _chain(length: int = 5, **kwargs: Any) -> list[dict[str, Any]]:
    return ChainBuilder(KEY, **kwargs).extend(length).receipts


def test_sdk_chain_verifies_from_a_store(tmp_path: Path) -> None:
    first = ChainBuilder(KEY, chain_id="chain_a").extend(4)
    first.add(terminal=True)
    second = ChainBuilder(KEY, chain_id="chain_b").extend(3)
    store = write_store(tmp_path / "receipts.db", first.receipts, second.receipts)
    result = verify_paths([store], trust(KEY.raw))
    assert result.valid
    by_id = {c.chain_id: c for c in result.chains}
    assert set(by_id) == {"chain_a", "chain_b"}
    assert by_id["chain_a"].length == 5
    assert by_id["chain_a"].termination is Termination.COMPLETE
    assert by_id["chain_b"].termination is Termination.UNKNOWN
    assert by_id["chain_a"].genesis_key_fingerprint == KEY.fingerprint
    assert all(r.receipt_hash for r in by_id["chain_a"].receipts)


def test_interrupted_chain_reports_its_status() -> None:
    builder = ChainBuilder(KEY).extend(2)
    builder.add("agent_receipts.chain_interrupted", "low", terminal=True, status="interrupted")
    chain = verify_docs(builder.receipts, KEY.raw)
    assert chain.valid, chain.failures
    assert chain.termination is Termination.INTERRUPTED


def test_single_field_tampering_is_an_invalid_signature() -> None:
    receipts = _chain()
    receipts[2]["credentialSubject"]["action"]["target"] = {
        "system": "fs",
        "resource": "/etc/shadow",
    }
    chain = verify_docs(receipts, KEY.raw)
    assert Code.INVALID_SIGNATURE in chain.receipts[2].failures
    # the next receipt's link to the tampered one breaks too
    assert Code.HASH_LINK_BROKEN in chain.receipts[3].failures
    assert chain.broken_at == 2
    assert chain.receipts[0].failures == ()
    assert chain.receipts[1].failures == ()


def test_injected_unknown_field_is_not_ignored() -> None:
    receipts = _chain()
    receipts[1]["credentialSubject"]["action"]["approved_by"] = "cfo"
    chain = verify_docs(receipts, KEY.raw)
    assert {Code.INVALID_SIGNATURE, Code.SCHEMA_VIOLATION} <= set(chain.receipts[1].failures)


def test_sequence_as_string_is_not_coerced() -> None:
    receipts = _chain()
    receipts[1]["credentialSubject"]["chain"]["sequence"] = "2"
    chain = verify_docs(receipts, KEY.raw)
    tampered = next(r for r in chain.receipts if r.receipt_id == receipts[1]["id"])
    assert Code.INVALID_SIGNATURE in tampered.failures
    # even re-signed by the issuer's own key, a string sequence is a schema violation
    resigned = copy.deepcopy(receipts)
    resigned[1] = resign(resigned[1], KEY)
    chain = verify_docs(resigned, KEY.raw)
    failing = next(r for r in chain.receipts if r.receipt_id == resigned[1]["id"])
    assert Code.SCHEMA_VIOLATION in failing.failures
    assert Code.INVALID_SIGNATURE not in failing.failures


def _reencode_proof(receipt: dict[str, Any], encode: Any) -> None:
    value = receipt["proof"]["proofValue"]
    signature = base64.urlsafe_b64decode(value[1:] + "==")
    receipt["proof"]["proofValue"] = encode(signature)


def test_padded_or_standard_base64_proof_value_is_rejected() -> None:
    padded = _chain(2)
    _reencode_proof(padded[0], lambda s: "u" + base64.urlsafe_b64encode(s).decode())
    assert Code.INVALID_SIGNATURE in verify_docs(padded, KEY.raw).receipts[0].failures
    standard = _chain(2)
    _reencode_proof(standard[0], lambda s: "u" + base64.b64encode(s).decode().rstrip("="))
    signature_has_std_chars = any(c in standard[0]["proof"]["proofValue"] for c in "+/")
    chain = verify_docs(standard, KEY.raw)
    assert (Code.INVALID_SIGNATURE in chain.receipts[0].failures) is signature_has_std_chars


def test_standard_base64_characters_are_rejected() -> None:
    receipts = _chain(1)
    value = receipts[0]["proof"]["proofValue"]
    receipts[0]["proof"]["proofValue"] = value[:10] + "+" + value[11:]
    assert Code.INVALID_SIGNATURE in verify_docs(receipts, KEY.raw).receipts[0].failures


def test_reordered_pair_breaks_links_and_sequence() -> None:
    receipts = _chain(5)
    # swap the sequence claims' physical order: the verifier sorts by sequence, so swap content
    receipts[1], receipts[2] = receipts[2], receipts[1]
    (
        receipts[1]["credentialSubject"]["chain"]["sequence"],
        receipts[2]["credentialSubject"]["chain"]["sequence"],
    ) = 2, 3
    chain = verify_docs(receipts, KEY.raw)
    assert Code.INVALID_SIGNATURE in codes(chain)
    assert Code.HASH_LINK_BROKEN in codes(chain)


def test_reordered_records_in_input_still_verify_in_sequence_order() -> None:
    receipts = _chain(5)
    chain = verify_docs(list(reversed(receipts)), KEY.raw)
    assert chain.valid, chain.failures
    assert [r.sequence for r in chain.receipts] == [1, 2, 3, 4, 5]


def test_spliced_receipt_from_another_chain() -> None:
    receipts = _chain(4, chain_id="chain_main")
    foreign = ChainBuilder(KEY, chain_id="chain_other").extend(4).receipts
    spliced = [*receipts[:2], foreign[2], *receipts[3:]]
    chain = verify_docs(spliced, KEY.raw, chain_key="chain_main")
    assert Code.CHAIN_ID_MISMATCH in chain.receipts[2].failures
    assert Code.HASH_LINK_BROKEN in codes(chain)


def test_dropped_middle_receipt_is_a_gap() -> None:
    receipts = _chain(5)
    del receipts[2]
    chain = verify_docs(receipts, KEY.raw)
    assert {Code.SEQUENCE_GAP, Code.HASH_LINK_BROKEN} <= set(chain.receipts[2].failures)


def test_duplicated_sequence() -> None:
    receipts = _chain(3)
    twin = resign(
        {**copy.deepcopy(receipts[2]), "id": "urn:receipt:00000000-0000-4000-8000-0000000000aa"},
        KEY,
    )
    chain = verify_docs([*receipts, twin], KEY.raw)
    assert Code.SEQUENCE_DUPLICATE in codes(chain)


def test_receipt_after_terminal() -> None:
    builder = ChainBuilder(KEY).extend(2)
    builder.add(terminal=True)
    builder.add()
    chain = verify_docs(builder.receipts, KEY.raw)
    assert chain.receipts[3].failures == (Code.RECEIPT_AFTER_TERMINAL,)


def test_require_terminal_and_witness() -> None:
    from reporting.receipts.external import Witness

    receipts = _chain(4)
    assert Code.TERMINAL_REQUIRED in codes(verify_docs(receipts, KEY.raw, require_terminal=True))
    head = verify_docs(receipts, KEY.raw).head_hash
    truncated = receipts[:3]
    witnessed = {"chain_test": Witness(length=4, final_hash=head)}
    chain = verify_docs(truncated, KEY.raw, witnesses=witnessed)
    assert {Code.LENGTH_MISMATCH, Code.FINAL_HASH_MISMATCH} <= codes(chain)
    assert verify_docs(receipts, KEY.raw, witnesses=witnessed).valid


def test_mid_chain_key_rotation_is_followed() -> None:
    new = Key.from_seed("interop-rotated")
    builder = ChainBuilder(KEY).extend(2)
    builder.add("agent.key.rotate", "high", key_rotation=rotation_fields(KEY, new))
    builder.extend(2, key=new)
    chain = verify_docs(builder.receipts, KEY.raw)
    assert chain.valid, chain.failures
    assert [(r.valid, r.new_key_fingerprint) for r in chain.rotations] == [(True, new.fingerprint)]
    # after the rotation the old key no longer signs for the chain
    builder.add(key=KEY)
    assert Code.INVALID_SIGNATURE in verify_docs(builder.receipts, KEY.raw).receipts[-1].failures


def test_rotation_with_wrong_fingerprint_is_invalid() -> None:
    new = Key.from_seed("interop-rotated")
    fields = rotation_fields(KEY, new) | {"old_key_fingerprint": OTHER.fingerprint}
    builder = ChainBuilder(KEY).extend(1)
    builder.add("agent.key.rotate", "high", key_rotation=fields)
    builder.add(key=new)
    chain = verify_docs(builder.receipts, KEY.raw)
    assert Code.ROTATION_INVALID in chain.receipts[1].failures
    assert Code.INVALID_SIGNATURE in chain.receipts[2].failures  # the new key never took over


def test_rotation_to_unannounced_key_fingerprint() -> None:
    new = Key.from_seed("interop-rotated")
    fields = rotation_fields(KEY, new) | {"new_key_fingerprint": OTHER.fingerprint}
    builder = ChainBuilder(KEY).extend(1)
    builder.add("agent.key.rotate", "high", key_rotation=fields)
    assert Code.ROTATION_INVALID in codes(verify_docs(builder.receipts, KEY.raw))


def test_genesis_key_found_among_several_trusted_keys() -> None:
    receipts = _chain(3)
    chain = verify_docs(receipts, OTHER.raw, KEY.raw)
    assert chain.valid
    assert chain.genesis_key_fingerprint == KEY.fingerprint


def test_forged_chain_signed_by_untrusted_key() -> None:
    receipts = ChainBuilder(OTHER).extend(3).receipts
    chain = verify_docs(receipts, KEY.raw)
    assert Code.INVALID_SIGNATURE in chain.receipts[0].failures
    assert chain.genesis_key_fingerprint is None


def test_unknown_issuer_key(tmp_path: Path) -> None:
    receipts = _chain(2)
    store = trust(KEY.raw, issuer="did:agent:someone-else")
    result = verify_paths([write_jsonl(tmp_path / "c.jsonl", receipts)], store)
    assert Code.UNKNOWN_ISSUER_KEY in codes(result.chains[0])


def test_issuer_mismatch_inside_a_chain() -> None:
    receipts = _chain(3)
    receipts[2] = resign({**receipts[2], "issuer": {"id": "did:agent:impostor", "name": "x"}}, KEY)
    assert Code.ISSUER_MISMATCH in verify_docs(receipts, KEY.raw).receipts[2].failures


def test_genesis_must_have_null_previous_hash() -> None:
    receipts = _chain(2)
    receipts[0]["credentialSubject"]["chain"]["previous_receipt_hash"] = "sha256:" + "0" * 64
    receipts[0] = resign(receipts[0], KEY)
    assert Code.GENESIS_NOT_NULL in verify_docs(receipts, KEY.raw).receipts[0].failures


def test_v060_response_disclosure_receipts_verify(tmp_path: Path) -> None:
    import obsigna

    forensic = obsigna.generate_forensic_key_pair()
    envelope = obsigna.encrypt_response({"result": "ok"}, forensic.public_key, "did:key:z6Mk#enc-1")
    builder = ChainBuilder(KEY)
    doc = builder.add(response_body={"result": "ok"})
    doc["credentialSubject"]["outcome"]["response_disclosure"] = envelope
    builder.receipts[-1] = resign(doc, KEY)
    chain = verify_docs(builder.receipts, KEY.raw)
    assert chain.valid, chain.failures
    assert builder.receipts[0]["version"] == "0.6.0"


def test_response_hash_checked_against_bodies(tmp_path: Path) -> None:
    from reporting.receipts.external import BodiesDirectory

    builder = ChainBuilder(KEY)
    doc = builder.add(response_body={"status": 200, "items": ["a", "b"]})
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    name = doc["id"].removeprefix("urn:receipt:")
    (bodies / f"{name}.json").write_text(json.dumps({"items": ["a", "b"], "status": 200}))
    assert verify_docs(builder.receipts, KEY.raw, bodies=BodiesDirectory(bodies)).valid
    (bodies / f"{name}.json").write_text(json.dumps({"items": ["a"], "status": 200}))
    chain = verify_docs(builder.receipts, KEY.raw, bodies=BodiesDirectory(bodies))
    assert Code.RESPONSE_HASH_MISMATCH in codes(chain)
    no_bodies = verify_docs(builder.receipts, KEY.raw)
    assert no_bodies.valid
    assert Code.RESPONSE_BODY_NOT_SUPPLIED in warning_codes(no_bodies)


def test_warnings_do_not_fail_a_chain() -> None:
    builder = ChainBuilder(KEY)
    builder.add(idempotency_key="req-1", outcome="failure")
    builder.add(idempotency_key="req-1")
    builder.add("agent_receipts.events_dropped", "medium", emitter_metadata={"drop_count": 7})
    builder.add("system.command.execute", "low", outcome="pending")
    chain = verify_docs(builder.receipts, KEY.raw)
    assert chain.valid, chain.failures
    assert {
        Code.DUPLICATE_IDEMPOTENCY_KEY,
        Code.EVENTS_DROPPED,
        Code.INCOMPLETE_TOOL_ROUNDTRIP,
        Code.RISK_BELOW_TAXONOMY_DEFAULT,
    } <= set(warning_codes(chain))


def test_grounded_principal_with_grants() -> None:
    from reporting.receipts.external import Grant

    builder = ChainBuilder(KEY, principal="did:user:alice")
    auth = {"scopes": ["payments:write"], "granted_at": "2026-10-01T09:00:00Z"}
    builder.add("financial.payment.initiate", "critical", authorization=auth | {"grant_ref": "g-1"})
    builder.add("financial.payment.initiate", "critical", authorization=auth | {"grant_ref": "g-2"})
    builder.add(
        "financial.payment.initiate", "critical", authorization=auth | {"grant_ref": "g-404"}
    )
    builder.add("financial.payment.initiate", "critical", authorization=auth)
    builder.add("filesystem.file.read", "low")
    grants = {"g-1": Grant(subject="did:user:alice"), "g-2": Grant(subject="did:user:mallory")}
    chain = verify_docs(builder.receipts, KEY.raw, grants=grants)
    assert [r.failures for r in chain.receipts] == [
        (),
        (Code.PRINCIPAL_GRANT_MISMATCH,),
        (Code.UNGROUNDED_PRINCIPAL,),
        (Code.UNGROUNDED_PRINCIPAL,),
        (),
    ]
    assert verify_docs(builder.receipts, KEY.raw).valid  # no grants file: tier not claimed


def test_delegation_across_chains(tmp_path: Path) -> None:
    parent = ChainBuilder(KEY, chain_id="chain_parent", issuer="did:agent:parent").extend(2)
    spawn = parent.receipts[1]
    ok = {
        "parent_chain_id": "chain_parent",
        "parent_receipt_id": spawn["id"],
        "delegator": {"id": "did:agent:parent"},
    }
    child = ChainBuilder(KEY, chain_id="chain_child", issuer="did:agent:child")
    child.add(delegation=ok)
    child.extend(1)
    wrong = ChainBuilder(KEY, chain_id="chain_wrong", issuer="did:agent:child2")
    wrong.add(delegation=ok | {"delegator": {"id": "did:agent:someone"}})
    orphan = ChainBuilder(KEY, chain_id="chain_orphan", issuer="did:agent:child3")
    orphan.add(delegation=ok | {"parent_chain_id": "chain_missing"})
    other_principal = ChainBuilder(
        KEY, chain_id="chain_p", issuer="did:agent:c4", principal="did:user:bob"
    )
    other_principal.add(delegation=ok)
    path = write_jsonl(
        tmp_path / "all.jsonl",
        parent.receipts
        + child.receipts
        + wrong.receipts
        + orphan.receipts
        + other_principal.receipts,
    )
    result = verify_paths([path], trust(KEY.raw))
    by_id = {c.chain_id: c for c in result.chains}
    assert by_id["chain_parent"].valid
    assert by_id["chain_child"].valid
    for broken in ("chain_wrong", "chain_orphan", "chain_p"):
        assert codes(by_id[broken]) == {Code.DELEGATION_UNVERIFIABLE}, broken
        assert by_id[broken].receipts[0].failures == (Code.DELEGATION_UNVERIFIABLE,)


def test_a_witnessed_chain_missing_from_the_input(tmp_path: Path) -> None:
    from reporting.receipts.external import Witness

    receipts = _chain(2, chain_id="present")
    witnesses = {"present": Witness(2, None), "deleted": Witness(7, None)}
    result = verify_paths(
        [write_jsonl(tmp_path / "c.jsonl", receipts)], trust(KEY.raw), witnesses=witnesses
    )
    assert [(p.code, "deleted" in p.message) for p in result.input_problems] == [
        (Code.WITNESS_CHAIN_MISSING, True)
    ]
    assert not result.valid
    assert result.chains[0].valid
