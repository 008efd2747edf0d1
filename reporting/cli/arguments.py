"""Parsed arguments (plus the configuration file) → the frozen run settings.

Flags always win over the configuration file; the file's relative paths are relative to
its own directory, and so are the display names of the files it names.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from reporting.errors import Diagnostic, DiagnosticCode, UsageError
from reporting.periods import parse_period
from reporting.receipts.canonical import DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECEIPT_BYTES
from reporting.settings import OutputSettings, RunSettings, SigningSettings, VerifyRequest

from .parser import PASSPHRASE_ENV

if TYPE_CHECKING:
    from reporting.config import ReportConfig

__all__ = ["formats", "run_settings", "verify_request"]

DEFAULT_FORMATS = "pdf,html,json,csv,oscal"


def formats(text: str) -> tuple[str, ...]:
    from reporting.report.artefacts import FORMATS

    chosen = {f.strip() for f in text.split(",") if f.strip()}
    if not chosen or chosen - set(FORMATS):
        unknown = ", ".join(sorted(chosen - set(FORMATS))) or "(none)"
        message = f"unknown format(s): {unknown}; choose from {', '.join(FORMATS)}"
        raise UsageError(Diagnostic(DiagnosticCode.UNKNOWN_FORMAT, message))
    return tuple(sorted(chosen))


def verify_request(args: argparse.Namespace, *, base: Path | None = None) -> VerifyRequest:
    return VerifyRequest(
        sources=tuple(args.sources),
        keys=tuple(args.keys),
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
        base=base,
    )


def _merge_config(args: argparse.Namespace, config: ReportConfig) -> None:
    """Fill what the command line left open from the configuration file."""
    given_period = args.period or args.since or args.until
    args.sources = args.sources or list(config.sources)
    args.keys = args.keys or list(config.keys)
    args.witness = args.witness or config.witness
    args.grants = args.grants or config.grants
    args.bodies = args.bodies or config.bodies
    args.tsa_root = args.tsa_root or list(config.tsa_root)
    args.require_terminal = args.require_terminal or config.require_terminal
    args.chain = args.chain or (list(config.chains) if config.chains else None)
    args.framework = args.framework or list(config.frameworks)
    args.issuer = args.issuer or list(config.issuers)
    args.principal = args.principal or list(config.principals)
    args.grant = args.grant or list(config.grant_refs)
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
    args.dispositions = args.dispositions or config.dispositions
    if not (args.sign_key or args.sign_cert or args.sign_p12):  # a flag replaces the block
        args.sign_key, args.sign_cert, args.sign_p12 = (
            config.sign_key,
            config.sign_cert,
            config.sign_p12,
        )
        args.sign_chain = list(config.sign_chain)
    if not given_period:
        args.period, args.since, args.until = config.period, config.since, config.until


def _signing(args: argparse.Namespace) -> SigningSettings:
    passphrase = args.passphrase_env or (PASSPHRASE_ENV if PASSPHRASE_ENV in os.environ else None)
    return SigningSettings(
        key=args.sign_key,
        certificate=args.sign_cert,
        chain=tuple(args.sign_chain),
        p12=args.sign_p12,
        passphrase_env=passphrase,
        tsa=args.tsa,
    )


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The `report` command's settings: configuration file, then flags over it."""
    from reporting.config import load_config

    config = load_config(args.config) if args.config else None
    args.format = ",".join(args.format) if args.format else None  # --format a --format b
    if config is not None:
        _merge_config(args, config)
    if not args.sources or not args.keys:
        message = "give SOURCE... and --keys, or a --config file that names them"
        raise UsageError(Diagnostic(DiagnosticCode.USAGE, message))
    base = config.path.resolve().parent if config is not None else None
    return RunSettings(
        verify=verify_request(args, base=base),
        frameworks=tuple(args.framework),
        overrides=config.overrides if config else (),
        period=parse_period(args.period, args.since, args.until),
        issuers=tuple(args.issuer),
        principals=tuple(args.principal),
        grant_refs=tuple(args.grant),
        organisation=args.organisation or "Unnamed organisation",
        config_path=str(args.config) if args.config else None,
        output=OutputSettings(
            directory=args.out or Path("out"),
            formats=formats(args.format or DEFAULT_FORMATS),
            render_timeout=args.render_timeout,
            render_memory=args.render_memory,
        ),
        signing=_signing(args),
        fail_on=args.fail_on or "integrity",
        dispositions=args.dispositions,
        evidence_owners=config.evidence_owners if config else (),
        correlation=config.correlation if config else None,
    )
