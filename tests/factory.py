"""Real receipts and chains signed by the reference SDK (obsigna), for our verifier to judge.

Re-signing a mutated dict uses obsigna's own canonicaliser, so test data never depends
on the canonicalisation under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

obsigna = pytest.importorskip("obsigna", reason="the dev extra (obsigna) is not installed")

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import (  # noqa: E402
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from obsigna.receipt.hash import canonicalize, normalize_receipt_dict  # noqa: E402
from obsigna.receipt.types import (  # noqa: E402
    Authorization,
    Chain,
    Intent,
    Issuer,
    KeyRotation,
    Outcome,
    Principal,
)


@dataclass(frozen=True)
class Key:
    private: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, seed: str) -> Key:
        return cls(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest()))

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ).decode()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def raw(self) -> bytes:
        return self.private.public_key().public_bytes_raw()

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()

    def write_pem(self, path: Path) -> Path:
        path.write_text(self.public_pem)
        return path


def receipt_dict(signed: Any) -> dict[str, Any]:
    """A signed obsigna receipt as the JSON the SDK's store writes."""
    data: dict[str, Any] = signed.model_dump(by_alias=True, exclude_none=True)
    data["credentialSubject"]["chain"].setdefault("previous_receipt_hash", None)
    return data


def receipt_hash(doc: dict[str, Any]) -> str:
    canonical = canonicalize(normalize_receipt_dict(json.loads(json.dumps(doc)))).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def resign(doc: dict[str, Any], key: Key) -> dict[str, Any]:
    """Sign a (mutated) receipt dict with obsigna's canonicaliser: an attacker holding a key."""
    unsigned = {k: v for k, v in doc.items() if k != "proof"}
    canonical = canonicalize(normalize_receipt_dict(json.loads(json.dumps(unsigned)))).encode()
    signature = key.private.sign(canonical)
    proof = dict(doc.get("proof") or {})
    proof.update(
        type="Ed25519Signature2020",
        created="2026-10-01T00:00:00.000Z",
        verificationMethod=f"{doc['issuer']['id']}#key-1",
        proofPurpose="assertionMethod",
        proofValue="u" + base64.urlsafe_b64encode(signature).rstrip(b"=").decode(),
    )
    return {**unsigned, "proof": proof}


@dataclass
class ChainBuilder:
    """Builds one hash-linked chain with obsigna, receipt by receipt."""

    key: Key
    chain_id: str = "chain_test"
    issuer: str = "did:agent:test"
    principal: str = "did:user:alice"
    receipts: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        action_type: str = "filesystem.file.read",
        risk: str = "low",
        *,
        terminal: bool = False,
        status: str | None = None,
        outcome: str = "success",
        key: Key | None = None,
        authorization: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        response_body: Any = None,
        timestamp: str | None = None,
        key_rotation: dict[str, Any] | None = None,
        delegation: dict[str, Any] | None = None,
        intent: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        outcome_fields: dict[str, Any] | None = None,
        issuer_fields: dict[str, Any] | None = None,
        tool_name: str | None = None,
        **action_extra: Any,
    ) -> dict[str, Any]:
        previous = receipt_hash(self.receipts[-1]) if self.receipts else None
        sequence = len(self.receipts) + 1
        unsigned = obsigna.create_receipt(
            obsigna.CreateReceiptInput(
                issuer=Issuer(id=self.issuer, name="Test agent", **(issuer_fields or {})),
                principal=Principal(id=self.principal, type="HumanPrincipal"),
                action=obsigna.ActionInput(
                    type=action_type,
                    risk_level=risk,
                    idempotency_key=idempotency_key,
                    **action_extra,
                ),
                outcome=Outcome(status=outcome, **(outcome_fields or {})),
                chain=Chain(
                    sequence=sequence, previous_receipt_hash=previous, chain_id=self.chain_id
                ),
                authorization=Authorization(**authorization) if authorization else None,
                terminal=terminal,
                termination_status=status,
                response_body=response_body,
                action_timestamp=timestamp or f"2026-10-01T10:{sequence % 60:02d}:00.000Z",
                delegation=delegation,
                intent=Intent(**intent) if intent else None,
                correlation_id=correlation_id,
            )
        )
        if tool_name is not None:  # daemon receipts carry it; the SDK's input model does not
            action = unsigned.credentialSubject.action.model_copy(update={"tool_name": tool_name})
            subject = unsigned.credentialSubject.model_copy(update={"action": action})
            unsigned = unsigned.model_copy(update={"credentialSubject": subject})
        if key_rotation is not None:
            subject = unsigned.credentialSubject.model_copy(
                update={"key_rotation": KeyRotation(**key_rotation)}
            )
            unsigned = unsigned.model_copy(update={"credentialSubject": subject})
        signed = obsigna.sign_receipt(unsigned, (key or self.key).private_pem, f"{self.issuer}#k1")
        doc = receipt_dict(signed)
        self.receipts.append(doc)
        return doc

    def extend(self, count: int, **kwargs: Any) -> ChainBuilder:
        for _ in range(count):
            self.add(**kwargs)
        return self


def rotation_fields(old: Key, new: Key) -> dict[str, Any]:
    return {
        "event_type": "key_rotated",
        "new_public_key": "u" + base64.urlsafe_b64encode(new.raw).rstrip(b"=").decode(),
        "old_key_fingerprint": old.fingerprint,
        "new_key_fingerprint": new.fingerprint,
        "old_algorithm": "ed25519",
        "new_algorithm": "ed25519",
        "signed_with": "old",
    }


def write_jsonl(path: Path, receipts: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in receipts))
    return path


def write_store(path: Path, *chains: list[dict[str, Any]]) -> Path:
    """An SQLite store written by obsigna's own ReceiptStore."""
    store = obsigna.open_store(str(path))
    for receipts in chains:
        for doc in receipts:
            receipt = obsigna.AgentReceipt.model_validate(doc)
            store.insert(receipt, receipt_hash(doc))
    store.close()
    return path


def fresh_id() -> str:
    return f"urn:receipt:{uuid.uuid4()}"
