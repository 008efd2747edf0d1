"""The check registry: named, parametrised, pure functions over the evidence.

Each check returns a `CheckResult`: a status, what it tested in one line, the
population it looked at, metrics, and the receipts and chains that fail it. The rule
every check follows (`_verdict`): no receipt in scope → NOT_APPLICABLE; any trusted
receipt failing → FAIL; otherwise, if any receipt in the population is untrusted (its
chain did not verify) → INDETERMINATE, because unverified evidence never counts as
passing; otherwise PASS.
"""

from __future__ import annotations

import fnmatch
import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import numpy as np
import pandas as pd

from reporting.evidence.frame import RISK_RANK, Evidence

__all__ = [
    "REGISTRY",
    "CheckResult",
    "CheckSpec",
    "Status",
    "parameter_errors",
    "resolve_params",
    "run_check",
]

MAX_LISTED = 10_000  # failing ids kept per check; the count is always exact


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a status, not a secret
    FAIL = "FAIL"
    INDETERMINATE = "INDETERMINATE"
    NOT_APPLICABLE = "NOT_APPLICABLE"


@dataclass(frozen=True)
class CheckResult:
    check: str
    params: dict[str, Any]
    status: Status
    statement: str
    population: int
    failing: int = 0
    untrusted: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    failing_receipts: tuple[str, ...] = ()
    failing_chains: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "params": self.params,
            "status": self.status.value,
            "statement": self.statement,
            "population": self.population,
            "failing": self.failing,
            "untrusted": self.untrusted,
            "metrics": self.metrics,
            "failing_receipts": list(self.failing_receipts),
            "failing_chains": list(self.failing_chains),
        }


CheckFunction = Callable[[Evidence, dict[str, Any]], CheckResult]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    category: str
    parameters: dict[str, Any]  # JSON Schema properties of the params object
    required: tuple[str, ...]
    function: CheckFunction
    validator: Callable[[dict[str, Any]], list[str]] | None = None

    @property
    def params_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": self.parameters,
            "required": list(self.required),
            "additionalProperties": False,
        }

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.parameters.items() if "default" in v}


REGISTRY: dict[str, CheckSpec] = {}


def check(
    name: str,
    title: str,
    category: str,
    *,
    required: Sequence[str] = (),
    validator: Callable[[dict[str, Any]], list[str]] | None = None,
    **parameters: Any,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check; `parameters` are JSON Schema properties of its params object."""

    def register(function: CheckFunction) -> CheckFunction:
        spec = CheckSpec(name, title, category, parameters, tuple(required), function, validator)
        REGISTRY[name] = spec
        return function

    return register


def parameter_errors(name: str, params: Mapping[str, Any]) -> list[str]:
    """Why `params` are not acceptable for check `name` (empty when they are)."""
    spec = REGISTRY.get(name)
    if spec is None:
        return [f"unknown check {name!r}"]
    validator = jsonschema.Draft202012Validator(spec.params_schema)
    errors = [
        f"{name}: {'/'.join(str(p) for p in error.path) or 'params'}: {error.message}"
        for error in validator.iter_errors(dict(params))
    ]
    if not errors and spec.validator is not None:
        errors = [f"{name}: {problem}" for problem in spec.validator(resolve_params(name, params))]
    return errors


def resolve_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return {**REGISTRY[name].defaults(), **params}


def run_check(
    name: str, evidence: Evidence, params: Mapping[str, Any] | None = None
) -> CheckResult:
    return REGISTRY[name].function(evidence, resolve_params(name, params or {}))


# -- parameter schemas and shared rules --------------------------------------------------

_RISK = {"enum": list(RISK_RANK), "default": "high"}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_GLOBS = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}


def _ids(values: pd.Series) -> tuple[str, ...]:
    """The first MAX_LISTED distinct values as text, sorted (without sorting them all:
    a check can fail on every one of a million receipts)."""
    return tuple(heapq.nsmallest(MAX_LISTED, [str(v) for v in values.dropna().unique().tolist()]))


def _verdict(
    name: str,
    params: dict[str, Any],
    statement: str,
    population: pd.DataFrame,
    failing: pd.Series,
    *,
    proven_by_verification: bool = False,
    **metrics: Any,
) -> CheckResult:
    """The common rule: trusted failures fail; untrusted rows block a pass.

    A failure the verifier itself established (a gap, a broken delegation) needs no
    trusted row to prove it: `proven_by_verification` counts it wherever it occurs.
    """
    trusted = population["trusted"].astype(bool)
    failing_trusted = population[failing if proven_by_verification else failing & trusted]
    untrusted = int((~trusted).sum())
    if population.empty:
        status = Status.NOT_APPLICABLE
    elif not failing_trusted.empty:
        status = Status.FAIL
    elif untrusted:
        status = Status.INDETERMINATE
    else:
        status = Status.PASS
    return CheckResult(
        check=name,
        params=params,
        status=status,
        statement=statement,
        population=len(population),
        failing=len(failing_trusted),
        untrusted=untrusted,
        metrics=metrics,
        failing_receipts=_ids(failing_trusted["receipt_id"]),
        failing_chains=_ids(failing_trusted["chain_id"].astype(str)),
    )


def _chain_verdict(
    name: str,
    params: dict[str, Any],
    statement: str,
    chains: pd.DataFrame,
    failing: pd.Series,
    *,
    proven_by_verification: bool = False,
    **metrics: Any,
) -> CheckResult:
    """`_verdict` for checks over the chains frame: broken chains block a pass."""
    authentic = chains["authentic"].astype(bool)
    failed = chains[failing if proven_by_verification else failing & authentic]
    untrusted = int((~authentic).sum())
    if chains.empty:
        status = Status.NOT_APPLICABLE
    elif not failed.empty:
        status = Status.FAIL
    else:
        status = Status.INDETERMINATE if untrusted else Status.PASS
    return CheckResult(
        check=name,
        params=params,
        status=status,
        statement=statement,
        population=len(chains),
        failing=len(failed),
        untrusted=untrusted,
        metrics=metrics,
        failing_chains=_ids(failed["chain_id"]),
    )


def _per_value(values: pd.Series, predicate: Callable[[str], bool]) -> pd.Series:
    """A predicate on each value's text, evaluated once per distinct value.

    The columns checks match on (action types, scopes) have few distinct values and
    many rows; a missing value is matched as the text 'nan', as `astype(str)` gives.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    table = np.fromiter((predicate(str(u)) for u in uniques), dtype=bool, count=len(uniques))
    return pd.Series(table[codes], index=values.index, dtype=bool)


def _matches(action_types: pd.Series, patterns: Sequence[str]) -> pd.Series:
    return _per_value(action_types, lambda t: any(fnmatch.fnmatchcase(t, p) for p in patterns))


def _present(values: pd.Series) -> pd.Series:
    """Non-missing and non-empty text: an empty string is no grant, no id, no intent."""
    return values.notna() & (values.astype(str) != "")


def _at_least(frame: pd.DataFrame, risk: str) -> pd.DataFrame:
    return frame[frame["risk_rank"].fillna(-1) >= RISK_RANK[risk]]


def _share_result(
    name: str,
    params: dict[str, Any],
    statement: str,
    population: pd.DataFrame,
    hits: pd.Series,
    *,
    limit: float,
    at_most: bool,
    fail_ids: pd.Series,
) -> CheckResult:
    """A rate over trusted rows compared with a threshold; the rows behind it are listed."""
    trusted = population[population["trusted"].astype(bool)]
    share = float(hits[population["trusted"].astype(bool)].mean()) if len(trusted) else 0.0
    breached = (share > limit) if at_most else (share < limit)
    failing = fail_ids if breached else pd.Series(False, index=population.index)
    return _verdict(
        name, params, statement, population, failing, share=round(share, 4), limit=limit
    )


# -- integrity ----------------------------------------------------------------------------


@check("chain_integrity", "All chains in scope verified", "integrity")
def chain_integrity(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    chains = evidence.chains_in_scope
    broken = chains[~chains["authentic"]]
    status = (
        Status.NOT_APPLICABLE if chains.empty else (Status.FAIL if len(broken) else Status.PASS)
    )
    problems = [p for p in evidence.verification.input_problems if p.severity.value == "failure"]
    if problems and status is Status.PASS:
        status = Status.FAIL
    return CheckResult(
        check="chain_integrity",
        params=params,
        status=status,
        statement="every chain with receipts in the period is authentic (signatures, links, keys)",
        population=len(chains),
        failing=len(broken) + len(problems),
        untrusted=int((~scope["trusted"].astype(bool)).sum()),
        metrics={
            "chains": len(chains),
            "broken_chains": len(broken),
            "input_problems": len(problems),
        },
        failing_receipts=_ids(scope[~scope["verified"].astype(bool)]["receipt_id"]),
        failing_chains=_ids(broken["chain_id"]),
    )


@check(
    "termination_status",
    "Chains end with a terminal receipt",
    "integrity",
    max_unknown_share=_SHARE | {"default": 0.25},
)
def termination_status(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    chains = evidence.chains_in_scope
    authentic = chains[chains["authentic"]]
    counts = chains["termination"].value_counts().to_dict()
    unknown = chains["termination"] == "unknown"
    share = float((authentic["termination"] == "unknown").mean()) if len(authentic) else 0.0
    breached = share > params["max_unknown_share"]
    return _chain_verdict(
        "termination_status",
        params,
        "share of chains that never reached a terminal receipt is within the limit",
        chains,
        unknown if breached else pd.Series(False, index=chains.index),
        complete=counts.get("complete", 0),
        interrupted=counts.get("interrupted", 0),
        unknown=counts.get("unknown", 0),
        unknown_share=round(share, 4),
    )


@check(
    "witness_coverage",
    "Chains are witnessed externally",
    "integrity",
    min_share=_SHARE | {"default": 1.0},
)
def witness_coverage(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    chains = evidence.chains_in_scope
    witnessed = chains["chain_id"].isin(set(evidence.witnesses))
    share = float(witnessed.mean()) if len(chains) else 0.0
    breached = share < params["min_share"]
    return _chain_verdict(
        "witness_coverage",
        params,
        "chains have an external witness, so a cut-off tail is detectable",
        chains,
        ~witnessed if breached else pd.Series(False, index=chains.index),
        proven_by_verification=True,  # a missing witness is a fact, whatever the chain's state
        witnessed=int(witnessed.sum()),
        share=round(share, 4),
    )


@check("key_rotation_continuity", "Key rotations are continuous", "integrity")
def key_rotation_continuity(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    chains = evidence.chains_in_scope
    rotated = chains[chains["rotations"] > 0]
    return _chain_verdict(
        "key_rotation_continuity",
        params,
        "every key rotation was signed by the outgoing key and names the incoming one",
        rotated,
        rotated["invalid_rotations"] > 0,
        proven_by_verification=True,
        rotations=int(rotated["rotations"].sum()),
        invalid=int(rotated["invalid_rotations"].sum()),
    )


@check(
    "trusted_timestamp_coverage",
    "High-risk actions carry a trusted timestamp",
    "integrity",
    min_share=_SHARE | {"default": 1.0},
    min_risk=_RISK,
)
def trusted_timestamp_coverage(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    population = _at_least(evidence.in_scope, params["min_risk"])
    stamped = population["trusted_timestamp"].astype(str).isin({"valid"})
    return _share_result(
        "trusted_timestamp_coverage",
        params,
        f"share of {params['min_risk']}+ actions with a valid RFC 3161 timestamp meets the minimum",
        population,
        stamped,
        limit=params["min_share"],
        at_most=False,
        fail_ids=~stamped,
    )


# -- log completeness ---------------------------------------------------------------------


@check("no_events_dropped", "No audit events were dropped", "completeness")
def no_events_dropped(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    dropped = scope["action_type"].astype(str) == "agent_receipts.events_dropped"
    return _verdict(
        "no_events_dropped",
        params,
        "no receipt reports audit events lost by an emitter",
        scope,
        dropped,
        dropped_events=int(scope.loc[dropped, "drop_count"].fillna(0).sum()),
    )


@check("no_sequence_gaps", "Chains have no missing receipts", "completeness")
def no_sequence_gaps(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    gap = scope["failure_codes"].astype(str).str.contains("SEQUENCE_GAP", regex=False)
    return _verdict(
        "no_sequence_gaps",
        params,
        "no chain skips a sequence number",
        scope,
        gap,
        proven_by_verification=True,
    )


@check(
    "activity_continuity",
    "No silent gaps inside sessions",
    "completeness",
    max_gap_hours={"type": "number", "exclusiveMinimum": 0, "default": 24},
)
def activity_continuity(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope.sort_values(["chain_id", "sequence"])
    gaps = scope.groupby("chain_id", observed=True)["timestamp"].diff()
    silent = gaps > pd.Timedelta(hours=params["max_gap_hours"])
    return _verdict(
        "activity_continuity",
        params,
        f"no chain is silent for more than {params['max_gap_hours']} h between two receipts",
        scope,
        silent.reindex(scope.index, fill_value=False),
        longest_gap_hours=round(float(gaps.max() / pd.Timedelta(hours=1)), 2)
        if gaps.notna().any()
        else 0.0,
    )


@check(
    "log_retention",
    "Logs cover the retention period",
    "completeness",
    min_days={"type": "integer", "minimum": 1, "default": 183},
)
def log_retention(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    frame = evidence.receipts
    trusted = frame[frame["trusted"].astype(bool)]
    latest = trusted["timestamp"].max() if len(trusted) else None
    end = pd.Timestamp(evidence.period.until) if evidence.period.until else latest
    earliest = trusted["timestamp"].min() if len(trusted) else None
    covered = (
        float((end - earliest) / pd.Timedelta(days=1))
        if earliest is not None and pd.notna(end)
        else 0.0
    )
    required = params["min_days"]
    if frame.empty:
        status = Status.NOT_APPLICABLE
    elif covered >= required:
        status = Status.PASS
    else:
        status = Status.INDETERMINATE  # shorter evidence does not prove logs were discarded
    return CheckResult(
        check="log_retention",
        params=params,
        status=status,
        statement=f"the verified logs reach back at least {required} days from the period end",
        population=len(frame),
        metrics={"days_covered": round(covered, 1), "required_days": required},
    )


# -- authorization ------------------------------------------------------------------------


@check("authorization_present", "Risky actions are authorized", "authorization", min_risk=_RISK)
def authorization_present(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    population = _at_least(evidence.in_scope, params["min_risk"])
    missing = ~population["has_authorization"].astype(bool) | (population["scopes"] == "")
    return _verdict(
        "authorization_present",
        params,
        f"every {params['min_risk']}+ action carries an authorization with scopes",
        population,
        missing,
    )


@check("authorization_time_valid", "Authorizations are valid when used", "authorization")
def authorization_time_valid(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    population = evidence.in_scope[evidence.in_scope["has_authorization"].astype(bool)]
    early = population["granted_at"] > population["timestamp"]
    expired = population["expires_at"].notna() & (
        population["timestamp"] > population["expires_at"]
    )
    return _verdict(
        "authorization_time_valid",
        params,
        "every authorization was granted before and had not expired at the action time",
        population,
        early | expired,
        expired=int(expired.sum()),
        not_yet_granted=int(early.sum()),
    )


@check(
    "grounded_principal",
    "High-risk actions are grounded in a grant",
    "authorization",
    min_risk=_RISK,
)
def grounded_principal(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    population = _at_least(evidence.in_scope, params["min_risk"])
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
    return _verdict(
        "grounded_principal",
        params,
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
    "scope_matches_action",
    "Scopes match the actions taken",
    "authorization",
    required=("rules",),
    rules={
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["actions", "scopes"],
            "additionalProperties": False,
            "properties": {"actions": _GLOBS, "scopes": _GLOBS},
        },
    },
)
def scope_matches_action(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    covered = pd.Series(False, index=scope.index)
    failing = pd.Series(False, index=scope.index)
    for rule in params["rules"]:
        applies = _matches(scope["action_type"], rule["actions"])
        granted = _per_value(scope["scopes"], _grants_one_of(rule["scopes"]))
        covered |= applies
        failing |= applies & ~granted
    return _verdict(
        "scope_matches_action",
        params,
        "each governed action carries a scope its rule requires",
        scope[covered],
        failing[covered],
    )


# -- human oversight ----------------------------------------------------------------------


@check(
    "critical_human_approval", "Critical actions have a human principal and a grant", "oversight"
)
def critical_human_approval(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    population = _at_least(evidence.in_scope, "critical")
    human = population["principal_type"].astype(str) == "HumanPrincipal"
    granted = _present(population["grant_ref"]) & population["has_authorization"].astype(bool)
    return _verdict(
        "critical_human_approval",
        params,
        "every critical action was taken for a human principal under an explicit grant",
        population,
        ~(human & granted),
    )


DESTRUCTIVE = ["*.delete", "financial.payment.*", "*.share", "*.send"]


@check(
    "reversibility_declared",
    "Destructive actions declare reversibility",
    "oversight",
    actions=_GLOBS | {"default": DESTRUCTIVE},
)
def reversibility_declared(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    population = scope[_matches(scope["action_type"], params["actions"])]
    return _verdict(
        "reversibility_declared",
        params,
        "every destructive action states whether it can be reversed",
        population,
        population["reversible"].isna(),
    )


@check("reversal_links", "Reversals point at their original", "oversight")
def reversal_links(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    population = scope[scope["reversal_of"].notna()]
    receipts = evidence.receipts
    # Only the named originals are looked up: not a set of every trusted receipt id.
    named = receipts["receipt_id"].isin(set(population["reversal_of"]))
    known = set(receipts.loc[named & receipts["trusted"], "receipt_id"])
    return _verdict(
        "reversal_links",
        params,
        "every reversal receipt names an original present in the evidence",
        population,
        ~population["reversal_of"].isin(known),
    )


# -- risk governance ----------------------------------------------------------------------


@check("risk_not_below_taxonomy", "Risk never below the taxonomy default", "risk")
def risk_not_below_taxonomy(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    below = scope["taxonomy_rank"].notna() & (scope["risk_rank"] < scope["taxonomy_rank"])
    return _verdict(
        "risk_not_below_taxonomy",
        params,
        "no action is classified below its taxonomy default risk (§6)",
        scope,
        below.fillna(False).astype(bool),
    )


@check(
    "unknown_action_share", "Few unclassified actions", "risk", max_share=_SHARE | {"default": 0.05}
)
def unknown_action_share(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    unknown = scope["action_type"].astype(str) == "unknown"
    return _share_result(
        "unknown_action_share",
        params,
        "share of actions typed `unknown` is within the limit",
        scope,
        unknown,
        limit=params["max_share"],
        at_most=True,
        fail_ids=unknown,
    )


@check(
    "failure_rate", "Action failure rate within limit", "risk", max_rate=_SHARE | {"default": 0.10}
)
def failure_rate(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    failed = scope["outcome"].astype(str) == "failure"
    return _share_result(
        "failure_rate",
        params,
        "share of actions that failed is within the limit",
        scope,
        failed,
        limit=params["max_rate"],
        at_most=True,
        fail_ids=failed,
    )


# -- dangerous capabilities ---------------------------------------------------------------


def _authorized_actions(
    name: str, evidence: Evidence, params: dict[str, Any], what: str, grant: bool
) -> CheckResult:
    scope = evidence.in_scope
    population = scope[_matches(scope["action_type"], params["actions"])]
    missing = ~population["has_authorization"].astype(bool)
    if grant:
        missing |= ~_present(population["grant_ref"])
    counts = population["action_type"].astype(str).value_counts().to_dict()
    return _verdict(name, params, what, population, missing, by_type=counts)


@check(
    "code_execution_authorized",
    "Code execution is authorized",
    "capabilities",
    actions=_GLOBS
    | {"default": ["system.command.execute", "system.code.execute", "system.pty.open"]},
)
def code_execution_authorized(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    return _authorized_actions(
        "code_execution_authorized",
        evidence,
        params,
        "every command, code or PTY execution carries an authorization",
        False,
    )


@check(
    "external_transfer_authorized",
    "Egress and sharing are authorized",
    "capabilities",
    actions=_GLOBS
    | {"default": ["network.egress.observed", "document.file.share", "communication.email.send"]},
)
def external_transfer_authorized(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    return _authorized_actions(
        "external_transfer_authorized",
        evidence,
        params,
        "every egress, file share or sent email carries an authorization",
        False,
    )


@check(
    "financial_actions_granted",
    "Financial actions are granted",
    "capabilities",
    actions=_GLOBS | {"default": ["financial.*"]},
)
def financial_actions_granted(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    return _authorized_actions(
        "financial_actions_granted",
        evidence,
        params,
        "every financial action carries an authorization with a grant_ref",
        True,
    )


# -- accountability -----------------------------------------------------------------------


@check("attribution", "Every action is attributable", "accountability")
def attribution(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    missing = ~_present(scope["issuer"].astype(object)) | ~_present(
        scope["principal"].astype(object)
    )
    return _verdict(
        "attribution",
        params,
        "every receipt names its issuing agent and its principal",
        scope,
        missing,
    )


@check("delegation_resolves", "Delegations resolve to a parent", "accountability")
def delegation_resolves(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    population = scope[scope["delegation_parent_chain"].notna()]
    broken = (
        population["failure_codes"].astype(str).str.contains("DELEGATION_UNVERIFIABLE", regex=False)
    )
    return _verdict(
        "delegation_resolves",
        params,
        "every delegated chain links to an existing parent receipt of its delegator",
        population,
        broken,
        proven_by_verification=True,
    )


@check("intent_recorded", "Intent recorded for risky actions", "accountability", min_risk=_RISK)
def intent_recorded(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    population = _at_least(evidence.in_scope, params["min_risk"])
    recorded = (
        population["has_conversation_hash"].astype(bool) | population["prompt_preview"].notna()
    )
    return _verdict(
        "intent_recorded",
        params,
        f"every {params['min_risk']}+ action records its intent (conversation hash or prompt)",
        population,
        ~recorded,
    )


WRITES = ["*.create", "*.modify", "*.delete", "*.send", "*.share", "financial.*"]


@check(
    "write_commitments",
    "Writes commit to parameters and responses",
    "accountability",
    actions=_GLOBS | {"default": WRITES},
    require_response_hash={"type": "boolean", "default": False},
)
def write_commitments(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    population = scope[_matches(scope["action_type"], params["actions"])]
    missing = ~population["has_parameters_hash"].astype(bool)
    if params["require_response_hash"]:
        missing |= ~population["has_response_hash"].astype(bool)
    return _verdict(
        "write_commitments",
        params,
        "every write action commits to its parameters by hash"
        + (" and to its response" if params["require_response_hash"] else ""),
        population,
        missing,
    )


@check("no_plaintext_disclosure", "No plaintext parameter disclosure", "accountability")
def no_plaintext_disclosure(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    plaintext = scope["disclosure_mode"].astype(str) == "legacy_plaintext"
    return _verdict(
        "no_plaintext_disclosure",
        params,
        "no receipt discloses parameters in the legacy plaintext map (confidentiality exposure)",
        scope,
        plaintext,
    )


# -- anomalies ----------------------------------------------------------------------------


@check(
    "burst_detection",
    "No bursts of activity",
    "anomalies",
    max_per_minute={"type": "integer", "minimum": 1, "default": 30},
)
def burst_detection(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    minute = scope["timestamp"].dt.floor("min")
    per_minute = scope.assign(_minute=minute).groupby(["issuer", "_minute"], observed=True)
    counts = per_minute["receipt_id"].transform("size")
    burst = counts > params["max_per_minute"]
    return _verdict(
        "burst_detection",
        params,
        f"no agent takes more than {params['max_per_minute']} actions in one minute",
        scope,
        burst.reindex(scope.index, fill_value=False),
        busiest_minute=int(counts.max()) if len(counts) else 0,
    )


_CLOCK = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}


@check(
    "working_hours",
    "Actions within working hours",
    "anomalies",
    start=_CLOCK | {"default": "06:00"},
    end=_CLOCK | {"default": "22:00"},
    weekdays={
        "type": "array",
        "items": {"type": "integer", "minimum": 1, "maximum": 7},
        "minItems": 1,
        "default": [1, 2, 3, 4, 5],
    },
    timezone={"type": "string", "default": "UTC"},
    validator=lambda params: _timezone_errors(params["timezone"]),
    max_outside={"type": "integer", "minimum": 0, "default": 0},
)
def working_hours(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    scope = evidence.in_scope
    zone = ZoneInfo(params["timezone"])  # validated when the mapping was loaded
    local = scope["timestamp"].dt.tz_convert(zone)
    minutes = local.dt.hour * 60 + local.dt.minute
    start = _minutes(params["start"])
    end = _minutes(params["end"])
    inside_hours = (
        (minutes >= start) & (minutes < end)
        if start <= end
        else (minutes >= start) | (minutes < end)
    )
    weekday = (local.dt.day_of_week + 1).isin(params["weekdays"])
    outside = ~(inside_hours & weekday)
    trusted_outside = int((outside & scope["trusted"].astype(bool)).sum())
    failing = (
        outside if trusted_outside > params["max_outside"] else pd.Series(False, index=scope.index)
    )
    return _verdict(
        "working_hours",
        params,
        f"at most {params['max_outside']} actions fall outside {params['start']}-{params['end']} "
        f"on days {params['weekdays']} ({params['timezone']})",
        scope,
        failing,
        outside=int(outside.sum()),
    )


def _timezone_errors(name: str) -> list[str]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"timezone: {name!r} is not an IANA time zone"]
    return []


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


@check("first_seen", "No first-seen action types or targets", "anomalies")
def first_seen(evidence: Evidence, params: dict[str, Any]) -> CheckResult:
    frame = evidence.receipts
    scope = evidence.in_scope
    since = evidence.period.since
    history = (
        frame[frame["trusted"].astype(bool) & (frame["timestamp"] < pd.Timestamp(since))]
        if since
        else frame.iloc[0:0]
    )
    if history.empty:
        return CheckResult(
            check="first_seen",
            params=params,
            status=Status.NOT_APPLICABLE if scope.empty else Status.INDETERMINATE,
            statement="action types and targets in the period were seen before it (needs history)",
            population=len(scope),
            metrics={"history_receipts": 0},
        )
    seen_types = set(history["action_type"].astype(str))
    seen_targets = set(history["target_system"].dropna().astype(str))
    new_type = ~scope["action_type"].astype(str).isin(seen_types)
    new_target = scope["target_system"].notna() & ~scope["target_system"].astype(str).isin(
        seen_targets
    )
    return _verdict(
        "first_seen",
        params,
        "action types and target systems in the period were all seen before it",
        scope,
        new_type | new_target,
        new_action_types=sorted(set(scope.loc[new_type, "action_type"].astype(str))),
        new_targets=sorted(set(scope.loc[new_target, "target_system"].astype(str))),
    )


def registry_summary() -> list[dict[str, Any]]:
    """Name, title, category and parameter schema of every check (for `mappings checks`)."""
    return [
        {"name": s.name, "title": s.title, "category": s.category, "parameters": s.params_schema}
        for s in sorted(REGISTRY.values(), key=lambda s: (s.category, s.name))
    ]
