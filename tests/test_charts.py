"""Charts: inline SVG that is well-formed, deterministic, escaped and leaves matplotlib as found."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import replace
from itertools import combinations

import matplotlib
import pytest

from reporting.report.charts import (
    CHART_KEYS,
    LABEL_LIMIT,
    RISK_SERIES,
    STATUS_SERIES,
    UNKNOWN_RISK,
    chart_label,
    render_charts,
)
from reporting.report.model import ActivitySection, CountRow, ReportModel, Session, SessionEvent

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
EXPECTED_KEYS = {
    "actions_per_day",
    "control_status",
    "top_action_types",
    "actions_per_agent",
    "session_timeline",
    "trend",
}


@pytest.fixture(scope="module")
def model(sample_report) -> ReportModel:
    return sample_report.model


@pytest.fixture(scope="module")
def charts(model) -> dict[str, str]:
    return render_charts(model)


def texts(svg: str) -> list[str]:
    """Every text node of the chart, unescaped by the XML parser."""
    root = ET.fromstring(svg)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def with_labels(model: ReportModel, labels: list[str]) -> ReportModel:
    """The sample model with agents, action types and a session named by `labels`."""
    rows = tuple(CountRow(label, 10 + i) for i, label in enumerate(labels))
    session = replace(model.sessions[0], key=labels[0])
    activity = replace(model.activity, by_agent=rows, by_action_type=rows)
    return replace(model, activity=activity, sessions=(session, *model.sessions[1:]))


def empty_model(model: ReportModel) -> ReportModel:
    activity = ActivitySection((), (), (), (), (), (), (), 0, 0)
    return replace(model, activity=activity, sessions=(), frameworks=(), trend=())


def luminance(colour: str) -> float:
    """WCAG relative luminance of #rrggbb: what greyscale print keeps of a colour."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# -- shape --------------------------------------------------------------------------------


def test_every_chart_key_is_rendered(charts):
    assert set(charts) == EXPECTED_KEYS
    assert tuple(charts) == CHART_KEYS


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_chart_is_a_bare_svg_element_that_parses(charts, key):
    svg = charts[key]
    assert svg.startswith("<svg ")
    assert svg.endswith("</svg>")
    assert "<?xml" not in svg
    assert "<!DOCTYPE" not in svg
    assert ET.fromstring(svg).tag == f"{SVG}svg"


def test_text_stays_searchable_text(charts, model):
    """svg.fonttype none: labels are <text> elements, not glyph paths."""
    assert model.activity.by_action_type[0].label in texts(charts["top_action_types"])
    assert model.activity.by_agent[0].label in texts(charts["actions_per_agent"])
    assert {f.id for f in model.frameworks} <= set(texts(charts["control_status"]))
    assert any(model.sessions[0].key in t for t in texts(charts["session_timeline"]))


def test_legends_name_every_series(charts):
    assert {s.label for s in RISK_SERIES} <= set(texts(charts["actions_per_day"]))
    assert {s.label for s in STATUS_SERIES} <= set(texts(charts["control_status"]))
    timeline = set(texts(charts["session_timeline"]))
    assert {"Low", "Critical", "Failed"} <= timeline  # the sample has failed critical events


def test_no_metadata_date_or_creator(charts):
    for svg in charts.values():
        assert "<metadata" not in svg
        assert "dc:date" not in svg
        assert "Matplotlib v" not in svg


def test_ids_are_unique_across_charts_of_one_page(charts):
    ids = [i for svg in charts.values() for i in re.findall(r'\bid="([^"]+)"', svg)]
    assert ids
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates


# -- determinism and global state ---------------------------------------------------------


def test_same_model_gives_byte_identical_svg(charts, model):
    assert render_charts(model) == charts


def test_output_ignores_the_callers_rcparams(charts, model):
    custom = {"font.size": 21, "svg.hashsalt": None, "svg.fonttype": "path", "font.family": "serif"}
    with matplotlib.rc_context(custom):
        assert render_charts(model) == charts


def test_rcparams_and_figures_are_left_as_found(model):
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"font.size": 13, "svg.hashsalt": "caller"}):
        before = dict(matplotlib.rcParams)
        figures = plt.get_fignums()
        backend = matplotlib.get_backend()
        render_charts(model)
        assert dict(matplotlib.rcParams) == before
        assert matplotlib.rcParams["font.size"] == 13
        assert matplotlib.rcParams["svg.hashsalt"] == "caller"
        assert plt.get_fignums() == figures
        assert matplotlib.get_backend() == backend


def test_rcparams_restored_when_a_chart_fails(model, monkeypatch):
    import reporting.report.charts as charts_module

    def boom(_model: ReportModel) -> str:
        matplotlib.rcParams["font.size"] = 99
        raise RuntimeError("chart failed")

    monkeypatch.setattr(charts_module, "_session_timeline", boom)
    before = dict(matplotlib.rcParams)
    with pytest.raises(RuntimeError, match="chart failed"):
        render_charts(model)
    assert dict(matplotlib.rcParams) == before


# -- untrusted labels ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_charts(model) -> dict[str, str]:
    return render_charts(with_labels(model, list(HOSTILE)))


def test_hostile_labels_are_escaped_text(hostile_charts):
    for key in ("top_action_types", "actions_per_agent"):
        svg = hostile_charts[key]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
        assert "&lt;img src=x onerror=alert(1)&gt;" in svg
        assert set(HOSTILE) <= set(texts(svg))
    timeline = hostile_charts["session_timeline"]  # the first session is named HOSTILE[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in timeline
    assert any(t.startswith(HOSTILE[0]) for t in texts(timeline))


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_hostile_labels_inject_no_markup(hostile_charts, key):
    svg = hostile_charts[key]
    assert "<script" not in svg.lower()
    assert "<img" not in svg.lower()
    assert not re.search(r'href\s*=\s*["\'](?!#)', svg)
    assert 'xlink:href="http' not in svg
    for element in ET.fromstring(svg).iter():
        tag = element.tag.removeprefix(SVG)
        assert tag not in {"script", "img", "foreignObject", "a", "image", "iframe"}
        assert not [name for name in element.attrib if name.lower().startswith("on")]


def test_dollar_signs_and_control_characters_are_drawn_literally(model):
    labels = ["$x^2$ cost", "tab\there\x00nul\u202ertl", "\\$5 and $6"]
    svg = render_charts(with_labels(model, labels))["actions_per_agent"]
    shown = texts(svg)
    assert "$x^2$ cost" in shown
    assert "tab here\ufffdnul\ufffdrtl" in shown
    assert "\\$5 and $6" in shown
    assert "\x00" not in svg
    assert "\u202e" not in svg


def test_long_labels_are_truncated_with_an_ellipsis(model):
    long = "did:agent:" + "x" * 200
    shown = texts(render_charts(with_labels(model, [long]))["actions_per_agent"])
    truncated = [t for t in shown if t.startswith("did:agent:")]
    assert truncated == [long[: LABEL_LIMIT - 1] + "\u2026"]
    assert long not in shown


def test_many_agents_are_capped_with_an_other_row(model):
    labels = [f"did:agent:a{i:02d}" for i in range(40)]
    shown = texts(render_charts(with_labels(model, labels))["actions_per_agent"])
    assert "Other (26 more)" in shown
    assert "did:agent:a13" in shown
    assert "did:agent:a14" not in shown


def test_chart_label_cleans_untrusted_text():
    assert chart_label("  a\n\tb  ") == "a b"
    assert chart_label("$a$") == r"\$a\$"
    assert chart_label("x" * 50, limit=10) == "x" * 9 + "\u2026"
    assert chart_label("a\u200bb\x07c") == "a\ufffdb\ufffdc"


# -- empty and edge data ------------------------------------------------------------------


def test_empty_model_gives_no_data_svgs(model):
    charts = render_charts(empty_model(model))
    assert set(charts) == EXPECTED_KEYS
    for svg in charts.values():
        assert "No data" in texts(svg)
        assert ET.fromstring(svg).tag == f"{SVG}svg"


def test_sessions_without_timestamps_give_no_data(model):
    event = SessionEvent(None, "r1", "c1", "data.api.read", "low", "success", "did:agent:x")
    session = Session("s", None, (), ("c1",), None, None, 1, 0, 0, "low", (event,), 1)
    charts = render_charts(replace(model, sessions=(session,)))
    assert "No data" in texts(charts["session_timeline"])


def test_unknown_risk_levels_get_their_own_series(model):
    rows = (CountRow("2026-10-01", 5, {"low": 2, "nan": 3}), CountRow("2026-10-03", 1, {"high": 1}))
    activity = replace(model.activity, per_day=rows)
    shown = texts(render_charts(replace(model, activity=activity))["actions_per_day"])
    assert "Unknown" in shown
    assert "01 Oct" in shown


# -- print --------------------------------------------------------------------------------


@pytest.mark.parametrize("series", [(*RISK_SERIES, UNKNOWN_RISK), STATUS_SERIES])
def test_series_survive_greyscale_print(series):
    for a, b in combinations(series, 2):
        assert abs(luminance(a.color) - luminance(b.color)) >= 0.1, (a.key, b.key)
    assert len({s.hatch for s in series}) == len(series)
    assert len({s.marker for s in series}) == len(series)


def test_hatching_is_drawn(charts):
    assert "<pattern" in charts["actions_per_day"]
    assert "<pattern" in charts["control_status"]


def test_timeline_accepts_naive_and_aware_timestamps(model):
    events = (
        SessionEvent("2026-10-01T10:00:00", "r1", "c1", "data.api.read", "low", "success", None),
        SessionEvent("2026-10-01T10:30:00+00:00", "r2", "c1", "x.y", "critical", "failure", None),
    )
    session = Session(
        "s1", None, (), ("c1",), "2026-10-01T10:00:00", None, 2, 1, 1, None, events, 2
    )
    shown = texts(render_charts(replace(model, sessions=(session,)))["session_timeline"])
    assert "Time since session start (minutes)" in shown
    assert {"Low", "Critical", "Failed"} <= set(shown)


def test_the_timeline_with_egress_decisions_renders_without_warnings(model):
    """matplotlib warned on every run when an unfilled marker was given an edge colour."""
    action = SessionEvent("2026-10-01T10:00:00Z", "r1", "c1", "data.api.write", "high", None, None)
    decision = replace(action, receipt_id="p1", source_kind="pipelock", verdict="allow")
    session = Session(
        "s1", None, (), ("c1",), "2026-10-01T10:00:00Z", None, 1, 1, 0, None, (action, decision), 2
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shown = texts(render_charts(replace(model, sessions=(session,)))["session_timeline"])
    assert "Egress decision" in shown


def test_bar_labels_have_thousands_separators(model, charts):
    counts = [row.count for row in model.activity.by_agent]
    assert max(counts) >= 1000  # the sample's busiest agent
    shown = set(texts(charts["actions_per_agent"]))
    assert {f"{n:,}" for n in counts} <= shown
    assert str(max(counts)) not in shown
