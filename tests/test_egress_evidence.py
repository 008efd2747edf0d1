"""Pipelock's decisions in the evidence frame (issue 18): one frame of both kinds with a
channel, a source kind and the verified signer on every row; scope decided as for
receipts; decisions joined to agent sessions by the configured correlation, and what
cannot be joined kept, as uncorrelated."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reporting.evidence.correlation import CorrelationRules
from reporting.periods import Period

from .factory import ChainBuilder, Key
from .helpers import evidence_from
from .pipelock_support import KEY_A, writer
from .pipelock_support import trust as recorder_trust

AGENT_KEY = Key.from_seed("egress-evidence")
AGENT = "did:agent:coder"
ALICE, BOB = "did:user:alice", "did:user:bob"
OCTOBER = Period(since=datetime(2026, 10, 1, tzinfo=UTC), until=datetime(2026, 11, 1, tzinfo=UTC))
RULES = CorrelationRules(
    actors={"coder": AGENT},
    principals={"alice@example.com": ALICE, "bob@example.com": BOB},
    tolerance_seconds=60,
)


def agent_session(
    chain_id: str,
    *,
    start: str,
    session_id: str | None = None,
    principal: str = ALICE,
    minutes: int = 10,
) -> list[dict[str, Any]]:
    """An agent's chain: a shell command, a file read, an API write, an MCP tool call,
    one every `minutes / 3` minutes from `start`."""
    chain = ChainBuilder(AGENT_KEY, chain_id=chain_id, issuer=AGENT, principal=principal)
    issuer = {"session_id": session_id} if session_id else None
    first = datetime.fromisoformat(start)
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("system.command.execute", {}),
        ("filesystem.file.read", {}),
        ("data.api.write", {"target": {"system": "api.example.com", "resource": "orders/1"}}),
        ("data.api.read", {"tool_name": "get_issue"}),
    ]
    for number, (action, extra) in enumerate(kinds):
        moment = first + timedelta(minutes=number * minutes / 3)
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        chain.add(action, timestamp=stamp, issuer_fields=issuer, **extra)
    return chain.receipts


def firewall(
    *decisions: tuple[str, dict[str, Any]],
    actor: str = "coder",
    principal: str = "alice@example.com",
    seed: int = 1,
) -> str:
    """A recorder session: open, decisions at the given times (ISO), close."""
    recorder = writer.Recorder(session_id="proxy")
    emitter = writer.Emitter(recorder, KEY_A, random.Random(seed), actor=actor, principal=principal)
    times = [datetime.fromisoformat(at) for at, _ in decisions]
    emitter.open(min(times) - timedelta(seconds=5))
    for moment, (_, fields) in zip(times, decisions, strict=True):
        emitter.emit(moment, **fields)
    emitter.close(max(times) + timedelta(seconds=5))
    return "".join(line + "\n" for line in recorder.lines)


def fetch(url: str = "https://pypi.org/simple/", **extra: Any) -> dict[str, Any]:
    return {
        "action_type": "read",
        "target": url,
        "verdict": "allow",
        "transport": "fetch",
        "method": "GET",
        "side_effect_class": "external_read",
        "reversibility": "full",
    } | extra


def evidence(
    tmp_path: Path,
    chains: list[list[dict[str, Any]]],
    recorders: list[str],
    rules: CorrelationRules | None = RULES,
    period: Period = OCTOBER,
) -> Any:
    return evidence_from(
        tmp_path,
        chains,
        AGENT_KEY.raw,
        period=period,
        egress=recorders,
        egress_trust=recorder_trust(KEY_A, name="edge"),
        correlation=rules,
    )


def decisions(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["source_kind"] == "pipelock") & (frame["channel"] != "control")]


# -- one frame ----------------------------------------------------------------------------


def test_every_row_has_a_channel_a_source_kind_and_its_verified_signer(tmp_path: Path) -> None:
    chain = agent_session("c1", start="2026-10-05T09:00:00+00:00")
    mcp = {"action_type": "read", "target": "github.get_issue", "verdict": "allow"} | {
        "transport": "mcp_stdio",
        "side_effect_class": "external_read",
        "reversibility": "full",
    }
    socket = fetch("wss://stream.example.org/feed", transport="websocket")
    recorder = firewall(
        ("2026-10-05T09:01:00+00:00", fetch()),
        ("2026-10-05T09:02:00+00:00", mcp),
        ("2026-10-05T09:03:00+00:00", socket),
    )
    frame = evidence(tmp_path, [chain], [recorder]).receipts
    agents = frame[frame["source_kind"] == "agent_receipts"]
    assert agents["channel"].astype(str).tolist() == ["shell", "file", "api", "mcp"]
    assert set(agents["signer"].astype(str)) == {AGENT}
    egress = decisions(frame)
    assert egress["channel"].astype(str).tolist() == ["http", "mcp", "websocket"]
    assert set(egress["signer"].astype(str)) == {"edge"}
    assert egress["trusted"].all()
    control = frame[(frame["source_kind"] == "pipelock") & (frame["channel"] == "control")]
    assert len(control) == 2  # the recorder's open and close: rows too, never egress


def test_decisions_of_a_broken_recorder_session_are_never_trusted(tmp_path: Path) -> None:
    recorder = firewall(("2026-10-05T09:01:00+00:00", fetch()))
    lines = recorder.splitlines(keepends=True)
    lines[1] = lines[1].replace("pypi.org", "pypi.org.evil.example")  # edited after signing
    frame = evidence(tmp_path, [], ["".join(lines)]).receipts
    egress = decisions(frame)
    assert len(egress) == 1
    assert not egress["trusted"].any()
    assert egress["signer"].isna().all()  # its signature does not verify: signed by nobody


def test_a_broken_recorder_session_stays_in_scope_unless_authentic_receipts_place_it_out(
    tmp_path: Path,
) -> None:
    september = firewall(
        ("2026-09-20T09:00:00+00:00", fetch()),
        ("2026-09-20T09:01:00+00:00", fetch()),
        seed=2,
    )
    lines = september.splitlines(keepends=True)
    lines[2] = lines[2].replace("pypi.org", "pypi.example")  # the second decision, edited
    placed = evidence(tmp_path, [], ["".join(lines)])
    # the first decision still verifies on its own and says September: out of October
    assert not placed.chains["in_scope"].any()
    # forged times cannot move an October session out: no record is authentic any more
    october = firewall(("2026-10-20T09:00:00+00:00", fetch()), seed=3)
    kept = evidence(tmp_path, [], [october.replace("2026-10-20T", "2026-08-20T")])
    assert kept.chains["in_scope"].all()
    assert not kept.chains["authentic"].any()
    assert len(kept.egress) == 1  # listed (untrusted), never left out


def test_the_v2_chain_of_a_session_follows_its_session_into_scope(tmp_path: Path) -> None:
    from .pipelock_support import build_world

    world = build_world(seed=3, actor="coder")
    inside = evidence(tmp_path, [], [world.text])
    kinds = dict(zip(inside.chains["source_kind"], inside.chains["in_scope"], strict=True))
    assert kinds == {"pipelock": True, "pipelock_evidence": True}
    outside = evidence(
        tmp_path, [], [world.text], period=Period(since=datetime(2027, 1, 1, tzinfo=UTC))
    )
    assert not outside.chains["in_scope"].any()


# -- correlation --------------------------------------------------------------------------


def _joined(frame: pd.DataFrame) -> list[tuple[str | None, str]]:
    egress = decisions(frame)
    return list(zip(egress["agent_session"], egress["correlation"].astype(str), strict=True))


def test_a_decision_joins_by_session_id_where_both_sides_carry_one(tmp_path: Path) -> None:
    one = agent_session("c1", start="2026-10-05T09:00:00+00:00", session_id="s-1")
    two = agent_session("c2", start="2026-10-05T09:00:00+00:00", session_id="s-2")  # same time
    recorder = firewall(
        ("2026-10-05T09:02:00+00:00", fetch(session_id="s-2")),
        ("2026-10-05T09:03:00+00:00", fetch(session_id="s-9")),  # no such session
    )
    frame = evidence(tmp_path, [one, two], [recorder]).receipts
    assert _joined(frame) == [("s-2", "session_id"), (None, "no_session")]


def test_a_decision_joins_by_time_the_one_session_that_spans_it(tmp_path: Path) -> None:
    morning = agent_session("c1", start="2026-10-05T09:00:00+00:00")
    noon = agent_session("c2", start="2026-10-05T12:00:00+00:00")
    recorder = firewall(
        ("2026-10-05T09:05:00+00:00", fetch()),
        ("2026-10-05T12:10:30+00:00", fetch()),  # 30 s after noon's last receipt: tolerated
        ("2026-10-05T15:00:00+00:00", fetch()),  # nobody's
    )
    frame = evidence(tmp_path, [morning, noon], [recorder]).receipts
    assert _joined(frame) == [("c1", "time"), ("c2", "time"), (None, "no_session")]
    egress = decisions(frame)
    assert egress["issuer"].astype(str).tolist() == [AGENT] * 3  # the actor is mapped anyway
    assert egress["principal"].astype(str).tolist() == [ALICE] * 3


def test_an_agent_counts_the_decisions_joined_to_its_sessions_only(tmp_path: Path) -> None:
    from reporting.report.agents import agent_section
    from reporting.report.build import _egress

    morning = agent_session("c1", start="2026-10-05T09:00:00+00:00")
    recorder = firewall(
        ("2026-10-05T09:05:00+00:00", fetch()),
        ("2026-10-05T09:06:00+00:00", fetch(verdict="block")),
        ("2026-10-05T15:00:00+00:00", fetch()),  # the actor is mapped, no session spans it
    )
    built = evidence(tmp_path, [morning], [recorder])
    [row] = agent_section(built, [], [], {}).rows
    assert (row.agent, row.egress, row.egress_unverified) == (AGENT, {"allow": 1, "block": 1}, 0)
    section = _egress(built)
    assert [(r.label, r.count) for r in section.by_agent] == [(AGENT, 2)]
    assert section.uncorrelated_total == 1


def test_overlapping_sessions_are_told_apart_by_principal_or_not_joined(tmp_path: Path) -> None:
    alice = agent_session("c1", start="2026-10-05T09:00:00+00:00", principal=ALICE)
    bob = agent_session("c2", start="2026-10-05T09:00:00+00:00", principal=BOB)
    by_bob = firewall(("2026-10-05T09:05:00+00:00", fetch()), principal="bob@example.com")
    frame = evidence(tmp_path, [alice, bob], [by_bob]).receipts
    assert _joined(frame) == [("c2", "time")]
    unmapped = CorrelationRules(actors={"coder": AGENT})  # principals not mapped
    frame = evidence(tmp_path, [alice, bob], [by_bob], rules=unmapped).receipts
    assert _joined(frame) == [(None, "ambiguous")]


def test_nothing_is_dropped_without_a_mapping(tmp_path: Path) -> None:
    chain = agent_session("c1", start="2026-10-05T09:00:00+00:00")
    recorder = firewall(
        ("2026-10-05T09:01:00+00:00", fetch()),
        ("2026-10-05T09:02:00+00:00", fetch()),
        actor="someone-else",
    )
    for rules in (RULES, None):
        built = evidence(tmp_path, [chain], [recorder], rules=rules)
        assert _joined(built.receipts) == [(None, "actor_not_mapped")] * 2
        assert len(built.egress) == 2  # in scope, uncorrelated
        assert built.egress["issuer"].isna().all()
    control = built.receipts[built.receipts["channel"] == "control"]
    assert set(control["correlation"].astype(str)) == {"recorder_control"}


def test_the_correlation_rules_are_recorded_and_replayed() -> None:
    from reporting.audit.rederive import RederiveInputs, replay_settings
    from reporting.settings import RunSettings, VerifyRequest, settings_record

    from .conftest import REPO

    trust = REPO / "samples" / "trust.yaml"
    settings = RunSettings(verify=VerifyRequest(sources=("x",), keys=trust), correlation=RULES)
    record = settings_record(settings, [])
    assert record["correlation"] == RULES.to_json()
    replayed = replay_settings(record, RederiveInputs(sources=("x",), keys=trust), REPO)
    assert replayed.correlation == RULES
    without = settings_record(RunSettings(verify=VerifyRequest(sources=("x",), keys=trust)), [])
    assert without["correlation"] is None
    assert (
        replay_settings(without, RederiveInputs(sources=("x",), keys=trust), REPO).correlation
        is None
    )


@pytest.mark.parametrize(
    "section",
    [
        "correlation: {actors: {coder: 7}}",
        "correlation: {actors: {coder: did:agent:x}, tolerance_seconds: -1}",
        "correlation: {actor: {coder: did:agent:x}}",
    ],
)
def test_a_bad_correlation_section_is_a_config_error_with_its_line(
    tmp_path: Path, section: str
) -> None:
    from reporting.config import load_config
    from reporting.errors import InputError

    path = tmp_path / "report.yaml"
    path.write_text(f"schema: agent-evidence/config/v1\n{section}\n")
    with pytest.raises(InputError) as raised:
        load_config(path)
    assert [(d.code, d.line) for d in raised.value.diagnostics()] == [("CONFIG", 2)]
