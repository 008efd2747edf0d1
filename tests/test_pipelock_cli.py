"""`agent-evidence verify` on Pipelock records (issue 18): detected by content among the
same sources as receipts, trusted through repeatable `--keys` and the trust store's
`pipelock:` section, witnessed like chains, printed and exported like chains."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from reporting.cli import main

from .conftest import REPO
from .factory import ChainBuilder, Key, write_jsonl

SAMPLES = REPO / "samples" / "pipelock"
DEFECTS = {d["id"]: d for d in json.loads((SAMPLES / "defects.json").read_text())["defects"]}
RECORDERS = ("dev-alice", "dev-bob", "finance-egress")
AGENT_KEY = Key.from_seed("pipelock-cli")


def _vectors_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pipelock_vectors", REPO / "scripts" / "pipelock_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pipelock_vectors"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


SCRIPT = _vectors_script()


def _verify_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    status = main(["verify", *argv, "--json"])
    return status, json.loads(capsys.readouterr().out)


def _codes(document: dict[str, Any]) -> set[str]:
    found = {p["code"] for p in document["input_problems"]}
    return found | {p["code"] for c in document["chains"] for p in c["failures"]}


def _keys_for(case: Any, vectors: Path, tmp_path: Path) -> list[str]:
    """The `--keys` arguments for a vector case: the key file, a trust store pinning it to
    one recorder session, or (no Pipelock key) an unrelated Agent Receipts key."""
    if not case.keys:
        return ["--keys", str(AGENT_KEY.write_pem(tmp_path / "agent.pem"))]
    name, _, session = case.keys.partition("@")
    key_file = vectors / SCRIPT.KEY_FILES[name]
    if not session:
        return ["--keys", str(key_file)]
    store = tmp_path / "trust.yaml"
    store.write_text(
        f"version: 1\npipelock:\n  - name: pinned\n    keys: [{{file: {key_file}}}]\n"
        f"    sessions: [{session}]\n"
    )
    return ["--keys", str(store)]


@pytest.mark.parametrize("case", SCRIPT.CASES, ids=lambda case: case.label)
def test_every_vector_gives_the_scripts_verdict(
    case: Any, pipelock_vectors: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The verdict `scripts/pipelock_vectors.py` prints for the case, through the CLI
    (where it is stricter than pipelock-verify 0.4.1, the script says why)."""
    files = [str(pipelock_vectors / name) for name in case.files]
    status, document = _verify_json([*files, *_keys_for(case, pipelock_vectors, tmp_path)], capsys)
    assert document["valid"] is case.valid
    assert status == (0 if case.valid else 1)
    assert case.codes <= _codes(document)
    if case.valid:  # a Pipelock chain was verified, not a receipt or nothing
        assert {c.get("source_kind") for c in document["chains"]} <= {
            "pipelock",
            "pipelock_evidence",
        }


def _sample_args(*recorders: str) -> list[str]:
    return [*(str(SAMPLES / r) for r in recorders), "--keys", str(SAMPLES / "trust.yaml")]


def test_the_sample_recorders_give_their_documented_verdicts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, document = _verify_json(_sample_args(*RECORDERS), capsys)
    assert status == 1
    by_recorder = {c["issuer"]: c for c in document["chains"] if c["source_kind"] == "pipelock"}
    assert set(by_recorder) == set(RECORDERS)
    assert by_recorder["dev-alice"]["valid"]
    assert by_recorder["finance-egress"]["valid"]
    tampered = DEFECTS["recorder_line_deleted"]
    broken = by_recorder[tampered["recorder"]]
    expected = {*tampered["expected_codes"], *tampered["consequences"]}
    assert expected <= {p["code"] for p in broken["failures"]}
    assert document["input_problems"] == []
    v2 = [c for c in document["chains"] if c["source_kind"] == "pipelock_evidence"]
    assert [c["issuer"] for c in v2] == ["finance-egress"]
    assert v2[0]["valid"]


def test_the_untampered_recorders_verify_and_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    status, document = _verify_json(_sample_args("dev-alice", "finance-egress"), capsys)
    assert (status, document["valid"]) == (0, True)
    assert document["summary"]["chains"] == 3  # two v1 sessions and finance's v2 chain


def test_verify_output_names_the_recorder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *_sample_args("dev-alice")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("VALID   pipelock:proxy@")
    assert "recorder dev-alice" in first


def test_verify_output_says_when_a_recorder_has_no_name(
    pipelock_vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = str(pipelock_vectors / "valid-chain.jsonl")
    assert main(["verify", chain, "--keys", str(pipelock_vectors / "test-key.json")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(", unnamed recorder)")  # trusted through a bare key file
    assert main(["verify", chain, "--keys", str(SAMPLES.parent / "trust.yaml")]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(", untrusted recorder)")


def test_verify_json_with_pipelock_chains_follows_the_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, document = _verify_json(_sample_args(*RECORDERS), capsys)
    schema = json.loads((REPO / "docs" / "schemas" / "verification.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    anchors = [a for a in document["trust_anchors"] if a.get("kind") == "pipelock"]
    assert {a["issuer"] for a in anchors} == set(RECORDERS)
    kinds = {s["kind"] for s in document["sources"]}
    assert kinds == {"pipelock_recorder"}


# -- one directory, both kinds -------------------------------------------------------------


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A directory holding an Agent Receipts chain and a Pipelock recorder; the receipts
    are in a file named like a recorder's, the recorder in one named like receipts."""
    directory = tmp_path / "evidence"
    directory.mkdir()
    receipts = ChainBuilder(AGENT_KEY, chain_id="chain_mixed").extend(3).receipts
    write_jsonl(directory / "evidence-proxy-0.jsonl", receipts)
    shutil.copy(SAMPLES / "dev-alice" / "evidence-proxy-0.jsonl", directory / "receipts.json")
    shutil.copy(SAMPLES / "dev-alice" / "evidence-proxy-406.jsonl", directory / "more.ndjson")
    return directory


def test_a_directory_holding_both_kinds_verifies_each_with_its_own_verifier(
    mixed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = ["--keys", str(AGENT_KEY.write_pem(tmp_path / "a.pem"))]
    keys += ["--keys", str(SAMPLES / "keys" / "dev-alice.pub")]
    status, document = _verify_json([str(mixed), *keys], capsys)
    kinds = {s["path"].rsplit("/", 1)[-1]: s["kind"] for s in document["sources"]}
    assert kinds == {
        "evidence-proxy-0.jsonl": "jsonl",
        "receipts.json": "pipelock_recorder",
        "more.ndjson": "pipelock_recorder",
    }
    assert status == 0
    assert document["input_problems"] == []
    chains = {c["chain_id"]: c for c in document["chains"]}
    assert chains["chain_mixed"]["length"] == 3
    assert chains["chain_mixed"]["valid"]
    (recorder,) = [c for c in chains.values() if c.get("source_kind") == "pipelock"]
    assert (recorder["issuer"], recorder["length"], recorder["valid"]) == (None, 357, True)


def test_keys_given_twice_are_the_union(
    mixed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = str(AGENT_KEY.write_pem(tmp_path / "a.pem"))
    pipelock = str(SAMPLES / "keys" / "dev-alice.pub")

    def failing(*keys: str) -> set[str]:
        argv = [str(mixed)] + [arg for key in keys for arg in ("--keys", key)]
        _, document = _verify_json(argv, capsys)
        return {
            c.get("source_kind", "agent_receipts")
            for c in document["chains"]
            if "UNKNOWN_ISSUER_KEY" in {p["code"] for p in c["failures"]}
        }

    assert failing(agent) == {"pipelock"}
    assert failing(pipelock) == {"agent_receipts"}
    assert failing(agent, pipelock) == set()


def test_a_trust_store_may_hold_only_pipelock_recorders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "trust.yaml"
    key = SAMPLES / "keys" / "dev-alice.pub"
    store.write_text(f"version: 1\npipelock:\n  - name: edge\n    keys: [{{file: {key}}}]\n")
    status, document = _verify_json([str(SAMPLES / "dev-alice"), "--keys", str(store)], capsys)
    assert status == 0
    assert {c["issuer"] for c in document["chains"]} == {"edge"}


def test_a_bad_pipelock_section_is_an_input_error_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "trust.yaml"
    store.write_text("version: 1\npipelock:\n  - name: edge\n    keys: [{hex: nothex}]\n")
    assert main(["verify", str(SAMPLES / "dev-alice"), "--keys", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"{store}:4" in err
    assert "INVALID_KEY" in err


def test_a_recorder_on_standard_input_is_detected(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted((SAMPLES / "dev-alice").glob("*.jsonl"))
    data = b"".join(f.read_bytes() for f in files)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, document = _verify_json(["-", "--keys", str(SAMPLES / "trust.yaml")], capsys)
    assert status == 0
    assert [s["kind"] for s in document["sources"]] == ["pipelock_recorder"]
    assert [c["issuer"] for c in document["chains"]] == ["dev-alice"]


def test_receipts_on_standard_input_are_still_receipts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receipts = ChainBuilder(AGENT_KEY, chain_id="chain_stdin").extend(12).receipts
    data = write_jsonl(tmp_path / "r.jsonl", receipts).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    key = str(AGENT_KEY.write_pem(tmp_path / "a.pem"))
    status, document = _verify_json(["-", "--keys", key], capsys)
    assert status == 0
    assert [(c["chain_id"], c["length"]) for c in document["chains"]] == [("chain_stdin", 12)]


def test_chain_patterns_select_recorder_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    status, document = _verify_json(
        [*_sample_args(*RECORDERS), "--chain", "pipelock:proxy@936d*"], capsys
    )
    assert status == 0
    assert [c["issuer"] for c in document["chains"]] == ["dev-alice"]


# -- witnesses -----------------------------------------------------------------------------


def _alice_chain(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    _, document = _verify_json(_sample_args("dev-alice"), capsys)
    (chain,) = document["chains"]
    return chain


def _witness(tmp_path: Path, chain_id: str, length: int, final_hash: str) -> str:
    path = tmp_path / "witness.yaml"
    path.write_text(
        f'version: 1\nchains:\n  "{chain_id}": {{length: {length}, final_hash: "{final_hash}"}}\n'
    )
    return str(path)


def test_a_witness_pins_a_recorder_sessions_tail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _alice_chain(capsys)
    good = _witness(tmp_path, chain["chain_id"], chain["length"], chain["head_hash"])
    status, document = _verify_json([*_sample_args("dev-alice"), "--witness", good], capsys)
    assert status == 0
    assert document["valid"]
    wrong = _witness(tmp_path, chain["chain_id"], chain["length"] + 1, "sha256:" + "0" * 64)
    status, document = _verify_json([*_sample_args("dev-alice"), "--witness", wrong], capsys)
    assert status == 1
    assert {"LENGTH_MISMATCH", "FINAL_HASH_MISMATCH"} <= _codes(document)


def test_a_witnessed_recorder_session_missing_from_the_input_is_reported_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _alice_chain(capsys)
    witness = _witness(tmp_path, chain["chain_id"], chain["length"], chain["head_hash"])
    status, document = _verify_json([*_sample_args("dev-bob"), "--witness", witness], capsys)
    assert status == 1
    missing = [p for p in document["input_problems"] if p["code"] == "WITNESS_CHAIN_MISSING"]
    assert len(missing) == 1
    assert chain["chain_id"] in missing[0]["message"]


def test_a_witness_stands_in_for_a_cut_off_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cut the last file of a recorder before its last close: SESSION_NOT_CLOSED; a witness
    of that cut tail accepts it (the tail is pinned elsewhere)."""
    directory = tmp_path / "cut"
    shutil.copytree(SAMPLES / "dev-alice", directory)
    last = directory / "evidence-proxy-406.jsonl"
    lines = last.read_bytes().splitlines(keepends=True)
    close = max(i for i, line in enumerate(lines) if b"pipelock://session/close" in line)
    last.write_bytes(b"".join(lines[:close]))
    argv = [str(directory), "--keys", str(SAMPLES / "trust.yaml")]
    status, document = _verify_json(argv, capsys)
    assert status == 1
    assert "SESSION_NOT_CLOSED" in _codes(document)
    (chain,) = document["chains"]
    witness = _witness(tmp_path, chain["chain_id"], chain["length"], chain["head_hash"])
    status, document = _verify_json([*argv, "--witness", witness], capsys)
    assert status == 0, _codes(document)
