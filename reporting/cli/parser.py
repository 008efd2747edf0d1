"""The command line's grammar: every command, option and help text, and nothing else.

Argument types that can be checked without reading a file are checked here (a usage error,
exit 2); everything else is the pipeline's to check.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reporting import __version__
from reporting.receipts.canonical import DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECEIPT_BYTES

from .history import add_history_options, add_rederive_history
from .strict import EXIT_USAGE
from .strict import StrictParser as _Parser

__all__ = ["EXIT_USAGE", "PASSPHRASE_ENV", "build_parser"]

PASSPHRASE_ENV = "AGENT_EVIDENCE_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable
# reporting.receipts.executors.EXECUTORS, spelled out so `--help` loads no verifier
# (tests/test_architecture.py keeps the two equal).
EXECUTOR_CHOICES = ("local", "dask")


def _add_verification_inputs(
    verify: argparse.ArgumentParser, *, configurable: bool = False
) -> None:
    """The inputs of verification; with a config file they may come from it instead."""
    verify.add_argument(
        "sources",
        nargs="*" if configurable else "+",
        metavar="SOURCE",
        help="store, .json, .jsonl, Pipelock flight recorder, dir or - (kind from content)",
    )
    verify.add_argument(
        "--keys",
        required=not configurable,
        action="append",
        type=Path,
        metavar="K",
        help="PEM public key, daemon key directory, Pipelock key file or YAML trust store "
        "(repeatable: the trust is the union)",
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
        choices=EXECUTOR_CHOICES,
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
    verify.add_argument(
        "--failures-only",
        action="store_true",
        help="print only what failed (input problems and broken chains) and the total",
    )


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
    report.add_argument(
        "--period",
        metavar="PERIOD",
        help="the period to report on, in UTC: a month 2026-10, a quarter 2026-Q3, an ISO week "
        "2026-W44, or last-month, last-quarter, last-week (or give --since/--until)",
    )
    for flag, what, metavar in (
        ("--issuer", "agents (issuer.id)", "PATTERN"),
        ("--principal", "principals (the people or systems the agents acted for)", "PATTERN"),
        ("--grant", "grants (authorization.grant_ref)", "ID"),
    ):
        report.add_argument(
            flag,
            action="append",
            default=[],
            metavar=metavar,
            help=f"only these {what}: ids or glob patterns (repeatable); every chain the "
            "scoped receipts depend on is still verified",
        )
    report.add_argument("--since", metavar="DATE", help="start of the period (inclusive, UTC)")
    report.add_argument("--until", metavar="DATE", help="end of the period (exclusive, UTC)")
    report.add_argument("--out", type=Path, metavar="DIR", help="output directory (default out/)")
    report.add_argument(
        "--format",
        metavar="LIST",
        action="append",
        help="artefacts to write, comma-separated (repeatable: the union), from pdf, html, "
        "json, csv, oscal and brief (the one- or two-page approval brief); default: "
        "pdf,html,json,csv,oscal",
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
    add_history_options(report)


def _add_render_limits(parser: argparse.ArgumentParser) -> None:
    from reporting.report.limits import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT

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
        help="re-run the report's recorded settings over these sources; the files below must "
        "have the digests the manifest records",
    )
    verify.add_argument(
        "--keys",
        action="append",
        type=Path,
        metavar="K",
        help="the trust store(s) the report was made with (repeatable, in the same order)",
    )
    verify.add_argument("--grants", type=Path, metavar="F", help="its grants file")
    verify.add_argument("--witness", type=Path, metavar="F", help="its witness file")
    verify.add_argument("--bodies", type=Path, metavar="DIR", help="its response bodies")
    verify.add_argument(
        "--tsa-root", action="append", type=Path, default=[], metavar="CERT", help="its TSA roots"
    )
    verify.add_argument(
        "--framework",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="a mapping file it used that is not shipped (found by its digest)",
    )
    add_rederive_history(verify)
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
    init.add_argument(
        "--out",
        type=Path,
        default=Path("signing"),
        metavar="DIR",
        help="where to write signing-key.pem, signing-cert.pem and signing.csr.pem "
        "(default signing/)",
    )
    init.add_argument(
        "--subject",
        default="CN=Agent Evidence report signer",
        metavar="DN",
        help="the certificate's subject, RFC 4514 (e.g. 'CN=Evidence signer,O=Example Corp')",
    )
    init.add_argument(
        "--days",
        type=_positive_int,
        default=365,
        metavar="N",
        help="how long the self-signed certificate is valid (default 365)",
    )
    init.add_argument(
        "--passphrase-env",
        metavar="NAME",
        help="encrypt the key with the passphrase in this environment variable; without it "
        "the key is written UNENCRYPTED (mode 0600)",
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
    from reporting.report.limits import MAX_RENDER_TIMEOUT

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_RENDER_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_RENDER_TIMEOUT}")
    return value


def _memory_mb(text: str) -> int:
    from reporting.report.limits import MAX_MEMORY_MB, MIN_MEMORY_MB

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
