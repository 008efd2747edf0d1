"""Every check in the registry, judged on real receipts signed by the reference SDK.

Each check has a PASS, a FAIL and a NOT_APPLICABLE scenario (a check that cannot fail
has an INDETERMINATE one instead), run through the real pipeline: obsigna receipts →
JSONL → verification → evidence frame → `run_check`. The trust rule is tested across
the registry: tampering with the receipts of any passing scenario must stop it passing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import obsigna
import pytest
from cryptography import x509
from obsigna.receipt.hash import canonicalize, normalize_receipt_dict

from reporting.controls.checks import REGISTRY, CheckResult, Status, run_check
from reporting.evidence.frame import Period, build_evidence, extract_rows
from reporting.receipts.external import Grant, Witness
from reporting.receipts.sources import spool_sources
from reporting.receipts.verify import VerifyOptions, verify_spool

from .factory import ChainBuilder, Key, fresh_id, receipt_hash, resign, rotation_fields
from .helpers import evidence_from, trust
from .test_timestamps import b64, build_token, new_pki

KEY = Key.from_seed("checks-main")
NEW_KEY = Key.from_seed("checks-rotated")
OTHER = Key.from_seed("checks-other")
PKI = new_pki("Checks TSA Root")
TSA = PKI.tsa("ec-p256")

OCTOBER = Period(since=datetime(2026, 10, 1, tzinfo=UTC), until=datetime(2026, 11, 1, tzinfo=UTC))
LATER = Period(since=datetime(2027, 1, 1, tzinfo=UTC))  # after every receipt below
AUTH = {
    "scopes": ["ops:run"],
    "granted_at": "2026-10-01T09:00:00.000Z",
    "expires_at": "2026-10-01T20:00:00.000Z",
}
GRANTED = AUTH | {"grant_ref": "g-1"}
PAYMENTS = GRANTED | {"scopes": ["payments:write"]}
GRANTS = {"g-1": Grant(subject="did:user:alice"), "g-2": Grant(subject="did:user:mallory")}
PARAMS_HASH = "sha256:" + "a" * 64
FS = {"system": "fs", "resource": "/srv/data"}
RULES = {"rules": [{"actions": ["financial.*"], "scopes": ["payments:*"]}]}


# -- building receipts --------------------------------------------------------------------


def builder(chain_id: str = "c1", **kwargs: Any) -> ChainBuilder:
    return ChainBuilder(KEY, chain_id=chain_id, **kwargs)


def edit(
    receipts: list[dict[str, Any]], index: int, change: Callable[[dict[str, Any]], Any]
) -> None:
    """Change one receipt's credentialSubject, re-sign it and re-link the rest of the chain."""
    change(receipts[index]["credentialSubject"])
    receipts[index] = resign(receipts[index], KEY)
    for later in range(index + 1, len(receipts)):
        chain = receipts[later]["credentialSubject"]["chain"]
        chain["previous_receipt_hash"] = receipt_hash(receipts[later - 1])
        receipts[later] = resign(receipts[later], KEY)


def tamper(receipts: list[dict[str, Any]], index: int = 0) -> None:
    """Change a signed field no check reads, without re-signing: the chain no longer verifies."""
    receipts[index]["issuanceDate"] = "1999-01-01T00:00:00.000Z"


def stamp(receipts: list[dict[str, Any]], index: int) -> None:
    """Give a receipt a valid RFC 3161 token from the throwaway TSA (anchored under PKI.root)."""
    unsigned = {k: v for k, v in receipts[index].items() if k != "proof"}
    imprint = canonicalize(normalize_receipt_dict(json.loads(json.dumps(unsigned)))).encode()
    when = datetime.fromisoformat(unsigned["credentialSubject"]["action"]["timestamp"])
    token = b64(build_token(TSA, imprint, gen_time=when))
    edit(receipts, index, lambda s: s["action"].update(trusted_timestamp=token))


def ids(*docs: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(doc["id"] for doc in docs))


# -- scenarios ----------------------------------------------------------------------------


@dataclass
class Scenario:
    chains: list[list[dict[str, Any]]]
    params: dict[str, Any] = field(default_factory=dict)
    period: Period | None = None
    grants: dict[str, Grant] | None = None
    witnesses: dict[str, Witness] | None = None
    tsa_roots: tuple[x509.Certificate, ...] = ()
    population: int | None = None
    failing_receipts: tuple[str, ...] = ()
    failing_chains: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)


def evidence(tmp_path: Path, s: Scenario) -> Any:
    if not s.tsa_roots:
        return evidence_from(
            tmp_path, s.chains, KEY.raw, period=s.period, grants=s.grants, witnesses=s.witnesses
        )
    # evidence_from with TSA roots, so trusted timestamps can be anchored
    path = tmp_path / f"evidence-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for chain in s.chains for d in chain))
    options = VerifyOptions(
        trust=trust(KEY.raw), grants=s.grants, witnesses=s.witnesses or {}, tsa_roots=s.tsa_roots
    )
    with spool_sources([str(path)]) as spool:
        result, extracts = verify_spool(spool, options=options, extract=extract_rows)
    return build_evidence(result, extracts, period=s.period, grants=s.grants, witnesses=s.witnesses)


def assess(tmp_path: Path, name: str, s: Scenario) -> CheckResult:
    return run_check(name, evidence(tmp_path, s), s.params)


def picked(metrics: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics.get(k) for k in expected}


PASSES: dict[str, Callable[[], Scenario]] = {}
FAILS: dict[str, Callable[[], Scenario]] = {}
NOT_APPLICABLES: dict[str, Callable[[], Scenario]] = {}
INDETERMINATES: dict[str, Callable[[], Scenario]] = {}
CANNOT_FAIL = {
    "attribution": "issuer.id and principal.id are schema-required: a receipt without them "
    "never verifies, so it is never trusted evidence of a failure",
    "log_retention": "evidence shorter than the retention period does not prove logs were lost",
}


def case(
    table: dict[str, Callable[[], Scenario]], name: str
) -> Callable[[Callable[[], Scenario]], Callable[[], Scenario]]:
    def register(build: Callable[[], Scenario]) -> Callable[[], Scenario]:
        assert name not in table, f"two {name} scenarios in one table"
        table[name] = build
        return build

    return register


def out_of_period() -> Scenario:
    """Receipts exist, none in the reporting period."""
    return Scenario([builder().extend(2).receipts], period=LATER)


for _name in (
    "chain_integrity",
    "termination_status",
    "no_events_dropped",
    "no_sequence_gaps",
    "activity_continuity",
    "risk_not_below_taxonomy",
    "unknown_action_share",
    "failure_rate",
    "attribution",
    "no_plaintext_disclosure",
    "burst_detection",
    "working_hours",
):
    NOT_APPLICABLES[_name] = out_of_period


# integrity ----------------------------------------------------------------------------------


@case(PASSES, "chain_integrity")
def chain_integrity_pass() -> Scenario:
    chains = [builder("a").extend(2).receipts, builder("b").extend(1).receipts]
    return Scenario(chains, population=2, metrics={"chains": 2, "broken_chains": 0})


@case(FAILS, "chain_integrity")
def chain_integrity_fail() -> Scenario:
    bad = builder("bad").extend(3).receipts
    tamper(bad, 1)  # its signature breaks, and so does the next receipt's link to it
    return Scenario(
        [builder("good").extend(2).receipts, bad],
        failing_receipts=ids(bad[1], bad[2]),
        failing_chains=("bad",),
        metrics={"chains": 2, "broken_chains": 1},
    )


@case(PASSES, "termination_status")
def termination_status_pass() -> Scenario:
    done = builder("done")
    done.add()
    done.add(terminal=True)
    stopped = builder("stopped")
    stopped.add()
    stopped.add("agent_receipts.chain_interrupted", terminal=True, status="interrupted")
    return Scenario(
        [done.receipts, stopped.receipts],
        population=2,
        metrics={"complete": 1, "interrupted": 1, "unknown": 0},
    )


@case(FAILS, "termination_status")
def termination_status_fail() -> Scenario:
    done = builder("done")
    done.add(terminal=True)
    open_ = builder("open").extend(2)
    return Scenario(
        [done.receipts, open_.receipts],
        failing_chains=("open",),
        metrics={"unknown": 1, "unknown_share": 0.5},
    )


@case(PASSES, "witness_coverage")
def witness_coverage_pass() -> Scenario:
    return Scenario(
        [builder("w").extend(2).receipts],
        witnesses={"w": Witness(length=2, final_hash=None)},
        population=1,
        metrics={"witnessed": 1, "share": 1.0},
    )


@case(FAILS, "witness_coverage")
def witness_coverage_fail() -> Scenario:
    return Scenario(
        [builder("w").extend(2).receipts, builder("x").extend(2).receipts],
        witnesses={"w": Witness(length=2, final_hash=None)},
        failing_chains=("x",),
        metrics={"witnessed": 1, "share": 0.5},
    )


@case(NOT_APPLICABLES, "witness_coverage")
def witness_coverage_na() -> Scenario:
    return Scenario(
        [builder("w").extend(2).receipts],
        witnesses={"w": Witness(length=2, final_hash=None)},
        period=LATER,
    )


def rotated_chain(chain_id: str, fields: dict[str, Any]) -> list[dict[str, Any]]:
    chain = builder(chain_id)
    chain.add()
    chain.add("agent.key.rotate", "high", key_rotation=fields)
    chain.add(key=NEW_KEY)
    return chain.receipts


@case(PASSES, "key_rotation_continuity")
def key_rotation_continuity_pass() -> Scenario:
    rotated = rotated_chain("rotated", rotation_fields(KEY, NEW_KEY))
    plain = builder("plain").extend(2).receipts  # no rotation: outside the population
    return Scenario([rotated, plain], population=1, metrics={"rotations": 1, "invalid": 0})


@case(FAILS, "key_rotation_continuity")
def key_rotation_continuity_fail() -> Scenario:
    wrong = rotation_fields(KEY, NEW_KEY) | {"old_key_fingerprint": OTHER.fingerprint}
    return Scenario(
        [
            rotated_chain("fine", rotation_fields(KEY, NEW_KEY)),
            rotated_chain("forged", wrong),
        ],
        failing_chains=("forged",),
        metrics={"rotations": 2, "invalid": 1},
    )


@case(NOT_APPLICABLES, "key_rotation_continuity")
def key_rotation_continuity_na() -> Scenario:
    return Scenario([builder("plain").extend(3).receipts])


@case(PASSES, "trusted_timestamp_coverage")
def trusted_timestamp_coverage_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    chain.add()  # low risk: outside the population, needs no token
    stamp(chain.receipts, 0)
    return Scenario([chain.receipts], tsa_roots=(PKI.root,), population=1, metrics={"share": 1.0})


@case(FAILS, "trusted_timestamp_coverage")
def trusted_timestamp_coverage_fail() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    unstamped = chain.add("system.pty.open", "critical")
    stamp(chain.receipts, 0)
    return Scenario(
        [chain.receipts],
        tsa_roots=(PKI.root,),
        failing_receipts=ids(unstamped),
        failing_chains=("c1",),
        metrics={"share": 0.5, "limit": 1.0},
    )


@case(NOT_APPLICABLES, "trusted_timestamp_coverage")
def trusted_timestamp_coverage_na() -> Scenario:
    chain = builder()
    chain.add("network.egress.observed", "medium")
    chain.add()
    return Scenario([chain.receipts])


# completeness -------------------------------------------------------------------------------


@case(PASSES, "no_events_dropped")
def no_events_dropped_pass() -> Scenario:
    return Scenario([builder().extend(3).receipts], population=3, metrics={"dropped_events": 0})


@case(FAILS, "no_events_dropped")
def no_events_dropped_fail() -> Scenario:
    chain = builder()
    chain.add()
    dropped = chain.add(
        "agent_receipts.events_dropped", "medium", emitter_metadata={"drop_count": 3}
    )
    chain.add()
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(dropped),
        failing_chains=("c1",),
        metrics={"dropped_events": 3},
    )


@case(PASSES, "no_sequence_gaps")
def no_sequence_gaps_pass() -> Scenario:
    return Scenario([builder().extend(3).receipts], population=3)


@case(FAILS, "no_sequence_gaps")
def no_sequence_gaps_fail() -> Scenario:
    gappy = builder("gappy").extend(4).receipts
    del gappy[1]  # sequence 1, 3, 4: the gap shows on sequence 3
    return Scenario(
        [builder("clean").extend(2).receipts, gappy],
        failing_receipts=ids(gappy[1]),
        failing_chains=("gappy",),
    )


@case(PASSES, "activity_continuity")
def activity_continuity_pass() -> Scenario:
    chain = builder()
    chain.add(timestamp="2026-10-01T10:00:00.000Z")
    chain.add(timestamp="2026-10-02T09:00:00.000Z")  # 23 h later
    later = builder("c2")
    later.add(timestamp="2026-10-09T10:00:00.000Z")  # gaps between chains do not count
    return Scenario(
        [chain.receipts, later.receipts], population=3, metrics={"longest_gap_hours": 23.0}
    )


@case(FAILS, "activity_continuity")
def activity_continuity_fail() -> Scenario:
    chain = builder()
    chain.add(timestamp="2026-10-01T10:00:00.000Z")
    silent = chain.add(timestamp="2026-10-02T11:00:00.000Z")  # 25 h later
    chain.add(timestamp="2026-10-02T11:30:00.000Z")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(silent),
        failing_chains=("c1",),
        metrics={"longest_gap_hours": 25.0},
    )


@case(PASSES, "log_retention")
def log_retention_pass() -> Scenario:
    chain = builder()
    chain.add(timestamp="2026-03-01T10:00:00.000Z")  # before the period: still retained log
    chain.add(timestamp="2026-10-01T10:00:00.000Z")
    return Scenario(
        [chain.receipts],
        period=OCTOBER,
        population=2,
        metrics={"days_covered": 244.6, "required_days": 183},
    )


@case(INDETERMINATES, "log_retention")
def log_retention_short() -> Scenario:
    chain = builder()
    chain.add(timestamp="2026-10-01T10:00:00.000Z")
    return Scenario([chain.receipts], period=OCTOBER, metrics={"days_covered": 30.6})


@case(NOT_APPLICABLES, "log_retention")
def log_retention_na() -> Scenario:
    return Scenario([])


# authorization ------------------------------------------------------------------------------


@case(PASSES, "authorization_present")
def authorization_present_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    chain.add("system.pty.open", "critical", authorization=AUTH)
    chain.add("network.egress.observed", "medium")
    return Scenario([chain.receipts], population=2)


@case(FAILS, "authorization_present")
def authorization_present_fail() -> Scenario:
    chain = builder()
    high = chain.add("system.command.execute", "high")
    chain.add("system.command.execute", "high", authorization=AUTH)
    critical = chain.add("system.pty.open", "critical")
    chain.add("network.egress.observed", "medium")
    return Scenario([chain.receipts], failing_receipts=ids(high, critical), failing_chains=("c1",))


@case(NOT_APPLICABLES, "authorization_present")
def authorization_present_na() -> Scenario:
    chain = builder()
    chain.add("network.egress.observed", "medium")
    chain.add()
    return Scenario([chain.receipts])


@case(PASSES, "authorization_time_valid")
def authorization_time_valid_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    chain.add()
    return Scenario([chain.receipts], population=1, metrics={"expired": 0, "not_yet_granted": 0})


@case(FAILS, "authorization_time_valid")
def authorization_time_valid_fail() -> Scenario:
    chain = builder()
    early = chain.add(authorization=AUTH, timestamp="2026-10-01T08:00:00.000Z")
    chain.add(authorization=AUTH, timestamp="2026-10-01T10:00:00.000Z")
    expired = chain.add(authorization=AUTH, timestamp="2026-10-01T21:00:00.000Z")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(early, expired),
        failing_chains=("c1",),
        metrics={"expired": 1, "not_yet_granted": 1},
    )


@case(NOT_APPLICABLES, "authorization_time_valid")
def authorization_time_valid_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


@case(PASSES, "grounded_principal")
def grounded_principal_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=GRANTED)
    chain.add()
    return Scenario([chain.receipts], grants=GRANTS, population=1, metrics={"grants_file": True})


@case(FAILS, "grounded_principal")
def grounded_principal_fail() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=GRANTED)
    missing = chain.add("system.command.execute", "high", authorization=AUTH)
    mallorys = chain.add("system.pty.open", "critical", authorization=AUTH | {"grant_ref": "g-2"})
    return Scenario(
        [chain.receipts],
        grants=GRANTS,
        failing_receipts=ids(missing, mallorys),
        failing_chains=("c1",),
        metrics={"grants_file": True},
    )


@case(NOT_APPLICABLES, "grounded_principal")
def grounded_principal_na() -> Scenario:
    chain = builder()
    chain.add("network.egress.observed", "medium", authorization=AUTH)
    return Scenario([chain.receipts], grants=GRANTS)


@case(PASSES, "scope_matches_action")
def scope_matches_action_pass() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", authorization=PAYMENTS)
    chain.add()  # not governed by any rule
    return Scenario([chain.receipts], params=RULES, population=1)


@case(FAILS, "scope_matches_action")
def scope_matches_action_fail() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", authorization=PAYMENTS)
    wrong_scope = chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    no_scope = chain.add("financial.payment.initiate", "critical")
    return Scenario(
        [chain.receipts],
        params=RULES,
        failing_receipts=ids(wrong_scope, no_scope),
        failing_chains=("c1",),
    )


@case(NOT_APPLICABLES, "scope_matches_action")
def scope_matches_action_na() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    return Scenario([chain.receipts], params=RULES)


# oversight ----------------------------------------------------------------------------------


@case(PASSES, "critical_human_approval")
def critical_human_approval_pass() -> Scenario:
    chain = builder()  # ChainBuilder's principal is a HumanPrincipal
    chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    chain.add("system.command.execute", "high")
    return Scenario([chain.receipts], population=1)


@case(FAILS, "critical_human_approval")
def critical_human_approval_fail() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    ungranted = chain.add("financial.payment.initiate", "critical", authorization=AUTH)
    org = builder("org")
    org.add("financial.payment.initiate", "critical", authorization=GRANTED)
    edit(org.receipts, 0, lambda s: s["principal"].update(type="OrganizationPrincipal"))
    return Scenario(
        [chain.receipts, org.receipts],
        failing_receipts=ids(ungranted, org.receipts[0]),
        failing_chains=("c1", "org"),
    )


@case(NOT_APPLICABLES, "critical_human_approval")
def critical_human_approval_na() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    return Scenario([chain.receipts])


def declare_reversible(value: bool) -> Callable[[dict[str, Any]], None]:
    return lambda s: s["outcome"].update(reversible=value)


@case(PASSES, "reversibility_declared")
def reversibility_declared_pass() -> Scenario:
    chain = builder()
    chain.add("filesystem.file.delete", "high")
    chain.add()  # a read is not destructive
    edit(chain.receipts, 0, declare_reversible(False))
    return Scenario([chain.receipts], population=1)


@case(FAILS, "reversibility_declared")
def reversibility_declared_fail() -> Scenario:
    chain = builder()
    chain.add("filesystem.file.delete", "high")
    silent = chain.add("communication.email.send", "high")
    edit(chain.receipts, 0, declare_reversible(True))
    return Scenario([chain.receipts], failing_receipts=ids(silent), failing_chains=("c1",))


@case(NOT_APPLICABLES, "reversibility_declared")
def reversibility_declared_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


def reverses(original_id: str) -> Callable[[dict[str, Any]], None]:
    return lambda s: s["outcome"].update(reversal_of=original_id)


@case(PASSES, "reversal_links")
def reversal_links_pass() -> Scenario:
    chain = builder()
    original = chain.add("filesystem.file.delete", "high")
    chain.add("filesystem.file.create")
    edit(chain.receipts, 1, reverses(original["id"]))
    return Scenario([chain.receipts], population=1)


@case(FAILS, "reversal_links")
def reversal_links_fail() -> Scenario:
    chain = builder()
    original = chain.add("filesystem.file.delete", "high")
    chain.add("filesystem.file.create")
    dangling = chain.add("filesystem.file.create")
    edit(chain.receipts, 1, reverses(original["id"]))
    edit(chain.receipts, 2, reverses(fresh_id()))
    return Scenario([chain.receipts], failing_receipts=ids(dangling), failing_chains=("c1",))


@case(NOT_APPLICABLES, "reversal_links")
def reversal_links_na() -> Scenario:
    chain = builder()
    chain.add("filesystem.file.delete", "high")
    return Scenario([chain.receipts])


# risk ---------------------------------------------------------------------------------------


@case(PASSES, "risk_not_below_taxonomy")
def risk_not_below_taxonomy_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")  # the taxonomy default
    chain.add("filesystem.file.read", "medium")  # escalated
    chain.add("com.example.sync", "low")  # custom type: no default to compare with
    return Scenario([chain.receipts], population=3)


@case(FAILS, "risk_not_below_taxonomy")
def risk_not_below_taxonomy_fail() -> Scenario:
    chain = builder()
    below = chain.add("system.command.execute", "low")  # default high
    chain.add("filesystem.file.delete", "critical")
    return Scenario([chain.receipts], failing_receipts=ids(below), failing_chains=("c1",))


def half_unknown() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    chain = builder()
    unknown = chain.add("unknown", "medium", target={"system": "crm"})
    chain.add()
    return chain.receipts, unknown


@case(PASSES, "unknown_action_share")
def unknown_action_share_pass() -> Scenario:
    receipts, _ = half_unknown()
    return Scenario([receipts], params={"max_share": 0.5}, population=2, metrics={"share": 0.5})


@case(FAILS, "unknown_action_share")
def unknown_action_share_fail() -> Scenario:
    receipts, unknown = half_unknown()
    return Scenario(
        [receipts],
        failing_receipts=ids(unknown),
        failing_chains=("c1",),
        metrics={"share": 0.5, "limit": 0.05},
    )


@case(PASSES, "failure_rate")
def failure_rate_pass() -> Scenario:
    chain = builder().extend(9)
    chain.add(outcome="failure")  # 1 in 10: exactly the default limit
    return Scenario([chain.receipts], population=10, metrics={"share": 0.1, "limit": 0.1})


@case(FAILS, "failure_rate")
def failure_rate_fail() -> Scenario:
    chain = builder()
    chain.add()
    failed = chain.add(outcome="failure")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(failed),
        failing_chains=("c1",),
        metrics={"share": 0.5},
    )


# dangerous capabilities ---------------------------------------------------------------------


@case(PASSES, "code_execution_authorized")
def code_execution_authorized_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    chain.add()
    return Scenario(
        [chain.receipts], population=1, metrics={"by_type": {"system.command.execute": 1}}
    )


@case(FAILS, "code_execution_authorized")
def code_execution_authorized_fail() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    pty = chain.add("system.pty.open", "critical")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(pty),
        failing_chains=("c1",),
        metrics={"by_type": {"system.command.execute": 1, "system.pty.open": 1}},
    )


@case(NOT_APPLICABLES, "code_execution_authorized")
def code_execution_authorized_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


@case(PASSES, "external_transfer_authorized")
def external_transfer_authorized_pass() -> Scenario:
    chain = builder()
    chain.add("communication.email.send", "high", authorization=AUTH)
    chain.add()
    return Scenario([chain.receipts], population=1)


@case(FAILS, "external_transfer_authorized")
def external_transfer_authorized_fail() -> Scenario:
    chain = builder()
    chain.add("communication.email.send", "high", authorization=AUTH)
    share = chain.add("document.file.share", "high")
    egress = chain.add("network.egress.observed", "medium")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(share, egress),
        failing_chains=("c1",),
        metrics={
            "by_type": {
                "communication.email.send": 1,
                "document.file.share": 1,
                "network.egress.observed": 1,
            }
        },
    )


@case(NOT_APPLICABLES, "external_transfer_authorized")
def external_transfer_authorized_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


@case(PASSES, "financial_actions_granted")
def financial_actions_granted_pass() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    chain.add()
    return Scenario([chain.receipts], population=1)


@case(FAILS, "financial_actions_granted")
def financial_actions_granted_fail() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    ungranted = chain.add("financial.payment.initiate", "critical", authorization=AUTH)
    unauthorized = chain.add("financial.payment.initiate", "critical")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(ungranted, unauthorized),
        failing_chains=("c1",),
        metrics={"by_type": {"financial.payment.initiate": 3}},
    )


@case(NOT_APPLICABLES, "financial_actions_granted")
def financial_actions_granted_na() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    return Scenario([chain.receipts])


# accountability -----------------------------------------------------------------------------


@case(PASSES, "attribution")
def attribution_pass() -> Scenario:
    return Scenario([builder().extend(2).receipts], population=2)


@case(INDETERMINATES, "attribution")
def attribution_anonymous() -> Scenario:
    chain = builder()
    chain.add()
    edit(chain.receipts, 0, lambda s: s["principal"].pop("id"))  # re-signed, schema-invalid
    return Scenario([chain.receipts])


def delegation_to(parent: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {
        "parent_chain_id": "parent",
        "parent_receipt_id": parent[-1]["id"],
        "delegator": {"id": "did:agent:parent"},
    } | changes


def parent_chain() -> list[dict[str, Any]]:
    return builder("parent", issuer="did:agent:parent").extend(2).receipts


@case(PASSES, "delegation_resolves")
def delegation_resolves_pass() -> Scenario:
    parent = parent_chain()
    child = builder("child", issuer="did:agent:child")
    child.add(delegation=delegation_to(parent))
    child.add()  # only the first receipt carries the delegation
    return Scenario([parent, child.receipts], population=1)


@case(FAILS, "delegation_resolves")
def delegation_resolves_fail() -> Scenario:
    parent = parent_chain()
    child = builder("child", issuer="did:agent:child")
    child.add(delegation=delegation_to(parent))
    orphan = builder("orphan", issuer="did:agent:orphan")
    claim = orphan.add(delegation=delegation_to(parent, parent_chain_id="chain_missing"))
    return Scenario(
        [parent, child.receipts, orphan.receipts],
        failing_receipts=ids(claim),
        failing_chains=("orphan",),
    )


@case(NOT_APPLICABLES, "delegation_resolves")
def delegation_resolves_na() -> Scenario:
    return Scenario([parent_chain()])


def intent(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda s: s.update(intent=fields)


@case(PASSES, "intent_recorded")
def intent_recorded_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    chain.add("system.pty.open", "critical")
    chain.add()
    edit(chain.receipts, 0, intent(prompt_preview="clean up the build cache"))
    edit(chain.receipts, 1, intent(conversation_hash="sha256:" + "c" * 64))
    return Scenario([chain.receipts], population=2)


@case(FAILS, "intent_recorded")
def intent_recorded_fail() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    silent = chain.add("system.pty.open", "critical")
    edit(chain.receipts, 0, intent(prompt_preview="clean up the build cache"))
    return Scenario([chain.receipts], failing_receipts=ids(silent), failing_chains=("c1",))


@case(NOT_APPLICABLES, "intent_recorded")
def intent_recorded_na() -> Scenario:
    chain = builder()
    chain.add("network.egress.observed", "medium")
    return Scenario([chain.receipts])


@case(PASSES, "write_commitments")
def write_commitments_pass() -> Scenario:
    chain = builder()
    chain.add("filesystem.file.create", parameters_hash=PARAMS_HASH)
    chain.add()  # a read need not commit to anything
    return Scenario([chain.receipts], population=1)


@case(FAILS, "write_commitments")
def write_commitments_fail() -> Scenario:
    chain = builder()
    chain.add("filesystem.file.create", parameters_hash=PARAMS_HASH)
    uncommitted = chain.add("filesystem.file.delete", "high")
    return Scenario([chain.receipts], failing_receipts=ids(uncommitted), failing_chains=("c1",))


@case(NOT_APPLICABLES, "write_commitments")
def write_commitments_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


@case(PASSES, "no_plaintext_disclosure")
def no_plaintext_disclosure_pass() -> Scenario:
    forensic = obsigna.generate_forensic_key_pair()
    envelope = obsigna.encrypt_disclosure(
        {"path": "/srv/data"}, forensic.public_key, "did:key:z6Mk#enc-1"
    )
    chain = builder()
    chain.add(parameters_disclosure=envelope)  # HPKE: encrypted, fine
    chain.add()
    return Scenario([chain.receipts], population=2)


@case(FAILS, "no_plaintext_disclosure")
def no_plaintext_disclosure_fail() -> Scenario:
    chain = builder()
    chain.add("communication.email.send", "high")
    chain.add()
    legacy = {"to": "bob@example.com", "subject": "salaries"}
    edit(chain.receipts, 0, lambda s: s["action"].update(parameters_disclosure=legacy))
    return Scenario(
        [chain.receipts], failing_receipts=ids(chain.receipts[0]), failing_chains=("c1",)
    )


# anomalies ----------------------------------------------------------------------------------


def same_minute(chain: ChainBuilder, count: int, minute: str = "10:00") -> list[dict[str, Any]]:
    return [chain.add(timestamp=f"2026-10-01T{minute}:{10 * i:02d}.000Z") for i in range(count)]


@case(PASSES, "burst_detection")
def burst_detection_pass() -> Scenario:
    a = builder("a", issuer="did:agent:a")
    b = builder("b", issuer="did:agent:b")
    same_minute(a, 2)
    same_minute(b, 2)  # another agent: counted separately
    return Scenario(
        [a.receipts, b.receipts],
        params={"max_per_minute": 2},
        population=4,
        metrics={"busiest_minute": 2},
    )


@case(FAILS, "burst_detection")
def burst_detection_fail() -> Scenario:
    a = builder("a")
    b = builder("b")  # same issuer as a: its chains are counted together
    burst = same_minute(a, 2) + same_minute(b, 1)
    same_minute(b, 1, minute="10:05")
    return Scenario(
        [a.receipts, b.receipts],
        params={"max_per_minute": 2},
        failing_receipts=ids(*burst),
        failing_chains=("a", "b"),
        metrics={"busiest_minute": 3},
    )


@case(PASSES, "working_hours")
def working_hours_pass() -> Scenario:
    chain = builder()
    chain.add(timestamp="2026-10-01T06:00:00.000Z")  # Thursday
    chain.add(timestamp="2026-10-01T21:59:00.000Z")
    return Scenario([chain.receipts], population=2, metrics={"outside": 0})


@case(FAILS, "working_hours")
def working_hours_fail() -> Scenario:
    chain = builder()
    early = chain.add(timestamp="2026-10-01T05:59:00.000Z")  # Thursday
    chain.add(timestamp="2026-10-01T21:59:00.000Z")
    late = chain.add(timestamp="2026-10-01T22:00:00.000Z")
    saturday = chain.add(timestamp="2026-10-03T10:00:00.000Z")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(early, late, saturday),
        failing_chains=("c1",),
        metrics={"outside": 3},
    )


def with_history(*in_period: tuple[str, str, dict[str, Any]]) -> tuple[Scenario, list[Any]]:
    chain = builder()
    chain.add(target=FS, timestamp="2026-09-20T10:00:00.000Z")  # history: a read on fs
    docs = [
        chain.add(action_type, risk, target=target, timestamp=f"2026-10-01T10:0{i}:00.000Z")
        for i, (action_type, risk, target) in enumerate(in_period)
    ]
    return Scenario([chain.receipts], period=OCTOBER), docs


@case(PASSES, "first_seen")
def first_seen_pass() -> Scenario:
    scenario, _ = with_history(("filesystem.file.read", "low", FS))
    scenario.population = 1
    scenario.metrics = {"new_action_types": [], "new_targets": []}
    return scenario


@case(FAILS, "first_seen")
def first_seen_fail() -> Scenario:
    scenario, (new_type, new_target, _) = with_history(
        ("filesystem.file.delete", "high", FS),
        ("filesystem.file.read", "low", {"system": "s3", "resource": "bucket"}),
        ("filesystem.file.read", "low", FS),
    )
    scenario.failing_receipts = ids(new_type, new_target)
    scenario.failing_chains = ("c1",)
    scenario.metrics = {"new_action_types": ["filesystem.file.delete"], "new_targets": ["s3"]}
    return scenario


@case(INDETERMINATES, "first_seen")
def first_seen_without_history() -> Scenario:
    chain = builder()
    chain.add(target=FS, timestamp="2026-10-01T10:00:00.000Z")
    return Scenario([chain.receipts], period=OCTOBER, metrics={"history_receipts": 0})


@case(NOT_APPLICABLES, "first_seen")
def first_seen_na() -> Scenario:
    scenario, _ = with_history(("filesystem.file.read", "low", FS))
    scenario.period = LATER  # everything is history, nothing is in the period
    return scenario


# -- the tests ----------------------------------------------------------------------------


def test_every_check_has_its_scenarios() -> None:
    assert set(PASSES) == set(REGISTRY)
    assert set(NOT_APPLICABLES) == set(REGISTRY)
    assert set(FAILS) | set(CANNOT_FAIL) == set(REGISTRY)
    assert not set(FAILS) & set(CANNOT_FAIL)
    assert set(CANNOT_FAIL) <= set(INDETERMINATES)


@pytest.mark.parametrize("name", sorted(PASSES))
def test_pass(tmp_path: Path, name: str) -> None:
    scenario = PASSES[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.PASS, result
    assert (result.failing_receipts, result.failing_chains) == ((), ())
    if scenario.population is not None:
        assert result.population == scenario.population
    assert picked(result.metrics, scenario.metrics) == scenario.metrics


# Checks whose FAIL scenario shows a defect (strict: the case fails the suite once fixed).
@pytest.mark.parametrize("name", sorted(FAILS))
def test_fail(tmp_path: Path, name: str) -> None:
    scenario = FAILS[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.FAIL, result
    assert result.failing_receipts == scenario.failing_receipts
    assert result.failing_chains == scenario.failing_chains
    assert picked(result.metrics, scenario.metrics) == scenario.metrics


@pytest.mark.parametrize("name", sorted(NOT_APPLICABLES))
def test_not_applicable(tmp_path: Path, name: str) -> None:
    scenario = NOT_APPLICABLES[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.NOT_APPLICABLE, result
    assert result.population == 0


@pytest.mark.parametrize("name", sorted(INDETERMINATES))
def test_indeterminate(tmp_path: Path, name: str) -> None:
    scenario = INDETERMINATES[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.INDETERMINATE, result
    assert result.failing_receipts == ()
    assert picked(result.metrics, scenario.metrics) == scenario.metrics


# the trust rule -------------------------------------------------------------------------------

# A chain that does not verify is a failure of these checks themselves, not missing
# evidence: a delegation whose parent chain is broken cannot be verified.
FAIL_WHEN_UNVERIFIED = {"chain_integrity", "delegation_resolves"}


@pytest.mark.parametrize("name", sorted(PASSES))
def test_tampered_evidence_never_passes(tmp_path: Path, name: str) -> None:
    scenario = PASSES[name]()
    for receipts in scenario.chains:
        tamper(receipts)
    result = assess(tmp_path, name, scenario)
    expected = Status.FAIL if name in FAIL_WHEN_UNVERIFIED else Status.INDETERMINATE
    assert result.status is expected, result


def test_failure_on_an_untrusted_receipt_is_indeterminate(tmp_path: Path) -> None:
    chain = builder()
    chain.add("system.command.execute", "high")  # would fail authorization_present...
    tamper(chain.receipts)  # ...but its chain does not verify
    result = assess(tmp_path, "authorization_present", Scenario([chain.receipts]))
    assert result.status is Status.INDETERMINATE
    assert result.failing_receipts == ()
    assert result.untrusted == 1


def test_trusted_failure_fails_despite_untrusted_rows(tmp_path: Path) -> None:
    trusted = builder("trusted")
    unauthorized = trusted.add("system.command.execute", "high")
    forged = builder("forged")
    forged.add("system.command.execute", "high")
    tamper(forged.receipts)
    scenario = Scenario([trusted.receipts, forged.receipts])
    result = assess(tmp_path, "authorization_present", scenario)
    assert result.status is Status.FAIL
    assert result.failing_receipts == ids(unauthorized)
    assert result.untrusted == 1


def test_ungrounded_principal_still_trusted_so_authorization_checks_fail(tmp_path: Path) -> None:
    chain = builder()
    ungrounded = chain.add("financial.payment.initiate", "critical", authorization=AUTH)
    chain.add()
    ev = evidence(tmp_path, Scenario([chain.receipts], grants=GRANTS))
    row = ev.receipts.set_index("receipt_id").loc[ungrounded["id"]]
    assert row["failure_codes"] == "UNGROUNDED_PRINCIPAL"
    assert bool(row["trusted"])
    assert not ev.chains["valid"].item()
    assert ev.chains["authentic"].item()
    for name in ("grounded_principal", "critical_human_approval", "financial_actions_granted"):
        result = run_check(name, ev)
        assert result.status is Status.FAIL, name
        assert result.failing_receipts == ids(ungrounded), name
    assert run_check("chain_integrity", ev).status is Status.PASS


# parameters and details -----------------------------------------------------------------------


def test_grounded_principal_without_grants_file_only_needs_a_grant_ref(tmp_path: Path) -> None:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH | {"grant_ref": "g-404"})
    missing = chain.add("system.command.execute", "high", authorization=AUTH)
    result = assess(tmp_path, "grounded_principal", Scenario([chain.receipts]))
    assert result.status is Status.FAIL
    assert result.failing_receipts == ids(missing)
    assert result.metrics == {"grants_file": False}


def test_write_commitments_can_require_a_response_hash(tmp_path: Path) -> None:
    chain = builder()
    chain.add("filesystem.file.create", parameters_hash=PARAMS_HASH, response_body={"ok": True})
    no_response = chain.add("filesystem.file.create", parameters_hash=PARAMS_HASH)
    scenario = Scenario([chain.receipts])
    assert assess(tmp_path, "write_commitments", scenario).status is Status.PASS
    scenario.params = {"require_response_hash": True}
    result = assess(tmp_path, "write_commitments", scenario)
    assert result.status is Status.FAIL
    assert result.failing_receipts == ids(no_response)


def test_unanchored_trusted_timestamp_does_not_count(tmp_path: Path) -> None:
    scenario = PASSES["trusted_timestamp_coverage"]()
    scenario.tsa_roots = ()  # the token is valid, but its TSA is not trusted
    result = assess(tmp_path, "trusted_timestamp_coverage", scenario)
    assert result.status is Status.FAIL
    assert result.metrics["share"] == 0.0


@pytest.mark.parametrize(
    ("timezone", "status"), [("UTC", Status.FAIL), ("Europe/Berlin", Status.PASS)]
)
def test_working_hours_in_a_timezone(tmp_path: Path, timezone: str, status: Status) -> None:
    chain = builder()
    chain.add(timestamp="2026-10-01T04:30:00.000Z")  # 06:30 in Berlin (CEST)
    scenario = Scenario([chain.receipts], params={"timezone": timezone})
    assert assess(tmp_path, "working_hours", scenario).status is status


@pytest.mark.parametrize(("allowed", "status"), [(0, Status.FAIL), (1, Status.PASS)])
def test_working_hours_tolerates_max_outside(tmp_path: Path, allowed: int, status: Status) -> None:
    chain = builder()
    chain.add(timestamp="2026-10-03T10:00:00.000Z")  # Saturday
    chain.add(timestamp="2026-10-05T10:00:00.000Z")  # Monday
    scenario = Scenario([chain.receipts], params={"max_outside": allowed})
    assert assess(tmp_path, "working_hours", scenario).status is status


# regressions ----------------------------------------------------------------------------------


def test_chain_integrity_on_no_receipts_is_not_applicable(tmp_path: Path) -> None:
    result = assess(tmp_path, "chain_integrity", Scenario([]))
    assert result.status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("name", ["critical_human_approval", "financial_actions_granted"])
def test_empty_grant_ref_is_no_grant(tmp_path: Path, name: str) -> None:
    chain = builder()
    empty = chain.add(
        "financial.payment.initiate", "critical", authorization=AUTH | {"grant_ref": ""}
    )
    result = assess(tmp_path, name, Scenario([chain.receipts]))
    assert result.status is Status.FAIL
    assert result.failing_receipts == ids(empty)


def test_forged_late_receipt_does_not_stretch_retention(tmp_path: Path) -> None:
    real = builder("real")
    real.add(timestamp="2026-10-01T10:00:00.000Z")
    forged = builder("forged")
    forged.add(timestamp="2027-06-01T10:00:00.000Z")  # 243 days later, but it does not verify
    tamper(forged.receipts)
    result = assess(tmp_path, "log_retention", Scenario([real.receipts, forged.receipts]))
    assert result.status is Status.INDETERMINATE
