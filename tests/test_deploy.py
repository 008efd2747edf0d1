"""The scheduling samples in samples/deploy/ are well-formed and agree with each other.

systemd units: `systemd-analyze verify` (and `security --offline`) when the binary exists,
and always a structural check of the INI. The Kubernetes CronJob: a hand-written JSON
Schema of the part of batch/v1 it uses (no cluster, no kubectl). The cron line: its five
time fields, and its shell command run with stand-ins for runuser and agent-evidence.
The configurations are validated against the tool's own config schema.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "samples" / "deploy"
SERVICE = DEPLOY / "agent-evidence-report.service"
TIMER = DEPLOY / "agent-evidence-report.timer"
CRON = DEPLOY / "cron.txt"
CRONJOB = DEPLOY / "kubernetes-cronjob.yaml"
HOST_CONFIG = DEPLOY / "report.yaml"
CONFIG_SCHEMA = REPO / "reporting" / "data" / "config.schema.json"
PASSPHRASE_ENV = "AGENT_EVIDENCE_KEY_PASSPHRASE"

# One field of a five-field cron expression: *, a number, a range, a step, or a list of them.
_ATOM = r"(?:\*|\d{1,2}(?:-\d{1,2})?)(?:/\d{1,2})?"
_FIELD = rf"{_ATOM}(?:,{_ATOM})*"
_NAMES = r"(?:[A-Za-z]{3})"
CRON_SCHEDULE = rf"^{_FIELD} {_FIELD} {_FIELD} (?:{_FIELD}|{_NAMES}) (?:{_FIELD}|{_NAMES})$"
CRON_LINE = re.compile(
    rf"^(?P<schedule>(?:{_FIELD}|{_NAMES})(?:\s+(?:{_FIELD}|{_NAMES})){{4}})"
    r"\s+(?:(?P<user>[a-z_][a-z0-9_-]*)\s+)?(?P<command>(?:\(|/|[a-z]).*)$"
)


def _load_config_schema() -> dict[str, Any]:
    if not CONFIG_SCHEMA.is_file():
        pytest.skip(f"{CONFIG_SCHEMA.relative_to(REPO)} not present (report --config not built)")
    return json.loads(CONFIG_SCHEMA.read_text())


def _schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    ]


def _under(path: str, directory: str) -> bool:
    return PurePosixPath(directory) in (PurePosixPath(path), *PurePosixPath(path).parents)


# --------------------------------------------------------------------------- systemd


def _unit(path: Path) -> configparser.ConfigParser:
    # strict=False: systemd allows a key to repeat (SystemCallFilter=); the last one wins here.
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(path.read_text(), source=str(path))
    return parser


def _words(value: str) -> set[str]:
    return set(value.split())


def test_service_unit_structure() -> None:
    unit = _unit(SERVICE)
    assert unit.sections() == ["Unit", "Service"]
    assert unit["Unit"]["Description"]
    service = unit["Service"]
    assert service["Type"] == "oneshot"
    assert service["User"] == "agent-evidence"
    assert service["EnvironmentFile"] == "/etc/agent-evidence/env"
    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith("/"), "systemd wants an absolute ExecStart path"
    assert Path(argv[0]).name == "agent-evidence"
    assert argv[1:4] == ["report", "--config", "/etc/agent-evidence/report.yaml"]
    assert "1" in _words(service["SuccessExitStatus"])
    expected = {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "PrivateNetwork": "yes",
    }
    assert {k: service.get(k) for k in expected} == expected
    for key in ("ReadWritePaths", "ReadOnlyPaths"):
        assert service[key], key
        assert all(p.startswith("/") for p in service[key].split()), key


def test_unit_values_carry_no_inline_comments() -> None:
    # systemd has no trailing comments: "yes # note" would be the value, not "yes".
    for path in (SERVICE, TIMER):
        for section in (unit := _unit(path)).sections():
            for key, value in unit[section].items():
                assert not re.search(r"\s[#;]", value), f"{path.name} [{section}] {key}={value}"


def test_timer_unit_structure() -> None:
    unit = _unit(TIMER)
    assert unit.sections() == ["Unit", "Timer", "Install"]
    timer = unit["Timer"]
    assert timer["OnCalendar"] == "*-*-01 06:00:00 UTC"
    assert timer["Persistent"] == "true"
    assert timer.get("Unit", SERVICE.name) == SERVICE.name
    assert unit["Install"]["WantedBy"] == "timers.target"


def test_service_paths_match_the_host_config() -> None:
    service = _unit(SERVICE)["Service"]
    config = yaml.safe_load(HOST_CONFIG.read_text())
    writable, readonly = service["ReadWritePaths"].split(), service["ReadOnlyPaths"].split()
    output = config["output"]["directory"]
    assert any(_under(output, d) for d in writable), f"{output} not in ReadWritePaths"
    for source in config["sources"]:
        assert any(_under(source, d) for d in readonly), f"{source} not in ReadOnlyPaths"
    assert config["signing"]["passphrase_env"] == PASSPHRASE_ENV


def test_caches_have_a_writable_home() -> None:
    """The agent-evidence user has no home: matplotlib must be told where to cache."""
    service = _unit(SERVICE)["Service"]
    cache = f"/var/cache/{service['CacheDirectory']}"
    environment = dict(pair.split("=", 1) for pair in shlex.split(service["Environment"]))
    assert _under(environment["MPLCONFIGDIR"], cache)
    variables, _ = _cron_entries()
    assert variables["MPLCONFIGDIR"] == environment["MPLCONFIGDIR"]


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (structural checks still run)"
)


def _units_for_analysis(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the units whose ExecStart names a binary that exists on this machine
    (verify rejects a missing one; /opt/agent-evidence is where the sample installs it)."""
    service, timer = tmp_path / SERVICE.name, tmp_path / TIMER.name
    binary = shlex.split(_unit(SERVICE)["Service"]["ExecStart"])[0]
    stand_in = shutil.which("agent-evidence") or shutil.which("true") or "/bin/true"
    service.write_text(
        SERVICE.read_text().replace(f"ExecStart={binary} ", f"ExecStart={stand_in} ")
    )
    shutil.copy(TIMER, timer)
    return service, timer


@needs_systemd_analyze
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    service, timer = _units_for_analysis(tmp_path)
    run = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", str(service), str(timer)],
        capture_output=True,
        text=True,
        check=False,
    )
    # verify exits 0 on unknown keys and unparsable values (it only says "ignoring"), so
    # any message about our files fails the test too.
    ours = [
        line
        for line in (run.stdout + run.stderr).splitlines()
        if SERVICE.stem in line or str(tmp_path) in line
    ]
    assert run.returncode == 0, run.stderr
    assert ours == []


@needs_systemd_analyze
def test_systemd_calendar_is_the_first_of_the_month_at_six_utc() -> None:
    run = subprocess.run(
        [SYSTEMD_ANALYZE, "calendar", "--iterations=3", _unit(TIMER)["Timer"]["OnCalendar"]],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
    )
    assert run.returncode == 0, run.stderr
    elapses = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\S+) (\S+) UTC", run.stdout)
    assert len(elapses) == 3, run.stdout
    assert all(day.endswith("-01") and time == "06:00:00" for day, time in elapses)


@needs_systemd_analyze
def test_systemd_security_exposure_is_low(tmp_path: Path) -> None:
    service, _ = _units_for_analysis(tmp_path)
    run = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--man=no", "--no-pager", str(service)],
        capture_output=True,
        text=True,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", run.stdout)
    if score is None:
        pytest.skip(f"this systemd-analyze cannot assess unit files offline: {run.stderr[-300:]}")
    assert float(score[1]) <= 2.0, run.stdout


# --------------------------------------------------------------------------- cron


def _cron_entries() -> tuple[dict[str, str], list[re.Match[str]]]:
    variables: dict[str, str] = {}
    jobs: list[re.Match[str]] = []
    for number, line in enumerate(CRON.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if assignment := re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line):
            variables[assignment[1]] = assignment[2]
            continue
        match = CRON_LINE.match(line)
        assert match, f"cron.txt:{number}: not a cron line: {line}"
        jobs.append(match)
    return variables, jobs


def _cron_job() -> re.Match[str]:
    _, jobs = _cron_entries()
    assert len(jobs) == 1
    return jobs[0]


def test_cron_line_runs_the_report_at_six_utc_on_the_first() -> None:
    variables, _ = _cron_entries()
    job = _cron_job()
    assert job["schedule"].split() == ["0", "6", "1", "*", "*"]
    assert re.match(CRON_SCHEDULE, " ".join(job["schedule"].split()))
    assert job["user"] == "root"  # /etc/cron.d format: it reads the root-only env file
    assert variables.get("CRON_TZ") == "UTC"
    command = job["command"]
    assert "agent-evidence report --config /etc/agent-evidence/report.yaml" in command
    assert "--period last-month" in command
    assert ". /etc/agent-evidence/env" in command
    assert "%" not in command, "cron turns an unescaped % into a newline"
    assert re.search(r">>\s*/\S+\.log 2>&1", command), "output must be logged"


def test_cron_command_is_valid_sh() -> None:
    run = subprocess.run(
        ["sh", "-n", "-c", _cron_job()["command"]], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr


def _stand_ins(tmp_path: Path) -> tuple[str, Path, Path]:
    """The cron command rewritten to use temporary paths, a runuser that just runs the
    command, and an agent-evidence that records its arguments and environment."""
    command = _cron_job()["command"]
    binary = re.search(r"(/\S+/agent-evidence) report", command)
    assert binary
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    runuser = bin_dir / "runuser"
    runuser.write_text(
        '#!/bin/sh\n[ "$1" = -u ] && [ "$3" = -- ] || exit 125\nshift 3\nexec "$@"\n'
    )
    tool = bin_dir / "agent-evidence"
    tool.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$*" > "$RECORD"\n'
        f'printf "%s\\n" "${{{PASSPHRASE_ENV}:-unset}}" >> "$RECORD"\n'
        'echo "report output"\n'
        'exit "$STUB_EXIT"\n'
    )
    for script in (runuser, tool):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    etc, log = tmp_path / "etc", tmp_path / "log"
    etc.mkdir()
    log.mkdir()
    env_file = etc / "env"
    env_file.write_text(f"{PASSPHRASE_ENV}='correct horse'\n")
    rewritten = (
        command.replace(binary[1], str(tool))
        .replace("/etc/agent-evidence/env", str(env_file))
        .replace("/var/log/agent-evidence/", f"{log}/")
    )
    return rewritten, bin_dir, log


@pytest.mark.parametrize(
    ("code", "mailed"),
    [(0, None), (1, "WITH FINDINGS (exit 1)"), (2, "FAILED (exit 2)"), (3, "FAILED (exit 3)")],
)
def test_cron_command_passes_the_passphrase_and_reports_by_exit_code(
    tmp_path: Path, code: int, mailed: str | None
) -> None:
    command, bin_dir, log = _stand_ins(tmp_path)
    record = tmp_path / "record"
    environment = {
        "PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin",
        "RECORD": str(record),
        "STUB_EXIT": str(code),
    }
    run = subprocess.run(
        ["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, check=False
    )
    assert run.stderr == ""
    args, passphrase = record.read_text().splitlines()
    assert args.startswith("report --config /etc/agent-evidence/report.yaml")
    assert passphrase == "correct horse"
    assert "report output" in "".join(p.read_text() for p in log.glob("*.log"))
    # cron mails what the line prints: nothing on success, one line otherwise
    if mailed is None:
        assert run.stdout == ""
    else:
        assert mailed in run.stdout
        assert len(run.stdout.splitlines()) == 1


def test_cron_command_alerts_when_the_env_file_is_missing(tmp_path: Path) -> None:
    command, bin_dir, _ = _stand_ins(tmp_path)
    (tmp_path / "etc" / "env").unlink()
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(tmp_path / "r")}
    run = subprocess.run(
        ["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, check=False
    )
    assert "FAILED" in run.stdout
    assert not (tmp_path / "r").exists(), "the report must not run without its passphrase"


# --------------------------------------------------------------------------- Kubernetes

_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
_STRINGS = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_RESOURCES = {
    "type": "object",
    "required": ["cpu", "memory"],
    "additionalProperties": {"type": "string", "pattern": _QUANTITY},
}
_CONTAINER_FIELDS = [
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle",
    "livenessProbe", "name", "ports", "readinessProbe", "resizePolicy", "resources",
    "restartPolicy", "securityContext", "startupProbe", "stdin", "stdinOnce",
    "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices",
    "volumeMounts", "workingDir",
]  # fmt: skip
_JOB_SPEC_FIELDS = [
    "activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode",
    "completions", "managedBy", "manualSelector", "maxFailedIndexes", "parallelism",
    "podFailurePolicy", "podReplacementPolicy", "selector", "successPolicy", "suspend",
    "template", "ttlSecondsAfterFinished",
]  # fmt: skip

# The subset of batch/v1 CronJob this sample relies on. additionalProperties is false
# wherever the full field list is given, so a misspelt field (timezone, readOnlyRootFS)
# fails here as it would under `kubectl apply --validate=strict`.
CRONJOB_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "batch/v1"},
        "kind": {"const": "CronJob"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            # a CronJob name longer than 52 characters cannot name its Jobs
            "properties": {"name": {**_NAME, "maxLength": 52}, "labels": {"type": "object"}},
        },
        "spec": {
            "type": "object",
            "required": ["schedule", "jobTemplate"],
            "additionalProperties": False,
            "properties": {
                "schedule": {"type": "string", "pattern": CRON_SCHEDULE},
                "timeZone": {"type": "string", "minLength": 1},
                "concurrencyPolicy": {"enum": ["Allow", "Forbid", "Replace"]},
                "startingDeadlineSeconds": {"type": "integer", "minimum": 0},
                "successfulJobsHistoryLimit": {"type": "integer", "minimum": 0},
                "failedJobsHistoryLimit": {"type": "integer", "minimum": 0},
                "suspend": {"type": "boolean"},
                "jobTemplate": {
                    "type": "object",
                    "required": ["spec"],
                    "additionalProperties": False,
                    "properties": {
                        "metadata": {"type": "object"},
                        "spec": {"$ref": "#/$defs/jobSpec"},
                    },
                },
            },
        },
    },
    "$defs": {
        "jobSpec": {
            "type": "object",
            "required": ["template"],
            "propertyNames": {"enum": _JOB_SPEC_FIELDS},
            "properties": {
                "backoffLimit": {"type": "integer", "minimum": 0},
                "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
                "podFailurePolicy": {"$ref": "#/$defs/podFailurePolicy"},
                "template": {
                    "type": "object",
                    "required": ["spec"],
                    "additionalProperties": False,
                    "properties": {
                        "metadata": {"type": "object"},
                        "spec": {"$ref": "#/$defs/podSpec"},
                    },
                },
            },
        },
        "podFailurePolicy": {
            "type": "object",
            "required": ["rules"],
            "additionalProperties": False,
            "properties": {
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["action"],
                        "additionalProperties": False,
                        "properties": {
                            "action": {"enum": ["FailJob", "FailIndex", "Ignore", "Count"]},
                            "onExitCodes": {
                                "type": "object",
                                "required": ["operator", "values"],
                                "additionalProperties": False,
                                "properties": {
                                    "containerName": _NAME,
                                    "operator": {"enum": ["In", "NotIn"]},
                                    "values": {
                                        "type": "array",
                                        "items": {"type": "integer", "minimum": 1},
                                        "minItems": 1,
                                    },
                                },
                            },
                            "onPodConditions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["type", "status"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "type": {"type": "string", "minLength": 1},
                                        "status": {"enum": ["True", "False", "Unknown"]},
                                    },
                                },
                            },
                        },
                        "oneOf": [
                            {"required": ["onExitCodes"]},
                            {"required": ["onPodConditions"]},
                        ],
                    },
                }
            },
        },
        "podSpec": {
            "type": "object",
            "required": ["containers", "restartPolicy"],
            "properties": {
                # a Job's pods may not use Always; podFailurePolicy needs Never
                "restartPolicy": {"enum": ["Never", "OnFailure"]},
                "automountServiceAccountToken": {"type": "boolean"},
                "securityContext": {
                    "type": "object",
                    "properties": {
                        "runAsNonRoot": {"type": "boolean"},
                        "runAsUser": {"type": "integer", "minimum": 1},
                        "runAsGroup": {"type": "integer", "minimum": 0},
                        "fsGroup": {"type": "integer", "minimum": 0},
                        "seccompProfile": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {
                                "type": {"enum": ["RuntimeDefault", "Localhost", "Unconfined"]}
                            },
                        },
                    },
                },
                "containers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/$defs/container"},
                },
                "volumes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": _NAME},
                        "minProperties": 2,
                        "maxProperties": 2,  # a name and exactly one volume source
                    },
                },
            },
        },
        "container": {
            "type": "object",
            "required": ["name", "image"],
            "propertyNames": {"enum": _CONTAINER_FIELDS},
            "properties": {
                "name": _NAME,
                "image": {"type": "string", "minLength": 1},
                "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                "command": _STRINGS,
                "args": _STRINGS,
                "env": {"type": "array", "items": {"$ref": "#/$defs/envVar"}},
                "resources": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"requests": _RESOURCES, "limits": _RESOURCES},
                },
                "securityContext": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "allowPrivilegeEscalation": {"type": "boolean"},
                        "privileged": {"type": "boolean"},
                        "readOnlyRootFilesystem": {"type": "boolean"},
                        "runAsNonRoot": {"type": "boolean"},
                        "runAsUser": {"type": "integer", "minimum": 0},
                        "runAsGroup": {"type": "integer", "minimum": 0},
                        "capabilities": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"add": _STRINGS, "drop": _STRINGS},
                        },
                        "seccompProfile": {"type": "object"},
                    },
                },
                "volumeMounts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "mountPath"],
                        "properties": {
                            "name": _NAME,
                            "mountPath": {"type": "string", "pattern": "^/"},
                            "readOnly": {"type": "boolean"},
                        },
                    },
                },
            },
        },
        "envVar": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                "value": {"type": "string"},
                "valueFrom": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "properties": {
                        "secretKeyRef": {
                            "type": "object",
                            "required": ["name", "key"],
                            "additionalProperties": False,
                            "properties": {
                                "name": _NAME,
                                "key": {"type": "string", "pattern": r"^[-._a-zA-Z0-9]+$"},
                                "optional": {"type": "boolean"},
                            },
                        },
                        "configMapKeyRef": {"type": "object"},
                        "fieldRef": {"type": "object"},
                        "resourceFieldRef": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
            },
            "not": {"required": ["value", "valueFrom"]},
        },
    },
}


def _documents() -> dict[str, dict[str, Any]]:
    documents = [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d is not None]
    kinds = [d["kind"] for d in documents]
    assert sorted(kinds) == ["ConfigMap", "CronJob"]
    return {d["kind"]: d for d in documents}


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pod


def _container(cronjob: dict[str, Any]) -> dict[str, Any]:
    [container] = _pod(cronjob)["containers"]
    return container


def test_cronjob_schema_rejects_what_it_should() -> None:
    good = _documents()["CronJob"]
    assert _schema_errors(good, CRONJOB_SCHEMA) == []
    bad_schedule = {**good, "spec": {**good["spec"], "schedule": "0 6 1 *"}}
    assert _schema_errors(bad_schedule, CRONJOB_SCHEMA)
    misspelt = {**good, "spec": {**good["spec"], "timezone": "UTC"}}
    assert _schema_errors(misspelt, CRONJOB_SCHEMA)


def test_cronjob_matches_the_schema() -> None:
    assert _schema_errors(_documents()["CronJob"], CRONJOB_SCHEMA) == []


def test_cronjob_schedule_and_policy() -> None:
    cronjob = _documents()["CronJob"]
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 6 1 * *"
    assert spec["timeZone"] == "UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    # exit 2 (usage or configuration error) fails the Job at once: retrying cannot help
    rules = spec["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    [fail] = [r for r in rules if r["action"] == "FailJob"]
    assert fail["onExitCodes"] == {
        "containerName": _container(cronjob)["name"],
        "operator": "In",
        "values": [2],
    }
    assert _pod(cronjob)["restartPolicy"] == "Never"  # podFailurePolicy requires it


def test_cronjob_runs_the_report_from_the_mounted_config() -> None:
    documents = _documents()
    cronjob, configmap = documents["CronJob"], documents["ConfigMap"]
    container = _container(cronjob)
    argv = [*container.get("command", []), *container.get("args", [])]
    assert argv[:4] == ["agent-evidence", "report", "--config", "/config/report.yaml"]
    assert argv[argv.index("--fail-on") + 1] == "never"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(cronjob)["volumes"]}
    assert set(mounts) <= set(volumes), "every mount names a volume"
    config_volume = next(n for n, m in mounts.items() if m["mountPath"] == "/config")
    assert mounts[config_volume].get("readOnly") is True
    assert volumes[config_volume]["configMap"]["name"] == configmap["metadata"]["name"]
    assert "report.yaml" in configmap["data"]


def test_cronjob_security_context() -> None:
    cronjob = _documents()["CronJob"]
    pod, container = _pod(cronjob), _container(cronjob)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod.get("automountServiceAccountToken") is False
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert "add" not in context["capabilities"]


def test_cronjob_passphrase_comes_from_a_secret() -> None:
    documents = _documents()
    env = {e["name"]: e for e in _container(documents["CronJob"])["env"]}
    reference = env[PASSPHRASE_ENV]["valueFrom"]["secretKeyRef"]
    assert reference["name"]
    assert reference["key"]
    config = yaml.safe_load(documents["ConfigMap"]["data"]["report.yaml"])
    assert config["signing"]["passphrase_env"] == PASSPHRASE_ENV
    text = CRONJOB.read_text()
    assert not re.search(r"(?i)^\s*(passphrase|password)\s*:", text, re.MULTILINE)


def _gibibytes(quantity: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(Mi|Gi)", quantity)
    assert match, quantity
    number, unit = match.groups()
    return float(number) / (1024 if unit == "Mi" else 1)


def test_cronjob_resources_fit_a_million_receipts() -> None:
    # measured: 1M receipts peak at 2.8 GB over every process (see the comment in the manifest)
    resources = _container(_documents()["CronJob"])["resources"]
    for kind in ("requests", "limits"):
        assert resources[kind]["cpu"] == "2"
        assert _gibibytes(resources[kind]["memory"]) >= 5.5
    config = yaml.safe_load(_documents()["ConfigMap"]["data"]["report.yaml"])
    assert config["workers"] == int(resources["limits"]["cpu"])


def test_cronjob_volumes_cover_the_config_paths() -> None:
    documents = _documents()
    cronjob = documents["CronJob"]
    container = _container(cronjob)
    volumes = {v["name"]: v for v in _pod(cronjob)["volumes"]}
    config = yaml.safe_load(documents["ConfigMap"]["data"]["report.yaml"])
    mounts = container["volumeMounts"]

    def mount_of(path: str) -> dict[str, Any]:
        found = [m for m in mounts if _under(path, m["mountPath"])]
        assert found, f"{path} is on no mounted volume (the root file system is read-only)"
        return max(found, key=lambda m: len(m["mountPath"]))

    for source in config["sources"]:
        mount = mount_of(source)
        assert mount.get("readOnly") is True, f"receipts {source} must be mounted read-only"
        claim = volumes[mount["name"]].get("persistentVolumeClaim")
        assert claim, "the receipts store lives on a PVC"
        assert claim.get("readOnly") is True
    output = mount_of(config["output"]["directory"])
    assert not output.get("readOnly")
    assert volumes[output["name"]].get("persistentVolumeClaim"), "reports live on a PVC"
    for path in (config["keys"], config["signing"]["key"], config["signing"]["certificate"]):
        assert mount_of(path).get("readOnly") is True
    # the verification spool and caches need a writable /tmp
    assert mount_of("/tmp/agent-evidence.spool.db")["mountPath"] == "/tmp"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert not mount_of(env["MPLCONFIGDIR"]).get("readOnly")


# --------------------------------------------------------------------------- configurations


def test_host_config_matches_the_config_schema() -> None:
    schema = _load_config_schema()
    assert _schema_errors(yaml.safe_load(HOST_CONFIG.read_text()), schema) == []


def test_kubernetes_config_matches_the_config_schema() -> None:
    schema = _load_config_schema()
    config = yaml.safe_load(_documents()["ConfigMap"]["data"]["report.yaml"])
    assert _schema_errors(config, schema) == []


class _StoppedClock:
    """`datetime` as `reporting.periods` sees it, its clock stopped at one moment."""

    def __init__(self, moment: datetime) -> None:
        self._moment = moment

    def now(self, tz: tzinfo | None = None) -> datetime:
        return self._moment.astimezone(tz)

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime, name)


# The timer's first run after the samples' month: `period: last-month` is October 2026.
TIMER_FIRES = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def test_host_config_runs_with_the_real_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The unattended run, end to end, as the timer starts it on 1 November 2026: report.yaml
    with its paths moved onto the samples, a passphrase-protected signing key, the
    passphrase only in the environment."""
    _load_config_schema()  # skips until `report --config` exists
    from reporting import periods
    from reporting.cli import main

    samples = REPO / "samples"
    monkeypatch.setenv(PASSPHRASE_ENV, "correct horse battery")
    monkeypatch.setattr(periods, "datetime", _StoppedClock(TIMER_FIRES))
    keys = tmp_path / "keys"
    init = ["keys", "init", "--out", str(keys), "--subject", "CN=Evidence signer,O=Example Corp"]
    assert main([*init, "--passphrase-env", PASSPHRASE_ENV]) == 0
    config = yaml.safe_load(HOST_CONFIG.read_text())
    assert config["period"] == "last-month"
    config["sources"] = [str(samples / "receipts.db")]
    for name in ("keys", "witness", "grants"):
        config[name] = str(samples / Path(config[name]).name)
    config["output"] = {"directory": str(tmp_path / "reports"), "formats": ["json"]}
    config["signing"]["key"] = str(keys / "signing-key.pem")
    config["signing"]["certificate"] = str(keys / "signing-cert.pem")
    moved = tmp_path / "report.yaml"
    moved.write_text(yaml.safe_dump(config))
    capsys.readouterr()
    code = main(["report", "--config", str(moved), "--quiet"])
    output = capsys.readouterr()
    assert code == 1, output.err  # fail_on: integrity, and October has broken chains
    [summary_file] = (tmp_path / "reports").glob("*/AER-*/summary.json")
    assert summary_file.parent.parent.name == "2026-10"
    summary = json.loads(summary_file.read_text())
    assert summary["posture"] == "INTEGRITY BROKEN"
    assert summary["figures"]["receipts_in_scope"] > 0
    # signed with the configured key (not the demo key): the manifest verifies against it
    manifest = summary_file.with_name("manifest.json")
    assert main(["verify-report", str(manifest), "--trust", str(keys / "signing-cert.pem")]) == 0


def test_deploy_readme_names_every_file() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in DEPLOY.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, path.name
