"""The verification results as one published JSON document (`agent-evidence/verification/v1`).

The same bytes serve `verify --json` and the report's `-verification.json` export (and,
without each receipt's own line, the `-verification-chains.json` the PDF carries): one
serialiser, one schema (`docs/schemas/verification.schema.json`).

Laid out as `json.dumps(indent=2, sort_keys=True)` would, but written by orjson a batch of
receipts at a time and joined once: a month can hold millions of receipt verdicts,
hundreds of MB that must not be built as one dict or copied piece by piece.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from reporting import __version__
from reporting.receipts.results import ChainResult, VerificationResult

__all__ = ["VERIFICATION_SCHEMA", "verification_document", "verified_something"]

VERIFICATION_SCHEMA = "agent-evidence/verification/v1"
_BATCH = 10_000


def verified_something(result: VerificationResult) -> bool:
    """Whether every chain verified and there was at least one: nothing is not a pass."""
    return result.valid and bool(result.chains)


def _summary(result: VerificationResult) -> dict[str, int]:
    return {
        "chains": len(result.chains),
        "valid_chains": sum(1 for c in result.chains if c.valid),
        "broken_chains": sum(1 for c in result.chains if not c.valid),
        "receipts": result.receipt_count,
        "failures": sum(len(c.failures) for c in result.chains),
        "warnings": sum(len(c.warnings) for c in result.chains),
        "input_problems": len(result.input_problems),
    }


def verification_document(
    result: VerificationResult,
    *,
    sources: Sequence[Mapping[str, Any]] = (),
    trust_anchors: Sequence[Mapping[str, Any]] = (),
    include_receipts: bool = True,
) -> bytes:
    """Every chain's verdict (sorted by chain id) with its problems, the input problems, the
    sources and trust anchors; with `include_receipts`, every receipt's own verdict too."""
    chains = sorted(result.chains, key=lambda c: (c.chain_id, c.issuer or ""))
    head = {
        "schema": VERIFICATION_SCHEMA,
        "tool_version": __version__,
        "valid": verified_something(result),
        "summary": _summary(result),
        "sources": [dict(s) for s in sources],
        "trust_anchors": [dict(a) for a in trust_anchors],
        "input_problems": [p.to_json() for p in result.input_problems],
        "chains": [],
    }
    before, after = _pretty(head).split(b'\n  "chains": []', 1)
    # Written into one growing buffer, never a list of pieces joined at the end: at a
    # million receipts the document is about 460 MB, and pieces plus their join would
    # hold it twice at the report's peak of memory (getvalue() hands the buffer over).
    document = io.BytesIO()
    document.write(before + b'\n  "chains": ')
    if chains:
        document.write(b"[")
        for number, chain in enumerate(chains):
            document.write(b"\n    " if number == 0 else b",\n    ")
            document.writelines(_chain_parts(chain, include_receipts, depth=2))
        document.write(b"\n  ]")
    else:
        document.write(b"[]")
    document.write(after + b"\n")
    return document.getvalue()


def _pretty(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def _indented(data: bytes, depth: int) -> bytes:
    return data.replace(b"\n", b"\n" + b"  " * depth)


def _chain_parts(chain: ChainResult, include_receipts: bool, depth: int) -> Iterator[bytes]:
    """One chain's object, nested `depth` levels deep, as pieces to join."""
    data = chain.to_json(include_receipts=False)
    if not include_receipts:
        yield _indented(_pretty(data), depth)
        return
    data["receipts"] = []
    before, after = _pretty(data).split(b'\n  "receipts": []', 1)
    yield _indented(before + b'\n  "receipts": ', depth)
    receipts = chain.receipts
    if not receipts:
        yield b"[]"
    else:
        yield b"["
        for start in range(0, len(receipts), _BATCH):
            batch = _pretty([r.to_json() for r in receipts[start : start + _BATCH]])[1:-2]
            yield (b"," if start else b"") + _indented(batch, depth + 1)
        yield b"\n" + b"  " * (depth + 1) + b"]"
    yield _indented(after, depth)
