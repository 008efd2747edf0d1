"""The report model's selections and counts, against their plain definitions.

`_earliest` sorts only the rows that can come first, `_counts`/`_per_day` count
before turning values into text, `_RowsById` hashes the ids once, and the checks' `_ids`
keeps the first ids without sorting them all: each must give exactly what sorting,
converting or `isin` over everything would.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporting.controls.checks import rules
from reporting.report.build import (
    _counts,
    _earliest,
    _per_day,
    _RowsById,
    _session_keys,
    _sessions,
    _timeline_sessions,
)

from .helpers import examples

TIMES = [
    pd.Timestamp("2026-10-01T10:00:00Z"),
    pd.Timestamp("2026-10-01T23:59:59Z"),
    pd.Timestamp("2026-10-02T00:00:00Z"),
    pd.NaT,
]

rows = st.lists(
    st.tuples(
        st.sampled_from(TIMES),
        st.sampled_from(["chain-a", "chain-b"]),
        st.one_of(st.none(), st.integers(1, 3)),
        st.sampled_from(["low", "high", "critical", None, "nan"]),
    ),
    max_size=40,
)


def _frame(items: list[tuple[object, str, int | None, str | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(pd.Series([i[0] for i in items], dtype=object), utc=True),
            "chain_id": pd.Series([i[1] for i in items], dtype="category"),
            "sequence": pd.array([i[2] for i in items], dtype="Int64"),
            "risk_level": pd.Series([i[3] for i in items], dtype="category"),
            "row": range(len(items)),
        }
    )
    return frame.iloc[::-1]  # an index out of order, as after filtering


@settings(max_examples=examples(300))
@given(rows, st.integers(0, 45))
def test_earliest_is_the_head_of_the_full_stable_sort(items, limit) -> None:
    frame = _frame(items)
    expected = frame.sort_values(["timestamp", "chain_id", "sequence"], kind="stable")
    assert _earliest(frame, limit)["row"].tolist() == expected.head(limit)["row"].tolist()


@settings(max_examples=examples(300))
@given(rows)
def test_counts_and_per_day_match_counting_the_text(items) -> None:
    frame = _frame(items).sort_values("row")
    risks = [i[3] for i in items]
    counted = Counter(r for r in risks if r is not None)
    expected = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    assert [(c.label, c.count) for c in _counts(frame["risk_level"])] == expected
    days: dict[str, list[str | None]] = {}
    for moment, *_, risk in items:
        if moment is not pd.NaT:
            days.setdefault(moment.strftime("%Y-%m-%d"), []).append(risk)
    expected_days = [
        (day, len(day_risks), dict(sorted(Counter(r for r in day_risks if r).items())))
        for day, day_risks in sorted(days.items())
    ]
    assert [(c.label, c.count, c.detail) for c in _per_day(frame)] == expected_days


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_earliest_with_fewer_timed_rows_than_the_limit_keeps_the_untimed_last(limit) -> None:
    frame = _frame([(pd.NaT, "chain-a", 1, "low"), (TIMES[0], "chain-b", 2, "low")])
    assert _earliest(frame, limit)["row"].tolist() == [1, 0][:limit]


def test_a_session_with_an_untimed_receipt_ends_unknown_and_lists_it_last() -> None:
    times = [TIMES[1], pd.NaT, TIMES[0]]
    scope = pd.DataFrame(
        {
            "session_id": ["s1", "s1", "s1"],
            "chain_id": pd.Series(["chain-a"] * 3, dtype="category"),
            "delegation_parent_chain": [None, None, None],
            "risk_rank": pd.array([1, 3, 0], dtype="Int64"),
            "timestamp": pd.to_datetime(pd.Series(times, dtype=object), utc=True),
            "sequence": pd.array([2, 3, 1], dtype="Int64"),
            "principal": [None, "did:user:b", "did:user:a"],
            "issuer": ["did:agent:x"] * 3,
            "outcome": ["success", "failure", "success"],
            "receipt_id": ["r2", "r3", "r1"],
            "action_type": ["t"] * 3,
            "risk_level": ["medium", "critical", "low"],
        }
    )
    (session,) = _sessions(SimpleNamespace(in_scope=scope, timeline=scope))
    assert [e.receipt_id for e in session.events] == ["r1", "r2", "r3"]
    assert session.start == TIMES[0].isoformat()
    assert session.end is None  # one receipt has no time: the end is not known
    assert session.principal == "did:user:a"  # the earliest receipt's
    assert (session.receipts, session.high_risk, session.failures) == (3, 1, 1)
    assert session.max_risk == "critical"


IDS = ["urn:receipt:a", "urn:receipt:b", "urn:receipt:c", "urn:receipt:d"]


@pytest.mark.parametrize("dtype", ["str", "string", "object"])
@settings(max_examples=examples(200))
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(IDS)), max_size=30),  # repeats allowed
    st.lists(st.sampled_from([*IDS, "urn:receipt:absent"]), max_size=6),
)
def test_rows_by_id_are_the_isin_selection_in_frame_order(dtype, ids, wanted) -> None:
    frame = pd.DataFrame({"receipt_id": pd.Series(ids, dtype=dtype), "row": range(len(ids))})
    frame = frame.iloc[::-1]
    expected = frame[frame["receipt_id"].isin(set(wanted))]
    selected = _RowsById(frame).rows(set(wanted))
    assert selected["row"].tolist() == expected["row"].tolist()
    assert selected.index.tolist() == expected.index.tolist()


@pytest.mark.parametrize("dtype", ["str", "category", "object"])
@settings(max_examples=examples(200))
@given(st.lists(st.one_of(st.none(), st.sampled_from(IDS)), max_size=30), st.integers(0, 5))
def test_listed_ids_are_the_head_of_the_sorted_distinct_ids(dtype, values, limit) -> None:
    series = pd.Series(values, dtype=dtype)
    expected = tuple(sorted(str(v) for v in series.dropna().unique()))[:limit]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules, "MAX_LISTED", limit)
        assert rules.ids(series) == expected


def _plain_session_keys(scope: pd.DataFrame) -> list[str]:
    """The definition, row by row: own session (else chain), then up the delegation
    parents (each chain's last row names its session and parent), stopping at a cycle."""
    chain_ids = [str(c) for c in scope["chain_id"]]
    own = [
        s if isinstance(s, str) else c for s, c in zip(scope["session_id"], chain_ids, strict=True)
    ]
    by_chain = dict(zip(chain_ids, own, strict=True))
    last_parent = dict(zip(chain_ids, scope["delegation_parent_chain"], strict=True))
    parent = {c: p for c, p in last_parent.items() if isinstance(p, str)}
    keys = []
    for start, own_key in zip(chain_ids, own, strict=True):
        chain, key, seen = start, own_key, set()
        while chain in parent and chain not in seen:
            seen.add(chain)
            chain = parent[chain]
            key = by_chain.get(chain, key)
        keys.append(key)
    return keys


CHAINS = ["c1", "c2", "c3", "c4"]


@settings(max_examples=examples(300))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(CHAINS),
            st.one_of(st.none(), st.sampled_from(["s1", "s2"])),
            st.one_of(st.none(), st.sampled_from([*CHAINS, "outside"])),  # cycles too
        ),
        max_size=30,
    )
)
def test_session_keys_follow_their_definition(items) -> None:
    scope = pd.DataFrame(
        {
            "chain_id": pd.Series([i[0] for i in items], dtype="category"),
            "session_id": pd.Series([i[1] for i in items], dtype="str"),
            "delegation_parent_chain": pd.Series([i[2] for i in items], dtype="str"),
        }
    ).iloc[::-1]
    keys = _session_keys(scope)
    assert keys.index.tolist() == scope.index.tolist()
    assert keys.tolist() == _plain_session_keys(scope)


def test_a_decision_joined_to_a_sub_agents_session_shows_where_its_receipts_do() -> None:
    """A delegated chain's receipts show in the parent's session; a firewall decision
    correlated to the sub-agent's own session shows there too: one timeline, not two."""
    rows = [  # (kind, chain, session id, parent chain, joined agent session)
        ("agent_receipts", "parent", "s-parent", None, None),
        ("agent_receipts", "child", "s-child", "parent", None),
        ("agent_receipts", "alone", None, None, None),
        ("pipelock", "pipelock:proxy@1", None, None, "s-child"),
        ("pipelock", "pipelock:proxy@1", None, None, "alone"),
        ("pipelock", "pipelock:proxy@1", None, None, None),  # uncorrelated
    ]
    timeline = pd.DataFrame(
        rows,
        columns=[
            "source_kind",
            "chain_id",
            "session_id",
            "delegation_parent_chain",
            "agent_session",
        ],
    )
    keys = _timeline_sessions(timeline).tolist()
    assert keys == ["s-parent", "s-parent", "alone", "s-parent", "alone", None]


def test_high_risk_actions_are_listed_by_risk_then_time(sample_report) -> None:
    """Issue 16: "High-risk actions, highest risk first" is sorted by risk, then time."""
    from reporting.evidence.frame import RISK_RANK

    listed = sample_report.model.activity.high_risk
    keys = [(-RISK_RANK[r.risk_level or "low"], r.timestamp or "") for r in listed]
    assert keys == sorted(keys)
    assert len(listed) == 50  # 308 critical actions: the list holds the earliest of them
    assert {r.risk_level for r in listed} == {"critical"}
