"""Run our verifier on in-memory receipts, the way the pipeline would."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from reporting.receipts.keys import PublicKey, TrustEntry, TrustStore
from reporting.receipts.records import RawRecord
from reporting.receipts.results import ChainResult, Code, Origin, VerificationResult
from reporting.receipts.sources import spool_sources
from reporting.receipts.verify import VerifyOptions, verify_chain, verify_spool


def raw_key(pem: str) -> bytes:
    key = load_pem_public_key(pem.encode())
    return key.public_bytes_raw()  # type: ignore[union-attr]


def trust(
    *raw_keys: bytes, issuer: str | None = None, chains: tuple[str, ...] = ("*",)
) -> TrustStore:
    keys = tuple(PublicKey(k, f"test key {i}") for i, k in enumerate(raw_keys))
    return TrustStore(entries=(TrustEntry(issuer, chains, keys),), source="test")


def records(docs: list[Any], source: str = "test") -> list[RawRecord]:
    return [
        RawRecord(
            raw=(d if isinstance(d, bytes) else json.dumps(d).encode()),
            origin=Origin(source, i + 1),
        )
        for i, d in enumerate(docs)
    ]


def verify_docs(docs: list[Any], *raw_keys: bytes, **options: Any) -> ChainResult:
    chain_key = options.pop("chain_key", None)
    if chain_key is None:
        first = docs[0] if not isinstance(docs[0], bytes) else json.loads(docs[0])
        chain_key = first["credentialSubject"]["chain"]["chain_id"]
    result, _ = verify_chain(
        chain_key, records(docs), options=VerifyOptions(trust=trust(*raw_keys), **options)
    )
    return result


def verify_paths(paths: list[Path | str], store: TrustStore, **options: Any) -> VerificationResult:
    workers = options.pop("workers", 1)
    with spool_sources([str(p) for p in paths]) as spool:
        result, _ = verify_spool(
            spool, options=VerifyOptions(trust=store, **options), workers=workers
        )
    return result


def codes(chain: ChainResult) -> set[Code]:
    return {p.code for p in chain.failures}


def warning_codes(chain: ChainResult) -> list[Code]:
    return [p.code for p in chain.warnings]


def evidence_from(
    tmp_path: Path,
    chains: list[list[Any]],
    *raw_keys: bytes,
    period: Any = None,
    grants: Any = None,
    witnesses: Any = None,
) -> Any:
    """Receipts → JSONL → spool → verification with row extraction → the evidence frame."""
    from reporting.evidence.frame import build_evidence, extract_rows

    path = tmp_path / f"evidence-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for chain in chains for d in chain))
    options = VerifyOptions(trust=trust(*raw_keys), grants=grants, witnesses=witnesses or {})
    with spool_sources([str(path)]) as spool:
        result, extracts = verify_spool(spool, options=options, extract=extract_rows)
    return build_evidence(result, extracts, period=period, grants=grants, witnesses=witnesses)


def examples(count: int) -> int:
    """Hypothesis examples for a test that wants `count` under the library's default
    profile (100), scaled to the profile conftest.py loaded: fewer in dev, more in ci."""
    from hypothesis import settings

    return max(10, count * settings().max_examples // 100)


class DeadlineExceededError(BaseException):
    """Not an Exception: code under test that catches every Exception cannot hide it."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail, instead of hanging the suite, when the block runs longer than `seconds`
    (POSIX, main thread: what pytest runs tests in)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise DeadlineExceededError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
