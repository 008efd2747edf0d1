"""Reports of the sample dataset built once per test session (see conftest.py).

A full layout of the sample PDF costs seconds; the tests that only read a signed report
share these instead of each running the CLI again. Shared means read-only: a test that
tampers with a report copies it first (conftest.py fails the run otherwise).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"

# The signing key of the shared signed report is encrypted with this passphrase, given
# in the environment variable the tool reads by default.
PASSPHRASE = "Zebra-Quartz-7731 passphrase"
PASSPHRASE_ENV = "AGENT_EVIDENCE_KEY_PASSPHRASE"

# the samples as given to verify and report (signed_sample_report adds the rest of
# conftest.sample_settings: the witness, grants and bodies)
SAMPLE_SOURCES = (str(SAMPLES / "receipts.db"), "--keys", str(SAMPLES / "trust.yaml"))
SAMPLE_FILES = (
    *("--witness", str(SAMPLES / "witness.yaml"), "--grants", str(SAMPLES / "grants.yaml")),
    *("--bodies", str(SAMPLES / "bodies")),
)


def run_directory(out: Path) -> Path:
    """OUT/<period>/<report id>/: where one report run puts its files."""
    [directory] = [p for p in out.glob("*/AER-*") if p.is_dir()]
    return directory


@dataclass(frozen=True)
class SignedReport:
    """The samples (October 2026, every format) through the whole pipeline, signed with a
    key from `keys init` that is encrypted with PASSPHRASE."""

    directory: Path  # the run directory: artefacts, summary, manifest and its signature
    model: Any  # the report model it was rendered from
    key: Path  # signing-key.pem (encrypted)
    cert: Path  # signing-cert.pem

    @property
    def pdf(self) -> Path:
        return next(self.directory.glob("*.pdf"))


@dataclass(frozen=True)
class DemoReport:
    """`agent-evidence demo` (what `make report` runs): the samples signed with an
    ephemeral, untrusted demo key."""

    directory: Path
    exit_code: int
    stdout: str

    @property
    def pdf(self) -> Path:
        return next(self.directory.glob("*.pdf"))


def build_signed_report(base: Path, settings: Any) -> SignedReport:
    """`settings` (the sample run) signed with a new passphrase-protected key."""
    from reporting.cli import main
    from reporting.pipeline import run_signed_report
    from reporting.settings import OutputSettings, SigningSettings

    keys = base / "keys"
    key, cert = keys / "signing-key.pem", keys / "signing-cert.pem"
    signing = SigningSettings(key=key, certificate=cert, passphrase_env=PASSPHRASE_ENV)
    settings = replace(
        settings,
        output=OutputSettings(directory=base / "report"),
        signing=signing,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSPHRASE_ENV, PASSPHRASE)
        patch.setenv("PYTHONHASHSEED", "12345")  # the render child's; ours is random
        init = ["keys", "init", "--out", str(keys), "--subject", "CN=Test signer,O=Example"]
        assert main([*init, "--passphrase-env", PASSPHRASE_ENV]) == 0
        written = run_signed_report(settings, secret_names=(PASSPHRASE_ENV,))
    return SignedReport(written.directory, written.model, key, cert)


def build_demo_report(out: Path) -> DemoReport:
    from reporting.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["demo", "--out", str(out)])
    assert code == 0, printed.getvalue()
    return DemoReport(run_directory(out), code, printed.getvalue())


def digest_tree(directories: Sequence[Path]) -> dict[str, str]:
    """Every file under `directories` with the SHA-256 of its bytes."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for directory in directories
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
