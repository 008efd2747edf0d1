"""--keys: PEM files, daemon key directories and YAML trust stores, with located errors."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from reporting.errors import InputError, KeyStoreError
from reporting.receipts.keys import did_key_from_raw, load_trust

from .factory import Key

ALICE = Key.from_seed("keys-alice")
BOB = Key.from_seed("keys-bob")


def test_single_pem_applies_to_any_issuer(tmp_path: Path) -> None:
    store = load_trust(ALICE.write_pem(tmp_path / "a.pem"))
    assert [k.raw for k in store.candidates("did:agent:anyone", "any")] == [ALICE.raw]
    assert store.fingerprints()[0]["fingerprint"] == ALICE.fingerprint


def test_daemon_key_directory_includes_rotated_keys(tmp_path: Path) -> None:
    ALICE.write_pem(tmp_path / "signing.key.pub")
    BOB.write_pem(tmp_path / "signing.key.pub.rotated-0123456789abcdef")
    (tmp_path / "signing.key").write_text("private material must never be read")
    store = load_trust(tmp_path)
    assert {k.raw for k in store.candidates(None, "2026-10-01")} == {ALICE.raw, BOB.raw}


def test_yaml_trust_store_every_key_form(tmp_path: Path) -> None:
    ALICE.write_pem(tmp_path / "alice.pem")
    multibase = "u" + base64.urlsafe_b64encode(BOB.raw).rstrip(b"=").decode()
    pem = BOB.public_pem.replace("\n", "\n          ")
    (tmp_path / "trust.yaml").write_text(
        f"""version: 1
issuers:
  - issuer: did:agent:alice
    chains: ["chain_a*"]
    keys:
      - pem_file: alice.pem
      - did_key: {did_key_from_raw(BOB.raw)}
  - issuer: did:agent:bob
    keys:
      - multibase: {multibase}
      - pem: |
          {pem}
"""
    )
    store = load_trust(tmp_path / "trust.yaml")
    assert [k.raw for k in store.candidates("did:agent:alice", "chain_a1")] == [ALICE.raw, BOB.raw]
    assert store.candidates("did:agent:alice", "chain_b1") == ()
    assert [k.raw for k in store.candidates("did:agent:bob", "x")] == [BOB.raw]
    assert store.candidates("did:agent:carol", "chain_a1") == ()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("version: 1\nissuers:\n  - issuer: x\n    keys:\n      - pem_file: missing.pem\n", 5),
        ("version: 1\nissuers:\n  - issuer: x\n    colour: red\n    keys: []\n", 4),
        ("version: 1\nissuers:\n  - issuer: x\n    keys:\n      - did_key: did:key:zBAD\n", 5),
        ("version: 2\nissuers: []\n", 1),
        ("version: 1\nissuers:\n  - issuer: x\n    keys:\n      - multibase: u3q\n", 5),
    ],
)
def test_trust_store_errors_name_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    with pytest.raises(KeyStoreError) as raised:
        load_trust(path)
    diagnostic = raised.value.diagnostics()[0]
    assert (diagnostic.source, diagnostic.line) == (str(path), line)


@pytest.mark.parametrize(
    "text",
    ["a: &x [1]\nb: *x\n", "version: 1\nversion: 1\n", "version: !!python/object:os.system 1\n"],
)
def test_yaml_aliases_duplicates_and_tags_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        load_trust(path)
    assert raised.value.code == "INVALID_YAML"


def test_non_ed25519_pem_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "ec.pem"
    path.write_bytes(key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyStoreError) as raised:
        load_trust(path)
    assert raised.value.code == "INVALID_KEY"
