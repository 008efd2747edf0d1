"""Verifier throughput against the reference SDK, measured in one process run.

Prints receipts/s for our verifier and for `obsigna.verify_chain` on the same
10,000-receipt chain and their ratio, then single- vs two-process throughput on a
50,000-receipt store. Ratios are what matter: the machines are shared and noisy.
Synthetic receipts are signed with PyNaCl and canonicalised with the `rfc8785`
package (not our code), and cached in .bench-cache/.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nacl.signing
import rfc8785

from reporting.collector import tune_for_batch_work
from reporting.receipts.canonical import sha256_tag
from reporting.receipts.keys import PublicKey, TrustEntry, TrustStore
from reporting.receipts.records import RawRecord
from reporting.receipts.results import Origin
from reporting.receipts.sources import spool_sources
from reporting.receipts.verify import VerifyOptions, verify_chain, verify_spool

CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"
SEED = b"agent-evidence-bench-key-0000000"
ACTIONS = (
    ("filesystem.file.read", "low"),
    ("filesystem.file.modify", "medium"),
    ("system.command.execute", "high"),
    ("network.http.request", "medium"),
)


def _receipt(
    chain_id: str, sequence: int, previous: str | None, rng_id: uuid.UUID
) -> dict[str, Any]:
    action_type, risk = ACTIONS[sequence % len(ACTIONS)]
    minute = sequence % 60
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://agentreceipts.ai/context/v3"],
        "id": f"urn:receipt:{rng_id}",
        "type": ["VerifiableCredential", "AgentReceipt"],
        "version": "0.6.0",
        "issuer": {
            "id": "did:agent:bench",
            "name": "Bench agent",
            "session_id": f"s-{sequence // 50}",
        },
        "issuanceDate": f"2026-10-01T10:{minute:02d}:00.000Z",
        "credentialSubject": {
            "principal": {"id": "did:user:alice", "type": "HumanPrincipal"},
            "action": {
                "id": f"act_{uuid.UUID(int=rng_id.int ^ 1)}",
                "type": action_type,
                "risk_level": risk,
                "target": {"system": "workstation", "resource": f"/srv/project/file-{sequence}.py"},
                "parameters_hash": "sha256:" + "ab" * 32,
                "timestamp": f"2026-10-01T10:{minute:02d}:00.000Z",
            },
            "intent": {"prompt_preview": "refactor the build script and run the tests"},
            "outcome": {"status": "success"},
            "authorization": {
                "scopes": ["fs:write", "shell:exec"],
                "granted_at": "2026-10-01T09:00:00Z",
            },
            "chain": {
                "sequence": sequence,
                "previous_receipt_hash": previous,
                "chain_id": chain_id,
            },
        },
    }


def _signed_chain(
    chain_id: str, length: int, key: nacl.signing.SigningKey, salt: int
) -> list[bytes]:
    lines: list[bytes] = []
    previous: str | None = None
    for sequence in range(1, length + 1):
        doc = _receipt(chain_id, sequence, previous, uuid.UUID(int=(salt << 64) | sequence))
        canonical = rfc8785.dumps(doc)
        previous = sha256_tag(canonical)
        signature = key.sign(canonical).signature
        import base64

        doc["proof"] = {
            "type": "Ed25519Signature2020",
            "created": doc["issuanceDate"],
            "verificationMethod": "did:agent:bench#key-1",
            "proofPurpose": "assertionMethod",
            "proofValue": "u" + base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
        }
        lines.append(json.dumps(doc, separators=(",", ":")).encode())
    return lines


def _cached_chain(length: int, key: nacl.signing.SigningKey) -> list[bytes]:
    path = CACHE / f"chain-{length}.jsonl"
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        path.write_bytes(b"\n".join(_signed_chain("bench_chain", length, key, 1)) + b"\n")
    return path.read_bytes().splitlines()


def _cached_store(receipts: int, chains: int, key: nacl.signing.SigningKey) -> Path:
    path = CACHE / f"store-{receipts}.db"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE receipts (id TEXT PRIMARY KEY, chain_id TEXT NOT NULL,"
        " sequence INTEGER NOT NULL, action_type TEXT NOT NULL,"
        " tool_name TEXT NOT NULL DEFAULT '', risk_level TEXT NOT NULL,"
        " status TEXT NOT NULL, timestamp TEXT NOT NULL, issuer_id TEXT NOT NULL,"
        " principal_id TEXT,"
        " receipt_json TEXT NOT NULL, receipt_hash TEXT NOT NULL, previous_receipt_hash TEXT,"
        " created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )
    per_chain = receipts // chains
    for number in range(chains):
        for raw in _signed_chain(f"chain_{number:04d}", per_chain, key, number + 2):
            doc = json.loads(raw)
            subject = doc["credentialSubject"]
            unsigned = {k: v for k, v in doc.items() if k != "proof"}
            db.execute(
                "INSERT INTO receipts VALUES (?,?,?,?,'',?,?,?,?,?,?,?,?,NULL)",
                (
                    doc["id"],
                    subject["chain"]["chain_id"],
                    subject["chain"]["sequence"],
                    subject["action"]["type"],
                    subject["action"]["risk_level"],
                    subject["outcome"]["status"],
                    subject["action"]["timestamp"],
                    doc["issuer"]["id"],
                    subject["principal"]["id"],
                    raw.decode(),
                    sha256_tag(rfc8785.dumps(unsigned)),
                    subject["chain"]["previous_receipt_hash"],
                ),
            )
    db.commit()
    db.close()
    return path


def _rates(count: int, actions: Sequence[Callable[[], Any]], rounds: int) -> list[float]:
    """Best receipts/s of each action over `rounds`, the actions taking turns, so a
    slow spell of this shared machine does not land on one side of a ratio only."""
    best = [float("inf")] * len(actions)
    for _ in range(rounds):
        for position, action in enumerate(actions):
            start = time.perf_counter()
            action()
            best[position] = min(best[position], time.perf_counter() - start)
    return [count / seconds for seconds in best]


def _trust(key: nacl.signing.SigningKey) -> TrustStore:
    raw = bytes(key.verify_key)
    return TrustStore((TrustEntry(None, ("*",), (PublicKey(raw, "bench"),)),), "bench")


def bench_reference(lines: list[bytes], key: nacl.signing.SigningKey) -> None:
    import obsigna
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = (
        Ed25519PublicKey.from_public_bytes(bytes(key.verify_key))
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    models = [obsigna.AgentReceipt.model_validate_json(line) for line in lines]
    records = [RawRecord(line, Origin("bench", i)) for i, line in enumerate(lines, 1)]
    options = VerifyOptions(trust=_trust(key))

    def ours() -> None:
        result, _ = verify_chain("bench_chain", records, options=options)
        assert result.valid, result.failures[:3]

    def reference() -> None:
        assert obsigna.verify_chain(models, pem).valid

    ours_rate, reference_rate = _rates(len(lines), [ours, reference], rounds=3)
    print(f"one chain of {len(lines):,} receipts, one core")
    print(f"  agent-evidence verify_chain : {ours_rate:10,.0f} receipts/s")
    print(f"  obsigna.verify_chain        : {reference_rate:10,.0f} receipts/s")
    print(f"  ratio                       : {ours_rate / reference_rate:10.2f}x  (target >= 6x)")


def bench_scaling(store: Path, receipts: int, key: nacl.signing.SigningKey) -> None:
    options = VerifyOptions(trust=_trust(key))

    def run(workers: int) -> Callable[[], None]:
        def action() -> None:
            with spool_sources([str(store)]) as spool:
                result, _ = verify_spool(spool, options=options, workers=workers)
            assert result.valid
            assert result.receipt_count == receipts

        return action

    single, double = _rates(receipts, [run(1), run(2)], rounds=3)
    print(f"store of {receipts:,} receipts, end to end (spool + verify)")
    print(f"  1 process  : {single:10,.0f} receipts/s")
    print(f"  2 processes: {double:10,.0f} receipts/s")
    print(f"  scaling    : {double / single:10.2f}x  (target >= 1.7x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chain-length", type=int, default=10_000)
    parser.add_argument("--store-receipts", type=int, default=50_000)
    args = parser.parse_args()
    tune_for_batch_work()  # as the CLI runs; obsigna is measured under the same settings
    key = nacl.signing.SigningKey(SEED)
    bench_reference(_cached_chain(args.chain_length, key), key)
    bench_scaling(_cached_store(args.store_receipts, 50, key), args.store_receipts, key)


if __name__ == "__main__":
    main()
