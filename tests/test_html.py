"""The HTML report: every section, the model's figures, a strict CSP, no external request,
and receipt text that stays inert (in the markup and in a real headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined, TemplateNotFound

from reporting.report.charts import render_charts
from reporting.report.html import (
    _environment,
    csp_for,
    render_html,
    reveal_controls,
    templates_dir,
)
from reporting.report.model import ReceiptRef, ReportModel, anchor

CHROMIUM = Path("/usr/bin/chromium")

CHARTS = {
    key: (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 60" width="300" height="60" '
        f'role="img" aria-label="{key}"><rect x="0" y="0" width="{80 + 40 * i}" height="30" '
        f'fill="#36c"/><text x="4" y="50" font-size="12">chart {key}</text></svg>'
    )
    for i, key in enumerate(
        [
            "actions_per_day",
            "control_status",
            "top_action_types",
            "actions_per_agent",
            "session_timeline",
        ]
    )
}

SECTION_HEADINGS = (
    "Executive summary",
    "Scope and method",
    "Evidence integrity",
    "Activity",
    "Session timelines",
    "Findings",
    "Attribution and delegation",
    "Limitations",
    "Appendix",
)
SECTION_IDS = (
    "cover",
    "summary",
    "scope",
    "integrity",
    "activity",
    "sessions",
    "findings",
    "attribution",
    "limitations",
    "appendix",
)

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror="document.title=\'pwned\'">'
STYLE = "</style><style>body{display:none}</style>"
JS_URL = "javascript:alert(1)"
BIDI = "invoice\u202etxt.exe\u2066isolated\u2069\u202a\u202b\u202c\u202d"
FILE_URL = "file:///etc/passwd"
LOCAL_URL = "http://127.0.0.1:9/x"
IMG_URL = '<img src="http://127.0.0.1:9/x"><img src="file:///etc/passwd">'
PAYLOADS = (SCRIPT, IMG, STYLE, JS_URL, BIDI, FILE_URL, LOCAL_URL, IMG_URL)
BIDI_CHARS = re.compile("[\u202a-\u202e\u2066-\u2069]")


# -- a hostile model: receipt text everywhere the report prints it ------------------------


def _poison_ref(ref: ReceiptRef, i: int) -> ReceiptRef:
    return replace(
        ref,
        target=PAYLOADS[i % len(PAYLOADS)],
        principal=PAYLOADS[(i + 1) % len(PAYLOADS)],
        issuer=PAYLOADS[(i + 2) % len(PAYLOADS)],
        action_type=PAYLOADS[(i + 3) % len(PAYLOADS)],
        origin=PAYLOADS[(i + 4) % len(PAYLOADS)],
    )


def _poison_refs(refs: tuple[ReceiptRef, ...]) -> tuple[ReceiptRef, ...]:
    return tuple(_poison_ref(r, i) for i, r in enumerate(refs))


def hostile_model(model: ReportModel) -> ReportModel:
    """`model` with every kind of receipt-derived text replaced by injection payloads."""
    every = " ".join(PAYLOADS)
    activity = replace(
        model.activity,
        failures=_poison_refs(model.activity.failures),
        high_risk=_poison_refs(model.activity.high_risk),
        by_agent=tuple(
            replace(r, label=PAYLOADS[i % len(PAYLOADS)])
            for i, r in enumerate(model.activity.by_agent)
        ),
        by_principal=tuple(replace(r, label=every) for r in model.activity.by_principal),
    )
    sessions = tuple(
        replace(
            s,
            key=every,
            principal=IMG,
            agents=PAYLOADS,
            events=tuple(replace(e, issuer=SCRIPT, action_type=BIDI) for e in s.events),
        )
        for s in model.sessions
    )
    findings = tuple(replace(f, receipts=_poison_refs(f.receipts)) for f in model.findings)
    frameworks = tuple(
        replace(
            fw,
            controls=tuple(
                replace(c, sample_evidence=_poison_refs(c.sample_evidence)) for c in fw.controls
            ),
        )
        for fw in model.frameworks
    )
    problem = {"code": "UNREADABLE", "severity": "failure", "message": every, "origin": IMG}
    delegation = {"chain_id": SCRIPT, "issuer": IMG, "parent_chain_id": JS_URL, "verified": False}
    return replace(
        model,
        organisation=f"Example {every}",
        integrity=(replace(model.integrity[0], chain_id=every, issuer=IMG), *model.integrity[1:]),
        input_problems=(*model.input_problems, problem),
        activity=activity,
        sessions=sessions,
        findings=findings,
        frameworks=frameworks,
        attribution=tuple(
            replace(r, label=SCRIPT, detail={IMG: 1, STYLE: 2}) for r in model.attribution
        ),
        delegations=(delegation, *model.delegations),
        cited_receipts=_poison_refs(model.cited_receipts),
        scope=replace(
            model.scope,
            sources=({"path": IMG_URL, "kind": "store", "records": 1, "sha256": None},),
            settings={"organisation": every},
        ),
    )


# -- markup inspection --------------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag with its attributes, and the text of <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def model(sample_report: Any) -> ReportModel:
    result: ReportModel = sample_report.model
    return result


@pytest.fixture(scope="module")
def html(model: ReportModel) -> str:
    return render_html(model, CHARTS)


@pytest.fixture(scope="module")
def hostile_html(model: ReportModel) -> str:
    return render_html(hostile_model(model), CHARTS)


# -- content ------------------------------------------------------------------------------


def test_every_section_in_order(html: str, model: ReportModel) -> None:
    ids = [attrs.get("id") for tag, attrs in elements(html).tags if tag in {"section", "header"}]
    expected = [*SECTION_IDS[:6], *(f"fw-{fw.id}" for fw in model.frameworks), *SECTION_IDS[6:]]
    assert ids == expected
    for heading in SECTION_HEADINGS:
        assert re.search(rf"<h2[^>]*>{re.escape(heading)}</h2>", html), heading
    for fw in model.frameworks:
        assert f"<h2>{fw.title}</h2>" in html


def test_cover_names_the_report(html: str, model: ReportModel) -> None:
    assert model.organisation in html
    assert model.report_id in html
    assert model.posture.value in html
    assert model.posture_reason in html
    assert "Signature: see the signed PDF / manifest" in html
    assert "2026-10-01 00:00:00 to 2026-11-01 00:00:00 UTC" in html


def test_key_figures_appear_formatted(html: str, model: ReportModel) -> None:
    figures = model.figures
    assert figures.receipts_in_scope > 999  # the sample is big enough to need a separator
    for value in (
        figures.receipts_in_scope,
        figures.trusted_receipts,
        figures.chains,
        figures.high_risk_actions,
        figures.failed_actions,
    ):
        assert f'<span class="n">{value:,}</span>' in html


def test_every_control_and_finding_has_its_anchor_and_links(html: str, model: ReportModel) -> None:
    ids = [attrs.get("id") for _, attrs in elements(html).tags if attrs.get("id")]
    assert len(ids) == len(set(ids)), "duplicate ids"
    hrefs = {
        attrs["href"] for tag, attrs in elements(html).tags if tag == "a" and attrs.get("href")
    }
    controls = [c for fw in model.frameworks for c in fw.controls]
    assert controls
    assert model.findings
    for control in controls:
        assert control.anchor in ids
        assert f"#{control.anchor}" in hrefs  # from the control matrix
    for finding in model.findings:
        assert finding.id in ids
        assert f"#{finding.id}" in hrefs
    # every internal link lands somewhere
    assert {h[1:] for h in hrefs if h.startswith("#")} <= set(ids)


def test_findings_link_back_to_their_controls(html: str, model: ReportModel) -> None:
    finding = model.findings[0]
    block = html[html.index(f'id="{finding.id}"') :]
    block = block[: block.index("</div>")]
    assert finding.controls
    for ref in finding.controls:
        framework_id, _, control_id = ref.partition(":")
        assert f'href="#{anchor(framework_id, control_id)}"' in block


def test_counts_of_omitted_rows_are_stated(html: str, model: ReportModel) -> None:
    activity = model.activity
    assert activity.failures_total > len(activity.failures)
    shown = len(activity.failures)
    more = activity.failures_total - shown
    assert f"Showing {shown} of {activity.failures_total} failed actions; {more} more" in html


def test_wording_never_claims_compliance(html: str) -> None:
    text = re.sub(r"<[^>]+>", " ", html).lower()
    assert "supports" in text
    assert "does not support" in text
    assert not re.search(r"\bcompliant\b", text)


def test_charts_are_inlined(html: str) -> None:
    for key in CHARTS:
        assert f"chart {key}" in html


# -- sandboxing ---------------------------------------------------------------------------


def test_csp_is_strict(html: str) -> None:
    metas = [attrs for tag, attrs in elements(html).tags if tag == "meta"]
    csp = next(m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == "'unsafe-inline'"
    assert directives["img-src"] == "data:"
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", directives["script-src"])
    assert "unsafe-eval" not in csp
    assert {"name": "referrer", "content": "no-referrer"} in metas


def test_only_our_hashed_script(html: str) -> None:
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
    assert len(scripts) == 1
    metas = [attrs for tag, attrs in elements(html).tags if tag == "meta"]
    csp = next(m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy")
    assert csp == csp_for(scripts[0])


def test_nothing_loads_from_anywhere(html: str) -> None:
    tags = elements(html).tags
    for tag, attrs in tags:
        assert tag not in {"img", "iframe", "object", "embed", "link", "base", "form"}, tag
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
    style = html[html.index("<style>") : html.index("</style>")]
    assert "url(" not in style
    assert "@import" not in style
    assert "@font-face" not in style
    assert not re.search(r"""(src|href|action|poster|data)\s*=\s*["']?\s*(https?:|//)""", html)


def test_templates_come_from_the_shipped_directory_only() -> None:
    env = _environment()
    assert templates_dir() == Path(__file__).resolve().parents[1] / "templates"
    for escape_attempt in ("../pyproject.toml", "/etc/passwd", "sections/../../README.md"):
        with pytest.raises(TemplateNotFound):
            env.get_template(escape_attempt)
    assert env.autoescape is not False
    assert env.undefined is StrictUndefined
    assert not env.extensions


def test_render_is_deterministic(model: ReportModel, html: str) -> None:
    assert render_html(model, CHARTS) == html


# -- hostile receipt text -----------------------------------------------------------------


def test_hostile_text_is_escaped(hostile_html: str) -> None:
    html = hostile_html
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert STYLE not in html
    assert "&lt;/style&gt;&lt;style&gt;body{display:none}&lt;/style&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=" in html
    assert JS_URL in html  # as text only
    tags = elements(html).tags
    assert [t for t, _ in tags].count("script") == 1
    assert [t for t, _ in tags].count("style") == 1
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for value in attrs.values():
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, attrs)
        assert tag != "img"


def test_hostile_bidi_controls_are_visible(hostile_html: str) -> None:
    assert not BIDI_CHARS.search(hostile_html)
    assert "invoice[U+202E]txt.exe[U+2066]isolated[U+2069]" in hostile_html
    assert reveal_controls("a\u202eb\x00c\td") == "a[U+202E]b[U+0000]c\td"


def test_hostile_text_does_not_break_out_of_attributes(hostile_html: str) -> None:
    parser = elements(hostile_html)
    metas = [attrs for tag, attrs in parser.tags if tag == "meta"]
    author = next(m["content"] for m in metas if m.get("name") == "author")
    assert author is not None
    assert IMG in author  # the payload stayed inside the attribute value
    assert parser.title.startswith("Agent evidence report ")


# -- a real browser -----------------------------------------------------------------------


def _chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return Path(found)
    reason = f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must provide it", pytrace=False)
    pytest.skip(reason)


def _run_chromium(tmp: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(_chromium()),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


def _page_requests(net_log: Path) -> list[str]:
    """URLs the page asked for: requests carrying the file:// page as their network
    isolation key or initiator. Chromium's own background requests have neither."""
    log = json.loads(net_log.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if names.get(event["type"]) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue
        initiator = str(params.get("initiator", ""))
        isolation = str(params.get("network_isolation_key", ""))
        if "file://" in isolation or initiator not in {"", "not an origin"}:
            urls.append(params["url"])
    return urls


def _browse(tmp_path: Path, html: str, name: str) -> tuple[str, list[str]]:
    page = tmp_path / name
    page.write_text(html, encoding="utf-8")
    net_log = tmp_path / f"{name}.netlog.json"
    result = _run_chromium(tmp_path, page, f"--log-net-log={net_log}", "--dump-dom")
    return result.stdout, _page_requests(net_log)


def test_browser_net_log_detects_page_requests(tmp_path: Path) -> None:
    """The network check can fail: a page that does load things is caught."""
    probe = '<!DOCTYPE html><title>probe</title><img src="http://127.0.0.1:9/probe.png">'
    _, requests = _browse(tmp_path, probe, "probe.html")
    assert "http://127.0.0.1:9/probe.png" in requests


def test_browser_renders_report_without_requests(tmp_path: Path, html: str) -> None:
    dom, requests = _browse(tmp_path, html, "report.html")
    assert requests == []
    for section in SECTION_IDS:
        assert f'id="{section}"' in dom
    assert 'data-script="ready"' in dom  # our script ran: its CSP hash is right
    assert 'class="filter no-print"' in dom


def test_browser_runs_no_hostile_script(tmp_path: Path, hostile_html: str) -> None:
    dom, requests = _browse(tmp_path, hostile_html, "hostile.html")
    assert requests == []
    assert 'data-script="ready"' in dom
    parser = elements(dom)
    sent = elements(hostile_html).title
    assert sent.startswith("Agent evidence report ")
    assert parser.title == sent  # no onerror rewrote document.title
    assert not [tag for tag, _ in parser.tags if tag == "img"]
    assert [tag for tag, _ in parser.tags].count("script") == 1


def test_browser_screenshot(tmp_path: Path, html: str) -> None:
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    _run_chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,2000")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 50_000  # a rendered page, not a blank one


def test_browser_with_the_real_charts(tmp_path: Path, model: ReportModel) -> None:
    """With the chart module's SVGs: still no request, unique ids."""
    html = render_html(model, render_charts(model))
    ids = [attrs["id"] for _, attrs in elements(html).tags if attrs.get("id")]
    assert len(ids) == len(set(ids))
    dom, requests = _browse(tmp_path, html, "charts.html")
    assert requests == []
    assert dom.count("<svg") >= len(CHARTS)
