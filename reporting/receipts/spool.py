"""The spool: one temporary SQLite file holding every record read, read back by chain.

Every source is copied into the spool first (`sources.py`), then read back one chain
(or one run of a long chain's sequences) at a time, so memory stays bounded by the
largest chunk however large the input, and a chain split across sources (a store plus a
JSON Lines export) is verified whole. Records are grouped by the chain id SQLite reads
from the JSON; where SQLite's reading could differ from the verifier's (a ``\\u``
escape, or no chain id SQLite could read), keys come from the verifier's own strict
reader (`records.read_keys`) within the run's limits. The grouping is a hint: the
verifier parses each record strictly again.

The file is registered with `tempfiles`, so it is removed however the process stops;
a spool that cannot be written (a full disk) is exit 2, never a problem of the input.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from reporting.errors import Diagnostic, DiagnosticCode, InputError
from reporting.receipts import stores, tempfiles
from reporting.receipts.records import RawRecord, ReadLimits, ReceiptKeys, read_keys
from reporting.receipts.results import Code, Origin, Problem
from reporting.receipts.stores import (
    PROGRESS_EVERY,
    STORE_ERRORS,
    CopyBudget,
    may_open_immutable,
    receipts_table_columns,
    store_problem,
    store_uri,
)

__all__ = [
    "INDEX_COLUMNS",
    "WATCH_BATCH",
    "ChunkPlan",
    "ClaimedSource",
    "ReceiptSpool",
    "SourceSummary",
    "SpoolReader",
    "StoredBatch",
    "Watcher",
    "key_text",
]

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
    f"INSERT INTO records(raw, source, line, idx, escaped, {_KEY_COLUMNS}) "
    "VALUES (?1, ?2, ?3, ?4, ?5, " + _keys_from("?1") + ")"
)
_COPY_STORE = (
    f"INSERT INTO records(raw, source, src_rowid, has_index, escaped, {_KEY_COLUMNS}, "
    + _COL_NAMES
    + ") SELECT CAST(receipt_json AS BLOB), ?1, src.receipts.rowid, 1, "
    + "instr(CAST(receipt_json AS BLOB), ?2) > 0, "
    + _keys_from("receipt_json")
    + ", {columns} FROM src.receipts"
)
_SELECT_RECORDS = (
    "SELECT raw, source, line, idx, src_rowid, has_index, receipt_key, "
    + _COL_NAMES
    + ", rowid FROM records"
)
# The store columns a copy reads (each must be stored, not computed).
_STORE_COLUMNS_READ = frozenset({"receipt_json", *INDEX_COLUMNS})
# Nothing to recover after a crash (the file is removed), so no journal and no syncs. A
# record is 1 to 2 KB: on SQLite's default 4 KB pages two or three fit a page, and at a
# million records copying a store into the spool took twice the CPU it takes on 64 KB
# pages (measured: 23.5 to 27 s against 15 to 16.4 s; 0.59 against 0.54 s at 40,000).
# The page size is set before the first table makes the file.
_SPOOL_PRAGMAS = "PRAGMA page_size=65536; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
_SPOOL_SCHEMA = f"""
CREATE TABLE sources (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE records (
  chain_key TEXT, receipt_key TEXT, parent_key TEXT,
  source INTEGER NOT NULL,  -- sources.id: a row's size does not grow with its path
  line INTEGER, idx INTEGER,
  src_rowid INTEGER, raw BLOB NOT NULL, has_index INTEGER NOT NULL DEFAULT 0,
  escaped INTEGER NOT NULL,  -- 1: raw holds a \\u escape (SQLite's keys may differ)
  {", ".join(f"col_{c}" for c in INDEX_COLUMNS)},
  seq  -- the signed chain.sequence as SQLite reads it, to cut long chains into chunks
);
"""


class StoredBatch(NamedTuple):
    """Records just stored from one file or stream, as columns: what a watcher sees.

    Each record's keys as SQLite read them, and what `records_in` builds its record from
    (the rest of a record read back is None for a file or a stream).
    """

    source: str
    chain_keys: tuple[str | None, ...]  # None: no chain id SQLite could read as text
    sequences: tuple[int | None, ...]
    receipt_keys: tuple[object, ...]  # as stored: `key_text` reads one
    parent_keys: tuple[object, ...]
    escaped: tuple[bool, ...]  # holds a \\u escape: the verifier's keys may differ
    raws: tuple[bytes, ...]
    lines: tuple[int | None, ...]
    indexes: tuple[int | None, ...]


# Told of every batch of records added from a file or a stream, once it is stored.
Watcher = Callable[[StoredBatch], None]
WATCH_BATCH = 500  # records stored between two calls of a watcher


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


@dataclass(frozen=True)
class SourceSummary:
    """What one source contributed (for the manifest and scope section)."""

    path: str
    kind: str
    records: int
    sha256: str | None = None  # "sha256:<hex>" of the file's bytes; None for stdin


@dataclass(frozen=True)
class ClaimedSource:
    """A file (or standard input) another verifier claimed by its content: never spooled,
    never read as receipts; kept whole for that verifier (see `sources.spool_sources`)."""

    name: str
    kind: str
    raw: bytes


def _new_spool_file() -> Path:
    try:
        handle, name = tempfile.mkstemp(prefix="agent-evidence-", suffix=".spool.db")
    except OSError as exc:
        where = tempfile.gettempdir()
        message = f"cannot create the receipt spool: {exc.strerror or exc}; set TMPDIR"
        raise InputError(Diagnostic(DiagnosticCode.SPOOL_IO_ERROR, message, where)) from exc
    os.close(handle)
    return Path(name)


class ReceiptSpool:
    """A temporary SQLite file holding every record; chains are read back one at a time."""

    def __init__(self, limits: ReadLimits | None = None) -> None:
        self.limits = limits or ReadLimits()  # what the strict key reader reads
        with tempfiles.signals_held():  # a stop between the two still removes the file
            self.path = _new_spool_file()
            tempfiles.register(self.path)  # removed even if the process is told to stop
        self.problems: list[Problem] = []
        self.sources: list[SourceSummary] = []
        self.claimed: list[ClaimedSource] = []  # content of another kind (Pipelock records)
        # How origins and summaries name a file: its display name (never an absolute path
        # of this machine when the caller gives one; see `reporting.settings.display_name`).
        self.name: Callable[[Path], str] = str
        # Told of the records as they are stored (`headstart.HeadStart`); None: nobody.
        self.watcher: Watcher | None = None
        self.on_close: list[Callable[[], None]] = []  # run first when the spool is closed
        self._indexed = False
        self._source_ids: dict[str, int] = {}
        self._source_names: dict[int, str] = {}
        try:
            # The busy timeout also applies to attached stores: how long a writer's lock
            # is waited for.
            self._conn = sqlite3.connect(
                f"file:{self.path}", uri=True, timeout=stores.STORE_BUSY_TIMEOUT
            )
            self._conn.text_factory = bytes
            with self._writing("creating the spool"):
                self._conn.executescript(_SPOOL_PRAGMAS + _SPOOL_SCHEMA)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        while getattr(self, "on_close", None):
            self.on_close.pop()()
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
        numbered = ((raw, number, line, index, _escaped(raw)) for raw, line, index in rows)
        if self.watcher is None:
            with self._writing(f"reading {source}"):
                return self._conn.executemany(_INSERT_RECORD, numbered).rowcount
        count = 0
        while batch := list(itertools.islice(numbered, WATCH_BATCH)):
            with self._writing(f"reading {source}"):
                self._conn.executemany(_INSERT_RECORD, batch)
            count += len(batch)
            self.watcher(self._stored(source, batch))
        return count

    def _stored(self, source: str, batch: list[tuple[bytes, int, Any, Any, bool]]) -> StoredBatch:
        """The batch just inserted, with the keys SQLite read (the last rows of the table:
        records get the next rowids, in order)."""
        query = f"SELECT {_KEY_COLUMNS} FROM records ORDER BY rowid DESC LIMIT ?"
        stored = self._conn.execute(query, (len(batch),)).fetchall()
        stored.reverse()
        chain_keys, receipt_keys, parent_keys, sequences = zip(*stored, strict=True)
        raws, _, lines, indexes, escaped = zip(*batch, strict=True)
        texts = {key: _utf8_or_none(key) for key in set(chain_keys)}
        keys = tuple(map(texts.__getitem__, chain_keys))
        columns = (sequences, receipt_keys, parent_keys, escaped, raws, lines, indexes)
        return StoredBatch(source, keys, *columns)

    def add_store(self, path: Path) -> None:
        """Copy a store's rows; a store that cannot be read is an input problem, not an abort.

        The copy is all or nothing: a store that turns out corrupt halfway leaves no rows
        behind (its receipts are not half-verified), and the sources before and after it
        are still read.
        """
        source = self._source_id(self.name(path))
        with self._writing(f"reading {path}"):
            self._conn.commit()  # ATTACH needs no open transaction; earlier sources are kept
        # While copying, a rollback must work (journal OFF makes it undefined). Appended
        # pages are never journalled, so the in-memory journal stays a few pages long.
        self._conn.execute("PRAGMA main.journal_mode=MEMORY")
        try:
            why = self._attach_store(path)
            if why is not None:
                self.not_a_store(path, why)
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
            self._attach(store_uri(path))
            return None
        except STORE_ERRORS as exc:
            if not may_open_immutable(path, exc):
                return store_problem(path, exc)
        try:  # a WAL store nobody has open, in a directory we cannot write: see below
            self._attach(store_uri(path, immutable=True))
            return None
        except STORE_ERRORS as exc:
            return store_problem(path, exc)

    def _attach(self, uri: str) -> None:
        """ATTACH, then read the schema so an unreadable file fails here, detached."""
        try:
            self._conn.execute("ATTACH DATABASE ? AS src", (uri,))
            self._conn.execute("SELECT COUNT(*) FROM src.sqlite_master").fetchone()
        except STORE_ERRORS:
            self._conn.rollback()
            with contextlib.suppress(sqlite3.Error):  # not attached if ATTACH itself failed
                self._conn.execute("DETACH DATABASE src")
            raise

    def _copy_store(self, path: Path, source: int) -> None:
        try:
            columns = receipts_table_columns(self._conn, _STORE_COLUMNS_READ)
        except STORE_ERRORS as exc:
            self.not_a_store(path, store_problem(path, exc))
            return
        if isinstance(columns, str):
            self.not_a_store(path, columns)
            return
        selected = ", ".join(f"src.receipts.{c}" if c in columns else "NULL" for c in INDEX_COLUMNS)
        budget = CopyBudget(path, self.path)
        self._conn.set_progress_handler(budget.exhausted, PROGRESS_EVERY)
        try:
            statement = _COPY_STORE.format(columns=selected)
            cursor = self._conn.execute(statement, (source, b"\\u"))
        except STORE_ERRORS as exc:
            self._conn.rollback()  # no row of a store that fails halfway is kept
            if tempfiles.interrupted():
                raise KeyboardInterrupt from exc  # swallowed inside SQLite's callback
            if budget.exceeded is not None:
                self.not_a_store(path, budget.exceeded)
                return
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _LOCAL_IO_ERRORS:
                raise _spool_io_error(self.path, f"copying {path}", exc) from exc
            self.not_a_store(path, store_problem(path, exc))
            return
        finally:
            self._conn.set_progress_handler(None, 0)
        self.sources.append(SourceSummary(self.name(path), "store", cursor.rowcount))

    def not_a_store(self, path: Path, why: str) -> None:
        name = self.name(path)
        self.problems.append(Problem(Code.MALFORMED_RECEIPT, why, origin=Origin(name)))
        self.sources.append(SourceSummary(name, "invalid", 0))

    def add_records(
        self, source: str, kind: str, rows: Iterable[tuple[bytes, int | None, int | None]]
    ) -> None:
        """Add records read from a file or a stream: (bytes, line, array index) each."""
        self.sources.append(SourceSummary(source, kind, self._insert(source, rows)))

    def add_claimed(self, source: str, kind: str, raw: bytes) -> None:
        """Keep a source another verifier claimed; it is listed with the sources read."""
        self.claimed.append(ClaimedSource(source, kind, raw))
        records = sum(1 for line in raw.splitlines() if line.strip())
        self.sources.append(SourceSummary(source, kind, records))

    # -- reading ---------------------------------------------------------------------------

    def _ensure_index(self) -> None:
        if not self._indexed:
            with self._writing("indexing the spool"):
                self._rekey_where_sqlite_may_differ()
                self._conn.execute("CREATE INDEX records_chain ON records(chain_key, seq)")
                self._ungroup_unreadable_keys()
                # read by every worker process (`SpoolReader`): a table of its own
                self._conn.execute(_CREATE_PARENTS)
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
        limits = self.limits

        @functools.lru_cache(maxsize=1)  # one parse for the three keys of a row
        def keys(raw: bytes) -> ReceiptKeys | None:
            return read_keys(raw, limits)

        def key(raw: object, which: str) -> str | None:
            found = keys(raw) if isinstance(raw, bytes) else None
            return getattr(found, which) if found is not None else None

        def parses(raw: object) -> bool:
            return isinstance(raw, bytes) and keys(raw) is not None

        self._conn.create_function("strict_key", 2, key, deterministic=True)
        self._conn.create_function("parses", 1, parses, deterministic=True)
        # Records the verifier cannot parse keep SQLite's grouping: it reports them in
        # their chain.
        self._conn.execute(
            "UPDATE records SET chain_key = strict_key(raw, 'chain_id'), "
            "receipt_key = strict_key(raw, 'receipt_id'), "
            "parent_key = strict_key(raw, 'parent_receipt_id') "
            "WHERE (chain_key IS NULL OR escaped) AND parses(raw)"
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
        return _parents_from(self._conn)

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

    def chunk_plan(
        self, chain_key: str, size: int, *, after: tuple[int, int] | None = None
    ) -> list[ChunkPlan]:
        """Cut one chain into runs of about `size` records, in sequence order.

        `after` is (low, previous) when the runs before `low` are planned already (sent
        early, `headstart.py`): the first run then starts at `low`, after `previous`.
        """
        self._ensure_index()
        low, previous = after if after is not None else (None, None)
        where = "chain_key = ? AND seq IS NOT NULL" + (" AND seq >= ?" if after else "")
        params = (chain_key, low) if after else (chain_key,)
        rows = self._conn.execute(f"SELECT seq FROM records WHERE {where} ORDER BY seq", params)
        plans = _sequence_ranges([row[0] for row in rows], size, low=low, previous=previous)
        has_nulls = self._conn.execute(
            "SELECT 1 FROM records WHERE chain_key = ? AND seq IS NULL LIMIT 1", (chain_key,)
        ).fetchone()
        if has_nulls:
            last = plans[-1].high_value if plans else previous
            plans.append(_Range(None, None, True, last, last))
        return [ChunkPlan(r.low, r.high, r.nulls, r.previous) for r in plans]

    def count_in(self, chain_key: str, low: int | None, high: int) -> int:
        """How many rows a run of sequences [low, high) reads (`records_in`)."""
        return int(self._in_range("COUNT(*)", chain_key, low, high)[0][0])

    def receipt_keys_in(self, chain_key: str, low: int | None, high: int) -> set[str]:
        """The receipt keys of the rows a run of sequences [low, high) reads."""
        rows = self._in_range("receipt_key", chain_key, low, high)
        return {_text(row[0]) for row in rows if row[0] is not None}

    def _in_range(
        self, column: str, chain_key: str, low: int | None, high: int
    ) -> list[tuple[Any, ...]]:
        self._ensure_index()
        where = "chain_key = ? AND seq IS NOT NULL AND seq < ?"
        where += " AND seq >= ?" if low is not None else ""
        params = (chain_key, high, low) if low is not None else (chain_key, high)
        return self._conn.execute(f"SELECT {column} FROM records WHERE {where}", params).fetchall()

    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]:
        return _records_in(self._conn, self._source_names, chain_key, plan)

    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]:
        return _records_at(self._conn, self._source_names, chain_key, sequence)

    def delegation_parent_chains(self, chain_keys: Iterable[str]) -> set[str]:
        """The chains holding the delegation parents (§7.6) of these chains' receipts, and
        theirs in turn: what verifying these chains depends on."""
        self._ensure_index()
        found: set[str] = set()
        frontier = set(chain_keys)
        while frontier:
            parents = self._in_batches(
                "SELECT DISTINCT parent_key FROM records WHERE parent_key IS NOT NULL "
                "AND chain_key IN ({marks})",
                sorted(frontier),
            )
            chains = self._in_batches(
                "SELECT DISTINCT chain_key FROM records WHERE chain_key IS NOT NULL "
                "AND receipt_key IN ({marks})",
                sorted(parents),
            )
            frontier = chains - found - set(chain_keys)
            found |= chains
        return found - set(chain_keys)

    def _in_batches(self, query: str, values: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(values), 500):
            batch = values[start : start + 500]
            rows = self._conn.execute(query.format(marks=",".join("?" * len(batch))), batch)
            found.update(_text(row[0]) for row in rows)
        return found

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

    def delegation_parents(self) -> set[str]:
        """As `ReceiptSpool.delegation_parents`, once the spool is finished."""
        return _parents_from(self._connection())


@dataclass(frozen=True)
class _Range:
    low: int | None
    high: int | None
    nulls: bool
    previous: int | None
    high_value: int | None  # the largest sequence inside the range


_CREATE_PARENTS = (
    "CREATE TABLE parents AS SELECT DISTINCT parent_key AS id FROM records "
    "WHERE parent_key IS NOT NULL"
)


def _parents_from(conn: sqlite3.Connection) -> set[str]:
    return {_text(row[0]) for row in conn.execute("SELECT id FROM parents")}


def _sequence_ranges(
    values: list[int], size: int, *, low: int | None = None, previous: int | None = None
) -> list[_Range]:
    """Cut sorted sequences into ranges of about `size`, never inside a run of equals;
    the first range starts at `low` (None: below every sequence), after `previous`."""
    ranges: list[_Range] = []
    start = 0
    while start < len(values):
        end = min(start + size, len(values))
        while end < len(values) and values[end] == values[end - 1]:
            end += 1
        high = values[end] if end < len(values) else None
        if ranges:
            low, previous = values[start], ranges[-1].high_value
        ranges.append(_Range(low, high, False, previous, values[end - 1]))
        start = end
    return ranges


def _in_arrival_order(
    conn: sqlite3.Connection, names: dict[int, str], query: str, params: Sequence[object]
) -> list[RawRecord]:
    """Records in the order they were spooled. The rows come in the index's order (by
    sequence, which is usually arrival order too) and are sorted here: SQLite's ORDER BY
    rowid would copy every row, bytes and all, through a temporary sorter."""
    rows = conn.execute(query, params).fetchall()
    rows.sort(key=itemgetter(-1))
    return [_record_from_row(row, names) for row in rows]


def _records_for(
    conn: sqlite3.Connection, names: dict[int, str], chain_key: str
) -> list[RawRecord]:
    return _in_arrival_order(conn, names, _SELECT_RECORDS + " WHERE chain_key = ?", (chain_key,))


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
    return _in_arrival_order(conn, names, _SELECT_RECORDS + " WHERE chain_key = ?" + where, params)


def _records_at(
    conn: sqlite3.Connection, names: dict[int, str], chain_key: str, sequence: int
) -> list[RawRecord]:
    query = _SELECT_RECORDS + " WHERE chain_key = ? AND seq = ?"
    return _in_arrival_order(conn, names, query, (chain_key, sequence))


def _escaped(raw: bytes) -> bool:
    """Whether a record holds a \\u escape (a one-byte search first: C's memchr)."""
    return b"\\" in raw and b"\\u" in raw


def _utf8_or_none(value: object) -> str | None:
    """A chain key the spool can be asked for again: text (SQLite gives bytes), else None."""
    if not isinstance(value, bytes):
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def key_text(value: object) -> str | None:
    """A key column as text, as a record read back carries it (`_record_from_row`)."""
    return _text(value) if value is not None else None


def _record_from_row(row: tuple[Any, ...], names: dict[int, str]) -> RawRecord:
    """A spool row as a record. `names` maps source numbers to one string per source,
    shared by every origin read from it (a million verdicts, a handful of paths). Line,
    array index and rowid are integers the spool wrote, or NULL."""
    raw, source, line, idx, rowid, has_index, receipt_key = row[:7]
    assert isinstance(raw, bytes)
    columns = None
    if has_index:
        columns = {
            name: (_text(value) if isinstance(value, bytes) else value)
            for name, value in zip(INDEX_COLUMNS, row[7:-1], strict=True)
        }
    return RawRecord(raw, Origin(names[source], line, rowid, idx), columns, key_text(receipt_key))


def _spool_io_error(spool: Path, what: str, error: Exception) -> InputError:
    message = (
        f"cannot write the receipt spool while {what}: {error}; nothing was verified "
        "(free space where TMPDIR points, or point TMPDIR elsewhere)"
    )
    return InputError(Diagnostic(DiagnosticCode.SPOOL_IO_ERROR, message, str(spool)))
