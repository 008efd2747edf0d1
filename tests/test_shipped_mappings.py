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


def test_controls_where_a_deciding_check_fails_are_not_satisfied(sample_run) -> None:
    for assessment in sample_run.assessments:
        for control in assessment.controls:
            if any(r.status is Status.FAIL for r in control.deciding):
                assert control.status is ControlStatus.NOT_SATISFIED, control.control.id
            if not any(ref.deciding for ref in control.control.checks):
                assert control.status is ControlStatus.MANUAL, control.control.id
        counts = assessment.counts
        assert sum(counts.values()) == len(assessment.controls)


def test_no_control_with_manual_evidence_is_satisfied_on_receipts_alone(sample_run) -> None:
    for assessment in sample_run.assessments:
        for control in assessment.controls:
            if control.control.manual_evidence:
                assert control.status is not ControlStatus.SATISFIED, control.control.id


ORGANISATIONAL = {
    "eu-ai-act": {
        "Art.9(2)",
        "Art.13(3)(d)",
        "Art.13(3)(f)",
        "Art.17(1)(k)",
        "Art.17(1)(m)",
        "Art.72(1)",
        "Art.72(2)",
        "Art.73(2)",
        "Art.73(3)",
        "Art.73(4)",
    },
    "soc2": {
        "CC1.3",
        "CC1.5",
        "CC2.1",
        "CC2.3",
        "CC3.2",
        "CC3.4",
        "CC4.1",
        "CC4.2",
        "CC7.3",
        "CC7.4",
        "CC9.2",
        "A1.2",
        "A1.3",
    },
}


@pytest.mark.parametrize("framework_id", sorted(ORGANISATIONAL))
def test_organisational_controls_are_manual_with_supporting_evidence(framework_id: str) -> None:
    framework = next(f for f in load_mappings(shipped_mapping_paths()) if f.id == framework_id)
    for control_id in ORGANISATIONAL[framework_id]:
        control = framework.control(control_id)
        assert not any(ref.deciding for ref in control.checks), control_id
        assert control.manual_evidence, control_id


def test_vacuous_and_advisory_checks_never_decide() -> None:
    """attribution is schema-required, reversibility_declared optional, and code execution
    being authorized is not evidence against malicious software (CC6.8)."""
    frameworks = load_mappings(shipped_mapping_paths())
    for framework in frameworks:
        for control in framework.controls:
            for ref in control.checks:
                if ref.check in {"attribution", "reversibility_declared", "ai_sent_messages"}:
                    assert not ref.deciding, (framework.id, control.id, ref.check)
    soc2 = next(f for f in frameworks if f.id == "soc2")
    [execution] = [
        r for r in soc2.control("CC6.8").checks if r.check == "code_execution_authorized"
    ]
    assert not execution.deciding


def test_log_integrity_checks_sit_with_record_keeping_not_cybersecurity() -> None:
    places = {
        (f.id, c.id)
        for f in load_mappings(shipped_mapping_paths())
        for c in f.controls
        for ref in c.checks
        if ref.check in {"witness_coverage", "trusted_timestamp_coverage"}
    }
    assert places == {("eu-ai-act", "Art.12(1)"), ("eu-ai-act", "Art.19(1)")}


def test_coverage_added_by_the_audit_review() -> None:
    frameworks = {f.id: f for f in load_mappings(shipped_mapping_paths())}
    ids = {fid: {c.id for c in f.controls} for fid, f in frameworks.items()}
    assert {
        "CC7.5",
        "PI1.3",
        "A1.1",
        "A1.2",
        "A1.3",
        "CC1.3",
        "CC1.5",
        "CC2.3",
        "CC3.4",
        "CC4.2",
    } <= ids["soc2"]
    assert {
        "Art.26(1)",
        "Art.26(2)",
        "Art.50(1)",
        "AnnexIV.2(e)",
        "AnnexIV.2(g)",
        "AnnexIV.2(h)",
        "AnnexIV.3",
        "AnnexIV.9",
    } <= ids["eu-ai-act"]
    eu, soc2 = frameworks["eu-ai-act"], frameworks["soc2"]
    assert {"CC1.3", "CC1.5"} <= set(eu.control("Art.17(1)(m)").crosswalks["soc2"])
    assert "CC2.3" in eu.control("Art.73(2)").crosswalks["soc2"]
    assert set(eu.control("Art.15(4)").crosswalks["soc2"]) == {"A1.2", "CC7.5"}
    assert "removed when" in soc2.control("CC6.2").requirement  # its second sentence
    asi04 = frameworks["owasp-asi-2026"].control("ASI04")
    assert [ref.check for ref in asi04.checks] == ["inventory_allowlist"]
    assert "Arts. 6 to 27" in (eu.amendments or "")
    assert "Art. 19(2)" in " ".join(eu.control("Art.19(1)").manual_evidence)


def test_egress_and_transfers_include_api_writes_and_messages() -> None:
    frameworks = {f.id: f for f in load_mappings(shipped_mapping_paths())}
    cc67 = frameworks["soc2"].control("CC6.7")
    [transfer] = [r for r in cc67.checks if r.check == "external_transfer_authorized"]
    assert {"data.api.write", "communication.message.send"} <= set(transfer.params["actions"])
    asi02 = frameworks["owasp-asi-2026"].control("ASI02")
    [default] = [r for r in asi02.checks if r.check == "external_transfer_authorized"]
    assert default.params == {}  # the check's default transfers, which include both
    from reporting.controls.checks.capabilities import TRANSFERS

    assert {"data.api.write", "communication.message.send"} <= set(TRANSFERS)


def test_asi05_approval_is_scoped_to_code_execution(sample_run) -> None:
    """A financial.subscription.create made ASI05 (code execution) fail."""
    asi = next(a for a in sample_run.assessments if a.framework.id == "owasp-asi-2026")
    asi05 = next(c for c in asi.controls if c.control.id == "ASI05")
    [approval] = [r for r in asi05.results if r.check == "human_approval"]
    assert approval.params["actions"] == ["system.*"]
    assert approval.status is Status.NOT_APPLICABLE  # no critical execution in the samples
