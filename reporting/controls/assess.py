"""Checks and mappings → a status per control and counts per framework.

Control status (DESIGN.md, "Assessment"): NOT_SATISFIED if any of its checks fails,
SATISFIED if every applicable check passes, INDETERMINATE otherwise, and MANUAL when no
automated check applies (none mapped, or none had anything in scope). A control is
never counted as met without evidence. Each distinct (check, parameters) pair runs once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reporting.controls.checks import CheckResult, Status, resolve_params, run_check
from reporting.controls.loader import Control, Framework
from reporting.evidence.frame import Evidence

__all__ = ["ControlAssessment", "ControlStatus", "FrameworkAssessment", "assess", "control_status"]


class ControlStatus(StrEnum):
    SATISFIED = "SATISFIED"
    NOT_SATISFIED = "NOT_SATISFIED"
    INDETERMINATE = "INDETERMINATE"
    MANUAL = "MANUAL"


@dataclass(frozen=True)
class ControlAssessment:
    control: Control
    status: ControlStatus
    results: tuple[CheckResult, ...]

    def to_json(self) -> dict[str, Any]:
        control = self.control
        return {
            "id": control.id,
            "title": control.title,
            "status": self.status.value,
            "requirement": control.requirement,
            "quote": control.quote,
            "section": control.section,
            "applies_to": list(control.applies_to),
            "checks": [r.to_json() for r in self.results],
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


def control_status(results: Sequence[CheckResult]) -> ControlStatus:
    applicable = [r for r in results if r.status is not Status.NOT_APPLICABLE]
    if not applicable:
        return ControlStatus.MANUAL
    if any(r.status is Status.FAIL for r in applicable):
        return ControlStatus.NOT_SATISFIED
    if all(r.status is Status.PASS for r in applicable):
        return ControlStatus.SATISFIED
    return ControlStatus.INDETERMINATE


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
                ControlAssessment(
                    control=control,
                    status=control_status(
                        results := [result_for(r.check, r.params) for r in control.checks]
                    ),
                    results=tuple(results),
                )
                for control in framework.controls
            ),
        )
        for framework in frameworks
    ]
