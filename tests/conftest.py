"""Shared fixtures. Protocol artefacts are read from ../shared/ (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PROTOCOL = SHARED / "agent-receipts"


PIPELOCK_VECTORS = SHARED / "pipelock" / "vectors"


def require_shared(folder: Path = PROTOCOL) -> Path:
    """A folder of ../shared/ (the Agent Receipts protocol by default), or a skip with the
    reason (a failure under CI=true)."""
    if folder.is_dir():
        return folder
    reason = f"protocol artefacts not found at {folder} (the project's shared/ folder)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


# Lines a test wants printed at the end of the run (the tamper matrix's size and rates).
SUMMARY_LINES = pytest.StashKey[list[str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(SUMMARY_LINES, [])
    if lines:
        terminalreporter.section("summaries")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def protocol_dir() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def vectors_dir(protocol_dir: Path) -> Path:
    return protocol_dir / "vectors"


@pytest.fixture(scope="session")
def pipelock_vectors() -> Path:
    """Pipelock's conformance vectors and EXPECTED.md (shared/pipelock/vectors)."""
    return require_shared(PIPELOCK_VECTORS)


SAMPLES = REPO / "samples"


@pytest.fixture(scope="session")
def sample_report():
    """The sample dataset, verified, assessed against every shipped framework and modelled."""
    from reporting.periods import parse_period
    from reporting.pipeline import run_report
    from reporting.settings import RunSettings, VerifyRequest

    settings = RunSettings(
        verify=VerifyRequest(
            sources=(str(SAMPLES / "receipts.db"),),
            keys=SAMPLES / "trust.yaml",
            witness=SAMPLES / "witness.yaml",
            grants=SAMPLES / "grants.yaml",
            bodies=SAMPLES / "bodies",
            base=REPO,
        ),
        period=parse_period("2026-10", None, None),
        organisation="Example Corp",
    )
    return run_report(settings)


@pytest.fixture(scope="session")
def signed_sample_report(tmp_path_factory: pytest.TempPathFactory):
    """The sample month through the whole pipeline once: verified, assessed, rendered in
    the sandbox, signed with a demo key and written. Tests that only read a signed report
    share it (copy the directory before changing anything in it)."""
    from reporting.periods import parse_period
    from reporting.pipeline import run_signed_report
    from reporting.settings import OutputSettings, RunSettings, VerifyRequest

    settings = RunSettings(
        verify=VerifyRequest(
            sources=(str(SAMPLES / "receipts.db"),),
            keys=SAMPLES / "trust.yaml",
            witness=SAMPLES / "witness.yaml",
            grants=SAMPLES / "grants.yaml",
            bodies=SAMPLES / "bodies",
            base=REPO,
        ),
        period=parse_period("2026-10", None, None),
        organisation="Example Corp",
        output=OutputSettings(directory=tmp_path_factory.mktemp("signed-sample")),
        fail_on="never",
    )
    return run_signed_report(settings)
