"""The Pipelock part of a run that verifies both kinds of record from the same inputs.

`verify` and `report` take one list of sources and one or more `--keys`; this module
says which of those are Pipelock's and verifies them beside the Agent Receipts:

* sources: `claim_pipelock` is the spool's `claim` (`reporting.receipts.sources`):
  a file (or standard input) whose content `detect_pipelock` recognises is kept whole
  for this verifier and never read as receipts, whatever its name; a directory may hold
  both kinds. Key files among the sources are claimed too, and reported
  (`MALFORMED_RECEIPT`: trust material, not a record);
* trust: `load_trust_inputs` reads every `--keys` input once for each verifier: a
  Pipelock key file (64 hex digits) trusts a recorder key only; a YAML trust store gives
  its `issuers` to the receipts and its `pipelock:` section here; a PEM key or daemon key
  directory gives receipts keys only. The trust of each verifier is the union;
* witnesses: a witness file names chains by id; those naming a Pipelock chain
  (`pipelock:…`, `pipelock-receipt:…`) pin a recorder session's length and final hash
  (`split_witnesses`), and one whose chain is not in the input is
  `WITNESS_CHAIN_MISSING`, as for receipts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from reporting.pipelock.results import PipelockOptions, PipelockVerification
from reporting.pipelock.sources import PipelockSource, detect_pipelock
from reporting.pipelock.trust import PipelockTrust, is_pipelock_key_path, load_pipelock_trust
from reporting.receipts.crosschain import missing_witnessed
from reporting.receipts.external import Witness
from reporting.receipts.keys import TrustStore, load_trust
from reporting.receipts.results import VerificationResult
from reporting.receipts.spool import ClaimedSource

__all__ = [
    "PIPELOCK_CHAIN_PREFIXES",
    "TrustInputs",
    "claim_pipelock",
    "combined_result",
    "is_pipelock_chain",
    "load_trust_inputs",
    "raw_records",
    "selected_only",
    "split_witnesses",
    "verify_claimed",
]

PIPELOCK_CHAIN_PREFIXES = ("pipelock:", "pipelock-receipt:")
SOURCE_KIND_PREFIX = "pipelock_"  # a claimed source's kind: pipelock_recorder, ...


def claim_pipelock(head: bytes) -> str | None:
    """The kind of source the spool lists for Pipelock content (`pipelock_recorder`, ...),
    or None when the bytes are not Pipelock's."""
    kind = detect_pipelock(head)
    return None if kind is None else SOURCE_KIND_PREFIX + kind.value


def is_pipelock_chain(chain_id: str) -> bool:
    return chain_id.startswith(PIPELOCK_CHAIN_PREFIXES)


@dataclass(frozen=True)
class TrustInputs:
    """Every `--keys` input, as each verifier's trust."""

    receipts: TrustStore
    pipelock: PipelockTrust

    def anchors(self) -> list[dict[str, str | None]]:
        """The trusted keys of both, as the scope section and `verify --json` list them
        (Pipelock's marked `"kind": "pipelock"`, named by the recorder)."""
        pipelock = [
            {
                "issuer": row["recorder"],
                "fingerprint": row["fingerprint"],
                "source": row["source"],
                "kind": "pipelock",
            }
            for row in self.pipelock.fingerprints()
        ]
        return [*self.receipts.fingerprints(), *pipelock]


def load_trust_inputs(paths: Sequence[Path]) -> TrustInputs:
    """Load every `--keys` input for both verifiers; the trust of each is the union."""
    stores = [load_trust(path) for path in paths if not is_pipelock_key_path(path)]
    receipts = stores[0].union(*stores[1:]) if stores else TrustStore((), "")
    pipelock = PipelockTrust().union(*(load_pipelock_trust(path) for path in paths))
    return TrustInputs(receipts, pipelock)


def split_witnesses(
    witnesses: Mapping[str, Witness],
) -> tuple[dict[str, Witness], dict[str, Witness]]:
    """(the Agent Receipts chains' witnesses, the Pipelock chains')."""
    receipts = {k: w for k, w in witnesses.items() if not is_pipelock_chain(k)}
    pipelock = {k: w for k, w in witnesses.items() if is_pipelock_chain(k)}
    return receipts, pipelock


def verify_claimed(
    claimed: Iterable[ClaimedSource], options: PipelockOptions
) -> PipelockVerification:
    """Verify the sources the spool kept for Pipelock (see the module docstring)."""
    sources = [
        PipelockSource(c.raw, c.name) for c in claimed if c.kind.startswith(SOURCE_KIND_PREFIX)
    ]
    if not sources and not options.witnesses:
        return PipelockVerification(chains=())
    from reporting.pipelock.verify import verify_pipelock  # only a run with Pipelock input

    return verify_pipelock(sources, options)


def selected_only(
    verification: PipelockVerification,
    options: PipelockOptions,
    selected: frozenset[str] | None,
) -> PipelockVerification:
    """The chains `--chain` selected (all without it), their actions, and every input
    problem, with a witnessed Pipelock chain that is missing reported."""
    chains = tuple(
        c for c in verification.chains if selected is None or _selected(c.chain_id, selected)
    )
    kept = {c.chain_id for c in chains}
    return replace(
        verification,
        chains=chains,
        actions=tuple(a for a in verification.actions if a.chain_id in kept),
        input_problems=(
            *verification.input_problems,
            *missing_witnessed(
                options.witnesses, {c.chain_id for c in verification.chains}, selected
            ),
        ),
    )


def _selected(chain_id: str, selected: frozenset[str]) -> bool:
    """A v2 chain (`…/v2`) goes with its session's v1 chain."""
    return chain_id in selected or chain_id.removesuffix("/v2") in selected


def combined_result(
    receipts: VerificationResult, pipelock: PipelockVerification
) -> VerificationResult:
    """One verification result over both kinds: every chain, every input problem."""
    return VerificationResult(
        chains=(*receipts.chains, *pipelock.chains),
        input_problems=(*receipts.input_problems, *pipelock.input_problems),
    )


def raw_records(
    verification: PipelockVerification, claimed: Iterable[ClaimedSource], ids: Iterable[str]
) -> dict[str, bytes]:
    """The stored bytes of the cited Pipelock receipts, by action id (first copy of each):
    the recorder entry (or receipt line) that carries it, as read."""
    wanted = set(ids)
    files = {source.name: source.raw for source in claimed}
    lines: dict[str, list[bytes]] = {}
    found: dict[str, bytes] = {}
    for action in verification.actions:
        receipt_id, origin = action.result.receipt_id, action.result.origin
        if receipt_id not in wanted or receipt_id in found or origin.source not in files:
            continue
        if origin.line is None:
            found[receipt_id] = files[origin.source].strip()
            continue
        split = lines.setdefault(origin.source, files[origin.source].split(b"\n"))
        found[receipt_id] = split[origin.line - 1].removesuffix(b"\r")
    return found
