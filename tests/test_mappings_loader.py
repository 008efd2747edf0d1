"""Mapping files: strict schema, every error at once with its line, registry-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporting.cli import main
from reporting.controls.loader import MappingError, load_mapping, load_mappings

GOOD = """\
schema: agent-evidence/mapping/v1
framework:
  id: demo
  title: Demo framework
  version: "1.0"
  source: https://example.org/demo
  retrieved: 2026-11-01
controls:
  - id: D-1
    title: Logs are intact
    requirement: {text: "Logs shall be tamper-evident.", quote: verbatim}
    checks:
      - check: chain_integrity
      - check: log_retention
        params: {min_months: 6}
        role: supporting
    manual_evidence: [Logging design document]
    crosswalks: {other: [X-1]}
  - id: D-2
    title: A policy
    requirement: {text: "There is a policy.", quote: summary}
    manual_evidence: [The policy]
"""

BROKEN = """\
schema: agent-evidence/mapping/v1
framework:
  id: demo
  title: Demo framework
  version: "1.0"
  source: https://example.org/demo
  retrieved: 2026-11-01
controls:
  - id: D-1
    title: One
    requirement: {text: "x", quote: verbatim}
    checks:
      - check: no_such_check
      - check: log_retention
        params: {min_months: "six"}
      - check: failure_rate
        params: {max_rate: 2}
  - id: D-1
    title: Two
    requirement: {text: "y", quote: summary}
    checks:
      - check: scope_matches_action
"""


def _write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_mapping_loads(tmp_path: Path) -> None:
    framework = load_mapping(_write(tmp_path, GOOD))
    assert framework.id == "demo"
    assert framework.retrieved == "2026-11-01"
    assert [c.id for c in framework.controls] == ["D-1", "D-2"]
    assert framework.controls[0].checks[1].params == {"min_months": 6}
    assert [ref.role for ref in framework.controls[0].checks] == ["deciding", "supporting"]
    assert framework.controls[0].crosswalks == {"other": ("X-1",)}
    assert len(framework.sha256) == 64


def test_every_semantic_error_is_reported_at_once_with_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, BROKEN)
    with pytest.raises(MappingError) as raised:
        load_mapping(path)
    found = sorted((d.code, d.line) for d in raised.value.diagnostics())
    assert found == [
        ("MAPPING_BAD_PARAMS", 15),
        ("MAPPING_BAD_PARAMS", 17),
        ("MAPPING_BAD_PARAMS", 22),  # scope_matches_action requires rules
        ("MAPPING_DUPLICATE_CONTROL", 18),
        ("MAPPING_UNKNOWN_CHECK", 13),
    ]
    assert all(d.source == str(path) for d in raised.value.diagnostics())


def test_schema_errors_name_their_lines(tmp_path: Path) -> None:
    text = GOOD.replace("quote: verbatim", "quote: maybe").replace(
        "  version:", "  colour: red\n  version:"
    )
    with pytest.raises(MappingError) as raised:
        load_mapping(_write(tmp_path, text))
    found = {(d.code, d.line) for d in raised.value.diagnostics()}
    assert found == {("MAPPING_SCHEMA", 2), ("MAPPING_SCHEMA", 12)}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a: &x [1]\nb: *x\n", "INVALID_YAML"),
        ("framework: !!python/object:os.system {}\n", "INVALID_YAML"),
        ("schema: x\nschema: y\n", "INVALID_YAML"),
        ("controls: [\n", "INVALID_YAML"),
    ],
)
def test_unsafe_or_ambiguous_yaml_is_refused(tmp_path: Path, text: str, code: str) -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping(_write(tmp_path, text))
    assert raised.value.code == code
    assert raised.value.diagnostics()[0].line is not None


def test_errors_of_several_files_come_together(tmp_path: Path) -> None:
    good = _write(tmp_path, GOOD)
    broken = _write(tmp_path, BROKEN, "broken.yaml")
    duplicate = _write(tmp_path, GOOD, "again.yaml")
    with pytest.raises(MappingError) as raised:
        load_mappings([good, broken, duplicate])
    codes = [d.code for d in raised.value.diagnostics()]
    assert codes.count("MAPPING_BAD_PARAMS") == 3
    assert "MAPPING_DUPLICATE_FRAMEWORK" in codes


def test_crosswalks_to_a_loaded_framework_must_exist(tmp_path: Path) -> None:
    other = GOOD.replace("id: demo", "id: other").replace("{other: [X-1]}", "{demo: [D-9]}")
    with pytest.raises(MappingError) as raised:
        load_mappings([_write(tmp_path, GOOD), _write(tmp_path, other, "other.yaml")])
    messages = sorted(d.message for d in raised.value.diagnostics())
    assert [d.code for d in raised.value.diagnostics()] == ["MAPPING_BAD_CROSSWALK"] * 2
    assert "D-9" in messages[0] or "D-9" in messages[1]


def test_mappings_check_command_lists_every_error_and_exits_two(tmp_path: Path, capsys) -> None:
    assert main(["mappings", "check", str(_write(tmp_path, BROKEN))]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 5
    assert f"{tmp_path / 'demo.yaml'}:13:" in err


def test_mappings_check_accepts_a_good_file(tmp_path: Path, capsys) -> None:
    assert main(["mappings", "check", str(_write(tmp_path, GOOD))]) == 0
    assert "OK" in capsys.readouterr().out


def test_mappings_checks_lists_the_registry(capsys) -> None:
    import json

    assert main(["mappings", "checks"]) == 0
    names = {c["name"] for c in json.loads(capsys.readouterr().out)}
    assert {"chain_integrity", "scope_matches_action", "working_hours"} <= names


def test_check_specific_parameter_validation(tmp_path: Path) -> None:
    text = GOOD.replace(
        "      - check: chain_integrity\n",
        "      - check: working_hours\n"
        "        params: {producers: [{issuer: x, always: true, timezone: Europe/Berln}]}\n",
    )
    with pytest.raises(MappingError) as raised:
        load_mapping(_write(tmp_path, text))
    [diagnostic] = raised.value.diagnostics()
    assert (diagnostic.code, diagnostic.line) == ("MAPPING_BAD_PARAMS", 14)
    assert "Europe/Berln" in diagnostic.message
