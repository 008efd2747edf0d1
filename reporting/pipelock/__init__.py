"""Independent, strict verification of Pipelock's signed egress records.

Pipelock (an egress firewall for AI agents) signs one Ed25519 ActionReceipt v1 per
decision about an agent's HTTP, WebSocket or MCP request, chains them, and appends them
to a hash-chained JSONL flight recorder, next to EvidenceReceipt v2 receipts,
checkpoints and transcript roots. This package verifies all of it from the raw bytes,
following `shared/pipelock/PIPELOCK.md`, without the vendor's code; its results are
`reporting.receipts.results` types, so a recorder session is handled like a chain.

Modules, one stage each:

* `strictjson`: strict parsing and Go `encoding/json` string and RawMessage bytes;
* `canonical`: the ActionReceipt v1 canonical bytes (Go struct order, omitempty);
* `timefmt`: RFC 3339 as Go reads and writes it;
* `action`: one v1 receipt: envelope, validation, hash, signature, redaction labels;
* `chain`: the v1 chain walk: sequence, links, keys, rotations, sessions, `g1:`;
* `rotation`: rotation endorsements; `evidence_v2`: EvidenceReceipt v2;
* `recorder`: the recorder's entry chain, checkpoints and transcript roots;
* `sources`: content detection; `trust`: key files and the trust-store section;
* `verify`: the whole run (`verify_pipelock`); `evidence`: flat per-action records.

Trust. A receipt embeds its `signer_key`; trusting it would let anyone who can write
the log re-sign all of it with a key of their own and pass. So the first signer of a
chain must be a key the trust store (or a `--keys` key file) pins for its recorder
session, else `UNKNOWN_ISSUER_KEY`, a failure; later keys only through rotation
endorsements signed by a trusted predecessor; v2 receipts only under trusted keys (or
endorsed successors); checkpoints under the same keys (under the embedded ones when
the chain is unpinned, which has then already failed). We chose a failure over a
"self-consistent only" verdict because a verdict must mean authentic: the other checks
still run under the embedded keys, so a chain whose only failure is
`UNKNOWN_ISSUER_KEY` is visibly self-consistent, but it never passes and its records
never count as evidence.

Stricter than `pipelock-verify` 0.4.1, where PIPELOCK.md shows it lax (each a test):

* a chain cut off at the end, even with its session close removed:
  `SESSION_NOT_CLOSED` (the last run has no signed close), unless a witness pins the
  tail; a close whose counts disagree is `SESSION_COUNT_MISMATCH`;
* an edited recorder line: the entry hash chain (`RECORDER_ENTRY_HASH_MISMATCH`,
  `RECORDER_LINK_BROKEN`), checkpoint signatures (`CHECKPOINT_INVALID`) and
  transcript roots (`TRANSCRIPT_ROOT_MISMATCH`) are all checked; 0.4.1 reads only
  the receipts;
* a forged v2 entry inside the log: every EvidenceReceipt v2 is verified under the
  trusted keys, with its own chain and the key-purpose authority matrix;
* `ext` added to the last receipt: unsigned, so unless a signed checkpoint or a witness
  covers it, `UNBOUND_EXT`;
* and it accepts what 0.4.1 wrongly rejects: the v2 receipts of Pipelock 3.2.0's live
  log (`canonicalization`, `crit`, `policy_hash`).

Also: unknown entry types are flagged (`UNKNOWN_ENTRY_TYPE`, a warning); a timestamp
not in Pipelock's UTC RFC3339Nano form is `TIMESTAMP_NOT_NORMALISED` (Go and 0.4.1
would hash different bytes for it); a receipt rewritten by the recorder's own DLP
redaction is `RECEIPT_REDACTED` (a warning, verdict indeterminate: never forged, never
evidence); unknown members, duplicate names, non-Go number types, trailing data,
lone surrogates and nesting beyond 128 are refused as `MALFORMED_RECEIPT`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reporting._lazy import lazy_attributes

# Names load on first use: a run without Pipelock sources never loads the verifier.
_EXPORTS = {
    "ActionEvidence": "reporting.pipelock.evidence",
    "PipelockKind": "reporting.pipelock.sources",
    "PipelockOptions": "reporting.pipelock.results",
    "PipelockRecorder": "reporting.pipelock.trust",
    "PipelockSource": "reporting.pipelock.sources",
    "PipelockTrust": "reporting.pipelock.trust",
    "PipelockVerification": "reporting.pipelock.results",
    "SOURCE_PIPELOCK": "reporting.pipelock.results",
    "SOURCE_PIPELOCK_EVIDENCE": "reporting.pipelock.results",
    "VerifiedAction": "reporting.pipelock.results",
    "action_evidence": "reporting.pipelock.evidence",
    "channel_of": "reporting.pipelock.evidence",
    "detect_pipelock": "reporting.pipelock.sources",
    "is_pipelock_key_file": "reporting.pipelock.trust",
    "load_pipelock_key_file": "reporting.pipelock.trust",
    "parse_pipelock_section": "reporting.pipelock.trust",
    "verify_pipelock": "reporting.pipelock.verify",
}

__all__ = [
    "SOURCE_PIPELOCK",
    "SOURCE_PIPELOCK_EVIDENCE",
    "ActionEvidence",
    "PipelockKind",
    "PipelockOptions",
    "PipelockRecorder",
    "PipelockSource",
    "PipelockTrust",
    "PipelockVerification",
    "VerifiedAction",
    "action_evidence",
    "channel_of",
    "detect_pipelock",
    "is_pipelock_key_file",
    "load_pipelock_key_file",
    "parse_pipelock_section",
    "verify_pipelock",
]

if TYPE_CHECKING:
    from reporting.pipelock.evidence import ActionEvidence, action_evidence, channel_of
    from reporting.pipelock.results import (
        SOURCE_PIPELOCK,
        SOURCE_PIPELOCK_EVIDENCE,
        PipelockOptions,
        PipelockVerification,
        VerifiedAction,
    )
    from reporting.pipelock.sources import PipelockKind, PipelockSource, detect_pipelock
    from reporting.pipelock.trust import (
        PipelockRecorder,
        PipelockTrust,
        is_pipelock_key_file,
        load_pipelock_key_file,
        parse_pipelock_section,
    )
    from reporting.pipelock.verify import verify_pipelock

__getattr__ = lazy_attributes(__name__, _EXPORTS, globals())
