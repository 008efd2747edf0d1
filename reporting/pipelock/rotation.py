"""Rotation endorsements: the outgoing key's signature over its successor (PIPELOCK.md §2).

A new key segment starts at a seq-0 receipt with `key_transition`, signed by the new
key; only an endorsement signed by the old key makes the new key trustworthy. It binds
the recorder session, the old key, the old segment's final sequence and tail hash, and
the new key, so it cannot be replayed at another boundary, in another session or for
another key. Its form is strict: lowercase hex, canonical UTC `rotated_at`, exactly its
eight members. The signature is Ed25519 over SHA-256 of
`pipelock-rotation-endorsement-v1` + 0x00 + Go JSON of the first seven members.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from reporting.pipelock.action import HEX64, ed25519_valid, parse_signature
from reporting.pipelock.canonical import ENDORSEMENT_SIGNED, SchemaError, encode_struct
from reporting.pipelock.timefmt import normalise_rfc3339
from reporting.receipts.results import Origin

__all__ = ["DOMAIN", "Endorsement", "is_endorsement", "parse_endorsement"]

DOMAIN = b"pipelock-rotation-endorsement-v1\x00"
_MEMBERS = frozenset(f.name for f in ENDORSEMENT_SIGNED) | {"endorsement"}


@dataclass(frozen=True, slots=True)
class Endorsement:
    """A verified endorsement (its signature holds under `prior_signer_key`)."""

    session_id: str
    prior_signer_key: str
    prior_final_seq: int
    prior_tail_hash: str
    new_signer_key: str
    rotated_at: str
    origin: Origin

    @property
    def boundary(self) -> tuple[str, int, str]:
        return (self.prior_signer_key, self.prior_final_seq, self.prior_tail_hash)


def is_endorsement(document: Any) -> bool:
    """Shaped like an endorsement (members only; nothing verified)."""
    return isinstance(document, dict) and {"prior_tail_hash", "new_signer_key"} <= set(document)


def _check_form(document: dict[str, Any]) -> None:
    if set(document) != _MEMBERS:
        raise ValueError(f"an endorsement has exactly the members {', '.join(sorted(_MEMBERS))}")
    if document["version"] != 1 or type(document["version"]) is not int:
        raise ValueError("endorsement version must be 1")
    if not isinstance(document["session_id"], str) or not document["session_id"]:
        raise ValueError("session_id must be a non-empty string")
    for name in ("prior_signer_key", "prior_tail_hash", "new_signer_key"):
        value = document[name]
        if not isinstance(value, str) or not HEX64.fullmatch(value):
            raise ValueError(f"{name} must be 64 lowercase hex digits")
    rotated_at = document["rotated_at"]
    if not isinstance(rotated_at, str) or normalise_rfc3339(rotated_at) != rotated_at:
        raise ValueError("rotated_at must be a canonical UTC RFC 3339 timestamp")


def parse_endorsement(document: dict[str, Any], origin: Origin) -> Endorsement:
    """The endorsement, verified under its own prior key; ValueError says why not."""
    _check_form(document)
    signed_fields = {f.name: document[f.name] for f in ENDORSEMENT_SIGNED}
    try:
        signed = encode_struct(signed_fields, ENDORSEMENT_SIGNED)
    except SchemaError as exc:
        raise ValueError(str(exc)) from exc
    signature = parse_signature(document["endorsement"])
    digest = hashlib.sha256(DOMAIN + signed.encode("utf-8")).digest()
    if not ed25519_valid(signature, digest, bytes.fromhex(document["prior_signer_key"])):
        raise ValueError("endorsement signature does not verify under prior_signer_key")
    return Endorsement(
        session_id=document["session_id"],
        prior_signer_key=document["prior_signer_key"],
        prior_final_seq=document["prior_final_seq"],
        prior_tail_hash=document["prior_tail_hash"],
        new_signer_key=document["new_signer_key"],
        rotated_at=document["rotated_at"],
        origin=origin,
    )
