"""The verify command: output, the documented --json schema, and exit codes 0/1/2/3."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reporting.cli import VERIFY_JSON_SCHEMA, main

from .factory import ChainBuilder, Key, write_jsonl

KEY = Key.from_seed("cli")


@pytest.fixture
def chain_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    good = ChainBuilder(KEY, chain_id="chain_good").extend(3).receipts
    bad = ChainBuilder(KEY, chain_id="chain_bad").extend(3).receipts
    bad[1]["credentialSubject"]["principal"]["id"] = "did:user:mallory"
    return (
        write_jsonl(tmp_path / "good.jsonl", good),
        write_jsonl(tmp_path / "bad.jsonl", bad),
        KEY.write_pem(tmp_path / "key.pem"),
    )


def test_valid_chains_exit_zero(chain_files, capsys) -> None:
    good, _, key = chain_files
    assert main(["verify", str(good), "--keys", str(key)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("VALID   chain_good (3 receipts")
    assert out.splitlines()[-1].startswith("ALL VALID: 1 chain (0 broken), 3 receipts")


def test_broken_chain_exits_one_and_names_the_receipt(chain_files, capsys) -> None:
    good, bad, key = chain_files
    assert main(["verify", str(good), str(bad), "--keys", str(key)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN  chain_bad at seq 2: INVALID_SIGNATURE" in out  # cited as the report does
    assert "bad.jsonl:2" in out
    assert "FAILED: 2 chains (1 broken)" in out


def test_json_output_follows_the_documented_schema(chain_files, capsys) -> None:
    good, bad, key = chain_files
    assert main(["verify", str(good), str(bad), "--keys", str(key), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == VERIFY_JSON_SCHEMA
    assert data["valid"] is False
    assert data["summary"] == {
        "chains": 2,
        "valid_chains": 1,
        "broken_chains": 1,
        "receipts": 6,
        "failures": 2,
        "warnings": 0,
        "input_problems": 0,
    }
    bad_chain = next(c for c in data["chains"] if c["chain_id"] == "chain_bad")
    assert bad_chain["broken_at"] == 1
    assert [r["outcome"] for r in bad_chain["receipts"]] == ["PASSED", "FAILED", "FAILED"]
    assert bad_chain["failures"][0]["code"] == "INVALID_SIGNATURE"
    assert data["trust_anchors"][0]["fingerprint"] == KEY.fingerprint


def test_chain_filter(chain_files, capsys) -> None:
    good, bad, key = chain_files
    assert main(["verify", str(good), str(bad), "--keys", str(key), "--chain", "chain_good"]) == 0
    assert "chain_bad" not in capsys.readouterr().out


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse reports usage errors by exiting
        return int(exit_.code or 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["verify"],
        ["verify", "x.jsonl"],
        ["verify", "missing.jsonl", "--keys", "KEY"],
        ["verify", "GOOD", "--keys", "missing.pem"],
        ["verify", "GOOD", "--keys", "KEY", "--witness", "missing.yaml"],
        ["verify", "GOOD", "--keys", "KEY", "--workers", "0"],
        ["frobnicate"],
    ],
)
def test_usage_and_unreadable_input_exit_two(chain_files, argv, capsys) -> None:
    good, _, key = chain_files
    argv = [str(good) if a == "GOOD" else str(key) if a == "KEY" else a for a in argv]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert "Traceback" not in err


def test_usage_errors_exit_two_from_the_console_script(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "reporting", "verify"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr


def test_internal_errors_exit_three_without_traceback(chain_files, monkeypatch, capsys) -> None:
    good, _, key = chain_files

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("reporting.pipeline.run_verification", explode)
    monkeypatch.delenv("AGENT_EVIDENCE_DEBUG", raising=False)
    assert main(["verify", str(good), "--keys", str(key)]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err
    assert "Traceback" not in err


def test_stdin_source(chain_files, monkeypatch, capsys) -> None:
    good, _, key = chain_files
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(good.read_bytes())))
    assert main(["verify", "-", "--keys", str(key)]) == 0
    assert "VALID   chain_good" in capsys.readouterr().out


REPORT = ["report", "{src}", "--keys", "{key}"]


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        ([*REPORT, "--period", "2026-09", "--period", "2026-10"], "--period"),
        ([*REPORT, "--out", "a", "--out", "b"], "--out"),
        ([*REPORT, "--render-timeout", "9", "--render-timeout", "99"], "--render-timeout"),
        ([*REPORT, "--sign-key", "a", "--sign-key", "b"], "--sign-key"),
        (["verify", "{src}", "--keys", "{key}", "--witness", "a", "--witness", "b"], "--witness"),
    ],
)
def test_a_single_valued_option_given_twice_is_a_usage_error(
    chain_files, argv: list[str], option: str, capsys
) -> None:
    """argparse keeps the last value silently; a signed report about another period, or
    with other files, than the operator meant is worse than an error."""
    source, _, key = chain_files
    filled = [a.format(src=source, key=key) for a in argv]
    with pytest.raises(SystemExit) as exited:
        main(filled)
    assert exited.value.code == 2
    assert option in capsys.readouterr().err
