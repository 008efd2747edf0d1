"""Dangerous capabilities: code execution, transfers out, money, and what agents run on."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import pandas as pd

from reporting.controls.checks.authorization import (
    NO_AUTHORIZATION,
    NO_GRANT_REF,
    authorization_problems,
)
from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import (
    GLOBS,
    entry_for,
    matches,
    per_value,
    present,
    undecided,
    verdict,
)
from reporting.controls.vocabulary import Reason, Severity
from reporting.evidence.frame import Evidence

__all__ = ["TRANSFERS"]

TRANSFERS = [
    "network.egress.observed",
    "document.file.share",
    "communication.email.send",
    "communication.message.send",
    "data.api.write",
]


def _authorized_actions(
    evidence: Evidence, params: dict[str, Any], what: str, *, grant: bool
) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    counts = population["action_type"].astype(str).value_counts().to_dict()
    return verdict(
        what, population, authorization_problems(population, grant=grant), by_type=counts
    )


@check(
    title="Code execution is authorized",
    description="Every command, code or PTY execution carries an authorization. This shows "
    "executions were authorized, not that the software run was benign: supporting evidence "
    "for controls against malicious software.",
    problem=NO_AUTHORIZATION,
    actions=GLOBS
    | {"default": ["system.command.execute", "system.code.execute", "system.pty.open"]},
)
def code_execution_authorized(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    return _authorized_actions(
        evidence,
        params,
        "every command, code or PTY execution carries an authorization",
        grant=False,
    )


@check(
    title="Transfers out of the system are authorized",
    description="Every egress, share, sent message or write to an external API carries an "
    "authorization. No such receipt at all means transfers are not instrumented: the check "
    "cannot decide.",
    problem=NO_AUTHORIZATION,
    actions=GLOBS | {"default": TRANSFERS},
)
def external_transfer_authorized(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = f"every transfer out of the system ({', '.join(params['actions'])}) is authorized"
    scope = evidence.in_scope
    if not bool(matches(scope["action_type"], params["actions"]).any()) and not scope.empty:
        return undecided(
            statement,
            Reason.NOT_INSTRUMENTED,
            population=0,
            untrusted=0,
            actions=list(params["actions"]),
        )
    return _authorized_actions(evidence, params, statement, grant=False)


@check(
    title="Financial actions are granted",
    description="Every financial action carries an authorization with a grant_ref.",
    problem=NO_AUTHORIZATION,
    also=(NO_GRANT_REF,),
    actions=GLOBS | {"default": ["financial.*"]},
)
def financial_actions_granted(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    return _authorized_actions(
        evidence,
        params,
        "every financial action carries an authorization with a grant_ref",
        grant=True,
    )


@check(
    title="Each business operation executed once",
    description="No successful action of the listed types repeats the action type and "
    "idempotency_key of another successful action: that is the same operation executed "
    "twice (a duplicate payment, for example).",
    problem=Problem(
        "duplicate_execution",
        "{n} [action repeats|actions repeat] an operation already executed (same idempotency_key)",
        Severity.HIGH,
        "Reconcile the duplicated operations (refund or reverse them) and make executors "
        "honour idempotency keys.",
    ),
    actions=GLOBS | {"default": ["financial.*"]},
)
def executed_once(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    trusted = population[population["trusted"].astype(bool)]
    keyed = trusted[present(trusted["idempotency_key"]) & (trusted["outcome"] == "success")]
    ordered = keyed.sort_values(["timestamp", "chain_id", "sequence"], kind="stable")
    repeated = ordered.duplicated(["action_type", "idempotency_key"], keep="first")
    failing = pd.Series(False, index=population.index)
    failing[repeated[repeated].index] = True
    return verdict(
        "no successful operation of these types repeats an idempotency_key",
        population,
        failing,
        keyed=len(keyed),
    )


_INVENTORY = {
    "type": "array",
    "minItems": 1,
    "description": "per producer (issuer glob): the models, tools, target systems and "
    "executables it is allowed to use (globs); a kind left out is not checked",
    "items": {
        "type": "object",
        "required": ["issuer"],
        "additionalProperties": False,
        "properties": {
            "issuer": {"type": "string", "minLength": 1},
            "models": GLOBS,
            "tools": GLOBS,
            "targets": GLOBS,
            "executables": GLOBS,
        },
    },
}
_KINDS = {
    "models": "model",
    "tools": "tool_name",
    "targets": "target_system",
    "executables": "exe_path",
}


@check(
    title="Agents run only allowlisted components",
    description="The inventory recorded in the receipts (issuer, `issuer.model`, tool names, "
    "`action.target.system`, `peer_credential.exe_path`) stays within the deployment's "
    "allowlist: every producer is listed, and every model, tool, target and executable it "
    "used matches its entry.",
    problem=Problem(
        "component_not_allowlisted",
        "{n} [action|actions] used a model, tool, target or executable outside the allowlist",
        Severity.HIGH,
        "Review the unlisted components: remove them, or approve them and add them to the "
        "allowlist (inventory) of the deployment.",
    ),
    also=(
        Problem(
            "producer_not_inventoried",
            "{n} [action comes|actions come] from agents missing from the inventory",
            Severity.HIGH,
            "Identify the unlisted agents; stop them or add them to the inventory.",
        ),
    ),
    deployment=("producers",),
    producers=_INVENTORY,
)
def inventory_allowlist(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = "every agent, model, tool, target and executable in use is on the allowlist"
    scope = evidence.in_scope
    entries = params["producers"]
    entry = entry_for(scope["issuer"], entries)
    codes = pd.Series(None, index=scope.index, dtype=object).mask(
        entry < 0, "producer_not_inventoried"
    )
    unlisted: dict[str, list[str]] = {}
    for position, allowed in enumerate(entries):
        rows = scope[entry == position]
        for kind, column in _KINDS.items():
            if kind not in allowed:
                continue
            values = rows[column].astype(object)
            ok = per_value(values.fillna(""), _allowed(allowed[kind]))
            outside = values.notna() & ~ok
            codes[outside[outside].index] = ""
            unlisted.setdefault(kind, []).extend(sorted(set(values[outside].astype(str))))
    return verdict(
        statement,
        scope,
        codes.astype(object),
        unlisted={k: sorted(set(v)) for k, v in unlisted.items() if v},
        producers_not_inventoried=sorted(set(scope.loc[entry < 0, "issuer"].dropna().astype(str))),
    )


def _allowed(patterns: list[str]) -> Callable[[str], bool]:
    """Whether a recorded value is on the allowlist (no value recorded: nothing to check)."""

    def allowed(value: str) -> bool:
        return value == "" or any(fnmatch.fnmatchcase(value, p) for p in patterns)

    return allowed
