"""Scope is decided from verified evidence only, and a report over nothing certifies nothing.

Issue 13, sections 1 and 2: an attacker who can edit only the store (no key) must not be
able to move a broken chain out of the report by rewriting or removing its timestamps,
and a period, chain selection or source with no receipts must never read as supported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main

from .factory import ChainBuilder, Key, receipt_hash, write_jsonl

KEY = Key.from_seed("scope-integrity")


def _october_chain(chain_id: str, day: int = 15, count: int = 6) -> list[dict[str, Any]]:
    builder = ChainBuilder(KEY, chain_id=chain_id, issuer="did:agent:daemon")
    for n in range(count):
        builder.add(timestamp=f"2026-10-{day:02d}T08:{n:02d}:00.000Z")
    return builder.receipts


def _witness(path: Path, chain: list[dict[str, Any]], chain_id: str) -> Path:
    final = receipt_hash(chain[-1])
    path.write_text(
        f'version: 1\nchains:\n  "{chain_id}": {{length: {len(chain)}, final_hash: "{final}"}}\n'
    )
    return path


def _tampered(chain: list[dict[str, Any]], rewrite: Any) -> list[dict[str, Any]]:
    """Drop the second receipt, then rewrite the others' timestamps without re-signing."""
    kept = [json.loads(json.dumps(r)) for i, r in enumerate(chain) if i != 1]
    for receipt in kept:
        rewrite(receipt["credentialSubject"]["action"])
    return kept


def _to_2020(action: dict[str, Any]) -> None:
    action["timestamp"] = "2020-01-01T00:00:00.000Z"


def _removed(action: dict[str, Any]) -> None:
    action.pop("timestamp")


def _verdict(summary: dict[str, Any], code: int) -> tuple[str, int, int]:
    return summary["posture"], summary["figures"]["broken_chains"], code


def _report(tmp_path: Path, sources: list[Path], *extra: str) -> tuple[int, dict[str, Any]]:
    keys = KEY.write_pem(tmp_path / "key.pem")
    out = tmp_path / "out"
    argv = ["report", *map(str, sources), "--keys", str(keys), "--period", "2026-10"]
    code = main([*argv, "--format", "json", "--out", str(out), "--quiet", *extra])
    summaries = list(out.glob("*/*/summary.json"))
    assert len(summaries) == 1, summaries
    return code, json.loads(summaries[0].read_text())


@pytest.mark.parametrize("rewrite", [_to_2020, _removed], ids=["moved-to-2020", "removed"])
def test_a_witnessed_chain_cannot_be_moved_out_of_the_period(tmp_path: Path, rewrite) -> None:
    clean = _october_chain("2026-10-01", day=1)
    target = _october_chain("2026-10-15")
    source = write_jsonl(tmp_path / "store.jsonl", [*clean, *_tampered(target, rewrite)])
    witness = _witness(tmp_path / "witness.yaml", target, "2026-10-15")

    code, summary = _report(tmp_path, [source], "--witness", str(witness))

    assert summary["posture"] == "INTEGRITY BROKEN"
    assert summary["figures"]["broken_chains"] == 1
    assert code == 1


@pytest.mark.parametrize("rewrite", [_to_2020, _removed], ids=["moved-to-2020", "removed"])
def test_an_unwitnessed_broken_chain_without_authentic_times_stays_in_scope(
    tmp_path: Path, rewrite
) -> None:
    source = write_jsonl(
        tmp_path / "store.jsonl",
        [*_october_chain("2026-10-01", day=1), *_tampered(_october_chain("2026-10-15"), rewrite)],
    )
    code, summary = _report(tmp_path, [source])
    assert _verdict(summary, code) == ("INTEGRITY BROKEN", 1, 1)


def test_an_unwitnessed_broken_chain_with_authentic_receipts_in_period_is_in_scope(
    tmp_path: Path,
) -> None:
    chain = _october_chain("2026-10-15")
    # Only the last receipt's time is rewritten (its signature fails); the others are
    # authentic, in October, and follow a gap.
    tampered = [r for i, r in enumerate(chain) if i != 1]
    tampered[-1] = json.loads(json.dumps(tampered[-1]))
    _to_2020(tampered[-1]["credentialSubject"]["action"])
    source = write_jsonl(tmp_path / "store.jsonl", [*_october_chain("2026-10-01", 1), *tampered])
    code, summary = _report(tmp_path, [source])
    assert _verdict(summary, code) == ("INTEGRITY BROKEN", 1, 1)


def test_a_broken_chain_whose_authentic_receipts_are_all_outside_the_period_is_out(
    tmp_path: Path,
) -> None:
    """The rule is not overbroad: a September chain with a gap does not break October."""
    september = ChainBuilder(KEY, chain_id="2026-09-20", issuer="did:agent:daemon")
    for n in range(4):
        september.add(timestamp=f"2026-09-20T08:{n:02d}:00.000Z")
    gap = [r for i, r in enumerate(september.receipts) if i != 1]
    source = write_jsonl(tmp_path / "store.jsonl", [*_october_chain("2026-10-01", 1), *gap])
    code, summary = _report(tmp_path, [source])
    assert summary["figures"]["broken_chains"] == 0
    assert summary["posture"] != "INTEGRITY BROKEN"
    assert code == 0


def test_a_chain_whose_receipts_cannot_be_parsed_is_in_scope(tmp_path: Path) -> None:
    """Duplicate member names: SQLite groups the records by chain id, our strict parser
    refuses every one of them, so the chain has no row with a time at all."""
    lines = [
        json.dumps(receipt).replace('{"@context"', '{"id": "urn:receipt:x", "@context"', 1)
        for receipt in _october_chain("2026-10-15", count=3)
    ]
    source = write_jsonl(tmp_path / "store.jsonl", _october_chain("2026-10-01", 1))
    with source.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))
    code, summary = _report(tmp_path, [source])
    assert _verdict(summary, code) == ("INTEGRITY BROKEN", 1, 1)


# -- no evidence ------------------------------------------------------------------------------


def test_a_period_without_receipts_is_no_evidence(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "store.jsonl", _october_chain("2026-10-01", 1))
    keys = KEY.write_pem(tmp_path / "key.pem")
    out = tmp_path / "out"
    argv = ["report", str(source), "--keys", str(keys), "--period", "2026-09"]
    code = main([*argv, "--format", "json", "--out", str(out), "--quiet"])
    summary = json.loads(next(out.glob("*/*/summary.json")).read_text())
    assert summary["posture"] == "NO EVIDENCE"
    assert summary["figures"]["receipts_in_scope"] == 0
    assert code == 1


def test_an_empty_source_is_no_evidence_and_fails_unless_never(tmp_path: Path) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("")
    code, summary = _report(tmp_path, [source])
    assert (summary["posture"], code) == ("NO EVIDENCE", 1)
    keys = tmp_path / "key.pem"
    argv = ["report", str(source), "--keys", str(keys), "--period", "2026-10", "--format", "json"]
    never = main([*argv, "--out", str(tmp_path / "never"), "--quiet", "--fail-on", "never"])
    assert never == 0


def test_verify_of_nothing_is_not_a_pass(tmp_path: Path, capsys) -> None:
    source = tmp_path / "empty.jsonl"
    source.write_text("")
    keys = KEY.write_pem(tmp_path / "key.pem")
    assert main(["verify", str(source), "--keys", str(keys)]) == 1
    assert "NO EVIDENCE" in capsys.readouterr().out
    assert main(["verify", str(source), "--keys", str(keys), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["valid"] is False


@pytest.mark.parametrize("command", ["verify", "report"])
def test_a_chain_pattern_matching_nothing_is_a_usage_error(
    tmp_path: Path, command: str, capsys
) -> None:
    source = write_jsonl(tmp_path / "store.jsonl", _october_chain("2026-10-01", 1))
    keys = KEY.write_pem(tmp_path / "key.pem")
    argv = [command, str(source), "--keys", str(keys), "--chain", "nonexistent"]
    if command == "report":
        argv += ["--format", "json", "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    assert "NO_SUCH_CHAIN" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_chain_accepts_glob_patterns(tmp_path: Path, capsys) -> None:
    chains = [*_october_chain("chain_finance-ops_001", 1), *_october_chain("chain_coding_001", 2)]
    source = write_jsonl(tmp_path / "store.jsonl", chains)
    keys = KEY.write_pem(tmp_path / "key.pem")
    argv = ["verify", str(source), "--keys", str(keys), "--json"]
    assert main([*argv, "--chain", "chain_finance-ops_*"]) == 0
    listed = [c["chain_id"] for c in json.loads(capsys.readouterr().out)["chains"]]
    assert listed == ["chain_finance-ops_001"]


def test_a_pattern_naming_a_witnessed_chain_removed_whole_reports_it_missing(
    tmp_path: Path, capsys
) -> None:
    removed = _october_chain("2026-10-15")
    source = write_jsonl(tmp_path / "store.jsonl", _october_chain("2026-10-01", 1))
    witness = _witness(tmp_path / "witness.yaml", removed, "2026-10-15")
    keys = KEY.write_pem(tmp_path / "key.pem")
    argv = ["verify", str(source), "--keys", str(keys), "--witness", str(witness), "--json"]
    assert main([*argv, "--chain", "2026-10-15"]) == 1
    problems = json.loads(capsys.readouterr().out)["input_problems"]
    assert [p["code"] for p in problems] == ["WITNESS_CHAIN_MISSING"]


# -- late verdicts ------------------------------------------------------------------------


def test_any_failure_added_after_extraction_makes_its_rows_untrusted(tmp_path: Path) -> None:
    """Cross-chain checks amend verdicts after the rows were extracted. The frame re-reads
    every failing chain's final verdicts, whatever the code: not a hand-kept list."""
    from dataclasses import replace

    from reporting.evidence.frame import build_evidence, extract_rows
    from reporting.receipts.results import Code, Outcome, Problem
    from reporting.receipts.sources import spool_sources
    from reporting.receipts.verify import VerifyOptions, verify_spool

    from .helpers import trust

    chain = _october_chain("2026-10-15", count=3)
    path = write_jsonl(tmp_path / "chain.jsonl", chain)
    with spool_sources([str(path)]) as spool:
        result, extracts = verify_spool(
            spool, options=VerifyOptions(trust=trust(KEY.raw)), extract=extract_rows
        )
    [verified] = result.chains
    late = Code.INDEX_MISMATCH  # any code a later cross-chain check might add
    receipts = list(verified.receipts)
    receipts[1] = receipts[1]._replace(outcome=Outcome.FAILED, failures=(late,))
    amended = replace(
        verified,
        receipts=tuple(receipts),
        failures=(Problem(late, "amended after extraction", receipt_id=receipts[1].receipt_id),),
    )
    evidence = build_evidence(replace(result, chains=(amended,)), extracts)
    row = evidence.receipts.set_index("receipt_id").loc[receipts[1].receipt_id]
    assert not row["trusted"]
    assert late.value in str(row["failure_codes"])


def test_a_framework_without_evidence_says_so(tmp_path: Path) -> None:
    """Nothing is supported by nothing: with no receipt in scope, each framework states
    that no automated check applied, in the model and in the HTML."""
    source = write_jsonl(tmp_path / "store.jsonl", _october_chain("2026-10-01", 1))
    keys = KEY.write_pem(tmp_path / "key.pem")
    out = tmp_path / "out"
    argv = ["report", str(source), "--keys", str(keys), "--period", "2026-09"]
    main([*argv, "--format", "json,html", "--out", str(out), "--quiet"])
    [model] = [p for p in out.glob("*/*/evidence-*.json") if p.stem.count("-") == 4]
    frameworks = json.loads(model.read_text())["frameworks"]
    assert frameworks
    assert all("no receipt is in the period" in f["unassessed"] for f in frameworks)
    html = next(out.glob("*/*/*.html")).read_text()
    assert html.count("No automated check applied") >= 2 * len(frameworks)
