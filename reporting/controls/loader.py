"""Mapping files → frozen `Framework`s, or every error at once with its file and line.

The loader never returns a half-loaded framework (Prowler's compliance files, minus
their None-on-error habit): YAML is read safely (no tags, aliases or duplicate keys),
validated against the shipped JSON Schema, then every check name and parameter set is
validated against the check registry, and control ids must be unique.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from reporting.controls.checks import parameter_errors
from reporting.errors import Diagnostic, DiagnosticCode, EvidenceError, InputError
from reporting.yamlio import LocatedDict, line_of_path, load_yaml_text, plain

__all__ = [
    "CheckRef",
    "Control",
    "Framework",
    "MappingError",
    "load_mapping",
    "load_mappings",
    "mapping_schema",
    "shipped_mapping_paths",
]

SCHEMA_ID = "agent-evidence/mapping/v1"


class MappingError(EvidenceError):
    """One or more mapping files are invalid; every diagnostic is listed."""


@dataclass(frozen=True)
class CheckRef:
    """A check a control cites. A `supporting` check is shown with the control but never
    decides its status; a control with no deciding check is MANUAL."""

    check: str
    params: dict[str, Any] = field(default_factory=dict)
    rationale: str | None = None
    role: str = "deciding"

    @property
    def deciding(self) -> bool:
        return self.role == "deciding"


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    requirement: str
    quote: str
    section: str | None = None
    parent: str | None = None
    applies_to: tuple[str, ...] = ()
    checks: tuple[CheckRef, ...] = ()
    manual_evidence: tuple[str, ...] = ()
    crosswalks: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    version: str
    source: str
    retrieved: str
    controls: tuple[Control, ...]
    path: str
    sha256: str
    amendments: str | None = None
    license: str | None = None
    disclaimer: str | None = None

    def control(self, control_id: str) -> Control:
        return next(c for c in self.controls if c.id == control_id)


@cache
def mapping_schema() -> dict[str, Any]:
    text = resources.files("reporting").joinpath("data", "mapping.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def shipped_mapping_paths() -> list[Path]:
    """The mapping files that ship with the tool (source tree or installed package)."""
    candidates = [
        Path(__file__).resolve().parents[2] / "mappings",
        Path(str(resources.files("reporting"))) / "mappings",
    ]
    for directory in candidates:
        files = sorted(directory.glob("*.yaml"))
        if files:
            return files
    return []


def _schema_diagnostics(data: Any, source: str) -> list[Diagnostic]:
    validator = jsonschema.Draft202012Validator(
        mapping_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [
        Diagnostic(
            DiagnosticCode.MAPPING_SCHEMA,
            f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}",
            source,
            line_of_path(data, list(error.absolute_path)),
        )
        for error in errors
    ]


def _semantic_diagnostics(data: LocatedDict, source: str) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for control in data["controls"]:
        line = control.line
        if control["id"] in seen:
            message = (
                f"duplicate control id {control['id']!r} (first at line {seen[control['id']]})"
            )
            diagnostics.append(
                Diagnostic(DiagnosticCode.MAPPING_DUPLICATE_CONTROL, message, source, line)
            )
        seen.setdefault(control["id"], line)
        for ref in control.get("checks", []):
            for problem in parameter_errors(ref["check"], ref.get("params", {})):
                unknown = problem.startswith("unknown check")
                code = (
                    DiagnosticCode.MAPPING_UNKNOWN_CHECK
                    if unknown
                    else DiagnosticCode.MAPPING_BAD_PARAMS
                )
                line = ref.line if unknown else ref.line_of("params")
                message = f"control {control['id']}: {problem}"
                diagnostics.append(Diagnostic(code, message, source, line))
    return diagnostics


def _control(data: dict[str, Any]) -> Control:
    return Control(
        id=data["id"],
        title=data["title"],
        requirement=data["requirement"]["text"].strip(),
        quote=data["requirement"]["quote"],
        section=data.get("section"),
        parent=data.get("parent"),
        applies_to=tuple(data.get("applies_to", [])),
        checks=tuple(
            CheckRef(
                ref["check"],
                dict(ref.get("params", {})),
                ref.get("rationale"),
                ref.get("role", "deciding"),
            )
            for ref in data.get("checks", [])
        ),
        manual_evidence=tuple(data.get("manual_evidence", [])),
        crosswalks={k: tuple(v) for k, v in data.get("crosswalks", {}).items()},
    )


def _framework(data: dict[str, Any], path: Path, digest: str) -> Framework:
    meta = data["framework"]
    return Framework(
        id=meta["id"],
        title=meta["title"],
        version=meta["version"],
        source=meta["source"],
        retrieved=str(meta["retrieved"]),
        amendments=meta.get("amendments"),
        license=meta.get("license"),
        disclaimer=meta.get("disclaimer"),
        controls=tuple(_control(c) for c in data["controls"]),
        path=str(path),
        sha256=digest,
    )


def _load_one(path: Path) -> tuple[Framework | None, list[Diagnostic]]:
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(DiagnosticCode.UNREADABLE, exc.strerror or str(exc), source)]
    try:
        data = load_yaml_text(raw.decode("utf-8"), source=source)
    except UnicodeDecodeError:
        return None, [Diagnostic(DiagnosticCode.INVALID_YAML, "not valid UTF-8", source)]
    except InputError as error:
        return None, error.diagnostics()
    diagnostics = _schema_diagnostics(data, source)
    if diagnostics:
        return None, diagnostics
    diagnostics = _semantic_diagnostics(data, source)
    if diagnostics:
        return None, diagnostics
    return _framework(plain(data), path, hashlib.sha256(raw).hexdigest()), []


def _crosswalk_diagnostics(frameworks: Sequence[Framework]) -> list[Diagnostic]:
    known = {f.id: {c.id for c in f.controls} for f in frameworks}
    diagnostics = []
    for framework in frameworks:
        for control in framework.controls:
            for target, ids in control.crosswalks.items():
                for missing in sorted(set(ids) - known.get(target, set(ids))):
                    message = (
                        f"control {control.id}: crosswalk to unknown {target} control {missing!r}"
                    )
                    diagnostics.append(
                        Diagnostic(DiagnosticCode.MAPPING_BAD_CROSSWALK, message, framework.path)
                    )
    return diagnostics


def load_mappings(paths: Iterable[Path]) -> list[Framework]:
    """Load every file; raise one MappingError listing every problem in all of them."""
    frameworks: list[Framework] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        framework, problems = _load_one(path)
        diagnostics.extend(problems)
        if framework is not None:
            frameworks.append(framework)
    ids = [f.id for f in frameworks]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        diagnostics.append(
            Diagnostic(
                DiagnosticCode.MAPPING_DUPLICATE_FRAMEWORK,
                f"framework id {duplicate!r} loaded twice",
            )
        )
    diagnostics.extend(_crosswalk_diagnostics(frameworks))
    if diagnostics:
        raise MappingError(diagnostics)
    return frameworks


def load_mapping(path: Path) -> Framework:
    return load_mappings([path])[0]
