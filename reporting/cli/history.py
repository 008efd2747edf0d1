"""The report's options against the previous period (`--previous`, `--previous-trust`,
`--dispositions`), and the previous report found and verified before the run.

The pipeline never reads an earlier report: this module asks `reporting.audit.previous`
for it, verified, and hands the pipeline the result as plain data in the run settings.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reporting.report.model import ReportModel
    from reporting.settings import RunSettings
    from reporting.signing.keys import SigningIdentity

__all__ = ["add_history_options", "add_rederive_history", "history_lines", "with_previous"]


def add_history_options(report: argparse.ArgumentParser) -> None:
    group = report.add_argument_group("against the previous report")
    group.add_argument(
        "--previous",
        type=Path,
        metavar="DIR",
        help="the report to compare with (default: the most recent earlier report of the same "
        "organisation, frameworks and scope in --out); it must verify, or it is not used and "
        "the report says why",
    )
    group.add_argument(
        "--previous-trust",
        type=Path,
        action="append",
        default=[],
        metavar="CERT",
        help="PEM certificate(s) trusted to have signed the previous report (default: this "
        "run's signing certificate and chain)",
    )
    group.add_argument(
        "--dispositions",
        type=Path,
        metavar="F",
        help="the team's decisions per finding (YAML): owner, status, due date, ticket, "
        "justification; shown beside each finding and carried to the next period",
    )


def add_rederive_history(verify: argparse.ArgumentParser) -> None:
    verify.add_argument(
        "--previous", type=Path, metavar="DIR", help="the previous report it was compared with"
    )
    verify.add_argument("--dispositions", type=Path, metavar="F", help="its dispositions file")


def with_previous(
    settings: RunSettings, identity: SigningIdentity, args: argparse.Namespace
) -> RunSettings:
    """`settings` with the previous report (verified), the reason it is refused, or None."""
    from reporting.audit.previous import previous_report
    from reporting.pipeline import load_tsa_roots, resolve_frameworks

    framework_ids = [f.id for f in resolve_frameworks(settings.frameworks)]
    anchors = [identity.certificate, *identity.chain, *load_tsa_roots(args.previous_trust)]
    previous = previous_report(
        settings, framework_ids, signer=anchors, demo=identity.demo, named=args.previous
    )
    return replace(settings, previous=previous)


def history_lines(model: ReportModel) -> list[str]:
    """What the run prints about the previous report and the dispositions."""
    previous = model.previous
    lines = []
    if previous.status == "compared":
        counted = [f.change for f in previous.findings if f.kind == "finding"]
        lines.append(
            f"against {previous.report_id} ({previous.period}): posture {previous.posture} -> "
            f"{model.posture.value}; findings {counted.count('new')} new, "
            f"{counted.count('resolved')} resolved, {counted.count('recurring')} recurring; "
            f"{len(previous.controls)} controls changed status"
        )
    elif previous.status == "refused":
        which = f" {previous.report_id}" if previous.report_id else ""
        lines.append(f"previous report{which} not used [{previous.code}]: {previous.reason}")
    late = [d for d in model.dispositions if d.finding_id and (d.overdue or d.expired)]
    if late:
        lines.append(f"dispositions: {len(late)} overdue or expired (listed first in the report)")
    return lines
