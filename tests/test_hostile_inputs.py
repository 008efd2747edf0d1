"""Hostile receipt content end to end: receipts signed with the reference SDK whose strings
carry markup, script, CSS, bidi and control characters, a long target and a 1 MB error,
with deep nesting and large integers in signed content; and a raw file of ambiguous or
broken records (NaN, Infinity, duplicate names, invalid UTF-8, lone surrogates, raw NUL,
integers no double holds, over the size and depth limits) mixed with good receipts.

Through `run_report` and `render_artefacts` (HTML and PDF): every bad record gets its
code at its line, every good receipt is still verified and counted, the hostile text is
inert in the HTML and the PDF, and what is not displayed is still carried byte for byte
in the cited receipts. (Markup escaping on a hand-made model: test_html.py, test_pdf.py.)
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from pypdf import PdfReader

from reporting.pipeline import ReportRun, render_report, run_report
from reporting.receipts.external import Grant
from reporting.receipts.results import Code, Outcome
from reporting.report.artefacts import Artefact
from reporting.report.exports import cited_receipts_jsonl
from reporting.report.html import TEXT_LIMITS
from reporting.settings import RunSettings, VerifyRequest

from .factory import ChainBuilder, Key, resign, write_jsonl
from .helpers import codes, evidence_from, trust, verify_docs, verify_paths

KEY = Key.from_seed("hostile-inputs")

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror="document.title=\'pwned\'">'
STYLE = "</style><style>body{display:none}</style>"
BIDI = "invoice\u202etxt.exe\u2066isolated\u2069"
CONTROLS = "nul\x00byte\x07bell\x1bescape"
LONG = "L" * 500 + "-end-of-the-long-target"
ERROR_1MB = "E" * 1_000_000
FORMULA = '=HYPERLINK("http://127.0.0.1:9/x","click")'


def _resigned(builder: ChainBuilder, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Change the last receipt, then sign it again: hostile, but well-signed, content."""
    doc = json.loads(json.dumps(builder.receipts[-1]))
    change(doc)
    builder.receipts[-1] = resign(doc, KEY)
    return builder.receipts[-1]


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        node = {"n": node}
    return node


def _hostile_chain() -> list[dict[str, Any]]:
    builder = ChainBuilder(
        KEY, chain_id="chain_hostile", issuer="did:agent:hostile", principal="did:user:" + IMG
    )
    builder.add("data.api.write", "high", target={"system": SCRIPT, "resource": STYLE})
    builder.add("data.api.write", "high", outcome="failure", target={"system": BIDI})
    _resigned(
        builder, lambda d: d["credentialSubject"]["action"]["target"].update(resource=CONTROLS)
    )
    builder.add("data.api.write", "high", target={"system": FORMULA, "resource": LONG})
    builder.add("data.api.write", "high", outcome="failure")
    _resigned(builder, lambda d: d["credentialSubject"]["outcome"].update(error=ERROR_1MB))
    builder.add()  # 24 levels of signed nesting: inside the depth limit of 32
    _resigned(builder, lambda d: d["credentialSubject"].update(x_nested=_nested(20)))
    return builder.receipts


def _bigint_chain() -> list[dict[str, Any]]:
    """2^53 is written alike by the SDK and RFC 8785; 2^63 is not: the SDK writes its
    exact decimal digits, which are not the ES6 form of the double (9223372036854776000)
    that RFC 8785 signs, so the text is ambiguous."""
    builder = ChainBuilder(KEY, chain_id="chain_bigint", issuer="did:agent:bigint")
    builder.add()
    _resigned(
        builder, lambda d: d["credentialSubject"]["outcome"].update(reversal_window_seconds=2**53)
    )
    builder.add()
    _resigned(
        builder, lambda d: d["credentialSubject"]["outcome"].update(reversal_window_seconds=2**63)
    )
    return builder.receipts


def _mixed_lines(good: list[dict[str, Any]]) -> tuple[list[bytes], dict[int, Code]]:
    """Good receipts at lines 1, 3 and 5 (and chain_bad's genesis at 4) among broken
    records derived from chain_bad's second receipt; the code each must get."""
    bad = ChainBuilder(KEY, chain_id="chain_bad", issuer="did:agent:bad").extend(2).receipts
    text = json.dumps(bad[1])
    assert '"sequence": 2' in text
    lines = [
        json.dumps(good[0]).encode(),
        b'{"id": "urn:receipt:nan", "value": NaN}',
        json.dumps(good[1]).encode(),
        json.dumps(bad[0]).encode(),
        json.dumps(good[2]).encode(),
        ('{"id": "urn:receipt:duplicate", ' + text[1:]).encode(),  # two "id" members
        text.replace('"sequence": 2', '"sequence": Infinity').encode(),
        text.replace("Test agent", "Test \udcff agent").encode("utf-8", "surrogateescape"),
        text.replace("Test agent", "Test \\ud800 agent").encode(),  # a lone surrogate
        text.replace("Test agent", "Test \x00 agent").encode(),  # a raw NUL in a string
        text.replace('"sequence": 2', f'"sequence": {2**60 + 1}').encode(),  # no double holds it
        json.dumps({**bad[1], "padding": "p" * (1 << 20)}).encode(),  # over 1 MiB
        json.dumps({**bad[1], "deep": _nested(40)}).encode(),  # deeper than 32
        json.dumps({**bad[1], "version": [], "issuer": {"id": {"not": "hashable"}}}).encode(),
    ]
    expected = dict.fromkeys((2, 6, 7, 8, 9, 10, 11, 13), Code.MALFORMED_RECEIPT)
    expected[12] = Code.RECEIPT_TOO_LARGE
    return lines, expected


class Sources:
    def __init__(self, directory: Path) -> None:
        self.good = ChainBuilder(KEY, chain_id="chain_good", issuer="did:agent:good").extend(3)
        self.hostile = _hostile_chain()
        self.bigint = _bigint_chain()
        self.mixed_lines, self.expected = _mixed_lines(self.good.receipts)
        self.key = KEY.write_pem(directory / "key.pem")
        self.hostile_file = write_jsonl(directory / "hostile.jsonl", self.hostile + self.bigint)
        self.mixed_file = directory / "mixed.jsonl"
        self.mixed_file.write_bytes(b"\n".join(self.mixed_lines) + b"\n")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return Sources(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def run(sources: Sources) -> ReportRun:
    settings = RunSettings(
        verify=VerifyRequest(
            sources=(str(sources.mixed_file), str(sources.hostile_file)), keys=sources.key
        ),
        organisation="Example " + SCRIPT,
    )
    return run_report(settings)


@pytest.fixture(scope="module")
def artefacts(run: ReportRun) -> dict[str, Artefact]:
    rendered = render_report(run, ["html"])
    return {Path(a.name).suffix: a for a in rendered}


@pytest.fixture(scope="module")
def html(artefacts: dict[str, Artefact]) -> str:
    return artefacts[".html"].data.decode("utf-8")


@pytest.fixture(scope="module")
def pdf(run: ReportRun) -> bytes:
    """The PDF of the report cut to a few rows of each table (the full layout takes half a
    minute on a busy machine): the hostile receipts are the high-risk ones, so they stay."""
    from reporting.report.charts import render_charts
    from reporting.report.pdf import Attachment, render_pdf

    from .test_pdf import small_model

    cited = cited_receipts_jsonl(run.cited_receipts)
    attachment = Attachment("cited-receipts.jsonl", "application/jsonl", cited, "cited receipts")
    return render_pdf(small_model(run.model), render_charts(run.model), (attachment,))


@pytest.fixture(scope="module")
def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


# -- verification: every bad record coded, nothing good lost ------------------------------


def _problems_by_line(run: ReportRun, source: Path) -> dict[int, set[Code]]:
    result = run.assessment.verification.result
    found: dict[int, set[Code]] = {}
    problems = [*result.input_problems] + [p for c in result.chains for p in c.failures]
    for problem in problems:
        if problem.origin and problem.origin.source == source.name:
            assert problem.origin.line is not None
            found.setdefault(problem.origin.line, set()).add(problem.code)
    return found


def test_every_bad_record_gets_its_code_at_its_line(run: ReportRun, sources: Sources) -> None:
    found = _problems_by_line(run, sources.mixed_file)
    unreadable = {line: found.get(line) for line in sources.expected}
    assert unreadable == {line: {code} for line, code in sources.expected.items()}
    assert Code.SCHEMA_VIOLATION in found[14]  # readable, but a list and an object misplaced
    assert not {1, 3, 4, 5} & set(found)  # the good lines have no problem at all


def test_the_good_receipts_are_verified_and_counted(run: ReportRun, sources: Sources) -> None:
    chains = {c.chain_id: c for c in run.assessment.verification.result.chains}
    good = chains["chain_good"]
    assert good.valid
    assert [(r.origin.line, r.outcome) for r in good.receipts] == [
        (1, Outcome.PASSED),
        (3, Outcome.PASSED),
        (5, Outcome.PASSED),
    ]
    frame = run.assessment.evidence.in_scope
    trusted = set(frame[frame["trusted"].astype(bool)]["chain_id"].astype(str))
    assert {"chain_good", "chain_hostile"} <= trusted


def test_nothing_is_lost_every_line_is_a_result_or_a_problem(
    run: ReportRun, sources: Sources
) -> None:
    result = run.assessment.verification.result
    lines = set()
    for chain in result.chains:
        for receipt in chain.receipts:
            if receipt.origin and receipt.origin.source == sources.mixed_file.name:
                lines.add(receipt.origin.line)
    lines |= {
        p.origin.line
        for p in result.input_problems
        if p.origin and p.origin.source == sources.mixed_file.name
    }
    assert lines == set(range(1, len(sources.mixed_lines) + 1))


def test_hostile_strings_in_signed_content_verify(run: ReportRun) -> None:
    """Markup, bidi, control characters, a 1 MB string and 20 levels of nesting are all
    legitimately signed content: they verify (and are then treated as untrusted text)."""
    chains = {c.chain_id: c for c in run.assessment.verification.result.chains}
    hostile = chains["chain_hostile"]
    assert hostile.valid, hostile.failures
    assert hostile.length == 5
    assert hostile.issuer == "did:agent:hostile"


def test_a_large_integer_is_judged_by_rfc8785_and_never_crashes(run: ReportRun) -> None:
    chains = {c.chain_id: c for c in run.assessment.verification.result.chains}
    bigint = chains["chain_bigint"]
    assert bigint.receipts[0].outcome is Outcome.PASSED  # 2^53: both write the same digits
    assert bigint.receipts[1].failures == (Code.MALFORMED_RECEIPT,)  # 2^63: they do not


def test_the_report_says_integrity_is_broken_and_counts_the_problems(run: ReportRun) -> None:
    model = run.model
    assert model.posture.value == "INTEGRITY BROKEN"
    orphans = len(run.assessment.verification.result.input_problems)
    assert model.figures.input_problems == orphans > 0
    assert model.figures.broken_chains >= 2  # chain_bad, chain_bigint


def test_a_json_array_with_invalid_utf8_loses_only_that_element(tmp_path: Path) -> None:
    receipts = ChainBuilder(KEY, chain_id="chain_array").extend(3).receipts
    elements = [json.dumps(r).encode() for r in receipts]
    broken = json.dumps({**receipts[1], "note": "x"}).replace('"x"', '"\udcff"')
    elements.insert(2, broken.encode("utf-8", "surrogateescape"))  # a raw 0xFF byte
    path = tmp_path / "export.json"
    path.write_bytes(b"[\n" + b",\n".join(elements) + b"\n]\n")
    result = verify_paths([path], trust(KEY.raw))
    chain = result.chains[0]
    assert [(r.origin.index, r.failures) for r in chain.receipts] == [
        (0, ()),
        (1, ()),
        (2, (Code.MALFORMED_RECEIPT,)),  # an unreadable record stands where it arrived
        (3, ()),  # and the receipt after it links past it
    ]
    assert "not valid UTF-8" in chain.failures[0].message


# -- the HTML: inert ----------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_markup_is_escaped_in_the_html(html: str) -> None:
    for payload in (SCRIPT, IMG, STYLE):
        assert payload not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;/style&gt;&lt;style&gt;body{display:none}&lt;/style&gt;" in html
    assert "&lt;img src=x onerror=" in html
    parser = _Tags()
    parser.feed(html)
    names = [tag for tag, _ in parser.tags]
    assert names.count("script") == 1  # ours, allowed by its CSP hash
    assert "img" not in names
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.DOTALL)
    assert styles  # the stylesheet and the charts' own
    assert not [style for style in styles if "body{display:none}" in style]
    for tag, attrs in parser.tags:
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
    text = "".join(parser.text)
    assert SCRIPT in text  # shown to the reader, as text
    assert "did:user:" + IMG in text


def test_bidi_and_control_characters_are_made_visible(html: str, pdf_text: str) -> None:
    for document in (html, pdf_text):
        assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f]", document)
    assert "invoice[U+202E]txt.exe[U+2066]isolated[U+2069]" in html
    assert "nul[U+0000]byte[U+0007]bell[U+001B]escape" in html
    assert "invoice[U+202E]txt.exe[U+2066]isolated[U+2069]" in _flat(pdf_text)
    assert "nul[U+0000]byte[U+0007]bell[U+001B]escape" in _flat(pdf_text)


def test_the_long_target_is_shortened_visibly_and_the_1mb_error_not_shown(
    run: ReportRun, html: str, pdf_text: str
) -> None:
    """A long target is shortened wherever its receipt is listed, with a visible count of
    what was left out (never silently; more in test_long_text.py); an outcome's error text
    is never printed. The report model keeps the whole target; the 1 MB string travels
    only inside the cited receipts, byte for byte."""
    target = f"{FORMULA} {LONG}"
    assert target in {r.target for r in run.model.activity.high_risk}
    limit = TEXT_LIMITS["cell"]
    shown = f"{target[:limit]}\u2026 [{len(target) - limit:,} more characters]"
    assert str(escape(shown)) in html
    assert LONG not in html
    assert _flat(shown) in _flat(pdf_text)
    assert LONG not in _flat(pdf_text)
    assert "E" * 100 not in html
    assert "E" * 100 not in pdf_text
    assert len(html) < 2_000_000


def test_cited_receipts_carry_the_hostile_records_byte_for_byte(
    run: ReportRun, pdf: bytes, sources: Sources
) -> None:
    error_receipt = json.dumps(sources.hostile[3]).encode()
    assert len(error_receipt) > 1_000_000
    assert run.cited_receipts[sources.hostile[3]["id"]] == error_receipt
    reader = PdfReader(io.BytesIO(pdf))
    attached = reader.attachments["cited-receipts.jsonl"][0]
    assert error_receipt in attached.splitlines()  # 1 MB, neither cut nor re-serialised
    assert json.dumps(sources.hostile[0]).encode() in attached.splitlines()


def test_the_pdf_shows_the_hostile_text_as_text(pdf_text: str) -> None:
    flat = _flat(pdf_text)
    assert _flat(SCRIPT) in flat
    assert _flat(STYLE) in flat
    assert _flat("did:user:" + IMG) in flat
    assert _flat("Example " + SCRIPT) in flat  # the organisation, on every page


# -- crashes the fuzzing found, fixed --------------------------------------------------------


def test_a_sequence_beyond_int64_does_not_crash_the_evidence(tmp_path: Path) -> None:
    builder = ChainBuilder(KEY, chain_id="chain_seq").extend(2)
    beyond_int64 = 9223372036854776000  # 2^63 in the ES6 form RFC 8785 accepts
    _resigned(builder, lambda d: d["credentialSubject"]["chain"].update(sequence=beyond_int64))
    evidence = evidence_from(tmp_path, [builder.receipts], KEY.raw)
    assert len(evidence.receipts) == 2


def test_an_unhashable_risk_level_with_grants_is_a_coded_failure() -> None:
    builder = ChainBuilder(KEY, chain_id="chain_grants").extend(1)
    _resigned(builder, lambda d: d["credentialSubject"]["action"].update(risk_level=["high"]))
    chain = verify_docs(builder.receipts, KEY.raw, grants={"g": Grant(subject="x")})
    assert Code.SCHEMA_VIOLATION in codes(chain)


def test_a_forged_chain_beside_a_good_one_renders(tmp_path: Path) -> None:
    from reporting.report.charts import render_charts
    from reporting.report.html import render_html

    good = ChainBuilder(KEY, chain_id="chain_good").extend(2).receipts
    forged = ChainBuilder(Key.from_seed("attacker"), chain_id="chain_forged").extend(2).receipts
    source = write_jsonl(tmp_path / "r.jsonl", good + forged)
    settings = RunSettings(
        verify=VerifyRequest(sources=(str(source),), keys=KEY.write_pem(tmp_path / "k.pem"))
    )
    run = run_report(settings)
    html = render_html(run.model, render_charts(run.model))
    assert "chain_forged" in html
    assert ">nan<" not in html


def test_an_integer_beyond_64_bits_that_no_double_holds_is_refused() -> None:
    import base64

    from reporting.receipts.canonical import parse_receipt

    es6 = "18446744073709552000"  # 2^64 as RFC 8785 writes its double (beyond 64 bits)
    builder = ChainBuilder(KEY, chain_id="chain_number").extend(1)
    doc = json.loads(json.dumps(builder.receipts[0]))
    doc["credentialSubject"]["outcome"]["reversal_window_seconds"] = int(es6)
    unsigned = json.dumps({k: v for k, v in doc.items() if k != "proof"}).encode()
    signature = KEY.private.sign(parse_receipt(unsigned).canonical)  # a JCS-conformant signer
    doc["proof"]["proofValue"] = "u" + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    signed = json.dumps(doc)
    assert verify_docs([signed.encode()], KEY.raw, chain_key="chain_number").valid
    for other in (str(2**64), str(2**64 + 1)):  # the same double, and another number
        chain = verify_docs(
            [signed.replace(es6, other).encode()], KEY.raw, chain_key="chain_number"
        )
        assert Code.MALFORMED_RECEIPT in codes(chain)
