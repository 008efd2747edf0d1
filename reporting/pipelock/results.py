"""What Pipelock verification is told and what it returns: the options, one verified
action, the whole result. Apart from `verify` so that reading these types (the pipeline
does on every run) does not load the verifier, which only a run with Pipelock sources needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reporting.pipelock.strictjson import MAX_DEPTH
from reporting.pipelock.trust import PipelockTrust
from reporting.receipts.external import Witness
from reporting.receipts.results import ChainResult, Problem, ReceiptResult, VerificationResult

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "SOURCE_PIPELOCK",
    "SOURCE_PIPELOCK_EVIDENCE",
    "PipelockOptions",
    "PipelockVerification",
    "VerifiedAction",
]

SOURCE_PIPELOCK = "pipelock"
SOURCE_PIPELOCK_EVIDENCE = "pipelock_evidence"
DEFAULT_MAX_RECORD_BYTES = 1 << 20  # Pipelock's own reader stops at 1 MiB lines


@dataclass(frozen=True)
class PipelockOptions:
    """What verification is told out of band. Security-relevant, so keyword-only."""

    trust: PipelockTrust = field(default_factory=PipelockTrust)
    witnesses: Mapping[str, Witness] = field(default_factory=dict)
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_depth: int = MAX_DEPTH


@dataclass(frozen=True)
class VerifiedAction:
    """One ActionReceipt v1 as signed, with its verdict and what trusted it."""

    record: Mapping[str, Any]  # the signed action_record (as parsed; redacted ones as read)
    result: ReceiptResult
    chain_id: str
    recorder: str | None  # the trust store's name for the recorder
    recorder_session: str | None
    signer_fingerprint: str | None  # only when the signer is a trusted or endorsed key
    redacted_fields: tuple[str, ...] = ()
    fully_redacted: bool = False


@dataclass(frozen=True)
class PipelockVerification:
    """Every Pipelock chain in the inputs, problems that belong to none, and the actions."""

    chains: tuple[ChainResult, ...]
    input_problems: tuple[Problem, ...] = ()
    actions: tuple[VerifiedAction, ...] = ()

    @property
    def valid(self) -> bool:
        return self.as_verification_result().valid

    def as_verification_result(self) -> VerificationResult:
        return VerificationResult(self.chains, self.input_problems)

    def chain(self, chain_id: str) -> ChainResult:
        return next(c for c in self.chains if c.chain_id == chain_id)
