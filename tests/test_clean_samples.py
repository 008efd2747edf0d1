"""The samples without their planted defects (`samples/generate.py --clean`), as an auditor
would review them (issue 15, "How we will know"):

- no control whose mapping lists manual evidence is SATISFIED on receipts alone;
- no detective anomaly makes a control NOT_SATISFIED (the 48 weekend actions of the MCP
  proxy are exceptions to disposition once working hours are configured);
- without the deployment section, the checks that need it are INDETERMINATE, "not
  configured"; with `samples/report.yaml` they run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reporting.config import load_config
from reporting.controls.checks import REGISTRY, Status
from reporting.controls.vocabulary import ControlStatus, Reason
from reporting.periods import parse_period
from reporting.pipeline import ReportRun, run_report
from reporting.settings import RunSettings, VerifyRequest

pytestmark = pytest.mark.slow  # generates a month of samples, then assesses it twice

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT_CHECKS = {
    "activity_continuity",
    "intent_recorded",
    "inventory_allowlist",
    "working_hours",
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("obsigna", reason="obsigna (dev extra) is needed to generate samples")
    out = tmp_path_factory.mktemp("clean-samples")
    generator = ROOT / "samples" / "generate.py"
    done = subprocess.run(
        [sys.executable, str(generator), "--out", str(out), "--clean", "--no-check"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _run(samples: Path, *, configured: bool) -> ReportRun:
    overrides = load_config(ROOT / "samples" / "report.yaml").overrides if configured else ()
    request = RunSettings(
        verify=VerifyRequest(
            sources=(str(samples / "receipts.db"),),
            keys=samples / "trust.yaml",
            witness=samples / "witness.yaml",
            grants=samples / "grants.yaml",
        ),
        period=parse_period("2026-10", None, None),
        overrides=overrides,
    )
    return run_report(request)


@pytest.fixture(scope="module")
def unconfigured(clean: Path) -> ReportRun:
    return _run(clean, configured=False)


@pytest.fixture(scope="module")
def configured(clean: Path) -> ReportRun:
    return _run(clean, configured=True)


def test_the_clean_samples_carry_no_defect(clean: Path, unconfigured: ReportRun) -> None:
    assert (clean / "defects.json").read_text().count('"id"') == 0
    assert unconfigured.model.figures.broken_chains == 0
    assert unconfigured.model.posture.value != "INTEGRITY BROKEN"


@pytest.mark.parametrize("which", ["unconfigured", "configured"])
def test_no_control_with_outstanding_manual_evidence_is_satisfied(
    which: str, request: pytest.FixtureRequest
) -> None:
    run: ReportRun = request.getfixturevalue(which)
    for assessment in run.assessment.assessments:
        for control in assessment.controls:
            if control.control.manual_evidence:
                assert control.status is not ControlStatus.SATISFIED, control.control.id


@pytest.mark.parametrize("which", ["unconfigured", "configured"])
def test_no_detective_anomaly_makes_a_control_not_satisfied(
    which: str, request: pytest.FixtureRequest
) -> None:
    run: ReportRun = request.getfixturevalue(which)
    for assessment in run.assessment.assessments:
        for control in assessment.controls:
            if control.status is ControlStatus.NOT_SATISFIED:
                failed = [r for r in control.deciding if r.status is Status.FAIL]
                assert failed, control.control.id
                assert not any(r.detective for r in failed), control.control.id


def test_weekend_activity_is_an_exception_not_a_failure(configured: ReportRun) -> None:
    """48 weekend actions by the MCP proxy failed CC7.2 under a shipped Mon-Fri default."""
    model = configured.model
    [weekend] = [e for e in model.exceptions if e.problem == "outside_working_hours"]
    assert weekend.affected == 48
    assert weekend.kind == "exception"
    soc2 = next(a for a in configured.assessment.assessments if a.framework.id == "soc2")
    cc72 = next(c for c in soc2.controls if c.control.id == "CC7.2")
    hours = next(r for r in cc72.results if r.check == "working_hours")
    assert (hours.status, hours.exceptions) == (Status.PASS, 48)
    assert cc72.status is not ControlStatus.NOT_SATISFIED


def test_unconfigured_deployment_checks_are_indeterminate_not_configured(
    unconfigured: ReportRun,
) -> None:
    seen = {}
    for assessment in unconfigured.assessment.assessments:
        for control in assessment.controls:
            for result in control.results:
                if result.check in DEPLOYMENT_CHECKS:
                    seen[result.check] = result
    assert set(seen) == DEPLOYMENT_CHECKS
    for name, result in seen.items():
        assert result.status is Status.INDETERMINATE, name
        assert result.reason is Reason.NOT_CONFIGURED, name
    assert any("not configured" in text.lower() for text in unconfigured.model.limitations)


def test_the_sample_configuration_configures_them(configured: ReportRun) -> None:
    for assessment in configured.assessment.assessments:
        for control in assessment.controls:
            for result in control.results:
                assert result.reason is not Reason.NOT_CONFIGURED, (control.control.id, result)
    intent = next(
        r
        for a in configured.assessment.assessments
        for c in a.controls
        for r in c.results
        if r.check == "intent_recorded"
    )
    assert intent.status is Status.PASS  # the conversational coding assistant records intent


def test_every_check_that_needs_the_deployment_is_known() -> None:
    without_default = {
        name
        for name, spec in REGISTRY.items()
        if any(
            key in spec.parameters and "default" not in spec.parameters[key]
            for key in ("producers", "conversational")
        )
    }
    assert without_default == DEPLOYMENT_CHECKS
