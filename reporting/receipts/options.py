"""What a verification run is told out of band: trust, witnesses, grants, bodies, limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from reporting.receipts.canonical import DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECEIPT_BYTES
from reporting.receipts.external import Grant, ResponseBodies, Witness
from reporting.receipts.keys import TrustStore
from reporting.receipts.records import ReadLimits

if TYPE_CHECKING:  # certificates are loaded only when --tsa-roots names some
    from cryptography import x509

__all__ = ["VerifyOptions"]


@dataclass(frozen=True)
class VerifyOptions:
    """Everything a verification run is told out of band. Security-relevant, so keyword-only."""

    trust: TrustStore
    require_terminal: bool = False
    witnesses: dict[str, Witness] = field(default_factory=dict)
    grants: dict[str, Grant] | None = None
    bodies: ResponseBodies | None = None
    tsa_roots: tuple[x509.Certificate, ...] = ()
    timestamp_tolerance: timedelta = timedelta(minutes=5)
    max_receipt_bytes: int = DEFAULT_MAX_RECEIPT_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH

    @property
    def limits(self) -> ReadLimits:
        return ReadLimits(self.max_receipt_bytes, self.max_depth)
