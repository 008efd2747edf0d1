"""Checks and mappings → a status per control, with the reason, and counts per framework.

Control status (DESIGN.md, "Assessment"; words in `vocabulary.ControlStatus`), decided by
the control's deciding checks (a `supporting` check is shown, never counted):

- NOT_SATISFIED if a deciding check fails;
- INDETERMINATE if one could not decide (not enough trustworthy evidence, or a
  deployment parameter not configured);
- SUPPORTED_IN_PART if all of them pass but the mapping lists manual evidence still to
  be supplied; SATISFIED only if all pass and none is listed;
- MANUAL when no deciding check applies (none mapped, or none had anything in scope).

A detective check that ran passes: the anomalies it found are exceptions to disposition,
not failures of the control. A control is never counted as met without evidence. Each
distinct (check, parameters) pair runs once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reporting.controls.checks import CheckResult, Status, resolve_params, run_check
from reporting.controls.loader import Control, Framework
from reporting.controls.vocabulary import ControlStatus
from reporting.evidence.frame import Evidence
from reporting.words import count, plural

__all__ = [
    "AGENTS_ASSESSED",
    "ControlAssessment",
    "ControlStatus",
    "FrameworkAssessment",
    "assess",
    "assess_agents",
    "control_status",
]

# Agents assessed one by one (those with the most receipts); the others are counted, not
# assessed: each costs one more run of the checks over its own rows.
AGENTS_ASSESSED = 50


@dataclass(frozen=True)
class ControlAssessment:
    control: Control
    status: ControlStatus
    results: tuple[CheckResult, ...]
    reason: str = ""  # what decided the status, in one sentence

    @property
    def deciding(self) -> tuple[CheckResult, ...]:
        return tuple(
            r for r, ref in zip(self.results, self.control.checks, strict=True) if ref.deciding
        )

    def to_json(self) -> dict[str, Any]:
        control = self.control
        return {
            "id": control.id,
            "title": control.title,
            "status": self.status.value,
            "reason": self.reason,
            "requirement": control.requirement,
            "quote": control.quote,
            "section": control.section,
            "applies_to": list(control.applies_to),
            "checks": [
                r.to_json() | {"role": ref.role}
                for r, ref in zip(self.results, control.checks, strict=True)
            ],
            "manual_evidence": list(control.manual_evidence),
            "crosswalks": {k: list(v) for k, v in control.crosswalks.items()},
        }


@dataclass(frozen=True)
class FrameworkAssessment:
    framework: Framework
    controls: tuple[ControlAssessment, ...]

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(c.status.value for c in self.controls)
        return {status.value: counted.get(status.value, 0) for status in ControlStatus}

    @property
    def manual(self) -> tuple[str, ...]:
        return tuple(c.control.id for c in self.controls if c.status is ControlStatus.MANUAL)

    def to_json(self) -> dict[str, Any]:
        framework = self.framework
        return {
            "id": framework.id,
            "title": framework.title,
            "version": framework.version,
            "source": framework.source,
            "retrieved": framework.retrieved,
            "mapping_sha256": framework.sha256,
            "counts": self.counts,
            "manual": list(self.manual),
            "controls": [c.to_json() for c in self.controls],
        }


def _names(results: Sequence[CheckResult]) -> str:
    return ", ".join(sorted({r.check for r in results}))


def control_status(
    results: Sequence[CheckResult], *, manual_evidence: int = 0
) -> tuple[ControlStatus, str]:
    """The status decided by a control's deciding checks, and why, in one sentence."""
    applicable = [r for r in results if r.status is not Status.NOT_APPLICABLE]
    if not applicable:
        why = "no check decides it" if not results else "no deciding check had anything in scope"
        return ControlStatus.MANUAL, f"Manual: {why}; the evidence must come from a person."
    failed = [r for r in applicable if r.status is Status.FAIL]
    if failed:
        return ControlStatus.NOT_SATISFIED, f"Not supported: {_names(failed)} failed."
    undecided = [r for r in applicable if r.status is Status.INDETERMINATE]
    if undecided:
        reasons = sorted({f"{r.check} ({r.reason or 'undecided'})" for r in undecided})
        return ControlStatus.INDETERMINATE, f"Indeterminate: {', '.join(reasons)}."
    passed = f"{count(len(applicable), 'deciding check')} passed on verified receipts"
    exceptions = sum(r.exceptions for r in applicable)
    if exceptions:
        passed += f" ({count(exceptions, 'exception')} to disposition)"
    if manual_evidence:
        return (
            ControlStatus.SUPPORTED_IN_PART,
            f"Supported in part: {passed}; {count(manual_evidence, 'item of manual evidence')} "
            f"{plural(manual_evidence, 'is', 'are')} outstanding.",
        )
    return ControlStatus.SATISFIED, f"Supported: {passed}; no manual evidence is listed."


def _assessed(control: Control, results: tuple[CheckResult, ...]) -> ControlAssessment:
    deciding = [r for r, ref in zip(results, control.checks, strict=True) if ref.deciding]
    status, reason = control_status(deciding, manual_evidence=len(control.manual_evidence))
    return ControlAssessment(control=control, status=status, results=results, reason=reason)


def assess(frameworks: Sequence[Framework], evidence: Evidence) -> list[FrameworkAssessment]:
    cache: dict[str, CheckResult] = {}

    def result_for(name: str, params: dict[str, Any]) -> CheckResult:
        resolved = resolve_params(name, params)
        key = name + json.dumps(resolved, sort_keys=True)
        if key not in cache:
            cache[key] = run_check(name, evidence, resolved)
        return cache[key]

    return [
        FrameworkAssessment(
            framework=framework,
            controls=tuple(
                _assessed(control, tuple(result_for(r.check, r.params) for r in control.checks))
                for control in framework.controls
            ),
        )
        for framework in frameworks
    ]


def assess_agents(
    frameworks: Sequence[Framework], evidence: Evidence, *, limit: int = AGENTS_ASSESSED
) -> dict[str, tuple[FrameworkAssessment, ...]]:
    """Each agent's own assessment: what a report narrowed to that agent (`--issuer`) says,
    for the `limit` agents with the most receipts in scope."""
    return {
        agent: tuple(assess(frameworks, evidence.for_agent(agent)))
        for agent in evidence.agents()[:limit]
    }
