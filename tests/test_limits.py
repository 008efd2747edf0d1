"""The receipt size and nesting limits are the user's to set, from the CLI or the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reporting.cli import main
from reporting.config import load_config
from reporting.errors import InputError

from .factory import ChainBuilder, Key, write_jsonl

KEY = Key.from_seed("limits")
HEADER = "schema: agent-evidence/config/v1\n"


def _inputs(tmp_path: Path) -> tuple[Path, Path, int]:
    receipts = ChainBuilder(KEY, chain_id="chain_limits").extend(3).receipts
    source = write_jsonl(tmp_path / "chain.jsonl", receipts)
    largest = max(len(json.dumps(r).encode()) for r in receipts)
    return source, KEY.write_pem(tmp_path / "key.pem"), largest


def _codes(output: str) -> set[str]:
    document = json.loads(output)
    return {p["code"] for chain in document["chains"] for p in chain["failures"]}


def test_max_receipt_bytes_from_the_command_line(tmp_path: Path, capsys) -> None:
    source, key, largest = _inputs(tmp_path)
    arguments = ["verify", str(source), "--keys", str(key), "--json"]
    assert main([*arguments, "--max-receipt-bytes", str(largest)]) == 0
    capsys.readouterr()
    assert main([*arguments, "--max-receipt-bytes", str(largest - 1)]) == 1
    assert "RECEIPT_TOO_LARGE" in _codes(capsys.readouterr().out)


def test_max_depth_from_the_command_line(tmp_path: Path, capsys) -> None:
    source, key, _ = _inputs(tmp_path)
    arguments = ["verify", str(source), "--keys", str(key), "--json"]
    assert main([*arguments, "--max-depth", "2"]) == 1
    assert "MALFORMED_RECEIPT" in _codes(capsys.readouterr().out)
    assert main([*arguments, "--max-depth", "32"]) == 0


def test_limits_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "report.yaml"
    path.write_text(HEADER + "max_receipt_bytes: 2048\nmax_depth: 8\n")
    config = load_config(path)
    assert (config.max_receipt_bytes, config.max_depth) == (2048, 8)


def test_a_limit_from_the_config_file_applies_to_the_run(tmp_path: Path) -> None:
    source, key, largest = _inputs(tmp_path)
    config = tmp_path / "report.yaml"
    config.write_text(
        HEADER + f"sources: [{source}]\nkeys: {key}\nmax_receipt_bytes: {largest - 1}\n"
    )
    out = tmp_path / "out"
    argv = ["report", "--config", str(config), "--format", "json", "--out", str(out)]
    assert main(argv) == 1  # the largest receipt is refused: its chain is broken
    [export] = out.glob("*/AER-*/*-verification.json")
    assert "RECEIPT_TOO_LARGE" in _codes(export.read_text())  # default: 1 MiB


@pytest.mark.parametrize(
    ("option", "key"), [("--max-depth", "max_depth"), ("--max-receipt-bytes", "max_receipt_bytes")]
)
def test_a_limit_below_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, key: str
) -> None:
    source, pem, _ = _inputs(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["verify", str(source), "--keys", str(pem), option, "0"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err  # argparse names the option it refused
    assert "Traceback" not in err
    path = tmp_path / "report.yaml"
    path.write_text(HEADER + f"{key}: 0\n")
    with pytest.raises(InputError) as refused:
        load_config(path)
    assert [(d.code, d.source, d.line) for d in refused.value.diagnostics()] == [
        ("CONFIG", str(path), 2)
    ]
