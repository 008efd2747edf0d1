"""Accountability checks: can each action be traced to who did it, for whom, why, and what
it changed, without the trail itself disclosing what it should only commit to?"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reporting.controls.checks.registry import Problem, Verdict, check
from reporting.controls.checks.rules import (
    GLOBS,
    RISK,
    at_least,
    matches,
    present,
    verdict,
)
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

__all__ = ["MESSAGES", "STATE_CHANGES", "WRITES"]

WRITES = [
    "*.create",
    "*.modify",
    "*.modify_*",
    "*.write",
    "*.move",
    "*.delete",
    "*.send",
    "*.share",
    "financial.*",
]
STATE_CHANGES = ["*.modify", "*.modify_*", "*.write", "*.move"]
MESSAGES = ["communication.email.send", "communication.message.send"]


@check(
    title="Every action is attributable",
    description="Every receipt names its issuing agent and its principal. Both fields are "
    "required by the protocol's schema, so on verified receipts this holds by construction: "
    "supporting evidence only, never the basis of a control's status.",
    problem=Problem(
        "unattributed",
        "{n} [receipt does|receipts do] not name [its|their] agent or principal",
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
        "{n} delegated [receipt does|receipts do] not resolve to [its|their] parent",
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
    title="Intent recorded for risky actions of conversational agents",
    description="Every action at or above a risk level, by a producer the deployment lists as "
    "conversational, commits to the intent behind it: a conversation hash, a reasoning hash "
    "or a prompt preview. Scheduled agents and daemons have no conversation to record, so "
    "without the list of conversational producers the check is not configured.",
    problem=Problem(
        "intent_unrecorded",
        "{n} risky [action|actions] of conversational agents [records|record] no intent",
        Severity.MEDIUM,
        "Record a conversation or reasoning hash on the risky actions of conversational agents.",
    ),
    min_risk=RISK,
    deployment=("conversational",),
    conversational={
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "description": "issuer globs of the conversational producers (deployment)",
    },
)
def intent_recorded(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    statement = (
        f"every {params['min_risk']}+ action of a conversational agent records its intent "
        "(conversation or reasoning hash, or prompt)"
    )
    risky = at_least(evidence.in_scope, params["min_risk"])
    population = risky[matches(risky["issuer"].astype(object).fillna(""), params["conversational"])]
    recorded = (
        population["has_conversation_hash"].astype(bool)
        | population["has_reasoning_hash"].astype(bool)
        | present(population["prompt_preview"])
    )
    return verdict(
        statement,
        population,
        ~recorded,
        with_reasoning_hash=int(population["has_reasoning_hash"].astype(bool).sum()),
    )


@check(
    title="Writes commit to what they changed",
    description="Every write action commits to its parameters by hash; with "
    "`require_state_change`, modifications (`state_actions`) also commit to the state before "
    "and after (outcome.state_change), and with `require_response_hash` to the response.",
    problem=Problem(
        "write_uncommitted",
        "{n} write [action does|actions do] not commit to [its|their] parameters",
        Severity.MEDIUM,
        "Commit to parameters by hash (action.parameters_hash) on every write action.",
    ),
    also=(
        Problem(
            "state_change_uncommitted",
            "{n} [modification does|modifications do] not commit to the state before and after",
            Severity.MEDIUM,
            "Record outcome.state_change (before_hash, after_hash) on modifying actions.",
        ),
        Problem(
            "response_uncommitted",
            "{n} write [action does|actions do] not commit to [its|their] response",
            Severity.MEDIUM,
            "Record outcome.response_hash on write actions.",
        ),
    ),
    actions=GLOBS | {"default": WRITES},
    state_actions=GLOBS | {"default": STATE_CHANGES},
    require_state_change={"type": "boolean", "default": False},
    require_response_hash={"type": "boolean", "default": False},
)
def write_commitments(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    codes = pd.Series(None, index=population.index, dtype=object)
    if params["require_response_hash"]:
        codes = codes.mask(~population["has_response_hash"].astype(bool), "response_uncommitted")
    if params["require_state_change"]:
        modifies = matches(population["action_type"], params["state_actions"])
        missing = modifies & ~population["has_state_change"].astype(bool)
        codes = codes.mask(missing, "state_change_uncommitted")
    codes = codes.mask(~population["has_parameters_hash"].astype(bool), "")
    extra = [
        words
        for flag, words in (
            ("require_state_change", "modifications to the state before and after"),
            ("require_response_hash", "to its response"),
        )
        if params[flag]
    ]
    return verdict(
        "every write action commits to its parameters by hash"
        + "".join(f"; {words}" for words in extra),
        population,
        codes,
    )


_DISCLOSURES = {
    "parameters": "legacy_plaintext",
    "prompt": "prompt_preview",
    "error": "error",
}


@check(
    title="No plaintext disclosure in the audit trail",
    description="No receipt discloses content in plaintext that it should only commit to: "
    "parameters in the legacy plaintext map, a prompt preview (intent.prompt_preview), or "
    "error text (outcome.error). Each can carry confidential data into the audit trail.",
    problem=Problem(
        "plaintext_parameters",
        "{n} [receipt discloses its|receipts disclose their] parameters in plaintext",
        Severity.MEDIUM,
        "Move to the encrypted (HPKE) disclosure envelope.",
    ),
    also=(
        Problem(
            "plaintext_prompt",
            "{n} [receipt carries|receipts carry] a plaintext prompt preview",
            Severity.MEDIUM,
            "Record prompts by hash (intent.conversation_hash), not as previews, or redact "
            "the previews.",
        ),
        Problem(
            "plaintext_error",
            "{n} [receipt carries|receipts carry] plaintext error text",
            Severity.LOW,
            "Keep error messages out of receipts, or reduce them to codes.",
        ),
    ),
    fields={
        "type": "array",
        "items": {"enum": list(_DISCLOSURES)},
        "minItems": 1,
        "uniqueItems": True,
        "default": list(_DISCLOSURES),
    },
)
def no_plaintext_disclosure(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    codes = pd.Series(None, index=scope.index, dtype=object)
    if "error" in params["fields"]:
        codes = codes.mask(present(scope["error"]), "plaintext_error")
    if "prompt" in params["fields"]:
        codes = codes.mask(present(scope["prompt_preview"]), "plaintext_prompt")
    if "parameters" in params["fields"]:
        codes = codes.mask(scope["disclosure_mode"].astype(str) == "legacy_plaintext", "")
    return verdict(
        f"no receipt discloses {', '.join(params['fields'])} in plaintext",
        scope,
        codes,
    )


@check(
    title="AI-sent messages to people are on record",
    description="The population of messages agents sent to people (emails, chat messages) "
    "in the period, by agent: what a reviewer samples to check that recipients were told "
    "they interact with an AI system (EU AI Act Art. 50(1)). It cannot fail: supporting "
    "evidence only.",
    problem=Problem(
        "message_unrecorded",
        "{n} [message|messages] to people [is|are] not on record",
        Severity.LOW,
        "Record every message agents send to people.",
    ),
    actions=GLOBS | {"default": MESSAGES},
)
def ai_sent_messages(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    scope = evidence.in_scope
    population = scope[matches(scope["action_type"], params["actions"])]
    trusted = population[population["trusted"].astype(bool)]
    return verdict(
        "the messages agents sent to people in the period are listed for review",
        population,
        pd.Series(False, index=population.index),
        by_agent={str(k): int(v) for k, v in trusted["issuer"].value_counts().items() if v},
    )
