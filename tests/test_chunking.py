"""Long chains read in chunks give exactly the verdicts of one sequential walk.

Every scenario is verified whole and cut into chunks of 1, 2, 3 and 5 receipts, in one
process and in a pool, and with a head start (runs sent to the pool while the file is
spooled, `headstart.py`); the results (every chain, receipt, problem and message) and
the evidence rows must be identical. Chunks that start from a state a worker could
not know (a rotation to a key outside the trust store, a break at the boundary, a
receipt after a terminal one) are walked again by the parent; the rest are not. Runs
sent early whose guess fails (a record arriving inside a run already sent, a key only
the verifier reads) are verified from the spool instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reporting.evidence.frame import build_evidence, extract_rows
from reporting.receipts import jobs, spool
from reporting.receipts.external import Witness
from reporting.receipts.headstart import EarlyRun, HeadStart
from reporting.receipts.keys import TrustStore
from reporting.receipts.results import Code, VerificationResult
from reporting.receipts.rules import ChainWalk
from reporting.receipts.sources import spool_sources
from reporting.receipts.verify import VerifyOptions, verify_spool

from .factory import ChainBuilder, Key, resign, rotation_fields
from .helpers import trust

KEY = Key.from_seed("chunking-main")
ROTATED = Key.from_seed("chunking-rotated")
ATTACKER = Key.from_seed("chunking-attacker")


def _builder(chain_id: str, key: Key = KEY) -> ChainBuilder:
    return ChainBuilder(key, chain_id=chain_id)


def _rotating(chain_id: str) -> list[dict[str, Any]]:
    builder = _builder(chain_id).extend(3)
    builder.add("agent.key.rotate", "high", key_rotation=rotation_fields(KEY, ROTATED))
    return builder.extend(6, key=ROTATED).receipts


def _tampered(chain_id: str) -> list[dict[str, Any]]:
    receipts = _builder(chain_id).extend(9).receipts
    receipts[4]["credentialSubject"]["action"]["risk_level"] = "low"
    receipts[4]["credentialSubject"]["outcome"]["status"] = "failure"
    return receipts


def _after_terminal(chain_id: str) -> list[dict[str, Any]]:
    builder = _builder(chain_id).extend(2)
    builder.add(terminal=True)
    return builder.extend(5).receipts


def _forked(chain_id: str) -> list[dict[str, Any]]:
    receipts = _builder(chain_id).extend(8).receipts
    fork = resign(
        {**receipts[3], "id": "urn:receipt:00000000-0000-4000-8000-00000000f0f0"}, ATTACKER
    )
    return [*receipts[:5], dict(receipts[2]), fork, *receipts[5:]]


def _gap_and_idempotency(chain_id: str) -> list[dict[str, Any]]:
    builder = _builder(chain_id)
    for number in range(9):
        builder.add(idempotency_key=f"op-{number % 3}")
    return builder.receipts[:4] + builder.receipts[5:]


def _string_sequence(chain_id: str) -> list[dict[str, Any]]:
    receipts = _builder(chain_id).extend(6).receipts
    receipts[2]["credentialSubject"]["chain"]["sequence"] = "3"
    receipts[2] = resign(receipts[2], KEY)
    return receipts


def _delegating(parent: list[dict[str, Any]], chain_id: str) -> list[dict[str, Any]]:
    builder = _builder(chain_id).extend(5)
    delegation = {
        "parent_chain_id": parent[0]["credentialSubject"]["chain"]["chain_id"],
        "parent_receipt_id": parent[1]["id"],
        "delegator": {"id": parent[0]["issuer"]["id"]},
    }
    builder.add(delegation=delegation)
    return builder.extend(2).receipts


def _write(path: Path, chains: list[list[Any]]) -> Path:
    lines = [
        item if isinstance(item, str) else json.dumps(item) for chain in chains for item in chain
    ]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _duplicate_member(receipt: dict[str, Any]) -> str:
    """Valid JSON to SQLite (which groups it in its chain), ambiguous to our parser."""
    text = json.dumps(receipt)
    return text.replace('"type":', '"type": "x", "type":', 1)


def _escaped_chain_id(receipt: dict[str, Any]) -> str:
    """The same signed JSON, its chain id's name escaped: SQLite reads no chain id in it
    (the spool groups it when finished, by the verifier's own reading)."""
    return json.dumps(receipt).replace('"chain_id":', '"\\u0063hain_id":', 1)


def _interleaved(*chains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [receipt for group in zip(*chains, strict=True) for receipt in group]


def _scenarios() -> dict[str, tuple[list[list[Any]], dict[str, Any]]]:
    plain = _builder("plain").extend(11).receipts
    witnessed = _builder("witnessed").extend(7).receipts
    malformed = _builder("malformed").extend(7).receipts
    untrusted = _builder("untrusted", ATTACKER).extend(6).receipts
    late = _builder("late").extend(9).receipts
    escaped = _builder("escaped").extend(9).receipts
    return {
        "arrivals out of sequence order": ([[*late[5:], *late[:5]]], {}),
        "a record only the verifier groups": (
            [[*escaped[:2], _escaped_chain_id(escaped[2]), *escaped[3:]]],
            {},
        ),
        "two chains read side by side": (
            [
                _interleaved(
                    _builder("left").extend(8).receipts, _builder("right").extend(8).receipts
                )
            ],
            {},
        ),
        "valid and delegating": ([plain, _delegating(plain, "child")], {}),
        "rotation to a key outside the trust store": ([_rotating("rotating")], {}),
        "rotation to a trusted key": ([_rotating("rotating")], {"extra_keys": [ROTATED]}),
        "tampered receipt": ([_tampered("tampered")], {}),
        "receipts after a terminal one": ([_after_terminal("terminal")], {}),
        "duplicates and a fork": ([_forked("forked")], {}),
        "gap and idempotency keys": ([_gap_and_idempotency("gappy")], {}),
        "a sequence that is a string": ([_string_sequence("stringy")], {}),
        "a record SQLite reads but we reject": (
            [[*malformed[:3], _duplicate_member(malformed[3]), *malformed[4:]]],
            {},
        ),
        "truncated witnessed chain": (
            [witnessed[:5]],
            {"witnesses": {"witnessed": Witness(length=7, final_hash="sha256:" + "1" * 64)}},
        ),
        "untrusted signer": ([untrusted], {}),
        "require terminal": ([plain], {"require_terminal": True}),
    }


def _verify(
    path: Path,
    store: TrustStore,
    options: dict[str, Any],
    *,
    chunk_size: int,
    workers: int,
    early: int | None = None,
) -> tuple[VerificationResult, list[Any]]:
    """Verified in chunks of `chunk_size`; with `early`, runs of that many records are
    sent to a pool of `workers` while the file is spooled (a head start)."""
    verify_options = VerifyOptions(trust=store, **options)
    head_start = None
    if early is not None:
        head_start = HeadStart(
            verify_options, workers=workers, extract=extract_rows, chunk=early, min_bytes=0
        )
    with spool_sources([str(path)], head_start=head_start) as spooled:
        return verify_spool(
            spooled,
            options=verify_options,
            workers=workers,
            extract=extract_rows,
            chunk_size=chunk_size,
            head_start=head_start,
        )


def _snapshot(result: VerificationResult, extracts: list[Any]) -> Any:
    """Everything a report is built from: the verdicts and the evidence frame's rows.

    Rows are compared in the frame, after the verdicts added once the whole chain is
    known (the witness's, on a chunked chain's last receipt) have been applied.
    """
    frame = build_evidence(result, extracts).receipts
    return (
        [chain.to_json() for chain in result.chains],
        [problem.to_json() for problem in result.input_problems],
        frame.astype(object).where(frame.notna(), None).to_dict("records"),
    )


SCENARIOS = _scenarios()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_chunked_verdicts_equal_the_whole_chain_walk(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chains, options = SCENARIOS[name]
    options = dict(options)
    extra = options.pop("extra_keys", [])
    store = trust(KEY.raw, *(k.raw for k in extra))
    path = _write(tmp_path / "chains.jsonl", chains)
    whole = _snapshot(*_verify(path, store, options, chunk_size=10_000, workers=1))
    assert whole[0], "the scenario produced no chain"
    for size in (1, 2, 3, 5):
        assert _snapshot(*_verify(path, store, options, chunk_size=size, workers=1)) == whole, size
    assert _snapshot(*_verify(path, store, options, chunk_size=2, workers=2)) == whole
    monkeypatch.setattr(spool, "WATCH_BATCH", 2)  # the head start sees the file two by two
    for early in (1, 3):
        snapshot = _snapshot(*_verify(path, store, options, chunk_size=3, workers=2, early=early))
        assert snapshot == whole, early


# Scenarios whose records all parse, each run's in sequence order: walked as they are read.
IN_ORDER = (
    "rotation to a trusted key",
    "tampered receipt",
    "untrusted signer",
    "valid and delegating",
)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_receipts_walked_as_read_give_the_verdicts_of_the_ordered_walk(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ChainWalk.run_as_read` (records checked as they are parsed, the common case) says
    exactly what parsing every record, ordering and walking them says."""
    chains, options = SCENARIOS[name]
    options = dict(options)
    store = trust(KEY.raw, *(k.raw for k in options.pop("extra_keys", [])))
    path = _write(tmp_path / "chains.jsonl", chains)
    taken: list[bool] = []
    as_read = ChainWalk.run_as_read

    def recording(walk: ChainWalk, *args: Any) -> bool:
        taken.append(as_read(walk, *args))
        return taken[-1]

    monkeypatch.setattr(ChainWalk, "run_as_read", recording)
    for size in (3, 10_000):
        found = _snapshot(*_verify(path, store, options, chunk_size=size, workers=1))
        with monkeypatch.context() as ordered_only:
            ordered_only.setattr(ChainWalk, "run_as_read", lambda *args: False)
            assert _snapshot(*_verify(path, store, options, chunk_size=size, workers=1)) == found
    assert (name not in IN_ORDER) or all(taken), taken


def _kept_early(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, list[EarlyRun]]]:
    """Record what each head start keeps of the runs it sent."""
    kept: list[dict[str, list[EarlyRun]]] = []
    original = HeadStart.early_runs

    def recording(self: HeadStart, spooled: Any) -> dict[str, list[EarlyRun]]:
        kept.append(original(self, spooled))
        return kept[-1]

    monkeypatch.setattr(HeadStart, "early_runs", recording)
    monkeypatch.setattr(spool, "WATCH_BATCH", 2)
    return kept


def test_runs_sent_early_are_kept_when_their_guess_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _kept_early(monkeypatch)
    walked: list[int] = []
    original = jobs._run_chunk
    monkeypatch.setattr(
        jobs,
        "_run_chunk",
        lambda c, job, start: walked.append(job.number) or original(c, job, start),
    )
    path = _write(tmp_path / "plain.jsonl", [_builder("plain").extend(12).receipts])
    result, _ = _verify(path, trust(KEY.raw), {}, chunk_size=3, workers=2, early=3)
    assert result.valid
    assert result.chains[0].length == 12
    [runs] = kept
    assert len(runs["plain"]) >= 3  # most of the chain was verified while it was spooled
    assert walked == []  # nothing sent early was walked again in this process


@pytest.mark.parametrize(
    "name", ["arrivals out of sequence order", "a record only the verifier groups"]
)
def test_runs_sent_early_are_dropped_when_their_guess_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    kept = _kept_early(monkeypatch)
    chains, _ = SCENARIOS[name]
    path = _write(tmp_path / "chains.jsonl", chains)
    _verify(path, trust(KEY.raw), {}, chunk_size=3, workers=2, early=2)
    assert kept == [{}]


def test_a_delegation_parent_named_after_its_run_was_sent_is_not_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child names its parent receipt after the parent's run went to a worker that
    could not know it was a parent: that run is verified again from the spool."""
    kept = _kept_early(monkeypatch)
    parent = _builder("parent").extend(11).receipts
    path = _write(tmp_path / "chains.jsonl", [parent, _delegating(parent, "child")])
    result, _ = _verify(path, trust(KEY.raw), {}, chunk_size=3, workers=2, early=2)
    assert result.valid  # the delegation verifies: the parent's principal was known
    assert "parent" not in kept[0]


def test_records_held_for_chains_read_side_by_side_stay_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chains = [_builder(f"side-{n}").extend(6).receipts for n in range(6)]
    path = _write(tmp_path / "many.jsonl", [_interleaved(*chains)])
    held: list[int] = []
    original = HeadStart.spooled

    def watching(self: HeadStart, batch: Any) -> None:
        original(self, batch)
        held.append(self._held)

    monkeypatch.setattr(HeadStart, "spooled", watching)
    monkeypatch.setattr(spool, "WATCH_BATCH", 2)
    whole = _snapshot(*_verify(path, trust(KEY.raw), {}, chunk_size=3, workers=1))
    early = _snapshot(*_verify(path, trust(KEY.raw), {}, chunk_size=3, workers=2, early=3))
    assert early == whole
    assert max(held) <= 4 * 3  # MAX_HELD_CHUNKS runs' worth, whatever the chains' count


def test_scenarios_are_what_they_claim(tmp_path: Path) -> None:
    """Guard: each scenario really exercises the failure it is named after."""
    expected = {
        "rotation to a key outside the trust store": set(),
        "tampered receipt": {Code.INVALID_SIGNATURE, Code.HASH_LINK_BROKEN},
        "receipts after a terminal one": {Code.RECEIPT_AFTER_TERMINAL},
        "duplicates and a fork": {Code.SEQUENCE_DUPLICATE, Code.INVALID_SIGNATURE},
        "gap and idempotency keys": {Code.SEQUENCE_GAP, Code.HASH_LINK_BROKEN},
        "a record SQLite reads but we reject": {Code.MALFORMED_RECEIPT},
        "truncated witnessed chain": {Code.LENGTH_MISMATCH, Code.FINAL_HASH_MISMATCH},
        "untrusted signer": {Code.INVALID_SIGNATURE},
        "require terminal": {Code.TERMINAL_REQUIRED},
    }
    for name, codes in expected.items():
        chains, options = SCENARIOS[name]
        path = _write(tmp_path / f"{len(list(tmp_path.iterdir()))}.jsonl", chains)
        result, _ = _verify(path, trust(KEY.raw), dict(options), chunk_size=3, workers=1)
        found = {p.code for chain in result.chains for p in chain.failures}
        assert codes <= found, name
        assert (not codes) == result.valid, name


def test_a_valid_long_chain_is_never_walked_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The speculative walk of each chunk is kept when the state carried over agrees."""
    calls: list[int] = []
    sizes: list[int] = []
    original = jobs._run_chunk
    walk = jobs.walk_chunk

    def counting(context: Any, job: Any, start: Any) -> Any:
        calls.append(job.number)
        return original(context, job, start)

    def measuring(key: Any, records: Any, **kwargs: Any) -> Any:
        sizes.append(len(records))
        return walk(key, records, **kwargs)

    monkeypatch.setattr(jobs, "_run_chunk", counting)
    monkeypatch.setattr(jobs, "walk_chunk", measuring)
    path = _write(tmp_path / "long.jsonl", [_rotating("rotating")])
    result, _ = _verify(path, trust(KEY.raw, ROTATED.raw), {}, chunk_size=3, workers=1)
    assert result.valid
    assert calls == [0, 1, 2, 3]  # 10 receipts in runs of 3: four chunks, none re-walked
    assert max(sizes) <= 3  # no worker held more than a chunk
    calls.clear()
    result, _ = _verify(path, trust(KEY.raw), {}, chunk_size=3, workers=1)
    assert result.valid
    assert calls == [0, 1, 2, 3, 2, 3]  # past the rotation, the parent re-walks with the new key


def test_the_sample_month_in_chunks_equals_the_whole(tmp_path: Path) -> None:
    from reporting.receipts.external import load_witnesses
    from reporting.receipts.keys import load_trust

    samples = Path(__file__).resolve().parents[1] / "samples"
    store = load_trust(samples / "trust.yaml")
    options = {"witnesses": load_witnesses(samples / "witness.yaml")}
    database = samples / "receipts.db"
    whole = _snapshot(*_verify(database, store, options, chunk_size=10_000, workers=1))
    chunked = _snapshot(*_verify(database, store, options, chunk_size=7, workers=2))
    assert chunked == whole
    assert len(whole[2]) > 3000


def test_small_chains_batched_into_one_task_give_the_same_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chains sent to a worker together share one block of rows; nothing moves or is lost."""
    from reporting.receipts.keys import load_trust

    samples = Path(__file__).resolve().parents[1] / "samples"
    store = load_trust(samples / "trust.yaml")
    database = samples / "receipts.db"
    batched_result, batched_extracts = _verify(database, store, {}, chunk_size=10_000, workers=2)
    blocks = [e for e in batched_extracts if e is not None]
    assert len(blocks) < len(batched_result.chains) / 4  # chains really were batched
    monkeypatch.setattr(jobs, "BATCH_RECORDS", 1)
    alone_result, alone_extracts = _verify(database, store, {}, chunk_size=10_000, workers=1)
    assert len([e for e in alone_extracts if e is not None]) == len(alone_result.chains)
    assert _snapshot(batched_result, batched_extracts) == _snapshot(alone_result, alone_extracts)
