"""Unverified records with hostile field values never crash a check (issue 13, section 6).

The collector stores records it could not verify, so the evidence frame holds rows whose
`issuer.id` is a number, an object, a list, a bool or null, whose principal or action type
is missing, whose timestamp is absent or not a time. Every check must still return a
verdict (such rows are untrusted, so none of them is evidence of a pass).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reporting.controls.checks import REGISTRY, Status, run_check

from .factory import ChainBuilder, Key
from .helpers import evidence_from

KEY = Key.from_seed("hostile-rows")
REQUIRED = {"scope_matches_action": {"rules": [{"actions": ["*"], "scopes": ["*"]}]}}
Mutation = Callable[[dict[str, Any]], None]


def setting(*path: str, value: Any) -> Mutation:
    def change(doc: dict[str, Any]) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return change


def removing(*path: str) -> Mutation:
    def change(doc: dict[str, Any]) -> None:
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]

    return change


HOSTILE: dict[str, Mutation] = {
    "issuer id is a number": setting("issuer", "id", value=1447612329457729537),
    "issuer id is an object": setting("issuer", "id", value={"id": "did:agent:x"}),
    "issuer id is a list": setting("issuer", "id", value=["did:agent:x"]),
    "issuer id is a bool": setting("issuer", "id", value=True),
    "issuer id is null": setting("issuer", "id", value=None),
    "principal is null": setting("credentialSubject", "principal", value=None),
    "principal id is a number": setting("credentialSubject", "principal", "id", value=7),
    "action type is null": setting("credentialSubject", "action", "type", value=None),
    "timestamp is missing": removing("credentialSubject", "action", "timestamp"),
    "timestamp is not a time": setting("credentialSubject", "action", "timestamp", value="x"),
    "risk level is a number": setting("credentialSubject", "action", "risk_level", value=3),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_check_gives_a_verdict_on_hostile_rows(tmp_path: Path, case: str) -> None:
    receipts = ChainBuilder(KEY, chain_id="hostile").extend(3, risk="critical").receipts
    for doc in receipts:
        HOSTILE[case](doc)
    evidence = evidence_from(tmp_path, [receipts], KEY.raw)
    for name in sorted(REGISTRY):
        result = run_check(name, evidence, REQUIRED.get(name, {}))
        assert result.status is not Status.PASS or result.population == 0, name


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_row_beside_good_chains_does_not_crash(tmp_path: Path, case: str) -> None:
    hostile = ChainBuilder(KEY, chain_id="hostile").extend(3).receipts
    HOSTILE[case](hostile[1])
    good = ChainBuilder(KEY, chain_id="good").extend(2).receipts
    evidence = evidence_from(tmp_path, [hostile, good], KEY.raw)
    for name in sorted(REGISTRY):
        assert run_check(name, evidence, REQUIRED.get(name, {})).check == name


@pytest.mark.parametrize("issuer_id", [7, {"id": "x"}, ["x"], True, None])
def test_report_on_a_store_of_records_with_a_hostile_issuer_id_exits_cleanly(
    tmp_path: Path, issuer_id: Any
) -> None:
    """Today: `burst_detection` raised on a NaN count, exit 3 for the whole run."""
    from reporting.cli import main

    receipts = ChainBuilder(KEY, chain_id="hostile").extend(3).receipts
    for doc in receipts:
        doc["issuer"]["id"] = issuer_id
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(doc) + "\n" for doc in receipts))
    key = KEY.write_pem(tmp_path / "key.pem")
    argv = ["report", str(source), "--keys", str(key), "--out", str(tmp_path / "out")]
    assert main([*argv, "--format", "json", "--period", "2026-10", "--quiet"]) == 1
