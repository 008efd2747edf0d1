"""Dangerous capabilities: code execution, transfers out, money."""

from __future__ import annotations

from typing import Any

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import GLOBS, matches, present, verdict
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__: list[str] = []


def _authorized_actions(
    evidence: Evidence, params: dict[str, Any], what: str, grant: bool
) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    missing = ~population["has_authorization"].astype(bool)
    if grant:
        missing |= ~present(population["grant_ref"])
    counts = population["action_type"].astype(str).value_counts().to_dict()
    return verdict(what, population, missing, by_type=counts)


@check(
    title="Code execution is authorized",
    description="Every command, code or PTY execution carries an authorization.",
    problem=Problem(
        "execution_unauthorized",
        "{n} code executions carry no authorization",
        Severity.HIGH,
        "Authorize every command and code execution explicitly.",
    ),
    actions=GLOBS
    | {"default": ["system.command.execute", "system.code.execute", "system.pty.open"]},
)
def code_execution_authorized(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    return _authorized_actions(
        evidence, params, "every command, code or PTY execution carries an authorization", False
    )


@check(
    title="Egress and sharing are authorized",
    description="Every egress, file share or sent message carries an authorization.",
    problem=Problem(
        "transfer_unauthorized",
        "{n} transfers out of the system carry no authorization",
        Severity.HIGH,
        "Authorize egress, sharing and outbound mail explicitly.",
    ),
    actions=GLOBS
    | {"default": ["network.egress.observed", "document.file.share", "communication.email.send"]},
)
def external_transfer_authorized(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    return _authorized_actions(
        evidence, params, "every egress, file share or sent email carries an authorization", False
    )


@check(
    title="Financial actions are granted",
    description="Every financial action carries an authorization with a grant_ref.",
    problem=Problem(
        "financial_ungranted",
        "{n} financial actions carry no authorization with a grant_ref",
        Severity.HIGH,
        "Bind financial actions to an explicit grant.",
    ),
    actions=GLOBS | {"default": ["financial.*"]},
)
def financial_actions_granted(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    return _authorized_actions(
        evidence, params, "every financial action carries an authorization with a grant_ref", True
    )
