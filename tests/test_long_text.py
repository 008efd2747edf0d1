"""Long receipt text: shortened in the HTML and the PDF with a visible count, complete in
the exports.

Receipts signed with the reference SDK carry (a) a 1 MB target resource, (b) a
20,000-character error, (c) a 5,000-character prompt preview, agent (issuer id and name),
chain id and session id. The same receipts with short strings are the baseline: both go
through `run_report` and `render_artefacts`. The document shows only a clipped prefix
and `… [N more characters]`; the PDF is laid out in about the baseline's time and pages
(before clipping, WeasyPrint took minutes on a 20,000-character target); the JSON, CSV
and cited receipts keep every character.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from pypdf import PdfReader

from reporting.pipeline import ReportRun, render_report, run_report
from reporting.report.artefacts import Artefact
from reporting.report.charts import render_charts
from reporting.report.html import TEXT_BACKSTOP, TEXT_LIMITS, clip_text, render_html
from reporting.report.model import ReportModel
from reporting.settings import RunSettings, VerifyRequest

from .factory import ChainBuilder, Key, resign, write_jsonl

KEY = Key.from_seed("long-text")
FORMATS = ("html", "pdf", "json", "csv")
PAGE_SLACK = 4  # pages the long run may differ from the baseline by (the exceptions to
# disposition add a receipt table whose cells hold the long texts)
TIME_FACTOR = 3.0  # the long run's PDF may take this many times the baseline's


@dataclass(frozen=True)
class Texts:
    """The receipt strings that differ between the baseline and the long run."""

    target: str  # action.target.resource
    error: str  # outcome.error
    prompt: str  # intent.prompt_preview
    agent: str  # issuer.id: the agent as the report names it
    agent_name: str  # issuer.name
    chain: str  # chain.chain_id
    session: str  # issuer.session_id


SHORT = Texts(
    target="records/42",
    error="upstream timeout",
    prompt="Export the customer list",
    agent="did:agent:exporter",
    agent_name="Exporter",
    chain="chain_export",
    session="session-export",
)
LONG = Texts(
    target="T" * 1_000_000,
    error="E" * 20_000,
    prompt="P" * 5_000,
    agent="did:agent:" + "A" * 4_990,
    agent_name="N" * 5_000,
    chain="chain_" + "C" * 4_994,
    session="S" * 5_000,
)
TARGET_SYSTEM = "crm"


def _name(builder: ChainBuilder, name: str) -> None:
    """Give the last receipt's issuer `name` and sign it again (the builder fixes the name;
    the next receipt links to the re-signed one)."""
    doc = json.loads(json.dumps(builder.receipts[-1]))
    doc["issuer"]["name"] = name
    builder.receipts[-1] = resign(doc, KEY)


def _receipts(texts: Texts) -> list[dict[str, Any]]:
    """Two ordinary chains, and one whose strings are `texts`: high risk, failures, no
    authorization, so its receipts are listed in the activity and findings tables."""
    receipts: list[dict[str, Any]] = []
    for n in range(2):
        builder = ChainBuilder(KEY, chain_id=f"chain_ordinary_{n}", issuer=f"did:agent:o{n}")
        for i in range(5):
            builder.add(
                "data.api.write" if i % 2 else "filesystem.file.read",
                "high" if i % 3 == 0 else "low",
                outcome="failure" if i == 4 else "success",
                target={"system": TARGET_SYSTEM, "resource": f"records/{n}{i}"},
            )
        receipts += builder.receipts
    builder = ChainBuilder(KEY, chain_id=texts.chain, issuer=texts.agent)
    issuer = {"session_id": texts.session}
    builder.add(
        "data.api.write",
        "high",
        outcome="failure",
        target={"system": TARGET_SYSTEM, "resource": texts.target},  # (a)
        issuer_fields=issuer,
    )
    _name(builder, texts.agent_name)
    builder.add(
        "data.api.write",
        "high",
        outcome="failure",
        outcome_fields={"error": texts.error},  # (b)
        issuer_fields=issuer,
    )
    _name(builder, texts.agent_name)
    builder.add(
        "data.api.delete",
        "critical",
        intent={"prompt_preview": texts.prompt},  # (c)
        issuer_fields=issuer,
    )
    _name(builder, texts.agent_name)
    builder.add(issuer_fields=issuer)
    _name(builder, texts.agent_name)
    return receipts + builder.receipts


@dataclass(frozen=True)
class Rendered:
    run: ReportRun
    artefacts: dict[str, Artefact]
    seconds: float  # render_artefacts: charts, HTML, PDF and exports

    def get(self, suffix: str) -> bytes:
        return self.artefacts[suffix].data

    @property
    def html(self) -> str:
        return self.get(".html").decode("utf-8")

    @property
    def pdf_text(self) -> str:
        reader = PdfReader(io.BytesIO(self.get(".pdf")))
        return "\n".join(page.extract_text() for page in reader.pages)

    @property
    def pages(self) -> int:
        return len(PdfReader(io.BytesIO(self.get(".pdf"))).pages)


def _suffix(artefact: Artefact) -> str:
    for ending in ("-findings.csv", "-cited-receipts.jsonl", "-verification.json", "-oscal.json"):
        if artefact.name.endswith(ending):
            return ending
    return Path(artefact.name).suffix if artefact.name != "manifest.json" else "manifest"


def _render(directory: Path, texts: Texts) -> Rendered:
    source = write_jsonl(directory / "receipts.jsonl", _receipts(texts))
    settings = RunSettings(
        verify=VerifyRequest(sources=(str(source),), keys=KEY.write_pem(directory / "key.pem")),
        frameworks=("soc2",),
        organisation="Example Corp",
    )
    run = run_report(settings)
    start = time.perf_counter()
    artefacts = render_report(run, FORMATS)
    seconds = time.perf_counter() - start
    return Rendered(run, {_suffix(a): a for a in artefacts}, seconds)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return _render(tmp_path_factory.mktemp("baseline"), SHORT)


@pytest.fixture(scope="module")
def long(tmp_path_factory: pytest.TempPathFactory, baseline: Rendered) -> Rendered:
    """Rendered right after the baseline, so both are timed under similar load."""
    return _render(tmp_path_factory.mktemp("long"), LONG)


def _marked(full: str, limit: int) -> str:
    """What the document shows of `full` (plain text, before escaping)."""
    omitted = len(full) - limit
    return f"{full[:limit]}\u2026 [{omitted:,} more characters]"


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _longest_run(text: str, char: str) -> int:
    return max((len(m) for m in re.findall(f"{re.escape(char)}+", text)), default=0)


def test_the_long_receipts_verify_and_are_listed(baseline: Rendered, long: Rendered) -> None:
    """Both runs hold the same receipts, verified: only the lengths of the strings differ."""
    for rendered, texts in ((baseline, SHORT), (long, LONG)):
        chains = {c.chain_id: c for c in rendered.run.assessment.verification.result.chains}
        chain = chains[texts.chain]
        assert chain.valid, chain.failures
        assert chain.length == 4
        model = rendered.run.model
        assert model.figures.receipts_in_scope == 14
        assert model.figures.trusted_receipts == 14
        failed = {(r.chain_id, r.target) for r in model.activity.failures}
        assert (texts.chain, f"{TARGET_SYSTEM} {texts.target}") in failed


# -- the rule -------------------------------------------------------------------------------


def test_clip_text_keeps_short_text_and_counts_what_it_leaves_out() -> None:
    assert clip_text("x" * 200, 200) == "x" * 200
    assert clip_text("x" * 201, 200) == "x" * 200 + "\u2026 [1 more character]"
    assert clip_text("x" * 12_545, 200) == "x" * 200 + "\u2026 [12,345 more characters]"
    assert clip_text("", 0) == ""
    assert max(TEXT_LIMITS.values()) + len(" [1,000,000,000 more characters]") < TEXT_BACKSTOP


def test_clipping_comes_before_escaping_and_revealing_controls(baseline: Rendered) -> None:
    """An entity is never cut in half, the marker is plain text, and bidi controls in the
    kept prefix are still shown as code points."""
    cell = TEXT_LIMITS["cell"]
    refs = baseline.run.model.activity.failures
    assert refs
    angle = "<" * (cell + 50)
    bidi = "\u202e" * (cell + 7)
    model = replace(
        baseline.run.model,
        activity=replace(
            baseline.run.model.activity,
            failures=(replace(refs[0], target=angle), replace(refs[-1], target=bidi)),
        ),
    )
    html = render_html(model, {})
    assert "&lt;" * cell + "\u2026 [50 more characters]" in html
    assert "&lt;" * (cell + 1) not in html
    assert not re.search(r"&l?\u2026|&lt?\u2026", html)  # no entity cut before the marker
    assert "[U+202E]" * cell + "\u2026 [7 more characters]" in html
    assert "\u202e" not in html


# -- the HTML -------------------------------------------------------------------------------


def test_the_html_shows_clipped_prefixes_with_the_count(baseline: Rendered, long: Rendered) -> None:
    html = long.html
    target = f"{TARGET_SYSTEM} {LONG.target}"  # how the report joins system and resource
    expected = {
        "target": (target, "cell"),
        "agent": (LONG.agent, "name"),
        "chain": (LONG.chain, "id"),
        "session": (LONG.session, "id"),
    }
    for what, (full, size) in expected.items():
        shown = str(escape(_marked(full, TEXT_LIMITS[size])))
        assert shown in html, what
        assert full not in html, what
    # never more than a limit's worth of any long string, anywhere in the document
    longest = max(TEXT_LIMITS.values())
    for char in "TEPANCS":
        assert _longest_run(html, char) <= longest, char
    assert _longest_run(html, "T") == TEXT_LIMITS["cell"] - len(TARGET_SYSTEM) - 1
    assert len(html) < 1.5 * len(baseline.html)  # not megabytes: a few clipped cells


def test_error_prompt_and_agent_name_are_not_printed(long: Rendered) -> None:
    """Outcome errors, prompt previews and issuer names are not in the report model: the
    document never shows them, clipped or not (they stay in the cited receipts)."""
    for text in (long.html, long.pdf_text):
        assert "E" * 50 not in text
        assert "P" * 50 not in text
        assert "N" * 50 not in text


def test_the_document_says_long_text_is_shortened(long: Rendered) -> None:
    note = "Long receipt text is shortened in this document"
    assert note in long.html
    assert "the JSON export (report model)" in long.html
    flat = _flat(long.pdf_text)
    assert _flat(note) in flat
    assert _flat("The full text is in the attached JSON report model") in flat


def test_the_html_is_the_same_bytes_every_time(long: Rendered) -> None:
    charts = render_charts(long.run.model)
    assert render_html(long.run.model, charts) == render_html(long.run.model, charts)


# -- the PDF --------------------------------------------------------------------------------


def test_the_pdf_takes_about_the_baseline_time_and_pages(
    baseline: Rendered, long: Rendered
) -> None:
    print(
        f"\nbaseline: {baseline.pages} pages, {baseline.seconds:.1f} s; "
        f"long text: {long.pages} pages, {long.seconds:.1f} s"
    )
    assert long.seconds < TIME_FACTOR * baseline.seconds
    assert abs(long.pages - baseline.pages) <= PAGE_SLACK


def test_the_pdf_shows_clipped_prefixes_with_the_count(long: Rendered) -> None:
    flat = _flat(long.pdf_text)
    target = f"{TARGET_SYSTEM} {LONG.target}"
    for full, size in ((target, "cell"), (LONG.agent, "name"), (LONG.chain, "id")):
        assert _flat(_marked(full, TEXT_LIMITS[size])) in flat
    for char in "TEPANCS":
        assert _longest_run(flat, char) <= max(TEXT_LIMITS.values()), char


# -- the exports: complete ------------------------------------------------------------------


def _walk(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def test_the_json_report_model_keeps_every_character(long: Rendered) -> None:
    strings = set(_walk(json.loads(long.get(".json"))))
    assert f"{TARGET_SYSTEM} {LONG.target}" in strings
    assert LONG.agent in strings
    assert LONG.chain in strings
    assert LONG.session in strings


def test_the_findings_csv_keeps_every_character(long: Rendered) -> None:
    rows = list(csv.DictReader(io.StringIO(long.get("-findings.csv").decode("utf-8"))))
    assert rows
    assert LONG.chain in {row["chain_id"] for row in rows}


def test_verification_results_keep_every_character(long: Rendered) -> None:
    strings = set(_walk(json.loads(long.get("-verification.json"))))
    assert LONG.chain in strings
    assert LONG.agent in strings


def test_the_cited_receipts_keep_every_character(long: Rendered) -> None:
    lines = long.get("-cited-receipts.jsonl").splitlines()
    cited = [json.loads(line) for line in lines]
    subjects = [doc["credentialSubject"] for doc in cited]
    resources = {s["action"].get("target", {}).get("resource") for s in subjects}
    errors = {s["outcome"].get("error") for s in subjects}
    prompts = {s.get("intent", {}).get("prompt_preview") for s in subjects}
    assert LONG.target in resources
    assert LONG.error in errors
    assert LONG.prompt in prompts
    assert LONG.agent_name in {doc["issuer"].get("name") for doc in cited}
    # the stored bytes, not a re-serialisation
    for receipt_id, data in long.run.cited_receipts.items():
        assert data in lines, receipt_id


def test_the_attached_files_are_the_complete_exports(long: Rendered) -> None:
    attached = PdfReader(io.BytesIO(long.get(".pdf"))).attachments
    for suffix in (".json", "-findings.csv", "-cited-receipts.jsonl"):
        artefact = long.artefacts[suffix]
        assert attached[artefact.name] == [artefact.data], suffix
    # the PDF carries every chain's verdict; each receipt's own line is in the export
    [chains] = [data for name, data in attached.items() if name.endswith("-chains.json")]
    complete = json.loads(long.artefacts["-verification.json"].data)
    slim = [{k: v for k, v in c.items() if k != "receipts"} for c in complete["chains"]]
    assert json.loads(chains[0])["chains"] == slim


# -- every receipt field the templates print ------------------------------------------------

FILL = "Z" * 20_000


def _stretched(model: ReportModel) -> ReportModel:
    """`model` with every receipt-derived string the templates print made 20,000
    characters long (a model no receipt set gives at once: each place at least once)."""

    def ref(r: Any) -> Any:
        return replace(
            r,
            receipt_id=FILL,
            chain_id=FILL,
            receipt_hash=FILL,
            action_type=FILL,
            risk_level=FILL,
            issuer=FILL,
            principal=FILL,
            target=FILL,
            origin=FILL,
        )

    def refs(items: Any) -> tuple[Any, ...]:
        return tuple(ref(r) for r in items)

    activity = model.activity
    rows = tuple(replace(r, label=FILL) for r in activity.by_agent)
    return replace(
        model,
        integrity=tuple(
            replace(c, chain_id=FILL, issuer=FILL, head_hash=FILL) for c in model.integrity
        ),
        input_problems=(
            {
                "code": "X",
                "severity": "failure",
                "message": FILL,
                "origin": FILL,
                "receipt_id": FILL,
            },
        ),
        activity=replace(
            activity,
            per_day=tuple(replace(r, detail={FILL: r.count}) for r in activity.per_day),
            by_agent=rows,
            by_principal=rows,
            by_action_type=rows,
            by_outcome=rows,
            failures=refs(activity.failures),
            high_risk=refs(activity.high_risk),
        ),
        sessions=tuple(
            replace(
                s,
                key=FILL,
                principal=FILL,
                agents=(FILL, FILL),
                chains=(FILL, FILL),
                events=tuple(
                    replace(
                        e,
                        receipt_id=FILL,
                        chain_id=FILL,
                        action_type=FILL,
                        risk_level=FILL,
                        outcome=FILL,
                        issuer=FILL,
                    )
                    for e in s.events
                ),
            )
            for s in model.sessions
        ),
        frameworks=tuple(
            replace(
                fw,
                controls=tuple(
                    replace(
                        c,
                        sample_evidence=refs(c.sample_evidence),
                        checks=tuple(replace(k, metrics={"new_targets": [FILL]}) for k in c.checks),
                    )
                    for c in fw.controls
                ),
            )
            for fw in model.frameworks
        ),
        findings=tuple(
            replace(f, chains=(FILL,), receipts=refs(f.receipts)) for f in model.findings
        ),
        attribution=tuple(replace(r, label=FILL, detail={FILL: 1}) for r in model.attribution),
        delegations=(
            {
                "chain_id": FILL,
                "issuer": FILL,
                "parent_chain_id": FILL,
                "parent_receipt_id": FILL,
                "delegator": FILL,
                "verified": False,
            },
        ),
        cited_receipts=refs(model.cited_receipts),
    )


def test_every_printed_receipt_field_is_clipped(baseline: Rendered) -> None:
    model = _stretched(baseline.run.model)
    html = render_html(model, {})
    runs = {len(run) for run in re.findall("Z{50,}", html)}
    assert max(runs) <= max(TEXT_LIMITS.values())
    assert {TEXT_LIMITS["id"], TEXT_LIMITS["name"], TEXT_LIMITS["cell"]} <= runs
    # every run ends in the marker, with the count of what it left out
    unmarked = re.findall("Z{50,}(?!Z|\u2026 \\[[0-9,]+ more characters\\])", html)
    assert unmarked == []
