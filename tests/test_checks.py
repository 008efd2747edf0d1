"""Every check in the registry, judged on real receipts signed by the reference SDK.

Each check has a PASS, a FAIL and a NOT_APPLICABLE scenario (a check that cannot fail
has an INDETERMINATE one instead; a detective check has an EXCEPTIONS one: it passes and
lists what it found), run through the real pipeline: obsigna receipts → JSONL →
verification → evidence frame → `run_check`. The trust rule is tested across the
registry: tampering with the receipts of any passing scenario must stop it passing, and
an untrusted chain beside trusted ones is left out of the population.
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
from reporting.controls.vocabulary import Reason
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
    reason: Reason | None = None  # expected beside INDETERMINATE
    problems: dict[str, tuple[str, ...]] | None = None  # problem code → receipts (FAIL)
    exceptions: tuple[str, ...] = ()  # receipts a detective check lists


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
EXCEPTIONS: dict[str, Callable[[], Scenario]] = {}
DETECTIVE = {"burst_detection", "failure_rate", "first_seen", "working_hours"}
CANNOT_FAIL = {
    "attribution": "issuer.id and principal.id are schema-required: a receipt without them "
    "never verifies, so it is never trusted evidence of a failure",
    "log_retention": "evidence shorter than the retention period does not prove logs were lost",
    "termination_status": "an open chain may still be running or may have been cut short",
    "witness_coverage": "witnesses are optional in the protocol: a scope limitation",
    "trusted_timestamp_coverage": "trusted timestamps are optional: a scope limitation",
    "overseer_stops": "no stop in the period does not show the stop procedure is missing",
    "ai_sent_messages": "it lists the population to sample; there is nothing to fail",
    **dict.fromkeys(DETECTIVE, "detective: anomalies are exceptions to disposition"),
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
    "risk_not_below_taxonomy",
    "unknown_action_share",
    "failure_rate",
    "attribution",
    "no_plaintext_disclosure",
    "burst_detection",
    "overseer_stops",
    "log_retention",
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


@case(INDETERMINATES, "termination_status")
def termination_status_open() -> Scenario:
    done = builder("done")
    done.add(terminal=True)
    open_ = builder("open").extend(2)
    return Scenario(
        [done.receipts, open_.receipts],
        reason=Reason.OPEN_CHAINS,
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


@case(INDETERMINATES, "witness_coverage")
def witness_coverage_missing() -> Scenario:
    return Scenario(
        [builder("w").extend(2).receipts, builder("x").extend(2).receipts],
        witnesses={"w": Witness(length=2, final_hash=None)},
        reason=Reason.NOT_WITNESSED,
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


@case(INDETERMINATES, "trusted_timestamp_coverage")
def trusted_timestamp_coverage_missing() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    chain.add("system.pty.open", "critical")
    stamp(chain.receipts, 0)
    return Scenario(
        [chain.receipts],
        tsa_roots=(PKI.root,),
        reason=Reason.NOT_TIMESTAMPED,
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


WEEKDAYS = {"producers": [{"issuer": "did:agent:test", "weekdays": [1, 2, 3, 4, 5]}]}
FIRST_WEEK = Period(
    since=datetime(2026, 10, 5, tzinfo=UTC), until=datetime(2026, 10, 12, tzinfo=UTC)
)  # Monday to Monday


def days(chain: ChainBuilder, *dates: str) -> list[dict[str, Any]]:
    return [chain.add(timestamp=f"2026-10-{d}T10:00:00.000Z") for d in dates]


@case(PASSES, "activity_continuity")
def activity_continuity_pass() -> Scenario:
    chain = builder()
    days(chain, "05", "06", "07", "08", "09")  # Monday to Friday; the weekend is off
    return Scenario(
        [chain.receipts],
        params=WEEKDAYS,
        period=FIRST_WEEK,
        population=5,
        metrics={"operating_days": 5, "silent_days": {}},
    )


@case(FAILS, "activity_continuity")
def activity_continuity_fail() -> Scenario:
    chain = builder()
    days(chain, "05", "06", "08", "09")  # nothing on Wednesday the 7th
    return Scenario(
        [chain.receipts],
        params=WEEKDAYS,
        period=FIRST_WEEK,
        metrics={"silent_days": {"did:agent:test": ["2026-10-07"]}},
    )


@case(NOT_APPLICABLES, "activity_continuity")
def activity_continuity_na() -> Scenario:
    return Scenario([builder().extend(2).receipts], params=WEEKDAYS, period=LATER)


@case(PASSES, "log_retention")
def log_retention_pass() -> Scenario:
    chain = builder()
    for month in range(4, 11):  # April to October: every month of the last six is held
        chain.add(timestamp=f"2026-{month:02d}-15T10:00:00.000Z")
    return Scenario(
        [chain.receipts],
        period=OCTOBER,
        population=1,
        metrics={"required_months": 6, "missing_months": {}},
    )


@case(INDETERMINATES, "log_retention")
def log_retention_one_old_receipt() -> Scenario:
    """One receipt seven months back does not stand for the months in between."""
    chain = builder()
    chain.add(timestamp="2026-03-01T10:00:00.000Z")
    chain.add(timestamp="2026-10-01T10:00:00.000Z")
    return Scenario(
        [chain.receipts],
        period=OCTOBER,
        reason=Reason.SHORT_HISTORY,
        metrics={
            "producers_short": 1,
            "missing_months": dict.fromkeys(["2026-05", "2026-06", "2026-07"], 1)
            | dict.fromkeys(["2026-08", "2026-09"], 1),
        },
    )


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
    return Scenario([chain.receipts], population=1, metrics={"expired": 0, "not_yet_issued": 0})


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
        metrics={"expired": 1, "not_yet_issued": 1},
        problems={
            "authorization_expired": ids(expired),
            "authorization_not_yet_valid": ids(early),
        },
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
    unknown = chain.add("system.pty.open", "critical", authorization=AUTH | {"grant_ref": "g-9"})
    bare = chain.add("system.pty.open", "critical")
    return Scenario(
        [chain.receipts],
        grants=GRANTS,
        failing_receipts=ids(missing, mallorys, unknown, bare),
        failing_chains=("c1",),
        metrics={"grants_file": True},
        problems={
            "no_grant_ref": ids(missing),
            "grant_other_principal": ids(mallorys),
            "grant_unresolved": ids(unknown),
            "no_authorization": ids(bare),
        },
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
        problems={"scope_mismatch": ids(wrong_scope), "no_authorization": ids(no_scope)},
    )


@case(NOT_APPLICABLES, "scope_matches_action")
def scope_matches_action_na() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high", authorization=AUTH)
    return Scenario([chain.receipts], params=RULES)


# oversight ----------------------------------------------------------------------------------


@case(PASSES, "critical_actions_grounded")
def critical_actions_grounded_pass() -> Scenario:
    chain = builder()  # ChainBuilder's principal is a HumanPrincipal
    chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    chain.add("system.command.execute", "high")
    return Scenario([chain.receipts], population=1)


@case(FAILS, "critical_actions_grounded")
def critical_actions_grounded_fail() -> Scenario:
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
        problems={"no_grant_ref": ids(ungranted), "not_for_a_human": ids(org.receipts[0])},
    )


@case(NOT_APPLICABLES, "critical_actions_grounded")
def critical_actions_grounded_na() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    return Scenario([chain.receipts])


def approved_by(correlation: str) -> Callable[[dict[str, Any]], None]:
    return lambda s: s.update(correlation_id=correlation)


@case(PASSES, "human_approval")
def human_approval_pass() -> Scenario:
    chain = builder()
    chain.add("agent.payment.approve", "low", timestamp="2026-10-01T10:00:00.000Z")
    chain.add(
        "financial.payment.initiate",
        "critical",
        authorization=GRANTED,
        timestamp="2026-10-01T10:05:00.000Z",
    )  # approved 5 min before by receipt
    chain.add(
        "financial.payment.initiate",
        "critical",
        authorization=GRANTED,
        timestamp="2026-10-01T10:06:00.000Z",
    )  # approval referenced elsewhere
    chain.add(
        "financial.payment.initiate",
        "critical",
        authorization=AUTH | {"grant_ref": "g-once", "granted_at": "2026-10-01T10:01:00.000Z"},
        timestamp="2026-10-01T10:07:00.000Z",
    )  # a grant issued for this action only
    edit(chain.receipts, 0, approved_by("pay-1"))
    edit(chain.receipts, 1, approved_by("pay-1"))
    edit(chain.receipts, 2, approved_by("CHG-4711"))
    return Scenario(
        [chain.receipts],
        params={"approval_references": ["CHG-*"]},
        population=3,
        metrics={"by_approval_receipt": 1, "by_approval_reference": 1, "by_single_use_grant": 1},
    )


@case(FAILS, "human_approval")
def human_approval_fail() -> Scenario:
    """The counter-example: a week-long standing grant is not an approval of each action."""
    chain = builder()
    standing = AUTH | {
        "grant_ref": "g-week",
        "granted_at": "2026-09-28T05:00:00.000Z",
        "expires_at": "2026-10-05T05:30:00.000Z",
    }
    first = chain.add("financial.payment.initiate", "critical", authorization=standing)
    second = chain.add("financial.payment.initiate", "critical", authorization=standing)
    late = chain.add("agent.payment.approve", "low", timestamp="2026-10-01T11:00:00.000Z")
    chain.add(
        "financial.payment.initiate",
        "critical",
        authorization=GRANTED,
        timestamp="2026-10-01T10:59:00.000Z",
    )  # approved only after the fact
    edit(chain.receipts, 2, approved_by("pay-2"))
    edit(chain.receipts, 3, approved_by("pay-2"))
    del late
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(first, second, chain.receipts[3]),
        failing_chains=("c1",),
    )


@case(NOT_APPLICABLES, "human_approval")
def human_approval_na() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", authorization=GRANTED)
    return Scenario([chain.receipts], params={"actions": ["system.*"]})  # ASI05's population


@case(PASSES, "overseer_stops")
def overseer_stops_pass() -> Scenario:
    stopped = builder("stopped")
    stopped.add()
    stopped.add(
        "system.command.execute", "high", terminal=True, status="interrupted", outcome="failure"
    )  # interrupted by the user
    daemon = builder("daemon")
    daemon.add("agent_receipts.chain_interrupted", terminal=True, status="interrupted")
    return Scenario(
        [stopped.receipts, daemon.receipts],
        metrics={"interrupted_chains": 2, "overseer_stops": 1},
    )


@case(INDETERMINATES, "overseer_stops")
def overseer_stops_none() -> Scenario:
    """A daemon's own shutdown is not an overseer's stop; a session ending neither."""
    daemon = builder("daemon")
    daemon.add("agent_receipts.chain_interrupted", terminal=True, status="interrupted")
    done = builder("done")
    done.add(terminal=True)
    return Scenario(
        [daemon.receipts, done.receipts],
        reason=Reason.NOT_EVIDENCED,
        metrics={"interrupted_chains": 1, "overseer_stops": 0},
    )


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
    return Scenario([chain.receipts], population=10, metrics={"rate": 0.1, "limit": 0.1})


@case(EXCEPTIONS, "failure_rate")
def failure_rate_exceptions() -> Scenario:
    chain = builder()
    chain.add()
    failed = chain.add(outcome="failure")
    return Scenario([chain.receipts], exceptions=ids(failed), metrics={"rate": 0.5})


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
    api = chain.add("data.api.write", "medium")  # a write to an external API is a transfer
    chat = chain.add("communication.message.send", "medium")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(share, egress, api, chat),
        failing_chains=("c1",),
        metrics={
            "by_type": {
                "communication.email.send": 1,
                "communication.message.send": 1,
                "data.api.write": 1,
                "document.file.share": 1,
                "network.egress.observed": 1,
            }
        },
    )


@case(PASSES, "executed_once")
def executed_once_pass() -> Scenario:
    chain = builder()
    chain.add("financial.payment.initiate", "critical", idempotency_key="pay-1")
    chain.add("financial.payment.authorize", "critical", idempotency_key="pay-1")  # other type
    chain.add("financial.payment.initiate", "critical", idempotency_key="pay-2", outcome="failure")
    chain.add("financial.payment.initiate", "critical", idempotency_key="pay-2")  # a retry
    return Scenario([chain.receipts], population=4, metrics={"keyed": 3})


@case(FAILS, "executed_once")
def executed_once_fail() -> Scenario:
    first = builder("first")
    first.add("financial.payment.initiate", "critical", idempotency_key="pay-1")
    again = builder("again")
    twice = again.add(
        "financial.payment.initiate",
        "critical",
        idempotency_key="pay-1",
        timestamp="2026-10-01T11:00:00.000Z",  # after the first: it is the duplicate
    )
    return Scenario(
        [first.receipts, again.receipts],
        failing_receipts=ids(twice),
        failing_chains=("again",),
    )


@case(NOT_APPLICABLES, "executed_once")
def executed_once_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


INVENTORY = {
    "producers": [
        {
            "issuer": "did:agent:test",
            "tools": ["get_*"],
            "targets": ["fs", "s3"],
            "models": ["model-a"],
        },
    ]
}


@case(PASSES, "inventory_allowlist")
def inventory_allowlist_pass() -> Scenario:
    chain = builder()
    chain.add(target=FS, tool_name="get_file", issuer_fields={"model": "model-a"})
    chain.add(target={"system": "s3", "resource": "b"}, issuer_fields={"model": "model-a"})
    return Scenario([chain.receipts], params=INVENTORY, population=2)


@case(FAILS, "inventory_allowlist")
def inventory_allowlist_fail() -> Scenario:
    chain = builder()
    chain.add(target=FS, tool_name="get_file", issuer_fields={"model": "model-a"})
    tool = chain.add(target=FS, tool_name="delete_repo", issuer_fields={"model": "model-a"})
    model = chain.add(target=FS, issuer_fields={"model": "model-b"})
    stranger = builder("stranger", issuer="did:agent:stranger")
    unlisted = stranger.add(target=FS)
    return Scenario(
        [chain.receipts, stranger.receipts],
        params=INVENTORY,
        failing_receipts=ids(tool, model, unlisted),
        failing_chains=("c1", "stranger"),
        metrics={"unlisted": {"models": ["model-b"], "tools": ["delete_repo"]}},
        problems={
            "component_not_allowlisted": ids(tool, model),
            "producer_not_inventoried": ids(unlisted),
        },
    )


@case(NOT_APPLICABLES, "inventory_allowlist")
def inventory_allowlist_na() -> Scenario:
    return Scenario([builder().extend(2).receipts], params=INVENTORY, period=LATER)


@case(INDETERMINATES, "external_transfer_authorized")
def external_transfer_not_instrumented() -> Scenario:
    """No transfer receipt at all: egress is not instrumented, which proves nothing."""
    return Scenario([builder().extend(2).receipts], reason=Reason.NOT_INSTRUMENTED)


@case(NOT_APPLICABLES, "external_transfer_authorized")
def external_transfer_authorized_na() -> Scenario:
    return Scenario([builder().extend(2).receipts], period=LATER)


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
        problems={"no_grant_ref": ids(ungranted), "no_authorization": ids(unauthorized)},
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


CONVERSATIONAL = {"conversational": ["did:agent:test"]}


@case(PASSES, "intent_recorded")
def intent_recorded_pass() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    chain.add("system.pty.open", "critical")
    chain.add("system.pty.open", "critical")
    chain.add()
    edit(chain.receipts, 0, intent(prompt_preview="clean up the build cache"))
    edit(chain.receipts, 1, intent(conversation_hash="sha256:" + "c" * 64))
    edit(chain.receipts, 2, intent(reasoning_hash="sha256:" + "d" * 64))  # reasoning counts
    daemon = builder("daemon", issuer="did:agent:daemon")  # not conversational: left out
    daemon.add("system.command.execute", "high")
    return Scenario(
        [chain.receipts, daemon.receipts],
        params=CONVERSATIONAL,
        population=3,
        metrics={"with_reasoning_hash": 1},
    )


@case(FAILS, "intent_recorded")
def intent_recorded_fail() -> Scenario:
    chain = builder()
    chain.add("system.command.execute", "high")
    silent = chain.add("system.pty.open", "critical")
    edit(chain.receipts, 0, intent(prompt_preview="clean up the build cache"))
    return Scenario(
        [chain.receipts],
        params=CONVERSATIONAL,
        failing_receipts=ids(silent),
        failing_chains=("c1",),
    )


@case(INDETERMINATES, "intent_recorded")
def intent_recorded_not_configured() -> Scenario:
    """Which agents hold conversations is a fact of the deployment, with no default."""
    chain = builder()
    chain.add("system.command.execute", "high")
    return Scenario([chain.receipts], reason=Reason.NOT_CONFIGURED)


@case(NOT_APPLICABLES, "intent_recorded")
def intent_recorded_na() -> Scenario:
    chain = builder()
    chain.add("network.egress.observed", "medium")
    return Scenario([chain.receipts], params=CONVERSATIONAL)


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
    api = chain.add("data.api.write", "medium")  # writes the old globs missed
    moved = chain.add("filesystem.file.move", "medium")
    cell = chain.add("document.spreadsheet.modify_cell", "medium")
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(uncommitted, api, moved, cell),
        failing_chains=("c1",),
    )


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
    chain.add("system.command.execute", "high")
    chain.add(
        "system.command.execute",
        "high",
        outcome="failure",
        outcome_fields={"error": "permission denied: /etc/shadow"},
    )
    chain.add()
    legacy = {"to": "bob@example.com", "subject": "salaries"}
    edit(chain.receipts, 0, lambda s: s["action"].update(parameters_disclosure=legacy))
    edit(chain.receipts, 1, intent(prompt_preview="pay the invoices of ACME Corp"))
    legacy_one, prompt, error = chain.receipts[:3]
    return Scenario(
        [chain.receipts],
        failing_receipts=ids(legacy_one, prompt, error),
        failing_chains=("c1",),
        problems={
            "plaintext_parameters": ids(legacy_one),
            "plaintext_prompt": ids(prompt),
            "plaintext_error": ids(error),
        },
    )


@case(PASSES, "ai_sent_messages")
def ai_sent_messages_pass() -> Scenario:
    chain = builder()
    chain.add("communication.email.send", "high")
    chain.add("communication.message.send", "medium")
    chain.add()
    return Scenario([chain.receipts], population=2, metrics={"by_agent": {"did:agent:test": 2}})


@case(NOT_APPLICABLES, "ai_sent_messages")
def ai_sent_messages_na() -> Scenario:
    return Scenario([builder().extend(2).receipts])


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


@case(EXCEPTIONS, "burst_detection")
def burst_detection_exceptions() -> Scenario:
    a = builder("a")
    b = builder("b")  # same issuer as a: its chains are counted together
    burst = same_minute(a, 2) + same_minute(b, 1)
    same_minute(b, 1, minute="10:05")
    return Scenario(
        [a.receipts, b.receipts],
        params={"max_per_minute": 2},
        exceptions=ids(*burst),
        metrics={"busiest_minute": 3},
    )


OFFICE = {
    "producers": [
        {
            "issuer": "did:agent:test",
            "start": "06:00",
            "end": "22:00",
            "weekdays": [1, 2, 3, 4, 5],
            "timezone": "UTC",
        },
        {"issuer": "did:agent:daemon", "always": True},
    ]
}


@case(PASSES, "working_hours")
def working_hours_pass() -> Scenario:
    chain = builder()
    chain.add(timestamp="2026-10-01T06:00:00.000Z")  # Thursday
    chain.add(timestamp="2026-10-01T21:59:00.000Z")
    daemon = builder("daemon", issuer="did:agent:daemon")
    daemon.add(timestamp="2026-10-03T03:00:00.000Z")  # Saturday night: it never sleeps
    return Scenario(
        [chain.receipts, daemon.receipts],
        params=OFFICE,
        population=3,
        metrics={"outside_hours": 0},
    )


@case(EXCEPTIONS, "working_hours")
def working_hours_exceptions() -> Scenario:
    """Weekend and night actions are exceptions to review, not a failed control."""
    chain = builder()
    early = chain.add(timestamp="2026-10-01T05:59:00.000Z")  # Thursday
    chain.add(timestamp="2026-10-01T21:59:00.000Z")
    late = chain.add(timestamp="2026-10-01T22:00:00.000Z")
    saturday = chain.add(timestamp="2026-10-03T10:00:00.000Z")
    return Scenario(
        [chain.receipts],
        params=OFFICE,
        exceptions=ids(early, late, saturday),
        metrics={"outside_hours": 3},
    )


@case(INDETERMINATES, "working_hours")
def working_hours_not_configured() -> Scenario:
    """No shipped working hours: without the deployment's, nothing is judged."""
    chain = builder()
    chain.add(timestamp="2026-10-03T10:00:00.000Z")  # Saturday
    return Scenario([chain.receipts], reason=Reason.NOT_CONFIGURED)


@case(NOT_APPLICABLES, "working_hours")
def working_hours_na() -> Scenario:
    return Scenario([builder().extend(2).receipts], params=OFFICE, period=LATER)


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
    scenario.metrics = {"new": {}}
    return scenario


@case(EXCEPTIONS, "first_seen")
def first_seen_exceptions() -> Scenario:
    scenario, (new_type, new_target, _) = with_history(
        ("filesystem.file.delete", "high", FS),
        ("filesystem.file.read", "low", {"system": "s3", "resource": "bucket"}),
        ("filesystem.file.read", "low", FS),
    )
    stranger = builder("stranger", issuer="did:agent:stranger", principal="did:user:eve")
    newcomer = stranger.add(
        target=FS,
        timestamp="2026-10-02T10:00:00.000Z",
        issuer_fields={"model": "model-x"},
        tool_name="get_file",
    )
    scenario.chains.append(stranger.receipts)
    scenario.exceptions = ids(new_type, new_target, newcomer)
    scenario.metrics = {
        "new": {
            "action types": ["filesystem.file.delete"],
            "agents": ["did:agent:stranger"],
            "models": ["model-x"],
            "principals": ["did:user:eve"],
            "target systems": ["s3"],
            "tools": ["get_file"],
        }
    }
    return scenario


@case(INDETERMINATES, "first_seen")
def first_seen_without_history() -> Scenario:
    chain = builder()
    chain.add(target=FS, timestamp="2026-10-01T10:00:00.000Z")
    return Scenario(
        [chain.receipts],
        period=OCTOBER,
        reason=Reason.NO_HISTORY,
        metrics={"history_receipts": 0},
    )


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
    assert set(CANNOT_FAIL) - DETECTIVE <= set(INDETERMINATES) | {"ai_sent_messages"}
    assert set(EXCEPTIONS) == DETECTIVE == {n for n, spec in REGISTRY.items() if spec.detective}


@pytest.mark.parametrize("name", sorted(PASSES))
def test_pass(tmp_path: Path, name: str) -> None:
    scenario = PASSES[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.PASS, result
    assert (result.failing_receipts, result.failing_chains) == ((), ())
    assert result.exceptions == 0
    if scenario.population is not None:
        assert result.population == scenario.population
    assert picked(result.metrics, scenario.metrics) == scenario.metrics


def _problems(result: CheckResult) -> dict[str, tuple[str, ...]]:
    return {hit.problem: hit.receipts for hit in result.hits}


# Checks whose FAIL scenario shows a defect (strict: the case fails the suite once fixed).
@pytest.mark.parametrize("name", sorted(FAILS))
def test_fail(tmp_path: Path, name: str) -> None:
    scenario = FAILS[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.FAIL, result
    assert result.failing_receipts == scenario.failing_receipts
    assert result.failing_chains == scenario.failing_chains
    assert picked(result.metrics, scenario.metrics) == scenario.metrics
    expected = scenario.problems or {REGISTRY[name].problem.code: scenario.failing_receipts}
    if scenario.failing_receipts:
        assert _problems(result) == expected


@pytest.mark.parametrize("name", sorted(EXCEPTIONS))
def test_detective_checks_list_exceptions_and_pass(tmp_path: Path, name: str) -> None:
    """Detecting an anomaly is the control operating: the check passes and lists it."""
    scenario = EXCEPTIONS[name]()
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.PASS, result
    assert result.detective
    assert result.exceptions == len(scenario.exceptions)
    assert _problems(result) == {REGISTRY[name].problem.code: scenario.exceptions}
    assert result.failing_receipts == ()
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
    if scenario.reason is not None:
        assert result.reason is scenario.reason
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


@pytest.mark.parametrize("name", sorted(set(PASSES) - FAIL_WHEN_UNVERIFIED))
def test_an_untrusted_chain_is_left_out_not_blocking(tmp_path: Path, name: str) -> None:
    """A broken chain beside a passing one is excluded from the population (it is reported
    once, by chain_integrity): the others still pass on their own trusted evidence."""
    scenario = PASSES[name]()
    if not scenario.chains:
        pytest.skip("no chain to add to")
    forged = builder("forged-extra").extend(2, timestamp="2026-10-01T12:00:00.000Z").receipts
    tamper(forged)
    scenario.chains.append(forged)
    result = assess(tmp_path, name, scenario)
    assert result.status is Status.PASS, result
    if scenario.population is not None:
        assert result.population == scenario.population


def test_failure_on_an_untrusted_receipt_is_not_evidence(tmp_path: Path) -> None:
    chain = builder()
    chain.add("system.command.execute", "high")  # would fail authorization_present...
    tamper(chain.receipts)  # ...but its chain does not verify
    result = assess(tmp_path, "authorization_present", Scenario([chain.receipts]))
    assert result.status is Status.INDETERMINATE
    assert result.reason is Reason.NO_TRUSTED_EVIDENCE
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
    for name in ("grounded_principal", "critical_actions_grounded", "financial_actions_granted"):
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
    assert _problems(result) == {"response_uncommitted": ids(no_response)}


def test_write_commitments_can_require_the_state_before_and_after(tmp_path: Path) -> None:
    """The rationale 'commits to the state before and after' is now what is tested."""
    state = {"state_change": {"before_hash": PARAMS_HASH, "after_hash": "sha256:" + "b" * 64}}
    chain = builder()
    chain.add("filesystem.file.modify", "medium", parameters_hash=PARAMS_HASH, outcome_fields=state)
    blind = chain.add("data.api.write", "medium", parameters_hash=PARAMS_HASH)
    chain.add("filesystem.file.create", parameters_hash=PARAMS_HASH)  # a creation: no before
    scenario = Scenario([chain.receipts])
    assert assess(tmp_path, "write_commitments", scenario).status is Status.PASS
    scenario.params = {"require_state_change": True}
    result = assess(tmp_path, "write_commitments", scenario)
    assert result.status is Status.FAIL
    assert _problems(result) == {"state_change_uncommitted": ids(blind)}


def test_unanchored_trusted_timestamp_does_not_count(tmp_path: Path) -> None:
    scenario = PASSES["trusted_timestamp_coverage"]()
    scenario.tsa_roots = ()  # the token is valid, but its TSA is not trusted
    result = assess(tmp_path, "trusted_timestamp_coverage", scenario)
    assert result.status is Status.INDETERMINATE
    assert result.reason is Reason.NOT_TIMESTAMPED
    assert result.metrics["share"] == 0.0


@pytest.mark.parametrize(("timezone", "outside"), [("UTC", 1), ("Europe/Berlin", 0)])
def test_working_hours_in_a_timezone(tmp_path: Path, timezone: str, outside: int) -> None:
    chain = builder()
    chain.add(timestamp="2026-10-01T04:30:00.000Z")  # 06:30 in Berlin (CEST)
    hours = {
        "issuer": "did:agent:test",
        "start": "06:00",
        "end": "22:00",
        "weekdays": [1, 2, 3, 4, 5],
        "timezone": timezone,
    }
    scenario = Scenario([chain.receipts], params={"producers": [hours]})
    result = assess(tmp_path, "working_hours", scenario)
    assert result.status is Status.PASS
    assert result.exceptions == outside


def test_working_hours_of_an_unlisted_producer_are_not_configured(tmp_path: Path) -> None:
    chain = builder()
    chain.add(timestamp="2026-10-01T10:00:00.000Z")
    other = {"producers": [{"issuer": "did:agent:other", "always": True}]}
    result = assess(tmp_path, "working_hours", Scenario([chain.receipts], params=other))
    assert result.status is Status.INDETERMINATE
    assert result.reason is Reason.NOT_CONFIGURED


def test_a_week_without_any_chain_fails_continuity(tmp_path: Path) -> None:
    """The counter-example: gaps inside chains were measured, a silent week passed."""
    chain = builder()
    days(chain, "01", "02", "12", "13")  # nothing from Monday the 5th to Friday the 9th
    result = assess(
        tmp_path,
        "activity_continuity",
        Scenario(
            [chain.receipts],
            params=WEEKDAYS,
            period=Period(
                since=datetime(2026, 10, 1, tzinfo=UTC), until=datetime(2026, 10, 14, tzinfo=UTC)
            ),
        ),
    )
    assert result.status is Status.FAIL
    assert result.metrics["silent_days"] == {
        "did:agent:test": ["2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08", "2026-10-09"]
    }


def test_continuity_is_not_configured_without_expected_producers(tmp_path: Path) -> None:
    result = assess(tmp_path, "activity_continuity", Scenario([builder().extend(2).receipts]))
    assert result.status is Status.INDETERMINATE
    assert result.reason is Reason.NOT_CONFIGURED


def test_continuity_on_a_day_with_only_unverified_receipts_is_undecided(tmp_path: Path) -> None:
    good = builder()
    days(good, "05", "06", "08", "09")
    forged = builder("forged")
    days(forged, "07")
    tamper(forged.receipts)
    scenario = Scenario([good.receipts, forged.receipts], params=WEEKDAYS, period=FIRST_WEEK)
    result = assess(tmp_path, "activity_continuity", scenario)
    assert result.status is Status.INDETERMINATE
    assert result.metrics["unverified_days"] == {"did:agent:test": ["2026-10-07"]}


def test_a_daemon_open_by_design_does_not_count_against_termination(tmp_path: Path) -> None:
    """The counter-example: the daemon's date-named chains stay open by design."""
    done = builder("done")
    done.add(terminal=True)
    daemon = builder("2026-10-01", issuer="did:agent:daemon").extend(3)
    scenario = Scenario([done.receipts, daemon.receipts])
    assert assess(tmp_path, "termination_status", scenario).status is Status.INDETERMINATE
    scenario.params = {"open_chains": ["did:agent:daemon"]}
    result = assess(tmp_path, "termination_status", scenario)
    assert result.status is Status.PASS
    assert result.metrics["open_by_design"] == 1


def test_registry_validity_wins_over_the_receipt_claim(tmp_path: Path) -> None:
    """The agent writes its own validity into the receipt; the registry decides."""
    chain = builder()
    claimed = chain.add("system.command.execute", "high", authorization=GRANTED)
    registry = {
        "g-1": Grant(
            subject="did:user:alice",
            issued_at="2026-09-01T00:00:00Z",
            expires_at="2026-09-30T00:00:00Z",
        )
    }
    scenario = Scenario([chain.receipts])
    assert assess(tmp_path, "authorization_time_valid", scenario).status is Status.PASS
    scenario.grants = registry
    result = assess(tmp_path, "authorization_time_valid", scenario)
    assert result.status is Status.FAIL
    assert result.failing_receipts == ids(claimed)
    assert result.metrics["validity_from_registry"] == 1


def test_registry_scopes_win_over_the_receipt_claim(tmp_path: Path) -> None:
    chain = builder()
    claimed = chain.add(
        "financial.payment.initiate", "critical", authorization=PAYMENTS
    )  # claims payments:write under g-1
    scenario = Scenario([chain.receipts], params=RULES)
    assert assess(tmp_path, "scope_matches_action", scenario).status is Status.PASS
    scenario.grants = {"g-1": Grant(subject="did:user:alice", scopes=("ops:run",))}
    result = assess(tmp_path, "scope_matches_action", scenario)
    assert result.status is Status.FAIL
    assert result.failing_receipts == ids(claimed)


def test_a_standing_grant_grounds_a_critical_action_but_does_not_approve_it(
    tmp_path: Path,
) -> None:
    """critical_human_approval only tested 'human principal and a grant_ref' (renamed)."""
    scenario = FAILS["human_approval"]()
    assert assess(tmp_path, "critical_actions_grounded", scenario).status is Status.PASS
    assert assess(tmp_path, "human_approval", scenario).status is Status.FAIL


# regressions ----------------------------------------------------------------------------------


def test_chain_integrity_on_no_receipts_is_not_applicable(tmp_path: Path) -> None:
    result = assess(tmp_path, "chain_integrity", Scenario([]))
    assert result.status is Status.NOT_APPLICABLE


@pytest.mark.parametrize("name", ["critical_actions_grounded", "financial_actions_granted"])
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
