"""The check registry: each check registers with everything a report says about it.

A check is a pure function over the evidence, registered by `@check(...)` in the module of
its family (`integrity.py`, `completeness.py`, ...). Its name is the function's name and
its family the module's; the decorator requires a title, a description of what it tests,
and the problem it finds when it fails (`Problem`: severity, remediation, and the finding
title phrased as the problem with a `{n}` count). The function returns a `Verdict`; the
registry adds the name and the parameters to make the `CheckResult`, so no check repeats
its own name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema

from reporting.controls.vocabulary import CheckStatus, Reason, Severity
from reporting.evidence.frame import Evidence

__all__ = [
    "REGISTRY",
    "CheckFunction",
    "CheckResult",
    "CheckSpec",
    "Hit",
    "Problem",
    "RegistrationError",
    "Status",
    "Verdict",
    "check",
    "parameter_errors",
    "problem_of",
    "registry_summary",
    "resolve_params",
    "run_check",
]

Status = CheckStatus  # the name checks and their callers have always used


class RegistrationError(ValueError):
    """A check or problem was registered without what a report needs to say about it."""


@dataclass(frozen=True)
class Problem:
    """What a failing check has found, as a finding states it.

    `title` states the problem with `{n}`, the number of receipts (or chains) affected,
    and `[singular|plural]` for the words that agree with it: "{n} [action carries|actions
    carry] no authorization". Checks that test the same condition
    share one `Problem` (same `code`), so a defect they all see is one finding.
    """

    code: str
    title: str
    severity: Severity
    remediation: str

    def __post_init__(self) -> None:
        if not self.code or not self.code.replace("_", "").isalnum():
            raise RegistrationError(f"problem code {self.code!r}: letters, digits and _ only")
        if "{n}" not in self.title:
            raise RegistrationError(f"problem {self.code}: the title needs an {{n}} count")
        if not self.remediation.strip():
            raise RegistrationError(f"problem {self.code}: a remediation is required")
        if not isinstance(self.severity, Severity):
            raise RegistrationError(f"problem {self.code}: severity must be a Severity")

    def headline(self, count: int) -> str:
        """The title for `count`: `[one|many]` picks the words that agree with the count."""
        chosen = _NUMBER.sub(lambda m: m.group(1 if count == 1 else 2), self.title)
        return chosen.format(n=f"{count:,}")


_NUMBER = re.compile(r"\[([^|\]]*)\|([^|\]]*)\]")


@dataclass(frozen=True)
class Hit:
    """The receipts (or chains) of one problem: failures when the check fails, exceptions
    to disposition when a detective check ran, what stood in the way when it could not
    decide. `count` is exact; the ids are the first `MAX_LISTED`."""

    problem: str  # a Problem code; "" (the check's own problem) until the registry fills it
    count: int
    receipts: tuple[str, ...] = ()
    chains: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "count": self.count,
            "receipts": list(self.receipts),
            "chains": list(self.chains),
        }


@dataclass(frozen=True)
class Verdict:
    """What a check function returns: the registry turns it into a `CheckResult`.

    `population` counts the trusted receipts (or authentic chains) the check examined;
    `untrusted` those it left out because they failed verification (they are reported
    once, by `chain_integrity`, never counted as evidence either way).
    """

    status: CheckStatus
    statement: str
    population: int
    failing: int = 0
    untrusted: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    failing_receipts: tuple[str, ...] = ()
    failing_chains: tuple[str, ...] = ()
    reason: Reason | None = None  # why INDETERMINATE (or NOT_APPLICABLE)
    hits: tuple[Hit, ...] = ()
    exceptions: int = 0  # anomalies a detective check found, to be dispositioned


@dataclass(frozen=True)
class CheckResult(Verdict):
    check: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    detective: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "params": self.params,
            "status": self.status.value,
            "reason": None if self.reason is None else self.reason.value,
            "detective": self.detective,
            "statement": self.statement,
            "population": self.population,
            "failing": self.failing,
            "untrusted": self.untrusted,
            "exceptions": self.exceptions,
            "metrics": self.metrics,
            "failing_receipts": list(self.failing_receipts),
            "failing_chains": list(self.failing_chains),
            "hits": [hit.to_json() for hit in self.hits],
        }


CheckFunction = Callable[[Evidence, dict[str, Any]], Verdict]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    family: str
    title: str
    description: str
    problem: Problem
    parameters: dict[str, Any]  # JSON Schema properties of the params object
    required: tuple[str, ...]
    function: CheckFunction
    validator: Callable[[dict[str, Any]], list[str]] | None = None
    also: tuple[Problem, ...] = ()  # further problems the check can find
    detective: bool = False  # finds exceptions to disposition, never fails on them
    deployment: tuple[str, ...] = ()  # parameters that describe the deployment: no default

    @property
    def problems(self) -> dict[str, Problem]:
        return {p.code: p for p in (self.problem, *self.also)}

    @property
    def params_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.parameters,
            "required": list(self.required),
            "additionalProperties": False,
        }

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.parameters.items() if "default" in v}


REGISTRY: dict[str, CheckSpec] = {}
_PROBLEMS: dict[str, Problem] = {}


def check(
    *,
    title: str,
    description: str,
    problem: Problem,
    also: Sequence[Problem] = (),
    detective: bool = False,
    deployment: Sequence[str] = (),
    required: Sequence[str] = (),
    validator: Callable[[dict[str, Any]], list[str]] | None = None,
    **parameters: Any,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as a check named after it, in its module's family.

    `problem` is what it finds when it fails (detective: the exceptions it lists); `also`
    further problems it can tell apart. `parameters` are JSON Schema properties of its
    params object; those named in `deployment` describe the deployment (working hours,
    conversational agents, ...), have no default, and until they are given the check is
    INDETERMINATE, "not configured", without running.
    """
    if not title.strip() or not description.strip():
        raise RegistrationError("a check needs a title and a description")
    if any("default" in parameters.get(name, {"default": None}) for name in deployment):
        raise RegistrationError("a deployment parameter is a declared parameter with no default")

    def register(function: CheckFunction) -> CheckFunction:
        name = function.__name__
        if name in REGISTRY:
            raise RegistrationError(f"check {name!r} registered twice")
        for one in (problem, *also):
            known = _PROBLEMS.setdefault(one.code, one)
            if known != one:
                raise RegistrationError(f"problem {one.code!r} registered with two meanings")
        family = function.__module__.rsplit(".", 1)[-1]
        REGISTRY[name] = CheckSpec(
            name=name,
            family=family,
            title=title,
            description=description,
            problem=problem,
            parameters=parameters,
            required=tuple(required),
            function=function,
            validator=validator,
            also=tuple(also),
            detective=detective,
            deployment=tuple(deployment),
        )
        return function

    return register


def parameter_errors(name: str, params: Mapping[str, Any]) -> list[str]:
    """Why `params` are not acceptable for check `name` (empty when they are)."""
    spec = REGISTRY.get(name)
    if spec is None:
        return [f"unknown check {name!r}"]
    validator = jsonschema.Draft202012Validator(spec.params_schema)
    errors = [
        f"{name}: {'/'.join(str(p) for p in error.path) or 'params'}: {error.message}"
        for error in validator.iter_errors(dict(params))
    ]
    if not errors and spec.validator is not None:
        errors = [f"{name}: {problem}" for problem in spec.validator(resolve_params(name, params))]
    return errors


def resolve_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return {**REGISTRY[name].defaults(), **params}


def run_check(
    name: str, evidence: Evidence, params: Mapping[str, Any] | None = None
) -> CheckResult:
    spec = REGISTRY[name]
    resolved = resolve_params(name, params or {})
    missing = [p for p in spec.deployment if p not in resolved]
    verdict = (
        _not_configured(spec, evidence, missing) if missing else spec.function(evidence, resolved)
    )
    hits = tuple(replace(hit, problem=hit.problem or spec.problem.code) for hit in verdict.hits)
    unknown = {hit.problem for hit in hits} - set(spec.problems)
    if unknown:
        raise RegistrationError(f"{name} reported unregistered problems {sorted(unknown)}")
    fields = {f.name: getattr(verdict, f.name) for f in dataclasses.fields(Verdict)}
    return CheckResult(
        **(fields | {"hits": hits}), check=name, params=resolved, detective=spec.detective
    )


def _not_configured(spec: CheckSpec, evidence: Evidence, missing: list[str]) -> Verdict:
    """A check whose deployment parameters were not given: INDETERMINATE, "not configured"
    (NOT_APPLICABLE when there was nothing in scope to judge anyway)."""
    scope = evidence.in_scope
    statement = f"{spec.title}: needs the deployment's {', '.join(missing)}"
    if scope.empty:
        return Verdict(status=CheckStatus.NOT_APPLICABLE, statement=statement, population=0)
    trusted = int(scope["trusted"].astype(bool).sum())
    return Verdict(
        status=CheckStatus.INDETERMINATE,
        statement=statement,
        population=trusted,
        untrusted=len(scope) - trusted,
        metrics={"not_configured": missing},
        reason=Reason.NOT_CONFIGURED,
    )


def problem_of(code: str) -> Problem:
    """The registered problem with this code (every code a result carries is registered)."""
    return _PROBLEMS[code]


def registry_summary() -> list[dict[str, Any]]:
    """What `mappings checks` prints: every check with its metadata and parameter schema."""
    return [
        {
            "name": s.name,
            "title": s.title,
            "category": s.family,
            "description": s.description,
            "detective": s.detective,
            "deployment": list(s.deployment),
            "severity": s.problem.severity.value,
            "finding": s.problem.title,
            "remediation": s.problem.remediation,
            "problems": [
                {"code": p.code, "finding": p.title, "severity": p.severity.value}
                for p in s.problems.values()
            ],
            "parameters": s.params_schema,
        }
        for s in sorted(REGISTRY.values(), key=lambda s: (s.family, s.name))
    ]
