"""Re-derive a report's results from its sources, to prove the report faithful to them.

The manifest records the period and the mapping files (by id and SHA-256); verification
and assessment run again over the sources the verifier holds, and the results digest
must come out identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reporting.controls.loader import shipped_mapping_paths
from reporting.evidence.frame import Period
from reporting.pipeline import AssessRequest, VerifyRequest, run_report
from reporting.report.build import ReportOptions
from reporting.signing.manifest import results_digest

__all__ = ["RederiveInputs", "rederive_digest"]


@dataclass(frozen=True)
class RederiveInputs:
    sources: tuple[str, ...]
    keys: Path
    grants: Path | None = None
    witness: Path | None = None


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _mapping_paths(entries: Sequence[dict[str, Any]], directory: Path) -> list[str]:
    """Each recorded mapping, found by content: shipped, or a file beside the manifest."""
    candidates = [*shipped_mapping_paths(), *directory.glob("*.yaml")]
    by_digest = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in candidates}
    paths = []
    for entry in entries:
        path = by_digest.get(str(entry.get("sha256")))
        if path is None:
            raise ValueError(
                f"mapping {entry.get('id')} with sha256 {entry.get('sha256')} is not available"
            )
        paths.append(str(path))
    return paths


def rederive_digest(inputs: RederiveInputs, manifest: dict[str, Any], directory: Path) -> str:
    period = manifest.get("period") or {}
    request = AssessRequest(
        verify=VerifyRequest(
            sources=inputs.sources, keys=inputs.keys, grants=inputs.grants, witness=inputs.witness
        ),
        frameworks=tuple(_mapping_paths(manifest.get("mappings", []), directory)),
        period=Period(_instant(period.get("since")), _instant(period.get("until"))),
    )
    return results_digest(run_report(request, ReportOptions()).model)
