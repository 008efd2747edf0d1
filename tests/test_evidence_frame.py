"""The evidence frame: one row per receipt, UTC times, period scope, and who is trusted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reporting.errors import UsageError
from reporting.evidence.frame import Period
from reporting.periods import parse_period
from reporting.receipts.external import Grant

from .factory import ChainBuilder, Key
from .helpers import evidence_from

KEY = Key.from_seed("frame")


def test_rows_columns_and_types(tmp_path: Path) -> None:
    chain = ChainBuilder(KEY, chain_id="c1")
    chain.add("filesystem.file.read", "low", target={"system": "fs", "resource": "/tmp/a"})
    chain.add(
        "financial.payment.initiate",
        "critical",
        authorization={
            "scopes": ["pay:*"],
            "granted_at": "2026-10-01T09:00:00Z",
            "grant_ref": "g-1",
        },
    )
    evidence = evidence_from(tmp_path, [chain.receipts], KEY.raw)
    frame = evidence.receipts
    assert len(frame) == 2
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert str(frame["action_type"].dtype) == "category"
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["domain"], first["target_system"], first["taxonomy_risk"]) == (
        "filesystem",
        "fs",
        "low",
    )
    assert (second["grant_ref"], second["scopes"], second["risk_rank"]) == ("g-1", "pay:*", 3)
    assert bool(frame["trusted"].all())
    assert list(evidence.chains["chain_id"]) == ["c1"]


def test_period_scope_keeps_rows_outside_but_marks_them(tmp_path: Path) -> None:
    chain = ChainBuilder(KEY, chain_id="c1")
    chain.add(timestamp="2026-09-30T23:59:59.000Z")
    chain.add(timestamp="2026-10-01T00:00:00.000Z")
    chain.add(timestamp="2026-11-01T00:00:00.000Z")
    evidence = evidence_from(
        tmp_path, [chain.receipts], KEY.raw, period=parse_period("2026-10", None, None)
    )
    assert list(evidence.receipts["in_scope"]) == [False, True, False]
    assert len(evidence.in_scope) == 1


def test_tampered_chain_rows_are_untrusted(tmp_path: Path) -> None:
    good = ChainBuilder(KEY, chain_id="good").extend(2).receipts
    bad = ChainBuilder(KEY, chain_id="bad").extend(3).receipts
    bad[1]["credentialSubject"]["action"]["type"] = "filesystem.file.delete"
    evidence = evidence_from(tmp_path, [good, bad], KEY.raw)
    trusted = evidence.receipts.groupby("chain_id", observed=True)["trusted"].agg(list).to_dict()
    assert trusted == {"bad": [False, False, False], "good": [True, True]}
    rows = evidence.receipts[evidence.receipts["chain_id"] == "bad"].sort_values("sequence")
    assert list(rows["verified"]) == [True, False, False]


def test_grounded_principal_failure_does_not_make_rows_untrusted(tmp_path: Path) -> None:
    chain = ChainBuilder(KEY, chain_id="c1")
    chain.add(
        "financial.payment.initiate",
        "critical",
        authorization={"scopes": ["pay:*"], "granted_at": "2026-10-01T09:00:00Z"},
    )
    evidence = evidence_from(tmp_path, [chain.receipts], KEY.raw, grants={"g": Grant(subject="x")})
    assert not evidence.verification.chains[0].valid
    assert evidence.verification.chains[0].authentic
    assert bool(evidence.receipts["trusted"].iloc[0])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("2026-10", None, None),
            (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
        ),
        (
            ("2026-12", None, None),
            (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ),
        ((None, "2026-10-05", None), (datetime(2026, 10, 5, tzinfo=UTC), None)),
        ((None, None, "2026-10-05T12:00:00+02:00"), (None, datetime(2026, 10, 5, 10, tzinfo=UTC))),
    ],
)
def test_periods(args: tuple, expected: tuple) -> None:
    period = parse_period(*args)
    assert (period.since, period.until) == expected


@pytest.mark.parametrize(
    "args",
    [
        ("2026-13", None, None),
        ("2026-10", "2026-10-01", None),
        (None, "yesterday", None),
        (None, "2026-10-05", "2026-10-01"),
    ],
)
def test_bad_periods_are_usage_errors(args: tuple) -> None:
    with pytest.raises(UsageError):
        parse_period(*args)


def test_period_label() -> None:
    assert Period().label() == "the beginning to now"


# -- one agent's view (issue 16) --------------------------------------------------------------


def _seen(evidence: object) -> tuple[set[str], set[str]]:
    """(receipt ids in scope, chain ids in scope)."""
    scope = evidence.in_scope  # type: ignore[attr-defined]
    chains = evidence.chains_in_scope  # type: ignore[attr-defined]
    return set(scope["receipt_id"]), set(chains["chain_id"].astype(str))


def test_one_agents_evidence_is_what_an_issuer_report_on_it_holds(tmp_path: Path) -> None:
    """`Evidence.for_agent` gives the scope of `--issuer AGENT`: its own chains, a broken
    chain whose receipts place it with another agent left out, and a broken chain nothing
    can place kept (a forged agent never moves broken evidence out of a report)."""
    from reporting.scope import Scope

    alice = ChainBuilder(KEY, chain_id="alice", issuer="did:agent:alice").extend(3)
    bob = ChainBuilder(KEY, chain_id="bob", issuer="did:agent:bob").extend(2)
    placed = ChainBuilder(KEY, chain_id="bob-broken", issuer="did:agent:bob").extend(3)
    placed.receipts[1]["issuanceDate"] = "1999-01-01T00:00:00.000Z"  # its own signature breaks
    lost = ChainBuilder(KEY, chain_id="lost", issuer="did:agent:bob").extend(2)
    for receipt in lost.receipts:  # no receipt of it verifies: nothing places it
        receipt["issuanceDate"] = "1999-01-01T00:00:00.000Z"
    chains = [alice.receipts, bob.receipts, placed.receipts, lost.receipts]
    everything = evidence_from(tmp_path, chains, KEY.raw)
    for agent in ("did:agent:alice", "did:agent:bob"):
        scope = Scope(issuers=(agent,))
        narrowed = evidence_from(tmp_path, chains, KEY.raw, scope=scope)
        assert _seen(everything.for_agent(agent)) == _seen(narrowed)
    receipts, seen = _seen(everything.for_agent("did:agent:alice"))
    assert seen == {"alice", "lost"}
    assert {r["id"] for r in alice.receipts} <= receipts
    assert everything.agents()[0] == "did:agent:bob"  # most receipts first
