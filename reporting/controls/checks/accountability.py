"""Accountability checks: can each action be traced to who did it, for whom, and why?"""

from __future__ import annotations

from typing import Any

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import GLOBS, RISK, at_least, matches, present, verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__ = ["WRITES"]

WRITES = ["*.create", "*.modify", "*.delete", "*.send", "*.share", "financial.*"]


@check(
    title="Every action is attributable",
    description="Every receipt names its issuing agent and its principal.",
    problem=Problem(
        "unattributed",
        "{n} receipts do not name their agent or principal",
        Severity.MEDIUM,
        "Make every receipt name its agent and its principal.",
    ),
)
def attribution(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    missing = ~present(scope["issuer"].astype(object)) | ~present(scope["principal"].astype(object))
    return verdict("every receipt names its issuing agent and its principal", scope, missing)


@check(
    title="Delegations resolve to a parent",
    description="Every delegated chain links to an existing parent receipt of its delegator.",
    problem=Problem(
        "delegation_unresolved",
        "{n} delegated receipts do not resolve to their parent",
        Severity.MEDIUM,
        "Include parent chains in the evidence and fix delegation links.",
    ),
)
def delegation_resolves(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[scope["delegation_parent_chain"].notna()]
    broken = (
        population["failure_codes"].astype(str).str.contains("DELEGATION_UNVERIFIABLE", regex=False)
    )
    return verdict(
        "every delegated chain links to an existing parent receipt of its delegator",
        population,
        broken,
        proven_by_verification=True,
    )


@check(
    title="Intent recorded for risky actions",
    description="Every action at or above a risk level records its intent (conversation "
    "hash or prompt).",
    problem=Problem(
        "intent_unrecorded",
        "{n} risky actions record no intent",
        Severity.MEDIUM,
        "Record a conversation hash or prompt preview for risky actions.",
    ),
    min_risk=RISK,
)
def intent_recorded(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, params["min_risk"])
    recorded = (
        population["has_conversation_hash"].astype(bool) | population["prompt_preview"].notna()
    )
    return verdict(
        f"every {params['min_risk']}+ action records its intent (conversation hash or prompt)",
        population,
        ~recorded,
    )


@check(
    title="Writes commit to parameters and responses",
    description="Every write action commits to its parameters by hash (and, if required, "
    "to its response).",
    problem=Problem(
        "write_uncommitted",
        "{n} write actions do not commit to what they changed",
        Severity.MEDIUM,
        "Commit to parameters (and responses) by hash on write actions.",
    ),
    actions=GLOBS | {"default": WRITES},
    require_response_hash={"type": "boolean", "default": False},
)
def write_commitments(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    missing = ~population["has_parameters_hash"].astype(bool)
    if params["require_response_hash"]:
        missing |= ~population["has_response_hash"].astype(bool)
    return verdict(
        "every write action commits to its parameters by hash"
        + (" and to its response" if params["require_response_hash"] else ""),
        population,
        missing,
    )


@check(
    title="No plaintext parameter disclosure",
    description="No receipt discloses parameters in the legacy plaintext map.",
    problem=Problem(
        "plaintext_disclosure",
        "{n} receipts disclose content in plaintext",
        Severity.MEDIUM,
        "Move to the encrypted (HPKE) disclosure envelope.",
    ),
)
def no_plaintext_disclosure(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    plaintext = scope["disclosure_mode"].astype(str) == "legacy_plaintext"
    return verdict(
        "no receipt discloses parameters in the legacy plaintext map (confidentiality exposure)",
        scope,
        plaintext,
    )
