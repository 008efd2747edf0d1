"""RFC 3161 receipt time-stamps: what certificate path validation adds, in one process.

Verifies the same tokens (one TSA under a root, each token with its own genTime, as on
a store where every receipt is time-stamped) three ways and prints each one's cost per
token and its ratio to the first:

* no ``tsa_roots``: token checks only, no path validation (the baseline);
* ``tsa_roots`` given: the path validated at each genTime, a trusted path reused
  inside its validity period (what `verify` does);
* ``tsa_roots`` given, that memory cleared before every token: certvalidator each time.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from reporting import certificates
from reporting.certificates import asn1_certificate
from reporting.receipts.timestamps import verify_trusted_timestamp

START = datetime(2026, 10, 1, tzinfo=UTC)


def _certificate(
    subject: str, key: object, issuer: tuple[x509.Certificate, object] | None, **extra: bool
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = (name, key) if issuer is None else (issuer[0].subject, issuer[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(START - timedelta(days=365))
        .not_valid_after(START + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=extra.get("ca", False), path_length=None), True)
    )
    if extra.get("tsa"):
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]


def _tokens(count: int) -> tuple[x509.Certificate, list[tuple[str, bytes]]]:
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate("Bench TSA root", root_key, None, ca=True)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = _certificate("Bench TSA", tsa_key, (root, root_key), tsa=True)
    private = asn1_keys.PrivateKeyInfo.load(
        tsa_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    stamper = DummyTimeStamper(tsa_cert=asn1_certificate(tsa), tsa_key=private)
    tokens = []
    for index in range(count):
        imprint = f"receipt {index}".encode()
        stamper.fixed_dt = START + timedelta(minutes=index)
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(imprint).digest(),
                },
                "cert_req": True,
            }
        )
        der = stamper.request_tsa_response(request)["time_stamp_token"].dump()
        tokens.append((base64.b64encode(der).decode("ascii"), imprint))
    return root, tokens


def _per_token(
    tokens: list[tuple[str, bytes]], roots: tuple[x509.Certificate, ...], before: Callable[[], None]
) -> float:
    started = time.perf_counter()
    for token, imprint in tokens:
        before()
        verdict = verify_trusted_timestamp(token, imprint, action_time=None, tsa_roots=roots)
        assert verdict.valid, verdict.detail
        assert verdict.anchored == bool(roots), verdict.detail
    return (time.perf_counter() - started) / len(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root, tokens = _tokens(args.tokens)
    modes: dict[str, tuple[tuple[x509.Certificate, ...], Callable[[], None]]] = {
        "no tsa_roots (baseline)": ((), lambda: None),
        "tsa_roots, paths remembered": ((root,), lambda: None),
        # what the memory saves: certvalidator on every token
        "tsa_roots, validated every time": ((root,), certificates._TRUSTED_WINDOWS.clear),
    }
    # The machines are shared: interleave the modes and keep each one's best round.
    best = dict.fromkeys(modes, float("inf"))
    for _ in range(args.rounds):
        for name, (roots, before) in modes.items():
            best[name] = min(best[name], _per_token(tokens, roots, before))
    baseline = best["no tsa_roots (baseline)"]
    print(f"{len(tokens)} tokens, one TSA, each with its own genTime; best of {args.rounds}")
    for name, seconds in best.items():
        print(f"  {name:34} {seconds * 1e6:8.0f} µs/token  {seconds / baseline:5.2f}x")


if __name__ == "__main__":
    main()
