"""Hostile SQLite stores: corrupt, truncated, locked, not a receipts store, enormous, and a
WAL store on a read-only directory. Each is reported as a coded input problem naming the
file (never a traceback), and every other source of the run is still verified."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from reporting.cli import main
from reporting.receipts import sources, stores
from reporting.receipts.results import Code
from reporting.receipts.sources import spool_sources

from .factory import ChainBuilder, Key, write_jsonl, write_store
from .helpers import trust, verify_paths

KEY = Key.from_seed("stores-hostile")
PAGE = 4096


def _chain(chain_id: str, length: int = 3) -> list[dict]:
    return ChainBuilder(KEY, chain_id=chain_id).extend(length).receipts


@pytest.fixture
def good(tmp_path: Path) -> tuple[Path, Path]:
    """A good store and a good JSON Lines file: what must survive beside a bad store."""
    return (
        write_store(tmp_path / "good.db", _chain("chain_store")),
        write_jsonl(tmp_path / "good.jsonl", _chain("chain_lines", 2)),
    )


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of many pages, to damage in the middle."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    return write_store(path, _chain("chain_big", 120))


def _only_problem(result, path: Path):
    problems = [p for p in result.input_problems if p.origin and p.origin.source == str(path)]
    assert len(problems) == 1, result.input_problems
    return problems[0]


def _assert_good_survived(result) -> None:
    chains = {c.chain_id: c for c in result.chains}
    assert set(chains) == {"chain_store", "chain_lines"}
    assert all(c.valid for c in chains.values())
    assert result.receipt_count == 5
    assert not result.valid  # the bad store is a failure of the run


def _damaged(tmp_path: Path, big_store: Path, kind: str) -> Path:
    data = bytearray(big_store.read_bytes())
    assert len(data) > 40 * PAGE
    if kind == "random":  # the SQLite header, then noise
        data[16:] = os.urandom(len(data) - 16)
    elif kind == "truncated":
        data = data[: len(data) * 6 // 10 // PAGE * PAGE]
    elif kind == "truncated-header":
        data = data[:100]
    elif kind == "middle-page":  # readable schema; fails halfway through the copy
        middle = len(data) // PAGE // 2 * PAGE
        data[middle : middle + PAGE] = os.urandom(PAGE)
    path = tmp_path / f"{kind}.db"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("kind", ["random", "truncated", "truncated-header", "middle-page"])
def test_a_corrupt_store_is_an_input_problem_and_the_rest_verifies(
    tmp_path: Path, good: tuple[Path, Path], big_store: Path, kind: str
) -> None:
    bad = _damaged(tmp_path, big_store, kind)
    store, lines = good
    result = verify_paths([store, bad, lines], trust(KEY.raw))
    problem = _only_problem(result, bad)
    assert problem.code is Code.MALFORMED_RECEIPT
    assert "store is corrupt" in problem.message
    assert "none of its receipts were read" in problem.message
    _assert_good_survived(result)  # and no row of the half-read store slipped through


def test_a_store_whose_schema_text_is_not_utf8(tmp_path: Path, good: tuple[Path, Path]) -> None:
    """SQLite quotes the broken schema in its error message, which Python cannot decode:
    a UnicodeDecodeError, not an sqlite3.Error, must still be a coded input problem."""
    data = bytearray(write_store(tmp_path / "schema.db", _chain("chain_schema")).read_bytes())
    offset = data.index(b"tablereceiptsreceipts") + len(b"table")  # sqlite_master.name
    data[offset] = 0x80
    bad = tmp_path / "schema-not-utf8.db"
    bad.write_bytes(bytes(data))
    result = verify_paths([good[0], bad, good[1]], trust(KEY.raw))
    problem = _only_problem(result, bad)
    assert problem.code is Code.MALFORMED_RECEIPT
    assert "store is corrupt" in problem.message
    _assert_good_survived(result)


def test_a_store_corrupt_halfway_leaves_no_rows_in_the_spool(
    tmp_path: Path, good: tuple[Path, Path], big_store: Path
) -> None:
    bad = _damaged(tmp_path, big_store, "middle-page")
    store, lines = good
    with spool_sources([str(lines), str(bad), str(store)]) as spool:
        assert spool.record_count() == 5
        kinds = {Path(s.path).name: (s.kind, s.records) for s in spool.sources}
    assert kinds == {
        "good.jsonl": ("jsonl", 2),
        "middle-page.db": ("invalid", 0),
        "good.db": ("store", 3),
    }


def test_a_locked_store_is_reported_after_the_busy_timeout(
    tmp_path: Path, good: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write_store(tmp_path / "locked.db", _chain("chain_locked"))
    monkeypatch.setattr(stores, "STORE_BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(locked, isolation_level=None)
    assert holder.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = verify_paths([good[0], locked, good[1]], trust(KEY.raw))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    problem = _only_problem(result, locked)
    assert problem.code is Code.MALFORMED_RECEIPT
    assert "locked by another process" in problem.message
    _assert_good_survived(result)
    # once the lock is gone, the same store reads
    assert verify_paths([locked], trust(KEY.raw)).valid


@pytest.mark.parametrize(
    "schema",
    [
        "CREATE TABLE other(x)",
        "CREATE TABLE receipts(id TEXT, body TEXT)",  # a receipts table, but not ours
        "CREATE TABLE receipts(receipt_json TEXT)",  # no chain_id column
    ],
)
def test_a_database_that_is_not_a_receipts_store(
    tmp_path: Path, good: tuple[Path, Path], schema: str
) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute(schema)
    result = verify_paths([good[0], other, good[1]], trust(KEY.raw))
    problem = _only_problem(result, other)
    assert problem.code is Code.MALFORMED_RECEIPT
    assert "not a receipts store" in problem.message
    _assert_good_survived(result)


def test_an_oversized_receipt_json_in_a_store_fails_alone(tmp_path: Path) -> None:
    receipts = _chain("chain_huge", 3)
    store = write_store(tmp_path / "huge.db", receipts)
    padding = " " * (1 << 21)  # 2 MiB of whitespace: same JSON, over the 1 MiB limit
    with sqlite3.connect(store) as db:
        db.execute(
            "UPDATE receipts SET receipt_json = receipt_json || ? WHERE sequence = 3", (padding,)
        )
    result = verify_paths([store], trust(KEY.raw))
    chain = result.chains[0]
    assert [r.failures for r in chain.receipts] == [(), (), (Code.RECEIPT_TOO_LARGE,)]
    assert "limit 1048576" in chain.failures[0].message
    assert result.receipt_count == 3


def test_a_chain_id_that_is_not_utf8_loses_no_record(tmp_path: Path) -> None:
    # Found by fuzzing: SQLite read the damaged id as bytes that cannot be asked for as
    # text again, and the record was in no chain and no problem.
    store = write_store(tmp_path / "damaged.db", _chain("chain_damaged", 3))
    with sqlite3.connect(store) as db:
        db.execute(
            "UPDATE receipts SET receipt_json = CAST(replace(CAST(receipt_json AS BLOB), "
            "CAST('\"chain_damaged\"' AS BLOB), X'22806861696E5F64616D6167656422') AS TEXT) "
            "WHERE sequence = 2"
        )
    result = verify_paths([store], trust(KEY.raw))
    (chain,) = result.chains
    assert chain.chain_id == "chain_damaged"
    assert chain.length == 2
    assert Code.SEQUENCE_GAP in {p.code for p in chain.failures}
    problem = _only_problem(result, store)
    assert problem.code is Code.MALFORMED_RECEIPT
    assert problem.origin.rowid == 2
    assert "UTF-8" in problem.message


@pytest.mark.slow  # the source digest hashes all 8 GiB (tens of seconds of zeros)
def test_an_enormous_sparse_store_file_is_read_without_reading_it_all(tmp_path: Path) -> None:
    store = write_store(tmp_path / "sparse.db", _chain("chain_sparse"))
    with store.open("r+b") as handle:
        handle.truncate(8 << 30)  # 8 GiB apparent size, a few KiB on disk
    if store.stat().st_blocks * 512 > 64 << 20:
        pytest.skip("this file system does not support sparse files")
    result = verify_paths([store], trust(KEY.raw))
    assert result.valid
    assert result.receipt_count == 3


# -- one line a hostile file cannot make us hold in memory --------------------------------


def test_a_json_lines_record_over_the_read_ceiling_is_skipped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "MAX_RECORD_BYTES", 4096)
    receipts = _chain("chain_ceiling", 2)
    lines = [json.dumps(receipts[0]), "x" * 20_000, json.dumps(receipts[1])]
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = verify_paths([path], trust(KEY.raw))
    assert [(p.code, p.origin.line) for p in result.input_problems] == [(Code.RECEIPT_TOO_LARGE, 2)]
    assert result.chains[0].valid
    assert result.receipt_count == 2
    # the same from standard input, and for a single-object .json file
    stream = io.BytesIO(path.read_bytes())
    with spool_sources(["-"], stdin=stream) as spool:
        assert spool.record_count() == 2
        assert [str(p.origin) for p in spool.problems] == ["<stdin>:2"]
    single = tmp_path / "single.json"
    single.write_text(json.dumps({**receipts[0], "pad": "x" * 5000}))
    with spool_sources([str(single)]) as spool:
        assert spool.record_count() == 0
        assert [p.code for p in spool.problems] == [Code.RECEIPT_TOO_LARGE]


# -- the command line ---------------------------------------------------------------------


def test_cli_verify_names_the_bad_store_and_exits_one_without_traceback(
    tmp_path: Path, good: tuple[Path, Path], big_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _damaged(tmp_path, big_store, "middle-page")
    key = KEY.write_pem(tmp_path / "key.pem")
    code = main(["verify", str(good[0]), str(bad), str(good[1]), "--keys", str(key)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err
    assert "internal error" not in captured.err
    assert "INPUT   MALFORMED_RECEIPT: store is corrupt" in captured.out
    assert f"({bad})" in captured.out
    assert "VALID   chain_store" in captured.out
    assert "VALID   chain_lines" in captured.out
    assert captured.out.splitlines()[-1].startswith("FAILED: 2 chains (0 broken), 5 receipts")


def test_cli_report_with_a_bad_store_is_integrity_broken(
    tmp_path: Path, good: tuple[Path, Path], big_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _damaged(tmp_path, big_store, "random")
    key = KEY.write_pem(tmp_path / "key.pem")
    argv = ["report", str(good[0]), str(bad), str(good[1]), "--keys", str(key)]
    argv += ["--format", "json", "--out", str(tmp_path / "out"), "--quiet", "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 1, captured.err
    assert "Traceback" not in captured.err
    summary = json.loads(captured.out)
    assert summary["posture"] == "INTEGRITY BROKEN"
    assert summary["figures"]["chains"] == 2
    name = next(a["name"] for a in summary["artefacts"] if a["name"].endswith(".json"))
    problems = json.loads((Path(summary["directory"]) / name).read_text())["input_problems"]
    assert [(p["code"], p["origin"]) for p in problems] == [("MALFORMED_RECEIPT", bad.name)]


# -- WAL-mode stores on read-only directories ---------------------------------------------


def _wal_store(directory: Path, chain_id: str = "chain_wal") -> Path:
    store = write_store(directory / "receipts.db", _chain(chain_id))
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    return store


def _operational_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("simulated")
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


def test_immutable_retry_only_for_a_closed_wal_store(tmp_path: Path) -> None:
    store = _wal_store(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["receipts.db"]  # writer closed
    cantopen = _operational_error(sqlite3.SQLITE_CANTOPEN)
    assert stores.may_open_immutable(store, cantopen)
    assert stores.may_open_immutable(store, _operational_error(1288))  # READONLY_CANTINIT
    assert not stores.may_open_immutable(store, _operational_error(sqlite3.SQLITE_CORRUPT))
    assert not stores.may_open_immutable(store, _operational_error(sqlite3.SQLITE_BUSY))
    wal = Path(f"{store}-wal")
    wal.write_bytes(b"frames the main file does not hold")
    assert not stores.may_open_immutable(store, cantopen)
    wal.unlink()
    rollback = write_store(tmp_path / "rollback.db", _chain("chain_rb"))
    assert not stores.may_open_immutable(rollback, cantopen)


def test_the_immutable_retry_reads_the_store_when_read_only_open_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry path in process, wherever a read-only mount cannot be made: `mode=ro`
    fails as it does on a read-only directory, `immutable=1` then reads the store."""
    store = _wal_store(tmp_path)
    attach = sources.ReceiptSpool._attach
    tried: list[str] = []

    def read_only_directory(spool: sources.ReceiptSpool, uri: str) -> None:
        tried.append(uri)
        if "immutable=1" not in uri:
            raise _operational_error(sqlite3.SQLITE_CANTOPEN)
        attach(spool, uri)

    monkeypatch.setattr(sources.ReceiptSpool, "_attach", read_only_directory)
    result = verify_paths([store], trust(KEY.raw))
    assert result.valid
    assert result.receipt_count == 3
    assert [uri.rsplit("?", 1)[1] for uri in tried] == ["mode=ro", "mode=ro&immutable=1"]


def _read_only_runner(directory: Path) -> list[str]:
    """A command prefix under which `directory` cannot be written, even by root."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("running as root without unshare(1): cannot make a read-only directory")
    prefix = [unshare, "-m", "sh", "-c", 'd=$1; shift; mount --bind -o ro "$d" "$d" && exec "$@"']
    probe = subprocess.run(
        [*prefix, "sh", str(directory), "touch", str(directory / "probe")],
        capture_output=True,
        text=True,
        check=False,
    )
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"root cannot make a read-only bind mount here: {probe.stderr.strip()}")
    return [*prefix, "sh", str(directory)]


def _verify_read_only(directory: Path, store: Path) -> subprocess.CompletedProcess[str]:
    key = KEY.write_pem(directory.parent / "key.pem")
    prefix = _read_only_runner(directory)
    command = [*prefix, sys.executable, "-m", "reporting", "verify", str(store)]
    command += ["--keys", str(key)]
    if not prefix:
        directory.chmod(0o555)
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    finally:
        directory.chmod(0o755)


def test_a_closed_wal_store_on_a_read_only_directory_is_read(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    store = _wal_store(directory)
    run = _verify_read_only(directory, store)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "VALID   chain_wal (3 receipts" in run.stdout
    assert sorted(p.name for p in directory.iterdir()) == ["receipts.db"]  # nothing written


def test_a_wal_store_with_unmerged_frames_on_a_read_only_directory_is_not_guessed(
    tmp_path: Path,
) -> None:
    """Its -wal holds transactions the main file lacks: reading the main file alone
    (immutable) would silently drop them, so the store is reported instead."""
    live = tmp_path / "live"
    live.mkdir()
    store = _wal_store(live)
    writer = sqlite3.connect(store)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE receipts SET risk_level = risk_level")  # frames only in -wal
    writer.commit()
    directory = tmp_path / "ro"
    directory.mkdir()
    shutil.copy(store, directory / "receipts.db")
    shutil.copy(Path(f"{store}-wal"), directory / "receipts.db-wal")  # no -shm
    writer.close()
    run = _verify_read_only(directory, directory / "receipts.db")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot open the WAL-mode store read-only" in run.stdout
    assert "VACUUM INTO" in run.stdout
