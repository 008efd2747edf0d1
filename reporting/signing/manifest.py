"""The evidence manifest: every artefact and input of a run, with SHA-256, in canonical JSON.

RFC 8785 bytes, so the detached CMS signature beside it (`manifest.json.p7s`) and any
re-derivation compare exact bytes. The PDF is listed by its first revision (the unsigned
render), which the PAdES signature leaves untouched as an incremental update.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from reporting import __version__
from reporting.pipeline import ReportRun
from reporting.receipts.canonical import canonical_json
from reporting.report.model import ReportModel

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "SIGNATURE_NAME",
    "manifest_bytes",
    "parse_manifest",
    "results_digest",
]

MANIFEST_SCHEMA = "agent-evidence/manifest/v1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.p7s"


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


def manifest_bytes(run: ReportRun, artefacts: Sequence[dict[str, Any]]) -> bytes:
    """Canonical (RFC 8785) manifest of the given artefact listings, the inputs and the results."""
    model = run.model
    chains = run.assessment.verification.result.chains
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "tool_version": __version__,
        "report_id": model.report_id,
        "organisation": model.organisation,
        "period": {"since": model.scope.period_since, "until": model.scope.period_until},
        "artefacts": list(artefacts),
        "inputs": {
            "sources": list(model.scope.sources),
            "chains": [
                {
                    "chain_id": c.chain_id,
                    "length": c.length,
                    "head_hash": c.head_hash,
                    "valid": c.valid,
                }
                for c in chains
            ],
            "trust_anchors": list(model.scope.trust_anchors),
            "witnessed_chains": model.scope.witnesses,
            "grants_file": model.scope.grants_file,
        },
        "mappings": list(model.scope.mappings),
        "options": model.scope.options,
        "results_digest": results_digest(model),
    }
    return canonical_json(manifest)


def parse_manifest(data: bytes) -> dict[str, Any]:
    """A manifest's content; ValueError when it is not one of ours."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(f"not an {MANIFEST_SCHEMA} manifest")
    if not isinstance(manifest.get("artefacts"), list):
        raise ValueError("manifest has no artefact list")
    return manifest
