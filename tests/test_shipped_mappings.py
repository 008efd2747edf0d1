"""Each shipped mapping loads, uses real checks, and assesses the samples to their defects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reporting.controls.assess import ControlStatus
from reporting.controls.checks import REGISTRY, Status
from reporting.controls.loader import load_mapping, load_mappings, shipped_mapping_paths
from reporting.periods import parse_period
from reporting.pipeline import run_assessment
from reporting.settings import RunSettings, VerifyRequest

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SHIPPED = {"eu-ai-act", "soc2", "owasp-asi-2026"}
REQUIRED_CONTROLS = {
    "eu-ai-act": {
        "Art.9(2)",
        "Art.12(1)",
        "Art.12(2)(a)",
        "Art.12(2)(b)",
        "Art.12(2)(c)",
        "Art.13(3)(d)",
        "Art.13(3)(f)",
        "Art.14(4)(a)",
        "Art.14(4)(b)",
        "Art.14(4)(c)",
        "Art.14(4)(d)",
        "Art.14(4)(e)",
        "Art.15(4)",
        "Art.15(5)",
        "Art.17(1)(k)",
        "Art.19(1)",
        "Art.26(5)",
        "Art.26(6)",
        "Art.72(1)",
        "Art.72(2)",
    },
    "soc2": {
        "CC2.1",
        "CC3.2",
        "CC4.1",
        "CC5.2",
        "CC6.1",
        "CC6.2",
        "CC6.3",
        "CC6.6",
        "CC6.7",
        "CC6.8",
        "CC7.1",
        "CC7.2",
        "CC7.3",
        "CC7.4",
        "CC8.1",
        "CC9.2",
        "PI1.2",
        "PI1.4",
        "PI1.5",
        "C1.1",
    },
    "owasp-asi-2026": {f"ASI{n:02d}" for n in range(1, 11)},
}


def test_the_mapping_directory_was_found() -> None:
    assert {p.stem for p in shipped_mapping_paths()} == SHIPPED


@pytest.mark.parametrize("path", shipped_mapping_paths(), ids=lambda p: p.stem)
def test_shipped_mapping_loads_with_required_controls(path: Path) -> None:
    framework = load_mapping(path)
    ids = {c.id for c in framework.controls}
    assert REQUIRED_CONTROLS[framework.id] <= ids
    assert all(ref.check in REGISTRY for c in framework.controls for ref in c.checks)
    assert all(c.manual_evidence for c in framework.controls), "every control lists manual evidence"
    assert all(c.quote in {"verbatim", "summary"} for c in framework.controls)


def test_art_73_and_the_2026_dates_are_present() -> None:
    framework = next(f for f in load_mappings(shipped_mapping_paths()) if f.id == "eu-ai-act")
    assert any(c.id.startswith("Art.73") for c in framework.controls)
    assert "2 Dec 2027" in (framework.amendments or "") or "2 December 2027" in (
        framework.amendments or ""
    )


def test_owasp_entries_cite_their_threats() -> None:
    framework = next(f for f in load_mappings(shipped_mapping_paths()) if f.id == "owasp-asi-2026")
    asi08 = framework.control("ASI08")
    assert set(asi08.crosswalks["threats"]) >= {"T5", "T8"}


@pytest.fixture(scope="module")
def sample_run():
    request = RunSettings(
        verify=VerifyRequest(
            sources=(str(SAMPLES / "receipts.db"),),
            keys=SAMPLES / "trust.yaml",
            grants=SAMPLES / "grants.yaml",
            witness=SAMPLES / "witness.yaml",
        ),
        period=parse_period("2026-10", None, None),
    )
    return run_assessment(request)


@pytest.fixture(scope="module")
def defects() -> dict[str, dict]:
    return {d["id"]: d for d in json.loads((SAMPLES / "defects.json").read_text())["defects"]}


def _check(run, framework_id: str, check: str):
    assessment = next(a for a in run.assessments if a.framework.id == framework_id)
    return next(r for c in assessment.controls for r in c.results if r.check == check)


# Which check must surface which sample defect, and where it shows (receipt or chain).
DEFECT_CHECKS = [
    ("tampered_receipt", "chain_integrity", "chain"),
    ("sequence_gap", "chain_integrity", "chain"),
    ("sequence_gap", "no_sequence_gaps", "chain"),
    ("critical_without_authorization", "authorization_present", "receipt"),
    ("critical_without_authorization", "grounded_principal", "receipt"),
    ("expired_authorization", "authorization_time_valid", "receipt"),
    ("ungrounded_principal", "grounded_principal", "receipt"),
    ("events_dropped", "no_events_dropped", "receipt"),
]


def _mapped_cases() -> list[tuple[str, str, str, str]]:
    frameworks = load_mappings(shipped_mapping_paths()) if shipped_mapping_paths() else []
    mapped = {(f.id, ref.check) for f in frameworks for c in f.controls for ref in c.checks}
    return [
        (framework_id, defect, check, where)
        for framework_id in sorted(SHIPPED)
        for defect, check, where in DEFECT_CHECKS
        if (framework_id, check) in mapped
    ]


@pytest.mark.parametrize(("framework_id", "defect", "check", "where"), _mapped_cases())
def test_samples_defects_surface_in_every_framework_that_maps_the_check(
    sample_run, defects, framework_id: str, defect: str, check: str, where: str
) -> None:
    assessment = next(a for a in sample_run.assessments if a.framework.id == framework_id)
    result = next(r for c in assessment.controls for r in c.results if r.check == check)
    assert result.status is Status.FAIL
    expected = defects[defect]["chain_id"] if where == "chain" else defects[defect]["receipt_id"]
    listed = result.failing_chains if where == "chain" else result.failing_receipts
    assert expected in listed


def test_each_defect_check_is_mapped_somewhere() -> None:
    mapped = {
        ref.check
        for f in load_mappings(shipped_mapping_paths())
        for c in f.controls
        for ref in c.checks
    }
    assert {check for _, check, _ in DEFECT_CHECKS} <= mapped


def test_controls_mapping_a_failing_check_are_not_satisfied(sample_run) -> None:
    for assessment in sample_run.assessments:
        for control in assessment.controls:
            if any(r.status is Status.FAIL for r in control.results):
                assert control.status is ControlStatus.NOT_SATISFIED, control.control.id
            if not control.control.checks:
                assert control.status is ControlStatus.MANUAL
        counts = assessment.counts
        assert sum(counts.values()) == len(assessment.controls)
