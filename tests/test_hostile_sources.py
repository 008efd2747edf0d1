"""Hostile input to the receipts layer never crashes, hangs or lies (issue 13, section 6).

* a store whose `receipts` is a recursive view, a virtual table or a generated column is
  refused without copying anything; any store's copy is bounded by its own size;
* the spool is removed when the process is stopped by SIGTERM or SIGINT;
* a spool that cannot be written (disk full, I/O error) is exit 2 with nothing written;
* a `.json` file with content after its array is a problem of that file;
* response bodies and receipts that cannot be canonicalised (a 64-bit integer, deep
  nesting) are results of their receipt, and verification goes on.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reporting.errors import InputError
from reporting.receipts import stores
from reporting.receipts.external import BodiesDirectory
from reporting.receipts.results import Code
from reporting.receipts.sources import ReceiptSpool, spool_sources

from .conftest import REPO, SAMPLES
from .factory import ChainBuilder, Key, write_jsonl, write_store
from .helpers import trust, verify_docs, verify_paths

KEY = Key.from_seed("hostile-sources")
PYTHON = sys.executable


def _chain(chain_id: str, length: int = 3, **kwargs: Any) -> list[dict[str, Any]]:
    return ChainBuilder(KEY, chain_id=chain_id).extend(length, **kwargs).receipts


def _cli(
    tmp_path: Path, *arguments: str, file_limit: int | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The command line in its own process, its temporary files in `tmp_path/tmp`, and at
    most `file_limit` bytes in any file it writes (so a runaway copy stops, not the disk)."""
    temporary = tmp_path / "tmp"
    temporary.mkdir(exist_ok=True)

    def limit() -> None:
        if file_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails, nothing dies
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [PYTHON, "-m", "reporting", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(temporary)},
        preexec_fn=limit,
        check=False,
    )


def _junk_rows(count: int) -> str:
    """A real receipts table of `count` rows of 200 bytes that are not receipts."""
    return (
        "CREATE TABLE receipts(id TEXT, chain_id TEXT, receipt_json TEXT);"
        f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {count}) "
        "INSERT INTO receipts SELECT n, 'c', printf('%.200c', 'x') FROM r;"
    )


def _spools(tmp_path: Path) -> list[str]:
    return [p.name for p in (tmp_path / "tmp").glob("agent-evidence-*")]


# -- stores that compute their rows ---------------------------------------------------------

RECURSIVE_VIEW = """
CREATE VIEW receipts AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)
SELECT printf('%d', n) AS id, 'chain_view' AS chain_id, zeroblob(100000) AS receipt_json
FROM r
"""


def _database(path: Path, script: str) -> Path:
    with sqlite3.connect(path) as db:
        db.executescript(script)
    db.close()
    return path


def test_a_recursive_view_store_is_refused_without_copying(tmp_path: Path) -> None:
    view = _database(tmp_path / "view.db", RECURSIVE_VIEW)
    assert view.stat().st_size <= 8192
    lines = write_jsonl(tmp_path / "good.jsonl", _chain("chain_lines", 2))
    key = KEY.write_pem(tmp_path / "key.pem")
    run = _cli(
        tmp_path, "verify", str(view), str(lines), "--keys", str(key), "--json",
        file_limit=64 << 20,  # today's endless copy stops at 64 MiB instead of the disk
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    document = json.loads(run.stdout)
    [problem] = document["input_problems"]
    assert problem["code"] == Code.MALFORMED_RECEIPT.value
    assert problem["origin"] == str(view)
    assert "view" in problem["message"]  # refused as a view, not after a failed copy
    assert [c["valid"] for c in document["chains"]] == [True]
    assert _spools(tmp_path) == []


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(
            "CREATE TABLE receipts(id TEXT, chain_id TEXT, seed TEXT, receipt_json TEXT "
            "GENERATED ALWAYS AS (printf('%.*c', 50000000, seed)) VIRTUAL);"
            "INSERT INTO receipts(id, chain_id, seed) VALUES ('a', 'c', 'x'), ('b', 'c', 'y');",
            id="generated column",
        ),
        pytest.param(
            "CREATE VIRTUAL TABLE receipts USING fts5(id, chain_id, receipt_json);",
            id="virtual table",
        ),
    ],
)
def test_a_store_that_computes_its_rows_is_not_a_receipts_store(
    tmp_path: Path, script: str
) -> None:
    try:
        bad = _database(tmp_path / "computed.db", script)
    except sqlite3.OperationalError as exc:  # fts5 not compiled in
        pytest.skip(f"this SQLite cannot build the case: {exc}")
    good = write_store(tmp_path / "good.db", _chain("chain_store"))
    with spool_sources([str(good), str(bad)]) as spool:
        assert spool.record_count() == 3
        assert [(p.code, p.origin.source) for p in spool.problems if p.origin] == [
            (Code.MALFORMED_RECEIPT, str(bad))
        ]
        assert {s.path: s.kind for s in spool.sources}[str(bad)] == "invalid"


def test_a_store_copy_is_bounded_by_the_store_s_own_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A corrupt file can repeat its pages; the spool then stops at a multiple of the
    file's bytes. Here the multiple is 0, so any store is over it."""
    monkeypatch.setattr(stores, "STORE_COPY_GROWTH", 0)
    monkeypatch.setattr(stores, "STORE_COPY_SLACK", 0)
    store = _database(tmp_path / "big.db", _junk_rows(20_000))  # more than SQLite caches
    lines = write_jsonl(tmp_path / "good.jsonl", _chain("chain_lines", 2))
    result = verify_paths([store, lines], trust(KEY.raw))
    assert [(p.code, p.origin.source) for p in result.input_problems if p.origin] == [
        (Code.MALFORMED_RECEIPT, str(store))
    ]
    assert [(c.chain_id, c.valid) for c in result.chains] == [("chain_lines", True)]


def test_a_store_copy_is_bounded_in_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stores, "STORE_COPY_STEPS_PER_BYTE", 0)
    monkeypatch.setattr(stores, "STORE_COPY_STEPS_SLACK", 0)
    store = _database(tmp_path / "store.db", _junk_rows(5_000))
    with spool_sources([str(store)]) as spool:
        assert spool.record_count() == 0
        assert [p.code for p in spool.problems] == [Code.MALFORMED_RECEIPT]


# -- the spool is removed however the process stops -------------------------------------------


def _start_reading_stdin(tmp_path: Path) -> subprocess.Popen[bytes]:
    key = KEY.write_pem(tmp_path / "key.pem")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    process = subprocess.Popen(
        [PYTHON, "-m", "reporting", "verify", "-", "--keys", str(key)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(_chain("chain_stdin", 1)[0]).encode() + b"\n")
    process.stdin.flush()  # and the pipe stays open: the run waits for more
    return process


def _wait_for_spool(tmp_path: Path, process: subprocess.Popen[bytes], size: int = 0) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = list((tmp_path / "tmp").glob("agent-evidence-*"))
        if found and all(p.stat().st_size >= size for p in found):
            return
        time.sleep(0.02)
    pytest.fail(f"no spool appeared (exit {process.poll()})")


@pytest.mark.parametrize(
    ("number", "exit_code"), [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 130)]
)
def test_a_signal_while_reading_removes_the_spool(
    tmp_path: Path, number: signal.Signals, exit_code: int
) -> None:
    process = _start_reading_stdin(tmp_path)
    try:
        _wait_for_spool(tmp_path, process)
        process.send_signal(number)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == exit_code
    assert _spools(tmp_path) == []


def test_a_signal_the_instant_the_spool_file_is_made_still_removes_it(tmp_path: Path) -> None:
    """The file exists an instant before it is registered for removal; a stop signal in
    that instant is held until it is registered, then removes it (it was left behind,
    found once while the machine was loaded)."""
    (tmp_path / "tmp").mkdir()
    probe = (
        "import os, signal, tempfile\n"
        "made = tempfile.mkstemp\n"
        "def mkstemp(*args, **kwargs):\n"
        "    handle, name = made(*args, **kwargs)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)  # the file made, not yet registered\n"
        "    return handle, name\n"
        "tempfile.mkstemp = mkstemp\n"
        "from reporting.receipts.spool import ReceiptSpool\n"
        "ReceiptSpool()\n"
        "print('not stopped')\n"
    )
    run = subprocess.run(
        [PYTHON, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
        check=False,
    )
    assert run.returncode == -signal.SIGTERM, run.stdout + run.stderr
    assert _spools(tmp_path) == []


def test_sigterm_during_a_long_store_copy_removes_the_spool(tmp_path: Path) -> None:
    """The copy is one long SQLite call; the signal is still handled during it."""
    store = _database(tmp_path / "long.db", _junk_rows(400_000))
    key = KEY.write_pem(tmp_path / "key.pem")
    (tmp_path / "tmp").mkdir()
    process = subprocess.Popen(
        [PYTHON, "-m", "reporting", "verify", str(store), "--keys", str(key)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path / "tmp")},
    )
    try:
        _wait_for_spool(tmp_path, process, size=1 << 20)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGTERM
    assert _spools(tmp_path) == []


# -- the spool's disk fills up ------------------------------------------------------------------


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every spool is full as soon as it is created (SQLITE_FULL, as on a full disk)."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    created = ReceiptSpool.__init__

    def full(self: ReceiptSpool, *args: Any) -> None:
        created(self, *args)
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        self._conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(ReceiptSpool, "__init__", full)
    return temporary


@pytest.mark.parametrize("kind", ["jsonl", "store", "json"])
def test_a_full_spool_is_a_local_error_never_a_problem_of_the_input(
    tmp_path: Path, full_disk: Path, kind: str
) -> None:
    receipts = _chain("chain_full", 4)
    if kind == "store":
        source = write_store(tmp_path / "store.db", receipts)
    elif kind == "json":
        source = tmp_path / "array.json"
        source.write_text(json.dumps(receipts))
    else:
        source = write_jsonl(tmp_path / "lines.jsonl", receipts)
    with pytest.raises(InputError) as raised:
        spool_sources([str(source)])
    assert raised.value.code == "SPOOL_IO_ERROR"
    assert list(full_disk.iterdir()) == []  # and the spool is gone


def test_report_on_a_full_disk_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _cli(
        tmp_path, "report", str(SAMPLES / "receipts.db"), "--keys", str(SAMPLES / "trust.yaml"),
        "--period", "2026-10", "--framework", "soc2", "--format", "json", "--out", str(out),
        file_limit=2 << 20,  # the spool's copy of the 15 MB store cannot be written
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "SPOOL_IO_ERROR" in run.stderr
    assert "Traceback" not in run.stderr
    assert not out.exists() or list(out.rglob("*")) == []
    assert _spools(tmp_path) == []


# -- one JSON value per file ------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        "[{r1}] ,[{r2}] garbage",
        "[{r1}] {r2}",
        "[]x",
    ],
)
def test_content_after_a_json_array_is_a_problem_of_the_file(tmp_path: Path, shape: str) -> None:
    first, second = _chain("chain_trailing", 2)
    path = tmp_path / "trailing.json"
    text = shape.replace("{r1}", json.dumps(first)).replace("{r2}", json.dumps(second))
    path.write_text(text)
    result = verify_paths([path], trust(KEY.raw))
    assert [(p.code, p.origin.source) for p in result.input_problems if p.origin] == [
        (Code.MALFORMED_RECEIPT, str(path))
    ]
    assert not result.valid


def test_two_values_on_one_line_are_malformed_in_lines_and_on_stdin(tmp_path: Path) -> None:
    first, second = _chain("chain_pair", 2)
    line = (json.dumps(first) + " " + json.dumps(second) + "\n").encode()
    path = tmp_path / "pair.jsonl"
    path.write_bytes(line)
    result = verify_paths([path], trust(KEY.raw))
    problems = [*result.input_problems, *(p for c in result.chains for p in c.failures)]
    assert Code.MALFORMED_RECEIPT in {p.code for p in problems}
    assert not result.valid


# -- what cannot be canonicalised is a result of its receipt -------------------------------------


def _nested_list(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        '{"id": 1447612329457729537}',  # a 64-bit id: not the ES6 form of its double
        _nested_list(500),
        '{"a": 1, "a": 2}',
        "{oops",
    ],
    ids=["64-bit integer", "500 deep", "duplicate name", "not JSON"],
)
def test_a_body_that_cannot_be_hashed_is_that_receipt_s_result(tmp_path: Path, body: str) -> None:
    builder = ChainBuilder(KEY, chain_id="chain_bodies")
    for _ in range(3):
        builder.add(response_body={"status": 200})
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    for receipt in builder.receipts:
        name = receipt["id"].removeprefix("urn:receipt:")
        (bodies / f"{name}.json").write_text('{"status": 200}')
    hostile = builder.receipts[1]["id"].removeprefix("urn:receipt:")
    (bodies / f"{hostile}.json").write_text(body)
    chain = verify_docs(builder.receipts, KEY.raw, bodies=BodiesDirectory(bodies))
    assert [r.failures for r in chain.receipts] == [(), (Code.RESPONSE_BODY_UNVERIFIABLE,), ()]
    assert chain.broken_at == 1


def test_a_receipt_deeper_than_python_recurses_is_malformed_with_a_raised_max_depth(
    tmp_path: Path,
) -> None:
    receipts = _chain("chain_deep", 3)
    deep_member = '"deep": ' + _nested_list(900) + ', "issuer": {'
    deep = json.dumps(receipts[1]).replace('"issuer": {', deep_member, 1)
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join([json.dumps(receipts[0]), deep, json.dumps(receipts[2])]) + "\n")
    key = KEY.write_pem(tmp_path / "key.pem")
    run = _cli(tmp_path, "verify", str(path), "--keys", str(key), "--max-depth", "5000", "--json")
    assert run.returncode == 1, run.stderr
    [chain] = json.loads(run.stdout)["chains"]
    malformed = [r for r in chain["receipts"] if Code.MALFORMED_RECEIPT.value in r["failures"]]
    assert len(malformed) == 1
    assert chain["length"] == 3
