"""Paths an attacker (or a mistake) can steer: receipt ids naming response bodies outside
`--bodies`, symbolic links inside it, and key files in trust stores and daemon key
directories that are missing, not keys, not files, endless or links."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import rfc8785

from reporting.cli import main
from reporting.errors import EvidenceError, InputError, KeyStoreError
from reporting.receipts.external import BodiesDirectory
from reporting.receipts.keys import load_trust
from reporting.receipts.results import Code

from .factory import ChainBuilder, Key, resign, write_jsonl
from .helpers import codes, verify_docs, warning_codes

KEY = Key.from_seed("paths-hostile")
BODY = {"status": 200, "secret": "from outside the bodies directory"}
BODY_HASH = "sha256:" + hashlib.sha256(rfc8785.dumps(BODY)).hexdigest()


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """bodies/ (empty) and, beside it, files a traversal would reach."""
    bodies = tmp_path / "work" / "bodies"
    bodies.mkdir(parents=True)
    for name in ("outside", "passwd", "x"):
        (tmp_path / "work" / f"{name}.json").write_text(json.dumps(BODY))
        (tmp_path / f"{name}.json").write_text(json.dumps(BODY))
    return tmp_path, bodies


HOSTILE_IDS = [
    "urn:receipt:../outside",
    "../outside",
    "urn:receipt:../../passwd",
    "urn:receipt:/etc/passwd",
    "/etc/passwd",
    "urn:receipt:..",
    "..",
    ".x",
    "urn:receipt:.x",
    "urn:receipt:x\x00y",
    "urn:receipt:" + "a" * 5000,  # longer than any file name may be
    "urn:receipt:a\\..\\outside",
    "urn:receipt:bodies/../../outside",
]


@pytest.mark.parametrize("receipt_id", HOSTILE_IDS)
def test_a_receipt_id_never_names_a_file_outside_the_bodies_directory(
    layout: tuple[Path, Path], receipt_id: str
) -> None:
    _, bodies = layout
    assert BodiesDirectory(bodies).body_bytes(receipt_id) is None


def test_an_ordinary_id_still_finds_its_body(layout: tuple[Path, Path]) -> None:
    _, bodies = layout
    (bodies / "0d1e2f30-0000-4000-8000-000000000001.json").write_text(json.dumps(BODY))
    found = BodiesDirectory(bodies).body_bytes("urn:receipt:0d1e2f30-0000-4000-8000-000000000001")
    assert found == json.dumps(BODY).encode()


def _chain_with_hostile_id(receipt_id: str) -> list[dict]:
    builder = ChainBuilder(KEY, chain_id="chain_bodies")
    builder.add(response_body=BODY)
    builder.receipts[0] = resign({**builder.receipts[0], "id": receipt_id}, KEY)
    assert builder.receipts[0]["credentialSubject"]["outcome"]["response_hash"] == BODY_HASH
    return builder.receipts


@pytest.mark.parametrize("receipt_id", ["urn:receipt:../outside", "urn:receipt:../../passwd"])
def test_a_signed_traversal_id_is_not_followed_during_verification(
    layout: tuple[Path, Path], receipt_id: str
) -> None:
    """The file a traversal would reach holds the matching body: had it been read, the
    response hash would verify. It is not: the body counts as not supplied."""
    _, bodies = layout
    chain = verify_docs(_chain_with_hostile_id(receipt_id), KEY.raw, bodies=BodiesDirectory(bodies))
    assert Code.RESPONSE_BODY_NOT_SUPPLIED in warning_codes(chain)
    assert Code.RESPONSE_HASH_MISMATCH not in codes(chain)
    assert Code.SCHEMA_VIOLATION in codes(chain)  # and the id itself is refused


def _receipt_with_body() -> tuple[list[dict], str]:
    builder = ChainBuilder(KEY, chain_id="chain_link")
    doc = builder.add(response_body=BODY)
    return builder.receipts, doc["id"].removeprefix("urn:receipt:")


@pytest.mark.parametrize("target", ["outside", "inside"])
def test_a_symlinked_body_is_refused_with_its_name(layout: tuple[Path, Path], target: str) -> None:
    root, bodies = layout
    receipts, name = _receipt_with_body()
    real = root / "outside.json" if target == "outside" else bodies / "real-body.json"
    real.write_text(json.dumps(BODY))
    (bodies / f"{name}.json").symlink_to(real)
    with pytest.raises(InputError) as raised:
        verify_docs(receipts, KEY.raw, bodies=BodiesDirectory(bodies))
    diagnostic = raised.value.diagnostics()[0]
    assert diagnostic.source == str(bodies / f"{name}.json")
    assert "symbolic link" in diagnostic.message


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_body_that_is_not_a_regular_file_is_refused_without_blocking(
    layout: tuple[Path, Path], kind: str
) -> None:
    _, bodies = layout
    receipts, name = _receipt_with_body()
    path = bodies / f"{name}.json"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    with pytest.raises(InputError) as raised:
        verify_docs(receipts, KEY.raw, bodies=BodiesDirectory(bodies))
    assert raised.value.diagnostics()[0].source == str(path)
    assert "not a regular file" in str(raised.value)


def test_cli_exits_two_naming_a_symlinked_body(
    layout: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, bodies = layout
    receipts, name = _receipt_with_body()
    (bodies / f"{name}.json").symlink_to(root / "outside.json")
    source = write_jsonl(root / "r.jsonl", receipts)
    key = KEY.write_pem(root / "key.pem")
    code = main(["verify", str(source), "--keys", str(key), "--bodies", str(bodies)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{bodies / name}.json: response body is a symbolic link" in err
    assert "Traceback" not in err


# -- key paths ----------------------------------------------------------------------------


def _trust(tmp_path: Path, pem_file: str) -> Path:
    path = tmp_path / "trust" / "trust.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "version: 1\nissuers:\n  - issuer: did:agent:x\n    keys:\n"
        f"      - pem_file: {json.dumps(pem_file)}\n"
    )
    return path


def test_pem_file_is_relative_to_the_trust_store_and_may_climb_out(tmp_path: Path) -> None:
    """The trust store is trusted configuration: `../` and links are followed, and the
    fingerprint listing names the file actually read."""
    KEY.write_pem(tmp_path / "shared.pem")
    trust_file = _trust(tmp_path, "../shared.pem")
    store = load_trust(trust_file)
    assert [k.raw for k in store.candidates("did:agent:x", "c")] == [KEY.raw]
    assert store.fingerprints()[0]["source"] == str(tmp_path / "shared.pem")
    (tmp_path / "trust" / "link.pem").symlink_to(tmp_path / "shared.pem")
    linked = load_trust(_trust(tmp_path, "link.pem"))
    assert linked.fingerprints()[0]["source"] == str(tmp_path / "shared.pem")


def _pem_file_error(tmp_path: Path, pem_file: str) -> str:
    trust_file = _trust(tmp_path, pem_file)
    with pytest.raises(KeyStoreError) as raised:
        load_trust(trust_file)
    diagnostic = raised.value.diagnostics()[0]
    assert (diagnostic.source, diagnostic.line) == (str(trust_file), 5)
    return diagnostic.message


def test_pem_file_errors_name_the_trust_store_line_and_the_file(tmp_path: Path) -> None:
    assert "cannot read pem_file '../missing.pem'" in _pem_file_error(tmp_path, "../missing.pem")
    (tmp_path / "not-a-key.pem").write_text("hello")
    message = _pem_file_error(tmp_path, "../not-a-key.pem")
    assert "pem_file '../not-a-key.pem'" in message
    assert str(tmp_path / "not-a-key.pem") in message
    assert "not a PEM SubjectPublicKeyInfo public key" in message
    (tmp_path / "private.pem").write_text(KEY.private_pem)
    message = _pem_file_error(tmp_path, "../private.pem")
    assert "not a PEM SubjectPublicKeyInfo public key" in message
    assert "PRIVATE KEY" not in message  # nothing of the file is echoed
    (tmp_path / "dangling.pem").symlink_to(tmp_path / "gone.pem")
    assert "cannot read pem_file" in _pem_file_error(tmp_path, "../dangling.pem")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "directory", "huge"])
def test_pem_file_that_is_endless_or_not_a_file_is_refused_at_once(
    tmp_path: Path, target: str
) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
    elif target == "directory":
        (tmp_path / "directory").mkdir()
    elif target == "huge":
        with (tmp_path / "huge").open("wb") as handle:
            handle.truncate(1 << 30)
    pem_file = target if target.startswith("/") else f"../{target}"
    message = _pem_file_error(tmp_path, pem_file)
    assert "not a regular file" in message or "not a public key file" in message


def test_keys_argument_that_is_endless_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path in (Path("/dev/zero"), tmp_path / "fifo"):
        with pytest.raises(KeyStoreError) as raised:
            load_trust(path)
        assert raised.value.diagnostics()[0].source == str(path)
        assert "not a regular file" in str(raised.value)


def test_daemon_key_directory_with_a_bad_or_endless_rotated_key(tmp_path: Path) -> None:
    KEY.write_pem(tmp_path / "signing.key.pub")
    rotated = tmp_path / "signing.key.pub.rotated-0001"
    rotated.write_text("not a key")
    with pytest.raises(KeyStoreError) as raised:
        load_trust(tmp_path)
    assert raised.value.diagnostics()[0].source == str(rotated)
    rotated.unlink()
    with rotated.open("wb") as handle:
        handle.truncate(1 << 30)
    with pytest.raises(EvidenceError) as raised:
        load_trust(tmp_path)
    assert "not a public key file" in str(raised.value)
    rotated.unlink()
    rotated.symlink_to("/dev/zero")  # not a regular file: skipped, like any non-file
    assert [k.raw for k in load_trust(tmp_path).candidates(None, "c")] == [KEY.raw]
