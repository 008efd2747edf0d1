"""Interoperability: every Pipelock conformance vector gets the verdict of EXPECTED.md.

The vectors are read from ../shared/pipelock/vectors (never copied here). The case
table is the one `scripts/pipelock_vectors.py` prints, so the CLI integration can be
checked against the same verdicts. Where we are stricter than `pipelock-verify` 0.4.1
(an unpinned key is never valid: PIPELOCK.md §6), the case says so, and the test below
shows 0.4.1's own verdict for it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from reporting.pipelock import PipelockKind, detect_pipelock
from reporting.receipts.results import Code, Termination

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pipelock_vectors", ROOT / "scripts/pipelock_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()
CASES = SCRIPT.CASES


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_each_vector_gets_its_documented_verdict(case, pipelock_vectors: Path) -> None:
    result = SCRIPT.run_case(case, pipelock_vectors)
    assert SCRIPT.check(case, result) is None, SCRIPT.codes_of(result)


def test_every_vector_file_is_in_the_case_table(pipelock_vectors: Path) -> None:
    files = {p.name for p in pipelock_vectors.iterdir()} - {"EXPECTED.md"}
    covered = {name for case in CASES for name in case.files}
    assert files == covered


def test_the_script_prints_every_verdict_and_exits_zero(pipelock_vectors, capsys) -> None:
    assert SCRIPT.main([str(pipelock_vectors)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("ok ")]) == len(CASES)
    assert lines[-1] == f"{len(CASES)}/{len(CASES)} vector verdicts as expected"


def _only(result, kind: str = "pipelock"):
    (chain,) = [c for c in result.chains if c.source_kind == kind]
    return chain


def _run(files: tuple[str, ...], keys: str, vectors: Path):
    return SCRIPT.run_case(SCRIPT.Case(files, keys, True), vectors)


def test_valid_chain_root_count_and_times(pipelock_vectors: Path) -> None:
    chain = _only(_run(("valid-chain.jsonl",), "TK", pipelock_vectors))
    assert chain.valid
    assert chain.length == 5
    assert [r.sequence for r in chain.receipts] == [0, 1, 2, 3, 4]
    root = "be904bd5ca82adc26c2969872c23925f22ff24e33faf44a1185b9ffc0e2c2b5a"
    assert chain.head_hash == f"sha256:{root}"
    assert (chain.first_timestamp, chain.last_timestamp) == (
        "2026-04-15T12:00:00Z",
        "2026-04-15T12:00:04Z",
    )
    # no session control in this legacy chain: nothing says how it ended
    assert chain.termination is Termination.UNKNOWN


def test_broken_chain_breaks_at_seq_3_while_each_signature_holds(pipelock_vectors) -> None:
    chain = _only(_run(("broken-chain.jsonl",), "TK", pipelock_vectors))
    assert chain.broken_at == 3
    assert chain.receipts[3].failures == (Code.HASH_LINK_BROKEN,)
    assert all(Code.INVALID_SIGNATURE not in r.failures for r in chain.receipts)


@pytest.mark.parametrize(
    ("files", "length", "root"),
    [
        (
            ("g1-rotated-close-count-valid.jsonl", SCRIPT.E1),
            6,
            "f41965657ef61c3f7fb79cd850fd8d80b4ab3d6752ccaf26675ab1c05a6ac066",
        ),
        (
            ("g1-rotated-twice-valid.jsonl", SCRIPT.E1, SCRIPT.E2),
            9,
            "eac0a75a58ab7e7a6a324aedb7cb6e0802999060f573088b60ca8fdff6d6d8b6",
        ),
    ],
)
def test_rotated_chains_root_and_rotations(files, length, root, pipelock_vectors) -> None:
    chain = _only(_run(files, "TK", pipelock_vectors))
    assert chain.valid
    assert (chain.length, chain.head_hash, chain.receipts[-1].sequence) == (
        length,
        f"sha256:{root}",
        2,
    )
    assert [r.valid for r in chain.rotations] == [True] * (len(files) - 1)
    assert chain.termination is Termination.COMPLETE  # the last run closed, counts agree


def test_rotation_without_its_endorsement_breaks_at_the_marker(pipelock_vectors) -> None:
    chain = _only(_run(("g1-rotated-close-count-valid.jsonl",), "TK", pipelock_vectors))
    assert chain.broken_at == 3
    assert chain.receipts[3].sequence == 0
    assert Code.ROTATION_INVALID in chain.receipts[3].failures


def test_live_chain_root_and_its_v2_receipts_verify(pipelock_vectors: Path) -> None:
    result = _run(("v3_2_0_live_chain.jsonl",), "LK", pipelock_vectors)
    chain, evidence = _only(result), _only(result, "pipelock_evidence")
    root = "623d13a756891c52b6a4b3d400a95c3324da7b5c3b11c95446fb11aee2ea3063"
    assert (chain.length, chain.head_hash) == (11, f"sha256:{root}")
    assert (chain.first_timestamp, chain.last_timestamp) == (
        "2026-07-24T22:57:41.86819273Z",
        "2026-07-24T23:00:44.292030929Z",
    )
    assert chain.termination is Termination.COMPLETE
    # 0.4.1 skips them; here all six v2 receipts are verified, with their own chain
    assert evidence.valid
    assert evidence.length == 6
    assert [r.sequence for r in evidence.receipts] == list(range(6))


def test_evidence_fixtures_are_checked_on_their_own(pipelock_vectors: Path) -> None:
    result = _run(("valid-evidence-proxy-decision.json",), "RK", pipelock_vectors)
    chain = _only(result, "pipelock_evidence")
    # chain_seq 1 and prev "sha256:0": a receipt on its own, so no chain-start check
    assert chain.valid
    assert chain.receipts[0].sequence == 1


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("valid-single.json", PipelockKind.RECEIPT),
        ("invalid-signature.json", PipelockKind.RECEIPT),
        ("valid-chain.jsonl", PipelockKind.RECORDER),
        ("v3_2_0_live_chain.jsonl", PipelockKind.RECORDER),
        ("valid-evidence-shadow-delta.json", PipelockKind.EVIDENCE_RECEIPT),
        ("g1-rotation-endorsement.json", PipelockKind.ENDORSEMENT),
        ("v3_2_0_live_chain.pub", PipelockKind.KEY),
        ("test-key.json", PipelockKind.KEY),
        ("v2-test-keys.json", PipelockKind.KEY),
    ],
)
def test_each_vector_is_detected_by_content(name, kind, pipelock_vectors) -> None:
    assert detect_pipelock((pipelock_vectors / name).read_bytes()) is kind


# -- what 0.4.1 itself says (it is the reference; we are never laxer) ----------------------

pipelock_verify = pytest.importorskip("pipelock_verify", reason="the dev extra is not installed")


def _verdict_041(case, vectors: Path) -> bool:
    key_name = case.keys.partition("@")[0]
    key = None
    if key_name:
        key = SCRIPT.trust_for(key_name, vectors).recorders[0].keys[0].raw.hex()
    first = vectors / case.files[0]
    if case.files[0].endswith(".jsonl"):
        endorsements = [(vectors / f).read_text() for f in case.files[1:]]
        # 0.4.1 needs the endorsements' session; its default, "proxy", is the TK@proxy case
        live = "live" in case.files[0]
        session = "proxy" if "@" in case.keys or live else "conformance-session"
        result = pipelock_verify.verify_chain(
            first, key, session_id=session, rotation_endorsements=endorsements
        )
        return bool(result.valid)
    try:
        document = json.loads(first.read_text())
    except json.JSONDecodeError:  # a hex key file: 0.4.1's CLI says "parsing receipt: ..."
        return bool(pipelock_verify.verify(first.read_text(), key).valid)
    if document.get("record_type") == "evidence_receipt_v2":
        if key is None:
            return False
        return bool(pipelock_verify.verify_evidence(document, public_key_hex=key).valid)
    return bool(pipelock_verify.verify(first.read_text(), key).valid)


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_our_verdict_is_0_4_1s_or_stricter_with_a_reason(case, pipelock_vectors) -> None:
    theirs = _verdict_041(case, pipelock_vectors)
    if case.verdict_041:
        assert theirs is (case.verdict_041 == "VALID")
        assert not case.valid  # stricter, never laxer
        assert case.why
    else:
        assert theirs is case.valid


def test_0_4_1_rejects_the_live_logs_valid_v2_receipts_and_we_do_not(pipelock_vectors) -> None:
    key = (pipelock_vectors / "v3_2_0_live_chain.pub").read_text().strip()
    details = [
        json.loads(line)["detail"]
        for line in (pipelock_vectors / "v3_2_0_live_chain.jsonl").read_text().splitlines()
        if json.loads(line)["type"] == "evidence_receipt"
    ]
    assert len(details) == 6
    assert not any(pipelock_verify.verify_evidence(d, public_key_hex=key).valid for d in details)
    ours = _only(_run(("v3_2_0_live_chain.jsonl",), "LK", pipelock_vectors), "pipelock_evidence")
    assert [r.outcome.value for r in ours.receipts] == ["PASSED"] * 6
