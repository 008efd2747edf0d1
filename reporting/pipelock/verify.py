"""Verify Pipelock sources: every file read, every chain walked, results like receipts'.

`verify_pipelock` takes the raw bytes of each source (with the name reports show) and
returns `ChainResult`s, so a recorder session can be treated like an Agent Receipts
chain downstream:

* a flight recorder's files are joined into sessions by their hash links (a session's
  chain spans files; two recorders may both call their session `proxy`), and each
  session gives one chain of its ActionReceipt v1 receipts (`source_kind` "pipelock",
  chain id `pipelock:<session>@<first 16 hex of its first entry hash>`), carrying the
  recorder's own entry-chain, checkpoint and transcript-root problems too, plus one
  chain of its EvidenceReceipt v2 receipts (`…/v2`, "pipelock_evidence") when it has any;
* bare receipt JSONL gives the same two chains, without recorder checks;
* a single receipt JSON gives a chain of one, checked on its own (no chain start).

Trust: `UNKNOWN_ISSUER_KEY` whenever the first signer is not a key trusted for the
recorder session. The other checks still run, under the embedded keys, so a chain
whose only failure is that code is self-consistent, and nothing more: anyone can
sign a self-consistent log with a key of their own. No chain is valid unpinned.

Witnesses (`PipelockOptions.witnesses`, by chain id or by recorder session) pin the
length (v1 receipts) and final hash (`sha256:<hex>` or bare hex) of a session. A
witnessed tail also stands in for a missing signed close, and binds `ext` on the last
receipt; without either, a session whose last run has no close is `SESSION_NOT_CLOSED`
and unsigned `ext` on the last receipt is `UNBOUND_EXT`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reporting.pipelock.action import (
    HEX64,
    REPLACED_BY_REDACTION,
    ActionReceipt,
    full_redaction,
    parse_action_receipt,
    redacted_receipt,
)
from reporting.pipelock.chain import ChainItem, WalkContext, WalkOutcome, walk_chain
from reporting.pipelock.evidence_v2 import EvidenceReceipt, parse_evidence_receipt, verifying_key
from reporting.pipelock.recorder import (
    CHECKPOINT,
    ENDORSEMENT,
    KNOWN_TYPES,
    RECEIPT_V1,
    RECEIPT_V2,
    TRANSCRIPT_ROOT,
    Entry,
    SignedTail,
    check_checkpoint,
    check_entry_links,
    entry_from_document,
    transcript_problems,
)
from reporting.pipelock.results import (
    SOURCE_PIPELOCK,
    SOURCE_PIPELOCK_EVIDENCE,
    PipelockOptions,
    PipelockVerification,
    VerifiedAction,
)
from reporting.pipelock.rotation import Endorsement, parse_endorsement
from reporting.pipelock.sources import (
    PipelockKind,
    PipelockSource,
    detect_pipelock,
    document_kind,
    split_lines,
)
from reporting.pipelock.strictjson import (
    PipelockFormatError,
    decode_text,
    loads_strict,
)
from reporting.pipelock.timefmt import normalise_rfc3339
from reporting.pipelock.trust import PipelockRecorder
from reporting.receipts.external import Witness
from reporting.receipts.keys import fingerprint
from reporting.receipts.results import (
    ChainResult,
    Code,
    Origin,
    Outcome,
    Problem,
    ReceiptResult,
    Severity,
    Termination,
)

__all__ = ["verify_pipelock"]  # its option and result types live in `results`

# -- reading ------------------------------------------------------------------------------


@dataclass
class _V2Item:
    receipt: EvidenceReceipt
    origin: Origin


@dataclass
class _Session:
    """One chain's records before verification."""

    chain_id: str
    entries: list[Entry] = field(default_factory=list)  # recorder entries (empty for bare)
    items: list[ChainItem] = field(default_factory=list)
    v2: list[_V2Item] = field(default_factory=list)
    v1_at_entry: dict[int, int] = field(default_factory=dict)  # entry index -> item index
    v2_at_entry: dict[int, int] = field(default_factory=dict)
    standalone: bool = False
    session: str | None = None  # the recorder session (entry session_id or signed open)


@dataclass
class _Reading:
    sessions: list[_Session] = field(default_factory=list)
    recorder_files: list[list[Entry]] = field(default_factory=list)
    endorsements: list[Endorsement] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _parse(raw: bytes, options: PipelockOptions) -> tuple[str, Any]:
    if len(raw) > options.max_record_bytes:
        message = f"record is {len(raw)} bytes, limit {options.max_record_bytes}"
        raise PipelockFormatError(message, too_large=True)
    text = decode_text(raw)
    return text, loads_strict(text, max_depth=options.max_depth)


def _format_code(exc: PipelockFormatError) -> Code:
    return Code.RECEIPT_TOO_LARGE if exc.too_large else Code.MALFORMED_RECEIPT


def _unreadable_receipt(code: Code, message: str) -> ActionReceipt:
    receipt = ActionReceipt(record={})
    receipt.problems.append((code, message))
    return receipt


def _receipt_from(document: Any, text: str) -> ActionReceipt | EvidenceReceipt:
    kind = document_kind(document)
    if kind == "v2":
        return parse_evidence_receipt(document)
    if kind == "v1":
        return parse_action_receipt(document, text)
    return _unreadable_receipt(Code.MALFORMED_RECEIPT, "not an ActionReceipt or EvidenceReceipt")


def _add_receipt(
    session: _Session, receipt: ActionReceipt | EvidenceReceipt, origin: Origin
) -> None:
    if isinstance(receipt, EvidenceReceipt):
        session.v2.append(_V2Item(receipt, origin))
    else:
        session.items.append(ChainItem(receipt, origin))


def _read_lines(source: PipelockSource, reading: _Reading, options: PipelockOptions) -> None:
    session = _Session(chain_id="")
    for number, line in split_lines(source.raw):
        origin = Origin(source.origin, number)
        try:
            text, document = _parse(line, options)
        except PipelockFormatError as exc:
            session.items.append(
                ChainItem(_unreadable_receipt(_format_code(exc), str(exc)), origin)
            )
            continue
        _add_receipt(session, _receipt_from(document, text), origin)
    reading.sessions.append(session)


def _read_recorder(source: PipelockSource, reading: _Reading, options: PipelockOptions) -> None:
    entries = []
    for number, line in split_lines(source.raw):
        origin = Origin(source.origin, number)
        try:
            text, document = _parse(line, options)
            entry = entry_from_document(document, text, origin)
        except PipelockFormatError as exc:
            entry = Entry(origin, {}, "null")
            entry.problems.append((_format_code(exc), str(exc)))
        entries.append(entry)
        if entry.type == ENDORSEMENT and isinstance(entry.detail, dict):
            _read_endorsement(entry.detail, origin, reading)
    if entries:
        reading.recorder_files.append(entries)


def _read_endorsement(document: dict[str, Any], origin: Origin, reading: _Reading) -> None:
    try:
        reading.endorsements.append(parse_endorsement(document, origin))
    except ValueError as exc:
        message = f"rotation endorsement rejected: {exc}"
        reading.problems.append(Problem(Code.ROTATION_INVALID, message, origin=origin))


def _read_single(
    source: PipelockSource, kind: PipelockKind, reading: _Reading, options: PipelockOptions
) -> None:
    origin = Origin(source.origin)
    try:
        text, document = _parse(source.raw, options)
    except PipelockFormatError as exc:
        reading.problems.append(Problem(_format_code(exc), str(exc), origin=origin))
        return
    if kind is PipelockKind.ENDORSEMENT:
        _read_endorsement(document, origin, reading)
        return
    receipt = _receipt_from(document, text.strip())
    # A v1 receipt at chain_seq 0 starts a chain: checked as a chain of one (so an open
    # without its close is a truncation). Any other single receipt is checked alone.
    starts = isinstance(receipt, ActionReceipt) and receipt.seq == 0
    session = _Session(chain_id="", standalone=not starts)
    _add_receipt(session, receipt, origin)
    reading.sessions.append(session)


def _read(sources: Iterable[PipelockSource], options: PipelockOptions) -> _Reading:
    reading = _Reading()
    for source in sources:
        kind = detect_pipelock(source.raw)
        if kind is PipelockKind.RECORDER:
            _read_recorder(source, reading, options)
        elif kind is PipelockKind.RECEIPT_LINES:
            _read_lines(source, reading, options)
        elif kind is None or kind is PipelockKind.KEY:
            what = "a Pipelock key file" if kind else "not Pipelock content"
            message = f"{what}: no receipt, recorder entry or endorsement to verify"
            reading.problems.append(
                Problem(Code.MALFORMED_RECEIPT, message, origin=Origin(source.origin))
            )
        else:
            _read_single(source, kind, reading, options)
    return reading


# -- recorder sessions ----------------------------------------------------------------------


def _join_files(files: list[list[Entry]]) -> list[list[Entry]]:
    """Recorder files joined into sessions by their hash links, in input order."""
    by_link: dict[tuple[str, str], list[int]] = defaultdict(list)
    for number, entries in enumerate(files):
        by_link[(entries[0].session_id, entries[0].text("prev_hash"))].append(number)
    used: set[int] = set()
    chains: list[list[Entry]] = []
    starts = [n for n, e in enumerate(files) if e[0].text("prev_hash") == "genesis"]
    for number in [*starts, *range(len(files))]:
        if number in used:
            continue
        used.add(number)
        chain = list(files[number])
        while (tail := chain[-1].stored_hash) is not None:
            following = [n for n in by_link[(chain[0].session_id, tail)] if n not in used]
            if not following:
                break
            used.add(following[0])
            chain.extend(files[following[0]])
        chains.append(chain)
    return chains


def _session_from_entries(entries: list[Entry]) -> _Session:
    anchor = (entries[0].stored_hash or "unknown")[:16]
    session = _Session(chain_id=f"pipelock:{entries[0].session_id}@{anchor}", entries=entries)
    session.session = entries[0].session_id or None
    for index, entry in enumerate(entries):
        if entry.type not in (RECEIPT_V1, RECEIPT_V2) or not entry.document:
            continue
        receipt = _entry_receipt(entry)
        if isinstance(receipt, EvidenceReceipt):
            session.v2_at_entry[index] = len(session.v2)
        else:
            session.v1_at_entry[index] = len(session.items)
        _add_receipt(session, receipt, entry.origin)
    return session


def _entry_receipt(entry: Entry) -> ActionReceipt | EvidenceReceipt:
    detail = entry.detail
    if full_redaction(detail):
        if entry.type == RECEIPT_V2:
            replaced = EvidenceReceipt(document={}, redacted=True)
            replaced.problems.append((Code.RECEIPT_REDACTED, REPLACED_BY_REDACTION))
            return replaced
        return redacted_receipt()
    receipt = _receipt_from(detail, entry.detail_text)
    wanted = EvidenceReceipt if entry.type == RECEIPT_V2 else ActionReceipt
    if isinstance(receipt, wanted):
        return receipt
    # kept in the chain its entry type names, where it is missing otherwise
    message = f"a {entry.type} entry that does not carry one"
    if wanted is EvidenceReceipt:
        placeholder = EvidenceReceipt(document={})
        placeholder.problems.append((Code.MALFORMED_RECEIPT, message))
        return placeholder
    return _unreadable_receipt(Code.MALFORMED_RECEIPT, message)


# -- verification ---------------------------------------------------------------------------


def _endorsement_index(
    endorsements: Sequence[Endorsement],
) -> dict[tuple[str, int, str], list[Endorsement]]:
    index: dict[tuple[str, int, str], list[Endorsement]] = defaultdict(list)
    for endorsement in endorsements:
        index[endorsement.boundary].append(endorsement)
    return index


def _signed_session(session: _Session) -> str | None:
    """The recorder session: the entries' session_id, else the first open's (signed)."""
    if session.session:
        return session.session
    for item in session.items:
        opened = item.receipt.section("session_control", "open")
        if opened and isinstance(opened.get("recorder_session"), str):
            return str(opened["recorder_session"])
    return None


def _witness_for(options: PipelockOptions, chain_id: str, session: str | None) -> Witness | None:
    return options.witnesses.get(chain_id) or (options.witnesses.get(session) if session else None)


class _Chain:
    """One session's v1 chain (and its v2 chain) being verified."""

    def __init__(
        self,
        session: _Session,
        options: PipelockOptions,
        endorsements: Mapping[tuple[str, int, str], Sequence[Endorsement]],
    ) -> None:
        self.session = session
        self.options = options
        self.name = _signed_session(session)
        self.chain_problems: list[Problem] = []
        trusted = options.trust.keys_for(self.name)
        context = WalkContext(trusted, endorsements, standalone=session.standalone)
        self.walk: WalkOutcome = walk_chain(session.items, context)
        self.recorder: PipelockRecorder | None = None
        if self.walk.genesis_key is not None:
            self.recorder = options.trust.recorder_for(self.walk.genesis_key.raw, self.name)
        self.witness = _witness_for(options, session.chain_id, self.name)
        self.tail_checkpointed = False  # a valid signed checkpoint follows the last receipt

    # chain-level problem helpers
    def problem(
        self, code: Code, message: str, origin: Origin | None = None, index: int | None = None
    ) -> None:
        item = self.session.items[index].receipt if index is not None else None
        self.chain_problems.append(
            Problem(
                code,
                message,
                item.action_id if item else None,
                item.seq if item else None,
                index,
                origin,
            )
        )

    def on_receipt(self, index: int, code: Code, message: str) -> None:
        self.session.items[index].receipt.problems.append((code, message))

    def check_recorder(self) -> None:
        entries = self.session.entries
        if not entries:
            return
        check_entry_links(entries)
        for name in self.walk.recorder_sessions:
            if name != self.session.session:
                message = (
                    f"a signed open names recorder session {name!r}; "
                    f"the entries say {self.session.session!r}"
                )
                self.problem(Code.SESSION_BINDING_INVALID, message, entries[0].origin)
        self._check_entry_types()
        for index, entry in enumerate(entries):
            self._attach(index, entry)

    def _check_entry_types(self) -> None:
        keys = self.walk.verified_keys or self.walk.active_keys
        span_start: int | None = 0
        last_item: int | None = None
        last_v1_entry = max(self.session.v1_at_entry, default=-1)
        for index, entry in enumerate(self.session.entries):
            if index in self.session.v1_at_entry:
                last_item = self.session.v1_at_entry[index]
            kind = entry.type
            if kind == CHECKPOINT:
                seq, problems = check_checkpoint(entry, span_start, keys)
                span_start = None if seq is None else seq + 1
                entry.problems.extend((Code.CHECKPOINT_INVALID, m) for m in problems)
                signed = isinstance(entry.detail, dict) and entry.detail.get("signature")
                if signed and not problems and index > last_v1_entry:
                    self.tail_checkpointed = True
            elif kind == TRANSCRIPT_ROOT:
                problems = transcript_problems(entry, self._tail(last_item))
                entry.problems.extend((Code.TRANSCRIPT_ROOT_MISMATCH, m) for m in problems)
                self._after_root(last_item, entry)
            elif kind not in KNOWN_TYPES and entry.document:
                message = f"unknown recorder entry type {kind!r}: its content is not checked"
                entry.problems.append((Code.UNKNOWN_ENTRY_TYPE, message))

    def _tail(self, last_item: int | None) -> SignedTail | None:
        if last_item is None:
            return None
        items = self.session.items
        receipt = items[last_item].receipt
        start = next((i for i in range(last_item, -1, -1) if items[i].receipt.seq == 0), None)
        return SignedTail(
            root_hash=receipt.receipt_hash,
            final_seq=receipt.seq,
            segment_start_time=_normalised(items[start].receipt.text("timestamp"))
            if start is not None
            else None,
            end_time=_normalised(receipt.text("timestamp")),
        )

    def _after_root(self, last_item: int | None, entry: Entry) -> None:
        """A transcript root seals the run: the next receipt must open a new one."""
        following = 0 if last_item is None else last_item + 1
        items = self.session.items
        if (
            following < len(items)
            and items[following].receipt.section("session_control", "open") is None
        ):
            message = (
                f"receipt after the transcript root at {entry.origin}; only an open may follow"
            )
            self.on_receipt(following, Code.RECEIPT_AFTER_TERMINAL, message)

    def _attach(self, index: int, entry: Entry) -> None:
        """An entry's problems go on the receipt it carries, else on the chain."""
        if index in self.session.v1_at_entry:
            self.session.items[self.session.v1_at_entry[index]].receipt.problems.extend(
                entry.problems
            )
        elif index in self.session.v2_at_entry:
            self.session.v2[self.session.v2_at_entry[index]].receipt.problems.extend(entry.problems)
        else:
            for code, message in entry.problems:
                self.problem(code, message, entry.origin)

    def check_tail(self) -> None:
        items = self.session.items
        if not items or self.session.standalone:
            return
        last = len(items) - 1
        witnessed_hash = self.witness is not None and self.witness.final_hash is not None
        if self.walk.unclosed and self.witness is None:
            message = (
                "the last run has no signed session close: the chain may be cut off at the end"
            )
            self.on_receipt(last, Code.SESSION_NOT_CLOSED, message)
        if items[last].receipt.has_ext and not (self.tail_checkpointed or witnessed_hash):
            message = (
                "unsigned ext on the last receipt: no link, signed checkpoint or witness binds it"
            )
            self.on_receipt(last, Code.UNBOUND_EXT, message)
        if self.witness is not None:
            self._check_witness(self.witness, last)

    def _check_witness(self, witness: Witness, last: int) -> None:
        items = self.session.items
        head = items[last].receipt.receipt_hash
        if witness.length is not None and witness.length != len(items):
            self.on_receipt(
                last,
                Code.LENGTH_MISMATCH,
                f"witness expects {witness.length} receipts, found {len(items)}",
            )
        if witness.final_hash is not None and witness.final_hash.removeprefix("sha256:") != head:
            message = f"witness expects final hash {witness.final_hash}, found {head}"
            self.on_receipt(last, Code.FINAL_HASH_MISMATCH, message)

    def v1_result(self) -> tuple[ChainResult, list[VerifiedAction]]:
        items = self.session.items
        receipts = [_receipt_result(item.receipt, item.origin, i) for i, item in enumerate(items)]
        problems = [
            Problem(code, message, item.receipt.action_id, item.receipt.seq, i, item.origin)
            for i, item in enumerate(items)
            for code, message in item.receipt.problems
        ] + self.chain_problems
        times = sorted(t for item in items if (t := item.receipt.text("timestamp")))
        head = items[-1].receipt.receipt_hash if items else None
        chain = _chain_result(
            self.session.chain_id,
            self.recorder.name if self.recorder else None,
            receipts,
            problems,
            first=times[0] if times else None,
            last=times[-1] if times else None,
            head=head,
            source_kind=SOURCE_PIPELOCK,
        )
        chain = _with_walk(chain, self.walk)
        return chain, self._actions(receipts)

    def _actions(self, receipts: list[ReceiptResult]) -> list[VerifiedAction]:
        verified = set(self.walk.verified_keys)
        actions = []
        for item, result in zip(self.session.items, receipts, strict=True):
            key = item.receipt.signer_key
            actions.append(
                VerifiedAction(
                    record=item.receipt.record,
                    result=result,
                    chain_id=self.session.chain_id,
                    recorder=self.recorder.name if self.recorder else None,
                    recorder_session=self.name,
                    signer_fingerprint=fingerprint(key) if key in verified else None,
                    redacted_fields=item.receipt.redacted_fields,
                    fully_redacted=item.receipt.fully_redacted,
                )
            )
        return actions

    def v2_result(self) -> ChainResult | None:
        items = self.session.v2
        if not items:
            return None
        keys = [k.raw for k in self.options.trust.keys_for(self.name)]
        keys += [k for k in self.walk.verified_keys if k not in keys]
        _walk_v2(items, keys, standalone=self.session.standalone)
        receipts = [_receipt_result(item.receipt, item.origin, i) for i, item in enumerate(items)]
        problems = [
            Problem(code, message, item.receipt.event_id, item.receipt.seq, i, item.origin)
            for i, item in enumerate(items)
            for code, message in item.receipt.problems
        ]
        times = sorted(t for item in items if (t := item.receipt.text("timestamp")))
        return _chain_result(
            self.session.chain_id + "/v2",
            self.recorder.name if self.recorder else None,
            receipts,
            problems,
            first=times[0] if times else None,
            last=times[-1] if times else None,
            head=items[-1].receipt.full_hash,
            source_kind=SOURCE_PIPELOCK_EVIDENCE,
        )


def _normalised(timestamp: str | None) -> str | None:
    try:
        return normalise_rfc3339(timestamp) if timestamp else None
    except ValueError:
        return None


def _walk_v2(items: Sequence[_V2Item], keys: Sequence[bytes], *, standalone: bool) -> None:
    """v2's own chain: seq from 0, `genesis`, then the previous full receipt's hash."""
    for index, item in enumerate(items):
        receipt = item.receipt
        if receipt.redacted:
            continue
        _check_v2_key(receipt, keys)
        if standalone:
            continue
        before = items[index - 1].receipt if index else None
        expected_seq = 0 if before is None else (before.seq + 1 if before.seq is not None else None)
        if receipt.seq is not None and expected_seq is not None and receipt.seq != expected_seq:
            code = Code.SEQUENCE_DUPLICATE if receipt.seq == expected_seq - 1 else Code.SEQUENCE_GAP
            receipt.problems.append(
                (code, f"v2 chain_seq {receipt.seq} where {expected_seq} was expected")
            )
        if before is None:
            if receipt.prev != "genesis":
                receipt.problems.append(
                    (
                        Code.GENESIS_NOT_NULL,
                        f"the first v2 chain_prev_hash is {receipt.prev!r}, not 'genesis'",
                    )
                )
        elif not before.redacted and receipt.prev != before.full_hash:
            message = (
                f"v2 chain_prev_hash {receipt.prev!r}; the previous hashes to {before.full_hash}"
            )
            receipt.problems.append((Code.HASH_LINK_BROKEN, message))


def _check_v2_key(receipt: EvidenceReceipt, keys: Sequence[bytes]) -> None:
    """Under a trusted key; `signer_key_id` is only a hint, or names an untrusted key."""
    if receipt.preimage is None or receipt.signature is None:
        return
    hinted = receipt.signer_key_id or ""
    if verifying_key(receipt, sorted(keys, key=lambda k: k.hex() != hinted)) is not None:
        return
    stated = bytes.fromhex(hinted) if HEX64.fullmatch(hinted) else None
    if not keys or (stated is not None and verifying_key(receipt, [stated]) is not None):
        who = f"its signer_key_id key {fingerprint(stated)}" if stated else "its signer"
        message = f"no trusted Pipelock key signed this v2 receipt ({who} is not trusted)"
        receipt.problems.append((Code.UNKNOWN_ISSUER_KEY, message))
        return
    tried = ", ".join(fingerprint(k) for k in keys)
    message = f"v2 signature verifies under none of the trusted keys ({tried})"
    receipt.problems.append((Code.INVALID_SIGNATURE, message))


def _receipt_result(
    receipt: ActionReceipt | EvidenceReceipt, origin: Origin, index: int
) -> ReceiptResult:
    codes = list(dict.fromkeys(code for code, _ in receipt.problems))
    failures = tuple(c for c in codes if c.severity is Severity.FAILURE)
    warnings = tuple(c for c in codes if c.severity is Severity.WARNING)
    redacted = receipt.redacted
    outcome = Outcome.FAILED if failures else Outcome.INDETERMINATE if redacted else Outcome.PASSED
    if isinstance(receipt, EvidenceReceipt):
        receipt_id, seq, digest = receipt.event_id, receipt.seq, receipt.full_hash
    else:
        receipt_id, seq, digest = receipt.action_id, receipt.seq, receipt.receipt_hash
    return ReceiptResult(
        receipt_id=receipt_id,
        origin=origin,
        sequence=seq,
        receipt_hash=f"sha256:{digest}" if digest else None,
        outcome=outcome,
        failures=failures,
        warnings=warnings,
    )


def _chain_result(
    chain_id: str,
    issuer: str | None,
    receipts: list[ReceiptResult],
    problems: list[Problem],
    *,
    first: str | None,
    last: str | None,
    head: str | None,
    source_kind: str,
) -> ChainResult:
    failures = tuple(p for p in problems if p.severity is Severity.FAILURE)
    warnings = tuple(p for p in problems if p.severity is Severity.WARNING)
    broken_at = next((i for i, r in enumerate(receipts) if r.outcome is Outcome.FAILED), None)
    if broken_at is None and failures:
        broken_at = max(len(receipts) - 1, 0)
    return ChainResult(
        chain_id=chain_id,
        issuer=issuer,
        length=len(receipts),
        first_timestamp=first,
        last_timestamp=last,
        head_hash=f"sha256:{head}" if head else None,
        genesis_key_fingerprint=None,
        termination=Termination.UNKNOWN,
        failures=failures,
        warnings=warnings,
        receipts=tuple(receipts),
        broken_at=broken_at,
        source_kind=source_kind,
    )


def _with_walk(chain: ChainResult, walk: WalkOutcome) -> ChainResult:
    return replace(
        chain,
        genesis_key_fingerprint=walk.genesis_key.fingerprint if walk.genesis_key else None,
        termination=Termination.COMPLETE if walk.closed else Termination.UNKNOWN,
        rotations=tuple(walk.rotations),
    )


def _name_sessions(reading: _Reading) -> list[_Session]:
    sessions = [_session_from_entries(chain) for chain in _join_files(reading.recorder_files)]
    for session in reading.sessions:
        first = next((i.receipt for i in session.items if i.receipt.receipt_hash), None)
        if session.standalone:
            ident = (first.action_id if first else None) or (
                session.v2[0].receipt.event_id if session.v2 else None
            )
            session.chain_id = f"pipelock-receipt:{ident or 'unreadable'}"
        else:
            anchor = (first.receipt_hash or "unknown")[:16] if first else "unknown"
            session.chain_id = f"pipelock:{_signed_session(session) or 'receipts'}@{anchor}"
        sessions.append(session)
    return sessions


def _unused_endorsements(reading: _Reading, used: list[Endorsement]) -> list[Problem]:
    seen = {(e.boundary, e.new_signer_key) for e in used}
    problems = []
    for endorsement in reading.endorsements:
        if (endorsement.boundary, endorsement.new_signer_key) not in seen:
            message = (
                "rotation endorsement matches no key boundary in the inputs "
                "(a chain may be missing its continuation)"
            )
            problems.append(Problem(Code.ROTATION_INVALID, message, origin=endorsement.origin))
    return problems


def verify_pipelock(
    sources: Iterable[PipelockSource], options: PipelockOptions | None = None
) -> PipelockVerification:
    """Verify every Pipelock record in `sources`; see the module docstring."""
    options = options or PipelockOptions()
    reading = _read(sources, options)
    endorsements = _endorsement_index(reading.endorsements)
    chains: list[ChainResult] = []
    actions: list[VerifiedAction] = []
    used: list[Endorsement] = []
    for session in _name_sessions(reading):
        chain = _Chain(session, options, endorsements)
        chain.check_recorder()
        chain.check_tail()
        used.extend(chain.walk.used_endorsements)
        if session.items or session.entries:
            result, verified = chain.v1_result()
            chains.append(result)
            actions.extend(verified)
        v2 = chain.v2_result()
        if v2 is not None:
            chains.append(v2)
    problems = reading.problems + _unused_endorsements(reading, used)
    return PipelockVerification(tuple(chains), tuple(problems), tuple(actions))
