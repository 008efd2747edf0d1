"""Everything a reader relies on is signed, re-derivation replays the run, and the same
inputs give the same report (issue 13, sections 3 to 5, and the crafted manifests of 6)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main

from .conftest import REPO, SAMPLES
from .factory import ChainBuilder, Key, receipt_hash, write_jsonl

KEY = Key.from_seed("report-trust")


def _verify_report(capsys, *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()  # what earlier commands printed
    code = main(["verify-report", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _status(result: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in result["checks"]}


@pytest.fixture
def report_copy(signed_sample_report, tmp_path: Path) -> Path:
    target = tmp_path / signed_sample_report.directory.name
    shutil.copytree(signed_sample_report.directory, target)
    return target


# -- 3. everything a reader relies on is signed ---------------------------------------------


def test_the_untouched_report_verifies_against_its_own_certificate(report_copy, capsys) -> None:
    cert = report_copy / "signer-cert.pem"
    code, result = _verify_report(capsys, str(report_copy), "--trust", str(cert))
    assert (code, result["ok"]) == (0, True)
    assert set(_status(result).values()) == {"PASS"}


def test_a_changed_summary_posture_fails_verification(report_copy, capsys) -> None:
    summary = json.loads((report_copy / "summary.json").read_text())
    summary["posture"] = "SUPPORTED"
    (report_copy / "summary.json").write_text(json.dumps(summary, indent=2))
    code, result = _verify_report(
        capsys, str(report_copy), "--trust", str(report_copy / "signer-cert.pem")
    )
    assert code == 1
    assert _status(result)["artefacts_match"] == "FAIL"


def test_a_replaced_signer_certificate_fails_verification(report_copy, capsys) -> None:
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.serialization import Encoding

    from reporting.signing.keys import demo_identity

    other = demo_identity(not_before=datetime.now(UTC)).certificate.public_bytes(Encoding.PEM)
    (report_copy / "signer-cert.pem").write_bytes(other)
    code, result = _verify_report(capsys, str(report_copy))
    assert code == 1
    assert _status(result)["artefacts_match"] == "FAIL"


def test_a_file_the_manifest_does_not_list_fails(report_copy, capsys) -> None:
    (report_copy / "README.txt").write_text("all controls satisfied")
    code, result = _verify_report(
        capsys, str(report_copy), "--trust", str(report_copy / "signer-cert.pem")
    )
    assert code == 1
    assert _status(result)["unlisted_files"] == "FAIL"


def test_a_changed_pdf_is_not_intact_never_intact_but_untrusted(report_copy, capsys) -> None:
    [pdf] = report_copy.glob("*.pdf")
    data = bytearray(pdf.read_bytes())
    position = data.index(b"/Producer")  # inside the signed first revision
    data[position + 1] ^= 0x20
    pdf.write_bytes(bytes(data))
    code = main(["verify-report", str(pdf)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  pdf_signature" in out
    assert "intact but untrusted" not in out
    code, result = _verify_report(capsys, str(pdf))
    assert _status(result)["pdf_signature"] == "FAIL"
    assert _status(result)["pdf_signer_trusted"] == "FAIL"


def test_trusting_the_reports_own_certificate_is_said_to_prove_nothing(
    demo_report, tmp_path: Path, capsys
) -> None:
    report_copy = demo_report.directory  # signed with the demo key; only read here
    own = report_copy / "signer-cert.pem"
    _, result = _verify_report(capsys, str(report_copy), "--trust", str(own))
    assert result["trust"] == {"self_anchored": True, "demo": True}
    assert len(result["warnings"]) == 2
    copied = tmp_path / "elsewhere.pem"  # the same certificate, wherever it is kept
    shutil.copy(own, copied)
    _, result = _verify_report(capsys, str(report_copy), "--trust", str(copied))
    assert result["trust"]["self_anchored"] is True
    assert main(["keys", "init", "--out", str(tmp_path / "keys")]) == 0
    capsys.readouterr()
    _, result = _verify_report(
        capsys, str(report_copy), "--trust", str(tmp_path / "keys" / "signing-cert.pem")
    )
    assert result["trust"]["self_anchored"] is False
    assert result["trust"]["demo"] is True  # the demo signer is always named


def test_verify_report_says_what_the_report_is_before_the_checks(report_copy, capsys) -> None:
    main(["verify-report", str(report_copy)])
    lines = capsys.readouterr().out.splitlines()
    first_check = next(i for i, line in enumerate(lines) if line.startswith(("PASS", "FAIL")))
    head = "\n".join(lines[:first_check])
    manifest = json.loads((report_copy / "manifest.json").read_text())
    assert manifest["report_id"] in head
    assert manifest["organisation"] in head
    assert manifest["period"]["since"] in head
    _, result = _verify_report(capsys, str(report_copy))
    about = result["report"]
    assert about["report_id"] == manifest["report_id"]
    assert about["signing_time"]
    assert about["signer"]
    assert len(about["certificate_sha256"]) == 64


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "../evil.pdf", "sha256": "0" * 64},
        "evidence.pdf",
        {"sha256": "0" * 64},
        {"name": "a/b.json", "sha256": "0" * 64},
        {"name": "x.json", "sha256": 7},
    ],
    ids=["parent-path", "string-entry", "no-name", "subdirectory", "digest-not-text"],
)
def test_a_crafted_manifest_is_a_fail_with_a_reason(report_copy, entry, capsys) -> None:
    manifest = json.loads((report_copy / "manifest.json").read_text())
    manifest["artefacts"].append(entry)
    (report_copy / "manifest.json").write_text(json.dumps(manifest))
    code, result = _verify_report(capsys, str(report_copy))
    assert code == 1
    assert _status(result)["manifest"] == "FAIL"
    assert not (report_copy.parent / "evil.pdf").exists()


def test_a_crafted_manifest_inside_a_pdf_is_a_fail_with_a_reason(tmp_path: Path, capsys) -> None:
    """An unsigned PDF whose attached manifest lists an entry without a name."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    manifest = {"schema": "agent-evidence/manifest/v2", "artefacts": [{"sha256": "0" * 64}]}
    writer.add_attachment("manifest.json", json.dumps(manifest).encode())
    pdf = tmp_path / "crafted.pdf"
    with pdf.open("wb") as handle:
        writer.write(handle)
    code, result = _verify_report(capsys, str(pdf))
    assert code == 1
    assert _status(result)["pdf_attachments"] == "FAIL"


# -- 4. re-derivation replays the run ------------------------------------------------------


def _chains() -> list[dict[str, Any]]:
    chains = []
    for n, chain_id in enumerate(["chain_ops_001", "chain_ops_002", "chain_fin_001"]):
        builder = ChainBuilder(KEY, chain_id=chain_id, issuer="did:agent:ops")
        for m in range(4):
            builder.add(timestamp=f"2026-10-{n + 10:02d}T08:0{m}:00.000Z")
        if n != 1:
            builder.add(terminal=True, timestamp=f"2026-10-{n + 10:02d}T09:00:00.000Z")
        chains.extend(builder.receipts)
    return chains


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    chains = _chains()
    source = write_jsonl(tmp_path / "receipts.jsonl", chains)
    first = [r for r in chains if r["credentialSubject"]["chain"]["chain_id"] == "chain_ops_001"]
    witness = tmp_path / "witness.yaml"
    witness.write_text(
        f"version: 1\nchains:\n  chain_ops_001: {{length: {len(first)}, "
        f'final_hash: "{receipt_hash(first[-1])}"}}\n'
    )
    grants = tmp_path / "grants.yaml"
    grants.write_text('version: 1\ngrants:\n  g1: {subject: "did:user:alice"}\n')
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    return {
        "source": source,
        "keys": KEY.write_pem(tmp_path / "key.pem"),
        "witness": witness,
        "grants": grants,
        "bodies": bodies,
        "out": tmp_path / "out",
    }


def _make(inputs: dict[str, Path], *options: str) -> Path:
    argv = ["report", str(inputs["source"]), "--keys", str(inputs["keys"]), "--format", "json"]
    code = main([*argv, "--out", str(inputs["out"]), "--quiet", "--fail-on", "never", *options])
    assert code == 0
    [directory] = list(inputs["out"].glob("*/AER-*"))
    return directory


def _rederive(capsys, directory: Path, inputs: dict[str, Path], *files: str) -> dict[str, str]:
    argv = [str(directory), "--rederive", str(inputs["source"]), "--keys", str(inputs["keys"])]
    _, result = _verify_report(capsys, *argv, *files)
    return _status(result)


@pytest.mark.parametrize(
    "options",
    [
        ["--require-terminal"],
        ["--chain", "chain_ops_*"],
        ["--since", "2026-10-11", "--until", "2026-10-12T08:02:00"],
        ["--period", "2026-10", "--framework", "soc2", "--organisation", "Example Corp"],
        ["--max-depth", "40", "--max-receipt-bytes", "200000"],
        ["--witness", "{witness}", "--grants", "{grants}", "--bodies", "{bodies}"],
        ["--issuer", "did:agent:o*", "--principal", "did:user:alice", "--grant", "g*"],
    ],
    ids=[
        "require-terminal",
        "chain-glob",
        "since-until",
        "period-framework",
        "limits",
        "files",
        "agent-principal-grant",
    ],
)
def test_rederive_replays_every_option_that_changes_results(
    inputs, options: list[str], capsys
) -> None:
    filled = [o.format(**{k: str(v) for k, v in inputs.items()}) for o in options]
    directory = _make(inputs, *filled)
    files = [o for o in filled if o.startswith("--") and o in {"--witness", "--grants", "--bodies"}]
    supplied = [x for f in files for x in (f, str(inputs[f.removeprefix("--")]))]
    assert _rederive(capsys, directory, inputs, *supplied)["rederive"] == "PASS"


def test_rederive_of_the_scheduled_sample_config_passes(tmp_path: Path, capsys) -> None:
    """The documented scheduled path: overrides, bodies, witness and grants from the file."""
    argv = ["report", "--config", str(SAMPLES / "report.yaml"), "--format", "json"]
    assert main([*argv, "--out", str(tmp_path), "--quiet", "--fail-on", "never"]) == 0
    [directory] = list(tmp_path.glob("*/AER-*"))
    _, result = _verify_report(
        capsys,
        str(directory),
        "--rederive", str(SAMPLES / "receipts.db"),
        "--keys", str(SAMPLES / "trust.yaml"),
        "--witness", str(SAMPLES / "witness.yaml"),
        "--grants", str(SAMPLES / "grants.yaml"),
        "--bodies", str(SAMPLES / "bodies"),
    )  # fmt: skip
    assert _status(result)["rederive"] == "PASS", result["checks"]


def test_rederive_fails_naming_a_file_that_differs_or_is_missing(inputs, capsys) -> None:
    directory = _make(inputs, "--witness", str(inputs["witness"]))
    assert _rederive(capsys, directory, inputs)["rederive"] == "FAIL"  # witness not given
    other = inputs["witness"].with_name("other.yaml")
    other.write_text(inputs["witness"].read_text().replace("chain_ops_001", "chain_ops_002"))
    _, result = _verify_report(
        capsys, str(directory), "--rederive", str(inputs["source"]),
        "--keys", str(inputs["keys"]), "--witness", str(other),
    )  # fmt: skip
    [check] = [c for c in result["checks"] if c["check"] == "rederive"]
    assert check["status"] == "FAIL"
    assert "other.yaml" in check["reason"]


def test_rederive_fails_when_a_source_differs(inputs, capsys) -> None:
    directory = _make(inputs)
    lines = inputs["source"].read_text().splitlines(keepends=True)
    inputs["source"].write_text("".join(lines[:-1]))  # the last receipt is gone
    assert _rederive(capsys, directory, inputs)["rederive"] == "FAIL"


# -- 5. same inputs, same report --------------------------------------------------------------


def test_the_report_id_ignores_path_spelling_and_formats(
    inputs, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = set()
    for source, formats in [("receipts.jsonl", "json"), (str(inputs["source"]), "json,csv")]:
        argv = ["report", source, "--keys", "key.pem", "--format", formats, "--json", "--quiet"]
        main([*argv, "--out", str(tmp_path / f"out-{formats}"), "--fail-on", "never"])
        ids.add(json.loads(capsys.readouterr().out)["report_id"])
    assert len(ids) == 1


def test_no_absolute_path_of_this_machine_appears_in_the_report(tmp_path: Path, capsys) -> None:
    config = tmp_path / "conf" / "report.yaml"
    config.parent.mkdir()
    for name in ("receipts.db", "trust.yaml", "witness.yaml", "grants.yaml"):
        shutil.copy(SAMPLES / name, config.parent / name)
    shutil.copytree(SAMPLES / "keys", config.parent / "keys")
    shutil.copytree(SAMPLES / "bodies", config.parent / "bodies")
    config.write_text(
        "schema: agent-evidence/config/v1\nsources: [receipts.db]\nkeys: trust.yaml\n"
        "witness: witness.yaml\ngrants: grants.yaml\nbodies: bodies\nperiod: 2026-10\n"
        "output: {directory: out, formats: [json, csv, html, oscal]}\n"
    )
    assert main(["report", "--config", str(config), "--quiet", "--fail-on", "never"]) == 0
    [directory] = list((config.parent / "out").glob("*/AER-*"))
    for path in directory.iterdir():
        data = path.read_bytes()
        for absolute in {str(tmp_path), str(REPO), str(Path.cwd())}:
            assert absolute.encode() not in data, (path.name, absolute)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert [s["path"] for s in manifest["inputs"]["sources"]] == ["receipts.db"]
    assert manifest["settings"]["witness"]["name"] == "witness.yaml"


def test_a_second_run_never_overwrites_an_earlier_report(inputs, capsys) -> None:
    first = _make(inputs)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    argv = ["report", str(inputs["source"]), "--keys", str(inputs["keys"]), "--format", "json,csv"]
    assert main([*argv, "--out", str(inputs["out"]), "--fail-on", "never"]) == 0
    out = capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    second = first.with_name(f"{first.name}-2")
    assert (second / "manifest.json").is_file()
    assert str(first) in out  # said, not silent
