"""Report charts: inline SVG drawn with matplotlib, deterministic and print-safe.

`render_charts(model)` returns one `<svg>...</svg>` element per chart key (no XML
declaration or DOCTYPE), ready to embed in the HTML report. The same model gives
byte-identical SVG: the hash salt is fixed per chart, the metadata carries no date or
creator, text stays text (`svg.fonttype: none`, searchable and small) and every style
starts from matplotlib's defaults rather than the user's matplotlibrc. Global
matplotlib state is left as found: figures are built with the object-oriented API on
an Agg canvas (never registered with pyplot) inside `rc_context`, which restores
rcParams on exit. Nothing is read from or written to the network or the file system
beyond matplotlib's own fonts.

Series are told apart without colour: risk levels and control statuses differ in
lightness and hatching (markers differ in shape), and every chart with series has a
legend. Labels come from receipts and are untrusted: they are cleaned (control and
format characters replaced, whitespace collapsed, `$` escaped so mathtext never runs),
truncated with an ellipsis (the tables carry the full text), and escaped as XML text by
matplotlib's SVG writer.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import matplotlib
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Patch
from matplotlib.typing import RcKeyType

from reporting.report.model import CountRow, ReportModel, Session, SessionEvent, utc_instant
from reporting.report.palette import STATUS_STYLE

__all__ = [
    "CHART_KEYS",
    "CHART_TITLES",
    "EGRESS_SERIES",
    "LABEL_LIMIT",
    "RISK_SERIES",
    "STATUS_SERIES",
    "UNKNOWN_RISK",
    "Series",
    "chart_label",
    "render_charts",
]

LABEL_LIMIT = 36
BAR_ROWS = 15
WIDTH = 6.8  # inches: an A4 text column
EDGE = "#333333"
BAR = "#6f6f6f"


@dataclass(frozen=True)
class Series:
    """One data series, styled to survive greyscale print: lightness, hatch and marker."""

    key: str
    label: str
    color: str
    hatch: str
    marker: str


RISK_SERIES = (
    Series("low", "Low", "#fef0d9", "", "o"),
    Series("medium", "Medium", "#fdcc8a", "--", "s"),
    Series("high", "High", "#e34a33", "//", "^"),
    Series("critical", "Critical", "#7f0000", "xx", "D"),
)
UNKNOWN_RISK = Series("unknown", "Unknown", "#b0b0b0", "||", "v")
# A session timeline's egress firewall decisions (they carry a verdict, not a risk level).
EGRESS_SERIES = Series("egress", "Egress decision", "#6a51a3", "", "|")
STATUS_SERIES = tuple(  # the badges' colours, order and names (`palette`)
    Series(status.value, status.label, style.fill, style.hatch, marker)
    for (status, style), marker in zip(STATUS_STYLE.items(), "oPDsv", strict=True)
)
CHART_TITLES = {
    "actions_per_day": "Actions per day by risk level",
    "control_status": "Control status per framework",
    "top_action_types": "Most frequent action types",
    "actions_per_agent": "Actions per agent",
    "session_timeline": "Session timelines: events by risk level",
    "trend": "Posture and controls by status, report by report",
}
CHART_KEYS = tuple(CHART_TITLES)

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "text.usetex": False,
    "font.family": "DejaVu Sans",  # shipped with matplotlib: same metrics everywhere
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "hatch.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
}
_METADATA: dict[str, str | None] = {
    "Date": None,
    "Creator": None,
    "Format": None,
    "Type": None,
}
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_GROUP_ID = re.compile(r'<g id="([A-Za-z0-9_.-]+)"')


# -- labels -------------------------------------------------------------------------------


def chart_label(text: object, limit: int = LABEL_LIMIT) -> str:
    """Untrusted text → a short, single-line label that matplotlib draws literally."""
    clean = " ".join(str(text).split())
    clean = "".join("\ufffd" if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in clean)
    if len(clean) > limit:
        clean = clean[: limit - 1].rstrip() + "\u2026"
    return clean.replace("$", r"\$")


# -- figure lifecycle ---------------------------------------------------------------------


@contextmanager
def _chart_style() -> Iterator[None]:
    """matplotlib defaults plus ours; rcParams are restored on exit, whatever happens."""
    with matplotlib.rc_context(), matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def _figure(height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself; never registered with pyplot
    return figure, figure.add_subplot()


def _to_svg(figure: Figure, key: str) -> str:
    """Serialise deterministically; keep only the <svg> element, with ids unique to `key`."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"agent-evidence:{key}", "svg.id": key}):
        figure.savefig(buffer, format="svg", metadata=_METADATA)
    figure.clear()
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :].strip()
    # Group ids are counters ("patch_1"): prefix them so several charts share one page.
    svg = _GROUP_ID.sub(lambda m: f'<g id="{key}-{m.group(1)}"', svg)
    label = CHART_TITLES[key]
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def _no_data(key: str, message: str = "No data") -> str:
    figure = Figure(figsize=(WIDTH, 0.6))
    FigureCanvasAgg(figure)
    figure.text(0.5, 0.5, message, ha="center", va="center", color=EDGE)
    return _to_svg(figure, key)


def _legend(axes: Axes, series: Sequence[Series]) -> None:
    handles = [
        Patch(facecolor=s.color, edgecolor=EDGE, hatch=s.hatch, label=s.label) for s in series
    ]
    _figure_legend(axes, handles)


def _figure_legend(axes: Axes, handles: Sequence[Patch | Line2D]) -> None:
    """Below the plot, outside it: constrained layout makes room, nothing overlaps."""
    figure = axes.get_figure()
    if isinstance(figure, Figure):
        figure.legend(handles=list(handles), loc="outside lower center", ncols=len(handles))


def _marker_handle(series: Series) -> Line2D:
    return Line2D(
        [],
        [],
        linestyle="none",
        marker=series.marker,
        markerfacecolor=series.color,
        markeredgecolor=EDGE,
        label=series.label,
    )


# -- actions per day ----------------------------------------------------------------------


def _day(label: str) -> date | None:
    try:
        return date.fromisoformat(label)
    except ValueError:
        return None


def _risk_series(rows: Sequence[CountRow]) -> list[Series]:
    known = {s.key for s in RISK_SERIES}
    extra = any(k not in known and v for row in rows for k, v in row.detail.items())
    return [*RISK_SERIES, UNKNOWN_RISK] if extra else list(RISK_SERIES)


def _risk_count(row: CountRow, series: Series) -> int:
    if series is UNKNOWN_RISK:
        known = {s.key for s in RISK_SERIES}
        return sum(v for k, v in row.detail.items() if k not in known)
    return row.detail.get(series.key, 0)


def _actions_per_day(model: ReportModel) -> str:
    key = "actions_per_day"
    rows = [(d, r) for r in model.activity.per_day if (d := _day(r.label)) and r.count]
    if not rows:
        return _no_data(key)
    figure, axes = _figure(3.0)
    first, last = min(d for d, _ in rows), max(d for d, _ in rows)
    xs = [(d - first).days for d, _ in rows]
    series = _risk_series([r for _, r in rows])
    bottoms = [0] * len(rows)
    for s in series:
        heights = [_risk_count(r, s) for _, r in rows]
        axes.bar(
            xs,
            heights,
            0.8,
            bottom=bottoms,
            color=s.color,
            edgecolor=EDGE,
            hatch=s.hatch,
            linewidth=0.5,
            label=s.label,
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    _day_ticks(axes, first, (last - first).days)
    axes.set_xlabel(f"Day (UTC), {first.isoformat()} to {last.isoformat()}")
    axes.set_ylabel("Actions")
    _legend(axes, series)
    return _to_svg(figure, key)


def _day_ticks(axes: Axes, first: date, span: int) -> None:
    """At most about twelve day labels, evenly spaced, on a gap-preserving day axis."""
    step = max(1, math.ceil((span + 1) / 12))
    ticks = list(range(0, span + 1, step))
    axes.set_xticks(ticks, [(first + timedelta(days=t)).strftime("%d %b") for t in ticks])
    axes.set_xlim(-0.6, span + 0.6)


# -- control status -----------------------------------------------------------------------


def _stacked_statuses(
    axes: Axes, positions: Sequence[int], counts: Sequence[Mapping[str, int]], *, horizontal: bool
) -> list[int]:
    """One stacked bar per position, controls by status in the badges' order and colours;
    the bars' totals."""
    ends = [0] * len(positions)
    for s in STATUS_SERIES:
        sizes = [c.get(s.key, 0) for c in counts]
        style: dict[str, Any] = {
            "color": s.color,
            "edgecolor": EDGE,
            "hatch": s.hatch,
            "linewidth": 0.5,
        }
        if horizontal:
            axes.barh(positions, sizes, 0.6, left=ends, label=s.label, **style)
        else:
            axes.bar(positions, sizes, 0.6, bottom=ends, label=s.label, **style)
        ends = [a + b for a, b in zip(ends, sizes, strict=True)]
    return ends


def _control_status(model: ReportModel) -> str:
    key = "control_status"
    frameworks = [f for f in model.frameworks if sum(f.counts.values())]
    if not frameworks:
        return _no_data(key)
    figure, axes = _figure(1.3 + 0.4 * len(frameworks))
    rows = list(range(len(frameworks)))
    _stacked_statuses(axes, rows, [f.counts for f in frameworks], horizontal=True)
    axes.set_yticks(rows, [chart_label(f.id) for f in frameworks])
    axes.invert_yaxis()
    axes.set_xlabel("Controls")
    _legend(axes, STATUS_SERIES)
    return _to_svg(figure, key)


# -- simple bar charts --------------------------------------------------------------------


def _capped(rows: Sequence[CountRow]) -> list[tuple[str, int]]:
    """The first rows, and the rest summed as one "other" row (rows are sorted by count)."""
    pairs = [(chart_label(r.label), r.count) for r in rows]
    if len(pairs) <= BAR_ROWS:
        return pairs
    rest = pairs[BAR_ROWS - 1 :]
    other = (f"Other ({len(rest)} more)", sum(c for _, c in rest))
    return [*pairs[: BAR_ROWS - 1], other]


def _bars(key: str, rows: Sequence[CountRow], xlabel: str) -> str:
    pairs = _capped([r for r in rows if r.count])
    if not pairs:
        return _no_data(key)
    figure, axes = _figure(0.8 + 0.24 * len(pairs))
    positions = list(range(len(pairs)))
    container = axes.barh(
        positions, [c for _, c in pairs], 0.65, color=BAR, edgecolor=EDGE, linewidth=0.5
    )
    axes.bar_label(container, labels=[f"{c:,}" for _, c in pairs], padding=2, fontsize=7)
    axes.set_yticks(positions, [label for label, _ in pairs])
    axes.invert_yaxis()
    axes.set_xlabel(xlabel)
    axes.margins(x=0.08)
    return _to_svg(figure, key)


# -- session timelines --------------------------------------------------------------------


def _timestamp(value: str | None) -> datetime | None:
    return utc_instant(value)


@dataclass(frozen=True)
class _Point:
    row: int
    offset: float  # seconds since the session's first event
    risk: str | None
    failed: bool


def _session_points(row: int, session: Session) -> list[_Point]:
    stamped = [(t, e) for e in session.events if (t := _timestamp(e.timestamp)) is not None]
    if not stamped:
        return []
    start = _timestamp(session.start) or min(t for t, _ in stamped)
    return [_point(row, (t - start).total_seconds(), e) for t, e in stamped]


def _point(row: int, offset: float, event: SessionEvent) -> _Point:
    """An agent's action by its risk; a firewall decision as egress, marked when it stopped
    (or changed) the request."""
    if event.source_kind != "agent_receipts":
        return _Point(row, offset, EGRESS_SERIES.key, event.verdict != "allow")
    return _Point(row, offset, event.risk_level, event.outcome == "failure")


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds < 120:
        return 1.0, "seconds"
    if seconds < 7200:
        return 60.0, "minutes"
    return 3600.0, "hours"


def _session_label(session: Session) -> str:
    start = _timestamp(session.start)
    when = start.isoformat(sep=" ", timespec="minutes")[:16] if start else "no time"
    shown = len(session.events)
    count = f"{session.events_total} events"
    if session.events_total > shown:
        count = f"first {shown} of {session.events_total} events"
    return f"{chart_label(session.key)}\n{when} UTC, {count}"


def _series_for(risk: str | None) -> Series:
    return next((s for s in (*RISK_SERIES, EGRESS_SERIES) if s.key == risk), UNKNOWN_RISK)


def _session_timeline(model: ReportModel) -> str:
    key = "session_timeline"
    sessions = list(model.sessions)
    points = [p for i, s in enumerate(sessions) for p in _session_points(i, s)]
    if not points:
        return _no_data(key)
    figure, axes = _figure(1.3 + 0.5 * len(sessions))
    scale, unit = _time_unit(max(p.offset for p in points))
    present = {_series_for(p.risk).key for p in points}
    used = [s for s in (*RISK_SERIES, UNKNOWN_RISK, EGRESS_SERIES) if s.key in present]
    for s in used:
        mine = [p for p in points if _series_for(p.risk) is s]
        axes.scatter(
            [p.offset / scale for p in mine],
            [p.row for p in mine],
            s=30,
            marker=s.marker,
            c=s.color,
            # an unfilled marker (the egress decision's `|`) is drawn in its colour alone
            edgecolors=EDGE if MarkerStyle(s.marker).is_filled() else None,
            linewidths=0.6,
            zorder=3,
        )
    failed = [p for p in points if p.failed]
    if failed:
        axes.scatter(
            [p.offset / scale for p in failed],
            [p.row for p in failed],
            s=60,
            marker="x",
            c="#000000",
            linewidths=1.0,
            zorder=4,
        )
    rows = list(range(len(sessions)))
    axes.set_yticks(rows, [_session_label(s) for s in sessions])
    axes.set_ylim(len(sessions) - 0.5, -0.5)
    axes.grid(axis="x", color="#dddddd", linewidth=0.5)
    axes.set_xlabel(f"Time since session start ({unit})")
    _timeline_legend(axes, used, bool(failed))
    return _to_svg(figure, key)


def _timeline_legend(axes: Axes, used: Sequence[Series], failures: bool) -> None:
    handles = [_marker_handle(s) for s in used]
    if failures:
        handles.append(
            Line2D([], [], linestyle="none", marker="x", color="#000000", label="Failed")
        )
    _figure_legend(axes, handles)


# -- the trend over the last reports -----------------------------------------------------


def _trend(model: ReportModel) -> str:
    """One stacked column per report (oldest first, this one last): its controls by status
    in the badges' order and colours, its posture written above it."""
    key = "trend"
    points = list(model.trend)
    if len(points) < 2:  # no earlier report: nothing to compare (the section says so)
        return _no_data(key)
    figure, axes = _figure(2.4)
    xs = list(range(len(points)))
    bottoms = _stacked_statuses(axes, xs, [p.controls for p in points], horizontal=False)
    top = max(bottoms) or 1
    for x, point, height in zip(xs, points, bottoms, strict=True):
        posture = chart_label(point.posture).replace(" ", "\n", 1)
        axes.text(x, height + top * 0.03, posture, ha="center", va="bottom", fontsize=6.5)
    axes.set_ylim(0, top * 1.3)
    axes.set_xticks(xs, [chart_label(p.period, 14) for p in points])
    axes.set_xlim(-0.6, max(len(points), 4) - 0.4)
    axes.set_ylabel("Controls")
    axes.set_xlabel("Report period (oldest first; posture above each column)")
    _legend(axes, STATUS_SERIES)
    return _to_svg(figure, key)


# -- entry point --------------------------------------------------------------------------


def _renderers() -> dict[str, Callable[[ReportModel], str]]:
    return {
        "actions_per_day": _actions_per_day,
        "control_status": _control_status,
        "top_action_types": lambda m: _bars(
            "top_action_types", m.activity.by_action_type, "Actions"
        ),
        "actions_per_agent": lambda m: _bars("actions_per_agent", m.activity.by_agent, "Actions"),
        "session_timeline": _session_timeline,
        "trend": _trend,
    }


def render_charts(model: ReportModel) -> dict[str, str]:
    """Every chart of the report as inline SVG markup, keyed as in `CHART_KEYS`."""
    renderers = _renderers()
    with _chart_style():
        return {key: renderers[key](model) for key in CHART_KEYS}
