"""Command line: parse → pipeline → print → exit code. The only module that prints.

Exit codes everywhere: 0 success; 1 what was checked failed; 2 usage, input or
configuration error (the message names the file and line); 3 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

from reporting import __version__
from reporting.collector import tune_for_batch_work
from reporting.config import load_config
from reporting.controls.checks import registry_summary
from reporting.controls.loader import load_mappings, shipped_mapping_paths
from reporting.errors import Diagnostic, EvidenceError, UsageError
from reporting.periods import parse_period, period_name
from reporting.pipeline import (
    AssessRequest,
    ReportRun,
    VerificationRun,
    VerifyRequest,
    load_tsa_roots,
    resolve_frameworks,
    run_report,
    run_verification,
    stage,
)
from reporting.receipts.batch import EXECUTORS
from reporting.receipts.canonical import DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECEIPT_BYTES
from reporting.receipts.results import ChainResult, Problem, VerificationResult
from reporting.report.build import ReportOptions
from reporting.report.model import Posture
from reporting.signing.keys import SigningIdentity, demo_identity, init_keys, load_identity
from reporting.signing.outputs import notice_for, sign_artefacts
from reporting.signing.rederive import RederiveInputs, rederive_digest
from reporting.signing.verify_report import verify_report

__all__ = ["console", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
VERIFY_JSON_SCHEMA = "agent-evidence/verify/v1"
REPORT_SUMMARY_SCHEMA = "agent-evidence/summary/v1"
PASSPHRASE_ENV = "AGENT_EVIDENCE_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors say which command and exit 2 like every input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_verification_inputs(
    verify: argparse.ArgumentParser, *, configurable: bool = False
) -> None:
    """The inputs of verification; with a config file they may come from it instead."""
    verify.add_argument(
        "sources",
        nargs="*" if configurable else "+",
        metavar="SOURCE",
        help="store, .json, .jsonl, dir or -",
    )
    verify.add_argument(
        "--keys",
        required=not configurable,
        type=Path,
        metavar="K",
        help="PEM public key, daemon key directory, or YAML trust store",
    )
    verify.add_argument(
        "--chain",
        action="append",
        metavar="ID",
        help="only chains with this id or matching this glob pattern, e.g. 'chain_finance-*' "
        "(repeatable; a pattern matching no chain is an error)",
    )
    verify.add_argument(
        "--witness", type=Path, metavar="F", help="expected length/final hash per chain"
    )
    verify.add_argument(
        "--require-terminal",
        action="store_true",
        help="every chain must end with a terminal receipt",
    )
    verify.add_argument(
        "--grants", type=Path, metavar="F", help="grants file (grounded principal, §7.9)"
    )
    verify.add_argument(
        "--bodies", type=Path, metavar="DIR", help="response bodies to check response_hash"
    )
    verify.add_argument(
        "--tsa-root",
        action="append",
        type=Path,
        default=[],
        metavar="CERT",
        help="PEM certificate(s) of trusted timestamp authorities",
    )
    verify.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="local processes (default: by input size; --executor local only)",
    )
    verify.add_argument(
        "--max-receipt-bytes",
        type=_positive_int,
        metavar="BYTES",
        help=f"largest receipt accepted (default {DEFAULT_MAX_RECEIPT_BYTES:,}; larger is "
        "RECEIPT_TOO_LARGE)",
    )
    verify.add_argument(
        "--max-depth",
        type=_positive_int,
        metavar="N",
        help=f"deepest JSON nesting accepted in a receipt (default {DEFAULT_MAX_DEPTH})",
    )
    verify.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="verify with this machine's processes (local, the default) or on a Dask cluster",
    )
    verify.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="the Dask scheduler's address, tcp://HOST:PORT (with --executor dask)",
    )


def _add_verify(commands: argparse._SubParsersAction[_Parser]) -> None:
    verify = commands.add_parser(
        "verify",
        help="verify receipt chains",
        description="Verify every Agent Receipts chain in the sources, independently.",
    )
    _add_verification_inputs(verify)
    verify.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def _add_report(commands: argparse._SubParsersAction[_Parser]) -> None:
    report = commands.add_parser(
        "report",
        help="verify and assess against control mappings",
        description="Verify the sources, then assess the evidence against each framework.",
    )
    _add_verification_inputs(report, configurable=True)
    report.add_argument(
        "--config", type=Path, metavar="FILE", help="report.yaml for scheduled runs"
    )
    report.add_argument(
        "--framework",
        action="append",
        default=[],
        metavar="ID|FILE",
        help="shipped framework id or mapping file (repeatable; default: all shipped)",
    )
    report.add_argument("--period", metavar="YYYY-MM", help="the calendar month to report on")
    report.add_argument("--since", metavar="DATE", help="start of the period (inclusive, UTC)")
    report.add_argument("--until", metavar="DATE", help="end of the period (exclusive, UTC)")
    report.add_argument("--out", type=Path, metavar="DIR", help="output directory (default out/)")
    report.add_argument(
        "--format",
        metavar="LIST",
        help="artefacts to write, comma-separated (default: pdf,html,json,csv,oscal)",
    )
    report.add_argument(
        "--organisation",
        metavar="NAME",
        help="organisation named on the cover",
    )
    report.add_argument("--json", action="store_true", help="print the run summary as JSON")
    report.add_argument(
        "--fail-on",
        choices=("integrity", "controls", "never"),
        help="exit 1 when integrity is broken (default), also when a control is not "
        "supported (controls), or never",
    )
    report.add_argument("--quiet", action="store_true", help="no progress display")
    report.add_argument("--verbose", action="store_true", help="log each stage's timing")
    _add_render_limits(report)
    _add_signing_options(report)


def _add_render_limits(parser: argparse.ArgumentParser) -> None:
    from reporting.report.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT

    group = parser.add_argument_group("rendering limits (the layout runs in a child process)")
    group.add_argument(
        "--render-timeout",
        type=_render_seconds,
        metavar="SECONDS",
        help=f"stop rendering after this long (default {DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--render-memory",
        type=_memory_mb,
        metavar="MB",
        help=f"address space the renderer may use (default {DEFAULT_MEMORY_MB})",
    )


def _add_signing_options(report: argparse.ArgumentParser) -> None:
    group = report.add_argument_group("signing (default: an ephemeral UNTRUSTED DEMO key)")
    group.add_argument(
        "--sign-key", type=Path, metavar="KEY", help="PEM private key (ECDSA P-256, RSA)"
    )
    group.add_argument(
        "--sign-cert", type=Path, metavar="CERT", help="PEM certificate of --sign-key"
    )
    group.add_argument(
        "--sign-chain",
        type=Path,
        action="append",
        default=[],
        metavar="CERT",
        help="intermediate certificates (repeatable)",
    )
    group.add_argument("--sign-p12", type=Path, metavar="P12", help="PKCS#12 key and certificate")
    group.add_argument(
        "--passphrase-env",
        metavar="NAME",
        help=f"environment variable holding the key passphrase (default {PASSPHRASE_ENV}, if set)",
    )
    group.add_argument("--tsa", metavar="URL", help="RFC 3161 time-stamp authority (PAdES B-T)")


def _add_verify_report(commands: argparse._SubParsersAction[_Parser]) -> None:
    verify = commands.add_parser(
        "verify-report",
        help="check a signed report you received",
        description="Check a signed report PDF or manifest offline; every check PASS or FAIL.",
    )
    verify.add_argument("path", type=Path, metavar="REPORT.pdf|manifest.json|DIR")
    verify.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        metavar="CERT",
        help="PEM certificate(s) you trust to issue reports (repeatable)",
    )
    verify.add_argument(
        "--rederive",
        nargs="+",
        metavar="SOURCE",
        help="re-run verification and assessment on these sources",
    )
    verify.add_argument(
        "--keys", type=Path, metavar="K", help="trusted receipt keys (with --rederive)"
    )
    verify.add_argument("--grants", type=Path, metavar="F", help="grants file (with --rederive)")
    verify.add_argument("--witness", type=Path, metavar="F", help="witness file (with --rederive)")
    verify.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def _add_demo(commands: argparse._SubParsersAction[_Parser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="render the signed sample report",
        description="Verify, assess, render and sign the repository's sample receipts "
        "(ephemeral UNTRUSTED DEMO key).",
    )
    demo.add_argument("--out", type=Path, default=Path("out/demo"), metavar="DIR")
    _add_render_limits(demo)


def _add_keys(commands: argparse._SubParsersAction[_Parser]) -> None:
    keys = commands.add_parser("keys", help="make a report-signing key")
    actions = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    init = actions.add_parser(
        "init", help="an ECDSA P-256 key, a self-signed certificate and a CSR"
    )
    init.add_argument("--out", type=Path, default=Path("signing"), metavar="DIR")
    init.add_argument("--subject", default="CN=Agent Evidence report signer", metavar="DN")
    init.add_argument("--days", type=_positive_int, default=365, metavar="N")
    init.add_argument(
        "--passphrase-env",
        metavar="NAME",
        help="encrypt the key with the passphrase in this environment variable",
    )
    init.add_argument("--force", action="store_true", help="overwrite existing files")


def _add_mappings(commands: argparse._SubParsersAction[_Parser]) -> None:
    mappings = commands.add_parser("mappings", help="list, show and check control mappings")
    actions = mappings.add_subparsers(dest="mappings_command", required=True, parser_class=_Parser)
    actions.add_parser("list", help="shipped frameworks")
    show = actions.add_parser("show", help="one framework's controls and their checks")
    show.add_argument("framework", metavar="ID|FILE")
    check = actions.add_parser("check", help="validate mapping files; every error is listed")
    check.add_argument(
        "files", nargs="*", type=Path, metavar="FILE", help="default: the shipped ones"
    )
    actions.add_parser("checks", help="every check and its parameters (for writing mappings)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _render_seconds(text: str) -> float:
    from reporting.report.sandbox import MAX_RENDER_TIMEOUT

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_RENDER_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_RENDER_TIMEOUT}")
    return value


def _memory_mb(text: str) -> int:
    from reporting.report.sandbox import MAX_MEMORY_MB, MIN_MEMORY_MB

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of MB: {text!r}") from None
    if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
        raise argparse.ArgumentTypeError(f"must be from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}")
    return value


def build_parser() -> _Parser:
    parser = _Parser(prog="agent-evidence", description="Agent Receipts → compliance evidence.")
    parser.add_argument("--version", action="version", version=f"agent-evidence {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_verify(commands)
    _add_report(commands)
    _add_mappings(commands)
    _add_verify_report(commands)
    _add_keys(commands)
    _add_demo(commands)
    return parser


# -- verify output ------------------------------------------------------------------------


def _problem_line(problem: Problem) -> str:
    where = f" ({problem.origin})" if problem.origin else ""
    seq = f"seq {problem.sequence} " if problem.sequence is not None else ""
    rid = f"{problem.receipt_id} " if problem.receipt_id else ""
    return f"    {problem.code.value}: {seq}{rid}{problem.message}{where}"


def _warning_lines(warnings: Sequence[Problem]) -> list[str]:
    """One line per warning code: how many, and the first occurrence (all of them in --json)."""
    groups: dict[str, list[Problem]] = {}
    for problem in warnings:
        groups.setdefault(problem.code.value, []).append(problem)
    lines = []
    for code, problems in groups.items():
        first = _problem_line(problems[0]).strip().removeprefix(f"{code}: ")
        count = f" x{len(problems)}, first:" if len(problems) > 1 else ":"
        lines.append(f"    warning {code}{count} {first}")
    return lines


def _chain_headline(chain: ChainResult) -> str:
    figures = f"{chain.length} receipts, {chain.termination.value}, issuer {chain.issuer}"
    if chain.valid:
        return f"VALID   {chain.chain_id} ({figures})"
    first = chain.failures[0]
    return f"BROKEN  {chain.chain_id} at index {chain.broken_at}: {first.code.value} ({figures})"


def _print_human(run: VerificationRun, out: TextIO) -> None:
    result = run.result
    for problem in result.input_problems:
        where = f" ({problem.origin})" if problem.origin else ""
        out.write(f"INPUT   {problem.code.value}: {problem.message}{where}\n")
    for chain in result.chains:
        out.write(_chain_headline(chain) + "\n")
        for problem in chain.failures:
            out.write(_problem_line(problem) + "\n")
        for line in _warning_lines(chain.warnings):
            out.write(line + "\n")
    out.write(_total_line(result) + "\n")


def _verified_something(result: VerificationResult) -> bool:
    """Whether the run verified evidence at all: nothing verified is not a pass."""
    return result.valid and bool(result.chains)


def _total_line(result: VerificationResult) -> str:
    broken = sum(1 for c in result.chains if not c.valid)
    warnings = sum(len(c.warnings) for c in result.chains)
    verdict = "FAILED" if not result.valid else "ALL VALID" if result.chains else "NO EVIDENCE"
    return (
        f"{verdict}: {len(result.chains)} chains ({broken} broken), "
        f"{result.receipt_count} receipts, "
        f"{len(result.input_problems)} input problems, {warnings} warnings"
    )


def verification_json(run: VerificationRun) -> dict[str, object]:
    """The documented `--json` schema of `verify` (README: "verify --json")."""
    result = run.result
    failures = sum(len(c.failures) for c in result.chains)
    return {
        "schema": VERIFY_JSON_SCHEMA,
        "tool_version": __version__,
        "valid": _verified_something(result),
        "summary": {
            "chains": len(result.chains),
            "valid_chains": sum(1 for c in result.chains if c.valid),
            "broken_chains": sum(1 for c in result.chains if not c.valid),
            "receipts": result.receipt_count,
            "failures": failures,
            "warnings": sum(len(c.warnings) for c in result.chains),
            "input_problems": len(result.input_problems),
        },
        "sources": [{"path": s.path, "kind": s.kind, "records": s.records} for s in run.sources],
        "trust_anchors": run.trust.fingerprints(),
        "input_problems": [p.to_json() for p in result.input_problems],
        "chains": [c.to_json() for c in result.chains],
    }


def _verify_request(args: argparse.Namespace) -> VerifyRequest:
    return VerifyRequest(
        sources=tuple(args.sources),
        keys=args.keys,
        witness=args.witness,
        grants=args.grants,
        bodies=args.bodies,
        tsa_roots=tuple(args.tsa_root),
        require_terminal=args.require_terminal,
        chains=frozenset(args.chain) if args.chain else None,
        workers=args.workers,
        max_receipt_bytes=args.max_receipt_bytes or DEFAULT_MAX_RECEIPT_BYTES,
        max_depth=args.max_depth or DEFAULT_MAX_DEPTH,
        executor=args.executor or "local",
        scheduler=args.scheduler,
    )


def _run_verify(args: argparse.Namespace, out: TextIO) -> int:
    run = run_verification(_verify_request(args))
    if args.json:
        out.write(orjson.dumps(verification_json(run), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_human(run, out)
    return EXIT_OK if _verified_something(run.result) else EXIT_FAILED


# -- report (assessment) ------------------------------------------------------------------


class _Feedback:
    """Progress on a terminal (silent otherwise or with --quiet); stage timings with --verbose."""

    def __init__(self, *, quiet: bool, verbose: bool) -> None:
        self.verbose = verbose
        self.live = not quiet and sys.stderr.isatty()
        self.count = 0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Feedback:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("verifying receipts", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def receipts(self, count: int) -> None:
        self.count += count
        if self._progress is not None:
            self._progress.update(self._task, description=f"verifying receipts: {self.count:,}")

    def stage(self, name: str, seconds: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"{name} done")
        if self.verbose:
            memory = _resident_memory()
            where = f" ({memory / 1e9:.2f} GB resident)" if memory is not None else ""
            sys.stderr.write(f"agent-evidence: {name}: {seconds:.2f} s{where}\n")


def _resident_memory() -> int | None:
    """This process's resident memory in bytes (Linux /proc), for the --verbose log."""
    from reporting.report.sandbox import process_status_kib

    resident = process_status_kib("VmRSS")
    return None if resident is None else resident * 1024


def _report_summary(run: ReportRun, written: list[tuple[Path, str]]) -> dict[str, object]:
    """What a ticket system or scheduler needs: posture, counts, top findings, artefacts."""
    model = run.model
    return {
        "schema": REPORT_SUMMARY_SCHEMA,
        "report_id": model.report_id,
        "posture": model.posture.value,
        "posture_reason": model.posture_reason,
        "period": {"since": model.scope.period_since, "until": model.scope.period_until},
        "figures": {
            "receipts_in_scope": model.figures.receipts_in_scope,
            "trusted_receipts": model.figures.trusted_receipts,
            "chains": model.figures.chains,
            "broken_chains": model.figures.broken_chains,
        },
        "frameworks": {f.id: f.counts for f in model.frameworks},
        "top_findings": [
            {
                "id": f.id,
                "severity": f.severity.value,
                "title": f.title,
                "affected": f.affected,
                "controls": list(f.controls),
            }
            for f in model.findings[:10]
        ],
        "artefacts": [{"path": str(path), "sha256": digest} for path, digest in written],
    }


def _signing_identity(args: argparse.Namespace) -> SigningIdentity:
    if args.sign_p12 or args.sign_key or args.sign_cert:
        identity = load_identity(
            key=args.sign_key,
            cert=args.sign_cert,
            chain=tuple(args.sign_chain),
            p12=args.sign_p12,
            passphrase_env=args.passphrase_env
            or (PASSPHRASE_ENV if PASSPHRASE_ENV in os.environ else None),
        )
    else:
        identity = demo_identity(not_before=datetime.now(UTC))
    for warning in identity.warnings:
        sys.stderr.write(f"agent-evidence: warning: {warning}\n")
    return identity


def _formats(text: str) -> set[str]:
    from reporting.report.artefacts import FORMATS

    formats = {f.strip() for f in text.split(",") if f.strip()}
    if not formats or formats - set(FORMATS):
        unknown = ", ".join(sorted(formats - set(FORMATS))) or "(none)"
        message = f"unknown format(s): {unknown}; choose from {', '.join(FORMATS)}"
        raise UsageError(Diagnostic("UNKNOWN_FORMAT", message))
    return formats


def _exit_code(run: ReportRun, fail_on: str) -> int:
    """1 when what --fail-on names was found; the report is produced either way."""
    # No evidence fails like broken integrity: a report over nothing certifies nothing.
    untrustworthy = run.model.posture in (Posture.INTEGRITY_BROKEN, Posture.NO_EVIDENCE)
    unsupported = any(f.counts["NOT_SATISFIED"] for f in run.model.frameworks)
    failed = {"integrity": untrustworthy, "controls": untrustworthy or unsupported}
    return EXIT_FAILED if failed.get(fail_on, False) else EXIT_OK


def _apply_config(args: argparse.Namespace) -> None:
    """Fill what the command line left open from --config; flags always win."""
    config = load_config(args.config) if args.config else None
    given_period = args.period or args.since or args.until
    if config is not None:
        args.sources = args.sources or list(config.sources)
        args.keys = args.keys or config.keys
        args.witness = args.witness or config.witness
        args.grants = args.grants or config.grants
        args.bodies = args.bodies or config.bodies
        args.tsa_root = args.tsa_root or list(config.tsa_root)
        args.require_terminal = args.require_terminal or config.require_terminal
        args.framework = args.framework or list(config.frameworks)
        args.out = args.out or config.out
        args.format = args.format or (",".join(config.formats) if config.formats else None)
        args.organisation = args.organisation or config.organisation
        args.fail_on = args.fail_on or config.fail_on
        args.workers = args.workers or config.workers
        args.max_receipt_bytes = args.max_receipt_bytes or config.max_receipt_bytes
        args.max_depth = args.max_depth or config.max_depth
        args.executor = args.executor or config.executor
        args.scheduler = args.scheduler or config.scheduler
        args.render_timeout = args.render_timeout or config.render_timeout
        args.render_memory = args.render_memory or config.render_memory
        args.passphrase_env = args.passphrase_env or config.passphrase_env
        args.tsa = args.tsa or config.tsa
        if not (args.sign_key or args.sign_cert or args.sign_p12):  # a flag replaces the block
            args.sign_key, args.sign_cert, args.sign_p12 = (
                config.sign_key,
                config.sign_cert,
                config.sign_p12,
            )
            args.sign_chain = list(config.sign_chain)
        if not given_period:
            args.period, args.since, args.until = config.period, config.since, config.until
    args.overrides = config.overrides if config else ()
    args.out = args.out or Path("out")
    args.format = args.format or "pdf,html,json,csv,oscal"
    args.organisation = args.organisation or "Unnamed organisation"
    args.fail_on = args.fail_on or "integrity"
    if not args.sources or args.keys is None:
        message = "give SOURCE... and --keys, or a --config file that names them"
        raise UsageError(Diagnostic("USAGE", message))


def _run_report(args: argparse.Namespace, out: TextIO) -> int:
    from reporting.report.artefacts import Artefact, render_artefacts
    from reporting.report.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, RenderLimits
    from reporting.report.writer import write_artefacts

    _apply_config(args)
    formats = _formats(args.format)
    period = parse_period(args.period, args.since, args.until)
    request = AssessRequest(
        verify=_verify_request(args),
        frameworks=tuple(args.framework),
        period=period,
        overrides=tuple(args.overrides),
        config_path=str(args.config) if args.config else None,
    )
    identity = _signing_identity(args)
    options = {"formats": sorted(formats), "require_terminal": args.require_terminal}
    report_options = ReportOptions(
        organisation=args.organisation, options=options, signature=notice_for(identity)
    )
    with _Feedback(quiet=args.quiet, verbose=args.verbose) as feedback:
        run = run_report(
            request, report_options, progress=feedback.receipts, on_stage=feedback.stage
        )
        limits = RenderLimits(
            timeout=args.render_timeout or DEFAULT_TIMEOUT,
            memory_mb=args.render_memory or DEFAULT_MEMORY_MB,
        )
        secrets = [name for name in (args.passphrase_env, PASSPHRASE_ENV) if name]
        with stage("render artefacts", feedback.stage):
            rendered = render_artefacts(
                run, formats, limits=limits, secret_names=secrets, release_rows=True
            )
        with stage("sign", feedback.stage):
            artefacts = sign_artefacts(
                rendered,
                identity,
                organisation=args.organisation,
                signing_time=datetime.now(UTC),
                tsa_url=args.tsa,
            )
        directory = args.out / period_name(period) / run.model.report_id
        listed = [(directory / a.name, a.sha256) for a in artefacts]
        summary = _report_summary(run, listed)
        document = orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        summary_file = Artefact("summary.json", "application/json", document + b"\n", "run summary")
        with stage("write", feedback.stage):
            written = write_artefacts(directory, [*artefacts, summary_file])
    if args.json:
        out.write(document.decode() + "\n")
    else:
        _print_report(run, [(p, "") for p in written], out)
    return _exit_code(run, args.fail_on)


def _print_report(run: ReportRun, written: list[tuple[Path, str]], out: TextIO) -> None:
    model = run.model
    figures = model.figures
    out.write(f"{model.report_id} for {model.organisation}: {model.posture.value}.\n")
    out.write(f"    {model.posture_reason}\n")
    period = run.assessment.evidence.period.label()
    out.write(
        f"period: {period}; {figures.receipts_in_scope} receipts in scope, "
        f"{figures.trusted_receipts} trusted; "
        f"{figures.chains} chains, {figures.broken_chains} broken\n"
    )
    for framework in model.frameworks:
        counts = ", ".join(f"{k} {v}" for k, v in framework.counts.items())
        out.write(f"{framework.id}: {counts}\n")
    for finding in model.findings[:10]:
        out.write(
            f"    {finding.id} [{finding.severity.value}] {finding.title} ({finding.affected})\n"
        )
    if len(model.findings) > 10:
        out.write(f"    ... {len(model.findings) - 10} more findings in the report\n")
    for path, _ in written:
        out.write(f"written: {path}\n")


# -- demo ---------------------------------------------------------------------------------


def samples_directory() -> Path:
    """The sample dataset of the source tree (it is not shipped in the wheel: 15 MB)."""
    samples = Path(__file__).resolve().parents[1] / "samples"
    if not (samples / "receipts.db").is_file():
        message = "the demo needs the repository's samples/ directory (run it from a clone)"
        raise UsageError(Diagnostic("NO_SAMPLES", message, str(samples)))
    return samples


def _run_demo(args: argparse.Namespace, out: TextIO) -> int:
    samples = samples_directory()
    argv = [
        "report", str(samples / "receipts.db"),
        "--keys", str(samples / "trust.yaml"),
        "--witness", str(samples / "witness.yaml"),
        "--grants", str(samples / "grants.yaml"),
        "--bodies", str(samples / "bodies"),
        "--period", "2026-10",
        "--organisation", "Example Corp (demo)",
        "--out", str(args.out),
        "--fail-on", "never",
    ]  # fmt: skip
    report_args = build_parser().parse_args(argv)
    report_args.quiet, report_args.verbose = False, False
    report_args.render_timeout = args.render_timeout
    report_args.render_memory = args.render_memory
    code = _run_report(report_args, out)
    directory = next(p for p in sorted(args.out.glob("2026-10/AER-*")) if p.is_dir())
    pdf = next(directory.glob("*.pdf"))
    html = next(directory.glob("*.html"))
    out.write(f"\nPDF:  {pdf}\nHTML: {html}\n")
    out.write(
        f"check it: agent-evidence verify-report {pdf} --trust {directory / 'signer-cert.pem'}\n"
    )
    return code


# -- verify-report and keys --------------------------------------------------------------


def _report_path(path: Path) -> Path:
    """A PDF or manifest as given, or the one manifest of a run directory (or its parent)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise UsageError(Diagnostic("NO_SUCH_REPORT", "no such file or directory", str(path)))
    found = sorted(
        {
            *path.glob("manifest.json"),
            *path.glob("*/manifest.json"),
            *path.glob("*/*/manifest.json"),
        }
    )
    if len(found) != 1:
        listing = ", ".join(str(p) for p in found) or "none"
        message = f"expected one manifest.json in this directory, found: {listing}"
        raise UsageError(Diagnostic("NO_SUCH_REPORT", message, str(path)))
    return found[0]


def _run_verify_report(args: argparse.Namespace, out: TextIO) -> int:
    args.path = _report_path(args.path)
    if args.rederive and args.keys is None:
        raise UsageError(Diagnostic("USAGE", "--rederive needs --keys"))
    trust = load_tsa_roots(args.trust)
    rederive = None
    if args.rederive:
        inputs = RederiveInputs(tuple(args.rederive), args.keys, args.grants, args.witness)

        def rederive(manifest: dict[str, object], directory: Path) -> str:
            return rederive_digest(inputs, manifest, directory)

    result = verify_report(args.path, trust=trust, rederive=rederive)
    if args.json:
        out.write(orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for check in result.checks:
            out.write(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.reason}\n")
        verdict = "VERIFIED" if result.ok else "NOT VERIFIED"
        failed = sum(1 for c in result.checks if not c.passed)
        out.write(f"{verdict}: {len(result.checks)} checks, {failed} failed\n")
    return EXIT_OK if result.ok else EXIT_FAILED


def _run_keys(args: argparse.Namespace, out: TextIO) -> int:
    created = init_keys(
        args.out,
        subject=args.subject,
        days=args.days,
        passphrase_env=args.passphrase_env,
        force=args.force,
    )
    out.write(f"private key:  {created.key} (mode 0600; keep it secret)\n")
    out.write(f"certificate:  {created.certificate} (self-signed; give it to report readers)\n")
    out.write(f"request:      {created.csr} (send it to your organisation's CA)\n")
    return EXIT_OK


# -- mappings -----------------------------------------------------------------------------


def _run_mappings(args: argparse.Namespace, out: TextIO) -> int:
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
        out.write(orjson.dumps(registry_summary(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    files = args.files or shipped_mapping_paths()
    frameworks = load_mappings(files)
    for framework in frameworks:
        out.write(f"OK {framework.path}: {framework.id}, {len(framework.controls)} controls\n")
    return EXIT_OK


def _report_error(error: EvidenceError) -> None:
    for diagnostic in error.diagnostics():
        sys.stderr.write(f"agent-evidence: error: {diagnostic}\n")


def console() -> int:
    """The `agent-evidence` program: `main` on sys.argv, in a process tuned for batch work."""
    tune_for_batch_work()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "verify":
            return _run_verify(args, sys.stdout)
        if args.command == "report":
            return _run_report(args, sys.stdout)
        if args.command == "mappings":
            return _run_mappings(args, sys.stdout)
        if args.command == "verify-report":
            return _run_verify_report(args, sys.stdout)
        if args.command == "keys":
            return _run_keys(args, sys.stdout)
        if args.command == "demo":
            return _run_demo(args, sys.stdout)
        raise AssertionError(f"unhandled command {args.command}")
    except EvidenceError as error:
        _report_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("agent-evidence: interrupted\n")
        return 130
    except Exception as error:  # noqa: BLE001 - last resort: never a bare traceback
        sys.stderr.write(f"agent-evidence: internal error: {type(error).__name__}: {error}\n")
        if os.environ.get("AGENT_EVIDENCE_DEBUG"):
            traceback.print_exc()
        else:
            sys.stderr.write("set AGENT_EVIDENCE_DEBUG=1 for the traceback, and please report it\n")
        return EXIT_INTERNAL
