"""Shared fixtures. Protocol artefacts are read from ../shared/ (never copied into the repo).

Speed (`make check` deselects `@pytest.mark.slow`; `make test` runs everything): the
sample dataset is verified and assessed once (`sample_report`), laid out in process once
(`sample_artefacts`), run through the whole pipeline once signed with a real key
(`signed_sample_report`; laid out by its render child), and once through
`agent-evidence demo` (`demo_report`). Tests
that only read those share them; a test that changes a report works on a copy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from .shared_reports import (
    DemoReport,
    SignedReport,
    build_demo_report,
    build_signed_report,
    digest_tree,
)

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


def require_binary(name: str, package: str) -> str:
    """The path of a program the test needs, or a skip naming the Debian package that
    provides it (a failure under CI=true, which must install it: see .ci/run)."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} not found (apt-get install {package})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


# Hypothesis: `dev` (the default) is quick, `ci` is thorough; CI=true selects ci, and
# HYPOTHESIS_PROFILE names one explicitly (`make test` asks for ci). Tests size their
# example counts with `tests.helpers.examples`, relative to the profile's.
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


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


def sample_settings() -> Any:
    """What `sample_report` verifies and assesses: the samples, October 2026."""
    from reporting.periods import parse_period
    from reporting.settings import RunSettings, VerifyRequest

    return RunSettings(
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


@pytest.fixture(scope="session")
def sample_report():
    """The sample dataset, verified, assessed against every shipped framework and modelled."""
    from reporting.pipeline import run_report

    return run_report(sample_settings())


@pytest.fixture(scope="session")
def sample_artefacts(sample_report, signed_sample_report: SignedReport):
    """`sample_report` laid out in this process in every format, unsigned, with the
    signature notice of `signed_sample_report`: what the pipeline laid out in its render
    child before signing (test_render_limits.py compares the two)."""
    from dataclasses import replace

    from reporting.pipeline import render_report
    from reporting.report.artefacts import FORMATS

    notice = signed_sample_report.model.signature
    assert signed_sample_report.model == replace(sample_report.model, signature=notice)
    return render_report(replace(sample_report, model=signed_sample_report.model), FORMATS)


def _check_unchanged(before: dict[str, str], directories: list[Path]) -> None:
    changed = sorted(set(digest_tree(directories).items()) ^ set(before.items()))
    assert not changed, f"a test changed a shared report (work on a copy): {changed[:3]}"


@pytest.fixture(scope="session")
def signed_sample_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedReport]:
    """The sample month through the whole pipeline once: verified, assessed, rendered in
    the sandbox in every format, signed with a passphrase-protected key from `keys init`
    and written. Tests that only read a signed report share it (read-only)."""
    report = build_signed_report(tmp_path_factory.mktemp("signed-sample"), sample_settings())
    directories = [report.directory, report.key.parent]
    before = digest_tree(directories)
    yield report
    _check_unchanged(before, directories)


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoReport]:
    """`agent-evidence demo`, in this process (read-only)."""
    report = build_demo_report(tmp_path_factory.mktemp("demo"))
    before = digest_tree([report.directory])
    yield report
    _check_unchanged(before, [report.directory])
