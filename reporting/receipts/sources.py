"""Read receipts from stores, files and stdin as raw bytes that remember their origin.

Every source is first spooled into one temporary SQLite file, then read back one chain
at a time, so memory stays bounded by the largest chain however large the input, and
a chain split across sources (a store plus a JSON Lines export) is verified whole.

* Agent Receipts SQLite stores (SDK, daemon, collector) are attached read-only
  (``mode=ro``; works beside WAL files; nothing is ever written to them; a closed
  WAL-mode store in a read-only directory is read as ``immutable``). Rows are
  copied as bytes from ``receipt_json``. The index columns are kept beside the bytes
  only to be compared with the signed JSON later: they are not evidence. A store that
  is corrupt, locked or not a receipts store is an input problem naming the file; the
  other sources are still read.
* ``.json`` (one receipt or an array), ``.jsonl``/``.ndjson``, directories of those
  and of stores, and ``-`` (JSON Lines on stdin).

Records are grouped by the chain id SQLite reads from the JSON; the verifier parses
each record strictly and treats the group key as a hint only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from reporting.errors import Diagnostic, InputError
from reporting.receipts import tempfiles
from reporting.receipts.canonical import MalformedReceiptError, parse_receipt
from reporting.receipts.fields import get_path
from reporting.receipts.results import Code, Origin, Problem

__all__ = ["INDEX_COLUMNS", "ChunkPlan", "RawRecord", "ReceiptSpool", "spool_sources"]

SQLITE_MAGIC = b"SQLite format 3\x00"
JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# SQLite quotes a corrupt schema in its error messages, which may then not decode.
_STORE_ERRORS = (sqlite3.Error, UnicodeDecodeError)
STORE_BUSY_TIMEOUT = 5.0  # seconds a store's writer may hold a lock that keeps us out
# No record bigger than this is ever read into memory, whatever max_receipt_bytes allows:
# a hostile line or file without an end cannot exhaust memory before verification.
MAX_RECORD_BYTES = 64 << 20
# A store is copied only from a real table, and into no more spool than a few times its
# own bytes, in a bounded number of SQLite steps: a view, a virtual table or a generated
# column computes rows without end from a 4 KiB file, and a corrupt file can repeat pages.
STORE_COPY_GROWTH = 4  # spool bytes per byte of the store's files, plus the slack below
STORE_COPY_SLACK = 8 << 20
STORE_COPY_STEPS_PER_BYTE = 100  # SQLite VM steps per byte of the store's files,
STORE_COPY_STEPS_SLACK = 10_000_000  # plus these
_PROGRESS_EVERY = 10_000  # SQLite VM steps between two looks at the copy's budget
# What SQLite says when writing the spool fails locally (disk full, I/O error).
_LOCAL_IO_ERRORS = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})
INDEX_COLUMNS = (
    "id",
    "chain_id",
    "sequence",
    "action_type",
    "tool_name",
    "risk_level",
    "status",
    "timestamp",
    "issuer_id",
    "principal_id",
    "receipt_hash",
    "previous_receipt_hash",
)
_COL_NAMES = ", ".join(f"col_{c}" for c in INDEX_COLUMNS)
# chain_key, receipt_key, parent_key and seq as SQLite reads them, in the pass that stores
# the record (one parse, cached by SQLite across the expressions of a row).
_KEYS_FROM = (
    "CASE WHEN json_valid({0}) THEN json_extract({0}, '$.credentialSubject.chain.chain_id') END, "
    "CASE WHEN json_valid({0}) THEN json_extract({0}, '$.id') END, "
    "CASE WHEN json_valid({0}) AND "
    "json_type({0}, '$.credentialSubject.delegation.parent_receipt_id') = 'text' "
    "THEN json_extract({0}, '$.credentialSubject.delegation.parent_receipt_id') END, "
    "CASE WHEN json_valid({0}) THEN CASE json_type({0}, '$.credentialSubject.chain.sequence') "
    "WHEN 'integer' THEN json_extract({0}, '$.credentialSubject.chain.sequence') "
    # 2.0 is the integer 2 (verify.as_integer); beyond 2^53 a double is no sequence to cut by
    "WHEN 'real' THEN CASE WHEN {1} = CAST({1} AS INTEGER) AND abs({1}) <= 9007199254740991 "
    "THEN CAST({1} AS INTEGER) END END END"
)
_KEY_COLUMNS = "chain_key, receipt_key, parent_key, seq"


def _keys_from(raw: str) -> str:
    sequence = f"json_extract({raw}, '$.credentialSubject.chain.sequence')"
    return _KEYS_FROM.format(raw, sequence)


_INSERT_RECORD = (
    f"INSERT INTO records(raw, source, line, idx, {_KEY_COLUMNS}) "
    "VALUES (?1, ?2, ?3, ?4, " + _keys_from("?1") + ")"
)
_COPY_STORE = (
    f"INSERT INTO records(raw, source, src_rowid, has_index, {_KEY_COLUMNS}, "
    + _COL_NAMES
    + ") SELECT CAST(receipt_json AS BLOB), ?, src.receipts.rowid, 1, "
    + _keys_from("receipt_json")
    + ", {columns} FROM src.receipts"
)
_SELECT_RECORDS = (
    "SELECT chain_key, raw, source, line, idx, src_rowid, has_index, "
    + _COL_NAMES
    + " FROM records"
)
_SPOOL_SCHEMA = f"""
CREATE TABLE sources (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE records (
  chain_key TEXT, receipt_key TEXT, parent_key TEXT,
  source INTEGER NOT NULL,  -- sources.id: a row's size does not grow with its path
  line INTEGER, idx INTEGER,
  src_rowid INTEGER, raw BLOB NOT NULL, has_index INTEGER NOT NULL DEFAULT 0,
  {", ".join(f"col_{c}" for c in INDEX_COLUMNS)},
  seq  -- the signed chain.sequence as SQLite reads it, to cut long chains into chunks
);
"""


@dataclass(frozen=True)
class ChunkPlan:
    """Where one chunk of a long chain lies: a range of sequences, or those without one.

    `previous` is the sequence just before the range: the chunk reads those records too,
    to check its first receipt's link. Ranges never split a sequence, so duplicates
    and forks stay inside one chunk.
    """

    low: int | None
    high: int | None
    nulls: bool
    previous: int | None


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One receipt's stored bytes, where they came from, and the store's index columns."""

    raw: bytes
    origin: Origin
    index_columns: dict[str, object] | None = None


@dataclass(frozen=True)
class SourceSummary:
    """What one source contributed (for the manifest and scope section)."""

    path: str
    kind: str
    records: int
    sha256: str | None = None  # "sha256:<hex>" of the file's bytes; None for stdin


def _input_error(code: str, message: str, source: str, line: int | None = None) -> InputError:
    return InputError(Diagnostic(code, message, source, line))


class ReceiptSpool:
    """A temporary SQLite file holding every record; chains are read back one at a time."""

    def __init__(self) -> None:
        try:
            handle, name = tempfile.mkstemp(prefix="agent-evidence-", suffix=".spool.db")
        except OSError as exc:
            where = tempfile.gettempdir()
            message = f"cannot create the receipt spool: {exc.strerror or exc}; set TMPDIR"
            raise InputError(Diagnostic("SPOOL_IO_ERROR", message, where)) from exc
        os.close(handle)
        self.path = Path(name)
        tempfiles.register(self.path)  # removed even if the process is told to stop
        self.problems: list[Problem] = []
        self.sources: list[SourceSummary] = []
        self._indexed = False
        self._source_ids: dict[str, int] = {}
        self._source_names: dict[int, str] = {}
        try:
            # The busy timeout also applies to attached stores: how long a writer's lock
            # is waited for.
            self._conn = sqlite3.connect(f"file:{name}", uri=True, timeout=STORE_BUSY_TIMEOUT)
            self._conn.text_factory = bytes
            with self._writing("creating the spool"):
                self._conn.executescript(
                    "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SPOOL_SCHEMA
                )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if hasattr(self, "_conn"):
            self._conn.close()
        self.path.unlink(missing_ok=True)
        tempfiles.forget(self.path)

    def __enter__(self) -> ReceiptSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A spool that cannot be written (disk full, I/O error) is a local error, exit 2.

        It is never taken for a problem of the input being read: a report must not say a
        store is unreadable because this machine's temporary directory is full.
        """
        try:
            yield
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _LOCAL_IO_ERRORS:
                raise
            raise _spool_io_error(self.path, what, exc) from exc

    def _source_id(self, name: str) -> int:
        if name not in self._source_ids:
            number = len(self._source_ids) + 1
            with self._writing(f"reading {name}"):
                self._conn.execute("INSERT INTO sources(id, name) VALUES (?, ?)", (number, name))
            self._source_ids[name], self._source_names[number] = number, name
        return self._source_ids[name]

    def _insert(self, source: str, rows: Iterable[tuple[bytes, int | None, int | None]]) -> int:
        number = self._source_id(source)
        with self._writing(f"reading {source}"):
            cursor = self._conn.executemany(
                _INSERT_RECORD, ((raw, number, line, index) for raw, line, index in rows)
            )
        return cursor.rowcount

    def add_store(self, path: Path) -> None:
        """Copy a store's rows; a store that cannot be read is an input problem, not an abort.

        The copy is all or nothing: a store that turns out corrupt halfway leaves no rows
        behind (its receipts are not half-verified), and the sources before and after it
        are still read.
        """
        source = self._source_id(str(path))
        with self._writing(f"reading {path}"):
            self._conn.commit()  # ATTACH needs no open transaction; earlier sources are kept
        # While copying, a rollback must work (journal OFF makes it undefined). Appended
        # pages are never journalled, so the in-memory journal stays a few pages long.
        self._conn.execute("PRAGMA main.journal_mode=MEMORY")
        try:
            why = self._attach_store(path)
            if why is not None:
                self._not_a_store(path, why)
                return
            try:
                self._copy_store(path, source)
            finally:
                with self._writing(f"reading {path}"):
                    self._conn.commit()  # the copy's transaction spans `src`; end it first
                self._conn.execute("DETACH DATABASE src")
        finally:
            self._conn.execute("PRAGMA main.journal_mode=OFF")

    def _attach_store(self, path: Path) -> str | None:
        """Attach the store read-only as `src`; None, or why it cannot be read."""
        try:
            self._attach(_store_uri(path))
            return None
        except _STORE_ERRORS as exc:
            if not _may_open_immutable(path, exc):
                return _store_problem(path, exc)
        try:  # a WAL store nobody has open, in a directory we cannot write: see below
            self._attach(_store_uri(path, immutable=True))
            return None
        except _STORE_ERRORS as exc:
            return _store_problem(path, exc)

    def _attach(self, uri: str) -> None:
        """ATTACH, then read the schema so an unreadable file fails here, detached."""
        try:
            self._conn.execute("ATTACH DATABASE ? AS src", (uri,))
            self._conn.execute("SELECT COUNT(*) FROM src.sqlite_master").fetchone()
        except _STORE_ERRORS:
            self._conn.rollback()
            with contextlib.suppress(sqlite3.Error):  # not attached if ATTACH itself failed
                self._conn.execute("DETACH DATABASE src")
            raise

    def _copy_store(self, path: Path, source: int) -> None:
        try:
            columns = _receipts_table_columns(self._conn)
        except _STORE_ERRORS as exc:
            self._not_a_store(path, _store_problem(path, exc))
            return
        if isinstance(columns, str):
            self._not_a_store(path, columns)
            return
        selected = ", ".join(f"src.receipts.{c}" if c in columns else "NULL" for c in INDEX_COLUMNS)
        budget = _CopyBudget(path, self.path)
        self._conn.set_progress_handler(budget.exhausted, _PROGRESS_EVERY)
        try:
            statement = _COPY_STORE.format(columns=selected)
            cursor = self._conn.execute(statement, (source,))
        except _STORE_ERRORS as exc:
            self._conn.rollback()  # no row of a store that fails halfway is kept
            if tempfiles.interrupted():
                raise KeyboardInterrupt from exc  # swallowed inside SQLite's callback
            if budget.exceeded is not None:
                self._not_a_store(path, budget.exceeded)
                return
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _LOCAL_IO_ERRORS:
                raise _spool_io_error(self.path, f"copying {path}", exc) from exc
            self._not_a_store(path, _store_problem(path, exc))
            return
        finally:
            self._conn.set_progress_handler(None, 0)
        self.sources.append(SourceSummary(str(path), "store", cursor.rowcount))

    def _not_a_store(self, path: Path, why: str) -> None:
        self.problems.append(Problem(Code.MALFORMED_RECEIPT, why, origin=Origin(str(path))))
        self.sources.append(SourceSummary(str(path), "invalid", 0))

    def add_json_lines(self, stream: BinaryIO, source: str) -> None:
        rows = ((line, number, None) for number, line in _json_lines(stream, source, self.problems))
        self.sources.append(SourceSummary(source, "jsonl", self._insert(source, rows)))

    def add_json_file(self, path: Path) -> None:
        source = str(path)
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
        if not head.startswith(b"[") and path.stat().st_size > MAX_RECORD_BYTES:
            self.problems.append(_too_large(Origin(source, 1)))
            self.sources.append(SourceSummary(source, "json", 0))
            return
        data = path.read_bytes()
        stripped = data.lstrip()
        if not stripped.startswith(b"["):
            count = self._insert(source, [(data, 1, None)])
            self.sources.append(SourceSummary(source, "json", count))
            return
        elements, problem = _split_json_array(data, source)
        if problem is not None:
            self.problems.append(problem)
        count = self._insert(
            source, ((raw, line, index) for index, (raw, line) in enumerate(elements))
        )
        self.sources.append(SourceSummary(source, "json", count))

    # -- reading ---------------------------------------------------------------------------

    def _ensure_index(self) -> None:
        if not self._indexed:
            with self._writing("indexing the spool"):
                self._rekey_where_sqlite_may_differ()
                self._conn.execute("CREATE INDEX records_chain ON records(chain_key, seq)")
                self._ungroup_unreadable_keys()
            self._indexed = True

    def finish(self) -> None:
        """Index what was read; after this the spool is only read (see `_writing`)."""
        self._ensure_index()
        with self._writing("indexing the spool"):
            self._conn.commit()

    def _rekey_where_sqlite_may_differ(self) -> None:
        """Group by what the verifier parses, where SQLite's reading could differ.

        SQLite's json_extract does not decode escaped member names: a record spelling
        `"\\u0063hain_id"` is the same signed JSON as one spelling `"chain_id"`, yet SQLite
        would not see its chain id, and the record would be verified apart from its
        chain. Records with a \\u escape, and records SQLite could not group, get their
        keys from the verifier's own strict parser instead.
        """
        self._conn.create_function("strict_key", 2, _strict_key, deterministic=True)
        self._conn.create_function("parses", 1, _parses, deterministic=True)
        self._conn.execute(
            "UPDATE records SET chain_key = strict_key(raw, 'chain'), "
            "receipt_key = strict_key(raw, 'receipt'), parent_key = strict_key(raw, 'parent') "
            "WHERE (chain_key IS NULL OR instr(raw, ?) > 0) AND parses(raw)",
            (b"\\u",),
        )
        self._conn.commit()

    def _ungroup_unreadable_keys(self) -> None:
        """A chain id SQLite read as bytes that are not UTF-8 (a damaged record the strict
        parser refuses) cannot be asked for again as text: such records are ungrouped, so
        each is reported on its own instead of being lost."""
        keys = self._conn.execute(
            "SELECT DISTINCT chain_key FROM records WHERE chain_key IS NOT NULL"
        ).fetchall()
        for (key,) in keys:
            if isinstance(key, bytes) and not _is_utf8(key):
                self._conn.execute(
                    "UPDATE records SET chain_key = NULL WHERE chain_key = CAST(? AS TEXT)", (key,)
                )
        self._conn.commit()

    def record_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def ids_in_several_chains(self) -> set[str]:
        """Receipt ids that SQLite sees in more than one chain: ids must be unique."""
        self._ensure_index()
        rows = self._conn.execute(
            "SELECT receipt_key FROM records WHERE receipt_key IS NOT NULL "
            "GROUP BY receipt_key HAVING COUNT(DISTINCT chain_key) > 1"
        )
        return {_text(row[0]) for row in rows}

    def delegation_parents(self) -> set[str]:
        """Receipt ids some receipt names as its delegation parent (§7.6).

        Read when the record was stored; records with a \\u escape are read with the
        verifier's parser (SQLite does not decode escaped member names; see
        `_rekey_where_sqlite_may_differ`).
        """
        self._ensure_index()
        rows = self._conn.execute(
            "SELECT DISTINCT parent_key FROM records WHERE parent_key IS NOT NULL"
        )
        return {_text(row[0]) for row in rows}

    def raw_receipts(self, receipt_ids: Iterable[str]) -> dict[str, bytes]:
        """The stored bytes of the given receipts (first copy of each), for citation."""
        wanted = sorted(set(receipt_ids))
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            marks = ",".join("?" * len(batch))
            query = f"SELECT receipt_key, raw FROM records WHERE receipt_key IN ({marks})"
            rows = self._conn.execute(query + " ORDER BY rowid", batch)
            for key, raw in rows:
                found.setdefault(_text(key), bytes(raw))
        return found

    def chain_sizes(self) -> dict[str, int]:
        """How many records each chain key has (to choose which chains to read in chunks)."""
        self._ensure_index()
        rows = self._conn.execute(
            "SELECT chain_key, COUNT(*) FROM records WHERE chain_key IS NOT NULL GROUP BY chain_key"
        )
        return {_text(key): int(count) for key, count in rows}

    def chunk_plan(self, chain_key: str, size: int) -> list[ChunkPlan]:
        """Cut one chain into runs of about `size` records, in sequence order."""
        self._ensure_index()
        rows = self._conn.execute(
            "SELECT seq FROM records WHERE chain_key = ? AND seq IS NOT NULL ORDER BY seq",
            (chain_key,),
        )
        plans = _sequence_ranges([row[0] for row in rows], size)
        has_nulls = self._conn.execute(
            "SELECT 1 FROM records WHERE chain_key = ? AND seq IS NULL LIMIT 1", (chain_key,)
        ).fetchone()
        if has_nulls:
            last = plans[-1].high_value if plans else None
            plans.append(_Range(None, None, True, last, last))
        return [ChunkPlan(r.low, r.high, r.nulls, r.previous) for r in plans]

    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]:
        return _records_in(self._conn, self._source_names, chain_key, plan)

    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]:
        return _records_at(self._conn, self._source_names, chain_key, sequence)

    def chain_keys(self) -> list[str]:
        """Every chain key, sorted, so runs are reproducible."""
        self._ensure_index()
        rows = self._conn.execute(
            "SELECT DISTINCT chain_key FROM records WHERE chain_key IS NOT NULL ORDER BY chain_key"
        )
        return [_text(row[0]) for row in rows]

    def records_for(self, chain_key: str) -> list[RawRecord]:
        """One chain's records in arrival order (the verifier orders them by sequence)."""
        self._ensure_index()
        return _records_for(self._conn, self._source_names, chain_key)

    def ungrouped_records(self) -> list[RawRecord]:
        """Records SQLite could not read a chain id from (malformed, or no chain)."""
        self._ensure_index()
        rows = self._conn.execute(_SELECT_RECORDS + " WHERE chain_key IS NULL ORDER BY rowid")
        return [_record_from_row(row, self._source_names) for row in rows]

    def chains(self) -> Iterator[tuple[str | None, list[RawRecord]]]:
        """Yield (chain key, records) one chain at a time, then each ungrouped record alone."""
        for key in self.chain_keys():
            yield key, self.records_for(key)
        for record in self.ungrouped_records():
            yield None, [record]

    def reader(self) -> SpoolReader:
        """A read-only view for another process; the index must exist first."""
        self._ensure_index()
        self._conn.commit()
        return SpoolReader(self.path)


class SpoolReader:
    """Reads one chain's records (or one chunk's) from a spool written by another process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._names: dict[int, str] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path, "_conn": None, "_names": {}}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._conn.text_factory = bytes
            rows = self._conn.execute("SELECT id, name FROM sources")
            self._names = {number: _text(name) for number, name in rows}
        return self._conn

    def records_for(self, chain_key: str) -> list[RawRecord]:
        return _records_for(self._connection(), self._names, chain_key)

    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]:
        return _records_in(self._connection(), self._names, chain_key, plan)

    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]:
        return _records_at(self._connection(), self._names, chain_key, sequence)


@dataclass(frozen=True)
class _Range:
    low: int | None
    high: int | None
    nulls: bool
    previous: int | None
    high_value: int | None  # the largest sequence inside the range


def _sequence_ranges(values: list[int], size: int) -> list[_Range]:
    """Cut sorted sequences into ranges of about `size`, never inside a run of equals."""
    ranges: list[_Range] = []
    start = 0
    while start < len(values):
        end = min(start + size, len(values))
        while end < len(values) and values[end] == values[end - 1]:
            end += 1
        low = values[start] if ranges else None
        high = values[end] if end < len(values) else None
        previous = ranges[-1].high_value if ranges else None
        ranges.append(_Range(low, high, False, previous, values[end - 1]))
        start = end
    return ranges


def _records_for(
    conn: sqlite3.Connection, names: dict[int, str], chain_key: str
) -> list[RawRecord]:
    rows = conn.execute(_SELECT_RECORDS + " WHERE chain_key = ? ORDER BY rowid", (chain_key,))
    return [_record_from_row(row, names) for row in rows]


def _records_in(
    conn: sqlite3.Connection, names: dict[int, str], chain_key: str, plan: ChunkPlan
) -> list[RawRecord]:
    where = " AND seq IS NULL" if plan.nulls else " AND seq IS NOT NULL"
    params: list[object] = [chain_key]
    if plan.low is not None:
        where += " AND seq >= ?"
        params.append(plan.low)
    if plan.high is not None:
        where += " AND seq < ?"
        params.append(plan.high)
    query = _SELECT_RECORDS + " WHERE chain_key = ?" + where + " ORDER BY rowid"
    return [_record_from_row(row, names) for row in conn.execute(query, params)]


def _records_at(
    conn: sqlite3.Connection, names: dict[int, str], chain_key: str, sequence: int
) -> list[RawRecord]:
    query = _SELECT_RECORDS + " WHERE chain_key = ? AND seq = ? ORDER BY rowid"
    return [_record_from_row(row, names) for row in conn.execute(query, (chain_key, sequence))]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@functools.lru_cache(maxsize=1)
def _strict_document(raw: bytes) -> dict[str, object] | None:
    try:
        return parse_receipt(raw).document
    except MalformedReceiptError:
        return None


def _parses(raw: object) -> bool:
    """Unparseable records keep SQLite's grouping: the verifier reports them in their chain."""
    return isinstance(raw, bytes) and _strict_document(raw) is not None


def _strict_key(raw: object, which: str) -> str | None:
    """A record's chain id ('chain'), receipt id ('receipt') or delegation parent receipt
    id ('parent'), as the verifier reads it."""
    document = _strict_document(raw) if isinstance(raw, bytes) else None
    if document is None:
        return None
    value = get_path(document, *_STRICT_KEY_PATHS[which])
    return value if isinstance(value, str) else None


_STRICT_KEY_PATHS = {
    "chain": ("credentialSubject", "chain", "chain_id"),
    "receipt": ("id",),
    "parent": ("credentialSubject", "delegation", "parent_receipt_id"),
}


def _record_from_row(row: tuple[object, ...], names: dict[int, str]) -> RawRecord:
    """A spool row as a record. `names` maps source numbers to one string per source,
    shared by every origin read from it (a million verdicts, a handful of paths)."""
    raw, source, line, idx, rowid, has_index = row[1:7]
    assert isinstance(raw, bytes)
    assert isinstance(source, int)
    origin = Origin(
        source=names[source],
        line=line if isinstance(line, int) else None,
        index=idx if isinstance(idx, int) else None,
        rowid=rowid if isinstance(rowid, int) else None,
    )
    columns = None
    if has_index:
        columns = {
            name: (_text(value) if isinstance(value, bytes) else value)
            for name, value in zip(INDEX_COLUMNS, row[7:], strict=True)
        }
    return RawRecord(raw=raw, origin=origin, index_columns=columns)


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def _store_uri(path: Path, *, immutable: bool = False) -> str:
    return "file:" + _uri_path(path) + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def _is_wal_store(path: Path) -> bool:
    """Header bytes 18-19 are 2 in a WAL-mode database (1: rollback journal)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18:20] == b"\x02\x02"


def _may_open_immutable(path: Path, error: Exception) -> bool:
    """Whether a failed read-only open may be retried with ``immutable=1``.

    A WAL-mode store needs its ``-shm`` file even to be read. When its writer has
    closed it, the ``-wal`` and ``-shm`` files are gone, and in a read-only directory
    (or mount) they cannot be created, so ``mode=ro`` cannot open it. With no ``-wal``
    (and no hot ``-journal``) beside it, the main file alone holds every committed
    transaction, so it is read as immutable. A ``-wal`` file means frames that only a
    reader with ``-shm`` can see: no retry, the error stands.
    """
    code = getattr(error, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
        return False
    beside = (Path(f"{path}{suffix}") for suffix in ("-wal", "-journal"))
    return _is_wal_store(path) and not any(p.exists() for p in beside)


def _store_problem(path: Path, error: Exception) -> str:
    """What to tell the user about a store SQLite would not read."""
    if isinstance(error, UnicodeDecodeError):
        return "store is corrupt (its schema is not valid UTF-8); none of its receipts were read"
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return (
            f"store is locked by another process ({error}) for more than "
            f"{STORE_BUSY_TIMEOUT:g} s; none of its receipts were read"
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return f"store is corrupt ({error}); none of its receipts were read"
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY) and _is_wal_store(path):
        return (
            f"cannot open the WAL-mode store read-only ({error}): its -wal/-shm files are "
            "missing or cannot be created here; report on a snapshot "
            "(sqlite3 STORE \"VACUUM INTO 'copy.db'\"); none of its receipts were read"
        )
    return f"cannot read the store ({error}); none of its receipts were read"


def _receipts_table_columns(conn: sqlite3.Connection) -> set[str] | str:
    """The columns of the attached store's `receipts` table, or why it cannot be copied.

    Only a real table is read: a view or a virtual table computes its rows (a recursive
    view never stops), and so does a generated column; a real table's rows are its bytes.
    """
    row = conn.execute(
        "SELECT type, sql FROM src.sqlite_master WHERE name = 'receipts' COLLATE NOCASE"
    ).fetchone()
    if row is None:
        return "not a receipts store: no 'receipts' table with receipt_json"
    kind, sql = _text(row[0]), _text(row[1] or b"")
    if kind != "table" or sql.lstrip().upper().startswith("CREATE VIRTUAL"):
        what = "a virtual table" if kind == "table" else f"a {kind}"
        return f"not a receipts store: 'receipts' is {what}, not a table; nothing was read"
    # (cid, name, type, notnull, default, pk, hidden): hidden 2 and 3 are generated columns
    info = conn.execute("PRAGMA src.table_xinfo(receipts)").fetchall()
    columns = {_text(column[1]): column[6] for column in info}
    if not {"receipt_json", "chain_id"} <= set(columns):
        return "not a receipts store: no 'receipts' table with receipt_json"
    computed = sorted(name for name, hidden in columns.items() if hidden and name in _READ)
    if computed:
        return (
            f"not a receipts store: column {computed[0]!r} is computed, not stored; "
            "nothing was read"
        )
    return set(columns)


_READ = frozenset({"receipt_json", *INDEX_COLUMNS})  # the store columns a copy reads


class _CopyBudget:
    """SQLite's progress callback during a store's copy: stops a copy that writes more
    spool than STORE_COPY_GROWTH times the store's bytes, or runs more steps than
    STORE_COPY_STEPS_PER_BYTE times them (a hostile or corrupt store), and lets the
    Python signal handlers run during the copy (see `tempfiles`)."""

    def __init__(self, store: Path, spool: Path) -> None:
        size = sum(_size(Path(f"{store}{suffix}")) for suffix in ("", "-wal"))
        self._spool = spool
        self._spool_limit = _size(spool) + STORE_COPY_GROWTH * size + STORE_COPY_SLACK
        steps = STORE_COPY_STEPS_PER_BYTE * size + STORE_COPY_STEPS_SLACK
        self._steps_left = steps // _PROGRESS_EVERY
        self._size = size
        self.exceeded: str | None = None

    def exhausted(self) -> int:
        self._steps_left -= 1
        if self._steps_left < 0:
            self._stop("reading it takes more work than")
        elif _size(self._spool) > self._spool_limit:
            self._stop("it yields more data than")
        return 1 if self.exceeded else 0

    def _stop(self, why: str) -> None:
        self.exceeded = (
            f"store is corrupt or hostile: {why} its {self._size} bytes can hold; "
            "none of its receipts were read"
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _spool_io_error(spool: Path, what: str, error: Exception) -> InputError:
    message = (
        f"cannot write the receipt spool while {what}: {error}; nothing was verified "
        "(free space where TMPDIR points, or point TMPDIR elsewhere)"
    )
    return InputError(Diagnostic("SPOOL_IO_ERROR", message, str(spool)))


def _split_json_array(data: bytes, source: str) -> tuple[list[tuple[bytes, int]], Problem | None]:
    """Split a JSON array into each element's own bytes and starting line.

    Elements are located with the standard decoder's ``raw_decode`` (only to find where
    each ends); each element's bytes are then verified like any other record. Bytes
    that are not UTF-8 travel through as surrogate escapes and come back unchanged, so
    only the element holding them fails (strict parsing), not the whole file.
    """
    decoder = json.JSONDecoder()
    text = data.decode("utf-8", "surrogateescape")
    position = text.index("[") + 1
    elements: list[tuple[bytes, int]] = []
    while True:
        position = _skip_space(text, position)
        if position < len(text) and text[position] == "]" and not elements:
            return elements, _trailing_content(text, position + 1, source)
        try:
            _, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            line = text.count("\n", 0, exc.pos) + 1
            message = (
                f"invalid JSON in array element {len(elements)}: {exc.msg}; rest of file skipped"
            )
            return elements, Problem(Code.MALFORMED_RECEIPT, message, origin=Origin(source, line))
        element = text[position:end].encode("utf-8", "surrogateescape")
        elements.append((element, text.count("\n", 0, position) + 1))
        position = _skip_space(text, end)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        if position < len(text) and text[position] == "]":
            return elements, _trailing_content(text, position + 1, source)
        line = text.count("\n", 0, position) + 1
        message = "expected ',' or ']' after an array element; rest of file skipped"
        return elements, Problem(Code.MALFORMED_RECEIPT, message, origin=Origin(source, line))


def _trailing_content(text: str, end: int, source: str) -> Problem | None:
    """Anything but whitespace after the array is a problem of the file: a second value
    there would otherwise be dropped without a word (RFC 8259: one value per text)."""
    position = _skip_space(text, end)
    if position == len(text):
        return None
    line = text.count("\n", 0, position) + 1
    message = "content after the JSON array; the file must hold one JSON value"
    return Problem(Code.MALFORMED_RECEIPT, message, origin=Origin(source, line))


def _too_large(origin: Origin) -> Problem:
    message = f"record is over {MAX_RECORD_BYTES} bytes, the most ever read; skipped unread"
    return Problem(Code.RECEIPT_TOO_LARGE, message, origin=origin)


def _json_lines(
    stream: BinaryIO, source: str, problems: list[Problem]
) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line; a line over MAX_RECORD_BYTES is
    skipped without being held in memory, and reported."""
    number = 0
    while line := stream.readline(MAX_RECORD_BYTES + 1):
        number += 1
        if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            problems.append(_too_large(Origin(source, number)))
        elif line.strip():
            yield number, line.rstrip(b"\r\n")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _files_in(directory: Path) -> list[Path]:
    wanted = JSON_SUFFIXES + JSONL_SUFFIXES + STORE_SUFFIXES
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in wanted)


def _file_sha256(path: Path) -> str | None:
    """The SHA-256 of a regular file's bytes as "sha256:<hex>"; None for anything else."""
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def _add_file(spool: ReceiptSpool, path: Path, hasher: ThreadPoolExecutor) -> None:
    """Spool one file while `hasher`'s thread hashes it: hashlib and SQLite release the
    GIL, so on a second core the digest (seconds for a multi-GB store) costs no time."""
    added = len(spool.sources)
    digest = hasher.submit(_file_sha256, path)
    try:
        _spool_file(spool, path)
    finally:
        wait([digest])  # whatever happened, the thread is done with the file
    sha256 = digest.result()
    spool.sources[added:] = [replace(s, sha256=sha256) for s in spool.sources[added:]]


def _spool_file(spool: ReceiptSpool, path: Path) -> None:
    suffix = path.suffix.lower()
    if _is_sqlite(path):
        spool.add_store(path)
    elif suffix in STORE_SUFFIXES:
        spool._not_a_store(path, "not an SQLite database")
    elif suffix in JSONL_SUFFIXES:
        with path.open("rb") as stream:
            spool.add_json_lines(stream, str(path))
    else:
        spool.add_json_file(path)


def spool_sources(sources: Iterable[str], *, stdin: BinaryIO | None = None) -> ReceiptSpool:
    """Spool every SOURCE argument.

    A path that does not exist or cannot be opened raises InputError (exit 2); a file
    that opens but holds no readable receipts (a corrupt or locked store, a record over
    MAX_RECORD_BYTES) is recorded in `problems` and the other sources are still read.
    """
    spool = ReceiptSpool()
    hasher = ThreadPoolExecutor(max_workers=1)  # one thread for every file's digest
    try:
        for source in sources:
            if source == "-":
                spool.add_json_lines(stdin or sys.stdin.buffer, "<stdin>")
                continue
            path = Path(source)
            if not path.exists():
                raise _input_error("NO_SUCH_SOURCE", "no such file or directory", source)
            files = _files_in(path) if path.is_dir() else [path]
            if path.is_dir() and not files:
                raise _input_error("EMPTY_SOURCE", "no .json, .jsonl or store files", source)
            for file in files:
                try:
                    _add_file(spool, file, hasher)
                except OSError as exc:
                    raise _input_error("UNREADABLE", exc.strerror or str(exc), str(file)) from exc
        spool.finish()
    except BaseException:
        spool.close()
        raise
    finally:
        hasher.shutdown()
    return spool
