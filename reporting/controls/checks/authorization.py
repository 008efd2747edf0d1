"""Authorization checks: did each action carry a valid, grounded authority for what it did?"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import GLOBS, RISK, at_least, matches, per_value, verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


@check(
    title="Risky actions are authorized",
    description="Every action at or above a risk level carries an authorization with scopes.",
    problem=Problem(
        "no_authorization",
        "{n} risky actions carry no authorization with scopes",
        Severity.HIGH,
        "Require an authorization with scopes before risky actions run.",
    ),
    min_risk=RISK,
)
def authorization_present(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, params["min_risk"])
    missing = ~population["has_authorization"].astype(bool) | (population["scopes"] == "")
    return verdict(
        f"every {params['min_risk']}+ action carries an authorization with scopes",
        population,
        missing,
    )


@check(
    title="Authorizations are valid when used",
    description="Every authorization was granted before, and had not expired at, the time "
    "of the action it authorizes.",
    problem=Problem(
        "authorization_out_of_validity",
        "{n} actions ran outside their authorization's validity",
        Severity.HIGH,
        "Stop agents from acting on expired or future-dated grants.",
    ),
)
def authorization_time_valid(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = evidence.in_scope[evidence.in_scope["has_authorization"].astype(bool)]
    early = population["granted_at"] > population["timestamp"]
    expired = population["expires_at"].notna() & (
        population["timestamp"] > population["expires_at"]
    )
    return verdict(
        "every authorization was granted before and had not expired at the action time",
        population,
        early | expired,
        expired=int(expired.sum()),
        not_yet_granted=int(early.sum()),
    )


@check(
    title="High-risk actions are grounded in a grant",
    description="Every action at or above a risk level names a grant_ref, resolved through "
    "the grants registry to its principal when one is given.",
    problem=Problem(
        "ungrounded_principal",
        "{n} high-risk actions are not grounded in a grant for their principal",
        Severity.HIGH,
        "Bind every high-risk action to a grant_ref resolvable to its principal.",
    ),
    min_risk=RISK,
)
def grounded_principal(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, params["min_risk"])
    refs = population["grant_ref"]
    failing = refs.isna() | (refs == "")
    resolved = evidence.grants is not None
    if resolved:
        grants = evidence.grants or {}
        subject = refs.map(
            lambda r: grants[r].subject if isinstance(r, str) and r in grants else None
        )
        failing |= subject.isna() | (subject != population["principal"].astype(object))
    how = (
        "resolved through the grants file to their principal"
        if resolved
        else "present (not resolved: no grants file)"
    )
    return verdict(
        f"every {params['min_risk']}+ action names an authorization grant_ref, {how}",
        population,
        failing,
        grants_file=resolved,
    )


def _grants_one_of(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a '|'-joined scope list holds a scope matching one of the patterns."""

    def granted(scopes: str) -> bool:
        held = [one for one in scopes.split("|") if one]
        return any(fnmatch.fnmatchcase(one, p) for one in held for p in patterns)

    return granted


@check(
    title="Scopes match the actions taken",
    description="Each governed action carries a scope its rule requires.",
    problem=Problem(
        "scope_mismatch",
        "{n} actions were taken without a scope that covers them",
        Severity.HIGH,
        "Issue grants whose scopes match the actions they allow.",
    ),
    required=("rules",),
    rules={
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["actions", "scopes"],
            "additionalProperties": False,
            "properties": {"actions": GLOBS, "scopes": GLOBS},
        },
    },
)
def scope_matches_action(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    covered = pd.Series(False, index=scope.index)
    failing = pd.Series(False, index=scope.index)
    for rule in params["rules"]:
        applies = matches(scope["action_type"], rule["actions"])
        granted = per_value(scope["scopes"], _grants_one_of(rule["scopes"]))
        covered |= applies
        failing |= applies & ~granted
    return verdict(
        "each governed action carries a scope its rule requires",
        scope[covered],
        failing[covered],
    )
