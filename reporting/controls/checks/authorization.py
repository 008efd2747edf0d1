"""Authorization checks: did each action carry a valid, grounded authority for what it did?

Where a grants registry is given, a grant's validity and scopes are read from it: the
validity and scopes an agent writes into its own receipt are only its claim.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import (
    GLOBS,
    RISK,
    at_least,
    matches,
    per_value,
    present,
    verdict,
)
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__ = ["NO_AUTHORIZATION", "NO_GRANT_REF", "authorization_problems"]

NO_AUTHORIZATION = Problem(
    "no_authorization",
    "{n} [action carries|actions carry] no authorization at all",
    Severity.HIGH,
    "Find the code path that acted without attaching its authorization, and require one "
    "before such actions run.",
)
NO_GRANT_REF = Problem(
    "no_grant_ref",
    "{n} [action carries|actions carry] an authorization without a grant_ref",
    Severity.HIGH,
    "Bind these actions to a grant that a registry can resolve (authorization.grant_ref).",
)
GRANT_UNRESOLVED = Problem(
    "grant_unresolved",
    "{n} [action cites|actions cite] a grant the grants registry does not hold",
    Severity.HIGH,
    "Find who issued the unknown grants; revoke them, or record them in the registry.",
)
GRANT_OTHER_PRINCIPAL = Problem(
    "grant_other_principal",
    "{n} [action cites|actions cite] a grant issued to another principal",
    Severity.CRITICAL,
    "Investigate the actions taken under someone else's grant; bind grants to their subject.",
)


def authorization_problems(rows: pd.DataFrame, *, grant: bool) -> pd.Series:
    """Per row: no_authorization, no_grant_ref (when a grant is needed) or None."""
    has_auth = rows["has_authorization"].astype(bool)
    codes = pd.Series(None, index=rows.index, dtype=object).mask(~has_auth, NO_AUTHORIZATION.code)
    if grant:
        codes = codes.mask(has_auth & ~present(rows["grant_ref"]), NO_GRANT_REF.code)
    return codes


def _registry_field(evidence: Evidence, refs: pd.Series, name: str) -> pd.Series:
    """A field of each row's grant in the registry (None: no registry or unknown grant)."""
    grants = evidence.grants or {}
    values = {ref: getattr(grants[ref], name) for ref in set(refs.dropna()) if ref in grants}
    return refs.astype(object).map(values)


@check(
    title="Risky actions are authorized",
    description="Every action at or above a risk level carries an authorization with scopes.",
    problem=NO_AUTHORIZATION,
    also=(
        Problem(
            "no_scopes",
            "{n} [action carries|actions carry] an authorization without scopes",
            Severity.HIGH,
            "Issue grants with explicit scopes; an authorization without scopes limits nothing.",
        ),
    ),
    min_risk=RISK,
)
def authorization_present(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, params["min_risk"])
    codes = authorization_problems(population, grant=False)
    codes = codes.where(codes.notna() | (population["scopes"] != ""), "no_scopes")
    return verdict(
        f"every {params['min_risk']}+ action carries an authorization with scopes",
        population,
        codes,
    )


@check(
    title="Authorizations are valid when used",
    description="Every authorization was issued before, and had not expired at, the time of "
    "the action it authorizes; with a grants registry, the grant's validity is read from it.",
    problem=Problem(
        "authorization_expired",
        "{n} [action|actions] ran on an expired authorization",
        Severity.HIGH,
        "Stop agents from acting on expired grants; re-authorize retried actions.",
    ),
    also=(
        Problem(
            "authorization_not_yet_valid",
            "{n} [action|actions] ran before [its|their] authorization was issued",
            Severity.HIGH,
            "Investigate actions that precede their grant: back-dated or forged authority.",
        ),
    ),
)
def authorization_time_valid(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[scope["has_authorization"].astype(bool)]
    issued, expires = population["granted_at"], population["expires_at"]
    from_registry = 0
    if evidence.grants is not None:
        refs = population["grant_ref"]
        registry_issued = pd.to_datetime(
            _registry_field(evidence, refs, "issued_at"), utc=True, errors="coerce"
        )
        registry_expires = pd.to_datetime(
            _registry_field(evidence, refs, "expires_at"), utc=True, errors="coerce"
        )
        known = refs.isin(set(evidence.grants))
        issued = registry_issued.where(known, issued)
        expires = registry_expires.where(known, expires)
        from_registry = int(known.sum())
    early = issued.notna() & (issued > population["timestamp"])
    expired = expires.notna() & (population["timestamp"] > expires)
    codes = (
        pd.Series(None, index=population.index, dtype=object)
        .mask(expired, "")
        .mask(early, "authorization_not_yet_valid")
    )
    return verdict(
        "every authorization was issued before and had not expired at the action time",
        population,
        codes,
        expired=int((expired & ~early).sum()),
        not_yet_issued=int(early.sum()),
        validity_from_registry=from_registry,
    )


@check(
    title="High-risk actions are grounded in a grant",
    description="Every action at or above a risk level names a grant_ref, resolved through "
    "the grants registry to its principal when one is given.",
    problem=NO_GRANT_REF,
    also=(NO_AUTHORIZATION, GRANT_UNRESOLVED, GRANT_OTHER_PRINCIPAL),
    min_risk=RISK,
)
def grounded_principal(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, params["min_risk"])
    codes = authorization_problems(population, grant=True)
    resolved = evidence.grants is not None
    if resolved:
        subject = _registry_field(evidence, population["grant_ref"], "subject")
        unresolved = codes.isna() & subject.isna()
        other = codes.isna() & subject.notna() & (subject != population["principal"].astype(object))
        codes = codes.mask(unresolved, GRANT_UNRESOLVED.code).mask(
            other, GRANT_OTHER_PRINCIPAL.code
        )
    how = (
        "resolved through the grants file to their principal"
        if resolved
        else "present (not resolved: no grants file)"
    )
    return verdict(
        f"every {params['min_risk']}+ action names an authorization grant_ref, {how}",
        population,
        codes,
        grants_file=resolved,
    )


@check(
    title="Critical actions are grounded in a grant",
    description="Every critical action (of the control's action population) was taken for a "
    "human principal under an authorization naming a grant. A standing grant passes this "
    "check: that the action itself was approved is tested by `human_approval`.",
    problem=Problem(
        "not_for_a_human",
        "{n} critical [action was|actions were] not taken for a human principal",
        Severity.HIGH,
        "Make critical actions run only on behalf of an accountable person.",
    ),
    also=(NO_AUTHORIZATION, NO_GRANT_REF),
    min_risk=RISK | {"default": "critical"},
    actions=GLOBS | {"default": ["*"]},
)
def critical_actions_grounded(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    chosen = at_least(evidence.in_scope, params["min_risk"])
    population = chosen[matches(chosen["action_type"], params["actions"])]
    codes = authorization_problems(population, grant=True)
    human = population["principal_type"].astype(str) == "HumanPrincipal"
    codes = codes.where(codes.notna() | human, "")
    return verdict(
        f"every {params['min_risk']}+ action of {params['actions']} was taken for a human "
        "principal under a grant",
        population,
        codes,
    )


def _grants_one_of(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether a '|'-joined scope list holds a scope matching one of the patterns."""

    def granted(scopes: str) -> bool:
        held = [one for one in scopes.split("|") if one]
        return any(fnmatch.fnmatchcase(one, p) for one in held for p in patterns)

    return granted


def _held_scopes(evidence: Evidence, rows: pd.DataFrame) -> pd.Series:
    """The scopes each row holds: the registry's for a known grant, else the receipt's claim."""
    if evidence.grants is None:
        return rows["scopes"].astype(object)
    registry = _registry_field(evidence, rows["grant_ref"], "scopes")
    joined = registry.map(lambda s: "|".join(s) if isinstance(s, tuple) else None)
    return joined.where(joined.notna(), rows["scopes"].astype(object))


@check(
    title="Scopes match the actions taken",
    description="Each governed action holds a scope its rule requires (with a grants "
    "registry, the scopes the registry granted, not those the receipt claims).",
    problem=Problem(
        "scope_mismatch",
        "{n} [action was|actions were] taken without a scope that covers [it|them]",
        Severity.HIGH,
        "Issue grants whose scopes match the actions they allow.",
    ),
    also=(NO_AUTHORIZATION,),
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
    held = _held_scopes(evidence, scope)
    covered = pd.Series(False, index=scope.index)
    failing = pd.Series(False, index=scope.index)
    for rule in params["rules"]:
        applies = matches(scope["action_type"], rule["actions"])
        granted = per_value(held.fillna(""), _grants_one_of(rule["scopes"]))
        covered |= applies
        failing |= applies & ~granted
    population = scope[covered]
    codes = authorization_problems(population, grant=False)
    codes = codes.where(codes.notna() | ~failing[covered], "")
    return verdict("each governed action holds a scope its rule requires", population, codes)
