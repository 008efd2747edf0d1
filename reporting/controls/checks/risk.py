"""Risk checks: are actions classified, and classified honestly?"""

from __future__ import annotations

from typing import Any

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import SHARE, share_verdict, verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


@check(
    title="Risk never below the taxonomy default",
    description="No action is classified below its taxonomy default risk (protocol §6).",
    problem=Problem(
        "risk_understated",
        "{n} [action is|actions are] classified below [its|their] taxonomy default risk",
        Severity.MEDIUM,
        "Never classify actions below their taxonomy default risk.",
    ),
)
def risk_not_below_taxonomy(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    below = scope["taxonomy_rank"].notna() & (scope["risk_rank"] < scope["taxonomy_rank"])
    return verdict(
        "no action is classified below its taxonomy default risk (§6)",
        scope,
        below.fillna(False).astype(bool),
    )


@check(
    title="Few unclassified actions",
    description="The share of actions typed `unknown` is within a limit.",
    problem=Problem(
        "unclassified_actions",
        "{n} [action is|actions are] typed `unknown`",
        Severity.MEDIUM,
        "Map tools to taxonomy action types instead of `unknown`.",
    ),
    max_share=SHARE | {"default": 0.05},
)
def unknown_action_share(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    unknown = scope["action_type"].astype(str) == "unknown"
    return share_verdict(
        "share of actions typed `unknown` is within the limit",
        scope,
        unknown,
        limit=params["max_share"],
        at_most=True,
    )
