"""The run settings: one frozen object, built from the configuration file plus flags.

Everything that can change a result is in `RunSettings`, and `settings_record` writes it
whole into the manifest, with each input file by display name and SHA-256, so that
`verify-report --rederive` replays exactly the run that made a report. What only changes
how the run executes (workers, executor) or what is written (formats, output directory,
render limits, signing) is kept apart: it never changes a result, so neither the record
nor the report id depends on it.

Files are named for people by their *display name*: the path as given, relative to the
configuration file's directory or the working directory (`display_name`). Absolute paths
of the machine that made a report never appear in it; content digests identify inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from reporting.periods import Period
from reporting.receipts.canonical import DEFAULT_MAX_DEPTH, DEFAULT_MAX_RECEIPT_BYTES
from reporting.scope import Scope

if TYPE_CHECKING:
    from distributed import Client

    from reporting.config import CheckOverride

__all__ = [
    "SETTINGS_SCHEMA",
    "FailOn",
    "OutputSettings",
    "RunSettings",
    "SigningSettings",
    "VerifyRequest",
    "digest_path",
    "display_name",
]

SETTINGS_SCHEMA = "agent-evidence/settings/v1"
FailOn = Literal["integrity", "controls", "never"]


def display_name(path: Path | str, base: Path | None) -> str:
    """How reports name a file: relative to `base` (the configuration file's directory,
    or the working directory) when it lies below it, else its name alone, never an
    absolute path of this machine. `-` (standard input) stays `-`."""
    text = str(path)
    if text == "-":
        return "<stdin>"
    candidate = Path(text)
    if not candidate.is_absolute():
        return candidate.as_posix()
    if base is not None:
        try:
            return candidate.relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return candidate.name


@dataclass(frozen=True)
class VerifyRequest:
    """What the user asked to verify, as paths and flags (before anything is loaded)."""

    sources: tuple[str, ...]
    keys: Path
    witness: Path | None = None
    grants: Path | None = None
    bodies: Path | None = None
    tsa_roots: tuple[Path, ...] = ()
    require_terminal: bool = False
    chains: frozenset[str] | None = None  # chain ids or glob patterns (`--chain`)
    workers: int | None = None  # local processes (the local executor only)
    max_receipt_bytes: int = DEFAULT_MAX_RECEIPT_BYTES  # larger receipts: RECEIPT_TOO_LARGE
    max_depth: int = DEFAULT_MAX_DEPTH  # deeper JSON nesting: MALFORMED_RECEIPT
    executor: str = "local"  # or "dask": verify on the cluster of `scheduler`
    scheduler: str | Client | None = None  # tcp://HOST:PORT, or a connected distributed.Client
    base: Path | None = None  # display names are relative to this (None: the working directory)

    def name(self, path: Path | str) -> str:
        return display_name(path, self.base or Path.cwd())


@dataclass(frozen=True)
class OutputSettings:
    """Where and what to write; never changes a result."""

    directory: Path = Path("out")
    formats: tuple[str, ...] = ("csv", "html", "json", "oscal", "pdf")
    render_timeout: float | None = None  # seconds; None: the sandbox's default
    render_memory: int | None = None  # MB; None: the sandbox's default


@dataclass(frozen=True)
class SigningSettings:
    """Which key signs the report (none given: an ephemeral UNTRUSTED DEMO key)."""

    key: Path | None = None
    certificate: Path | None = None
    chain: tuple[Path, ...] = ()
    p12: Path | None = None
    passphrase_env: str | None = None
    tsa: str | None = None

    @property
    def given(self) -> bool:
        return bool(self.key or self.certificate or self.p12)


@dataclass(frozen=True)
class RunSettings:
    """One report run: verification, assessment and output, from config file plus flags."""

    verify: VerifyRequest
    frameworks: tuple[str, ...] = ()  # shipped ids or mapping file paths; () = all shipped
    overrides: tuple[CheckOverride, ...] = ()  # per-control check parameters from a config
    period: Period = field(default_factory=Period)
    issuers: tuple[str, ...] = ()  # glob patterns: only these agents (`--issuer`)
    principals: tuple[str, ...] = ()  # only actions for these principals (`--principal`)
    grant_refs: tuple[str, ...] = ()  # only actions under these grants (`--grant`)
    organisation: str = "Unnamed organisation"
    config_path: str | None = None  # where the overrides came from, for error messages
    output: OutputSettings = field(default_factory=OutputSettings)
    signing: SigningSettings = field(default_factory=SigningSettings)
    fail_on: FailOn = "integrity"

    @property
    def scope(self) -> Scope:
        """What the report is about: the period and the chain, agent, principal and grant
        patterns (verification still covers what those chains depend on)."""
        return Scope(
            period=self.period,
            chains=tuple(sorted(self.verify.chains or ())),
            issuers=self.issuers,
            principals=self.principals,
            grants=self.grant_refs,
        )


# -- the record in the manifest ------------------------------------------------------------


def digest_path(path: Path) -> str:
    """`sha256:<hex>` of a file's bytes; of a directory, over each regular file below it
    (its relative name and digest, sorted), so a body added, removed or changed shows."""
    if path.is_dir():
        lines = sorted(
            f"{file.relative_to(path).as_posix()}\0{digest_path(file)}\n"
            for file in path.rglob("*")
            if file.is_file()
        )
        return "sha256:" + hashlib.sha256("".join(lines).encode()).hexdigest()
    with path.open("rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def _file_record(path: Path | None, request: VerifyRequest) -> dict[str, str] | None:
    if path is None:
        return None
    return {"name": request.name(path), "sha256": digest_path(path)}


def _files_record(paths: Iterable[Path], request: VerifyRequest) -> list[dict[str, str]]:
    return [record for path in paths if (record := _file_record(path, request)) is not None]


def settings_record(settings: RunSettings, mappings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Every setting that can change a result, as the manifest records it.

    Input files (trust store, witness, grants, bodies, TSA roots) by display name and
    digest; mappings as loaded (id, version, digest); no path of this machine, no output
    or execution option.
    """
    request = settings.verify
    period = settings.period
    return {
        "schema": SETTINGS_SCHEMA,
        "organisation": settings.organisation,
        "period": {
            "since": period.since.isoformat() if period.since else None,
            "until": period.until.isoformat() if period.until else None,
        },
        "frameworks": list(mappings),
        "overrides": [
            {
                "framework": o.framework,
                "control": o.control,
                "check": o.check,
                "params": dict(o.params),
            }
            for o in settings.overrides
        ],
        "keys": _files_record([request.keys], request),
        "witness": _file_record(request.witness, request),
        "grants": _file_record(request.grants, request),
        "bodies": _file_record(request.bodies, request),
        "tsa_roots": _files_record(request.tsa_roots, request),
        "require_terminal": request.require_terminal,
        "chains": sorted(request.chains) if request.chains is not None else None,
        "issuers": list(settings.issuers),
        "principals": list(settings.principals),
        "grant_refs": list(settings.grant_refs),
        "limits": {
            "max_receipt_bytes": request.max_receipt_bytes,
            "max_depth": request.max_depth,
        },
    }
