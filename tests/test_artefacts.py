"""The report's artefacts: names, the manifest beside them, and the manifest inside the PDF."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from reporting.cli import main
from reporting.evidence.frame import Period
from reporting.periods import parse_period
from reporting.pipeline import render_report
from reporting.report.artefacts import period_label
from reporting.signing.manifest import MANIFEST_SCHEMA, results_digest

from .conftest import REPO


@pytest.fixture(scope="module")
def artefacts(sample_artefacts):
    return sample_artefacts  # every format, laid out in this process (conftest.py)


def _by_suffix(artefacts, suffix: str):
    return next(a for a in artefacts if a.name.endswith(suffix))


def test_names_carry_the_period_and_report_id(artefacts, sample_report) -> None:
    report_id = sample_report.model.report_id
    names = [a.name for a in artefacts]
    assert all(n.startswith(f"evidence-2026-10-{report_id}") for n in names)
    assert {Path(n).suffix for n in names} == {".pdf", ".html", ".json", ".csv", ".jsonl"}


def test_the_manifest_lists_every_file_of_the_report_but_its_signature(
    signed_sample_report,
) -> None:
    """summary.json (what schedulers read) and the signer certificate are listed with their
    hashes like every artefact; only the manifest and its own signature are not."""
    directory = signed_sample_report.directory
    manifest = json.loads((directory / "manifest.json").read_bytes())
    assert manifest["schema"] == MANIFEST_SCHEMA
    listed = {a["name"]: a for a in manifest["artefacts"]}
    on_disk = {p.name for p in directory.iterdir()}
    assert set(listed) == on_disk - {"manifest.json", "manifest.json.p7s"}
    assert {"summary.json", "signer-cert.pem"} <= set(listed)
    for name, entry in listed.items():
        data = (directory / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["size"] == len(data)
    assert manifest["results_digest"] == results_digest(signed_sample_report.model)
    assert {c["chain_id"] for c in manifest["inputs"]["chains"]} >= {"2026-10-20"}
    sources = manifest["inputs"]["sources"]
    assert [s["path"] for s in sources] == ["samples/receipts.db"]  # a display name
    for source in sources:  # the bytes of each source file, hashed while it was spooled
        expected = hashlib.sha256((REPO / source["path"]).read_bytes()).hexdigest()
        assert source["sha256"] == f"sha256:{expected}"


def test_pdf_attachments_match_the_manifest_inside_it(artefacts) -> None:
    reader = PdfReader(io.BytesIO(_by_suffix(artefacts, ".pdf").data))
    attached = {name: contents[0] for name, contents in reader.attachments.items()}
    inside = json.loads(attached.pop("manifest.json"))
    listed = {a["name"]: a["sha256"] for a in inside["artefacts"]}
    assert set(listed) == set(attached)
    for name, data in attached.items():
        assert hashlib.sha256(data).hexdigest() == listed[name], name
    assert any(name.endswith("-cited-receipts.jsonl") for name in attached)


def test_the_pdf_carries_chain_verdicts_and_the_export_every_receipt(
    artefacts, sample_report
) -> None:
    """Each passing receipt's own line is bulk: it stays in the -verification.json export;
    the PDF's copy keeps every chain's verdict with every failure and warning."""
    reader = PdfReader(io.BytesIO(_by_suffix(artefacts, ".pdf").data))
    attached = {name: contents[0] for name, contents in reader.attachments.items()}
    assert not any(name.endswith("-verification.json") for name in attached)
    [chains_name] = [n for n in attached if n.endswith("-verification-chains.json")]
    in_pdf = json.loads(attached[chains_name])
    exported = json.loads(_by_suffix(artefacts, "-verification.json").data)
    result = sample_report.assessment.verification.result
    assert sum(len(c["receipts"]) for c in exported["chains"]) == result.receipt_count
    assert all("receipts" not in c for c in in_pdf["chains"])
    slim = [{k: v for k, v in c.items() if k != "receipts"} for c in exported["chains"]]
    assert in_pdf["chains"] == slim  # every verdict, failure and warning, in both
    assert in_pdf["summary"]["receipts"] == result.receipt_count
    assert any(c["failures"] for c in in_pdf["chains"])


def test_manifest_is_canonical_json(signed_sample_report) -> None:
    import rfc8785

    manifest = (signed_sample_report.directory / "manifest.json").read_bytes()
    assert manifest == rfc8785.dumps(json.loads(manifest))


@pytest.mark.parametrize(
    ("period", "label"),
    [
        (parse_period("2026-10", None, None), "2026-10"),
        (parse_period("2026-12", None, None), "2026-12"),
        (parse_period(None, "2026-10-15", "2026-11-01"), "20261015-20261101"),
        (parse_period(None, "2026-10-15", None), "20261015-now"),
        (Period(), "all"),
    ],
)
def test_period_labels(period: Period, label: str) -> None:
    assert period_label(period) == label


def test_cli_writes_only_the_requested_formats(tmp_path: Path, capsys) -> None:
    samples = Path(__file__).resolve().parents[1] / "samples"
    code = main(
        [
            "report",
            str(samples / "receipts.db"),
            "--keys",
            str(samples / "trust.yaml"),
            "--period",
            "2026-10",
            "--format",
            "json",
            "--format",
            "csv",  # repeated: the union, not the last one
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 1  # the samples' broken chains
    summary = json.loads(capsys.readouterr().out)
    assert summary["posture"] == "INTEGRITY BROKEN"
    [directory] = list(tmp_path.glob("2026-10/AER-*"))
    written = sorted(p.name for p in directory.iterdir())
    # model JSON, findings CSV, evidence requests CSV, verification, cited receipts;
    # manifest, its signature, signer certificate, and the run summary
    assert len(written) == 9
    assert {"manifest.json", "manifest.json.p7s", "signer-cert.pem", "summary.json"} <= set(written)
    assert not list(tmp_path.glob("2026-10/.*")), "no staging directory left behind"
    assert not any(name.endswith((".pdf", ".html", "-oscal.json")) for name in written)
    assert Path(summary["directory"]) == directory
    for entry in summary["artefacts"]:
        data = (directory / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_unknown_format_is_a_usage_error(tmp_path: Path, capsys) -> None:
    samples = Path(__file__).resolve().parents[1] / "samples"
    code = main(
        [
            "report",
            str(samples / "receipts.db"),
            "--keys",
            str(samples / "trust.yaml"),
            "--format",
            "pdf,docx",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "docx" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_releasing_the_rows_before_the_layout_changes_no_byte(
    sample_report, sample_artefacts, signed_sample_report, monkeypatch
) -> None:
    """The CLI frees the per-receipt rows once the exports that read them are built; the
    per-receipt verdicts (the largest export) are built after, where the rows were; the
    documents are rendered from the report model alone, so every artefact is the same."""
    from reporting.pipeline import run_report
    from reporting.report import artefacts as artefacts_module

    from .conftest import sample_settings

    notice = signed_sample_report.model.signature  # as sample_artefacts were laid out
    released = run_report(sample_settings(), signature=notice)
    assert len(released.assessment.evidence.receipts) > 3000
    rows_when_built: list[int] = []
    build = artefacts_module.verification_document

    def verification_document(*args, **kwargs):
        rows_when_built.append(len(released.assessment.evidence.receipts))
        return build(*args, **kwargs)

    monkeypatch.setattr(artefacts_module, "verification_document", verification_document)
    formats = ["html", "json", "csv", "oscal"]
    actual = {a.name: a.data for a in render_report(released, formats, release_rows=True)}
    assert rows_when_built == [0]  # built once, after the rows were freed
    assert len(released.assessment.evidence.receipts) == 0
    assert released.assessment.evidence.in_scope.empty
    expected = {a.name: a.data for a in sample_artefacts if not a.name.endswith(".pdf")}
    assert actual == expected
    assert len(sample_report.assessment.evidence.receipts) > 3000  # kept where not released
