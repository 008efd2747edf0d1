"""The Pipelock verifier's rules, one at a time, on records signed independently.

The tests named `..._0_4_1_...` show, with `pipelock-verify` 0.4.1 itself, a change it
accepts that we detect (PIPELOCK.md §5: tail truncation with the close removed, an
edited recorder line, a forged v2 entry, ext on the last receipt).
"""

from __future__ import annotations

import ast
import json
from datetime import timedelta
from pathlib import Path

import pytest

from reporting.errors import KeyStoreError
from reporting.pipelock import (
    PipelockKind,
    action_evidence,
    detect_pipelock,
    is_pipelock_key_file,
    load_pipelock_key_file,
    parse_pipelock_section,
)
from reporting.pipelock.canonical import canonical_action_record
from reporting.pipelock.evidence_v2 import pipelock_jcs
from reporting.pipelock.strictjson import PipelockFormatError, decode_text, go_string, loads_strict
from reporting.pipelock.timefmt import normalise_rfc3339
from reporting.receipts.external import Witness
from reporting.receipts.keys import fingerprint
from reporting.receipts.results import Code, Outcome, Termination
from reporting.yamlio import load_yaml_text

from .pipelock_support import (
    ATTACKER,
    KEY_A,
    KEY_B,
    ROOT,
    START,
    build_world,
    detail_text,
    failure_codes,
    rehash,
    text_of,
    trust,
    v1_chain,
    v2_chain,
    verify,
    warning_codes,
    with_detail,
    writer,
)

pipelock_verify = pytest.importorskip("pipelock_verify")


def lines_of_type(lines: list[str], kind: str) -> list[int]:
    return [i for i, line in enumerate(lines) if json.loads(line)["type"] == kind]


def verdict_041(tmp_path: Path, text: str, key: str = KEY_A.hex, **kw) -> bool:
    path = tmp_path / "evidence-proxy-0.jsonl"
    path.write_text(text)
    return bool(pipelock_verify.verify_chain(path, key, session_id="proxy", **kw).valid)


# -- strict parsing and Go's bytes --------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":2}',
        '{"a":1} {"b":2}',
        '{"a":NaN}',
        '{"a":-0}',
        '{"a":"\\ud800"}',
        "\ufeff{}",
        "[" * 129 + "]" * 129,
    ],
    ids=["duplicate", "trailing", "nan", "minus-zero", "lone-surrogate", "bom", "depth-129"],
)
def test_ambiguous_json_is_refused(text: str) -> None:
    with pytest.raises(PipelockFormatError):
        loads_strict(decode_text(text.encode()))


def test_nesting_up_to_128_is_read() -> None:
    value = loads_strict("[" * 128 + "]" * 128)
    for _ in range(127):
        (value,) = value
    assert value == []


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(PipelockFormatError):
        decode_text(b'{"a":"\xff"}')


def test_go_escaping_is_html_safe_and_keeps_the_rest_raw() -> None:
    assert go_string("<a&b>\u2028\u2029") == '"\\u003ca\\u0026b\\u003e\\u2028\\u2029"'
    assert go_string('\x01\b\f\n\r\t"\\') == '"\\u0001\\b\\f\\n\\r\\t\\"\\\\"'
    assert go_string("/é\ufffd\x7f") == '"/é\ufffd\x7f"'


def test_go_escaping_fast_path_matches_the_full_encoder() -> None:
    html = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})
    html |= str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})
    samples = [chr(c) for c in range(0x80)] + [
        "é",
        "\u2028",
        "\ufffd",
        "日本",
        "a/b c",
        "\U0001f600",
    ]
    for text in samples + ["x" + t + "y" for t in samples]:
        assert go_string(text) == json.dumps(text, ensure_ascii=False).translate(html), repr(text)


def _record(**extra) -> dict:
    base = {
        "version": 1, "action_id": "a", "action_type": "read", "timestamp": "2026-10-05T09:00:00Z",
        "principal": "p", "actor": "x", "target": "t", "side_effect_class": "none",
        "reversibility": "full", "policy_hash": "h", "verdict": "allow", "transport": "fetch",
        "chain_prev_hash": "genesis", "chain_seq": 0,
    }  # fmt: skip
    return base | extra


def test_omitempty_and_zero_values_follow_go() -> None:
    plain = canonical_action_record(_record()).decode()
    assert '"delegation_chain":null' in plain  # not omitempty: written as Go's nil slice
    assert '"delegation_chain":[]' in canonical_action_record(_record(delegation_chain=[])).decode()
    dropped = _record(data_classes_in=[], session_contaminated=False, method="", chain_seq=0)
    assert canonical_action_record(dropped).decode() == plain
    assert '"chain_seq":0' in plain  # not omitempty
    redaction = canonical_action_record(_record(redaction={})).decode()
    assert '"redaction":{}' in redaction  # a non-nil pointer is written, its omitempty members not
    open_ = {"session_control": {"kind": "session_open", "open": {}}}
    written = canonical_action_record(_record(**open_)).decode()
    assert '"open":{"run_nonce":"","open_nonce":"","recorder_session":"",' in written
    by_class = _record(redaction={"by_class": {"z": 1, "a": 2}})
    assert '"by_class":{"a":2,"z":1}' in canonical_action_record(by_class).decode()
    # absent required members are Go's zero values: the same bytes as written out
    assert canonical_action_record({k: v for k, v in _record().items() if k != "principal"}) == (
        canonical_action_record(_record(principal=""))
    )


@pytest.mark.parametrize(
    "change",
    [
        {"chain_seq": 1.0},
        {"chain_seq": True},
        {"chain_seq": -1},
        {"chain_seq": 2**64},
        {"version": "1"},
        {"session_contaminated": 1},
        {"delegation_chain": [None]},
        {"Action_ID": "a"},
        {"unknown": 1},
        {"redaction": {"total_redactions": 1, "extra": True}},
        {"recent_taint_sources": [{"url": "u", "kind": "k", "level": 256, "timestamp": "t"}]},
    ],
    ids=lambda c: next(iter(c)),
)
def test_go_types_and_unknown_members_are_refused(change: dict) -> None:
    from reporting.pipelock.canonical import SchemaError

    with pytest.raises(SchemaError):
        canonical_action_record(_record(**change))


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("2026-04-15T12:00:00Z", "2026-04-15T12:00:00Z"),
        ("2026-04-15T12:00:00.120Z", "2026-04-15T12:00:00.12Z"),
        ("2026-04-15T14:00:00+02:00", "2026-04-15T12:00:00Z"),
        ("2026-04-15T12:00:00.000000000Z", "2026-04-15T12:00:00Z"),
        ("2026-04-15T12:00:00.123456789-00:30", "2026-04-15T12:30:00.123456789Z"),
    ],
)
def test_timestamps_normalise_like_go(text: str, normal: str) -> None:
    assert normalise_rfc3339(text) == normal


@pytest.mark.parametrize(
    "text",
    [
        "2026-04-15 12:00:00Z",
        "2026-04-15T12:00:00",
        "2026-02-30T00:00:00Z",
        "2026-04-15T12:00:00.1234567891Z",
    ],
)
def test_timestamps_go_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"timestamp|invalid date"):
        normalise_rfc3339(text)


def test_v2_canonical_form_is_nfc_sorted_and_go_escaped() -> None:
    value = {"b": "e\u0301&<", "a": [1, True, None]}
    assert pipelock_jcs(value) == '{"a":[1,true,null],"b":"é\\u0026\\u003c"}'.encode()
    from reporting.pipelock.canonical import SchemaError

    with pytest.raises(SchemaError):
        pipelock_jcs({"a": 1.5})
    with pytest.raises(SchemaError):
        pipelock_jcs({"e\u0301": 1, "é": 2})  # equal after NFC


# -- a clean world and what 0.4.1 misses --------------------------------------------------


def test_a_clean_session_verifies_and_agrees_with_0_4_1(tmp_path: Path) -> None:
    world = build_world()
    result = verify(world.text)
    assert result.valid, failure_codes(result)
    chain = v1_chain(result)
    assert chain.termination is Termination.COMPLETE
    assert chain.issuer == "test-recorder"
    assert chain.genesis_key_fingerprint == fingerprint(bytes.fromhex(KEY_A.hex))
    assert v2_chain(result).length == 4
    assert verdict_041(tmp_path, world.text)


def test_tail_truncation_is_detected_where_0_4_1_accepts_it(tmp_path: Path) -> None:
    world = build_world()
    close = lines_of_type(world.lines, "action_receipt")[-1]
    for cut in (close, close - 1, close - 3):  # the close removed, and more with it
        text = text_of(world.lines[:cut])
        assert verdict_041(tmp_path, text)
        result = verify(text)
        assert Code.SESSION_NOT_CLOSED in failure_codes(result)
        assert v1_chain(result).receipts[-1].outcome is Outcome.FAILED


def test_truncated_without_session_control_is_only_caught_by_a_witness() -> None:
    world = build_world(close=False, seal=False)
    bare = world.receipt_lines()
    # strip session control: a legacy chain cannot say where it ends
    legacy = [line for line in bare if '"session_control"' not in line]
    assert legacy != bare
    full = verify(text_of(bare))
    assert failure_codes(full) == {Code.SESSION_NOT_CLOSED}
    head, length = v1_chain(full).head_hash, v1_chain(full).length
    assert head is not None
    pinned = {v1_chain(full).chain_id: Witness(length=length, final_hash=head)}
    assert verify(text_of(bare), witnesses=pinned).valid  # the witness stands in for the close
    cut = verify(text_of(bare[:-1]), witnesses={"proxy": Witness(length=length, final_hash=head)})
    assert {Code.LENGTH_MISMATCH, Code.FINAL_HASH_MISMATCH} <= failure_codes(cut)


def test_an_edited_recorder_line_is_detected_where_0_4_1_accepts_it(tmp_path: Path) -> None:
    world = build_world()
    line = lines_of_type(world.lines, "action_receipt")[3]  # the DLP block
    edited = list(world.lines)
    edited[line] = edited[line].replace('"summary":"receipt: block', '"summary":"receipt: allow')
    assert edited != world.lines
    assert verdict_041(tmp_path, text_of(edited))
    result = verify(text_of(edited))
    assert Code.RECORDER_ENTRY_HASH_MISMATCH in failure_codes(result)
    # rewritten with every later hash recomputed: the signed checkpoint still catches it
    rehashed = verify(text_of(rehash(edited)))
    assert Code.CHECKPOINT_INVALID in failure_codes(rehashed)
    assert Code.RECORDER_ENTRY_HASH_MISMATCH not in failure_codes(rehashed)


def test_a_forged_v2_entry_is_detected_where_0_4_1_accepts_it(tmp_path: Path) -> None:
    world = build_world()
    line = lines_of_type(world.lines, "evidence_receipt")[1]
    forged = list(world.lines)
    forged[line] = forged[line].replace('"verdict":"block"', '"verdict":"allow"')
    assert forged != world.lines
    forged = rehash(forged, KEY_A)  # even with the recorder key for the checkpoints
    assert verdict_041(tmp_path, text_of(forged))
    result = verify(text_of(forged))
    assert failure_codes(result) == {Code.INVALID_SIGNATURE, Code.HASH_LINK_BROKEN}
    assert v2_chain(result).receipts[1].failures == (Code.INVALID_SIGNATURE,)
    assert v1_chain(result).valid


def test_a_v2_entry_signed_by_another_key_is_not_trusted() -> None:
    world = build_world()
    line = lines_of_type(world.lines, "evidence_receipt")[0]
    document = json.loads(detail_text(world.lines[line]))
    forged = writer.sign_evidence(document, ATTACKER, ATTACKER.hex, "receipt-signing")
    lines = list(world.lines)
    lines[line] = with_detail(lines[line], writer.go_json(forged))
    result = verify(text_of(rehash(lines, KEY_A)))
    assert Code.UNKNOWN_ISSUER_KEY in v2_chain(result).receipts[0].failures


def test_ext_on_the_last_receipt_is_detected_where_0_4_1_accepts_it(tmp_path: Path) -> None:
    world = build_world()
    bare = world.receipt_lines()
    with_ext = [*bare[:-1], bare[-1][:-1] + ',"ext":{"note":"added later"}}']
    path = tmp_path / "receipts.jsonl"
    path.write_text(text_of(with_ext))
    assert pipelock_verify.verify_chain(path, KEY_A.hex, session_id="proxy").valid
    result = verify(text_of(with_ext))
    assert failure_codes(result) == {Code.UNBOUND_EXT}
    # inside the chain, ext is bound by the next receipt's link
    middle = [*bare[:2], bare[2][:-1] + ',"ext":{"a":1}}', *bare[3:]]
    assert Code.HASH_LINK_BROKEN in v1_chain(verify(text_of(middle))).receipts[3].failures


def test_ext_covered_by_a_signed_checkpoint_is_bound() -> None:
    world = build_world()
    line = lines_of_type(world.lines, "action_receipt")[-1]
    lines = list(world.lines)
    detail = detail_text(lines[line])
    lines[line] = with_detail(lines[line], detail[:-1] + ',"ext":{"k":"v"}}')
    result = verify(text_of(rehash(lines, KEY_A)))
    # the recorder wrote it (its checkpoint signs it), but the transcript root disagrees
    assert Code.UNBOUND_EXT not in failure_codes(result)
    assert Code.TRANSCRIPT_ROOT_MISMATCH in failure_codes(result)


# -- sessions, rotation, files ------------------------------------------------------------


def _emitter(key=KEY_A, session="proxy"):
    import random

    recorder = writer.Recorder(session_id=session)
    return recorder, writer.Emitter(recorder, key, random.Random(5), actor="finance-ops")


def test_a_close_whose_counts_disagree_is_reported() -> None:
    recorder, emitter = _emitter()
    emitter.open(START)
    emitter.emit(START + timedelta(seconds=1), target="https://x.example", transport="fetch")
    emitter.close(START + timedelta(seconds=2), receipt_count=7)
    result = verify(recorder.text())
    assert failure_codes(result) == {Code.SESSION_COUNT_MISMATCH}


def test_a_receipt_after_the_close_is_after_terminal() -> None:
    recorder, emitter = _emitter()
    emitter.open(START)
    emitter.close(START + timedelta(seconds=1))
    emitter.emit(START + timedelta(seconds=2), target="https://x.example", transport="fetch")
    assert Code.RECEIPT_AFTER_TERMINAL in failure_codes(verify(recorder.text()))


def test_restarts_continue_one_chain_across_files() -> None:
    recorder, emitter = _emitter()
    moment = START
    for day in range(3):
        moment = START + timedelta(days=day)
        emitter.open(moment)
        emitter.emit(moment + timedelta(seconds=3), target="https://x.example", transport="fetch")
        emitter.close(moment + timedelta(seconds=4))
        emitter.transcript_root(moment + timedelta(seconds=5))
        recorder.checkpoint(writer.iso(moment + timedelta(seconds=6)), KEY_A)
    cut = len(recorder.lines) // 3 + 1
    first, second = text_of(recorder.lines[:cut]), text_of(recorder.lines[cut:])
    joined = verify((second, "evidence-proxy-5.jsonl"), (first, "evidence-proxy-0.jsonl"))
    assert joined.valid, failure_codes(joined)
    assert v1_chain(joined).length == 9
    alone = verify(second)
    assert {Code.RECORDER_LINK_BROKEN, Code.SEQUENCE_GAP} <= failure_codes(alone)


def test_two_recorders_with_one_session_name_are_two_chains() -> None:
    one, two = build_world(seed=1), build_world(seed=2, key=KEY_B)
    result = verify(one.text, two.text, keys=trust(KEY_A).union(trust(KEY_B, name="other")))
    assert result.valid
    assert sorted(c.issuer or "" for c in result.chains if c.source_kind == "pipelock") == [
        "other",
        "test-recorder",
    ]


def test_a_session_open_at_genesis_and_a_broken_g1_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(writer, "g1_genesis", lambda payload: "g1:" + "0" * 64)
    recorder, emitter = _emitter()
    emitter.open(START)
    emitter.close(START + timedelta(seconds=1))
    assert Code.SESSION_BINDING_INVALID in failure_codes(verify(recorder.text()))
    monkeypatch.setattr(writer, "g1_genesis", lambda payload: "genesis")
    recorder, emitter = _emitter()
    emitter.open(START)
    emitter.close(START + timedelta(seconds=1))
    assert Code.SESSION_BINDING_INVALID in failure_codes(verify(recorder.text()))


def test_rotation_is_trusted_only_through_its_endorsement() -> None:
    world = build_world(rotate=True, log_endorsement=False)
    assert Code.ROTATION_INVALID in failure_codes(verify(world.text))
    result = verify(world.text, *world.endorsement_files())
    assert result.valid
    assert [r.valid for r in v1_chain(result).rotations] == [True]
    # an endorsement for this boundary signed by someone else is not one
    forged = writer.endorse("proxy", ATTACKER, 0, "0" * 64, KEY_B.hex, "2026-10-05T09:00:00Z")
    assert Code.ROTATION_INVALID in failure_codes(
        verify(world.text, (json.dumps(forged), "e.json"))
    )


def test_an_endorsement_for_another_session_does_not_rotate() -> None:
    world = build_world(rotate=True, log_endorsement=False)
    endorsement = dict(world.emitter.endorsements[0])
    other = writer.endorse(
        "another-session", KEY_A, endorsement["prior_final_seq"], endorsement["prior_tail_hash"],
        KEY_B.hex, endorsement["rotated_at"],
    )  # fmt: skip
    result = verify(world.text, (json.dumps(other), "other.json"))
    assert Code.ROTATION_INVALID in failure_codes(result)
    assert [r.valid for r in v1_chain(result).rotations] == [False]


def test_sessions_in_the_trust_store_limit_a_key() -> None:
    world = build_world(session="proxy")
    assert verify(world.text, keys=trust(KEY_A, sessions=("proxy",))).valid
    other = verify(world.text, keys=trust(KEY_A, sessions=("edge",)))
    assert failure_codes(other) == {Code.UNKNOWN_ISSUER_KEY}


def test_an_untrusted_but_self_consistent_log_only_lacks_trust() -> None:
    world = build_world(key=ATTACKER)
    result = verify(world.text)
    assert failure_codes(result) == {Code.UNKNOWN_ISSUER_KEY}
    assert not any(row.trusted for row in action_evidence(result))
    assert all(row.signer_fingerprint is None for row in action_evidence(result))


def test_an_unnormalised_timestamp_is_flagged() -> None:
    recorder, emitter = _emitter()
    emitter.open(START)
    emitter.emit(
        START, target="https://x.example", transport="fetch", timestamp="2026-10-05T11:00:00+02:00"
    )
    emitter.close(START + timedelta(seconds=1))
    assert failure_codes(verify(recorder.text())) == {Code.TIMESTAMP_NOT_NORMALISED}


# -- recorder entries ---------------------------------------------------------------------


def test_an_unknown_entry_type_is_a_warning() -> None:
    world = build_world()
    extra = world.lines[1].replace('"type":"action_receipt"', '"type":"telemetry"')
    lines = rehash([world.lines[0], extra, *world.lines[1:]], KEY_A)
    result = verify(text_of(lines))
    assert Code.UNKNOWN_ENTRY_TYPE in warning_codes(result)
    assert Code.UNKNOWN_ENTRY_TYPE not in failure_codes(result)


def test_a_checkpoint_signed_by_another_key_is_invalid() -> None:
    world = build_world()
    assert verify(text_of(rehash(world.lines, KEY_A))).valid
    assert failure_codes(verify(text_of(rehash(world.lines, ATTACKER)))) == {
        Code.CHECKPOINT_INVALID
    }


def test_a_transcript_root_that_disagrees_with_the_chain_is_reported() -> None:
    world = build_world()
    line = lines_of_type(world.lines, "transcript_root")[0]
    lines = list(world.lines)
    root = json.loads(detail_text(lines[line]))
    root["receipt_count"] += 1
    lines[line] = with_detail(lines[line], writer.go_json(root))
    assert failure_codes(verify(text_of(rehash(lines, KEY_A)))) == {Code.TRANSCRIPT_ROOT_MISMATCH}


# -- redaction: labelled, never forged, never evidence ------------------------------------


def _redact(world, detail_of) -> str:
    line = lines_of_type(world.lines, "action_receipt")[3]
    lines = list(world.lines)
    lines[line] = with_detail(lines[line], detail_of(json.loads(detail_text(lines[line]))))
    return text_of(rehash(lines, KEY_A))  # the recorder redacts before hashing and signing


def _selective(receipt: dict) -> str:
    receipt["action_record"]["target"] = "[REDACTED]"
    receipt["action_record"]["redacted_fields"] = ["target"]
    return json.dumps(receipt, sort_keys=True, separators=(",", ":"))  # Go map order


@pytest.mark.parametrize(
    "detail_of",
    [
        _selective,
        lambda _: (
            '{"detected_patterns":["[REDACTED:aws_access_key_id]"],"original_size":912,"redacted":true}'
        ),
    ],
    ids=["selective", "whole"],
)
def test_a_receipt_redacted_by_the_recorder_is_labelled_not_forged(detail_of) -> None:
    result = verify(_redact(build_world(), detail_of))
    assert result.valid, failure_codes(result)
    chain = v1_chain(result)
    assert Code.RECEIPT_REDACTED in warning_codes(result)
    assert chain.receipts[3].outcome is Outcome.INDETERMINATE
    assert Code.HASH_LINK_BROKEN not in chain.receipts[4].failures
    rows = list(action_evidence(result))
    assert rows[3].redacted
    assert not rows[3].trusted
    assert all(r.trusted for n, r in enumerate(rows) if n != 3)


def test_a_redaction_marker_on_a_signed_verdict_is_malformed() -> None:
    def fake(receipt: dict) -> str:
        receipt["action_record"]["verdict"] = "[REDACTED]"
        receipt["action_record"]["redacted_fields"] = ["verdict"]
        return json.dumps(receipt, separators=(",", ":"))

    assert Code.MALFORMED_RECEIPT in failure_codes(verify(_redact(build_world(), fake)))


# -- v2 -----------------------------------------------------------------------------------


def _v2_line(document: dict, purpose: str = "receipt-signing", key=KEY_A) -> str:
    signed = writer.sign_evidence(document, key, key.hex, purpose)
    return json.dumps(signed)


def _v2_document(**extra) -> dict:
    return {
        "record_type": "evidence_receipt_v2", "receipt_version": 2,
        "payload_kind": "proxy_decision", "event_id": "e1",
        "timestamp": "2026-10-05T09:00:00Z", "chain_seq": 0, "chain_prev_hash": "genesis",
        "payload": {"action_type": "connect", "target": "x.example", "verdict": "allow",
                    "transport": "forward", "policy_sources": ["t"], "winning_source": "t"},
    } | extra  # fmt: skip


def test_v2_key_purposes_follow_the_authority_matrix() -> None:
    assert verify((_v2_line(_v2_document()), "one.json")).valid
    wrong = verify((_v2_line(_v2_document(), "contract-activation-signing"), "one.json"))
    assert failure_codes(wrong) == {Code.KEY_PURPOSE_MISMATCH}


def test_v2_extensions_are_accepted_only_in_pipelocks_exact_form() -> None:
    from reporting.pipelock.evidence_v2 import CANONICALIZATION

    good = _v2_document(
        canonicalization=CANONICALIZATION, crit=["canonicalization"], policy_hash="sha256:00"
    )
    assert verify((_v2_line(good), "one.json")).valid
    bad = _v2_document(
        canonicalization=CANONICALIZATION | {"jcs_version": "other"}, crit=["canonicalization"]
    )
    assert failure_codes(verify((_v2_line(bad), "one.json"))) == {Code.MALFORMED_RECEIPT}
    unknown = _v2_document(crit=["future_extension"])
    assert Code.MALFORMED_RECEIPT in failure_codes(verify((_v2_line(unknown), "one.json")))


# -- trust inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [KEY_A.hex + "\n", KEY_A.hex.upper(), json.dumps({"public_key_hex": KEY_A.hex, "note": "x"})],
)
def test_pipelock_key_files_load(tmp_path: Path, content: str) -> None:
    path = tmp_path / "signing.pub"
    path.write_text(content)
    assert is_pipelock_key_file(content.encode())
    loaded = load_pipelock_key_file(path)
    assert loaded.recorders[0].keys[0].raw == bytes.fromhex(KEY_A.hex)
    assert loaded.recorders[0].sessions is None


@pytest.mark.parametrize(
    "content", ["abc\n", KEY_A.hex + "00", "-----BEGIN PUBLIC KEY-----\n", "{}"]
)
def test_a_file_that_is_not_a_pipelock_key_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "signing.pub"
    path.write_text(content)
    with pytest.raises(KeyStoreError) as raised:
        load_pipelock_key_file(path)
    assert raised.value.code == "INVALID_KEY"


def _section(text: str, tmp_path: Path):
    data = load_yaml_text(text, source="trust.yaml")
    return parse_pipelock_section(data["pipelock"], source="trust.yaml", base=tmp_path, line=1)


def test_the_trust_store_section_names_recorders_and_limits_sessions(tmp_path: Path) -> None:
    (tmp_path / "finance.pub").write_text(KEY_B.hex + "\n")
    trust_store = _section(
        f"pipelock:\n"
        f"  - name: edge-proxy-prod\n"
        f"    keys: [{{hex: '{KEY_A.hex}'}}]\n"
        f"    sessions: [proxy]\n"
        f"  - name: finance-proxy\n"
        f"    keys: [{{file: finance.pub}}]\n",
        tmp_path,
    )
    assert [r.name for r in trust_store.recorders] == ["edge-proxy-prod", "finance-proxy"]
    result = verify(build_world().text, build_world(seed=2, key=KEY_B).text, keys=trust_store)
    assert result.valid
    assert {c.issuer for c in result.chains} == {"edge-proxy-prod", "finance-proxy"}


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("  - name: a\n    keys: [{hex: 'abc'}]\n", 3),
        ("  - name: a\n    keys: [{hex: 1234}]\n", 3),
        ("  - name: a\n    keys: []\n", 3),
        ("  - name: a\n    keys: [{pem: x}]\n", 3),
        ("  - name: a\n    colour: red\n    keys: [{hex: 'abc'}]\n", 3),
        ("  - name: a\n    keys: [{hex: '" + "a" * 64 + "'}]\n    sessions: []\n", 4),
        (
            "  - name: a\n    keys: [{hex: '"
            + "a" * 64
            + "'}]\n  - name: a\n    keys: [{hex: '"
            + "b" * 64
            + "'}]\n",
            1,
        ),
    ],
    ids=[
        "short-hex",
        "yaml-int",
        "no-keys",
        "other-form",
        "unknown-key",
        "empty-sessions",
        "same-name",
    ],
)
def test_trust_store_section_errors_name_the_line(tmp_path: Path, body: str, line: int) -> None:
    with pytest.raises(KeyStoreError) as raised:
        _section("pipelock:\n" + body, tmp_path)
    (diagnostic,) = raised.value.diagnostics()
    assert (diagnostic.source, diagnostic.line) == ("trust.yaml", line)


def test_trust_is_the_union_of_every_keys_input(tmp_path: Path) -> None:
    (tmp_path / "a.pub").write_text(KEY_A.hex)
    (tmp_path / "b.pub").write_text(KEY_B.hex)
    both = load_pipelock_key_file(tmp_path / "a.pub").union(
        load_pipelock_key_file(tmp_path / "b.pub")
    )
    assert verify(build_world().text, build_world(seed=3, key=KEY_B).text, keys=both).valid
    only_a = load_pipelock_key_file(tmp_path / "a.pub")
    assert failure_codes(verify(build_world(seed=3, key=KEY_B).text, keys=only_a)) == {
        Code.UNKNOWN_ISSUER_KEY
    }


# -- detection and evidence ---------------------------------------------------------------


def test_detection_reads_content_only() -> None:
    world = build_world()
    assert detect_pipelock(world.text.encode()) is PipelockKind.RECORDER
    assert detect_pipelock(text_of(world.receipt_lines()).encode()) is PipelockKind.RECEIPT_LINES
    pretty = json.dumps(json.loads(_v2_line(_v2_document())), indent=2).encode()
    assert detect_pipelock(pretty) is PipelockKind.EVIDENCE_RECEIPT
    receipt = json.dumps({"@context": [], "credentialSubject": {}, "proof": {}}).encode()
    for other in (
        receipt,
        receipt + b"\n" + receipt,
        b"[" + receipt + b"]",
        b"",
        b"  \n",
        b"SQLite format 3\x00",
    ):
        assert detect_pipelock(other) is None


def test_action_evidence_carries_the_signed_fields_and_trust(tmp_path: Path) -> None:
    result = verify(build_world(rotate=True).text)
    rows = list(action_evidence(result))
    assert len(rows) == v1_chain(result).length == 13
    assert all(
        r.trusted and r.source_kind == "pipelock" and r.recorder == "test-recorder" for r in rows
    )
    assert [r.session_control for r in rows[:1]] == ["session_open"]
    assert [r.channel for r in rows[1:8]] == [
        "http",
        "http",
        "http",
        "http",
        "mcp",
        "websocket",
        "http",
    ]
    block = rows[3]
    assert (block.verdict, block.layer, block.pattern, block.severity) == (
        "block",
        "dlp",
        "aws_access_key_id",
        "critical",
    )
    assert block.data_classes_out == ("credentials", "secrets")
    assert rows[4].payload_redactions == 2
    assert (rows[2].session_id, rows[2].session_id_original) == ("sess_demo", "sess_demo_parent")
    assert rows[5].request_id == "7"
    assert rows[0].signer_fingerprint == fingerprint(bytes.fromhex(KEY_A.hex))
    assert rows[-1].signer_fingerprint == fingerprint(bytes.fromhex(KEY_B.hex))  # endorsed
    assert rows[-1].session_control == "session_close"
    assert json.dumps(rows[3].to_json())  # plain data


def test_rows_of_a_broken_chain_are_never_trusted() -> None:
    world = build_world()
    lines = world.lines[:3] + world.lines[4:]  # a receipt line dropped
    rows = list(action_evidence(verify(text_of(lines))))
    assert rows
    assert not any(r.trusted for r in rows)


# -- the tool never runs the vendor's code ------------------------------------------------


def test_reporting_never_imports_pipelock_verify() -> None:
    offenders = []
    for path in (ROOT / "reporting").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] == "pipelock_verify"]
        if "import_module" in path.read_text() and "pipelock_verify" in path.read_text():
            offenders.append(f"{path}: dynamic import")
    assert offenders == []


def test_pipelock_uses_no_private_name_of_another_module() -> None:
    crossings = []
    for path in (ROOT / "reporting" / "pipelock").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reporting"):
                crossings += [
                    f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")
                ]
    assert crossings == []
