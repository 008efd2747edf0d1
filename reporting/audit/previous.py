"""Find the previous report and verify it before a new report builds on it.

The consumer's side, like `verify_report`: the pipeline never reads an earlier report. The
command line calls `previous_report` before the run and passes the pipeline what it
returns, plain data: a `PreviousReport` (verified), a `PreviousRefused` (one was found or
named but cannot be used: the new report says why), or None (there is none).

Which report: the one named with `--previous DIR`, else the most recent earlier report of
the same series in the output directory (`OUT/<period>/<report id>/`): the same
organisation, the same frameworks and the same scope (chain, agent, principal and grant
patterns), whose period ends no later than this one starts; the latest period wins, then
the latest written. A report of the same period (a re-run) is not an earlier one, and a
run without a period start has nothing before it. When the most recent one fails
verification, no older one is used instead: the new report says why it has no comparison,
so a tampered report cannot be skipped over unnoticed.

Trust: the previous report must verify completely (PDF signature, manifest signature, every
file's hash, nothing unlisted) and be signed by a signer the current signer's certificate
or chain covers (or a `--previous-trust` anchor). A demo-signed report (an ephemeral
UNTRUSTED DEMO key) can never be trusted that way: a report signed with a real key never
builds on one (PREVIOUS_UNTRUSTED). A demo-signed report may build on an intact earlier
one, and says that the comparison shows what changed, not who made the earlier report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from reporting.audit.verify_report import (
    SIGNER_TRUST_CHECKS,
    ReportVerification,
    pdf_attachments,
    verify_report,
)
from reporting.errors import Diagnostic, DiagnosticCode, UsageError
from reporting.report.history import (
    PreviousInput,
    PreviousRefused,
    PreviousReport,
    previous_from_json,
)
from reporting.report.names import MANIFEST_NAME
from reporting.settings import RunSettings

__all__ = ["Series", "find_previous", "load_previous", "previous_report", "replay_previous"]


@dataclass(frozen=True)
class Series:
    """What makes two reports comparable: organisation, frameworks and scope."""

    organisation: str
    frameworks: tuple[str, ...]  # ids, sorted
    scope: tuple[tuple[str, ...], ...]  # chains, issuers, principals, grant patterns

    @classmethod
    def of(cls, settings: RunSettings, framework_ids: Sequence[str]) -> Series:
        scope = settings.scope
        patterns = (scope.chains, scope.issuers, scope.principals, scope.grants)
        return cls(
            settings.organisation,
            tuple(sorted(framework_ids)),
            tuple(tuple(sorted(p)) for p in patterns),
        )

    @classmethod
    def of_manifest(cls, manifest: dict[str, Any]) -> Series:
        settings = manifest.get("settings") or {}
        mappings = manifest.get("mappings") or []
        return cls(
            str(manifest.get("organisation")),
            tuple(sorted(str(m.get("id")) for m in mappings if isinstance(m, dict))),
            tuple(
                tuple(sorted(str(p) for p in settings.get(key) or ()))
                for key in ("chains", "issuers", "principals", "grant_refs")
            ),
        )


# -- finding it -----------------------------------------------------------------------------


def _manifest(directory: Path) -> dict[str, Any] | None:
    """A candidate's manifest, unverified (only used to choose; the chosen one is verified)."""
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _ends_by(manifest: dict[str, Any], since: datetime) -> datetime | None:
    """The candidate's period end when it is no later than `since`, else None."""
    period = manifest.get("period")
    until = _instant(period.get("until")) if isinstance(period, dict) else None
    return until if until is not None and until <= since else None


def find_previous(out: Path, series: Series, since: datetime | None) -> Path | None:
    """The most recent earlier report of `series` under `out`, or None."""
    if since is None or not out.is_dir():
        return None
    ranked = []
    for manifest_path in out.glob(f"*/*/{MANIFEST_NAME}"):
        directory = manifest_path.parent
        if directory.name.startswith("."):
            continue  # a run still being written
        manifest = _manifest(directory)
        if manifest is None or Series.of_manifest(manifest) != series:
            continue
        until = _ends_by(manifest, since)
        if until is not None:
            written = manifest_path.stat().st_mtime
            ranked.append(((until, written, directory.name), directory))
    return max(ranked)[1] if ranked else None


# -- verifying and reading it ---------------------------------------------------------------


def _refusal(
    code: str, reason: str, manifest: dict[str, Any] | None, digest: str | None
) -> PreviousRefused:
    report_id = manifest.get("report_id") if manifest else None
    return PreviousRefused(code, reason, report_id if isinstance(report_id, str) else None, digest)


def _verdict(
    result: ReportVerification, *, demo_allowed: bool, need_trust: bool
) -> tuple[str, str] | None:
    """(code, reason) when the verification does not allow building on the report."""
    broken = [c for c in result.checks if not c.passed and c.name not in SIGNER_TRUST_CHECKS]
    if broken or not result.checks:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in broken) or "nothing could be checked"
        return "PREVIOUS_UNVERIFIED", f"it failed verification ({reasons})"
    untrusted = [c for c in result.checks if not c.passed]
    if not need_trust or not untrusted or demo_allowed:
        return None
    if result.demo:
        return (
            "PREVIOUS_UNTRUSTED",
            "it is signed with an UNTRUSTED DEMO SIGNATURE, and a report signed with a real key "
            "does not build on one",
        )
    return (
        "PREVIOUS_UNTRUSTED",
        f"its signer ({result.about.signer}) is not covered by this report's signing "
        "certificate or chain (give its certificate with --previous-trust)",
    )


def _model_bytes(directory: Path, manifest: dict[str, Any]) -> bytes:
    """The previous report's model (JSON): the file beside its manifest, else the one its
    PDF carries (both covered by the signatures just verified)."""
    report_id = manifest.get("report_id")
    names = [str(e["name"]) for e in manifest["artefacts"]]
    wanted = next(
        (n for n in names if n.startswith("evidence-") and n.endswith(f"-{report_id}.json")), None
    )
    if wanted is not None:
        return (directory / wanted).read_bytes()
    for pdf in (n for n in names if n.endswith(".pdf")):
        attached = pdf_attachments((directory / pdf).read_bytes())
        inside = next((n for n in attached if n.endswith(f"-{report_id}.json")), None)
        if inside is not None:
            return bytes(attached[inside])
    raise ValueError("it has no report model (neither the JSON export nor a PDF carrying it)")


def load_previous(
    directory: Path,
    *,
    trust: Sequence[x509.Certificate],
    demo_allowed: bool,
    need_trust: bool = True,
) -> PreviousReport | PreviousRefused:
    """Verify the report in `directory` and read what the comparison needs."""
    data = (
        (directory / MANIFEST_NAME).read_bytes() if (directory / MANIFEST_NAME).is_file() else b""
    )
    digest = hashlib.sha256(data).hexdigest() if data else None
    manifest = _manifest(directory)
    result = verify_report(directory, trust=trust)
    verdict = _verdict(result, demo_allowed=demo_allowed, need_trust=need_trust)
    if verdict is not None or manifest is None:
        code, reason = verdict or ("PREVIOUS_UNVERIFIED", "its manifest cannot be read")
        return _refusal(code, reason, manifest, digest)
    try:
        previous = previous_from_json(
            _model_bytes(directory, manifest),
            manifest_sha256=str(digest),
            signer=result.about.signer,
            demo=result.demo,
        )
    except (OSError, ValueError) as exc:
        return _refusal("PREVIOUS_UNREADABLE", str(exc), manifest, digest)
    if previous.report_id != manifest.get("report_id"):
        return _refusal(
            "PREVIOUS_UNREADABLE", "its report model names another report id", manifest, digest
        )
    return previous


def _not_comparable(
    directory: Path, series: Series, since: datetime | None
) -> PreviousRefused | None:
    """Why a report named with --previous cannot be compared with this one, if it cannot."""
    manifest = _manifest(directory)
    if manifest is None:
        return None  # verification says what is wrong with it
    if Series.of_manifest(manifest) != series:
        reason = "it is not of the same organisation, frameworks and scope as this report"
        return _refusal("PREVIOUS_NOT_COMPARABLE", reason, manifest, None)
    if since is None or _ends_by(manifest, since) is None:
        reason = "its period does not end before this report's period starts"
        return _refusal("PREVIOUS_NOT_COMPARABLE", reason, manifest, None)
    return None


def _named(path: Path) -> Path:
    directory = path.parent if path.name == MANIFEST_NAME else path
    if not (directory / MANIFEST_NAME).is_file():
        message = f"--previous: no report here (no {MANIFEST_NAME})"
        raise UsageError(Diagnostic(DiagnosticCode.NO_SUCH_REPORT, message, str(path)))
    return directory


def previous_report(
    settings: RunSettings,
    framework_ids: Sequence[str],
    *,
    signer: Sequence[x509.Certificate],
    demo: bool,
    named: Path | None = None,
) -> PreviousInput:
    """The previous report for a run of `settings` signed by `signer` (its certificate and
    chain; `demo`: an ephemeral demo key), verified, or why it cannot be used; None when
    there is none. `named` is `--previous DIR`; otherwise the output directory is searched."""
    series = Series.of(settings, framework_ids)
    since = settings.period.since
    if named is not None:
        directory = _named(named)
        refused = _not_comparable(directory, series, since)
        if refused is not None:
            return refused
    else:
        found = find_previous(settings.output.directory, series, since)
        if found is None:
            return None
        directory = found
    return load_previous(directory, trust=signer, demo_allowed=demo)


def replay_previous(record: Any, named: Path | None) -> PreviousInput:
    """For `verify-report --rederive`: the previous report the manifest's settings record
    names, from the directory the verifier gives (its manifest must have the recorded
    digest, and its files their listed hashes). Raises ValueError saying what is missing."""
    if record is None:
        return None
    if not isinstance(record, dict):
        raise ValueError("the manifest's record of the previous report is malformed")
    report_id, digest = record.get("report_id"), record.get("manifest_sha256")
    if record.get("refused") is not None:  # refused then: nothing of it was used
        return PreviousRefused(
            str(record["refused"]), "refused when the report was made", report_id, digest
        )
    if named is None:
        raise ValueError(
            f"the report was compared with the previous report {report_id} (manifest sha256 "
            f"{digest}); give its directory with --previous DIR"
        )
    directory = _named(named)
    actual = hashlib.sha256((directory / MANIFEST_NAME).read_bytes()).hexdigest()
    if actual != digest:
        raise ValueError(
            f"--previous {named}: its manifest's SHA-256 {actual} differs from the "
            f"recorded {digest}"
        )
    # The digest, recorded in this report's signed manifest, vouches for it: no trust anchor.
    loaded = load_previous(directory, trust=(), demo_allowed=True, need_trust=False)
    if isinstance(loaded, PreviousRefused):
        raise ValueError(f"--previous {named}: {loaded.reason}")
    return loaded
