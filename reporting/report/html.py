"""Report model → one self-contained HTML document.

Jinja2 with autoescaping everywhere and `StrictUndefined`, loading only from the shipped
`templates/` directory. Every printed value passes through `finalize`, which turns bidi
and other control characters into visible code point text, so receipt text (targets,
agent names, principals, errors) can neither inject markup nor reorder what a reader
sees. The SVG charts come from our own chart code and are inserted as trusted markup.

Receipt text is also bounded, never silently: the templates print it through the `clip`
filter with a size per context (`TEXT_LIMITS`: identifiers, names, table cells, longer
text), which keeps the first characters and says how many were left out
(`… [12,345 more characters]`); `finalize` applies `TEXT_BACKSTOP` to any other string.
Clipping happens before controls are revealed and before escaping, so an entity is never
cut in half and the marker is plain escaped text. One hostile receipt with a megabyte
target would otherwise cost the PDF layout minutes (WeasyPrint's cost grows faster than
the text) and fill pages wherever it is listed. The report model and every export stay
complete; the document's limitations say where the full text is.

The document carries a strict Content-Security-Policy: no request to any origin, inline
styles only, and our one sorting script allowed by its SHA-256. The output depends on
the model, the charts and the medium only (no clock), so it is reproducible. The PDF
renderer uses the same templates with `Medium(pdf=True, ...)`: tighter row limits and
notes pointing at the attached files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from markupsafe import Markup, escape

from reporting.controls.vocabulary import CheckStatus, ControlStatus, Severity
from reporting.errors import Diagnostic, DiagnosticCode, EvidenceError
from reporting.report import wording
from reporting.report.model import (
    ChainRow,
    ControlSection,
    EvidenceRequest,
    ReportModel,
    anchor,
    utc_instant,
)
from reporting.report.palette import status_css

__all__ = [
    "HTML_LIMITS",
    "PDF_LIMITS",
    "TEXT_BACKSTOP",
    "TEXT_LIMITS",
    "AttachmentInfo",
    "Limits",
    "Medium",
    "RenderError",
    "clip_text",
    "csp_for",
    "render_document",
    "render_html",
    "reveal_controls",
    "templates_dir",
]

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
SCRIPT = "report.js"

# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the implicit
# marks (U+200E, U+200F, U+061C), and C0/C1 controls other than tab and newline.
_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x00-\x08\x0b-\x1f\x7f-\x9f]")

# How many characters of receipt text each context shows (counted before controls are
# revealed), chosen so a clipped value stays a few lines in its column of the A4 PDF.
# Real values fit with room to spare: in the samples, receipt ids are at most 48
# characters, DIDs and chain ids 26, action types 32, targets 80, hashes 71.
TEXT_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "id": 120,  # receipt, chain, session and parent ids, hashes
        "short": 60,  # agents and principals in compact lists (a finding's agents)
        "name": 160,  # agents, principals, delegators, action types, outcomes, risk levels
        "cell": 200,  # targets, origins: the widest receipt text in a table cell
        "text": 1000,  # messages and check figures, which may list many receipt values
    }
)
# Any printed string that no template clipped (`finalize`): well above every limit above
# and above the text of the shipped mappings (under 1,000 characters), so it only bounds
# what a template forgot to clip.
TEXT_BACKSTOP = 5000


class RenderError(EvidenceError):
    """The report could not be rendered (templates missing or broken): an internal error."""

    exit_code = 3


@dataclass(frozen=True)
class Limits:
    """How many rows each list shows. The model's lists are already bounded; these bound
    the rendered document further (the PDF must stay within about 60 pages)."""

    chains: int = 5000
    problems: int = 500
    days: int = 400
    counts: int = 100
    receipts: int = 50
    session_events: int = 40
    session_chains: int = 50
    samples: int = 5
    finding_receipts: int = 25
    finding_details: int = 1000
    finding_chains: int = 100
    principals: int = 50
    delegations: int = 50
    cited: int = 2000
    top_findings: int = 5
    phrases: int = 60  # a check's figures and parameters, each
    agents: int = 200
    top_agents: int = 10  # in the executive summary


HTML_LIMITS = Limits()
PDF_LIMITS = Limits(
    chains=80,
    problems=20,
    days=62,
    counts=12,
    receipts=12,
    session_events=12,
    session_chains=10,
    samples=2,
    finding_receipts=5,
    finding_details=25,
    finding_chains=12,
    principals=8,
    delegations=15,
    cited=60,
    phrases=6,
    agents=25,
)


@dataclass(frozen=True)
class AttachmentInfo:
    """What the appendix says about a file attached to the PDF (known before the file's
    bytes are: the PDF is laid out while the exports are built; their sizes and digests
    are in the attached manifest)."""

    name: str
    media_type: str
    description: str


@dataclass(frozen=True)
class Medium:
    """Where the document goes: the browser (with the sorting script) or the PDF."""

    pdf: bool = False
    limits: Limits = HTML_LIMITS
    attachments: tuple[AttachmentInfo, ...] = ()
    name: str = ""  # the document's file name, where it refers to itself (the brief)


# -- presentation vocabulary (words only; the model already decided) ----------------------

STATUS_ORDER = tuple(status.value for status in ControlStatus)
LABELS = {
    "status": {status.value: status.label for status in ControlStatus},
    "check": {status.value: status.label for status in CheckStatus},
    "severity": {severity.value: severity.label for severity in Severity},
}
ICONS = {
    "status": {
        "SATISFIED": "✔",
        "SUPPORTED_IN_PART": "◐",
        "NOT_SATISFIED": "✘",
        "INDETERMINATE": "?",
        "MANUAL": "✎",
    },
    "check": {"PASS": "✔", "FAIL": "✘", "INDETERMINATE": "?", "NOT_APPLICABLE": "\u2013"},
    "severity": {"critical": "‼", "high": "▲", "medium": "●", "low": "○"},
    "posture": {"INTEGRITY BROKEN": "✘", "NO EVIDENCE": "∅", "ATTENTION": "⚠", "SUPPORTED": "✔"},
}
STATUS_SENTENCE = {status.value: status.meaning for status in ControlStatus}
POSTURE_HELP = {
    "INTEGRITY BROKEN": "Some evidence failed cryptographic verification; resolve the "
    "integrity findings before relying on any control result.",
    "NO EVIDENCE": "No receipt falls in this report's period and scope: nothing was verified "
    "or assessed, so this report supports no requirement. Check the period, the chain "
    "selection and the sources.",
    "ATTENTION": "The evidence is intact, but it does not support some mapped requirements.",
    "SUPPORTED": "The evidence is intact and contradicts none of the mapped requirements; "
    "manual evidence is still needed where listed.",
}
RISK_ORDER = ("critical", "high", "medium", "low")


# -- filters ------------------------------------------------------------------------------


def reveal_controls(text: str) -> str:
    """Replace bidi and control characters with visible code point text, e.g. `[U+202E]`."""
    return _CONTROLS.sub(lambda match: f"[U+{ord(match.group()):04X}]", text)


def clip_text(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its first `limit` characters and
    a visible count of the rest: `abc… [1,234 more characters]`. Plain text (escape it
    afterwards); the count does not depend on the locale."""
    if len(text) <= limit:
        return text
    omitted = len(text) - limit
    unit = "character" if omitted == 1 else "characters"
    return f"{text[:limit]}\u2026 [{omitted:,} more {unit}]"


def _clip(value: Any, size: str = "text") -> Any:
    """The `clip` filter: receipt text shortened to `TEXT_LIMITS[size]`. Anything else
    (None, numbers) passes unchanged, so `x|clip("name") or "—"` works. Markup is ours
    (a macro, `join`): clip the items before joining them."""
    limit = TEXT_LIMITS[size]
    if isinstance(value, str) and not isinstance(value, Markup):
        return clip_text(value, limit)
    return value


def _finalize(value: Any) -> Any:
    """Applied to every `{{ }}` output before escaping: bound plain text at the backstop
    and reveal controls, even in markup (the replacement text contains nothing HTML gives
    meaning to)."""
    if isinstance(value, Markup):
        return Markup(reveal_controls(str(value)))  # noqa: S704 - already markup
    if isinstance(value, str):
        return reveal_controls(clip_text(value, TEXT_BACKSTOP))
    return value


def _num(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _ts(value: str | None) -> str:
    """ISO 8601 → `YYYY-MM-DD HH:MM:SS` in UTC (the tables say UTC); unparsable text as is."""
    if not value:
        return "—"
    moment = utc_instant(value)
    if moment is None:
        return value
    return moment.isoformat(sep=" ", timespec="seconds")[:19]


def _ts_short(value: str | None) -> str:
    """`YYYY-MM-DD HH:MM` in UTC, for dense tables."""
    full = _ts(value)
    return full[:16] if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", full) else full


def _breakable(value: Any) -> Markup:
    """Escaped text with break opportunities after `_`, `.` and `/` (long codes, paths)."""
    escaped = str(escape(reveal_controls(clip_text(str(value), TEXT_BACKSTOP))))
    return Markup(re.sub(r"([_./])", r"\1<wbr>", escaped))  # noqa: S704 - escaped above


@pass_context
def _identifier(context: Any, value: Any, size: str = "id") -> Markup:
    """An identifier (DID, e-mail address, URN, chain id) escaped, with break opportunities
    after `@`, `:` and `/` only, so a narrow cell wraps it between its parts, never inside
    a word. For element text, never attributes. Clipped to `size` first. The browser gets
    `<wbr>`; the PDF a zero-width space, which is what WeasyPrint makes of `<wbr>` but
    also honoured inside nested inline elements (where its `<wbr>` is not), and which it
    leaves out of the text layer, so a copied id stays whole."""
    if value is None:
        return Markup("")
    escaped = str(escape(reveal_controls(clip_text(str(value), TEXT_LIMITS[size]))))
    opportunity = "\u200b" if context.get("pdf") else "<wbr>"
    return Markup(re.sub(r"([@:/])", lambda m: m.group(1) + opportunity, escaped))  # noqa: S704


def _by_owner(
    requests: Iterable[EvidenceRequest],
) -> list[tuple[str | None, list[EvidenceRequest]]]:
    """The manual-evidence requests per owner (None: no owner named), owners in the order
    the list meets them, each one's requests in list order."""
    groups: dict[str | None, list[EvidenceRequest]] = {}
    for request in requests:
        groups.setdefault(request.owner, []).append(request)
    return list(groups.items())


def _count(value: int, one: str, many: str | None = None) -> str:
    return wording.count(int(value), one, many)


_LOUD = frozenset({ControlStatus.NOT_SATISFIED.value, ControlStatus.INDETERMINATE.value})


def _quiet(control: ControlSection, decided: Collection[str]) -> bool:
    """The `quiet` test: a control with nothing to say beyond its status, no check that
    failed or could not decide and no finding or exception its checks decide (`decided`:
    their anchors; one that only informs it may be named). The PDF gives it one line."""
    return control.status not in _LOUD and control.anchor not in decided


def _decided(model: ReportModel) -> frozenset[str]:
    """The anchors of the controls a finding or exception decides."""
    refs = {ref for f in (*model.findings, *model.exceptions) for ref in f.controls}
    return frozenset(anchor(*ref.split(":", 1)) for ref in refs)


def _slug(value: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(value).lower()).strip("-")


def _short_hash(value: str | None) -> str:
    if not value:
        return "—"
    algorithm, _, digest = value.rpartition(":")
    prefix = f"{algorithm}:" if algorithm else ""
    return f"{prefix}{digest[:12]}…" if len(digest) > 12 else value


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _kv(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={_compact(value)}" for key, value in sorted(mapping.items()))


# -- environment --------------------------------------------------------------------------


def templates_dir() -> Path:
    """The shipped templates: the source tree's `templates/`, else the installed package's."""
    candidates = [
        Path(__file__).resolve().parents[2] / "templates",
        Path(str(resources.files("reporting"))) / "templates",
    ]
    for directory in candidates:
        if (directory / TEMPLATE).is_file():
            return directory
    searched = ", ".join(str(c) for c in candidates)
    raise RenderError(Diagnostic(DiagnosticCode.TEMPLATES_MISSING, f"no {TEMPLATE} in {searched}"))


@cache
def _environment() -> Environment:
    """Autoescaped, strict, no extensions; the loader cannot leave `templates/`."""
    env = Environment(
        loader=FileSystemLoader(templates_dir(), followlinks=False),
        autoescape=select_autoescape(
            enabled_extensions=("html", "j2", "htm", "xml", "svg"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        finalize=_finalize,
        extensions=(),
        trim_blocks=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters.update(
        num=_num,
        ts=_ts,
        ts_short=_ts_short,
        breakable=_breakable,
        clip=_clip,
        slug=_slug,
        short_hash=_short_hash,
        compact=_compact,
        kv=_kv,
        ident=_identifier,
        count=_count,
        by_owner=_by_owner,
        plural=lambda n, one, many=None: wording.plural(int(n), one, many),
        percent=wording.percent,
        parameters=lambda k: wording.parameter_phrases(k.check, k.params),
        figures=lambda k: wording.figure_phrases(k.check, k.metrics),
        setting=lambda value, key: wording.setting_phrases(key, value),
    )
    env.tests["startswith"] = lambda value, prefix: str(value).startswith(prefix)
    env.tests["quiet"] = _quiet
    env.globals.update(
        labels=LABELS,
        icons=ICONS,
        status_order=STATUS_ORDER,
        status_sentence=STATUS_SENTENCE,
        posture_help=POSTURE_HELP,
        text_limits=TEXT_LIMITS,
        crosswalk_note=wording.crosswalk_note,
        units=wording.UNIT_WORDS,
    )
    return env


@cache
def _asset(name: str) -> str:
    return (templates_dir() / name).read_text(encoding="utf-8")


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def csp_for(script: str | None) -> str:
    """The document's Content-Security-Policy: nothing but inline style, data: images and
    (when there is one) our own script by hash."""
    policy = [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if script is not None:
        policy.append(f"script-src '{_script_hash(script)}'")
    return "; ".join(policy)


# -- context helpers ----------------------------------------------------------------------


def _period(model: ReportModel) -> str:
    since = _ts(model.scope.period_since) if model.scope.period_since else "the first receipt"
    until = _ts(model.scope.period_until) if model.scope.period_until else "the last receipt"
    return f"{since} to {until} UTC (end exclusive)"


def _integrity_rows(rows: Iterable[ChainRow]) -> list[ChainRow]:
    """Chains that failed verification first, then those verified with a grounded-principal
    finding, then the rest, each by chain id (the model's order)."""
    return sorted(rows, key=lambda row: (row.authentic, row.valid, row.chain_id))


def _risk_levels(model: ReportModel) -> list[str]:
    seen = {level for row in model.activity.per_day for level in row.detail}
    return [r for r in RISK_ORDER if r in seen] + sorted(seen - set(RISK_ORDER))


def _where(attached: bool) -> dict[str, str]:
    """Where the rows a bounded list leaves out can be found (noun phrases)."""
    model = "the attached JSON report model" if attached else "the JSON export (report model)"
    findings = (
        "the attached findings CSV and JSON report model"
        if attached
        else "the findings CSV and the JSON export"
    )
    return {
        "model": model,
        "findings": findings,
        "cited": model,
        "receipts": "the sources named under Scope and method "
        "(agent-evidence verify --json lists every receipt)",
    }


def _control_linker(model: ReportModel) -> tuple[Any, Any]:
    known = {c.anchor for fw in model.frameworks for c in fw.controls}

    def control_link(framework_id: str, control_id: str) -> Markup:
        target = anchor(framework_id, control_id)
        text = reveal_controls(control_id)
        if target in known:
            return Markup('<a href="#{}">{}</a>').format(target, text)
        return escape(text)

    def control_ref_link(reference: str) -> Markup:
        framework_id, _, control_id = reference.partition(":")
        link = control_link(framework_id, control_id)
        return Markup("{} {}").format(reveal_controls(framework_id), link)

    return control_link, control_ref_link


def _context(model: ReportModel, charts: Mapping[str, str], medium: Medium) -> dict[str, Any]:
    script = None if medium.pdf else _asset(SCRIPT)
    control_link, control_ref_link = _control_linker(model)
    return {
        "model": model,
        # Trusted: produced by our chart code from the model, never by receipts.
        "charts": {key: Markup(svg) for key, svg in charts.items()},  # noqa: S704
        "pdf": medium.pdf,
        "limits": medium.limits,
        "attachments": medium.attachments,
        "where": _where(bool(medium.attachments)),
        "css": Markup(_asset(STYLESHEET) + "\n" + status_css()),  # noqa: S704 - ours
        "script": Markup(script) if script else None,  # noqa: S704 - our script
        "csp": csp_for(script),
        "created": _pdf_date(model.as_of) if medium.pdf else None,
        "period": _period(model),
        "integrity_rows": _integrity_rows(model.integrity),
        "risk_levels": _risk_levels(model),
        "control_link": control_link,
        "control_ref_link": control_ref_link,
        # Against the previous report: each finding's disposition and change, by its key.
        "disposition_of": {d.finding_key: d for d in model.dispositions if d.finding_id},
        "change_of": {c.key: c for c in model.previous.findings},
        "brief_name": medium.name or "BRIEF.pdf",
        "decided": _decided(model),
    }


def _pdf_date(as_of: str | None) -> str | None:
    """The document date for PDF metadata: the evidence's own latest time, to the second."""
    moment = utc_instant(as_of)
    return None if moment is None else moment.isoformat(timespec="seconds")


# -- entry points -------------------------------------------------------------------------


def render_document(
    model: ReportModel,
    charts: Mapping[str, str],
    medium: Medium | None = None,
    *,
    template: str = TEMPLATE,
) -> str:
    """The report (or, with `template`, another document of it: the brief) as HTML for
    `medium` (the browser by default)."""
    document = _environment().get_template(template)
    return document.render(_context(model, charts, medium or Medium()))


def render_html(model: ReportModel, charts: Mapping[str, str]) -> str:
    """The self-contained HTML report: inline CSS and SVG, strict CSP, no external request."""
    return render_document(model, charts, Medium())
