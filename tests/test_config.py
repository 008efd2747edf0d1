"""`report --config`: the sample loads, paths resolve, every error is reported at once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reporting.config import EVERY, CheckOverride, ReportConfig, config_schema, load_config
from reporting.errors import Diagnostic, InputError
from reporting.periods import parse_period

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
HEADER = "schema: agent-evidence/config/v1\n"


def write(tmp_path: Path, text: str, name: str = "report.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[Diagnostic]:
    with pytest.raises(InputError) as caught:
        load_config(path)
    diagnostics = caught.value.diagnostics()
    assert {d.code for d in diagnostics} == {"CONFIG"}
    assert {d.source for d in diagnostics} == {str(path)}
    return diagnostics


def located(diagnostics: list[Diagnostic]) -> list[tuple[int | None, str]]:
    """(line, setting) per diagnostic: the setting is the message up to its first colon."""
    return [(d.line, d.message.split(":", 1)[0]) for d in diagnostics]


# -- the committed sample ------------------------------------------------------------------


def test_sample_loads_with_paths_resolved_against_its_directory() -> None:
    config = load_config(SAMPLES / "report.yaml")
    assert config.sources == (str(SAMPLES / "receipts.db"),)
    assert config.keys == SAMPLES / "trust.yaml"
    assert config.witness == SAMPLES / "witness.yaml"
    assert config.grants == SAMPLES / "grants.yaml"
    assert config.bodies == SAMPLES / "bodies"
    assert config.out == REPO / "out" / "scheduled"
    for path in (config.keys, config.witness, config.grants, config.bodies, *config.sources):
        assert Path(path).exists(), path
    assert config.frameworks == ("eu-ai-act", "soc2", "owasp-asi-2026")
    assert config.formats == ("pdf", "html", "json", "csv", "oscal")
    assert config.organisation == "Example Corp"
    assert config.fail_on == "integrity"
    assert config.require_terminal is False
    assert config.workers is None


def test_sample_names_october_2026_and_signs_with_the_demo_key() -> None:
    config = load_config(SAMPLES / "report.yaml")
    period = parse_period(config.period, config.since, config.until)
    assert (period.since, period.until) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    signing = (config.sign_key, config.sign_cert, config.sign_p12, config.passphrase_env)
    assert signing == (None, None, None, None)
    assert config.sign_chain == ()
    assert config.tsa is None
    override = CheckOverride(
        "soc2", "CC7.2", "burst_detection", {"max_per_minute": 20}, line=config.overrides[-1].line
    )
    assert config.overrides[-1] == override
    assert config.overrides[-1].line is not None
    deployment = {o.check: o for o in config.overrides[:-1]}
    assert set(deployment) == {
        "activity_continuity",
        "intent_recorded",
        "inventory_allowlist",
        "termination_status",
        "working_hours",
    }
    assert {(o.framework, o.control) for o in deployment.values()} == {(EVERY, EVERY)}
    assert deployment["intent_recorded"].params == {
        "conversational": ["did:agent:coding-assistant"]
    }
    assert deployment["termination_status"].params == {
        "open_chains": ["did:agent:mcp-proxy-github"]
    }


def test_paths_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cwd in (REPO, tmp_path):
        monkeypatch.chdir(cwd)
        given = Path(os.path.relpath(SAMPLES / "report.yaml", cwd))
        config = load_config(given)
        assert config.path == given
        assert config.keys == SAMPLES / "trust.yaml"
        assert config.out == REPO / "out" / "scheduled"


def test_a_config_may_be_almost_empty(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER)
    assert load_config(path) == ReportConfig(path=path)


def test_every_setting_is_read(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    path = write(
        tmp_path,
        HEADER
        + """
sources: [store.db, /var/lib/receipts.db, "-"]
keys: keys/
tsa_roots: [tsa/root.pem]
require_terminal: true
frameworks: [soc2, ./mappings/internal.yaml, mappings/other.yml]
since: "2026-10-05"
until: 2026-10-06T12:00:00+02:00
output: {directory: /srv/evidence, formats: [json]}
signing:
  key: signing/key.pem
  certificate: signing/cert.pem
  chain: [signing/intermediate.pem]
  passphrase_env: MY_PASSPHRASE
  tsa: https://tsa.example/tsr
fail_on: controls
workers: 4
""",
    )
    config = load_config(path)
    assert config.sources == (str(tmp_path / "store.db"), "/var/lib/receipts.db", "-")
    assert config.keys == tmp_path / "keys"
    assert config.tsa_root == (tmp_path / "tsa" / "root.pem",)
    assert config.require_terminal is True
    assert config.frameworks == (
        "soc2",
        str(tmp_path / "mappings" / "internal.yaml"),
        str(tmp_path / "mappings" / "other.yml"),
    )
    assert (config.period, config.since, config.until) == (
        None,
        "2026-10-05",
        "2026-10-06T12:00:00+02:00",
    )
    assert config.out == Path("/srv/evidence")
    assert config.formats == ("json",)
    assert config.sign_key == tmp_path / "signing" / "key.pem"
    assert config.sign_cert == tmp_path / "signing" / "cert.pem"
    assert config.sign_chain == (tmp_path / "signing" / "intermediate.pem",)
    assert config.passphrase_env == "MY_PASSPHRASE"
    assert config.tsa == "https://tsa.example/tsr"
    assert (config.fail_on, config.workers) == ("controls", 4)


def test_a_pkcs12_identity_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "signing: {p12: id.p12, passphrase_env: P12_PASS}\n")
    config = load_config(path)
    assert (config.sign_p12, config.sign_key, config.passphrase_env) == (
        tmp_path / "id.p12",
        None,
        "P12_PASS",
    )


# -- every error at once -------------------------------------------------------------------

BROKEN = """\
schema: agent-evidence/config/v1
organisation: Example Corp
sources: receipts.db
colour: blue
require_terminal: "yes"
frameworks: [soc2, soc-3]
period: 2026-13
output:
  directroy: out
  formats: [pdf, docx]
signing:
  key: k.pem
  certificate: c.pem
  passphrase: hunter2
  passphrase_env: 1BAD
checks:
  overrides:
    - {framework: soc2, control: CC7.2, check: working_hours, params: {start: "7"}}
    - {framework: soc2, control: CC7.2, check: no_such_check, params: {}}
    - {framework: soc2, control: CC7.2, check: working_hours, params: {}, extra: 1}
fail_on: always
workers: 0
"""


def test_a_broken_config_reports_every_error_with_its_line(tmp_path: Path) -> None:
    found = problems(write(tmp_path, BROKEN))
    assert located(found) == [
        (3, "sources"),
        (4, "colour"),
        (5, "require_terminal"),
        (6, "frameworks[1]"),
        (7, "period"),
        (9, "output.directroy"),
        (10, "output.formats[1]"),
        (14, "signing.passphrase"),
        (15, "signing.passphrase_env"),
        (18, "checks.overrides[0].params"),
        (19, "checks.overrides[1].check"),
        (20, "checks.overrides[2].extra"),
        (21, "fail_on"),
        (22, "workers"),
    ]


def test_broken_config_messages_say_what_is_wrong(tmp_path: Path) -> None:
    messages = {d.line: d.message for d in problems(write(tmp_path, BROKEN))}
    assert "unknown key" in messages[4]
    assert "'2026-13'" in messages[7]
    assert "allowed: directory, formats" in messages[9]
    assert "passphrase_env" in messages[14]
    assert "'always' is not one of" in messages[21]
    assert "unknown check 'no_such_check'" in messages[19]


def test_the_exception_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "fail_on: sometimes\n")
    with pytest.raises(InputError, match=rf"{path}:2: fail_on: 'sometimes' is not one of"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "line", "setting"),
    [
        ("schema: agent-evidence/config/v2\n", 1, "schema"),
        ("organisation: x\n", 1, "(top)"),  # schema is required
        ("keys: 42\n", 2, "keys"),
        ("witness: ''\n", 2, "witness"),
        ("workers: true\n", 2, "workers"),
        ("output: {formats: []}\n", 2, "output.formats"),
        ("output: {formats: [pdf, pdf]}\n", 2, "output.formats"),
        ("frameworks: [soc2, soc2]\n", 2, "frameworks"),
        ("signing: {tsa: ftp://tsa.example}\n", 2, "signing.tsa"),
        ("signing: {key: k.pem}\n", 2, "signing.key"),
        ("signing: {certificate: c.pem}\n", 2, "signing.certificate"),
        ("signing: {p12: a.p12, key: k.pem, certificate: c.pem}\n", 2, "signing.p12"),
        (
            "checks: {overrides: [{framework: soc2, control: X, check: working_hours}]}\n",
            2,
            "checks.overrides[0]",
        ),
        (
            "checks: {overrides: [{framework: Soc 2, control: X, check: c, params: {}}]}\n",
            2,
            "checks.overrides[0].framework",
        ),
        ("checks: {rules: []}\n", 2, "checks.rules"),
    ],
)
def test_each_schema_rule_is_enforced(tmp_path: Path, text: str, line: int, setting: str) -> None:
    body = text if text.startswith("schema:") or line == 1 else HEADER + text
    assert located(problems(write(tmp_path, body))) == [(line, setting)]


def test_a_repeated_override_is_an_error(tmp_path: Path) -> None:
    text = HEADER + (
        "checks:\n  overrides:\n"
        "    - {framework: soc2, control: CC7.2, check: burst_detection, params: {}}\n"
        "    - {framework: soc2, control: CC7.2, check: burst_detection,"
        " params: {max_per_minute: 5}}\n"
    )
    found = problems(write(tmp_path, text))
    assert located(found) == [(5, "checks.overrides[1]")]
    assert "line 4" in found[0].message


def test_override_parameters_are_checked_with_defaults(tmp_path: Path) -> None:
    text = HEADER + (
        "checks:\n  overrides:\n"
        "    - framework: soc2\n      control: CC7.2\n      check: working_hours\n"
        "      params:\n        producers: [{issuer: x, start: '07:00', end: '19:00',"
        " weekdays: [1], timezone: Mars/Olympus_Mons}]\n"
    )
    found = problems(write(tmp_path, text))
    assert located(found) == [(7, "checks.overrides[0].params")]
    assert "IANA" in found[0].message


# -- periods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("period: 2027-W53\n", [(2, "period")]),
        ("period: next-month\n", [(2, "period")]),
        ("period: 202610\n", [(2, "period")]),  # an integer
        ("since: yesterday\n", [(2, "since")]),
        ("until: 2026-02-30\n", [(2, "until")]),
        ("period: 2026-10\nsince: 2026-10-05\n", [(3, "since")]),
        ("period: last-month\nuntil: 2026-10-05\n", [(3, "until")]),
        ("since: 2026-10-05\nuntil: 2026-10-05\n", [(3, "until")]),
        ("since: 2026-10-05\nuntil: 2026-10-01T23:00-02:00\n", [(3, "until")]),
    ],
)
def test_bad_periods_are_reported(
    tmp_path: Path, text: str, expected: list[tuple[int, str]]
) -> None:
    assert located(problems(write(tmp_path, HEADER + text))) == expected


@pytest.mark.parametrize("period", ["2026-10", "2026-Q4", "2026-W53", "last-week", "last-quarter"])
def test_every_period_form_is_accepted(tmp_path: Path, period: str) -> None:
    assert load_config(write(tmp_path, HEADER + f"period: {period}\n")).period == period


# -- secrets -------------------------------------------------------------------------------

PEM = (
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\\nMIIFHzBJBgkqhkiG9w0BBQ0w\\n"
    "-----END ENCRYPTED PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "line", "setting"),
    [
        ("passphrase: s3cr3t-value\n", 2, "passphrase"),
        ("signing:\n  p12: id.p12\n  password: s3cr3t-value\n", 4, "signing.password"),
        (
            "signing: {key: k.pem, certificate: c.pem, Key_Passphrase: s3cr3t-value}\n",
            2,
            "signing.Key_Passphrase",
        ),
        ("tsa_secret: s3cr3t-value\n", 2, "tsa_secret"),
        (
            "checks:\n  overrides:\n    - framework: soc2\n      control: CC7.2\n"
            "      check: working_hours\n      params: {secret: s3cr3t-value}\n",
            7,
            "checks.overrides[0].params.secret",
        ),
        ("keys: {password: s3cr3t-value}\n", 2, "keys.password"),
        (f'signing: {{key: "{PEM}", certificate: c.pem}}\n', 2, "signing.key"),
        (f'sources: [a.db, "{PEM}"]\n', 2, "sources[1]"),
    ],
)
def test_inline_secrets_are_refused_without_echoing_them(
    tmp_path: Path, text: str, line: int, setting: str
) -> None:
    found = problems(write(tmp_path, HEADER + text))
    secret = [d for d in found if "passphrase_env" in d.message]
    assert located(secret) == [(line, setting)]
    assert "passphrase_env" in secret[0].message
    for diagnostic in found:
        assert "s3cr3t-value" not in str(diagnostic)
        assert "MIIFHzBJ" not in str(diagnostic)


def test_an_inline_secret_is_not_also_an_unknown_key(tmp_path: Path) -> None:
    found = problems(write(tmp_path, HEADER + "signing: {passphrase: s3cr3t-value}\n"))
    assert len(found) == 1
    assert "inline secrets are not allowed" in found[0].message


def test_a_type_error_around_a_secret_does_not_show_it(tmp_path: Path) -> None:
    found = problems(write(tmp_path, HEADER + "keys: {password: s3cr3t-value}\n"))
    assert located(found) == [(2, "keys.password"), (2, "keys")]
    assert "value not shown" in found[1].message


def test_a_public_key_or_certificate_is_not_a_secret(tmp_path: Path) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----"
    found = problems(write(tmp_path, HEADER + f'keys: "{pem}"\nfail_on: x\n'))
    assert located(found) == [(3, "fail_on")]


# -- hostile YAML --------------------------------------------------------------------------


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return HEADER + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (billion_laughs(), 3, "aliases are not allowed"),
        (HEADER + "keys: &k trust.yaml\nwitness: *k\n", 3, "aliases are not allowed"),
        (HEADER + 'keys: !!python/object/apply:os.system ["true"]\n', 2, "constructor"),
        (HEADER + "keys: !vault trust.yaml\n", 2, "constructor"),
        (HEADER + "keys: a.yaml\nkeys: b.yaml\n", 3, "duplicate key 'keys'"),
        (HEADER + "output: {directory: a, directory: b}\n", 2, "duplicate key 'directory'"),
        (HEADER + "keys: [unclosed\n", 3, "invalid YAML"),
    ],
)
def test_hostile_or_ambiguous_yaml_is_refused(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    found = problems(write(tmp_path, text))
    assert len(found) == 1
    assert found[0].line == line
    assert needle in found[0].message


def test_binary_values_fail_the_schema(tmp_path: Path) -> None:
    assert located(problems(write(tmp_path, HEADER + "keys: !!binary aGVsbG8=\n"))) == [(2, "keys")]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    found = problems(write(tmp_path, HEADER + "workers: " + "[" * 50_000 + "]" * 50_000 + "\n"))
    assert "nested too deeply" in found[0].message


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    found = problems(write(tmp_path, HEADER + "# " + "x" * (1 << 20) + "\n"))
    assert "limit" in found[0].message


@pytest.mark.parametrize("text", ["", "- a list\n", "just a string\n"])
def test_the_file_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    assert located(problems(write(tmp_path, text))) == [(1, "(top)")]


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    found = problems(tmp_path / "absent.yaml")
    assert found[0].line is None
    assert "No such file" in found[0].message


# -- the schema itself ---------------------------------------------------------------------


def object_schemas(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for key, value in node.items():
            yield from object_schemas(value, f"{path}/{key}")


def test_schema_is_valid_2020_12_and_closed_everywhere() -> None:
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    closed = {path for path, node in object_schemas(schema) if "properties" in node}
    assert closed == {
        "",
        "/properties/output",
        "/properties/signing",
        "/properties/checks",
        "/properties/render",
        "/properties/deployment",
        "/$defs/override",
        "/$defs/producer",
        "/$defs/producer/properties/inventory",
    }
    for path, node in object_schemas(schema):
        if "properties" in node:
            assert node.get("additionalProperties") is False, path


def test_every_setting_is_documented() -> None:
    for path, node in object_schemas(config_schema()):
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{path}/{name}"


def test_config_fields_cover_every_setting() -> None:
    """Each top-level key of the schema maps onto a ReportConfig field (CLI names)."""
    renamed = {
        "schema": None,
        "output": ("out", "formats"),
        "signing": ("sign_key",),
        "checks": ("overrides",),
        "deployment": ("overrides",),
        "tsa_roots": ("tsa_root",),
        "render": ("render_timeout", "render_memory"),
    }
    fields = set(ReportConfig.__dataclass_fields__)
    for key in config_schema()["properties"]:
        targets = renamed.get(key, (key,))
        for target in targets or ():
            assert target in fields, key


# -- the deployment section ------------------------------------------------------------------

DEPLOYMENT = (
    HEADER
    + """\
deployment:
  producers:
    - issuer: did:agent:finance-*
      timezone: Europe/Berlin
      working_hours: {start: "06:00", end: "20:00", weekdays: [1, 2, 3, 4, 5]}
      operating_days: [1, 2, 3, 4, 5]
    - issuer: did:agent:daemon
      working_hours: always
      open_chains: true
      conversational: false
      inventory: {executables: [/usr/bin/daemon]}
"""
)


def test_the_deployment_becomes_parameters_of_every_use_of_its_checks(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DEPLOYMENT))
    params = {o.check: dict(o.params) for o in config.overrides}
    assert {(o.framework, o.control, o.line) for o in config.overrides} == {(EVERY, EVERY, 2)}
    assert params["working_hours"] == {
        "producers": [
            {
                "issuer": "did:agent:finance-*",
                "start": "06:00",
                "end": "20:00",
                "weekdays": [1, 2, 3, 4, 5],
                "timezone": "Europe/Berlin",
            },
            {"issuer": "did:agent:daemon", "always": True},
        ]
    }
    assert params["activity_continuity"] == {
        "producers": [
            {
                "issuer": "did:agent:finance-*",
                "weekdays": [1, 2, 3, 4, 5],
                "timezone": "Europe/Berlin",
            }
        ]
    }
    assert params["intent_recorded"] == {"conversational": []}
    assert params["termination_status"] == {"open_chains": ["did:agent:daemon"]}
    assert params["inventory_allowlist"]["producers"][1] == {
        "issuer": "did:agent:daemon",
        "executables": ["/usr/bin/daemon"],
    }


def test_without_a_deployment_nothing_is_configured_for_it(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, HEADER)).overrides == ()


@pytest.mark.parametrize(
    ("text", "line", "setting"),
    [
        ("deployment: {producers: []}\n", 2, "deployment.producers"),
        ("deployment: {producers: [{timezone: UTC}]}\n", 2, "deployment.producers[0]"),
        (
            "deployment: {producers: [{issuer: x, hours: always}]}\n",
            2,
            "deployment.producers[0].hours",
        ),
        (
            "deployment: {producers: [{issuer: x, working_hours: {start: '6', end: '7', "
            "weekdays: [1]}}]}\n",
            2,
            "deployment.producers[0].working_hours",
        ),
        (
            "deployment: {producers: [{issuer: x, timezone: Mars/Olympus_Mons}]}\n",
            2,
            "deployment.producers[0].timezone",
        ),
    ],
)
def test_a_bad_deployment_is_reported_with_its_line(
    tmp_path: Path, text: str, line: int, setting: str
) -> None:
    assert located(problems(write(tmp_path, HEADER + text))) == [(line, setting)]
