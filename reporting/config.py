"""`report --config FILE`: everything a scheduled report run needs, in one YAML file.

The file is read with the strict loader (no aliases, tags or duplicate keys), validated
against `reporting/data/config.schema.json` (unknown keys rejected) and then checked for
what a schema cannot say: periods that exist, signing options that fit together, check
parameters that the named check accepts, and no secrets at all (a passphrase is only ever
named by its environment variable). Every problem is reported at once, with its line.

Paths in the file are relative to the file's directory. Command-line flags override the
file; `ReportConfig` fields carry the names of the `report` options they stand for.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema

from reporting.errors import Diagnostic, DiagnosticCode, EvidenceError, InputError
from reporting.periods import parse_instant, resolve_period
from reporting.yamlio import LocatedDict, line_of_path, load_yaml, plain

__all__ = [
    "CONFIG_SCHEMA_ID",
    "EVERY",
    "CheckOverride",
    "FailOn",
    "ReportConfig",
    "config_schema",
    "load_config",
]

CONFIG_SCHEMA_ID = "agent-evidence/config/v1"
MAX_CONFIG_BYTES = 1 << 20
FailOn = Literal["integrity", "controls", "never"]

_SECRET_NAMES = ("passphrase", "password", "secret")
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_BARE_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_USE_ENV = "put the secret in an environment variable and name that in signing.passphrase_env"

JsonPath = tuple[str | int, ...]


EVERY = "*"  # an override's framework and control: every use of the check


@dataclass(frozen=True)
class CheckOverride:
    """Parameters for one check of one control, merged over the mapping's own.

    Framework and control `*` (from the `deployment` section) mean every control that
    uses the check, in every framework assessed.
    """

    framework: str
    control: str
    check: str
    params: Mapping[str, Any]
    line: int | None = None


@dataclass(frozen=True)
class ReportConfig:
    """A validated configuration file; paths are resolved against its directory.

    Unset values are `None` (or empty tuples), so the CLI can tell "not in the file" from
    a value and let its own flags win.
    """

    path: Path
    sources: tuple[str, ...] = ()
    keys: Path | None = None
    witness: Path | None = None
    grants: Path | None = None
    bodies: Path | None = None
    tsa_root: tuple[Path, ...] = ()
    require_terminal: bool = False
    chains: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()
    grant_refs: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    period: str | None = None
    since: str | None = None
    until: str | None = None
    out: Path | None = None
    formats: tuple[str, ...] = ()
    organisation: str | None = None
    sign_key: Path | None = None
    sign_cert: Path | None = None
    sign_chain: tuple[Path, ...] = ()
    sign_p12: Path | None = None
    passphrase_env: str | None = None
    tsa: str | None = None
    overrides: tuple[CheckOverride, ...] = ()
    fail_on: FailOn | None = None
    workers: int | None = None
    max_receipt_bytes: int | None = None
    max_depth: int | None = None
    executor: str | None = None
    scheduler: str | None = None
    render_timeout: float | None = None
    render_memory: int | None = None


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file (shipped in the package)."""
    text = resources.files("reporting").joinpath("data", "config.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# -- locating -----------------------------------------------------------------------------


def _where(path: Sequence[str | int]) -> str:
    """`checks.overrides[0].params` for a path of keys and indexes; `(top)` for the root."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return text.removeprefix(".") or "(top)"


class _Problems:
    """Collects diagnostics for one file, each with the line of its path."""

    def __init__(self, data: Any, source: Path) -> None:
        self.data = data
        self.source = str(source)
        self.items: list[Diagnostic] = []

    def add(self, path: Sequence[str | int], message: str, line: int | None = None) -> None:
        line = line if line is not None else line_of_path(self.data, path)
        self.items.append(
            Diagnostic(DiagnosticCode.CONFIG, f"{_where(path)}: {message}", self.source, line)
        )

    def raise_if_any(self) -> None:
        if self.items:
            ordered = sorted(self.items, key=lambda d: (d.line or 0, d.message))
            raise InputError(ordered)


# -- secrets ------------------------------------------------------------------------------


def _secret_name(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(lowered == name or lowered.endswith(f"_{name}") for name in _SECRET_NAMES)


def _walk(node: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any, str | None]]:
    """Every (path, value, key) below `node`; `key` is set for mapping members."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), value, key
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index), value, None
            yield from _walk(value, (*path, index))


def _secret_paths(data: Any, problems: _Problems) -> set[JsonPath]:
    """Report every inline secret; return their paths (their values are never echoed)."""
    found: set[JsonPath] = set()
    for path, value, key in _walk(data):
        if key is not None and _secret_name(key):
            problems.add(path, f"inline secrets are not allowed: {_USE_ENV}")
        elif key is not None and _PEM_PRIVATE_KEY.search(key):
            problems.add(path[:-1], "a PEM private key is not allowed as a key")
        elif isinstance(value, str) and _PEM_PRIVATE_KEY.search(value):
            message = (
                "a PEM private key is not allowed in the configuration: give the key file's "
                "path as signing.key and its passphrase through the environment variable "
                "named by signing.passphrase_env"
            )
            problems.add(path, message)
        else:
            continue
        found.add(path)
    return found


# -- schema -------------------------------------------------------------------------------


def _holds_secret(path: JsonPath, secrets: set[JsonPath]) -> bool:
    return any(secret[: len(path)] == path for secret in secrets)


def _unknown_keys(error: jsonschema.ValidationError, path: JsonPath, problems: _Problems) -> None:
    """One diagnostic per unknown key, on that key's line (secrets are reported already)."""
    instance: dict[str, Any] = error.instance if isinstance(error.instance, dict) else {}
    allowed = sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
    for key in instance:
        if key in allowed or _secret_name(key) or _PEM_PRIVATE_KEY.search(key):
            continue
        problems.add((*path, key), f"unknown key (allowed: {', '.join(allowed)})")


def _schema_problems(data: Any, secrets: set[JsonPath], problems: _Problems) -> set[JsonPath]:
    """Validate against the schema; return the paths that failed (semantic checks skip them)."""
    validator = jsonschema.Draft202012Validator(config_schema())
    failed: set[JsonPath] = set()
    for error in validator.iter_errors(data):
        path = cast(JsonPath, tuple(error.absolute_path))
        failed.add(path)
        if error.validator == "additionalProperties":
            _unknown_keys(error, path, problems)
        elif _holds_secret(path, secrets) or path[-1:] == ("passphrase_env",):
            # a bad variable name may be the passphrase itself, pasted in the wrong place
            expected = json.dumps(error.validator_value)
            problems.add(path, f"fails {error.validator} {expected} (value not shown: a secret)")
        else:
            problems.add(path, error.message)
    return failed


# -- what the schema cannot say -----------------------------------------------------------


def _failed_under(path: JsonPath, skip: set[JsonPath]) -> bool:
    """Whether anything at or below `path` already failed (schema error or secret)."""
    return any(failed[: len(path)] == path for failed in skip)


def _parse_setting(key: str, text: str, problems: _Problems) -> datetime | None:
    """Check `period`, `since` or `until`; a bad value is reported on its line."""
    try:
        if key == "period":
            resolve_period(text, name=key)
            return None
        return parse_instant(text, name=key)
    except EvidenceError as error:
        problems.add((key,), error.diagnostics()[0].message.removeprefix(f"{key} "))
        return None


def _period_problems(data: LocatedDict, skip: set[JsonPath], problems: _Problems) -> None:
    """Each value must exist in the calendar; period excludes since/until; since < until."""
    bounds: dict[str, datetime] = {}
    for key in ("period", "since", "until"):
        value = data.get(key)
        if isinstance(value, str) and (key,) not in skip:
            instant = _parse_setting(key, value, problems)
            if instant is not None:
                bounds[key] = instant
    since, until = data.get("since"), data.get("until")
    if data.get("period") is not None and (since is not None or until is not None):
        key = "since" if since is not None else "until"
        problems.add((key,), "cannot be combined with period; give one or the other")
    if "since" in bounds and "until" in bounds and bounds["since"] >= bounds["until"]:
        problems.add(("until",), f"{until!r} is not after since {since!r}")


def _signing_problems(data: LocatedDict, problems: _Problems) -> None:
    signing = data.get("signing")
    if not isinstance(signing, dict):
        return
    key, cert, p12 = (signing.get(name) for name in ("key", "certificate", "p12"))
    if p12 is not None and (key is not None or cert is not None):
        problems.add(("signing", "p12"), "give either p12 or key with certificate, not both")
    elif p12 is None and key is not None and cert is None:
        problems.add(("signing", "key"), "needs signing.certificate (the key's certificate)")
    elif p12 is None and cert is not None and key is None:
        problems.add(("signing", "certificate"), "needs signing.key (its private key)")


def _override_problems(data: LocatedDict, skip: set[JsonPath], problems: _Problems) -> None:
    from reporting.controls.checks import parameter_errors  # the registry: only when needed

    checks = data.get("checks")
    overrides = checks.get("overrides") if isinstance(checks, dict) else None
    if not isinstance(overrides, list):
        return
    seen: dict[tuple[str, str, str], int | None] = {}
    for index, item in enumerate(overrides):
        path: JsonPath = ("checks", "overrides", index)
        if _failed_under(path, skip):
            continue
        target = (item["framework"], item["control"], item["check"])
        if target in seen:
            problems.add(path, f"repeats the override at line {seen[target]}")
        seen.setdefault(target, getattr(item, "line", None))
        for problem in parameter_errors(item["check"], item["params"]):
            where = "check" if problem.startswith("unknown check") else "params"
            problems.add((*path, where), problem)


def _framework_problems(data: LocatedDict, skip: set[JsonPath], problems: _Problems) -> None:
    from reporting.controls.loader import shipped_mapping_paths

    frameworks = data.get("frameworks")
    if not isinstance(frameworks, list) or _failed_under(("frameworks",), skip):
        return
    shipped = sorted(p.stem for p in shipped_mapping_paths())
    for index, item in enumerate(frameworks):
        if _BARE_ID.fullmatch(item) and item not in shipped:
            message = (
                f"{item!r} is not a shipped framework ({', '.join(shipped)}); "
                "a mapping file needs its path (e.g. ./internal.yaml)"
            )
            problems.add(("frameworks", index), message)


# -- building -----------------------------------------------------------------------------


class _Resolver:
    """Paths relative to the configuration file's directory."""

    def __init__(self, config: Path) -> None:
        self.base = config.resolve().parent

    def path(self, value: str | None) -> Path | None:
        return None if value is None else Path(os.path.normpath(self.base / value))

    def paths(self, values: Sequence[str]) -> tuple[Path, ...]:
        return tuple(Path(os.path.normpath(self.base / value)) for value in values)

    def framework(self, value: str, shipped: set[str]) -> str:
        return value if value in shipped else str(self.path(value))

    def source(self, value: str) -> str:
        return value if value == "-" else str(self.path(value))


def _deployment_overrides(data: LocatedDict) -> tuple[CheckOverride, ...]:
    """The deployment's facts as parameters of every use of the checks that need them."""
    from reporting.controls.deployment import check_parameters

    deployment = data.get("deployment")
    if not isinstance(deployment, dict):
        return ()
    line = data.line_of("deployment")
    return tuple(
        CheckOverride(EVERY, EVERY, check, params, line)
        for check, params in sorted(check_parameters(plain(deployment)).items())
    )


def _overrides(data: LocatedDict) -> tuple[CheckOverride, ...]:
    """Deployment parameters first: a control's own override is applied after them."""
    items = data.get("checks", {}).get("overrides", [])
    return _deployment_overrides(data) + tuple(
        CheckOverride(
            item["framework"],
            item["control"],
            item["check"],
            plain(item["params"]),
            getattr(item, "line", None),
        )
        for item in items
    )


def _deployment_problems(data: LocatedDict, skip: set[JsonPath], problems: _Problems) -> None:
    """What the schema cannot say: time zones exist, and each check accepts what it gets."""
    from reporting.controls.checks import parameter_errors  # the registry: only when needed
    from reporting.controls.deployment import check_parameters

    deployment = data.get("deployment")
    if not isinstance(deployment, dict) or _failed_under(("deployment",), skip):
        return
    for index, producer in enumerate(deployment.get("producers", [])):
        zone = producer.get("timezone")
        if zone is not None and not _is_timezone(zone):
            problems.add(
                ("deployment", "producers", index, "timezone"), f"{zone!r} is not an IANA time zone"
            )
    for check, params in check_parameters(plain(deployment)).items():
        for problem in parameter_errors(check, params):
            problems.add(("deployment",), problem)


def _is_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _signing_fields(data: LocatedDict, resolve: _Resolver) -> dict[str, Any]:
    signing = data.get("signing", {})
    return {
        "sign_key": resolve.path(signing.get("key")),
        "sign_cert": resolve.path(signing.get("certificate")),
        "sign_chain": resolve.paths(signing.get("chain", [])),
        "sign_p12": resolve.path(signing.get("p12")),
        "passphrase_env": signing.get("passphrase_env"),
        "tsa": signing.get("tsa"),
    }


def _build(path: Path, data: LocatedDict) -> ReportConfig:
    from reporting.controls.loader import shipped_mapping_paths

    resolve = _Resolver(path)
    shipped = {p.stem for p in shipped_mapping_paths()}
    output = data.get("output", {})
    return ReportConfig(
        path=path,
        sources=tuple(resolve.source(s) for s in data.get("sources", [])),
        keys=resolve.path(data.get("keys")),
        witness=resolve.path(data.get("witness")),
        grants=resolve.path(data.get("grants")),
        bodies=resolve.path(data.get("bodies")),
        tsa_root=resolve.paths(data.get("tsa_roots", [])),
        require_terminal=bool(data.get("require_terminal", False)),
        chains=tuple(data.get("chains", [])),
        issuers=tuple(data.get("issuers", [])),
        principals=tuple(data.get("principals", [])),
        grant_refs=tuple(data.get("grant_refs", [])),
        frameworks=tuple(resolve.framework(f, shipped) for f in data.get("frameworks", [])),
        period=data.get("period"),
        since=data.get("since"),
        until=data.get("until"),
        out=resolve.path(output.get("directory")),
        formats=tuple(output.get("formats", [])),
        organisation=data.get("organisation"),
        overrides=_overrides(data),
        fail_on=data.get("fail_on"),
        workers=data.get("workers"),
        max_receipt_bytes=data.get("max_receipt_bytes"),
        max_depth=data.get("max_depth"),
        executor=data.get("executor"),
        scheduler=data.get("scheduler"),
        render_timeout=data.get("render", {}).get("timeout_seconds"),
        render_memory=data.get("render", {}).get("memory_mb"),
        **_signing_fields(data, resolve),
    )


# -- entry point --------------------------------------------------------------------------


def _read(path: Path) -> Any:
    """Parse the file; a YAML problem becomes a CONFIG diagnostic with its line."""
    try:
        return load_yaml(path, max_bytes=MAX_CONFIG_BYTES)
    except InputError as error:
        diagnostics = [
            Diagnostic(DiagnosticCode.CONFIG, d.message, d.source, d.line)
            for d in error.diagnostics()
        ]
        raise InputError(diagnostics) from error
    except RecursionError as error:
        raise InputError(
            Diagnostic(DiagnosticCode.CONFIG, "nested too deeply", str(path))
        ) from error


def load_config(path: Path) -> ReportConfig:
    """Read and validate a configuration file; every problem is raised at once.

    Raises `InputError` whose diagnostics (code `CONFIG`) name the file and line.
    """
    data = _read(path)
    problems = _Problems(data, path)
    if not isinstance(data, LocatedDict):
        problems.add((), "the configuration must be a mapping (key: value lines)", 1)
        problems.raise_if_any()
    assert isinstance(data, LocatedDict)
    secrets = _secret_paths(data, problems)
    skip = _schema_problems(data, secrets, problems) | secrets
    _period_problems(data, skip, problems)
    _signing_problems(data, problems)
    _override_problems(data, skip, problems)
    _deployment_problems(data, skip, problems)
    _framework_problems(data, skip, problems)
    problems.raise_if_any()
    return _build(path, data)
