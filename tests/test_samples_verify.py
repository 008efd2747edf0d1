"""Our verifier on the committed samples finds exactly the deliberate defects, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reporting.pipeline import VerifyRequest, run_verification
from reporting.receipts.results import Code, Termination

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
VERIFIER_CODES = {c.value for c in Code}


@pytest.fixture(scope="module")
def run():
    assert (SAMPLES / "receipts.db").is_file(), "samples/receipts.db is missing"
    request = VerifyRequest(
        sources=(str(SAMPLES / "receipts.db"),),
        keys=SAMPLES / "trust.yaml",
        witness=SAMPLES / "witness.yaml",
        grants=SAMPLES / "grants.yaml",
        bodies=SAMPLES / "bodies",
    )
    return run_verification(request, stdin=None)


@pytest.fixture(scope="module")
def defects() -> list[dict]:
    return json.loads((SAMPLES / "defects.json").read_text())["defects"]


# With --grants, a critical action without authorization is also an ungrounded principal.
BREAKS_A_CHAIN = {
    "tampered_receipt": Code.INVALID_SIGNATURE,
    "sequence_gap": Code.SEQUENCE_GAP,
    "critical_without_authorization": Code.UNGROUNDED_PRINCIPAL,
    "ungrounded_principal": Code.UNGROUNDED_PRINCIPAL,
}


def test_only_the_defective_chains_fail(run, defects) -> None:
    by_id = {d["id"]: d for d in defects}
    broken = {c.chain_id: c for c in run.result.chains if not c.valid}
    assert set(broken) == {by_id[name]["chain_id"] for name in BREAKS_A_CHAIN}
    for name, code in BREAKS_A_CHAIN.items():
        assert code in {p.code for p in broken[by_id[name]["chain_id"]].failures}, name
    assert run.result.input_problems == ()


def test_each_defect_is_reported_at_its_receipt(run, defects) -> None:
    chains = {c.chain_id: c for c in run.result.chains}
    for defect in defects:
        expected = [c for c in defect["expected_codes"] if c in VERIFIER_CODES]
        if not expected:
            continue  # an assessment finding (issue 3), not a verification code
        chain = chains[defect["chain_id"]]
        problems = chain.failures + chain.warnings
        found = {
            p.code.value
            for p in problems
            if p.sequence in (defect["sequence"], defect["sequence"] + 1)
        }
        assert set(expected) <= found, (defect["id"], found)


def test_rotation_chain_and_witnesses_hold(run) -> None:
    chains = {c.chain_id: c for c in run.result.chains}
    rotated = chains["2026-10-15"]
    assert rotated.valid
    assert [r.valid for r in rotated.rotations] == [True]
    for witnessed in ("2026-10-15", "chain_finance-ops_005"):
        assert not {Code.LENGTH_MISMATCH, Code.FINAL_HASH_MISMATCH} & {
            p.code for p in chains[witnessed].failures
        }


def test_figures_match_the_samples_readme(run) -> None:
    readme = (SAMPLES / "README.md").read_text()
    total = f"| **total** | {len(run.result.chains)} | {run.result.receipt_count} |"
    assert total in readme
    terminations = {c.termination for c in run.result.chains}
    assert terminations == {Termination.COMPLETE, Termination.INTERRUPTED, Termination.UNKNOWN}


def test_daemon_tool_name_is_a_named_deviation_not_a_failure(run) -> None:
    chains = {c.chain_id: c for c in run.result.chains}
    daemon = chains["2026-10-07"]
    assert daemon.valid
    assert Code.KNOWN_SCHEMA_DEVIATION in {p.code for p in daemon.warnings}
