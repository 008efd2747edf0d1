"""What a report is about: a period, and optionally chains, agents, principals and grants.

Approval tickets usually concern one agent, one principal or one change, so a report can
be scoped by glob patterns on the chain id, the issuer (agent), the principal and the
grant reference, besides the period. Scope never narrows verification: every chain the
scoped receipts depend on (delegation parents) is still verified, and a chain that failed
verification stays in scope unless its authentic receipts place it outside
(`reporting.evidence.frame`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reporting.periods import Period

__all__ = ["Scope"]


@dataclass(frozen=True)
class Scope:
    period: Period = field(default_factory=Period)
    chains: tuple[str, ...] = ()  # glob patterns on the chain id; () = every chain
    issuers: tuple[str, ...] = ()  # on issuer.id (the agent)
    principals: tuple[str, ...] = ()  # on credentialSubject.principal.id
    grants: tuple[str, ...] = ()  # on authorization.grant_ref

    @property
    def narrowed(self) -> bool:
        """Whether anything besides the period narrows the report."""
        return bool(self.chains or self.issuers or self.principals or self.grants)

    def to_json(self) -> dict[str, Any]:
        return {
            "chains": list(self.chains),
            "issuers": list(self.issuers),
            "principals": list(self.principals),
            "grants": list(self.grants),
        }

    def label(self) -> str:
        """The scope as the cover states it: `every chain, agent and principal`, or the
        patterns that narrow it."""
        parts = [
            f"{what} {', '.join(patterns)}"
            for what, patterns in (
                ("chains", self.chains),
                ("agents", self.issuers),
                ("principals", self.principals),
                ("grants", self.grants),
            )
            if patterns
        ]
        return "; ".join(parts) if parts else "every chain, agent and principal"
