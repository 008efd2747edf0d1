"""`summary.json`: what ticket systems and schedulers read from a report directory.

It is listed (with its hash) in the signed manifest like every artefact, so changing its
posture makes `verify-report` fail. File names are relative to the report directory: no
path of the machine that made the report appears in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding

from reporting.report.model import ReportModel

if TYPE_CHECKING:
    from reporting.settings import RunSettings
    from reporting.signing.keys import SigningIdentity

__all__ = ["SUMMARY_SCHEMA", "summary_document"]

SUMMARY_SCHEMA = "agent-evidence/summary/v2"
TOP_FINDINGS = 10


def summary_document(
    model: ReportModel,
    settings: RunSettings,
    identity: SigningIdentity,
    artefacts: Sequence[dict[str, Any]],
    exit_status: int,
) -> dict[str, Any]:
    """Posture, figures, top findings, the signer, the `--fail-on` rule and the exit
    status, and the other files of the directory with their SHA-256."""
    figures = model.figures
    certificate = identity.certificate.public_bytes(Encoding.DER)
    return {
        "schema": SUMMARY_SCHEMA,
        "report_id": model.report_id,
        "organisation": model.organisation,
        "posture": model.posture.value,
        "posture_reason": model.posture_reason,
        "period": {"since": model.scope.period_since, "until": model.scope.period_until},
        "scope": settings.scope.to_json() | {"label": model.scope.narrowed_to},
        "figures": {
            "receipts_in_scope": figures.receipts_in_scope,
            "trusted_receipts": figures.trusted_receipts,
            "chains": figures.chains,
            "broken_chains": figures.broken_chains,
            "input_problems": figures.input_problems,
        },
        "findings_by_severity": dict(figures.findings_by_severity),
        "frameworks": {f.id: f.counts for f in model.frameworks},
        "top_findings": [
            {
                "id": f.id,
                "key": f.key,  # the same finding in the next period has the same key
                "severity": f.severity.value,
                "title": f.title,
                "affected": f.affected,
                "controls": list(f.controls),
            }
            for f in model.findings[:TOP_FINDINGS]
        ],
        "signature": {
            "signer": identity.subject,
            "certificate_sha256": hashlib.sha256(certificate).hexdigest(),
            "demo": identity.demo,
        },
        "fail_on": settings.fail_on,
        "exit_status": exit_status,
        "artefacts": [{"name": a["name"], "sha256": a["sha256"]} for a in artefacts],
    }
