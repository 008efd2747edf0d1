"""Reports of the sample dataset built once per test session (see conftest.py).

A full layout of the sample PDF costs seconds; the tests that only read a signed report
share these instead of each running the CLI again. Shared means read-only: a test that
tampers with a report copies it first, and `unchanged` fails the run otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
ALL_FORMATS = "pdf,html,json,csv,oscal"

# The signing key of the shared signed report is encrypted with this passphrase, given
# in the environment variable the tool reads by default.
PASSPHRASE = "Zebra-Quartz-7731 passphrase"
PASSPHRASE_ENV = "AGENT_EVIDENCE_KEY_PASSPHRASE"

# verify and report: the sample receipts and the keys they are checked against
SAMPLE_SOURCES = (str(SAMPLES / "receipts.db"), "--keys", str(SAMPLES / "trust.yaml"))


def run_directory(out: Path) -> Path:
    """OUT/<period>/<report id>/: where one report run puts its files."""
    [directory] = [p for p in out.glob("*/AER-*") if p.is_dir()]
    return directory


@dataclass(frozen=True)
class SignedReport:
    """`report` on the samples (October 2026, every format), signed with a key from `keys
    init` that is encrypted with PASSPHRASE, run with --verbose as its own process."""

    directory: Path  # the run directory: artefacts, manifest, signature, summary
    key: Path  # signing-key.pem (encrypted)
    cert: Path  # signing-cert.pem
    exit_code: int
    stdout: str
    stderr: str

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


def build_signed_report(base: Path) -> SignedReport:
    from reporting.cli import main

    keys = base / "keys"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSPHRASE_ENV, PASSPHRASE)
        init = ["keys", "init", "--out", str(keys), "--subject", "CN=Test signer,O=Example"]
        assert main([*init, "--passphrase-env", PASSPHRASE_ENV]) == 0
    key, cert = keys / "signing-key.pem", keys / "signing-cert.pem"
    # Its own process: the leak tests scan everything a real run prints, the render
    # child's output included.
    argv = [
        *("report", *SAMPLE_SOURCES, "--period", "2026-10", "--format", ALL_FORMATS),
        *("--organisation", "Example Corp", "--out", str(base / "report")),
        *("--sign-key", str(key), "--sign-cert", str(cert), "--verbose"),
    ]
    run = subprocess.run(
        [sys.executable, "-m", "reporting", *argv],
        env={**os.environ, PASSPHRASE_ENV: PASSPHRASE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr  # the samples' deliberate integrity defects
    return SignedReport(
        run_directory(base / "report"), key, cert, run.returncode, run.stdout, run.stderr
    )


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
