"""Agent Evidence: verify Agent Receipts chains and report them as compliance evidence.

The library surface a Python caller needs, in pipeline order::

    from reporting import RunSettings, VerifyRequest, run_signed_report

    settings = RunSettings(verify=VerifyRequest(sources=("receipts.db",), keys=Path("trust.yaml")))
    written = run_signed_report(settings)        # verify, assess, render, sign, write
    print(written.directory, written.posture)

- `run_verification(VerifyRequest) -> VerificationRun`: the `verify` command;
- `run_assessment(RunSettings) -> AssessmentRun`: verification plus the assessment;
- `run_report(RunSettings) -> ReportRun`: plus the report model (nothing written);
- `run_signed_report(RunSettings) -> WrittenReport`: the whole pipeline;
- `verify_report(path, trust=...) -> ReportVerification`: check a report you received.

Everything else is internal and may change. Names load on first use, so importing the
package (as the command line does) costs nothing until a stage is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reporting._lazy import lazy_attributes

# One literal, also the distribution's version (pyproject.toml reads it): every command
# prints it without the ~25 ms of an importlib.metadata lookup.
from reporting._version import __version__

_EXPORTS = {
    "AssessmentRun": "reporting.pipeline",
    "ChainResult": "reporting.receipts.results",
    "Code": "reporting.receipts.results",
    "EvidenceError": "reporting.errors",
    "OutputSettings": "reporting.settings",
    "ReportRun": "reporting.pipeline",
    "ReportVerification": "reporting.audit.verify_report",
    "RunSettings": "reporting.settings",
    "SigningSettings": "reporting.settings",
    "VerificationResult": "reporting.receipts.results",
    "VerificationRun": "reporting.pipeline",
    "VerifyRequest": "reporting.settings",
    "WrittenReport": "reporting.pipeline",
    "run_assessment": "reporting.pipeline",
    "run_report": "reporting.pipeline",
    "run_signed_report": "reporting.pipeline",
    "run_verification": "reporting.pipeline",
    "tune_for_batch_work": "reporting.collector",
    "verify_report": "reporting.audit.verify_report",
}

__all__ = [
    "AssessmentRun",
    "ChainResult",
    "Code",
    "EvidenceError",
    "OutputSettings",
    "ReportRun",
    "ReportVerification",
    "RunSettings",
    "SigningSettings",
    "VerificationResult",
    "VerificationRun",
    "VerifyRequest",
    "WrittenReport",
    "__version__",
    "run_assessment",
    "run_report",
    "run_signed_report",
    "run_verification",
    "tune_for_batch_work",
    "verify_report",
]

if TYPE_CHECKING:
    from reporting.audit.verify_report import ReportVerification, verify_report
    from reporting.collector import tune_for_batch_work
    from reporting.errors import EvidenceError
    from reporting.pipeline import (
        AssessmentRun,
        ReportRun,
        VerificationRun,
        WrittenReport,
        run_assessment,
        run_report,
        run_signed_report,
        run_verification,
    )
    from reporting.receipts.results import ChainResult, Code, VerificationResult
    from reporting.settings import OutputSettings, RunSettings, SigningSettings, VerifyRequest

__getattr__ = lazy_attributes(__name__, _EXPORTS, globals())
