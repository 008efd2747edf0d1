"""Scoped reports (issue 16): by agent, principal, grant and chain glob, with everything
the scoped receipts depend on still verified, and broken evidence never scoped away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main

from .factory import ChainBuilder, Key, write_jsonl

KEY = Key.from_seed("report-scope")


def _chain(chain_id: str, issuer: str, principal: str, **add: Any) -> list[dict[str, Any]]:
    builder = ChainBuilder(KEY, chain_id=chain_id, issuer=issuer, principal=principal)
    for n in range(3):
        builder.add(timestamp=f"2026-10-0{n + 1}T09:00:00.000Z", **add)
    return builder.receipts


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    chains = [
        *_chain("chain_fin_001", "did:agent:finance-ops", "did:user:carol"),
        *_chain("chain_fin_002", "did:agent:finance-ops", "did:user:dave"),
        *_chain("chain_code_001", "did:agent:coding", "did:user:carol"),
    ]
    source = write_jsonl(tmp_path / "r.jsonl", chains)
    return source, KEY.write_pem(tmp_path / "k.pem")


def _summary(tmp_path: Path, sources: tuple[Path, Path], *scope: str) -> dict[str, Any]:
    source, key = sources
    out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
    argv = ["report", str(source), "--keys", str(key), "--period", "2026-10", "--format", "json"]
    main([*argv, "--out", str(out), "--quiet", "--fail-on", "never", *scope])
    [summary] = list(out.glob("*/*/summary.json"))
    return json.loads(summary.read_text())


@pytest.mark.parametrize(
    ("scope", "receipts", "chains"),
    [
        ([], 9, 3),
        (["--issuer", "did:agent:finance-*"], 6, 2),
        (["--principal", "did:user:carol"], 6, 2),
        (["--issuer", "did:agent:finance-ops", "--principal", "did:user:carol"], 3, 1),
        (["--chain", "chain_code_*"], 3, 1),
    ],
    ids=["everything", "issuer-glob", "principal", "issuer-and-principal", "chain-glob"],
)
def test_a_report_scoped_by_agent_principal_or_chain(
    tmp_path: Path, sources, scope: list[str], receipts: int, chains: int
) -> None:
    summary = _summary(tmp_path, sources, *scope)
    assert summary["figures"]["receipts_in_scope"] == receipts
    assert summary["figures"]["chains"] == chains
    for flag, value in zip(scope[::2], scope[1::2], strict=True):
        key = {"--issuer": "issuers", "--principal": "principals", "--chain": "chains"}[flag]
        assert value in summary["scope"][key]
        assert value in summary["scope"]["label"]
    manifest_dir = next((tmp_path).glob("out-*/*/*/manifest.json")).parent
    settings = json.loads((manifest_dir / "manifest.json").read_text())["settings"]
    pairs = zip(scope[::2], scope[1::2], strict=True)
    assert settings["issuers"] == [value for flag, value in pairs if flag == "--issuer"]


def test_a_scope_matching_no_receipt_is_no_evidence(tmp_path: Path, sources) -> None:
    summary = _summary(tmp_path, sources, "--issuer", "did:agent:nobody")
    assert summary["posture"] == "NO EVIDENCE"


def test_a_broken_chain_cannot_be_scoped_away_by_rewriting_its_agent(
    tmp_path: Path, sources
) -> None:
    """Rewriting issuer.id breaks the signature: the chain has no authentic receipt that
    places it under another agent, so it stays in an issuer-scoped report."""
    source, _ = sources
    lines = source.read_text().splitlines()
    tampered = [
        line.replace("did:agent:finance-ops", "did:agent:elsewhere")
        if "chain_fin_002" in line
        else line
        for line in lines
    ]
    source.write_text("\n".join(tampered) + "\n")
    summary = _summary(tmp_path, sources, "--issuer", "did:agent:finance-ops")
    assert summary["posture"] == "INTEGRITY BROKEN"
    assert summary["figures"]["broken_chains"] == 1


def test_a_chain_selection_still_verifies_the_delegation_parents(tmp_path: Path) -> None:
    parent = ChainBuilder(KEY, chain_id="chain_parent", issuer="did:agent:planner")
    parent.extend(2, timestamp="2026-10-02T09:00:00.000Z")
    child = ChainBuilder(KEY, chain_id="chain_child", issuer="did:agent:worker")
    delegation = {
        "parent_chain_id": "chain_parent",
        "parent_receipt_id": parent.receipts[1]["id"],
        "delegator": {"id": "did:agent:planner"},
    }
    child.add(delegation=delegation, timestamp="2026-10-02T10:00:00.000Z")
    source = write_jsonl(tmp_path / "r.jsonl", [*parent.receipts, *child.receipts])
    key = KEY.write_pem(tmp_path / "k.pem")
    argv = ["report", str(source), "--keys", str(key), "--chain", "chain_child"]
    code = main([*argv, "--format", "json", "--out", str(tmp_path / "out"), "--quiet"])
    [summary] = list((tmp_path / "out").glob("*/*/summary.json"))
    figures = json.loads(summary.read_text())["figures"]
    assert (figures["chains"], figures["broken_chains"], figures["receipts_in_scope"]) == (1, 0, 1)
    assert code == 0  # the delegation verified: the parent chain was read too
