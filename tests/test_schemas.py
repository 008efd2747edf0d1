"""Every published JSON document validates against its schema in docs/schemas/ (issue 14):
`verify --json` and the verification export, the report model, the manifest,
summary.json and `verify-report --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reporting.cli import main

from .conftest import REPO
from .factory import ChainBuilder, Key, write_jsonl

SCHEMAS = REPO / "docs" / "schemas"


def _check(document: Any, name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: e.path
    )
    assert [f"{list(e.path)}: {e.message}" for e in errors[:5]] == []


def test_the_report_schema_is_what_the_model_generates() -> None:
    generated = subprocess.run(
        [sys.executable, "-c", "import json, schemas; print(json.dumps(schemas.report_schema()))"],
        cwd=REPO / "scripts",
        capture_output=True,
        text=True,
        check=True,
    )
    committed = json.loads((SCHEMAS / "report.schema.json").read_text())
    assert committed == json.loads(generated.stdout), "run scripts/schemas.py and commit"


def test_verify_json_follows_its_schema(tmp_path: Path, capsys) -> None:
    key = Key.from_seed("schemas")
    good = ChainBuilder(key, chain_id="good").extend(3).receipts
    bad = ChainBuilder(key, chain_id="bad").extend(2).receipts
    bad[1]["credentialSubject"]["action"]["type"] = "filesystem.file.delete"
    source = write_jsonl(tmp_path / "r.jsonl", [*good, *bad, {"not": "a receipt"}])
    main(["verify", str(source), "--keys", str(key.write_pem(tmp_path / "k.pem")), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert document["summary"]["broken_chains"] >= 1
    _check(document, "verification")


def test_the_signed_report_documents_follow_their_schemas(signed_sample_report, capsys) -> None:
    directory = signed_sample_report.directory
    stem = f"evidence-2026-10-{signed_sample_report.model.report_id}"
    _check(json.loads((directory / f"{stem}.json").read_text()), "report")
    _check(json.loads((directory / f"{stem}-verification.json").read_text()), "verification")
    _check(json.loads((directory / "manifest.json").read_text()), "manifest")
    _check(json.loads((directory / "summary.json").read_text()), "summary")
    main(["verify-report", str(directory), "--json"])
    _check(json.loads(capsys.readouterr().out), "verify-report")


@pytest.mark.parametrize(
    "name", sorted(p.stem.removesuffix(".schema") for p in SCHEMAS.glob("*.json"))
)
def test_every_schema_is_a_valid_2020_12_schema(name: str) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")
