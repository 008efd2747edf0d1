"""Human oversight checks: could a person approve, reverse or stop what agents did?"""

from __future__ import annotations

from typing import Any

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import GLOBS, at_least, matches, present, verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__ = ["DESTRUCTIVE"]

DESTRUCTIVE = ["*.delete", "financial.payment.*", "*.share", "*.send"]


@check(
    title="Critical actions have a human principal and a grant",
    description="Every critical action was taken for a human principal under an explicit grant.",
    problem=Problem(
        "critical_without_human_grant",
        "{n} critical actions lack a human principal or a grant",
        Severity.HIGH,
        "Route critical actions through an explicit human approval.",
    ),
)
def critical_human_approval(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    population = at_least(evidence.in_scope, "critical")
    human = population["principal_type"].astype(str) == "HumanPrincipal"
    granted = present(population["grant_ref"]) & population["has_authorization"].astype(bool)
    return verdict(
        "every critical action was taken for a human principal under an explicit grant",
        population,
        ~(human & granted),
    )


@check(
    title="Destructive actions declare reversibility",
    description="Every destructive action states whether it can be reversed.",
    problem=Problem(
        "reversibility_undeclared",
        "{n} destructive actions do not declare reversibility",
        Severity.HIGH,
        "Declare reversibility and the reversal method on destructive actions.",
    ),
    actions=GLOBS | {"default": DESTRUCTIVE},
)
def reversibility_declared(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    return verdict(
        "every destructive action states whether it can be reversed",
        population,
        population["reversible"].isna(),
    )


@check(
    title="Reversals point at their original",
    description="Every reversal receipt names an original receipt present in the evidence.",
    problem=Problem(
        "reversal_unlinked",
        "{n} reversals name no original receipt in the evidence",
        Severity.HIGH,
        "Make reversal receipts reference the receipt they reverse.",
    ),
)
def reversal_links(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[scope["reversal_of"].notna()]
    receipts = evidence.receipts
    # Only the named originals are looked up: not a set of every trusted receipt id.
    named = receipts["receipt_id"].isin(set(population["reversal_of"]))
    known = set(receipts.loc[named & receipts["trusted"], "receipt_id"])
    return verdict(
        "every reversal receipt names an original present in the evidence",
        population,
        ~population["reversal_of"].isin(known),
    )
