"""The checks: one module per family, all registered in `registry.REGISTRY` on import."""

from __future__ import annotations

from reporting.controls.checks import (  # noqa: F401 - importing a family registers its checks
    accountability,
    anomalies,
    authorization,
    capabilities,
    completeness,
    integrity,
    oversight,
    risk,
)
from reporting.controls.checks.registry import (
    REGISTRY,
    CheckResult,
    CheckSpec,
    Hit,
    Problem,
    Status,
    Verdict,
    parameter_errors,
    problem_of,
    registry_summary,
    resolve_params,
    run_check,
)

__all__ = [
    "REGISTRY",
    "CheckResult",
    "CheckSpec",
    "Hit",
    "Problem",
    "Status",
    "Verdict",
    "parameter_errors",
    "problem_of",
    "registry_summary",
    "resolve_params",
    "run_check",
]
