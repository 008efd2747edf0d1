"""Reading an Agent Receipts SQLite store safely: what is a store, and what a copy may cost.

A store is attached read-only (``mode=ro``; beside WAL files; a closed WAL-mode store
in a read-only directory is read as ``immutable``) and only its ``receipts`` table is
read, when it is a real table: a view or a virtual table computes its rows (a recursive
view never stops), and so does a generated column. The copy into the spool is watched
by `CopyBudget`: it stops at STORE_COPY_GROWTH times the store's bytes, or
STORE_COPY_STEPS_PER_BYTE SQLite steps per byte, because a corrupt file can repeat its
pages; the callback also lets Python's signal handlers run during the copy. A store
that cannot be read is a problem of that store, reported with a reason (`store_problem`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = [
    "STORE_BUSY_TIMEOUT",
    "STORE_COPY_GROWTH",
    "STORE_COPY_SLACK",
    "STORE_COPY_STEPS_PER_BYTE",
    "STORE_COPY_STEPS_SLACK",
    "STORE_ERRORS",
    "CopyBudget",
    "may_open_immutable",
    "receipts_table_columns",
    "store_problem",
    "store_uri",
]

# SQLite quotes a corrupt schema in its error messages, which may then not decode.
STORE_ERRORS = (sqlite3.Error, UnicodeDecodeError)
STORE_BUSY_TIMEOUT = 5.0  # seconds a store's writer may hold a lock that keeps us out
STORE_COPY_GROWTH = 4  # spool bytes per byte of the store's files, plus the slack below
STORE_COPY_SLACK = 8 << 20
STORE_COPY_STEPS_PER_BYTE = 100  # SQLite VM steps per byte of the store's files,
STORE_COPY_STEPS_SLACK = 10_000_000  # plus these
PROGRESS_EVERY = 10_000  # SQLite VM steps between two looks at the copy's budget


def _uri_path(path: Path) -> str:
    from urllib.parse import quote

    return quote(str(path.resolve()))


def store_uri(path: Path, *, immutable: bool = False) -> str:
    return "file:" + _uri_path(path) + ("?mode=ro&immutable=1" if immutable else "?mode=ro")


def _is_wal_store(path: Path) -> bool:
    """Header bytes 18-19 are 2 in a WAL-mode database (1: rollback journal)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18:20] == b"\x02\x02"


def may_open_immutable(path: Path, error: Exception) -> bool:
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


def store_problem(path: Path, error: Exception) -> str:
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


def receipts_table_columns(conn: sqlite3.Connection, read: frozenset[str]) -> set[str] | str:
    """The columns of the attached store's `receipts` table, or why it cannot be copied.

    Only a real table is read: a view or a virtual table computes its rows (a recursive
    view never stops), and so does a generated column; a real table's rows are its bytes.
    """
    row = conn.execute(
        "SELECT type, sql FROM src.sqlite_master WHERE name = 'receipts' COLLATE NOCASE"
    ).fetchone()
    if row is None:
        return "not a receipts store: no 'receipts' table with receipt_json"
    kind, sql = _decoded(row[0]), _decoded(row[1] or b"")
    if kind != "table" or sql.lstrip().upper().startswith("CREATE VIRTUAL"):
        what = "a virtual table" if kind == "table" else f"a {kind}"
        return f"not a receipts store: 'receipts' is {what}, not a table; nothing was read"
    # (cid, name, type, notnull, default, pk, hidden): hidden 2 and 3 are generated columns
    info = conn.execute("PRAGMA src.table_xinfo(receipts)").fetchall()
    columns = {_decoded(column[1]): column[6] for column in info}
    if not {"receipt_json", "chain_id"} <= set(columns):
        return "not a receipts store: no 'receipts' table with receipt_json"
    computed = sorted(name for name, hidden in columns.items() if hidden and name in read)
    if computed:
        return (
            f"not a receipts store: column {computed[0]!r} is computed, not stored; "
            "nothing was read"
        )
    return set(columns)


class CopyBudget:
    """SQLite's progress callback during a store's copy: stops a copy that writes more
    spool than STORE_COPY_GROWTH times the store's bytes, or runs more steps than
    STORE_COPY_STEPS_PER_BYTE times them (a hostile or corrupt store), and lets the
    Python signal handlers run during the copy (see `tempfiles`)."""

    def __init__(self, store: Path, spool: Path) -> None:
        size = sum(_size(Path(f"{store}{suffix}")) for suffix in ("", "-wal"))
        self._spool = spool
        self._spool_limit = _size(spool) + STORE_COPY_GROWTH * size + STORE_COPY_SLACK
        steps = STORE_COPY_STEPS_PER_BYTE * size + STORE_COPY_STEPS_SLACK
        self._steps_left = steps // PROGRESS_EVERY
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


def _decoded(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
