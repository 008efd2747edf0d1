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
from reporting.report.wording import count

if TYPE_CHECKING:
    from reporting.settings import RunSettings
    from reporting.signing.keys import SigningIdentity

__all__ = ["SUMMARY_SCHEMA", "headline", "summary_document"]

SUMMARY_SCHEMA = "agent-evidence/summary/v2"
TOP_FINDINGS = 10


def headline(model: ReportModel) -> str:
    """One line for a ticket: who, which period, the posture and why, the findings by
    severity (the words of the report)."""
    findings = model.findings
    by_severity = ", ".join(
        f"{n:,} {severity}" for severity, n in model.figures.findings_by_severity.items() if n
    )
    found = count(len(findings), "finding") + (f" ({by_severity})" if by_severity else "")
    since = (model.scope.period_since or "")[:10] or "the first receipt"
    until = (model.scope.period_until or "")[:10] or "the last receipt"
    return (
        f"{model.organisation}, {since} to {until} (report {model.report_id}): "
        f"{model.posture.value}. {model.posture_reason[:1].upper()}{model.posture_reason[1:]} "
        f"{found}."
    )


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
        "headline": headline(model),
        "period": {"since": model.scope.period_since, "until": model.scope.period_until},
        "scope": settings.scope.to_json() | {"label": model.scope.narrowed_to},
        "figures": {
            "receipts_in_scope": figures.receipts_in_scope,
            "trusted_receipts": figures.trusted_receipts,
            "chains": figures.chains,
            "broken_chains": figures.broken_chains,
            # verified, but failing the grounded-principal tier: not an integrity failure
            "ungrounded_chains": figures.ungrounded_chains,
            "input_problems": figures.input_problems,
            # the egress firewall's side, when its records were given (Pipelock)
            "recorder_sessions": figures.recorder_sessions,
            "broken_recorder_sessions": figures.broken_recorder_sessions,
            "egress_decisions": figures.egress_decisions,
            "trusted_egress_decisions": figures.trusted_egress_decisions,
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
                "unit": f.unit,
                "agents": list(f.agents),
                "controls": list(f.controls),
                "remediation": f.remediation,
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
