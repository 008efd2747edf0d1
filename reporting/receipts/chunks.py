"""A long chain walked in runs of sequences, and the runs stitched into one verdict.

A chain longer than a chunk is cut into runs of sequences (`ChunkPlan`, in `spool.py`)
that workers walk apart and in parallel, each from no state at all (speculatively).
`stitch_chunks` then carries the walk's state across the runs in order, and keeps each
run's walk when it is the walk the carried-over state would have produced, else has it
walked again from the exact state. `finish_chain` joins the runs (or a whole chain,
walked as one run) into the chain's verdict, with the rules over the whole chain.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reporting.receipts.keys import PublicKey
from reporting.receipts.options import VerifyOptions
from reporting.receipts.records import RawRecord
from reporting.receipts.results import (
    ChainResult,
    Outcome,
    Problem,
    ReceiptResult,
    Rotation,
    Severity,
    Termination,
    VerifiedReceipt,
    pickled_with_columns,
)
from reporting.receipts.rules import (
    ChainWalk,
    Entry,
    RunStart,
    TerminalMark,
    chain_level_problems,
    ordered_entries,
    witness_problems,
)

__all__ = [
    "ChunkResult",
    "SequenceRange",
    "collector_paused",
    "finish_chain",
    "stitch_chunks",
    "verified_receipts",
    "walk_chunk",
]


@dataclass(frozen=True)
class SequenceRange:
    """Which sequences a chunk was read for: [low, high), or only receipts without one."""

    low: int | None = None
    high: int | None = None
    nulls: bool = False

    def holds(self, sequence: int | None) -> bool:
        if sequence is None or self.nulls:
            return sequence is None and self.nulls
        low_ok = self.low is None or sequence >= self.low
        return low_ok and (self.high is None or sequence < self.high)


@dataclass(frozen=True)
class ChunkResult:
    """A run of a chain's receipts walked in sequence order, ready to be stitched."""

    chain_id: str
    start: RunStart
    receipts: tuple[ReceiptResult, ...]
    problems: tuple[Problem, ...]  # the receipts' own problems, in receipt order
    duplicates: tuple[Problem, ...]
    rotations: tuple[Rotation, ...]
    has_parsed: bool
    issuer: str | None
    first_key: bytes | None  # the key the first parsed receipt verified under, when searched
    end_key: bytes | None
    genesis_key: PublicKey | None
    terminal: TerminalMark | None
    missing_bodies: int
    idempotency_keys: Counter[str]
    first_timestamp: str | None
    last_timestamp: str | None
    head_hash: str | None
    termination: Termination
    in_range: bool  # every receipt's sequence lies in the range it was read for

    def __reduce__(self) -> tuple[Any, ...]:
        return pickled_with_columns(self)  # a worker's verdicts, sent back as columns


def _chunk_result(walk: ChainWalk, duplicates: list[Problem], in_range: bool) -> ChunkResult:
    last = walk.entries[-1] if walk.entries else None
    return ChunkResult(
        chain_id=walk.chain_id,
        start=walk.start,
        receipts=tuple([entry.result() for entry in walk.entries]),
        problems=tuple([p for entry in walk.entries if entry.problems for p in entry.problems]),
        duplicates=tuple(duplicates),
        rotations=tuple(walk.rotations),
        has_parsed=walk.has_parsed,
        issuer=walk.issuer,
        first_key=walk.first_key,
        end_key=walk.active_key,
        genesis_key=walk.genesis_key,
        terminal=walk.terminal,
        missing_bodies=walk.missing_bodies,
        idempotency_keys=walk.idempotency_keys,
        first_timestamp=walk.first_timestamp,
        last_timestamp=walk.last_timestamp,
        head_hash=last.receipt_hash if last else None,
        termination=walk.termination(),
        in_range=in_range,
    )


def walk_chunk(
    chain_key: str | None,
    records: Sequence[RawRecord],
    *,
    options: VerifyOptions,
    start: RunStart | None = None,
    previous: Sequence[RawRecord] = (),
    final: bool = True,
    sequences: SequenceRange | None = None,
) -> tuple[ChunkResult, list[dict[str, Any] | None]]:
    """Walk a run of one chain's receipts; returns it and each receipt's parsed document.

    `previous` holds the records of the sequence just before the run (the last receipt
    among them is what the first receipt must link to); `final` runs the checks on the
    chain's last receipt. A whole chain is one run with neither.
    """
    with collector_paused():
        return _walk_chunk(
            chain_key,
            records,
            options=options,
            start=start,
            previous=previous,
            final=final,
            sequences=sequences,
        )


class collector_paused:  # noqa: N801 - used as a function: `with collector_paused():`
    """The cycle collector off while a run is parsed and walked: a chunk's documents are
    a million young objects without cycles, which each collection would scan again (a
    tenth of the verifier's time). Whatever cycles the walk leaves are collected after.

    Callers that keep the documents a while longer (results, facts, extracts) pause it
    around all of that, so that the documents are freed, or handed back, before the
    collector looks. Not a generator: its StopIteration would be the first allocation
    after the collector is back, and set off a collection over every document still held.
    """

    def __enter__(self) -> None:
        self._enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            gc.enable()


def _walk_chunk(
    chain_key: str | None,
    records: Sequence[RawRecord],
    *,
    options: VerifyOptions,
    start: RunStart | None,
    previous: Sequence[RawRecord],
    final: bool,
    sequences: SequenceRange | None,
) -> tuple[ChunkResult, list[dict[str, Any] | None]]:
    overlap = [e for e in ordered_entries(previous, options)[0] if e.receipt_hash is not None]
    before = overlap[-1] if overlap else None
    if chain_key is not None:
        # The common case: records in sequence order, checked as they are parsed. Any
        # other run (a record out of order or unreadable) is parsed again, in full.
        walk = ChainWalk(chain_key, options, [], start or RunStart(), final)
        if walk.run_as_read(records, before):
            return _walked(walk, [], sequences, overlap, previous)
    entries, duplicates = ordered_entries(records, options)
    first_id = next((e.chain.get("chain_id") for e in entries if e.receipt_hash is not None), None)
    chain_id = chain_key if chain_key is not None else str(first_id)
    walk = ChainWalk(chain_id, options, entries, start or RunStart(), final)
    walk.run(before)
    return _walked(walk, duplicates, sequences, overlap, previous)


def _walked(
    walk: ChainWalk,
    duplicates: list[Problem],
    sequences: SequenceRange | None,
    overlap: list[Entry],
    previous: Sequence[RawRecord],
) -> tuple[ChunkResult, list[dict[str, Any] | None]]:
    """The walked run as a chunk, and each receipt's document (None: not parsed)."""
    entries = walk.entries
    # Where the records before the run hold no receipt to link to, the link to look
    # for lies further back: the chain is walked whole.
    in_range = sequences is None or (
        all(_held(sequences, e) for e in entries) and (bool(overlap) or not previous)
    )
    documents = [entry.document if entry.receipt_hash is not None else None for entry in entries]
    return _chunk_result(walk, duplicates, in_range), documents


def _held(sequences: SequenceRange, entry: Entry) -> bool:
    """Whether a run read for `sequences` holds this entry where a whole walk puts it.
    A record placed only by its arrival is never held: its chain is walked whole."""
    if entry.receipt_hash is None and entry.placement is None:
        return False
    return sequences.holds(entry.placement)


def _walk_matches(chunk: ChunkResult, state: RunStart) -> bool:
    """Would walking `chunk` from `state` give the verdicts its own walk gave?"""
    if not chunk.has_parsed or chunk.start == state:
        return True
    if state.terminal is not None or chunk.start != replace(RunStart(), offset=chunk.start.offset):
        return False
    if state.issuer_known and chunk.issuer != state.issuer:
        return False
    # With no active key both walks search the trusted keys; with one, the chunk's first
    # receipt must have verified under exactly that key.
    return state.active_key is None or chunk.first_key == state.active_key


def _state_after(chunk: ChunkResult, state: RunStart) -> RunStart:
    offset = state.offset + len(chunk.receipts)
    if not chunk.has_parsed:
        return replace(state, offset=offset)
    return RunStart(
        offset=offset,
        issuer_known=True,
        issuer=state.issuer if state.issuer_known else chunk.issuer,
        active_key=chunk.end_key,
        genesis_key=state.genesis_key or chunk.genesis_key,
        terminal=state.terminal or chunk.terminal,
    )


def stitch_chunks(
    chunks: Sequence[ChunkResult], rewalk: Callable[[int, RunStart], ChunkResult]
) -> list[ChunkResult]:
    """Carry the walk's state across chunks walked apart; re-walk a chunk it would change.

    The link across a chunk boundary was already checked (each chunk reads the receipt
    before it); what a chunk cannot know alone is the active key, the chain's issuer and
    an earlier terminal receipt. A mismatch (a rotation to a key outside the trust store,
    a break at the boundary, receipts after a terminal one) costs one sequential re-walk.
    """
    accepted: list[ChunkResult] = []
    state = RunStart()
    for number, chunk in enumerate(chunks):
        kept = chunk if _walk_matches(chunk, state) else rewalk(number, state)
        accepted.append(kept)
        state = _state_after(kept, state)
    return accepted


def _shifted(problem: Problem, shift: int) -> Problem:
    if shift == 0 or problem.index is None:
        return problem
    return replace(problem, index=problem.index + shift)


def _with_codes(receipt: ReceiptResult, problems: Sequence[Problem]) -> ReceiptResult:
    failures = tuple(
        dict.fromkeys(
            (*receipt.failures, *(p.code for p in problems if p.severity is Severity.FAILURE))
        )
    )
    warnings = tuple(
        dict.fromkeys(
            (*receipt.warnings, *(p.code for p in problems if p.severity is Severity.WARNING))
        )
    )
    outcome = Outcome.FAILED if failures else Outcome.PASSED
    return receipt._replace(failures=failures, warnings=warnings, outcome=outcome)


def finish_chain(chunks: Sequence[ChunkResult], options: VerifyOptions) -> ChainResult:
    """Join a chain's stitched runs into its verdict, with the checks over the whole chain."""
    receipts: list[ReceiptResult] = []
    problems: list[Problem] = []
    for chunk in chunks:
        shift = len(receipts) - chunk.start.offset
        problems.extend(_shifted(p, shift) for p in chunk.problems)
        receipts.extend(chunk.receipts)
    last = chunks[-1]
    head = last.head_hash
    witnessed = witness_problems(
        options, last.chain_id, len(receipts), head, receipts[-1] if receipts else None
    )
    if witnessed and receipts:
        receipts[-1] = _with_codes(receipts[-1], witnessed)
    problems.extend(witnessed)
    keys: Counter[str] = Counter()
    for chunk in chunks:
        keys.update(chunk.idempotency_keys)
    problems.extend(chain_level_problems(sum(c.missing_bodies for c in chunks), keys))
    problems.extend(p for chunk in chunks for p in chunk.duplicates)
    failures = tuple(p for p in problems if p.severity is Severity.FAILURE)
    warnings = tuple(p for p in problems if p.severity is Severity.WARNING)
    broken_at = next((i for i, r in enumerate(receipts) if r.outcome is Outcome.FAILED), None)
    if broken_at is None and failures:
        broken_at = len(receipts) - 1
    firsts = [c.first_timestamp for c in chunks if c.first_timestamp is not None]
    lasts = [c.last_timestamp for c in chunks if c.last_timestamp is not None]
    issuer = next((c.issuer for c in chunks if c.has_parsed), None)
    genesis = next((c.genesis_key for c in chunks if c.genesis_key is not None), None)
    return ChainResult(
        chain_id=last.chain_id,
        issuer=issuer,
        length=len(receipts),
        first_timestamp=min(firsts) if firsts else None,
        last_timestamp=max(lasts) if lasts else None,
        head_hash=head,
        genesis_key_fingerprint=genesis.fingerprint if genesis else None,
        termination=last.termination,
        rotations=tuple(r for c in chunks for r in c.rotations),
        failures=failures,
        warnings=warnings,
        receipts=tuple(receipts),
        broken_at=broken_at,
    )


def verified_receipts(
    documents: Sequence[dict[str, Any] | None], receipts: Sequence[ReceiptResult]
) -> list[VerifiedReceipt]:
    """Pair each parsed document of a run with its receipt's verdict (unparsed: skipped)."""
    pairs = zip(documents, receipts, strict=True)
    if None in documents:
        return [VerifiedReceipt(doc, receipt) for doc, receipt in pairs if doc is not None]
    return list(map(VerifiedReceipt._make, pairs))  # the common case, no test per pair
