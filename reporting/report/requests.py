"""The manual-evidence request list: every control's evidence still to be supplied by a
person, with the owner the configuration names for it, in one list for the auditor.

Owners come from the configuration's `evidence_owners`, a mapping of patterns to owners
read in file order, the first match winning: `FRAMEWORK:CONTROL` glob patterns
(`eu-ai-act:Art.12*`), a framework id alone for all its controls (`soc2`), or `*` for
every control. A control no pattern matches has no owner, which the list says.
"""

from __future__ import annotations

import csv
import fnmatch
import io
from collections.abc import Sequence
from dataclasses import dataclass

from reporting.report.model import EvidenceRequest, FrameworkSection

__all__ = ["REQUEST_COLUMNS", "EvidenceOwner", "evidence_requests", "evidence_requests_csv"]

REQUEST_COLUMNS = ("framework", "control", "title", "status", "evidence", "owner")


@dataclass(frozen=True)
class EvidenceOwner:
    """Who supplies the manual evidence of the controls `pattern` matches."""

    pattern: str  # FRAMEWORK:CONTROL glob, a framework id, or *
    owner: str

    def matches(self, framework: str, control: str) -> bool:
        if ":" not in self.pattern:
            return fnmatch.fnmatchcase(framework, self.pattern)
        return fnmatch.fnmatchcase(f"{framework}:{control}", self.pattern)


def owner_for(owners: Sequence[EvidenceOwner], framework: str, control: str) -> str | None:
    return next((o.owner for o in owners if o.matches(framework, control)), None)


def evidence_requests(
    frameworks: Sequence[FrameworkSection], owners: Sequence[EvidenceOwner]
) -> tuple[EvidenceRequest, ...]:
    """One request per control with manual evidence outstanding, in the frameworks' order."""
    return tuple(
        EvidenceRequest(
            framework=framework.id,
            control=control.id,
            anchor=control.anchor,
            title=control.title,
            status=control.status,
            evidence=control.manual_evidence,
            owner=owner_for(owners, framework.id, control.id),
        )
        for framework in frameworks
        for control in framework.controls
        if control.manual_evidence
    )


def evidence_requests_csv(requests: Sequence[EvidenceRequest]) -> bytes:
    """One row per item of evidence to request (every field quoted, as the findings CSV)."""
    from reporting.report.exports import neutralise_cell  # loads pandas: only when written

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(REQUEST_COLUMNS)
    for request in requests:
        for item in request.evidence:
            row = (
                request.framework,
                request.control,
                request.title,
                request.status,
                item,
                request.owner or "",
            )
            writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")
