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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from reporting.errors import Diagnostic, InputError
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
    "CASE WHEN json_valid({0}) AND "
    "json_type({0}, '$.credentialSubject.chain.sequence') = 'integer' "
    "THEN json_extract({0}, '$.credentialSubject.chain.sequence') END"
)
_KEY_COLUMNS = "chain_key, receipt_key, parent_key, seq"
_INSERT_RECORD = (
    f"INSERT INTO records(raw, source, line, idx, {_KEY_COLUMNS}) "
    "VALUES (?1, ?2, ?3, ?4, " + _KEYS_FROM.format("?1") + ")"
)
_COPY_STORE = (
    f"INSERT INTO records(raw, source, src_rowid, has_index, {_KEY_COLUMNS}, "
    + _COL_NAMES
    + ") SELECT CAST(receipt_json AS BLOB), ?, rowid, 1, "
    + _KEYS_FROM.format("receipt_json")
    + ", {columns} FROM src.receipts"
)
_SELECT_RECORDS = (
    "SELECT chain_key, raw, source, line, idx, src_rowid, has_index, "
    + _COL_NAMES
    + " FROM records"
)
_SPOOL_SCHEMA = f"""
CREATE TABLE records (
  chain_key TEXT, receipt_key TEXT, parent_key TEXT, source TEXT NOT NULL, line INTEGER,
  idx INTEGER,
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
        handle, name = tempfile.mkstemp(prefix="agent-evidence-", suffix=".spool.db")
        os.close(handle)
        self.path = Path(name)
        # The busy timeout also applies to attached stores: how long a writer's lock is waited for.
        self._conn = sqlite3.connect(f"file:{name}", uri=True, timeout=STORE_BUSY_TIMEOUT)
        self._conn.text_factory = bytes
        self._conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SPOOL_SCHEMA)
        self.problems: list[Problem] = []
        self.sources: list[SourceSummary] = []
        # How origins and summaries name a file: its display name (never an absolute path
        # of this machine when the caller gives one; see `reporting.settings.display_name`).
        self.name: Callable[[Path], str] = str
        self._indexed = False

    def close(self) -> None:
        self._conn.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ReceiptSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def _insert(self, rows: Iterable[tuple[bytes, str, int | None, int | None]]) -> int:
        cursor = self._conn.executemany(_INSERT_RECORD, rows)
        return cursor.rowcount

    def add_store(self, path: Path) -> None:
        """Copy a store's rows; a store that cannot be read is an input problem, not an abort.

        The copy is all or nothing: a store that turns out corrupt halfway leaves no rows
        behind (its receipts are not half-verified), and the sources before and after it
        are still read.
        """
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
                self._copy_store(path)
            finally:
                self._conn.commit()  # the copy's transaction spans `src`; it must end first
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

    def _copy_store(self, path: Path) -> None:
        try:
            columns = {
                row[1].decode() for row in self._conn.execute("PRAGMA src.table_info(receipts)")
            }
        except _STORE_ERRORS as exc:
            self._not_a_store(path, _store_problem(path, exc))
            return
        if not {"receipt_json", "chain_id"} <= columns:
            self._not_a_store(path, "not a receipts store: no 'receipts' table with receipt_json")
            return
        selected = ", ".join(f"src.receipts.{c}" if c in columns else "NULL" for c in INDEX_COLUMNS)
        try:
            statement = _COPY_STORE.format(columns=selected)
            cursor = self._conn.execute(statement, (self.name(path),))
        except _STORE_ERRORS as exc:
            self._conn.rollback()  # no row of a store that fails halfway is kept
            self._not_a_store(path, _store_problem(path, exc))
            return
        self.sources.append(SourceSummary(self.name(path), "store", cursor.rowcount))

    def _not_a_store(self, path: Path, why: str) -> None:
        name = self.name(path)
        self.problems.append(Problem(Code.MALFORMED_RECEIPT, why, origin=Origin(name)))
        self.sources.append(SourceSummary(name, "invalid", 0))

    def add_json_lines(self, stream: BinaryIO, source: str) -> None:
        rows = (
            (line, source, number, None)
            for number, line in _json_lines(stream, source, self.problems)
        )
        self.sources.append(SourceSummary(source, "jsonl", self._insert(rows)))

    def add_json_file(self, path: Path) -> None:
        source = self.name(path)
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
        if not head.startswith(b"[") and path.stat().st_size > MAX_RECORD_BYTES:
            self.problems.append(_too_large(Origin(source, 1)))
            self.sources.append(SourceSummary(source, "json", 0))
            return
        data = path.read_bytes()
        stripped = data.lstrip()
        if not stripped.startswith(b"["):
            self.sources.append(
                SourceSummary(source, "json", self._insert([(data, source, 1, None)]))
            )
            return
        elements, problem = _split_json_array(data, source)
        if problem is not None:
            self.problems.append(problem)
        count = self._insert(
            (raw, source, line, index) for index, (raw, line) in enumerate(elements)
        )
        self.sources.append(SourceSummary(source, "json", count))

    # -- reading ---------------------------------------------------------------------------

    def _ensure_index(self) -> None:
        if not self._indexed:
            self._rekey_where_sqlite_may_differ()
            self._conn.execute("CREATE INDEX records_chain ON records(chain_key, seq)")
            self._ungroup_unreadable_keys()
            self._indexed = True

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
        return _records_in(self._conn, chain_key, plan)

    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]:
        return _records_at(self._conn, chain_key, sequence)

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
        rows = self._conn.execute(
            _SELECT_RECORDS + " WHERE chain_key = ? ORDER BY rowid", (chain_key,)
        )
        return [_record_from_row(row) for row in rows]

    def ungrouped_records(self) -> list[RawRecord]:
        """Records SQLite could not read a chain id from (malformed, or no chain)."""
        self._ensure_index()
        rows = self._conn.execute(_SELECT_RECORDS + " WHERE chain_key IS NULL ORDER BY rowid")
        return [_record_from_row(row) for row in rows]

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

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path, "_conn": None}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self._conn.text_factory = bytes
        return self._conn

    def records_for(self, chain_key: str) -> list[RawRecord]:
        rows = self._connection().execute(
            _SELECT_RECORDS + " WHERE chain_key = ? ORDER BY rowid", (chain_key,)
        )
        return [_record_from_row(row) for row in rows]

    def records_in(self, chain_key: str, plan: ChunkPlan) -> list[RawRecord]:
        return _records_in(self._connection(), chain_key, plan)

    def records_at(self, chain_key: str, sequence: int) -> list[RawRecord]:
        return _records_at(self._connection(), chain_key, sequence)


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


def _records_in(conn: sqlite3.Connection, chain_key: str, plan: ChunkPlan) -> list[RawRecord]:
    where = " AND seq IS NULL" if plan.nulls else " AND seq IS NOT NULL"
    params: list[object] = [chain_key]
    if plan.low is not None:
        where += " AND seq >= ?"
        params.append(plan.low)
    if plan.high is not None:
        where += " AND seq < ?"
        params.append(plan.high)
    query = _SELECT_RECORDS + " WHERE chain_key = ?" + where + " ORDER BY rowid"
    return [_record_from_row(row) for row in conn.execute(query, params)]


def _records_at(conn: sqlite3.Connection, chain_key: str, sequence: int) -> list[RawRecord]:
    query = _SELECT_RECORDS + " WHERE chain_key = ? AND seq = ? ORDER BY rowid"
    return [_record_from_row(row) for row in conn.execute(query, (chain_key, sequence))]


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


@functools.lru_cache(maxsize=256)
def _source_name(source: object) -> str:
    """One string per source, shared by every origin read from it.

    A million records come from a handful of sources: without this, every verdict
    would carry its own copy of the path.
    """
    return _text(source)


def _record_from_row(row: tuple[object, ...]) -> RawRecord:
    raw, source, line, idx, rowid, has_index = row[1:7]
    assert isinstance(raw, bytes)
    origin = Origin(
        source=_source_name(source),
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
            return elements, None
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
            return elements, None
        line = text.count("\n", 0, position) + 1
        message = "expected ',' or ']' after an array element; rest of file skipped"
        return elements, Problem(Code.MALFORMED_RECEIPT, message, origin=Origin(source, line))


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


class _HashingStream:
    """Standard input, hashed as it is read: its digest identifies it like a file's."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()

    def readline(self, limit: int = -1) -> bytes:
        data = self._stream.readline(limit)
        self._hash.update(data)
        return data

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


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
            spool.add_json_lines(stream, spool.name(path))
    else:
        spool.add_json_file(path)


def spool_sources(
    sources: Iterable[str],
    *,
    stdin: BinaryIO | None = None,
    name: Callable[[Path], str] | None = None,
) -> ReceiptSpool:
    """Spool every SOURCE argument.

    A path that does not exist or cannot be opened raises InputError (exit 2); a file
    that opens but holds no readable receipts (a corrupt or locked store, a record over
    MAX_RECORD_BYTES) is recorded in `problems` and the other sources are still read.
    """
    spool = ReceiptSpool()
    spool.name = name or str
    hasher = ThreadPoolExecutor(max_workers=1)  # one thread for every file's digest
    try:
        for source in sources:
            if source == "-":
                stream = _HashingStream(stdin or sys.stdin.buffer)
                spool.add_json_lines(stream, "<stdin>")  # type: ignore[arg-type]
                spool.sources[-1] = replace(spool.sources[-1], sha256=stream.digest())
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
                    message = exc.strerror or str(exc)
                    raise _input_error("UNREADABLE", message, spool.name(file)) from exc
    except BaseException:
        spool.close()
        raise
    finally:
        hasher.shutdown()
    return spool
