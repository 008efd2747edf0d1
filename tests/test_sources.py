"""Reading sources: stores read-only (also in WAL mode), files, stdin, and per-record errors."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from reporting.errors import InputError
from reporting.receipts.results import Code
from reporting.receipts.sources import spool_sources

from .factory import ChainBuilder, Key, write_jsonl, write_store
from .helpers import codes, trust, verify_paths

KEY = Key.from_seed("sources")


def _receipts(chain_id: str = "chain_s", length: int = 3) -> list[dict]:
    return ChainBuilder(KEY, chain_id=chain_id).extend(length).receipts


def test_store_is_opened_read_only_beside_a_wal_writer(tmp_path: Path) -> None:
    store = write_store(tmp_path / "r.db", _receipts())
    writer = sqlite3.connect(store)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("UPDATE receipts SET created_at = created_at")  # a pending WAL frame
    writer.commit()
    before = store.read_bytes()
    result = verify_paths([store], trust(KEY.raw))
    writer.close()
    assert result.valid
    assert result.receipt_count == 3
    assert store.read_bytes() == before


def test_every_chain_in_a_store_is_enumerated(tmp_path: Path) -> None:
    chains = [_receipts(f"chain_{i}", 2) for i in range(5)]
    result = verify_paths([write_store(tmp_path / "r.db", *chains)], trust(KEY.raw))
    assert sorted(c.chain_id for c in result.chains) == [f"chain_{i}" for i in range(5)]


def test_index_column_edited_while_json_intact(tmp_path: Path) -> None:
    store = write_store(tmp_path / "r.db", _receipts())
    with sqlite3.connect(store) as db:
        db.execute("UPDATE receipts SET risk_level = 'low', action_type = 'x' WHERE sequence = 2")
    result = verify_paths([store], trust(KEY.raw))
    chain = result.chains[0]
    assert chain.receipts[1].failures == (Code.INDEX_MISMATCH,)
    messages = [p.message for p in chain.failures]
    assert any("action_type" in m for m in messages)


def test_a_chain_split_across_store_and_jsonl_is_verified_whole(tmp_path: Path) -> None:
    receipts = _receipts(length=4)
    store = write_store(tmp_path / "r.db", receipts[:2])
    export = write_jsonl(tmp_path / "rest.jsonl", receipts[2:] + receipts[:1])
    result = verify_paths([store, export], trust(KEY.raw))
    assert result.valid
    chain = result.chains[0]
    assert chain.length == 4
    assert [p.code for p in chain.warnings] == [Code.DUPLICATE_RECORD]


def test_malformed_records_are_reported_with_origin_and_the_rest_verifies(tmp_path: Path) -> None:
    receipts = _receipts()
    lines = [json.dumps(r) for r in receipts]
    lines.insert(1, "{not json")
    lines.insert(2, "[1, 2]")
    lines.insert(3, '{"id": "urn:receipt:x", "a": 1, "a": 2}')
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = verify_paths([path], trust(KEY.raw))
    assert not result.valid
    assert result.chains[0].valid
    assert result.chains[0].length == 3
    problems = {(p.code, p.origin.line if p.origin else None) for p in result.input_problems}
    assert problems == {
        (Code.MALFORMED_RECEIPT, 2),
        (Code.MALFORMED_RECEIPT, 3),
        (Code.MALFORMED_RECEIPT, 4),
    }


def test_json_array_and_single_object_files(tmp_path: Path) -> None:
    receipts = _receipts()
    (tmp_path / "array.json").write_text(json.dumps(receipts[:2], indent=2))
    (tmp_path / "one.json").write_text(json.dumps(receipts[2]))
    result = verify_paths([tmp_path], trust(KEY.raw))
    assert result.valid
    assert result.receipt_count == 3
    origins = [str(r.origin) for r in result.chains[0].receipts]
    assert origins[0].endswith("array.json:2 (element 0)")
    assert origins[2].endswith("one.json:1")


def test_truncated_json_array_keeps_the_elements_before_the_error(tmp_path: Path) -> None:
    receipts = _receipts()
    text = json.dumps(receipts)
    (tmp_path / "cut.json").write_text(text[: len(text) - 40])
    result = verify_paths([tmp_path / "cut.json"], trust(KEY.raw))
    assert result.receipt_count == 2
    assert [p.code for p in result.input_problems] == [Code.MALFORMED_RECEIPT]


def test_stdin_json_lines(tmp_path: Path) -> None:
    stream = io.BytesIO(b"".join(json.dumps(r).encode() + b"\n" for r in _receipts()))
    with spool_sources(["-"], stdin=stream) as spool:
        batches = list(spool.chains())
    assert [len(records) for _, records in batches] == [3]
    assert str(batches[0][1][0].origin) == "<stdin>:1"


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "fake.db").write_bytes(b"this is not sqlite")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("CREATE TABLE other(x)").connection.close()
    result = verify_paths([tmp_path / "fake.db", empty], trust(KEY.raw))
    assert [p.code for p in result.input_problems] == [Code.MALFORMED_RECEIPT] * 2
    assert not result.valid


def test_missing_source_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as raised:
        spool_sources([str(tmp_path / "nope.db")])
    assert raised.value.code == "NO_SUCH_SOURCE"


def test_same_receipt_id_in_two_chains(tmp_path: Path) -> None:
    first = _receipts("chain_one", 2)
    second = ChainBuilder(KEY, chain_id="chain_two").extend(2).receipts
    from .factory import resign

    clash = resign({**second[1], "id": first[1]["id"]}, KEY)
    result = verify_paths(
        [write_jsonl(tmp_path / "x.jsonl", [*first, second[0], clash])], trust(KEY.raw)
    )
    assert all(Code.DUPLICATE_RECEIPT_ID in codes(c) for c in result.chains)


def test_parallel_and_sequential_runs_agree(tmp_path: Path) -> None:
    chains = [_receipts(f"chain_{i}", 3) for i in range(6)]
    chains[2][1]["credentialSubject"]["action"]["type"] = "filesystem.file.delete"
    path = write_jsonl(tmp_path / "many.jsonl", [r for c in chains for r in c])
    sequential = verify_paths([path], trust(KEY.raw), workers=1)
    parallel = verify_paths([path], trust(KEY.raw), workers=2)
    assert sequential == parallel
    assert [c.valid for c in parallel.chains] == [True, True, False, True, True, True]


def test_the_spool_takes_about_as_much_disk_as_its_records(tmp_path: Path) -> None:
    """Receipts are 1 to 2 KB: on SQLite's default 4 KB pages only two fit a page, and
    a million-receipt store took twice the CPU to copy (docs/performance.md). Records
    of 1.5 KB fill the spool's pages to within a fifth."""
    from reporting.receipts.sources import read_lines_into
    from reporting.receipts.spool import ReceiptSpool

    pad = "x" * 1_500
    lines = [
        json.dumps({"id": f"r{n}", "credentialSubject": {"chain": {"sequence": n}}, "pad": pad})
        for n in range(1, 3_001)
    ]
    data = ("\n".join(lines) + "\n").encode()
    with ReceiptSpool() as spool:
        read_lines_into(spool, io.BytesIO(data), "padded.jsonl")
        spool.finish()
        assert spool.record_count() == 3_000
        assert spool.path.stat().st_size < 1.2 * len(data)  # 1.30 on 4 KB pages
