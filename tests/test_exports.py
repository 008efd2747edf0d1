"""Exports: report JSON, findings CSV, verification results, cited receipts, OSCAL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reporting import __version__
from reporting.evidence.frame import Evidence
from reporting.receipts.canonical import parse_receipt
from reporting.receipts.document import VERIFICATION_SCHEMA, verification_document
from reporting.receipts.results import Code, Origin, Problem, VerificationResult
from reporting.report.build import ReportInputs, ReportOptions, build_report
from reporting.report.exports import (
    FINDINGS_COLUMNS,
    OSCAL_VERSION,
    cited_receipts_jsonl,
    findings_csv,
    neutralise_cell,
    oscal_assessment_results,
    oscal_control_id,
    report_json,
)
from reporting.report.model import REPORT_SCHEMA, Finding, ReportModel, Severity

DEFECTS = Path(__file__).resolve().parents[1] / "samples" / "defects.json"
TOKEN = re.compile(r"^[a-z][a-z0-9_.\-]*$")
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def model(sample_report) -> ReportModel:
    return sample_report.model


@pytest.fixture(scope="module")
def rebuilt(sample_report) -> ReportModel:
    """A second, independent build of the model from the same assessment."""
    run = sample_report.assessment
    inputs = ReportInputs(
        evidence=run.evidence,
        frameworks=run.frameworks,
        assessments=run.assessments,
        sources=run.verification.sources,
        trust_anchors=run.verification.trust_anchors,
    )
    options = ReportOptions(
        report_id=sample_report.model.report_id,
        organisation="Example Corp",
        settings=sample_report.settings,
    )
    return build_report(inputs, options)


def strict_json(data: bytes) -> Any:
    """Parse UTF-8 JSON, rejecting NaN and Infinity."""

    def reject(token: str) -> None:
        raise ValueError(f"not JSON: {token}")

    return json.loads(data.decode("utf-8"), parse_constant=reject)


def finding(**overrides: Any) -> Finding:
    base = Finding(
        id="F-900",
        key="0123456789abcdef",
        kind="finding",
        severity=Severity.HIGH,
        title="Hand-made",
        problem="no_authorization",
        checks=("authorization_present",),
        statement="Evidence does not support: a statement.",
        remediation="Fix it.",
        controls=("soc2:CC6.1",),
        supporting=(),
        chains=(),
        receipts=(),
        receipt_ids=(),
        affected=0,
    )
    return replace(base, **overrides)


def tiny_evidence(rows: list[dict[str, Any]]) -> Evidence:
    frame = pd.DataFrame(
        rows, columns=["receipt_id", "chain_id", "receipt_hash", "timestamp", "action_type"]
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return Evidence(receipts=frame, chains=pd.DataFrame(), verification=VerificationResult(()))


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


# -- report JSON --------------------------------------------------------------------------


def test_report_json_round_trips_with_its_schema(model):
    data = report_json(model)
    parsed = strict_json(data)
    assert parsed["schema"] == REPORT_SCHEMA
    assert parsed == json.loads(json.dumps(model.to_json()))
    assert parsed["report_id"] == model.report_id


def test_report_json_is_sorted_indented_utf8(model):
    data = report_json(model)
    lines = data.decode("utf-8").splitlines()
    assert lines[0] == "{"
    assert lines[1].startswith('  "')
    assert not lines[1].startswith("   ")
    assert list(strict_json(data)) == sorted(strict_json(data))
    assert data.endswith(b"}\n")


def test_report_json_is_byte_identical_across_builds(model, rebuilt):
    assert rebuilt is not model
    assert report_json(rebuilt) == report_json(model)


def test_report_json_writes_no_nan(model):
    section = model.frameworks[0]
    control = section.controls[0]
    figure = replace(control.checks[0], metrics={"share": float("nan"), "rate": float("inf")})
    control = replace(control, checks=(figure,))
    hostile = replace(model, frameworks=(replace(section, controls=(control,)),))
    metrics = strict_json(report_json(hostile))["frameworks"][0]["controls"][0]["checks"][0]
    assert metrics["metrics"] == {"share": None, "rate": None}


def test_report_json_keeps_unicode_as_utf8(model):
    data = report_json(replace(model, organisation="Zürich € 東京"))
    assert "Zürich € 東京".encode() in data


# -- findings CSV -------------------------------------------------------------------------


def expected_rows(model: ReportModel) -> int:
    listed = (*model.findings, *model.exceptions)
    return sum(max(1, len(f.receipt_ids) or len(f.chains)) for f in listed)


def test_findings_csv_header_and_row_count(model, sample_report):
    data = findings_csv(model, sample_report.assessment.evidence)
    text = data.decode("utf-8")
    assert text.split("\n")[0] == ",".join(f'"{c}"' for c in FINDINGS_COLUMNS)
    assert FINDINGS_COLUMNS == (
        "finding_id",
        "severity",
        "control_ids",
        "chain_id",
        "receipt_id",
        "receipt_hash",
        "timestamp",
        "action_type",
        "statement",
    )
    assert len(csv_rows(data)) == expected_rows(model)
    assert expected_rows(model) > len(model.findings)
    assert b"\r" not in data
    assert data.endswith(b'"\n')


def test_findings_csv_lists_every_affected_receipt(model, sample_report):
    rows = csv_rows(findings_csv(model, sample_report.assessment.evidence))
    big = max(model.findings, key=lambda f: len(f.receipt_ids))
    assert len(big.receipt_ids) > len(big.receipts)  # the model shows only the first ones
    listed = [r["receipt_id"] for r in rows if r["finding_id"] == big.id]
    assert listed == list(big.receipt_ids)


def test_findings_csv_cites_the_sample_defects(model, sample_report):
    evidence = sample_report.assessment.evidence
    rows = csv_rows(findings_csv(model, evidence))
    by_receipt: dict[str, dict[str, str]] = {}
    for row in rows:  # the most severe finding first: the defect's own
        by_receipt.setdefault(row["receipt_id"], row)
    frame = evidence.receipts.drop_duplicates("receipt_id").set_index("receipt_id")
    defects = json.loads(DEFECTS.read_text())["defects"]
    assert defects
    for defect in defects:
        rid = defect["detected_at_receipt_id"] if defect.get("deleted") else defect["receipt_id"]
        assert rid in by_receipt, defect["id"]
        row = by_receipt[rid]
        assert row["chain_id"] == defect["chain_id"]
        assert row["receipt_hash"] == frame.loc[rid, "receipt_hash"]
        assert row["action_type"] == str(frame.loc[rid, "action_type"])
        assert row["timestamp"] == frame.loc[rid, "timestamp"].isoformat()
        assert row["severity"] in {s.value for s in Severity}
        assert row["control_ids"]


def test_chain_level_findings_get_one_row_per_chain(model, sample_report):
    chain_level = [finding(id="F-901", chains=("chain-a", "chain-b"))]
    hand_made = replace(model, findings=tuple(chain_level), exceptions=())
    rows = csv_rows(findings_csv(hand_made, sample_report.assessment.evidence))
    for f in chain_level:
        mine = [r for r in rows if r["finding_id"] == f.id]
        assert [r["chain_id"] for r in mine] == list(f.chains)
        assert all(r["receipt_id"] == r["receipt_hash"] == r["timestamp"] == "" for r in mine)
        assert all(r["control_ids"] == ";".join(f.controls) for r in mine)


def test_finding_without_receipts_or_chains_gets_one_row(model):
    alone = finding(controls=("soc2:CC6.1", "eu-ai-act:Art.12(1)"))
    rows = csv_rows(
        findings_csv(replace(model, findings=(alone,), exceptions=()), tiny_evidence([]))
    )
    assert len(rows) == 1
    assert rows[0]["finding_id"] == "F-900"
    assert rows[0]["control_ids"] == "soc2:CC6.1;eu-ai-act:Art.12(1)"
    assert rows[0]["chain_id"] == rows[0]["receipt_id"] == ""


def test_unknown_receipt_ids_still_get_a_row(model):
    gone = finding(receipt_ids=("urn:receipt:deleted",), chains=("c1",))
    rows = csv_rows(
        findings_csv(replace(model, findings=(gone,), exceptions=()), tiny_evidence([]))
    )
    assert [r["receipt_id"] for r in rows] == ["urn:receipt:deleted"]
    assert rows[0]["receipt_hash"] == rows[0]["chain_id"] == ""


def test_findings_csv_neutralises_formulas(model):
    evil = finding(
        id="=cmd|' /C calc'!A0",
        statement='+HYPERLINK("http://x")',
        controls=("@SUM(1)",),
        receipt_ids=("-2+3", "\tr2", "\rr3"),
    )
    evidence = tiny_evidence(
        [
            {
                "receipt_id": "-2+3",
                "chain_id": "=chain",
                "receipt_hash": "sha256:00",
                "timestamp": "2026-10-01T00:00:00Z",
                "action_type": "@action",
            }
        ]
    )
    data = findings_csv(replace(model, findings=(evil,), exceptions=()), evidence)
    rows = csv_rows(data)
    assert len(rows) == 3
    for row in rows:
        for value in row.values():
            assert not value.startswith(DANGEROUS), value
    first = rows[0]
    assert first["finding_id"] == "'=cmd|' /C calc'!A0"
    assert first["statement"] == '\'+HYPERLINK("http://x")'
    assert first["control_ids"] == "'@SUM(1)"
    assert first["receipt_id"] == "'-2+3"
    assert first["chain_id"] == "'=chain"
    assert first["action_type"] == "'@action"
    assert [r["receipt_id"] for r in rows[1:]] == ["'\tr2", "'\rr3"]


def test_neutralise_cell():
    assert neutralise_cell("safe =1") == "safe =1"
    assert neutralise_cell("") == ""
    assert neutralise_cell("=1+1") == "'=1+1"
    assert neutralise_cell("\uff1d1") == "'\uff1d1"


# -- verification results -----------------------------------------------------------------


def test_verification_results_cover_every_chain(sample_report):
    result = sample_report.assessment.verification.result
    data = verification_document(result)
    parsed = strict_json(data)
    ids = [c["chain_id"] for c in parsed["chains"]]
    assert ids == sorted(c.chain_id for c in result.chains)
    assert parsed["valid"] is result.valid is False
    assert parsed["summary"]["receipts"] == result.receipt_count
    by_id = {c.chain_id: c for c in result.chains}
    for chain in parsed["chains"]:
        assert chain == json.loads(json.dumps(by_id[chain["chain_id"]].to_json()))
    assert parsed["input_problems"] == [p.to_json() for p in result.input_problems]


def test_verification_results_name_the_tampered_chain(sample_report):
    parsed = strict_json(verification_document(sample_report.assessment.verification.result))
    tampered = next(
        d for d in json.loads(DEFECTS.read_text())["defects"] if d["id"] == "tampered_receipt"
    )
    chain = next(c for c in parsed["chains"] if c["chain_id"] == tampered["chain_id"])
    assert chain["valid"] is False
    assert set(tampered["expected_codes"]) <= {p["code"] for p in chain["failures"]}


def test_verification_results_are_deterministic_and_can_skip_receipts(sample_report):
    result = sample_report.assessment.verification.result
    shuffled = VerificationResult(tuple(reversed(result.chains)), result.input_problems)
    assert verification_document(shuffled) == verification_document(result)
    slim = strict_json(verification_document(result, include_receipts=False))
    assert all("receipts" not in c for c in slim["chains"])
    assert all("receipts" in c for c in strict_json(verification_document(result))["chains"])


def _reference_layout(result: VerificationResult, include_receipts: bool) -> bytes:
    chains = sorted(result.chains, key=lambda c: (c.chain_id, c.issuer or ""))
    document = {
        "schema": VERIFICATION_SCHEMA,
        "tool_version": __version__,
        "valid": result.valid and bool(result.chains),
        "summary": {
            "chains": len(chains),
            "valid_chains": sum(1 for c in chains if c.valid),
            "broken_chains": sum(1 for c in chains if not c.valid),
            "receipts": result.receipt_count,
            "failures": sum(len(c.failures) for c in chains),
            "warnings": sum(len(c.warnings) for c in chains),
            "input_problems": len(result.input_problems),
        },
        "sources": [],
        "trust_anchors": [],
        "chains": [c.to_json(include_receipts=include_receipts) for c in chains],
        "input_problems": [p.to_json() for p in result.input_problems],
    }
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode()


def test_verification_results_are_laid_out_as_indented_sorted_json(sample_report):
    """Written in batches by orjson, byte for byte what json.dumps(indent=2) would write."""
    result = sample_report.assessment.verification.result
    problem = Problem(Code.MALFORMED_RECEIPT, 'bad "receipts": [] ü', origin=Origin("x.jsonl", 3))
    cases = [
        result,
        VerificationResult((), ()),
        VerificationResult(result.chains[:2], (problem,)),
        VerificationResult((replace(result.chains[0], receipts=()),), ()),
    ]
    for case in cases:
        for include in (True, False):
            assert verification_document(case, include_receipts=include) == (
                _reference_layout(case, include)
            )


# -- cited receipts -----------------------------------------------------------------------


def test_cited_receipts_jsonl_is_the_stored_bytes_sorted(model, sample_report):
    cited = sample_report.cited_receipts
    assert set(cited) == {r.receipt_id for r in model.cited_receipts}
    data = cited_receipts_jsonl(cited)
    lines = data.split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == len(cited)
    ids = [json.loads(line)["id"] for line in lines]
    assert ids == sorted(cited)
    assert all(line == cited[rid] for rid, line in zip(ids, lines, strict=True))


def test_cited_receipts_hash_to_the_hashes_the_model_cites(model, sample_report):
    expected = {r.receipt_id: r.receipt_hash for r in model.cited_receipts}
    lines = cited_receipts_jsonl(sample_report.cited_receipts).splitlines()
    assert lines
    for line in lines:
        parsed = parse_receipt(line)
        assert parsed.receipt_hash == expected[parsed.document["id"]]


def test_pretty_printed_receipts_are_compacted_without_changing_the_hash(sample_report):
    rid, raw = sorted(sample_report.cited_receipts.items())[0]
    pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False).encode()
    odd = b'{"id":  "urn:receipt:z",   "x": 1}'
    data = cited_receipts_jsonl({rid: pretty, "urn:receipt:z": odd})
    lines = data.split(b"\n")
    assert len(lines) == 3
    assert lines[2] == b""
    assert parse_receipt(lines[0]).receipt_hash == parse_receipt(raw).receipt_hash
    assert lines[1] == odd  # no newline: kept byte for byte
    assert cited_receipts_jsonl({}) == b""


# -- OSCAL --------------------------------------------------------------------------------


def trestle_model() -> Any:
    try:
        from trestle.oscal.assessment_results import Model
    except ImportError:
        reason = "compliance-trestle (dev dependency) is needed to validate OSCAL output"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return Model


def validate(document: dict[str, Any]) -> None:
    trestle_model().parse_obj(document)


@pytest.fixture(scope="module")
def oscal(model) -> dict[str, Any]:
    return strict_json(oscal_assessment_results(model))


def results(document: dict[str, Any]) -> dict[str, Any]:
    return document["assessment-results"]["results"][0]


def reviewed(document: dict[str, Any]) -> set[str]:
    selections = results(document)["reviewed-controls"]["control-selections"]
    return {c["control-id"] for s in selections for c in s.get("include-controls", [])}


def test_oscal_validates_against_the_oscal_model(oscal):
    validate(oscal)
    assert oscal["assessment-results"]["metadata"]["oscal-version"] == OSCAL_VERSION == "1.1.2"


def test_oscal_validator_rejects_broken_documents(oscal):
    from pydantic.v1 import ValidationError

    broken = json.loads(json.dumps(oscal))
    target = results(broken)["findings"][0]["target"]
    target["target-id"] = "Art.12(1)"
    with pytest.raises(ValidationError):
        validate(broken)
    missing = json.loads(json.dumps(oscal))
    del results(missing)["observations"][0]["collected"]
    with pytest.raises(ValidationError):
        validate(missing)


def test_oscal_findings_target_reviewed_controls(oscal, model):
    controls = reviewed(oscal)
    assert controls
    assert all(TOKEN.match(c) for c in controls)
    findings = results(oscal)["findings"]
    assert {f["target"]["target-id"] for f in findings} == controls
    statuses = [c.status for fw in model.frameworks for c in fw.controls]
    assert len(findings) == len(statuses) == len(controls)  # one per control, MANUAL too
    for found, status in zip(findings, statuses, strict=True):
        props = {p["name"]: p["value"] for p in found["props"]}
        assert props["assessment-status"] == status
        state = found["target"]["status"]["state"]
        assert (state == "satisfied") == (status == "SATISFIED"), status


def test_oscal_says_satisfied_only_for_satisfied(model):
    """Supported in part (manual evidence outstanding) and MANUAL are never `satisfied`."""
    section = model.frameworks[0]
    made_up = [
        replace(section.controls[0], status=status)
        for status in ("SATISFIED", "SUPPORTED_IN_PART", "MANUAL", "INDETERMINATE")
    ]
    made_up = [replace(c, id=f"X-{i}", anchor=f"x-{i}") for i, c in enumerate(made_up)]
    twin = replace(model, frameworks=(replace(section, controls=tuple(made_up)),))
    document = strict_json(oscal_assessment_results(twin))
    validate(document)
    states = [f["target"]["status"] for f in results(document)["findings"]]
    assert states == [
        {"state": "satisfied", "reason": "pass"},
        {"state": "not-satisfied", "reason": "other"},
        {"state": "not-satisfied", "reason": "other"},
        {"state": "not-satisfied", "reason": "other"},
    ]


def test_oscal_keeps_the_original_control_id(oscal):
    finding = next(
        f for f in results(oscal)["findings"] if f["target"]["target-id"] == "eu-ai-act_art.12-1"
    )
    props = {p["name"]: p["value"] for p in finding["target"]["props"]}
    assert props == {"framework": "eu-ai-act", "control-id": "Art.12(1)"}


def test_oscal_references_resolve(oscal):
    document = oscal["assessment-results"]
    result = results(oscal)
    resources = {r["uuid"] for r in document["back-matter"]["resources"]}
    observations = {o["uuid"] for o in result["observations"]}
    assert document["import-ap"]["href"].removeprefix("#") in resources
    checked = 0
    for finding in result["findings"]:
        refs = {r["observation-uuid"] for r in finding.get("related-observations", [])}
        checked += bool(refs)
        assert refs <= observations
    assert checked
    for observation in result["observations"]:
        subjects = {s["subject-uuid"] for s in observation.get("subjects", [])}
        assert subjects <= resources
        hrefs = {e["href"][1:] for e in observation["relevant-evidence"] if "href" in e}
        assert hrefs == subjects
    assert any(o.get("subjects") for o in result["observations"])


def test_oscal_uuids_are_unique_v5_and_deterministic(oscal, model, rebuilt):
    text = oscal_assessment_results(model)
    found = re.findall(r'"uuid": "([0-9a-f-]{36})"', text.decode())
    assert len(found) == len(set(found)) > 10
    assert all(uuid.UUID(u).version == 5 for u in found)
    assert oscal_assessment_results(rebuilt) == text
    other = oscal_assessment_results(replace(model, report_id="AER-OTHER"))
    assert strict_json(other)["assessment-results"]["uuid"] != oscal["assessment-results"]["uuid"]


def test_oscal_back_matter_cites_each_receipt_with_its_hash(oscal, model):
    resources = oscal["assessment-results"]["back-matter"]["resources"]
    receipts = {r["title"]: r for r in resources if r["title"].startswith("urn:receipt:")}
    assert set(receipts) == {r.receipt_id for r in model.cited_receipts}
    assert len(resources) == len(model.cited_receipts) + 1  # and the method resource
    for ref in model.cited_receipts:
        link = receipts[ref.receipt_id]["rlinks"][0]
        assert link["href"] == "#" + ref.receipt_id
        assert link["hashes"] == [
            {"algorithm": "SHA-256", "value": ref.receipt_hash.removeprefix("sha256:")}
        ]


def test_oscal_times_come_from_the_model(oscal, model):
    metadata = oscal["assessment-results"]["metadata"]
    assert model.as_of == "2026-10-31T17:59:21.978000+00:00"
    assert metadata["last-modified"] == "2026-10-31T17:59:21.978000Z"
    result = results(oscal)
    assert (result["start"], result["end"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    assert {o["collected"] for o in result["observations"]} == {metadata["last-modified"]}


def test_oscal_for_an_empty_model_still_validates(model):
    scope = replace(model.scope, period_since=None, period_until=None)
    empty = replace(
        model, as_of=None, scope=scope, frameworks=(), findings=(), cited_receipts=(), integrity=()
    )
    document = strict_json(oscal_assessment_results(empty))
    validate(document)
    assert document["assessment-results"]["metadata"]["last-modified"] == "1970-01-01T00:00:00Z"
    assert "findings" not in results(document)


@pytest.mark.parametrize(
    ("framework", "control", "token"),
    [
        ("eu-ai-act", "Art.12(1)", "eu-ai-act_art.12-1"),
        ("eu-ai-act", "Art.12(2)(a)", "eu-ai-act_art.12-2-a"),
        ("soc2", "CC6.1", "soc2_cc6.1"),
        ("owasp-asi-2026", "ASI01", "owasp-asi-2026_asi01"),
        ("27001", "A 5.1", "c-27001_a-5.1"),
    ],
)
def test_oscal_control_id(framework, control, token):
    assert oscal_control_id(framework, control) == token
    assert TOKEN.match(token)


def test_oscal_control_ids_stay_unique(model):
    section = model.frameworks[0]
    a = replace(section.controls[0], id="A(1)", status="SATISFIED")
    b = replace(section.controls[0], id="A-1", status="SATISFIED")
    twin = replace(model, frameworks=(replace(section, controls=(a, b)),), findings=())
    document = strict_json(oscal_assessment_results(twin))
    validate(document)
    assert len(reviewed(document)) == 2


def test_line_breaks_in_untrusted_text_stay_inside_their_cell(model):
    broken = finding(statement="one\rtwo\r\nthree\nfour", chains=("c1", "c2"))
    rows = csv_rows(findings_csv(replace(model, findings=(broken,)), tiny_evidence([])))
    assert [r["chain_id"] for r in rows] == ["c1", "c2"]
    assert rows[0]["statement"] == "one\rtwo\r\nthree\nfour"
