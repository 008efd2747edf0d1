"""Checks carry their own metadata: registration requires it, and the report uses it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from reporting.controls.checks import REGISTRY, Problem, Verdict
from reporting.controls.checks import registry as registry_module
from reporting.controls.checks.registry import RegistrationError, Status, check
from reporting.controls.vocabulary import Severity
from reporting.evidence.frame import Evidence

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = Problem("test_problem", "{n} things are wrong", Severity.LOW, "Fix the things.")


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Register into copies, so these tests leave the real registry as it was."""
    monkeypatch.setattr(registry_module, "REGISTRY", dict(REGISTRY))
    monkeypatch.setattr(registry_module, "_PROBLEMS", dict(registry_module._PROBLEMS))
    return registry_module.REGISTRY


def _passes(evidence: Evidence, params: dict[str, Any]) -> Verdict:
    return Verdict(status=Status.PASS, statement="s", population=0)


def test_a_check_is_named_after_its_function_and_filed_under_its_module(
    scratch_registry: dict[str, Any],
) -> None:
    def made_up_check(evidence: Evidence, params: dict[str, Any]) -> Verdict:
        return _passes(evidence, params)

    check(title="T", description="D", problem=PROBLEM)(made_up_check)
    spec = scratch_registry["made_up_check"]
    assert spec.family == "test_check_registry"
    assert spec.problem is PROBLEM


@pytest.mark.parametrize(
    "metadata",
    [
        {"title": "", "description": "D", "problem": PROBLEM},
        {"title": "T", "description": " ", "problem": PROBLEM},
    ],
)
def test_registration_requires_a_title_and_a_description(
    scratch_registry: dict[str, Any], metadata: dict[str, Any]
) -> None:
    with pytest.raises(RegistrationError):
        check(**metadata)


def test_registration_requires_a_problem(scratch_registry: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        check(title="T", description="D")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "fields",
    [
        ("x", "things are wrong", Severity.LOW, "Fix."),  # no {n}
        ("x", "{n} things", Severity.LOW, " "),  # no remediation
        ("x", "{n} things", "low", "Fix."),  # not a Severity
        ("bad code", "{n} things", Severity.LOW, "Fix."),
    ],
)
def test_a_problem_states_a_count_a_severity_and_a_remediation(fields: tuple[Any, ...]) -> None:
    with pytest.raises(RegistrationError):
        Problem(*fields)


def test_a_problem_code_has_one_meaning(scratch_registry: dict[str, Any]) -> None:
    other = Problem(PROBLEM.code, "{n} other things", Severity.HIGH, "Other fix.")
    check(title="T", description="D", problem=PROBLEM)(_passes)

    def second(evidence: Evidence, params: dict[str, Any]) -> Verdict:
        return _passes(evidence, params)

    register = check(title="T", description="D", problem=other)
    with pytest.raises(RegistrationError):
        register(second)


def test_registering_a_name_twice_is_refused(scratch_registry: dict[str, Any]) -> None:
    register = check(title="T", description="D", problem=PROBLEM)
    register(_passes)
    with pytest.raises(RegistrationError):
        register(_passes)


def test_every_shipped_check_states_its_problem_distinctly() -> None:
    titles: dict[str, str] = {}
    for spec in REGISTRY.values():
        assert spec.description.strip(), spec.name
        assert spec.title.strip(), spec.name
        problem = spec.problem
        assert titles.setdefault(problem.code, problem.title) == problem.title
    assert len(set(titles.values())) == len(titles), "two problems share a finding title"


def test_the_report_keeps_no_table_of_severities_or_remediations() -> None:
    """Severity and remediation come from the registry, with no silent fallback text."""
    source = (ROOT / "reporting" / "report" / "build.py").read_text()
    assert "Review the affected receipts." not in source
    tree = ast.parse(source)
    names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert not names & {"REMEDIATION", "SEVERITY_BY_CHECK", "SEVERITY_BY_CATEGORY"}


def test_checks_live_in_one_module_per_family() -> None:
    package = ROOT / "reporting" / "controls" / "checks"
    families = {spec.family for spec in REGISTRY.values()}
    assert families <= {p.stem for p in package.glob("*.py")}
    assert not (ROOT / "reporting" / "controls" / "checks.py").exists()
    for path in package.glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path.name


def test_a_deployment_parameter_has_no_default(scratch_registry: dict[str, Any]) -> None:
    with pytest.raises(RegistrationError):
        check(
            title="T",
            description="D",
            problem=PROBLEM,
            deployment=("hours",),
            hours={"type": "string", "default": "09:00-17:00"},
        )


def test_an_unconfigured_check_does_not_run(scratch_registry: dict[str, Any]) -> None:
    from reporting.controls.checks import run_check
    from reporting.controls.vocabulary import Reason

    ran: list[str] = []

    def needs_hours(evidence: Evidence, params: dict[str, Any]) -> Verdict:
        ran.append("yes")
        return _passes(evidence, params)

    check(
        title="T", description="D", problem=PROBLEM, deployment=("hours",), hours={"type": "string"}
    )(needs_hours)
    evidence = _one_row_evidence()
    result = run_check("needs_hours", evidence)
    assert (result.status, result.reason, ran) == (Status.INDETERMINATE, Reason.NOT_CONFIGURED, [])
    assert run_check("needs_hours", evidence, {"hours": "x"}).status is Status.PASS
    assert ran == ["yes"]


def _one_row_evidence() -> Evidence:
    import pandas as pd

    from reporting.receipts.results import VerificationResult

    rows = pd.DataFrame({"trusted": [True], "in_scope": [True]})
    return Evidence(receipts=rows, chains=pd.DataFrame(), verification=VerificationResult(()))
