"""Read receipts from stores, files and stdin into the spool, as raw bytes that remember
their origin.

* Agent Receipts SQLite stores (SDK, daemon, collector), read as `stores.py` describes:
  rows are copied as bytes from ``receipt_json``; the index columns are kept beside the
  bytes only to be compared with the signed JSON later (they are not evidence). A store
  that is corrupt, locked, computed or not a receipts store is an input problem naming
  the file; the other sources are still read.
* ``.json`` (one receipt or an array; nothing may follow the value), ``.jsonl`` /
  ``.ndjson``, directories of those and of stores, and ``-`` (JSON Lines on stdin).

No record bigger than MAX_RECORD_BYTES is ever held in memory. The kind of a file is
detected from its content (the SQLite header) and then its suffix.

Sources of another kind may sit among the receipts (a directory holding both, Pipelock
flight recorders beside a store): the caller passes a `claim` that looks at a file's
first lines (`CLAIM_PEEK_BYTES`, whole lines) and names the kind of content it
recognises. A claimed file is never read as receipts: it is kept whole (at most
MAX_CLAIMED_BYTES) in `ReceiptSpool.claimed` for its own verifier, and listed with the
sources.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from reporting.errors import Diagnostic, DiagnosticCode, InputError
from reporting.receipts.headstart import HeadStart
from reporting.receipts.records import ReadLimits
from reporting.receipts.results import Code, Origin, Problem
from reporting.receipts.spool import ClaimedSource, ReceiptSpool, SourceSummary

__all__ = [
    "CLAIM_PEEK_BYTES",
    "MAX_CLAIMED_BYTES",
    "MAX_RECORD_BYTES",
    "SQLITE_MAGIC",
    "Claim",
    "ClaimedSource",
    "ReceiptSpool",
    "SourceSummary",
    "read_into",
    "read_lines_into",
    "spool_sources",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# No record bigger than this is ever read into memory, whatever max_receipt_bytes allows:
# a hostile line or file without an end cannot exhaust memory before verification.
MAX_RECORD_BYTES = 64 << 20
# What a claim is shown of a file: its first MiB, cut after the last whole line.
CLAIM_PEEK_BYTES = 1 << 20
# A claimed file is read whole (its verifier needs all of it): never more than this.
MAX_CLAIMED_BYTES = 1 << 30

Claim = Callable[[bytes], str | None]  # the head of a file -> the kind it is, or None
_PEEK_LINES = 8  # lines of standard input shown to a claim


def _input_error(
    code: DiagnosticCode, message: str, source: str, line: int | None = None
) -> InputError:
    return InputError(Diagnostic(code, message, source, line))


def read_lines_into(spool: ReceiptSpool, stream: BinaryIO, source: str) -> None:
    """Add JSON Lines (a file or standard input) to the spool."""
    rows = ((line, number, None) for number, line in _json_lines(stream, source, spool.problems))
    spool.add_records(source, "jsonl", rows)


def _add_json_file(spool: ReceiptSpool, path: Path) -> None:
    source = spool.name(path)
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    if not head.startswith(b"[") and path.stat().st_size > MAX_RECORD_BYTES:
        spool.problems.append(_too_large(Origin(source, 1)))
        spool.sources.append(SourceSummary(source, "json", 0))
        return
    data = path.read_bytes()
    stripped = data.lstrip()
    if not stripped.startswith(b"["):
        spool.add_records(source, "json", [(data, 1, None)])
        return
    elements, problem = _split_json_array(data, source)
    if problem is not None:
        spool.problems.append(problem)
    rows = ((raw, line, index) for index, (raw, line) in enumerate(elements))
    spool.add_records(source, "json", rows)


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


class _HashingStream:
    """Standard input, hashed as it is read: its digest identifies it like a file's."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._hash = hashlib.sha256()

    def readline(self, limit: int = -1) -> bytes:
        data = self._stream.readline(limit)
        self._hash.update(data)
        return data

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        return data

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _Replaying:
    """A stream whose first lines were already read: they come back first."""

    def __init__(self, lines: list[bytes], stream: _HashingStream) -> None:
        self._lines = lines
        self._stream = stream

    def readline(self, limit: int = -1) -> bytes:
        if not self._lines:
            return self._stream.readline(limit)
        line = self._lines.pop(0)
        if not self._lines and not line.endswith(b"\n"):  # the peek cut this line short
            line += self._stream.readline(limit - len(line) if limit > 0 else -1)
        return line


def _stdin_head(stream: _HashingStream) -> list[bytes]:
    """The first lines of standard input a claim is shown (as many as fit the peek)."""
    head: list[bytes] = []
    size = 0
    while size < CLAIM_PEEK_BYTES and len(head) < _PEEK_LINES:
        line = stream.readline(CLAIM_PEEK_BYTES - size)
        if not line:
            break
        head.append(line)
        size += len(line)
    return head


def _read_stdin(spool: ReceiptSpool, stream: _HashingStream, claim: Claim | None) -> None:
    """Standard input: its first lines are shown to `claim`; JSON Lines of receipts else."""
    head = _stdin_head(stream) if claim is not None else []
    kind = claim(b"".join(head)) if claim is not None else None
    if kind is None:
        read_lines_into(spool, _Replaying(head, stream), "<stdin>")  # type: ignore[arg-type]
    else:
        data = b"".join(head) + stream.read(MAX_CLAIMED_BYTES + 1 - sum(map(len, head)))
        if len(data) > MAX_CLAIMED_BYTES:
            while stream.read(1 << 20):  # the digest still covers all of it
                pass
            _claimed_too_large(spool, "<stdin>", kind)
        else:
            spool.add_claimed("<stdin>", kind, data)
    spool.sources[-1] = replace(spool.sources[-1], sha256=stream.digest())


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


def _add_file(
    spool: ReceiptSpool, path: Path, hasher: ThreadPoolExecutor, claim: Claim | None
) -> None:
    """Spool one file while `hasher`'s thread hashes it: hashlib and SQLite release the
    GIL, so on a second core the digest (seconds for a multi-GB store) costs no time."""
    added = len(spool.sources)
    digest = hasher.submit(_file_sha256, path)
    try:
        read_into(spool, path, claim)
    finally:
        wait([digest])  # whatever happened, the thread is done with the file
    sha256 = digest.result()
    spool.sources[added:] = [replace(s, sha256=sha256) for s in spool.sources[added:]]


def _head(path: Path) -> bytes:
    """What a claim sees of a file: all of it up to CLAIM_PEEK_BYTES, else its first whole
    lines within that many bytes."""
    with path.open("rb") as handle:
        head = handle.read(CLAIM_PEEK_BYTES + 1)
    if len(head) <= CLAIM_PEEK_BYTES:
        return head
    return head[: head.rfind(b"\n") + 1]


def _claimed_too_large(spool: ReceiptSpool, name: str, kind: str) -> None:
    message = f"a {kind} source over {MAX_CLAIMED_BYTES} bytes; skipped unread"
    spool.problems.append(Problem(Code.RECEIPT_TOO_LARGE, message, origin=Origin(name)))
    spool.sources.append(SourceSummary(name, kind, 0))


def _claim_file(spool: ReceiptSpool, path: Path, claim: Claim | None) -> bool:
    """Whether `claim` took the file (then it is kept whole, not spooled)."""
    kind = claim(_head(path)) if claim is not None else None
    if kind is None:
        return False
    name = spool.name(path)
    if path.stat().st_size > MAX_CLAIMED_BYTES:
        _claimed_too_large(spool, name, kind)
    else:
        spool.add_claimed(name, kind, path.read_bytes())
    return True


def _source_files(source: str) -> list[Path]:
    """The files a SOURCE argument names (none for `-`); InputError when there are none."""
    if source == "-":
        return []
    path = Path(source)
    if not path.exists():
        raise _input_error(DiagnosticCode.NO_SUCH_SOURCE, "no such file or directory", source)
    files = _files_in(path) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise _input_error(DiagnosticCode.EMPTY_SOURCE, "no .json, .jsonl or store files", source)
    return files


def _text_bytes(resolved: list[tuple[str, list[Path]]]) -> int:
    """How many bytes of JSON and JSON Lines the sources hold (stores are copied whole)."""
    return sum(
        file.stat().st_size
        for _, files in resolved
        for file in files
        if file.is_file() and file.suffix.lower() in JSON_SUFFIXES + JSONL_SUFFIXES
    )


def read_into(spool: ReceiptSpool, path: Path, claim: Claim | None = None) -> None:
    """Add one file to the spool: a store, a JSON file or JSON Lines, by content and suffix;
    or, when `claim` recognises its content, keep it for another verifier."""
    suffix = path.suffix.lower()
    if _is_sqlite(path):
        spool.add_store(path)
    elif suffix in STORE_SUFFIXES:
        spool.not_a_store(path, "not an SQLite database")
    elif _claim_file(spool, path, claim):
        return
    elif suffix in JSONL_SUFFIXES:
        with path.open("rb") as stream:
            read_lines_into(spool, stream, spool.name(path))
    else:
        _add_json_file(spool, path)


def spool_sources(
    sources: Iterable[str],
    *,
    stdin: BinaryIO | None = None,
    name: Callable[[Path], str] | None = None,
    limits: ReadLimits | None = None,
    claim: Claim | None = None,
    head_start: HeadStart | None = None,
) -> ReceiptSpool:
    """Spool every SOURCE argument, and index the spool for reading back by chain.

    A path that does not exist or cannot be opened raises InputError (exit 2); a file
    that opens but holds no readable receipts (a corrupt or locked store, a record over
    MAX_RECORD_BYTES) is recorded in `problems` and the other sources are still read.
    `limits` are the run's (`VerifyOptions.limits`): records are grouped by the keys the
    verifier will read within them. Files (and standard input) whose head `claim`
    recognises are kept in `spool.claimed` instead (see the module docstring).
    `head_start`: started when the JSON and JSON Lines files are large enough, to verify
    long chains while they are spooled; it is closed with the spool (hand it to
    `verify_spool` too).
    """
    spool = ReceiptSpool(limits)
    spool.name = name or str
    hasher = ThreadPoolExecutor(max_workers=1)  # one thread for every file's digest
    try:
        resolved = [(source, _source_files(source)) for source in sources]
        if head_start is not None:
            spool.on_close.append(head_start.close)
            if _text_bytes(resolved) >= head_start.min_bytes:
                head_start.start(spool)  # forks the workers: before the hasher's thread
        for source, files in resolved:
            if source == "-":
                _read_stdin(spool, _HashingStream(stdin or sys.stdin.buffer), claim)
                continue
            for file in files:
                try:
                    _add_file(spool, file, hasher, claim)
                except OSError as exc:
                    message = exc.strerror or str(exc)
                    raise _input_error(
                        DiagnosticCode.UNREADABLE, message, spool.name(file)
                    ) from exc
        spool.finish()
    except BaseException:
        spool.close()
        raise
    finally:
        hasher.shutdown()
    return spool
