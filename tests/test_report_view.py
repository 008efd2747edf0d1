"""The report a CISO reads (issue 16): findings stated as problems, one way of citing a
receipt, parameters and numbers as a reader writes them, and who did what.

Built from the shared sample report: the model and its HTML in this process, and for the
PDF, CSV, OSCAL and summary.json the signed report the session builds once.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from html import unescape
from typing import Any

import pytest
from pypdf import PdfReader

from reporting.controls.checks import REGISTRY
from reporting.controls.checks.registry import UNITS
from reporting.controls.vocabulary import ControlStatus
from reporting.report.charts import STATUS_SERIES, render_charts
from reporting.report.html import STATUS_ORDER, render_html
from reporting.report.model import ReportModel
from reporting.report.palette import STATUS_STYLE, status_css
from reporting.report.wording import (
    count,
    crosswalk_note,
    figure_phrases,
    parameter_phrases,
    percent,
    plural,
    weekdays,
    working_hours,
)

from .shared_reports import SignedReport


@pytest.fixture(scope="module")
def model(sample_report: Any) -> ReportModel:
    return sample_report.model  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def html(model: ReportModel) -> str:
    """The sample report's HTML, with its real charts."""
    return render_html(model, render_charts(model))


def _text(html: str) -> str:
    """The document's visible words: tags, scripts and styles out, entities resolved,
    break opportunities removed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", "", body)).replace("\u200b", "").split())


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("\u200b", ""))


# -- words and numbers ---------------------------------------------------------------------


def test_counts_agree_with_their_nouns() -> None:
    assert count(1, "chain") == "1 chain"
    assert count(1205, "receipt") == "1,205 receipts"
    assert count(1, "kind of exception") == "1 kind of exception"
    assert count(2, "kind of exception") == "2 kinds of exception"
    assert plural(2, "is") == "are"


def test_parameters_are_said_as_a_reader_writes_them() -> None:
    """Not `days [1, 2, 3, 4, 5]` or `limit=0.05 max_share=0.05`."""
    hours = {"issuer": "did:agent:x", "start": "06:00", "end": "22:00", "weekdays": [1, 2, 3, 4, 5]}
    berlin = hours | {"timezone": "Europe/Berlin"}
    assert working_hours(berlin) == "Mon-Fri 06:00-22:00 Europe/Berlin"
    said = parameter_phrases("working_hours", {"producers": [hours | {"timezone": "UTC"}]})
    assert said == ["did:agent:x: Mon-Fri 06:00-22:00 UTC"]
    assert parameter_phrases("unknown_action_share", {"max_share": 0.05}) == [
        "actions typed unknown: at most 5%"
    ]
    assert parameter_phrases("authorization_present", {"min_risk": "high"}) == [
        "high or critical risk"
    ]
    assert parameter_phrases("critical_actions_grounded", {"actions": ["*"]}) == [
        "actions: every action type"
    ]
    assert weekdays([1, 2, 3, 4, 5, 6, 7]) == "every day"
    assert weekdays([1, 3, 5]) == "Mon, Wed, Fri"
    assert percent(0.0172) == "1.72%"
    assert figure_phrases("witness_coverage", {"share": 0.0172, "witnessed": 2}) == [
        "share 1.72%",
        "witnessed: 2",
    ]
    assert figure_phrases("activity_continuity", {"silent_days": {}}) == ["silent days: none"]


def test_threat_ids_are_explained() -> None:
    note = crosswalk_note("threats", ["T8"])
    assert note is not None
    assert "T8 Repudiation & Untraceability" in note
    assert crosswalk_note("soc2", ["CC7.2"]) is None  # a framework: linked, not explained


def test_the_document_says_parameters_and_numbers_in_words(html: str) -> None:
    text = _text(html)
    assert "actions typed unknown: at most 5%" in text
    assert "T8 Repudiation & Untraceability" in text
    for python in ("max_share=", "limit=", "min_risk=", "['*']", "critical+", "high+"):
        assert python not in text, python
    assert "(s)" not in text
    assert not re.search(r"\b1 (chains|receipts|agents|findings|kinds|controls)\b", text)
    figures = re.findall(r'<(?:td class="num"|span class="n")>([^<]*)<', html)
    assert "3,705" in figures
    assert "2,051" in figures
    assert not [n for n in figures if re.search(r"\d{4}", n)]  # thousands separators


# -- findings -----------------------------------------------------------------------------


def test_every_finding_carries_what_a_reader_acts_on(model: ReportModel) -> None:
    problems = {p.code: p for spec in REGISTRY.values() for p in spec.problems.values()}
    for finding in (*model.findings, *model.exceptions):
        assert finding.severity is problems[finding.problem].severity
        assert finding.remediation == problems[finding.problem].remediation
        assert finding.unit == problems[finding.problem].unit
        assert finding.unit in UNITS
        assert finding.title == problems[finding.problem].headline(finding.affected)
        assert finding.agents, finding.id
        assert finding.frameworks == tuple(
            sorted({ref.split(":")[0] for ref in (*finding.controls, *finding.supporting)})
        )
    titles = [f.title for f in (*model.findings, *model.exceptions)]
    assert len(set(titles)) == len(titles)


def test_broken_chains_are_counted_in_chains_and_name_their_agents(model: ReportModel) -> None:
    [broken] = [f for f in model.findings if f.problem == "broken_chain"]
    assert broken.title == "2 chains failed verification"
    assert (broken.unit, broken.affected) == ("chain", 2)
    assert broken.agents == ("did:agent:coding-assistant", "did:agent:mcp-proxy-github")
    assert broken.principals == ("did:user:bob@example.com",)


def test_a_finding_reads_the_same_everywhere(signed_sample_report: SignedReport) -> None:
    """PDF, HTML, CSV, OSCAL and summary.json: the same title for the same finding."""
    model = signed_sample_report.model
    directory = signed_sample_report.directory
    html = _text(next(directory.glob("*.html")).read_text(encoding="utf-8"))
    reader = PdfReader(io.BytesIO(signed_sample_report.pdf.read_bytes()))
    pdf = _flat("".join(page.extract_text() for page in reader.pages))
    rows = list(csv.DictReader(io.StringIO(next(directory.glob("*-findings.csv")).read_text())))
    oscal = json.loads(next(directory.glob("*-oscal.json")).read_text())
    risks = {r["title"]: r for r in oscal["assessment-results"]["results"][0].get("risks", [])}
    summary = json.loads((directory / "summary.json").read_text())
    for finding in model.findings:
        assert finding.title in html
        assert _flat(finding.title) in pdf, finding.title
        assert {r["title"] for r in rows if r["finding_id"] == finding.id} == {finding.title}
        assert risks[finding.title]["remediations"][0]["description"] == finding.remediation
    for top in summary["top_findings"]:
        [finding] = [f for f in model.findings if f.id == top["id"]]
        assert (top["title"], top["unit"], top["agents"]) == (
            finding.title,
            finding.unit,
            list(finding.agents),
        )
    assert summary["headline"].startswith(f"{model.organisation}, 2026-10-01 to 2026-11-01")


def test_receipts_are_cited_by_chain_and_sequence(model: ReportModel, html: str) -> None:
    """Never `#44` in one table and an index in another."""
    text = _text(html)
    assert not re.search(r"#\d", text)
    cited = model.findings[0].receipts[0]
    assert f"{cited.chain_id} seq {cited.sequence}" in text
    event = model.sessions[0].events[0]  # session timelines named the chain alone
    assert event.sequence is not None
    assert f"{event.chain_id} seq {event.sequence}" in text
    broken = [c for c in model.integrity if c.broken_at is not None and not c.authentic]
    assert broken
    assert all(c.broken_at_sequence is not None for c in broken)
    for chain in broken:
        assert f"broken at seq {chain.broken_at_sequence}" in text


def test_the_integrity_table_and_the_key_figures_agree(model: ReportModel, html: str) -> None:
    """A chain that verifies but fails the grounded-principal tier is not 'failing
    verification' in one place and a red ✘ in another."""
    figures = model.figures
    assert (figures.broken_chains, figures.ungrounded_chains) == (2, 2)
    table = html[html.index('id="integrity-table"') :]
    table = table[: table.index("</table>")]
    assert table.count('class="badge s-broken"') == figures.broken_chains
    assert table.count("principal not grounded") == figures.ungrounded_chains
    assert table.count('class="failed"') == figures.broken_chains
    assert "2 chains failed verification" in _text(html)


# -- who did what --------------------------------------------------------------------------


def test_one_row_per_agent_with_what_it_did(model: ReportModel) -> None:
    rows = {row.agent: row for row in model.agents.rows}
    assert set(rows) == {r.label for r in model.activity.by_agent}
    assert model.agents.total == model.agents.assessed == len(rows) == 4
    finance = rows["did:agent:finance-ops"]
    assert (finance.chains, finance.broken_chains, finance.ungrounded_chains) == (22, 0, 2)
    assert [(p.label, p.count) for p in finance.principals] == [("did:user:carol@example.com", 540)]
    counted = {r.label: r.count for r in model.activity.by_agent}
    assert finance.receipts == counted[finance.agent]
    listed = [f for f in model.findings if finance.agent in f.agents]
    assert finance.findings == tuple(f.id for f in listed)
    assert sum(finance.findings_by_severity.values()) == len(listed)


@pytest.mark.parametrize(
    "agent",
    [
        "did:agent:finance-ops",  # verified chains, two failing the grounded-principal tier
        "did:agent:coding-assistant",  # a chain that failed verification
        "did:agent:mcp-proxy-github",  # a broken chain whose receipts still place it
        "did:agent:test-runner",  # delegated sub-agent chains
    ],
)
def test_an_agents_status_is_what_a_report_on_it_says(model: ReportModel, agent: str) -> None:
    """The per-agent framework status is the assessment of a report narrowed to that
    agent with --issuer, not a guess from the findings."""
    from reporting.pipeline import run_report

    from .conftest import sample_settings

    settings = sample_settings()
    scoped = run_report(replace(settings, issuers=(agent,)))
    [row] = [r for r in model.agents.rows if r.agent == agent]
    assert row.frameworks == {fw.id: fw.counts for fw in scoped.model.frameworks}
    matrix = {(m.framework, m.control): m for m in model.agents.matrix}
    column = [r.agent for r in model.agents.rows].index(agent)
    for fw in scoped.model.frameworks:
        for control in fw.controls:
            assert matrix[fw.id, control.id].by_agent[column] == control.status


def test_the_html_has_a_sortable_filterable_agent_by_control_matrix(
    model: ReportModel, html: str
) -> None:
    start = html.index('id="agent-matrix"')
    table = html[html.rindex("<table", 0, start) : html.index("</table>", start)]
    assert "sortable" in table
    assert "filterable" in table
    header = table[: table.index("</thead>")]
    assert header.count('data-sort="text"') == 3 + model.agents.assessed
    assert table.count("<tr>") == len(model.agents.matrix) + 1


# -- polish --------------------------------------------------------------------------------


def test_the_status_chart_matches_the_badges() -> None:
    """Same order, colours and names as the table and badges above it."""
    assert [s.key for s in STATUS_SERIES] == list(STATUS_ORDER)
    assert [s.label for s in STATUS_SERIES] == [ControlStatus(k).label for k in STATUS_ORDER]
    css = status_css()
    for series in STATUS_SERIES:
        style = STATUS_STYLE[ControlStatus(series.key)]
        rule = re.search(rf"\.s-{series.key.lower().replace('_', '-')} \{{([^}}]*)\}}", css)
        assert rule is not None
        assert f"background: {series.color};" in rule.group(1)
        assert series.color == style.fill


def test_identifiers_break_at_their_separators_only(html: str) -> None:
    assert "did:<wbr>user:<wbr>carol@<wbr>example.com" in html
    assert not re.search(r'="[^"]*<wbr>', html)  # never inside an attribute
    assert 'class="badge sev-critical"' in html  # severity badges get their own colours


def test_run_settings_say_the_deployment_in_words() -> None:
    """The scope section printed the overrides as JSON (`"weekdays": [1, 2, 3, 4, 5]`)."""
    from reporting.report.wording import setting_phrases

    hours = {"issuer": "did:agent:x", "start": "08:00", "end": "19:00", "weekdays": [1, 2, 3, 4, 5]}
    override = {"check": "working_hours", "framework": "*", "control": "*"}
    said = setting_phrases(
        "overrides", [override | {"params": {"producers": [hours | {"timezone": "Europe/Berlin"}]}}]
    )
    assert said == [
        "working_hours (every control using it): did:agent:x: Mon-Fri 08:00-19:00 Europe/Berlin"
    ]
    assert setting_phrases("keys", [{"name": "trust.yaml", "sha256": "sha256:ab"}]) == [
        "trust.yaml (sha256:ab)"
    ]
