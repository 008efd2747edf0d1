"""The benchmark's synthetic generator (bench/synthetic.py) makes data our verifier accepts.

`make bench` times reports over generated stores; if the generator rotted (schema drift,
a broken link, a wrong key), it would time the failure path instead. A tiny store keeps
it honest: zero failures, and the features that make the data realistic are present.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import synthetic  # noqa: E402

from reporting.receipts.keys import load_trust  # noqa: E402
from reporting.receipts.results import VerificationResult  # noqa: E402
from reporting.receipts.sources import spool_sources  # noqa: E402
from reporting.receipts.verify import VerifyOptions, verify_spool  # noqa: E402

RECEIPTS = 300


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> synthetic.Dataset:
    return synthetic.generate(tmp_path_factory.mktemp("synthetic"), RECEIPTS, workers=2)


@pytest.fixture(scope="module")
def result(dataset: synthetic.Dataset) -> VerificationResult:
    options = VerifyOptions(trust=load_trust(dataset.trust))
    with spool_sources([str(dataset.store)]) as spool:
        verified, _ = verify_spool(spool, options=options, workers=1)
    return verified


def _rows(store: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        return db.execute(sql).fetchall()


def test_generated_store_verifies_with_zero_failures(result: VerificationResult) -> None:
    assert [p for chain in result.chains for p in chain.failures] == []
    assert result.input_problems == ()
    assert result.valid
    assert result.receipt_count == RECEIPTS


def test_generated_store_is_realistic(
    dataset: synthetic.Dataset, result: VerificationResult
) -> None:
    assert len(result.chains) >= 5
    assert len({chain.issuer for chain in result.chains}) >= 5
    assert {c.termination.value for c in result.chains} >= {"complete", "interrupted", "unknown"}
    rotations = [r for chain in result.chains for r in chain.rotations]
    assert len(rotations) == 1
    assert rotations[0].valid
    statuses = dict(_rows(dataset.store, "SELECT status, COUNT(*) FROM receipts GROUP BY 1"))
    assert statuses.get("failure", 0) > 0
    delegated = _rows(
        dataset.store,
        "SELECT COUNT(*) FROM receipts WHERE json_type(receipt_json, "
        "'$.credentialSubject.delegation') = 'object'",
    )
    assert delegated[0][0] >= 1
    times = _rows(dataset.store, "SELECT MIN(timestamp), MAX(timestamp) FROM receipts")[0]
    assert str(times[0]) >= "2026-10-01T00:00:00"
    assert str(times[1]) < "2026-11-01T00:00:00"


def test_receipts_are_ascii_and_canonical_by_rfc8785(dataset: synthetic.Dataset) -> None:
    import rfc8785

    for (raw,) in _rows(dataset.store, "SELECT receipt_json FROM receipts LIMIT 50"):
        document = json.loads(str(raw))
        unsigned = {k: v for k, v in document.items() if k != "proof"}
        canonical = orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
        assert canonical.isascii()
        assert canonical == rfc8785.dumps(unsigned)


def test_parallel_generation_is_deterministic(tmp_path: Path) -> None:
    synthetic.write_store(tmp_path / "one.db", RECEIPTS, workers=1)
    synthetic.write_store(tmp_path / "two.db", RECEIPTS, workers=2)
    query = "SELECT * FROM receipts ORDER BY rowid"
    assert _rows(tmp_path / "one.db", query) == _rows(tmp_path / "two.db", query)


def test_sizes() -> None:
    assert [synthetic.parse_size(s) for s in ("10k", "100K", "1M", "2500")] == [
        10_000,
        100_000,
        1_000_000,
        2_500,
    ]
    assert [synthetic.size_label(n) for n in (10_000, 1_000_000, 2_500)] == ["10k", "1M", "2500"]
