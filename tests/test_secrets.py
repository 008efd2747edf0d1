"""Secrets (issue 8): private keys are never logged or embedded, permissive key files are
warned about, and passphrases come only from the environment."""

from __future__ import annotations

import argparse
import base64
import os
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from pypdf import PdfReader
from pypdf.generic import StreamObject

from reporting.cli import build_parser, main
from reporting.errors import KeyStoreError
from reporting.signing.keys import load_identity

from .factory import ChainBuilder, Key, write_jsonl
from .shared_reports import PASSPHRASE, PASSPHRASE_ENV, SignedReport

WRONG = "Wrong-Walrus-4242 guess"
PASS_ENV = "AE_SECRETS_TEST_PASSPHRASE"
DEFAULT_ENV = PASSPHRASE_ENV  # the variable the tool reads when no other is named
RECEIPT_KEY = Key.from_seed("secrets")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer(
    signed_sample_report: SignedReport, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The shared report's key (`keys init`, encrypted with PASSPHRASE), and a small
    receipt source to report on."""
    directory = tmp_path_factory.mktemp("signer")
    receipts = ChainBuilder(RECEIPT_KEY, chain_id="chain_secrets").extend(4).receipts
    return {
        "key": signed_sample_report.key,
        "cert": signed_sample_report.cert,
        "source": write_jsonl(directory / "receipts.jsonl", receipts),
        "trust": RECEIPT_KEY.write_pem(directory / "trust.pem"),
    }


@pytest.fixture(scope="module")
def needles(signer: dict[str, Path]) -> dict[str, bytes]:
    """Every form of the private key and passphrase that must never appear in output."""
    encrypted_pem = signer["key"].read_bytes()
    key = serialization.load_pem_private_key(encrypted_pem, PASSPHRASE.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    plain = serialization.NoEncryption()
    der = serialization.Encoding.DER
    pem = serialization.Encoding.PEM
    pkcs8, sec1 = serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL
    found = {
        "scalar (raw)": scalar,
        "scalar (hex)": scalar.hex().encode(),
        "scalar (HEX)": scalar.hex().upper().encode(),
        "scalar (base64)": base64.b64encode(scalar).rstrip(b"="),
        "scalar (base64url)": base64.urlsafe_b64encode(scalar).rstrip(b"="),
        "PKCS#8 DER": key.private_bytes(der, pkcs8, plain),
        "SEC1 DER": key.private_bytes(der, sec1, plain),
        "PEM marker": b"PRIVATE KEY-----",
        "passphrase": PASSPHRASE.encode(),
        "passphrase (hex)": PASSPHRASE.encode().hex().encode(),
    }
    for label, text in (
        ("encrypted PEM", encrypted_pem),
        ("PKCS#8 PEM", key.private_bytes(pem, pkcs8, plain)),
        ("SEC1 PEM", key.private_bytes(pem, sec1, plain)),
    ):
        for number, line in enumerate(text.splitlines()):
            if len(line) >= 16 and not line.startswith(b"-----"):
                found[f"{label} line {number}"] = line
    return found


def _leaks(data: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in data]


def _pdf_contents(path: Path) -> Iterator[bytes]:
    """The raw file, then every stream decoded (content, attachments, metadata)."""
    yield path.read_bytes()
    reader = PdfReader(path)
    for objects in reader.xref.values():
        for number in objects:
            obj = reader.get_object(number)
            if isinstance(obj, StreamObject):
                yield obj.get_data()
    for contents in reader.attachments.values():
        yield from contents


def _output_contents(directory: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if path.suffix == ".pdf":
            for data in _pdf_contents(path):
                yield path, data
        else:
            yield path, path.read_bytes()


def _sign_args(signer: dict[str, Path], out: Path) -> list[str]:
    return [
        "report",
        str(signer["source"]),
        "--keys",
        str(signer["trust"]),
        "--sign-key",
        str(signer["key"]),
        "--sign-cert",
        str(signer["cert"]),
        "--out",
        str(out),
    ]


# -- nothing leaks ------------------------------------------------------------------------------


def test_the_detector_finds_every_form_of_the_key(needles: dict[str, bytes]) -> None:
    # Guards the scans below against checking for nothing.
    assert _leaks(needles["PKCS#8 DER"], needles) == ["scalar (raw)", "PKCS#8 DER"]
    assert "scalar (hex)" in _leaks(b"x" + needles["scalar (hex)"] + b"y", needles)
    assert len([n for n in needles if n.startswith("encrypted PEM line")]) >= 3


def test_a_signed_report_leaks_no_key_material_or_passphrase(
    signed_sample_report: SignedReport,
    signer: dict[str, Path],
    needles: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A --verbose and a --json run of the CLI, and the shared signed sample report."""
    monkeypatch.setenv(DEFAULT_ENV, PASSPHRASE)
    out = tmp_path / "out"
    formats = ["--format", "pdf,html,json,csv,oscal"]
    code = main([*_sign_args(signer, out), *formats, "--verbose"])
    verbose = capfd.readouterr()
    assert code == 0, verbose.err
    code = main([*_sign_args(signer, tmp_path / "again"), "--format", "json", "--json"])
    quiet = capfd.readouterr()
    assert code == 0, quiet.err
    for name, text in (
        ("stdout --verbose", verbose.out),
        ("stderr --verbose", verbose.err),
        ("stdout --json", quiet.out),
        ("stderr --json", quiet.err),
    ):
        assert _leaks(text.encode(), needles) == [], name
    assert "render:" in verbose.err  # --verbose really was on
    scanned = set()
    reports = (out, tmp_path / "again", signed_sample_report.directory)
    for path, data in [item for report in reports for item in _output_contents(report)]:
        assert _leaks(data, needles) == [], path.name
        scanned.add(path.name if path.suffix not in {".pdf", ".html"} else path.suffix)
    expected = {".pdf", ".html", "manifest.json", "manifest.json.p7s", "signer-cert.pem"}
    assert expected | {"summary.json"} <= scanned
    assert any(name.endswith("-findings.csv") for name in scanned)
    assert any(name.endswith("-oscal.json") for name in scanned)
    assert any(name.endswith("-verification.json") for name in scanned)


def test_bad_passphrase_errors_carry_no_secret(
    signer: dict[str, Path], needles: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, WRONG)
    with pytest.raises(KeyStoreError) as caught:
        load_identity(key=signer["key"], cert=signer["cert"], passphrase_env=PASS_ENV)
    assert caught.value.code == "BAD_PASSPHRASE"
    assert PASS_ENV in str(caught.value)  # the variable is named, its value is not
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert WRONG not in text
    assert _leaks(text.encode(), needles) == []


def _p12(signer: dict[str, Path], path: Path, mode: int = 0o600) -> Path:
    key = serialization.load_pem_private_key(signer["key"].read_bytes(), PASSPHRASE.encode())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = x509.load_pem_x509_certificate(signer["cert"].read_bytes())
    encryption = serialization.BestAvailableEncryption(PASSPHRASE.encode())
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"id", key, cert, None, encryption))
    path.chmod(mode)
    return path


def test_a_bad_pkcs12_passphrase_error_carries_no_secret(
    signer: dict[str, Path],
    needles: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _p12(signer, tmp_path / "id.p12")
    monkeypatch.setenv(PASS_ENV, WRONG)
    with pytest.raises(KeyStoreError) as caught:
        load_identity(p12=path, passphrase_env=PASS_ENV)
    assert caught.value.code == "BAD_PASSPHRASE"
    text = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert WRONG not in text
    assert _leaks(text.encode(), needles) == []


def test_a_wrong_passphrase_on_the_command_line_run_is_clean(
    signer: dict[str, Path],
    needles: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(DEFAULT_ENV, WRONG)
    monkeypatch.setenv("AGENT_EVIDENCE_DEBUG", "1")
    out = tmp_path / "out"
    assert main([*_sign_args(signer, out), "--format", "json", "--verbose"]) == 2
    captured = capfd.readouterr()
    assert "[BAD_PASSPHRASE]" in captured.err
    assert "Traceback" not in captured.err
    assert WRONG not in captured.out + captured.err
    assert _leaks((captured.out + captured.err).encode(), needles) == []
    assert not out.exists()


# -- passphrases only from the environment ----------------------------------------------------


def _options(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{prefix}{name} ")
        for option in action.option_strings:
            yield prefix + option, action.dest


def test_no_option_takes_a_passphrase_or_key_itself() -> None:
    options = list(_options(build_parser()))
    assert ("report --sign-key", "sign_key") in options  # the walk reaches subcommands
    secretish = [
        (option, dest)
        for option, dest in options
        if any(
            word in option.rsplit(" ", 1)[-1]
            for word in ("pass", "secret", "pin", "password", "token", "private")
        )
    ]
    assert secretish == [
        ("report --passphrase-env", "passphrase_env"),
        ("keys init --passphrase-env", "passphrase_env"),
    ]


@pytest.mark.parametrize("command", ["report", "keys"])
def test_a_passphrase_given_as_the_variable_name_is_refused_unechoed(
    signer: dict[str, Path], tmp_path: Path, command: str, capfd: pytest.CaptureFixture[str]
) -> None:
    pasted = "correct horse battery staple!"
    if command == "report":
        argv = [*_sign_args(signer, tmp_path / "out"), "--format", "json"]
    else:
        argv = ["keys", "init", "--out", str(tmp_path / "keys")]
    assert main([*argv, "--passphrase-env", pasted]) == 2
    captured = capfd.readouterr()
    assert "[PASSPHRASE_ENV_INVALID]" in captured.err
    assert pasted not in captured.out + captured.err
    assert "correct horse" not in captured.err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "keys").exists()


def test_the_passphrase_variable_may_have_any_valid_name(
    signer: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_lower_case_2", PASSPHRASE)
    identity = load_identity(key=signer["key"], cert=signer["cert"], passphrase_env="_lower_case_2")
    assert identity.algorithm == "ecdsa-p256"


@pytest.mark.parametrize(
    ("signing", "secret"),
    [
        ("{key: k.pem, certificate: c.pem, passphrase: Hunter-Two-Secret}", "Hunter-Two-Secret"),
        ("{p12: id.p12, password: Hunter-Two-Secret}", "Hunter-Two-Secret"),
        ("{p12: id.p12, passphrase_env: 'Hunter Two Secret'}", "Hunter Two Secret"),
    ],
)
def test_the_config_file_refuses_passphrases_without_echoing_them(
    signer: dict[str, Path],
    tmp_path: Path,
    signing: str,
    secret: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "report.yaml"
    config.write_text(
        "schema: agent-evidence/config/v1\n"
        f"sources: [{signer['source']}]\nkeys: {signer['trust']}\nsigning: {signing}\n"
    )
    out = tmp_path / "out"
    assert main(["report", "--config", str(config), "--format", "json", "--out", str(out)]) == 2
    captured = capfd.readouterr()
    assert f"{config}:4:" in captured.err
    assert secret not in captured.out + captured.err
    assert not out.exists()


# -- file modes -------------------------------------------------------------------------------


@posix_only
def test_keys_init_writes_the_key_0600_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        assert main(["keys", "init", "--out", str(tmp_path / "keys")]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "keys" / "signing-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "keys" / "signing-cert.pem").stat().st_mode) == 0o644


@posix_only
@pytest.mark.parametrize(
    ("mode", "who"),
    [(0o600, None), (0o400, None), (0o640, "its group"), (0o604, "other users"),
     (0o644, "its group and other users"), (0o620, "its group")],
)  # fmt: skip
def test_a_key_file_others_can_access_is_warned_about_on_stderr(
    signer: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    mode: int,
    who: str | None,
) -> None:
    key = tmp_path / "signing-key.pem"
    key.write_bytes(signer["key"].read_bytes())
    key.chmod(mode)
    monkeypatch.setenv(DEFAULT_ENV, PASSPHRASE)
    args = _sign_args({**signer, "key": key}, tmp_path / "out")
    assert main([*args, "--format", "json"]) == 0  # a warning, not an error
    err = capfd.readouterr().err
    warning = f"agent-evidence: warning: private key file {key} has mode {mode:04o}"
    if who is None:
        assert "private key file" not in err
    else:
        assert f"{warning}, so {who} can access it; run chmod 600 {key}\n" in err


@posix_only
def test_der_and_pkcs12_key_files_are_checked_too(
    signer: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)
    key = serialization.load_pem_private_key(signer["key"].read_bytes(), PASSPHRASE.encode())
    der = tmp_path / "signing-key.der"
    der.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    der.chmod(0o644)
    identity = load_identity(key=der, cert=signer["cert"], passphrase_env=PASS_ENV)
    assert [w for w in identity.warnings if str(der) in w] == [
        f"private key file {der} has mode 0644, so its group and other users can access it; "
        f"run chmod 600 {der}"
    ]
    p12 = _p12(signer, tmp_path / "signer.p12", 0o640)
    identity = load_identity(p12=p12, passphrase_env=PASS_ENV)
    assert any(f"private key file {p12} has mode 0640" in w for w in identity.warnings)
    p12.chmod(0o600)
    identity = load_identity(p12=p12, passphrase_env=PASS_ENV)
    assert not any("private key file" in w for w in identity.warnings)
