"""The status model an auditor accepts (issue 15), on hand-made results and on the samples.

SATISFIED only when every deciding check passes and no manual evidence is outstanding;
SUPPORTED_IN_PART when they pass but manual evidence is listed; supporting checks never
decide; detective checks list exceptions instead of failing; one defect is one finding,
identified across periods; and the words of every status are defined once.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reporting.controls.assess import ControlAssessment, assess, control_status
from reporting.controls.checks import CheckResult, Status
from reporting.controls.loader import CheckRef, Control, Framework
from reporting.controls.vocabulary import ControlStatus, Reason
from reporting.periods import parse_period
from reporting.pipeline import run_report
from reporting.report import charts, html
from reporting.settings import RunSettings, VerifyRequest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def result(status: Status, **fields: Any) -> CheckResult:
    return CheckResult(status=status, statement="s", population=1, check="c", **fields)


PASS, FAIL = result(Status.PASS), result(Status.FAIL, failing=1)
UNDECIDED = result(Status.INDETERMINATE, reason=Reason.NOT_CONFIGURED)
NA = result(Status.NOT_APPLICABLE)


@pytest.mark.parametrize(
    ("results", "manual", "expected"),
    [
        ([PASS, PASS], 0, ControlStatus.SATISFIED),
        ([PASS, PASS], 2, ControlStatus.SUPPORTED_IN_PART),
        ([PASS, NA], 1, ControlStatus.SUPPORTED_IN_PART),
        ([PASS, FAIL], 0, ControlStatus.NOT_SATISFIED),
        ([FAIL, UNDECIDED], 3, ControlStatus.NOT_SATISFIED),
        ([PASS, UNDECIDED], 0, ControlStatus.INDETERMINATE),
        ([NA, NA], 0, ControlStatus.MANUAL),
        ([], 1, ControlStatus.MANUAL),
        ([result(Status.PASS, exceptions=48)], 0, ControlStatus.SATISFIED),
    ],
)
def test_control_status(results: list[CheckResult], manual: int, expected: ControlStatus) -> None:
    status, reason = control_status(results, manual_evidence=manual)
    assert status is expected
    assert reason


def test_an_undecided_check_says_why() -> None:
    _, reason = control_status([PASS, replace(UNDECIDED, check="working_hours")])
    assert "working_hours (not configured)" in reason


def _framework(*refs: CheckRef, manual: tuple[str, ...] = ()) -> Framework:
    control = Control("X-1", "t", "r", "summary", checks=refs, manual_evidence=manual)
    return Framework("x", "X", "1", "https://x", "2026-01-01", (control,), "x.yaml", "0" * 64)


def _only(assessment: list[Any]) -> ControlAssessment:
    [framework] = assessment
    [control] = framework.controls
    return control


def test_supporting_checks_never_decide(sample_evidence) -> None:
    """A failing supporting check leaves an organisational control MANUAL."""
    failing = CheckRef("chain_integrity", role="supporting")  # fails: the samples are tampered
    control = _only(assess([_framework(failing, manual=("policy",))], sample_evidence))
    assert control.results[0].status is Status.FAIL
    assert control.status is ControlStatus.MANUAL
    assert control.deciding == ()
    deciding = _only(assess([_framework(CheckRef("chain_integrity"))], sample_evidence))
    assert deciding.status is ControlStatus.NOT_SATISFIED


def test_the_words_of_every_status_are_defined_once() -> None:
    assert tuple(s.value for s in ControlStatus) == html.STATUS_ORDER
    assert html.LABELS["status"] == {s.value: s.label for s in ControlStatus}
    assert {s.value: s.meaning for s in ControlStatus} == html.STATUS_SENTENCE
    assert {s.key: s.label for s in charts.STATUS_SERIES} == {
        s.value: s.label for s in ControlStatus
    }
    templates = "".join(p.read_text() for p in (ROOT / "templates").rglob("*.j2"))
    text = re.sub(r"{{.*?}}", "", templates)
    for status in ControlStatus:  # "Manual evidence still needed" is a heading, not a status
        assert not re.search(rf"\b{status.label}\b(?! evidence)", text), status.label


# -- on the samples ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_evidence():
    from reporting.pipeline import run_assessment

    request = RunSettings(
        verify=VerifyRequest(
            sources=(str(SAMPLES / "receipts.db"),),
            keys=SAMPLES / "trust.yaml",
            grants=SAMPLES / "grants.yaml",
        ),
        frameworks=("soc2",),
        period=parse_period("2026-10", None, None),
    )
    return run_assessment(request).evidence


def _report(period: str | None = "2026-10", since: str | None = None, until: str | None = None):
    request = RunSettings(
        verify=VerifyRequest(
            sources=(str(SAMPLES / "receipts.db"),),
            keys=SAMPLES / "trust.yaml",
            witness=SAMPLES / "witness.yaml",
            grants=SAMPLES / "grants.yaml",
        ),
        period=parse_period(period, since, until),
        organisation="Example Corp",
    )
    return run_report(request)


@pytest.fixture(scope="module")
def october():
    return _report()


def test_one_defect_is_one_finding(october) -> None:
    """Defect (c), a critical action without any authorization, failed five checks and
    made five High findings; it is one finding listing every control it affects."""
    defects = json.loads((SAMPLES / "defects.json").read_text())["defects"]
    [receipt] = [d["receipt_id"] for d in defects if d["id"] == "critical_without_authorization"]
    model = october.model
    [found] = [f for f in model.findings if f.problem == "no_authorization"]
    assert receipt in found.receipt_ids
    assert set(found.checks) >= {
        "authorization_present",
        "critical_actions_grounded",
        "financial_actions_granted",
        "grounded_principal",
        "scope_matches_action",
    }
    assert {ref.split(":")[0] for ref in found.controls} == {"eu-ai-act", "soc2", "owasp-asi-2026"}
    assert found.title == "1 action carries no authorization at all"
    assert len({f.key for f in model.findings}) == len(model.findings)
    assert len({f.title for f in model.findings}) == len(model.findings)


def test_a_finding_keeps_its_identity_across_periods(october) -> None:
    first_half = _report(None, "2026-10-01", "2026-10-16")
    keys = {f.problem: f.key for f in october.model.findings}
    again = {f.problem: f.key for f in first_half.model.findings}
    assert again["no_approval"] == keys["no_approval"]
    affected = {f.problem: f.affected for f in october.model.findings}
    assert (
        next(f for f in first_half.model.findings if f.problem == "no_approval").affected
        < (affected["no_approval"])
    )


def test_untrusted_chains_are_a_stated_scope_limitation_not_a_blanket(october) -> None:
    """88 untrusted receipts in two chains made every row-level check INDETERMINATE."""
    model = october.model
    assert any("left out of every check's population" in text for text in model.limitations)
    figures = [c for fw in model.frameworks for ctl in fw.controls for c in ctl.checks]
    undecided = [
        f for f in figures if f.status == "INDETERMINATE" and f.reason == "no trusted evidence"
    ]
    assert not undecided
    eu = next(fw for fw in model.frameworks if fw.id == "eu-ai-act")
    assert eu.counts["SUPPORTED_IN_PART"] > 0


def test_every_status_is_explained_by_what_was_checked(october) -> None:
    for framework in october.model.frameworks:
        for control in framework.controls:
            assert control.reason, control.id
            if control.status in {"NOT_SATISFIED", "INDETERMINATE"}:
                deciding = [c.check for c in control.checks if c.role == "deciding"]
                assert any(name in control.reason for name in deciding), control.id
