"""The egress checks beyond their PASS / FAIL / N/A scenarios (tests/test_checks.py): an
agent whose egress is not recorded, the ways a write can lack an authorised agent action,
and an allowlist nobody configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reporting.controls.checks import Status, run_check
from reporting.controls.vocabulary import Reason
from reporting.evidence.correlation import CorrelationRules

from .factory import ChainBuilder
from .test_egress_evidence import AGENT, AGENT_KEY, RULES, agent_session, evidence, fetch, firewall

AUTH = {
    "scopes": ["orders:write"],
    "granted_at": "2026-10-05T08:00:00.000Z",
    "expires_at": "2026-10-05T18:00:00.000Z",
}
ORDER = {"system": "api.example.com", "resource": "orders/7"}


def post(url: str = "https://api.example.com/orders/7", **extra: Any) -> dict[str, Any]:
    return (
        fetch(url, action_type="write", transport="forward", method="POST")
        | {
            "side_effect_class": "external_write",
            "reversibility": "compensatable",
        }
        | extra
    )


def writer_agent(
    authorization: dict[str, Any] | None = AUTH, target: dict[str, str] = ORDER
) -> list[dict[str, Any]]:
    chain = ChainBuilder(AGENT_KEY, chain_id="w1", issuer=AGENT, principal="did:user:alice")
    chain.add("data.api.read", timestamp="2026-10-05T09:00:00.000Z")
    chain.add(
        "data.api.write",
        "high",
        timestamp="2026-10-05T09:01:00.000Z",
        target=target,
        authorization=authorization,
    )
    chain.add("data.api.read", timestamp="2026-10-05T09:02:00.000Z")
    return chain.receipts


def backed(
    tmp_path: Path,
    chains: list[list[dict[str, Any]]],
    *decisions: tuple[str, dict[str, Any]],
    rules: CorrelationRules = RULES,
) -> Any:
    return run_check(
        "egress_writes_backed", evidence(tmp_path, chains, [firewall(*decisions)], rules=rules)
    )


def test_a_matching_authorised_write_backs_the_request(tmp_path: Path) -> None:
    result = backed(tmp_path, [writer_agent()], ("2026-10-05T09:01:02+00:00", post()))
    assert (result.status, result.population, result.metrics["backed"]) == (Status.PASS, 1, 1)


def test_an_unauthorised_or_expired_action_backs_nothing(tmp_path: Path) -> None:
    expired = AUTH | {"expires_at": "2026-10-05T09:00:30.000Z"}
    for authorization in (None, expired):
        result = backed(
            tmp_path, [writer_agent(authorization)], ("2026-10-05T09:01:02+00:00", post())
        )
        assert (result.status, result.failing) == (Status.FAIL, 1), authorization


def test_another_target_or_a_distant_time_backs_nothing(tmp_path: Path) -> None:
    other = backed(
        tmp_path,
        [writer_agent()],
        ("2026-10-05T09:01:02+00:00", post("https://api.example.com/orders/8")),
    )
    assert (other.status, other.failing) == (Status.FAIL, 1)
    elsewhere = backed(
        tmp_path,
        [writer_agent()],
        ("2026-10-05T09:01:02+00:00", post("https://evil.example/orders/7")),
    )
    assert elsewhere.status is Status.FAIL
    late = backed(tmp_path, [writer_agent()], ("2026-10-05T09:02:30+00:00", post()))  # 90 s
    assert late.status is Status.PASS  # within the default window (300 s)
    result = run_check(
        "egress_writes_backed",
        evidence(tmp_path, [writer_agent()], [firewall(("2026-10-05T09:02:30+00:00", post()))]),
        {"window_seconds": 60},
    )
    assert result.status is Status.FAIL


def test_a_write_joined_to_no_session_is_its_own_problem(tmp_path: Path) -> None:
    unmapped = CorrelationRules(actors={})
    result = backed(
        tmp_path, [writer_agent()], ("2026-10-05T09:01:02+00:00", post()), rules=unmapped
    )
    assert result.status is Status.FAIL
    assert {hit.problem: hit.count for hit in result.hits} == {"egress_write_uncorrelated": 1}


def test_blocked_writes_and_reads_need_no_backing(tmp_path: Path) -> None:
    result = backed(
        tmp_path,
        [writer_agent(None)],
        ("2026-10-05T09:01:02+00:00", post(verdict="block")),
        ("2026-10-05T09:01:03+00:00", fetch()),
    )
    assert (result.status, result.population) == (Status.NOT_APPLICABLE, 0)


def test_an_agent_acting_over_the_network_without_egress_records_is_not_instrumented(
    tmp_path: Path,
) -> None:
    recorded = agent_session("c1", start="2026-10-05T09:00:00+00:00")
    other = ChainBuilder(
        AGENT_KEY, chain_id="x1", issuer="did:agent:other", principal="did:user:bob"
    )
    other.add("data.api.write", timestamp="2026-10-05T10:00:00.000Z")
    decision = firewall(("2026-10-05T09:01:00+00:00", fetch()))
    result = run_check(
        "egress_instrumented", evidence(tmp_path, [recorded, other.receipts], [decision])
    )
    assert (result.status, result.reason) == (Status.INDETERMINATE, Reason.NOT_INSTRUMENTED)
    assert result.metrics["agents_without_egress_records"] == 1
    assert [hit.chains for hit in result.hits] == [("x1",)]


def test_an_allowlist_nobody_configured_cannot_decide(tmp_path: Path) -> None:
    built = evidence(
        tmp_path,
        [agent_session("c1", start="2026-10-05T09:00:00+00:00")],
        [firewall(("2026-10-05T09:01:00+00:00", fetch()))],
    )
    result = run_check("egress_allowlist", built)
    assert (result.status, result.reason) == (Status.INDETERMINATE, Reason.NOT_CONFIGURED)
    unlisted = {"producers": [{"issuer": "did:agent:someone-else", "destinations": ["*"]}]}
    result = run_check("egress_allowlist", built, unlisted)
    assert result.status is Status.FAIL
    assert {hit.problem for hit in result.hits} == {"egress_producer_not_listed"}


def test_the_deployment_inventory_configures_the_egress_allowlist() -> None:
    from reporting.controls.deployment import check_parameters

    plain = {"producers": [{"issuer": AGENT, "inventory": {"models": ["m"]}}]}
    assert "egress_allowlist" not in check_parameters(plain)
    listed = {"producers": [{"issuer": AGENT, "inventory": {"destinations": ["pypi.org"]}}]}
    assert check_parameters(listed)["egress_allowlist"] == {
        "producers": [{"issuer": AGENT, "destinations": ["pypi.org"]}]
    }
