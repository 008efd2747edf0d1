"""Each command: settings from the arguments → one pipeline call → print → exit code.

Exit codes everywhere: 0 success; 1 what was checked failed (or a report over no
evidence); 2 usage, input or configuration error (the message names the file and line);
3 internal error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import orjson

from reporting.errors import Diagnostic, DiagnosticCode, UsageError
from reporting.settings import OutputSettings, RunSettings, VerifyRequest

from .arguments import run_settings, verify_request
from .history import with_previous
from .output import (
    Feedback,
    print_report,
    print_verification,
    verification_json,
    verified_something,
)

__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_OK"]

EXIT_OK, EXIT_FAILED, EXIT_INTERNAL = 0, 1, 3


def _dumps(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"


def run_verify(args: argparse.Namespace, out: TextIO) -> int:
    from reporting.pipeline import run_verification

    run = run_verification(verify_request(args))
    if args.json:
        out.write(verification_json(run).decode())
    else:
        print_verification(run, out, failures_only=args.failures_only)
    return EXIT_OK if verified_something(run.result) else EXIT_FAILED


def _report(settings: RunSettings, args: argparse.Namespace, out: TextIO) -> int:
    from reporting.pipeline import run_signed_report, signing_identity

    identity = signing_identity(settings)  # before the long work: a bad key fails at once
    for warning in identity.warnings:
        sys.stderr.write(f"agent-evidence: warning: {warning}\n")
    settings = with_previous(settings, identity, args)  # verified before it is used
    secrets = [name for name in (settings.signing.passphrase_env,) if name]
    with Feedback(quiet=args.quiet, verbose=args.verbose) as feedback:
        written = run_signed_report(
            settings,
            identity=identity,
            progress=feedback.receipts,
            on_stage=feedback.stage,
            secret_names=secrets,
        )
    if args.json:
        out.write(_dumps({**written.summary, "directory": str(written.directory)}))
    else:
        print_report(written, out)
    return int(written.summary["exit_status"])


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    return _report(run_settings(args), args, out)


# -- demo ---------------------------------------------------------------------------------


def samples_directory() -> Path:
    """The sample dataset of the source tree (it is not shipped in the wheel: 15 MB)."""
    samples = Path(__file__).resolve().parents[2] / "samples"
    if not (samples / "receipts.db").is_file():
        message = "the demo needs the repository's samples/ directory (run it from a clone)"
        raise UsageError(Diagnostic(DiagnosticCode.NO_SAMPLES, message, str(samples)))
    return samples


def demo_settings(samples: Path, args: argparse.Namespace) -> RunSettings:
    from reporting.config import load_config
    from reporting.periods import parse_period

    path = samples / "report.yaml"  # sources, deployment, correlation, dispositions, owners
    config = load_config(path)
    return RunSettings(
        verify=VerifyRequest(
            sources=config.sources,  # the receipts and the Pipelock recorders
            keys=config.keys,
            witness=config.witness,
            grants=config.grants,
            bodies=config.bodies,
            base=samples.parent,  # name the samples as the repository does: samples/...
        ),
        period=parse_period("2026-10", None, None),
        overrides=config.overrides,
        correlation=config.correlation,
        config_path=str(path),
        dispositions=config.dispositions,
        evidence_owners=config.evidence_owners,
        organisation="Example Corp (demo)",
        output=OutputSettings(
            directory=args.out,
            formats=(*OutputSettings().formats, "brief"),  # the approval brief too
            render_timeout=args.render_timeout,
            render_memory=args.render_memory,
        ),
        fail_on="never",
    )


def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    from reporting.pipeline import run_signed_report, signing_identity
    from reporting.report.names import BRIEF_SUFFIX

    settings = demo_settings(samples_directory(), args)
    with Feedback(quiet=False, verbose=False) as feedback:
        written = run_signed_report(
            settings,
            identity=signing_identity(settings),
            progress=feedback.receipts,
            on_stage=feedback.stage,
        )
    print_report(written, out)
    paths = [path for path, _ in written.files]
    brief = next(p for p in paths if p.name.endswith(BRIEF_SUFFIX))
    pdf = next(p for p in paths if p.suffix == ".pdf" and p != brief)
    html = next(p for p in paths if p.suffix == ".html")
    out.write(f"\nPDF:   {pdf}\nHTML:  {html}\nBrief: {brief}\n")
    out.write(f"check it: agent-evidence verify-report {written.directory}\n")
    return int(written.summary["exit_status"])


# -- verify-report, keys, mappings ----------------------------------------------------------


def _report_path(path: Path) -> Path:
    """A PDF, manifest or report directory as given, or the one report below a directory."""
    from reporting.report.names import MANIFEST_NAME

    if path.is_file() or (path / MANIFEST_NAME).is_file():
        return path
    if not path.is_dir():
        raise UsageError(
            Diagnostic(DiagnosticCode.NO_SUCH_REPORT, "no such file or directory", str(path))
        )
    found = sorted({*path.glob("*/manifest.json"), *path.glob("*/*/manifest.json")})
    if len(found) != 1:
        listing = ", ".join(str(p.parent) for p in found) or "none"
        message = f"expected one report (manifest.json) below this directory, found: {listing}"
        raise UsageError(Diagnostic(DiagnosticCode.NO_SUCH_REPORT, message, str(path)))
    return found[0].parent


def run_verify_report(args: argparse.Namespace, out: TextIO) -> int:
    from reporting.audit.rederive import RederiveInputs, rederive
    from reporting.audit.verify_report import verify_report
    from reporting.pipeline import load_tsa_roots

    path = _report_path(args.path)
    if args.rederive and not args.keys:
        message = "--rederive needs --keys (the trust store the report was made with)"
        raise UsageError(Diagnostic(DiagnosticCode.USAGE, message))
    trust = load_tsa_roots(args.trust)
    replay = None
    if args.rederive:
        inputs = RederiveInputs(
            sources=tuple(args.rederive),
            keys=tuple(args.keys),
            witness=args.witness,
            grants=args.grants,
            bodies=args.bodies,
            tsa_roots=tuple(args.tsa_root),
            mappings=tuple(args.framework),
            previous=args.previous,
            dispositions=args.dispositions,
        )

        def replay(manifest: dict[str, Any], directory: Path) -> str | None:
            return rederive(inputs, manifest, directory)

    result = verify_report(path, trust=trust, rederive=replay)
    if args.json:
        out.write(_dumps(result.to_json()))
        return EXIT_OK if result.ok else EXIT_FAILED
    about = result.about
    period = about.period or {}
    out.write(
        f"report:       {about.report_id or 'unknown'} for {about.organisation or 'unknown'}\n"
    )
    since, until = period.get("since") or "the beginning", period.get("until") or "now"
    out.write(f"period:       {since} to {until}\n")
    out.write(f"signed:       {about.signing_time or 'unknown'} by {about.signer or 'unknown'}\n")
    out.write(f"certificate:  SHA-256 {about.certificate_sha256 or 'unknown'}\n")
    for warning in result.warnings:
        out.write(f"WARN  {warning}\n")
    for check in result.checks:
        out.write(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.reason}\n")
    verdict = "VERIFIED" if result.ok else "NOT VERIFIED"
    failed = sum(1 for c in result.checks if not c.passed)
    out.write(f"{verdict}: {len(result.checks)} checks, {failed} failed\n")
    return EXIT_OK if result.ok else EXIT_FAILED


def run_keys(args: argparse.Namespace, out: TextIO) -> int:
    from reporting.signing.keys import init_keys

    created = init_keys(
        args.out,
        subject=args.subject,
        days=args.days,
        passphrase_env=args.passphrase_env,
        force=args.force,
    )
    protection = "encrypted" if args.passphrase_env else "UNENCRYPTED"
    out.write(f"private key:  {created.key} (mode 0600, {protection}; keep it secret)\n")
    out.write(f"certificate:  {created.certificate} (self-signed; give it to report readers)\n")
    out.write(f"request:      {created.csr} (send it to your organisation's CA)\n")
    return EXIT_OK


def run_mappings(args: argparse.Namespace, out: TextIO) -> int:
    from reporting.controls.checks import registry_summary
    from reporting.controls.loader import load_mappings, shipped_mapping_paths
    from reporting.pipeline import resolve_frameworks

    command = args.mappings_command
    if command == "list":
        for framework in resolve_frameworks(()):
            out.write(
                f"{framework.id:18} {len(framework.controls):3} controls  {framework.title}"
                f" ({framework.version})\n"
            )
        return EXIT_OK
    if command == "show":
        framework = resolve_frameworks((args.framework,))[0]
        out.write(
            f"{framework.title} ({framework.version})\nsource: {framework.source}, "
            f"retrieved {framework.retrieved}\n"
        )
        for control in framework.controls:
            checks = ", ".join(ref.check for ref in control.checks) or "MANUAL"
            out.write(f"  {control.id:16} {control.title} [{control.quote}] -> {checks}\n")
        return EXIT_OK
    if command == "checks":
        out.write(_dumps(registry_summary()))
        return EXIT_OK
    frameworks = load_mappings(args.files or shipped_mapping_paths())
    for framework in frameworks:
        out.write(f"OK {framework.path}: {framework.id}, {len(framework.controls)} controls\n")
    return EXIT_OK


COMMANDS = {
    "verify": run_verify,
    "report": run_report,
    "mappings": run_mappings,
    "verify-report": run_verify_report,
    "keys": run_keys,
    "demo": run_demo,
}
