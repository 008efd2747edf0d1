"""The sample receipts plus the sample Pipelock records, reported on as one (issue 18):
one timeline per session with both channels, both counted in the figures, recorder
sessions beside chains, the planted egress defect and recorder tampering visible, and
the report re-derivable from its sources."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main
from reporting.controls.checks import Status
from reporting.pipeline import ReportRun, run_report
from reporting.report.brief import MAX_PAGES
from reporting.report.exports import report_json
from reporting.report.history import EGRESS_FIGURE_LABELS, compare, previous_from_json
from reporting.report.html import render_html

from .conftest import REPO
from .test_brief import _brief, _flat, _pages

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
        frame = combined.assessment.evidence.receipts.set_index("receipt_id")
        for event in egress:  # cited by the recorder session and its chain_seq
            row = frame.loc[event.receipt_id]
            assert (event.chain_id, event.sequence) == (row["chain_id"], row["sequence"])
            assert event.chain_id.startswith("pipelock:")


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


def test_a_finding_about_a_recorder_names_the_agents_its_decisions_joined(
    combined: ReportRun,
) -> None:
    tampered = DEFECTS["recorder_line_deleted"]
    [finding] = [f for f in combined.model.findings if "chain_integrity" in f.checks]
    assert tampered["recorder"] not in finding.agents  # a recorder is not an agent
    assert "did:agent:coding-assistant" in finding.agents
    assert not {r["name"] for r in PIPELOCK["recorders"]} & {
        agent for f in combined.model.findings for agent in f.agents
    }


def test_the_integrity_section_says_when_a_recorder_has_no_name(combined: ReportRun) -> None:
    rows = combined.model.integrity
    recorder = next(i for i, r in enumerate(rows) if r.source_kind == "pipelock" and r.authentic)
    unnamed = replace(rows[recorder], issuer=None)  # trusted through a bare key file
    untrusted = replace(unnamed, failure_codes=("UNKNOWN_ISSUER_KEY",), authentic=False)
    for row, said in ((unnamed, "unnamed recorder"), (untrusted, "untrusted recorder")):
        integrity = (*rows[:recorder], row, *rows[recorder + 1 :])
        html = render_html(replace(combined.model, integrity=integrity), {})
        start = html.index('id="integrity"')
        assert said in html[start : html.index("</section>", start)], said


def test_the_planted_egress_defect_is_a_finding(combined: ReportRun) -> None:
    planted = DEFECTS["egress_without_agent_action"]
    [finding] = [f for f in combined.model.findings if "egress_writes_backed" in f.checks]
    assert planted["action_id"] in finding.receipt_ids
    [ref] = [r for r in finding.receipts if r.receipt_id == planted["action_id"]]
    assert (ref.source_kind, ref.verdict, ref.target) == ("pipelock", "allow", planted["target"])
    assert ref.sequence == planted["chain_seq"]  # cited by chain and chain_seq, as verify says
    assert planted["action_id"] in combined.cited_receipts  # attached as stored


def test_the_per_agent_view_counts_the_decisions_joined_to_its_sessions(
    combined: ReportRun,
) -> None:
    frame = combined.assessment.evidence.egress
    joined = frame[frame["agent_session"].notna()]
    rows = {row.agent: row for row in combined.model.agents.rows}
    for agent, row in rows.items():
        own = joined[joined["issuer"].astype(object) == agent]
        assert row.egress == dict(sorted(own["verdict"].astype(str).value_counts().items()))
        assert row.egress_unverified == int((~own["trusted"].astype(bool)).sum())
    recorded = {rows[f"did:agent:{r['actor']}"].agent for r in PIPELOCK["recorders"]}
    assert {agent for agent, row in rows.items() if row.egress} == recorded
    figures = combined.model.figures
    counted = sum(sum(row.egress.values()) for row in rows.values())
    assert counted == figures.egress_decisions - figures.uncorrelated_egress
    # dev-bob's recorder session is broken: its decisions count, as unverified
    assert rows["did:agent:coding-assistant"].egress_unverified > 0
    assert rows["did:agent:finance-ops"].egress_unverified == 0
    by_agent = {r.label: r.detail for r in combined.model.egress.by_agent}
    assert by_agent == {agent: row.egress for agent, row in rows.items() if row.egress}
    [row] = [
        r
        for r in combined.model.to_json()["agents"]["rows"]
        if r["agent"] == "did:agent:finance-ops"
    ]
    assert row["egress"] == rows["did:agent:finance-ops"].egress


def test_the_agent_tables_show_the_egress_decisions(combined: ReportRun) -> None:
    html = render_html(combined.model, {})
    rows = {row.agent: row for row in combined.model.agents.rows}
    finance = rows["did:agent:finance-ops"].egress
    shown = ", ".join(f"{verdict} {n:,}" for verdict, n in sorted(finance.items()))
    for section in ("summary", "agents"):
        start = html.index(f'id="{section}"')
        table = html[start : html.index("</table>", html.index('class="agents', start))]
        assert f"egress: {shown}</span>" in table, section
    unverified = rows["did:agent:coding-assistant"].egress_unverified
    assert f"({unverified:,} unverified)" in html


def test_the_brief_counts_the_egress_decisions_and_fits(combined: ReportRun) -> None:
    pages = _pages(_brief(combined))
    assert len(pages) <= MAX_PAGES
    text = _flat(" ".join(pages))
    figures = combined.model.figures
    assert _flat(f"{figures.egress_decisions:,} egress decisions of the firewall") in text
    assert _flat(f"in {figures.recorder_sessions} recorder sessions") in text
    finance = next(r for r in combined.model.agents.rows if r.agent == "did:agent:finance-ops")
    assert _flat(f"egress: allow {finance.egress['allow']}") in text


def test_the_comparison_with_the_previous_period_counts_the_egress_decisions(
    combined: ReportRun, sample_report: ReportRun
) -> None:
    def figures(now: Any, then: Any) -> dict[str, tuple[int | None, int]]:
        previous = previous_from_json(
            report_json(then), manifest_sha256="0" * 64, signer=None, demo=False
        )
        section, _ = compare(replace(now, report_id="AER-NOW"), previous)
        return {f.figure: (f.then, f.now) for f in section.figures}

    egress, receipts = combined.model, sample_report.model
    decisions = egress.figures.egress_decisions
    assert figures(egress, egress)["egress_decisions"] == (decisions, decisions)
    assert figures(receipts, egress)["trusted_egress_decisions"] == (
        egress.figures.trusted_egress_decisions,
        0,
    )
    assert figures(egress, receipts)["egress_stopped"] == (0, egress.figures.egress_stopped)
    assert not set(EGRESS_FIGURE_LABELS) & set(figures(receipts, receipts))  # no rows of zeros


@pytest.mark.parametrize("agent", ["did:agent:finance-ops", "did:agent:coding-assistant"])
def test_an_agents_status_counts_its_egress_as_a_report_on_it_does(
    combined: ReportRun, agent: str
) -> None:
    """The per-agent assessment sees the recorder sessions correlation gave the agent, as
    a report narrowed to it with --issuer does."""
    from reporting.cli.commands import demo_settings

    args = argparse.Namespace(out=Path("unused"), render_timeout=None, render_memory=None)
    scoped = run_report(replace(demo_settings(SAMPLES, args), issuers=(agent,)))
    assert scoped.model.figures.egress_decisions > 0
    [row] = [r for r in combined.model.agents.rows if r.agent == agent]
    assert row.frameworks == {fw.id: fw.counts for fw in scoped.model.frameworks}


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
    # the statuses in the PDF's words (issue 15: one vocabulary), not the JSON's keys
    assert "soc2: Supported " in report_out
    assert "SUPPORTED_IN_PART" not in report_out
    [directory] = [p for p in out.glob("*/AER-*") if p.is_dir()]
    figures = json.loads((directory / "summary.json").read_text())["figures"]
    assert (figures["recorder_sessions"], figures["broken_recorder_sessions"]) == (3, 1)
    # the key figures' words: 3 failed verification, 2 verified but ungrounded (not broken)
    assert (figures["broken_chains"], figures["ungrounded_chains"]) == (3, 2)
    assert "3 failed verification, 2 verified but fail the grounded-principal tier" in report_out
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


def _section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start : html.index("</section>", start)]


def test_the_chain_figures_count_the_recorders_rows(combined: ReportRun) -> None:
    """A recorder session with v2 evidence receipts is two chain rows: the key figures and
    the integrity table say so, so that the agents' chains are the rest."""
    model = combined.model
    rows = sum(1 for c in model.integrity if c.source_kind != "agent_receipts")
    sessions = model.figures.recorder_sessions
    assert rows > sessions  # finance-egress has v2 evidence receipts beside its session
    assert rows + sum(a.chains for a in model.agents.rows) == model.figures.chains
    html = render_html(model, {})
    said = f"{rows} from {sessions} egress recorder sessions"
    assert f"(of which {said})" in _section(html, "summary")
    assert f"({said}, " in _section(html, "integrity")


def test_session_timelines_say_how_each_row_verified(combined: ReportRun) -> None:
    """Both channels are cited the same way, chain seq and whether it verified; an agent's
    receipt from a chain that failed says so, not only the firewall's decisions."""
    session = combined.model.sessions[0]
    first = replace(session.events[0], trusted=False)
    assert first.source_kind == "agent_receipts"
    shown = replace(session, events=(first, *session.events[1:]), egress_decisions=1)
    html = render_html(replace(combined.model, sessions=(shown,)), {})
    timeline = _section(html, "sessions")
    rows = timeline.split("<tbody>")[1].split("</tbody>")[0].split("<tr")[1:]
    kinds = {e.source_kind for e in shown.events[: len(rows)]}
    assert kinds == {"agent_receipts", "pipelock"}
    cited = [r.rsplit("<td", 1)[1] for r in rows]
    assert all("seq" in c and ("s-trusted" in c or "s-untrusted" in c) for c in cited)
    assert "s-untrusted" in cited[0]
    assert "1 decision of the egress firewall" in timeline
    assert "(s)" not in html


def test_counts_of_one_are_said_in_the_singular(combined: ReportRun) -> None:
    model = combined.model
    broken = next(f for f in model.findings if f.unit == "chain" and f.receipt_ids)
    assert model.dispositions
    unmatched = replace(model.dispositions[0], finding_id=None)
    html = render_html(
        replace(model, findings=(replace(broken, affected=1),), dispositions=(unmatched,)), {}
    )
    assert "in it cited" in html
    assert "in them cited" not in html
    assert "1 disposition in the file matches no finding" in html


def test_a_source_kind_wraps_between_its_words(combined: ReportRun) -> None:
    """The Sources table broke "pipelock_recorder" inside a word ("pipelock_recor der")."""
    html = _section(render_html(combined.model, {}), "scope")
    assert "<td>pipelock_<wbr>recorder</td>" in html
    assert "<td>pipelock_recorder</td>" not in html
