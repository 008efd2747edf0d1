"""The sample Pipelock recorders (samples/pipelock/): reproducible, and holding exactly the
two planted defects documented in samples/README.md and samples/pipelock/defects.json."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from reporting.pipelock import (
    PipelockOptions,
    PipelockSource,
    PipelockVerification,
    action_evidence,
    parse_pipelock_section,
    verify_pipelock,
)
from reporting.receipts.results import Code
from reporting.yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELOCK = ROOT / "samples" / "pipelock"
DEFECTS = json.loads((PIPELOCK / "defects.json").read_text())
BY_ID = {d["id"]: d for d in DEFECTS["defects"]}


def _manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "manifest.json").read_text())


def test_committed_files_match_their_manifest() -> None:
    listed = _manifest(PIPELOCK)["files"]
    for name, digest in listed.items():
        assert hashlib.sha256((PIPELOCK / name).read_bytes()).hexdigest() == digest, name
    on_disk = {
        p.relative_to(PIPELOCK).as_posix()
        for p in PIPELOCK.rglob("*")
        if p.is_file() and p.suffix in (".jsonl", ".pub", ".yaml", ".json")
    }
    assert on_disk - {"manifest.json"} == set(listed)


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    pytest.importorskip("pipelock_verify", reason="pipelock-verify (dev extra) signs the samples")
    generator = PIPELOCK / "generate.py"
    result = subprocess.run(
        [sys.executable, str(generator), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _manifest(tmp_path) == _manifest(PIPELOCK)


@pytest.fixture(scope="module")
def verified() -> PipelockVerification:
    store = load_yaml(PIPELOCK / "trust.yaml")
    trust = parse_pipelock_section(
        store["pipelock"], source="trust.yaml", base=PIPELOCK, line=store.line_of("pipelock")
    )
    sources = [
        PipelockSource(p.read_bytes(), p.relative_to(PIPELOCK).as_posix())
        for p in sorted(PIPELOCK.rglob("*.jsonl"))
    ]
    return verify_pipelock(sources, PipelockOptions(trust=trust))


def test_every_recorder_verifies_but_the_tampered_one(verified: PipelockVerification) -> None:
    assert not verified.input_problems
    by_recorder = {(c.issuer, c.source_kind): c for c in verified.chains}
    assert set(by_recorder) == {
        ("dev-alice", "pipelock"),
        ("dev-bob", "pipelock"),
        ("finance-egress", "pipelock"),
        ("finance-egress", "pipelock_evidence"),
    }
    broken = [key for key, chain in by_recorder.items() if not chain.valid]
    assert broken == [("dev-bob", "pipelock")]
    finance = by_recorder[("finance-egress", "pipelock")]
    assert [r.valid for r in finance.rotations] == [True]  # endorsed in the log
    counts = {r["name"]: r["action_receipts"] for r in DEFECTS["recorders"]}
    assert {c.issuer: c.length for c in verified.chains if c.source_kind == "pipelock"} == counts


def test_the_deleted_line_is_reported_where_it_was(verified: PipelockVerification) -> None:
    defect = BY_ID["recorder_line_deleted"]
    (chain,) = [c for c in verified.chains if c.issuer == defect["recorder"]]
    codes = {p.code.value for p in chain.failures}
    assert (
        set(defect["expected_codes"])
        <= codes
        <= {*defect["expected_codes"], *defect["consequences"]}
    )
    first = chain.receipts[chain.broken_at or 0]
    assert first.sequence == defect["chain_seq"] + 1  # the receipt after the deleted one
    assert {Code.SEQUENCE_GAP, Code.HASH_LINK_BROKEN} <= set(first.failures)
    assert defect["action_id"] not in {r.receipt_id for r in chain.receipts}
    assert not any(row.trusted for row in action_evidence(verified) if row.recorder == "dev-bob")


def _finance_receipts() -> dict[str, list[tuple[datetime, str]]]:
    """(time, resource) of each finance-agent receipt, by the agent's session id."""
    query = (
        "SELECT json_extract(receipt_json, '$.issuer.session_id'), timestamp, "
        "json_extract(receipt_json, '$.credentialSubject.action.target.resource') "
        "FROM receipts WHERE issuer_id = 'did:agent:finance-ops'"
    )
    found: dict[str, list[tuple[datetime, str]]] = {}
    with closing(sqlite3.connect(f"file:{ROOT / 'samples/receipts.db'}?mode=ro", uri=True)) as conn:
        for session, stamp, resource in conn.execute(query):
            found.setdefault(session, []).append((datetime.fromisoformat(stamp), resource))
    return found


def test_the_planted_payment_is_the_only_allowed_write_without_an_agent_action(
    verified: PipelockVerification,
) -> None:
    receipts = _finance_receipts()
    unbacked = []
    for row in action_evidence(verified):
        if row.recorder != "finance-egress" or row.verdict != "allow":
            continue
        if row.side_effect_class not in ("external_write", "financial"):
            continue
        assert row.trusted
        assert row.timestamp is not None
        assert row.target is not None
        moment = datetime.fromisoformat(row.timestamp)
        backed = any(
            row.target.endswith("/" + resource) and abs((moment - at).total_seconds()) < 2
            for at, resource in receipts.get(row.session_id or "", [])
        )
        if not backed:
            unbacked.append(row)
    defect = BY_ID["egress_without_agent_action"]
    assert [(r.action_id, r.session_id, r.target) for r in unbacked] == [
        (defect["action_id"], defect["agent_session"], defect["target"])
    ]


def test_the_samples_show_every_kind_of_decision(verified: PipelockVerification) -> None:
    rows = list(action_evidence(verified))
    verdicts = {r.verdict for r in rows}
    assert {"allow", "block", "warn", "strip", "redirect"} <= verdicts
    assert {r.channel for r in rows} == {"http", "mcp", "control"}
    assert {r.actor for r in rows} == {"coding-assistant", "finance-ops"}
    assert any(r.layer == "dlp" and r.verdict == "block" for r in rows)


def test_0_4_1_agrees_with_our_verdict_on_each_recorder(tmp_path: Path) -> None:
    pipelock_verify = pytest.importorskip("pipelock_verify")
    for recorder in DEFECTS["recorders"]:
        text = "".join((PIPELOCK / name).read_text() for name in recorder["files"])
        path = tmp_path / f"{recorder['name']}.jsonl"
        path.write_text(text)
        entries = [json.loads(line) for line in text.splitlines()]
        endorsements = [e["detail"] for e in entries if e["type"] == "rotation_endorsement"]
        key = (PIPELOCK / recorder["key"]).read_text().strip()
        result = pipelock_verify.verify_chain(
            path, key, session_id="proxy", rotation_endorsements=endorsements
        )
        assert result.valid is (recorder["name"] != "dev-bob"), (recorder["name"], result.error)


def test_samples_readme_documents_both_defects() -> None:
    readme = (ROOT / "samples" / "README.md").read_text()
    for defect in DEFECTS["defects"]:
        assert f"`{defect['id']}`" in readme
        assert defect["action_id"] in readme
