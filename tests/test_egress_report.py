"""The sample receipts plus the sample Pipelock records, reported on as one (issue 18):
one timeline per session with both channels, both counted in the figures, recorder
sessions beside chains, the planted egress defect and recorder tampering visible, and
the report re-derivable from its sources."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main
from reporting.controls.checks import Status
from reporting.pipeline import ReportRun, run_report

from .conftest import REPO

SAMPLES = REPO / "samples"
PIPELOCK = json.loads((SAMPLES / "pipelock" / "defects.json").read_text())
DEFECTS = {d["id"]: d for d in PIPELOCK["defects"]}
RECORDER_DIRS = [str(SAMPLES / "pipelock" / r["name"]) for r in PIPELOCK["recorders"]]


@pytest.fixture(scope="module")
def combined() -> ReportRun:
    """What the demo reports: the configuration of samples/report.yaml."""
    from reporting.cli.commands import demo_settings

    args = argparse.Namespace(out=Path("unused"), render_timeout=None, render_memory=None)
    return run_report(demo_settings(SAMPLES, args))


def test_the_demo_reads_the_sample_recorders(combined: ReportRun) -> None:
    kinds = {s.path: s.kind for s in combined.assessment.verification.sources}
    recorders = {path for path, kind in kinds.items() if kind == "pipelock_recorder"}
    expected = {
        f"samples/pipelock/{r['name']}/{f.split('/')[-1]}"
        for r in PIPELOCK["recorders"]
        for f in r["files"]
    }
    assert recorders == expected
    assert kinds["samples/receipts.db"] == "store"


def test_the_figures_count_both_kinds(combined: ReportRun) -> None:
    figures = combined.model.figures
    decisions = sum(r["action_receipts"] for r in PIPELOCK["recorders"])
    sessions_records = combined.assessment.evidence.receipts
    control = int(
        (
            (sessions_records["source_kind"] == "pipelock")
            & (sessions_records["channel"] == "control")
        ).sum()
    )
    assert figures.egress_decisions == decisions - control
    assert figures.recorder_sessions == len(PIPELOCK["recorders"])
    assert figures.broken_recorder_sessions == 1  # dev-bob: the deleted line
    assert figures.uncorrelated_egress == 0  # every decision joins its agent session
    assert 0 < figures.trusted_egress_decisions < figures.egress_decisions
    assert figures.receipts_in_scope == 3705  # the agents' receipts, as without egress


def test_every_shown_session_is_one_timeline_of_both_channels(combined: ReportRun) -> None:
    sessions = combined.model.sessions
    assert sessions
    for session in sessions:
        kinds = [e.source_kind for e in session.events]
        assert set(kinds) == {"agent_receipts", "pipelock"}, session.key
        times = [e.timestamp for e in session.events]
        assert times == sorted(times)  # interleaved by time, not one channel after the other
        assert kinds != sorted(kinds)
        assert kinds != sorted(kinds, reverse=True)
        assert session.events_total == session.receipts + session.egress_decisions
        egress = [e for e in session.events if e.source_kind == "pipelock"]
        assert all(e.verdict and e.target and e.channel for e in egress)


def test_the_integrity_section_lists_recorder_sessions_and_the_tampered_one(
    combined: ReportRun,
) -> None:
    rows = {row.issuer: row for row in combined.model.integrity if row.source_kind == "pipelock"}
    assert set(rows) == {r["name"] for r in PIPELOCK["recorders"]}
    tampered = DEFECTS["recorder_line_deleted"]
    broken = rows[tampered["recorder"]]
    assert not broken.authentic
    assert set(tampered["expected_codes"]) <= set(broken.failure_codes)
    assert all(row.authentic for name, row in rows.items() if name != tampered["recorder"])
    assert combined.model.posture.value == "INTEGRITY BROKEN"


def test_the_planted_egress_defect_is_a_finding(combined: ReportRun) -> None:
    planted = DEFECTS["egress_without_agent_action"]
    [finding] = [f for f in combined.model.findings if "egress_writes_backed" in f.checks]
    assert planted["action_id"] in finding.receipt_ids
    [ref] = [r for r in finding.receipts if r.receipt_id == planted["action_id"]]
    assert (ref.source_kind, ref.verdict, ref.target) == ("pipelock", "allow", planted["target"])
    assert planted["action_id"] in combined.cited_receipts  # attached as stored


def _results(run: ReportRun) -> dict[str, Any]:
    return {
        r.check: r
        for assessment in run.assessment.assessments
        for control in assessment.controls
        for r in control.results
    }


def test_the_egress_checks_run_on_the_samples(combined: ReportRun) -> None:
    results = _results(combined)
    assert results["exfiltration_prevented"].status is Status.PASS
    assert results["egress_allowlist"].status is Status.PASS  # report.yaml lists them
    # the MCP proxy acts over the network and no firewall records its requests
    assert results["egress_instrumented"].status is Status.INDETERMINATE
    # the planted request, and the egress of receipt defects (c), (d) and (f)
    assert results["egress_writes_backed"].status is Status.FAIL
    assert results["egress_writes_backed"].failing == 4


def test_without_egress_records_the_egress_checks_cannot_decide(sample_report: ReportRun) -> None:
    results = _results(sample_report)
    for name in ("egress_instrumented", "exfiltration_prevented", "egress_writes_backed"):
        assert results[name].status is Status.INDETERMINATE, name
        assert results[name].reason is not None
        assert results[name].reason.value == "not instrumented"
    assert sample_report.model.figures.egress_decisions == 0
    assert any("No egress records" in line for line in sample_report.model.limitations)


@pytest.mark.slow  # two report runs through the CLI (JSON only), about 10 s
def test_verify_report_rederives_the_combined_report(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "out"
    config = SAMPLES / "report.yaml"
    status = main(
        ["report", "--config", str(config), "--out", str(out), "--format", "json", "--quiet"]
    )
    assert status == 1  # integrity broken: the planted defects
    report_out = capsys.readouterr().out
    assert "egress: " in report_out
    assert "recorder sessions" in report_out
    [directory] = [p for p in out.glob("*/AER-*") if p.is_dir()]
    figures = json.loads((directory / "summary.json").read_text())["figures"]
    assert (figures["recorder_sessions"], figures["broken_recorder_sessions"]) == (3, 1)
    assert figures["trusted_egress_decisions"] < figures["egress_decisions"]
    sources = [str(SAMPLES / "receipts.db"), *RECORDER_DIRS]
    argv = ["verify-report", str(directory), "--json", "--rederive", *sources]
    argv += ["--keys", str(SAMPLES / "trust.yaml"), "--witness", str(SAMPLES / "witness.yaml")]
    argv += ["--grants", str(SAMPLES / "grants.yaml"), "--bodies", str(SAMPLES / "bodies")]
    argv += ["--dispositions", str(SAMPLES / "dispositions.yaml")]  # the config names it
    main(argv)
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["rederive"]["status"] == "PASS", checks["rederive"]
    # the same sources without a recorder: another report
    main(
        [
            *argv[:4],
            str(SAMPLES / "receipts.db"),
            *RECORDER_DIRS[:2],
            *argv[5 + len(RECORDER_DIRS) :],
        ]
    )
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["rederive"]["status"] == "FAIL"
