"""Tests for samples/generate.py and the committed sample dataset in samples/.

The regeneration test needs the reference SDK ``obsigna`` (dev extra) and is skipped without
it; the other tests only read the committed files and check that every deliberate defect
listed in samples/defects.json really is in samples/receipts.db, exactly once.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
GENERATOR = SAMPLES / "generate.py"
DB_PATH = SAMPLES / "receipts.db"
DEFECT_IDS = {
    "tampered_receipt",
    "sequence_gap",
    "critical_without_authorization",
    "expired_authorization",
    "events_dropped",
    "ungrounded_principal",
}


def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def defects() -> dict[str, dict[str, Any]]:
    document = json.loads((SAMPLES / "defects.json").read_text())
    return {d["id"]: d for d in document["defects"]}


def receipt(receipt_id: str) -> dict[str, Any]:
    (raw,) = query(DB_PATH, "SELECT receipt_json FROM receipts WHERE id = ?", (receipt_id,))[0]
    return json.loads(raw)


def all_receipts() -> list[dict[str, Any]]:
    return [json.loads(raw) for (raw,) in query(DB_PATH, "SELECT receipt_json FROM receipts")]


def chain_sequences(chain_id: str) -> list[int]:
    rows = query(
        DB_PATH, "SELECT sequence FROM receipts WHERE chain_id = ? ORDER BY sequence", (chain_id,)
    )
    return [seq for (seq,) in rows]


def jcs_hash(value: Any) -> str:
    rfc8785 = pytest.importorskip("rfc8785")
    return "sha256:" + hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def receipt_hash(document: dict[str, Any]) -> str:
    return jcs_hash({k: v for k, v in document.items() if k != "proof"})


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def grants() -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / "grants.yaml").read_text())["grants"]


# --------------------------------------------------------------------------- (a) regeneration


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("obsigna", reason="obsigna (dev extra) is needed to regenerate samples")
    out = tmp_path_factory.mktemp("samples")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / "manifest.json").read_text())


def table_rows(db_path: Path) -> list[tuple[Any, ...]]:
    return query(db_path, "SELECT * FROM receipts ORDER BY id")


@pytest.mark.slow
def test_regeneration_is_byte_identical(regenerated: Path) -> None:
    committed, fresh = manifest(SAMPLES), manifest(regenerated)
    if fresh["environment"]["obsigna"] != committed["environment"]["obsigna"]:
        pytest.skip(f"samples were generated with obsigna {committed['environment']['obsigna']}")
    same_sqlite = fresh["environment"]["sqlite"] == committed["environment"]["sqlite"]
    assert set(fresh["files"]) == set(committed["files"])
    for name in [*fresh["files"], "manifest.json"]:
        if not same_sqlite and name in {"receipts.db", "manifest.json"}:
            continue  # the SQLite file header records the library version
        assert (regenerated / name).read_bytes() == (SAMPLES / name).read_bytes(), name
    assert table_rows(regenerated / "receipts.db") == table_rows(DB_PATH)


def test_committed_files_match_manifest() -> None:
    listed = manifest(SAMPLES)["files"]
    for name, digest in listed.items():
        assert hashlib.sha256((SAMPLES / name).read_bytes()).hexdigest() == digest, name
    for folder in ("keys", "bodies"):
        on_disk = {p.relative_to(SAMPLES).as_posix() for p in (SAMPLES / folder).rglob("*")}
        on_disk = {p for p in on_disk if (SAMPLES / p).is_file()}
        assert on_disk == {n for n in listed if n.startswith(f"{folder}/")}


# --------------------------------------------------------------------------- (b) defects


def test_defects_json_lists_each_defect_once_in_its_own_chain() -> None:
    found = defects()
    assert set(found) == DEFECT_IDS
    assert len({d["chain_id"] for d in found.values()}) == len(DEFECT_IDS)
    for defect in found.values():
        assert defect["expected_codes"]
        assert defect["description"]


def test_defect_receipts_are_in_the_store() -> None:
    for defect in defects().values():
        if defect.get("deleted"):
            continue
        rows = query(
            DB_PATH, "SELECT chain_id, sequence FROM receipts WHERE id = ?", (defect["receipt_id"],)
        )
        assert rows == [(defect["chain_id"], defect["sequence"])], defect["id"]


def test_gap_really_misses_a_sequence() -> None:
    gap = defects()["sequence_gap"]
    sequences = chain_sequences(gap["chain_id"])
    missing = gap["sequence"]
    assert missing not in sequences
    assert missing - 1 in sequences
    assert gap["detected_at_sequence"] == missing + 1
    assert missing + 1 in sequences
    assert sorted(set(range(1, sequences[-1] + 1)) - set(sequences)) == [missing]
    assert not query(DB_PATH, "SELECT 1 FROM receipts WHERE id = ?", (gap["receipt_id"],))
    follower = receipt(gap["detected_at_receipt_id"])
    assert follower["credentialSubject"]["chain"]["sequence"] == missing + 1


def test_tampered_receipt_no_longer_matches_its_hash() -> None:
    tampered = defects()["tampered_receipt"]
    rows = query(
        DB_PATH,
        "SELECT sequence, receipt_json, receipt_hash FROM receipts WHERE chain_id = ?"
        " AND sequence IN (?, ?, ?) ORDER BY sequence",
        (
            tampered["chain_id"],
            tampered["sequence"] - 1,
            tampered["sequence"],
            tampered["sequence"] + 1,
        ),
    )
    (_, before_raw, before_hash), (_, raw, stored_hash), (_, after_raw, _) = rows
    document = json.loads(raw)
    assert (
        document["credentialSubject"]["action"]["target"]["resource"] == tampered["tampered_value"]
    )
    assert receipt_hash(json.loads(before_raw)) == before_hash
    assert receipt_hash(document) != stored_hash
    assert (
        json.loads(after_raw)["credentialSubject"]["chain"]["previous_receipt_hash"] == stored_hash
    )


def test_assessment_defects_occur_exactly_once() -> None:
    found = defects()
    registry = grants()
    critical_no_auth, expired, dropped, ungrounded = set(), set(), set(), set()
    for document in all_receipts():
        subject = document["credentialSubject"]
        action, auth = subject["action"], subject.get("authorization")
        if action["risk_level"] == "critical" and auth is None:
            critical_no_auth.add(document["id"])
        if auth and timestamp(auth["expires_at"]) < timestamp(action["timestamp"]):
            expired.add(document["id"])
        if action.get("emitter_metadata", {}).get("drop_count", 0) > 0:
            dropped.add(document["id"])
        if (
            action["risk_level"] in {"high", "critical"}
            and (auth or {}).get("grant_ref") not in registry
        ):
            ungrounded.add(document["id"])
    assert critical_no_auth == {found["critical_without_authorization"]["receipt_id"]}
    assert expired == {found["expired_authorization"]["receipt_id"]}
    assert dropped == {found["events_dropped"]["receipt_id"]}
    assert ungrounded == {
        found["ungrounded_principal"]["receipt_id"],
        found["critical_without_authorization"]["receipt_id"],
    }
    events = receipt(found["events_dropped"]["receipt_id"])["credentialSubject"]["action"]
    assert events["type"] == "agent_receipts.events_dropped"


# ------------------------------------------------------------------ (c) size and side files


def test_receipt_count_in_range_and_documented() -> None:
    ((count,),) = query(DB_PATH, "SELECT COUNT(*) FROM receipts")
    assert 2000 <= count <= 10000
    assert f"**{count} receipts**" in (SAMPLES / "README.md").read_text()
    ((first, last),) = query(DB_PATH, "SELECT MIN(timestamp), MAX(timestamp) FROM receipts")
    assert first >= "2026-10-01T00:00:00"
    assert last < "2026-11-01T00:00:00"


def test_trust_store_covers_every_issuer() -> None:
    trust = yaml.safe_load((SAMPLES / "trust.yaml").read_text())
    assert trust["version"] == 1
    issuers = {entry["issuer"]: entry for entry in trust["issuers"]}
    stored = {issuer for (issuer,) in query(DB_PATH, "SELECT DISTINCT issuer_id FROM receipts")}
    assert stored == set(issuers)
    forms = {form for entry in trust["issuers"] for key in entry["keys"] for form in key}
    assert {"pem_file", "did_key"} <= forms
    for entry in trust["issuers"]:
        for key in entry["keys"]:
            if "pem_file" in key:
                assert (SAMPLES / key["pem_file"]).read_text().startswith("-----BEGIN PUBLIC KEY")
    rotated = [
        p.name for p in (SAMPLES / "keys" / "daemon").iterdir() if p.name != "signing.key.pub"
    ]
    assert len(rotated) == 1
    assert re.fullmatch(r"signing\.key\.pub\.rotated-[0-9a-f]{16}", rotated[0])


def test_witness_matches_store() -> None:
    witness = yaml.safe_load((SAMPLES / "witness.yaml").read_text())
    assert len(witness["chains"]) == 2
    for chain_id, expected in witness["chains"].items():
        rows = query(
            DB_PATH,
            "SELECT receipt_hash FROM receipts WHERE chain_id = ? ORDER BY sequence",
            (chain_id,),
        )
        assert len(rows) == expected["length"]
        assert rows[-1][0] == expected["final_hash"]


def test_response_bodies_hash_to_response_hash() -> None:
    bodies = sorted((SAMPLES / "bodies").glob("*.json"))
    assert bodies
    for path in bodies:
        document = receipt(f"urn:receipt:{path.stem}")
        expected = document["credentialSubject"]["outcome"]["response_hash"]
        assert jcs_hash(json.loads(path.read_text())) == expected, path.name
