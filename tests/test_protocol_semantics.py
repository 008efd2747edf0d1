"""Verify exactly what the protocol says, no more and no less (issue 13, section 7).

* a number written another way (`"sequence": 2.0`) is the same signed bytes: the schema
  reads it as the integer 2, and so do the sequence checks;
* integers beyond ±(2^53-1) are accepted in the ES6 form of their double (what the
  TypeScript and Go SDKs write) and refused as ambiguous in any other digits;
* delegation (§7.6) fails a child only when one of its four checks fails;
* a malformed receipt in the middle of a chain is the chain's first failure, where it is.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from reporting.receipts.canonical import MalformedReceiptError, parse_receipt
from reporting.receipts.external import BodiesDirectory
from reporting.receipts.results import ChainResult, Code, VerificationResult
from reporting.receipts.sources import spool_sources
from reporting.receipts.verify import VerifyOptions, verify_spool

from .factory import ChainBuilder, Key, resign, write_jsonl, write_store
from .helpers import codes, trust, verify_docs, verify_paths

KEY = Key.from_seed("protocol-semantics")


def _chain(chain_id: str, length: int, **kwargs: Any) -> list[dict[str, Any]]:
    return ChainBuilder(KEY, chain_id=chain_id, **kwargs).extend(length).receipts


def _lines(receipts: list[Any]) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in receipts]


def _verify_lines(tmp_path: Path, lines: list[str], **how: Any) -> VerificationResult:
    path = tmp_path / f"chain-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    with spool_sources([str(path)]) as spool:
        result, _ = verify_spool(spool, options=VerifyOptions(trust=trust(KEY.raw)), **how)
    return result


# -- one number, two spellings -----------------------------------------------------------------


def _sequence_as_float(receipt: dict[str, Any]) -> str:
    sequence = receipt["credentialSubject"]["chain"]["sequence"]
    text = json.dumps(receipt)
    assert text.count(f'"sequence": {sequence}') == 1
    return text.replace(f'"sequence": {sequence}', f'"sequence": {sequence}.0')


@pytest.mark.parametrize("how", [{}, {"chunk_size": 2}], ids=["whole", "chunked"])
def test_a_sequence_written_as_a_float_is_the_same_integer(
    tmp_path: Path, how: dict[str, Any]
) -> None:
    receipts = _chain("chain_float", 6)
    lines = _lines(receipts)
    lines[2] = _sequence_as_float(receipts[2])
    lines[4] = _sequence_as_float(receipts[4])
    [chain] = _verify_lines(tmp_path, lines, **how).chains
    assert chain.valid, [(p.code, p.index) for p in chain.failures]
    assert [r.sequence for r in chain.receipts] == [1, 2, 3, 4, 5, 6]


def test_a_float_sequence_in_a_store_matches_its_integer_column(tmp_path: Path) -> None:
    receipts = _chain("chain_store_float", 3)
    store = write_store(tmp_path / "store.db", receipts)
    with sqlite3.connect(store) as db:
        db.execute(
            "UPDATE receipts SET receipt_json = ? WHERE sequence = 2",
            (_sequence_as_float(receipts[1]),),
        )
    db.close()
    [chain] = verify_paths([store], trust(KEY.raw)).chains
    assert chain.valid, [(p.code, p.index) for p in chain.failures]


def test_a_fractional_sequence_is_a_schema_violation_not_a_broken_link() -> None:
    receipts = _chain("chain_fraction", 3)
    text = json.dumps(receipts[1]).replace('"sequence": 2', '"sequence": 2.5')
    chain = verify_docs([receipts[0], text.encode(), receipts[2]], KEY.raw)
    [fraction] = [r for r in chain.receipts if r.origin.line == 2]
    assert Code.SCHEMA_VIOLATION in fraction.failures


# -- integers beyond 2^53 ----------------------------------------------------------------------

ES6_FORMS = [
    "9223372036854776000",  # 2^63: what JavaScript and Go write for a 64-bit id
    "295147905179352830000",  # 2^68, RFC 8785 Appendix B (beyond 64 bits)
    "9007199254740992",  # 2^53
    "1447612329457729500",
]
NOT_ES6 = [
    "9223372036854775807",  # the same double as 2^63, other digits
    "9223372036854775808",  # 2^63 exactly, not its ES6 form
    "295147905179352825856",  # 2^68 exactly
    "9007199254740993",  # 2^53 + 1: no double holds it
    "1447612329457729537",
    "1000000000000000000000",  # 1e21: ES6 writes 1e+21
]


def _with_big_integer(text: str) -> bytes:
    """A receipt whose `reversal_window_seconds` is written `text`, signed over the RFC 8785
    bytes of the number the text names (reference SDK's canonicaliser: the value as int)."""
    builder = ChainBuilder(KEY, chain_id="chain_big").extend(1)
    doc = json.loads(json.dumps(builder.receipts[0]))
    doc["credentialSubject"]["outcome"]["reversal_window_seconds"] = int(text)
    signed = json.dumps(resign(doc, KEY))
    return signed.replace(str(int(text)), text).encode()


@pytest.mark.parametrize("text", ES6_FORMS)
def test_an_integer_in_the_es6_form_of_its_double_verifies(text: str) -> None:
    chain = verify_docs([_with_big_integer(text)], KEY.raw, chain_key="chain_big")
    assert chain.valid, [(p.code, p.message) for p in chain.failures]


@pytest.mark.parametrize("text", NOT_ES6)
def test_integer_text_that_is_not_es6_form_is_ambiguous(text: str) -> None:
    chain = verify_docs([_with_big_integer(text)], KEY.raw, chain_key="chain_big")
    assert chain.receipts[0].failures == (Code.MALFORMED_RECEIPT,)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("-9223372036854776000", b"-9223372036854776000"),
        ("295147905179352830000", b"295147905179352830000"),
        ("-9223372036854775808", None),
        ("18446744073709551616", None),
    ],
)
def test_the_canonical_bytes_of_a_big_integer_are_its_es6_text(
    text: str, canonical: bytes | None
) -> None:
    raw = b'{"n": ' + text.encode() + b', "pi": 3.5}'
    if canonical is None:
        with pytest.raises(MalformedReceiptError):
            parse_receipt(raw)
    else:
        assert parse_receipt(raw).canonical == b'{"n":' + canonical + b',"pi":3.5}'


def test_a_response_body_with_an_es6_integer_hashes_as_the_sdks_do(tmp_path: Path) -> None:
    body = '{"id": 9223372036854776000, "ok": true}'
    builder = ChainBuilder(KEY, chain_id="chain_body")
    builder.add(response_body={"id": 9223372036854776000, "ok": True})
    expected = "sha256:" + hashlib.sha256(b'{"id":9223372036854776000,"ok":true}').hexdigest()
    assert builder.receipts[0]["credentialSubject"]["outcome"]["response_hash"] == expected
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    (bodies / f"{builder.receipts[0]['id'].removeprefix('urn:receipt:')}.json").write_text(body)
    chain = verify_docs(builder.receipts, KEY.raw, bodies=BodiesDirectory(bodies))
    assert chain.valid, [(p.code, p.message) for p in chain.failures]


# -- delegation: the four checks, and nothing else ----------------------------------------------

PARENT_ISSUER = "did:agent:parent"


def _parent_and_child(parent_index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    parent = _chain("chain_parent", 4, issuer=PARENT_ISSUER)
    child = ChainBuilder(KEY, chain_id="chain_child", issuer="did:agent:child")
    child.add(
        delegation={
            "parent_chain_id": "chain_parent",
            "parent_receipt_id": parent[parent_index]["id"],
            "delegator": {"id": PARENT_ISSUER},
        }
    )
    child.extend(1)
    return parent, child.receipts


def _tampered(receipt: dict[str, Any]) -> dict[str, Any]:
    """Signed content changed without the key: its signature and the next link break."""
    changed = json.loads(json.dumps(receipt))
    changed["credentialSubject"]["action"]["risk_level"] = "critical"
    return changed


def _chains(tmp_path: Path, *chains: list[Any]) -> dict[str, ChainResult]:
    path = write_jsonl(tmp_path / "chains.jsonl", [r for chain in chains for r in chain])
    return {c.chain_id: c for c in verify_paths([path], trust(KEY.raw)).chains}


def test_a_parent_chain_broken_after_the_parent_receipt_leaves_the_child_valid(
    tmp_path: Path,
) -> None:
    parent, child = _parent_and_child(1)
    parent[2] = _tampered(parent[2])
    chains = _chains(tmp_path, parent, child)
    assert not chains["chain_parent"].valid
    assert chains["chain_parent"].broken_at == 2
    assert chains["chain_child"].valid


def test_a_parent_broken_at_or_before_the_parent_receipt_fails_the_delegation(
    tmp_path: Path,
) -> None:
    for broken in (0, 1):
        parent, child = _parent_and_child(1)
        parent[broken] = _tampered(parent[broken])
        chains = _chains(tmp_path, parent, child)
        assert chains["chain_child"].receipts[0].failures == (Code.DELEGATION_UNVERIFIABLE,)


def test_a_parent_broken_only_by_an_index_column_leaves_the_child_valid(tmp_path: Path) -> None:
    parent, child = _parent_and_child(1)
    store = write_store(tmp_path / "parent.db", parent)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE receipts SET risk_level = 'low', status = 'x' WHERE sequence <= 2")
    db.close()
    lines = write_jsonl(tmp_path / "child.jsonl", child)
    chains = {c.chain_id: c for c in verify_paths([store, lines], trust(KEY.raw)).chains}
    assert codes(chains["chain_parent"]) == {Code.INDEX_MISMATCH}
    assert chains["chain_child"].valid


def test_each_of_the_four_delegation_checks_still_fails_a_child(tmp_path: Path) -> None:
    parent, child = _parent_and_child(1)
    claim = child[0]["credentialSubject"]["delegation"]
    variants = {
        "no parent chain": {**claim, "parent_chain_id": "chain_missing"},
        "no parent receipt": {
            **claim,
            "parent_receipt_id": "urn:receipt:00000000-0000-4000-8000-000000000000",
        },
        "another delegator": {**claim, "delegator": {"id": "did:agent:someone"}},
    }
    for name, delegation in variants.items():
        doc = json.loads(json.dumps(child[0]))
        doc["credentialSubject"]["delegation"] = delegation
        chains = _chains(tmp_path, parent, [resign(doc, KEY), child[1]])
        failures = chains["chain_child"].receipts[0].failures
        assert failures == (Code.DELEGATION_UNVERIFIABLE,), name
    other = json.loads(json.dumps(child[0]))
    other["credentialSubject"]["principal"]["id"] = "did:user:bob"
    chains = _chains(tmp_path, parent, [resign(other, KEY)])
    assert chains["chain_child"].receipts[0].failures == (Code.DELEGATION_UNVERIFIABLE,)


# -- a malformed receipt where it stands ---------------------------------------------------------


def _duplicate_member(receipt: dict[str, Any]) -> str:
    """Valid JSON to SQLite (which groups it in its chain), ambiguous to our parser."""
    return json.dumps(receipt).replace('"type":', '"type": "x", "type":', 1)


@pytest.mark.parametrize("how", [{}, {"chunk_size": 2}], ids=["whole", "chunked"])
def test_a_malformed_receipt_mid_chain_is_the_chain_s_first_cause(
    tmp_path: Path, how: dict[str, Any]
) -> None:
    receipts = _chain("chain_malformed", 6)
    lines = _lines(receipts)
    lines[2] = _duplicate_member(receipts[2])
    [chain] = _verify_lines(tmp_path, lines, **how).chains
    assert chain.failures[0].code is Code.MALFORMED_RECEIPT
    assert chain.failures[0].index == 2
    assert chain.broken_at == 2
    assert chain.receipts[2].failures == (Code.MALFORMED_RECEIPT,)
    assert Code.HASH_LINK_BROKEN in chain.receipts[3].failures  # it links to the lost receipt


def test_an_oversized_receipt_mid_chain_stands_where_it_arrived(tmp_path: Path) -> None:
    receipts = _chain("chain_large", 5)
    lines = _lines(receipts)
    lines[1] = lines[1][:-1] + ', "pad": "' + "x" * (1 << 20) + '"}'
    [chain] = _verify_lines(tmp_path, lines).chains
    assert chain.failures[0].code is Code.RECEIPT_TOO_LARGE
    assert chain.broken_at == 1
    assert chain.receipts[1].failures == (Code.RECEIPT_TOO_LARGE,)


# -- the fast proof that no member was dropped ------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"version": ', '"version": "0.1.0", "version": '),  # at the top
        ('"proofPurpose": ', '"proofPurpose": "x", "proofPurpose": '),  # in the proof
        ('"status": ', '"status": "failure", "status": '),  # nested
        # the link restored as null adds a colon where the duplicate drops one
        (', "previous_receipt_hash": "', ', "sequence": 2, "was": "'),
    ],
    ids=["top level", "proof", "nested", "restored link"],
)
def test_a_duplicate_member_is_refused_on_every_path(old: str, new: str) -> None:
    text = json.dumps(_chain("chain_dup", 2)[1])  # no null, no float, no escape: the fast path
    assert old in text
    with pytest.raises(MalformedReceiptError, match="duplicate"):
        parse_receipt(text.replace(old, new, 1).encode())


def test_an_identifier_with_a_final_newline_is_not_a_uuid() -> None:
    receipt = _chain("chain_newline", 1)[0]
    chain = verify_docs([resign({**receipt, "id": receipt["id"] + "\n"}, KEY)], KEY.raw)
    assert Code.SCHEMA_VIOLATION in chain.receipts[0].failures


def test_the_bodies_warning_counts_in_words() -> None:
    """'1 receipt carries', '1,205 receipts carry': not '1 receipt(s) carry'."""
    from collections import Counter

    from reporting.receipts.rules import chain_level_problems

    [one] = chain_level_problems(1, Counter())
    [many] = chain_level_problems(1205, Counter())
    assert one.message.startswith("1 receipt carries response_hash")
    assert many.message.startswith("1,205 receipts carry response_hash")
