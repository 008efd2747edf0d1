"""Hostile times and numbers fail safe (issue 13, section 6): extreme but validly signed
dates, periods at the ends of the calendar, YAML integers beyond Python's conversion
limit and non-finite numbers, each with its documented exit code, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from reporting.cli import main
from reporting.periods import parse_period, period_name

from .factory import ChainBuilder, Key, write_jsonl

KEY = Key.from_seed("hostile-settings")
EXTREMES = ["0999-06-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.fixture
def extreme(tmp_path: Path) -> tuple[Path, Path]:
    builder = ChainBuilder(KEY, chain_id="chain_extreme")
    for timestamp in [*EXTREMES, "2026-10-02T10:00:00.000Z"]:
        builder.add(timestamp=timestamp)
    return write_jsonl(tmp_path / "r.jsonl", builder.receipts), KEY.write_pem(tmp_path / "k.pem")


@pytest.mark.parametrize(
    "period",
    [[], ["--since", "0999-01-01"], ["--period", "2026-10"], ["--until", "9999-12-31"]],
    ids=["all", "since-999", "october", "until-9999"],
)
def test_extreme_signed_dates_give_a_report_not_an_internal_error(
    extreme, tmp_path: Path, period: list[str], capsys
) -> None:
    source, key = extreme
    out = tmp_path / "out"
    argv = ["report", str(source), "--keys", str(key), "--format", "json,oscal,csv,html"]
    code = main([*argv, "--out", str(out), "--quiet", "--json", *period])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    assert "internal error" not in captured.err
    summary = json.loads(captured.out)
    [oscal] = Path(summary["directory"]).glob("*-oscal.json")
    times = json.dumps(json.loads(oscal.read_text()))
    assert '"999-' not in times  # four-digit years in every OSCAL date-time
    assert summary["figures"]["receipts_in_scope"] >= 1


def test_a_time_beyond_the_calendar_in_utc_is_kept_but_has_no_place(extreme, capsys) -> None:
    """0001-01-01T00:00:00+14:00 is year 0 in UTC: verified, listed, but in no period."""
    source, key = extreme
    assert main(["verify", str(source), "--keys", str(key), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["receipts"] == 4


def test_period_names_have_four_digit_years() -> None:
    assert period_name(parse_period(None, "0999-01-01", None)) == "09990101-now"
    assert period_name(parse_period("0999-10", None, None)) == "0999-10"


def test_a_bound_before_year_one_in_utc_is_a_usage_error(extreme, capsys) -> None:
    source, key = extreme
    argv = ["report", str(source), "--keys", str(key), "--since", "0001-01-01T00:00:00+14:00"]
    assert main([*argv, "--format", "json", "--quiet"]) == 2
    assert "BAD_PERIOD" in capsys.readouterr().err


HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("option", "text", "code"),
    [
        ("--witness", f'version: 1\nchains:\n  "c": {{length: {HUGE}}}\n', "INVALID_YAML"),
        (
            "--grants",
            f"version: 1\ngrants:\n  g: {{subject: s, scopes: [{HUGE}]}}\n",
            "INVALID_YAML",
        ),
        ("--keys", f"version: 1\nissuers:\n  - issuer: {HUGE}\n", "INVALID_YAML"),
        ("--witness", 'version: 1\nchains:\n  "c": {length: .nan}\n', "INVALID_YAML"),
    ],
    ids=["witness-int", "grants-int", "trust-int", "witness-nan"],
)
def test_hostile_numbers_in_yaml_inputs_are_located_errors(
    extreme, tmp_path: Path, option: str, text: str, code: str, capsys
) -> None:
    source, key = extreme
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(text)
    argv = ["verify", str(source), "--keys", str(key), option, str(hostile)]
    if option == "--keys":
        argv = ["verify", str(source), "--keys", str(hostile)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(r"hostile\.yaml:\d+: ", err), err  # file and line
    assert f"[{code}]" in err
    assert "internal error" not in err


@pytest.mark.parametrize(
    "value", [".nan", ".inf", "-.inf", ".NaN", HUGE], ids=["nan", "inf", "-inf", "NaN", "int"]
)
def test_non_finite_or_huge_numbers_in_the_config_are_rejected(
    extreme, tmp_path: Path, value: str, capsys
) -> None:
    source, key = extreme
    config = tmp_path / "report.yaml"
    config.write_text(
        f"schema: agent-evidence/config/v1\nsources: [{source}]\nkeys: {key}\n"
        f"render: {{timeout_seconds: {value}}}\n"
    )
    assert main(["report", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "report.yaml:4" in err
    assert "[CONFIG]" in err


def test_non_finite_numbers_in_a_mapping_are_rejected(tmp_path: Path, capsys) -> None:
    from reporting.controls.loader import shipped_mapping_paths

    text = next(p for p in shipped_mapping_paths() if p.stem == "soc2").read_text()
    assert "params: {max_rate: 0.10}" in text
    hostile = tmp_path / "mapping.yaml"
    hostile.write_text(text.replace("params: {max_rate: 0.10}", "params: {max_rate: .inf}"))
    assert main(["mappings", "check", str(hostile)]) == 2
    assert "mapping.yaml:" in capsys.readouterr().err
