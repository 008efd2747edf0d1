"""The evidence manifest: every artefact and input of a run, with SHA-256, in canonical JSON.

RFC 8785 bytes, so the detached CMS signature beside it (`manifest.json.p7s`) and any
re-derivation compare exact bytes. It lists every file of the report directory but its
own signature: the signed PDF, the exports, `summary.json` (what schedulers and ticket
systems read) and the signer's certificate. It also records the inputs (sources by
display name and digest, every chain's head), the whole run settings (everything that
can change a result, input files by digest) and the digest of the results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reporting import __version__
from reporting.receipts.canonical import canonical_json
from reporting.receipts.results import VerificationResult
from reporting.report.model import ReportModel
from reporting.report.names import MANIFEST_NAME

__all__ = [
    "MANIFEST_SCHEMA",
    "SIGNATURE_NAME",
    "ManifestInputs",
    "manifest_bytes",
    "parse_manifest",
    "results_digest",
]

MANIFEST_SCHEMA = "agent-evidence/manifest/v2"
SIGNATURE_NAME = f"{MANIFEST_NAME}.p7s"  # the manifest's detached signature, beside it


def results_digest(model: ReportModel) -> str:
    """SHA-256 over the canonical control statuses and findings: what a re-derivation must match."""
    results = {
        "frameworks": [
            {"id": f.id, "controls": [{"id": c.id, "status": c.status} for c in f.controls]}
            for f in model.frameworks
        ],
        "findings": [
            {
                "id": f.id,
                "key": f.key,
                "checks": list(f.checks),
                "severity": f.severity.value,
                "affected": f.affected,
                "controls": list(f.controls),
                "receipt_ids": list(f.receipt_ids),
                "chains": list(f.chains),
            }
            for f in (*model.findings, *model.exceptions)
        ],
        "posture": model.posture.value,
    }
    return "sha256:" + hashlib.sha256(canonical_json(results)).hexdigest()


@dataclass(frozen=True)
class ManifestInputs:
    """Everything the manifest says besides its artefact list (plain data)."""

    report_id: str
    organisation: str
    period: dict[str, str | None]
    sources: tuple[dict[str, Any], ...]
    chains: tuple[dict[str, Any], ...]
    trust_anchors: tuple[dict[str, Any], ...]
    mappings: tuple[dict[str, Any], ...]
    settings: dict[str, Any]
    results_digest: str

    @classmethod
    def of(
        cls, model: ReportModel, verification: VerificationResult, settings: dict[str, Any]
    ) -> ManifestInputs:
        return cls(
            report_id=model.report_id,
            organisation=model.organisation,
            period={"since": model.scope.period_since, "until": model.scope.period_until},
            sources=tuple(model.scope.sources),
            chains=tuple(
                {
                    "chain_id": c.chain_id,
                    "length": c.length,
                    "head_hash": c.head_hash,
                    "valid": c.valid,
                }
                for c in verification.chains
            ),
            trust_anchors=tuple(model.scope.trust_anchors),
            mappings=tuple(model.scope.mappings),
            settings=settings,
            results_digest=results_digest(model),
        )


def manifest_bytes(inputs: ManifestInputs, artefacts: Sequence[dict[str, Any]]) -> bytes:
    """Canonical (RFC 8785) manifest of the given artefact listings, the inputs and the results."""
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "tool_version": __version__,
        "report_id": inputs.report_id,
        "organisation": inputs.organisation,
        "period": inputs.period,
        "artefacts": list(artefacts),
        "inputs": {
            "sources": list(inputs.sources),
            "chains": list(inputs.chains),
            "trust_anchors": list(inputs.trust_anchors),
        },
        "mappings": list(inputs.mappings),
        "settings": inputs.settings,
        "results_digest": inputs.results_digest,
    }
    return canonical_json(manifest)


def parse_manifest(data: bytes) -> dict[str, Any]:
    """A manifest's content, checked for the shape verification relies on; ValueError
    (with the reason) when it is not one of ours. Never trusts a member's type: a
    crafted, unsigned manifest must give a reason, not a crash."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(f"not an {MANIFEST_SCHEMA} manifest")
    artefacts = manifest.get("artefacts")
    if not isinstance(artefacts, list):
        raise ValueError("manifest has no artefact list")
    for number, entry in enumerate(artefacts):
        _check_listing(number, entry)
    names = [entry["name"] for entry in artefacts]
    if len(set(names)) != len(names):
        raise ValueError("manifest lists a file name twice")
    return manifest


def _check_listing(number: int, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"artefact entry {number} is not an object")
    name, digest = entry.get("name"), entry.get("sha256")
    if not isinstance(name, str) or not name:
        raise ValueError(f"artefact entry {number} has no name")
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"artefact entry {number} names {name!r}, which is not a file name")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise ValueError(f"artefact {name!r} has no SHA-256 (64 hex digits)")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
