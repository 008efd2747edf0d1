"""One root error with a machine code; every stage raises a subclass of it.

Low-level primitives raise; the pipeline collects (DESIGN.md, principle 1). The CLI
turns an `EvidenceError` into a message naming the file and line and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Diagnostic",
    "DiagnosticCode",
    "EvidenceError",
    "InputError",
    "KeyStoreError",
    "PdfSigningError",
    "ResourceLimitError",
    "UsageError",
]


class DiagnosticCode(StrEnum):
    """Machine codes of the errors that stop a run (exit 2), as `Code` is for verification.

    Tests assert these, never message text. A StrEnum: each equals its name as text.
    """

    # usage and configuration
    USAGE = "USAGE"
    CONFIG = "CONFIG"
    BAD_PERIOD = "BAD_PERIOD"
    BAD_DAYS = "BAD_DAYS"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"
    UNKNOWN_FRAMEWORK = "UNKNOWN_FRAMEWORK"
    UNKNOWN_EXECUTOR = "UNKNOWN_EXECUTOR"
    NO_SUCH_CHAIN = "NO_SUCH_CHAIN"
    NO_SUCH_REPORT = "NO_SUCH_REPORT"
    NO_SAMPLES = "NO_SAMPLES"
    SCHEDULER_INVALID = "SCHEDULER_INVALID"
    SCHEDULER_MISSING = "SCHEDULER_MISSING"
    SCHEDULER_UNREACHABLE = "SCHEDULER_UNREACHABLE"
    SCHEDULER_WITHOUT_DASK = "SCHEDULER_WITHOUT_DASK"
    DASK_NOT_INSTALLED = "DASK_NOT_INSTALLED"
    TSA_URL_INVALID = "TSA_URL_INVALID"
    NAIVE_DATETIME = "NAIVE_DATETIME"
    NAIVE_SIGNING_TIME = "NAIVE_SIGNING_TIME"
    SIGNING_OPTIONS = "SIGNING_OPTIONS"
    RESOURCE_REFUSED = "RESOURCE_REFUSED"
    # input files
    NO_SUCH_SOURCE = "NO_SUCH_SOURCE"
    EMPTY_SOURCE = "EMPTY_SOURCE"
    UNREADABLE = "UNREADABLE"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    NOT_A_DIRECTORY = "NOT_A_DIRECTORY"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_YAML = "INVALID_YAML"
    INVALID_KEY = "INVALID_KEY"
    INVALID_CERTIFICATE = "INVALID_CERTIFICATE"
    SPOOL_IO_ERROR = "SPOOL_IO_ERROR"
    # mappings
    MAPPING_SCHEMA = "MAPPING_SCHEMA"
    MAPPING_UNKNOWN_CHECK = "MAPPING_UNKNOWN_CHECK"
    MAPPING_BAD_PARAMS = "MAPPING_BAD_PARAMS"
    MAPPING_DUPLICATE_CONTROL = "MAPPING_DUPLICATE_CONTROL"
    MAPPING_DUPLICATE_FRAMEWORK = "MAPPING_DUPLICATE_FRAMEWORK"
    MAPPING_BAD_CROSSWALK = "MAPPING_BAD_CROSSWALK"
    # signing keys and certificates
    BAD_PRIVATE_KEY = "BAD_PRIVATE_KEY"
    BAD_PASSPHRASE = "BAD_PASSPHRASE"  # noqa: S105 - a code, not a secret
    PASSPHRASE_REQUIRED = "PASSPHRASE_REQUIRED"  # noqa: S105 - a code, not a secret
    PASSPHRASE_ENV_EMPTY = "PASSPHRASE_ENV_EMPTY"  # noqa: S105 - a code, not a secret
    PASSPHRASE_ENV_INVALID = "PASSPHRASE_ENV_INVALID"  # noqa: S105 - a code, not a secret
    PASSPHRASE_ENV_UNSET = "PASSPHRASE_ENV_UNSET"  # noqa: S105 - a code, not a secret
    BAD_PKCS12 = "BAD_PKCS12"
    BAD_CERTIFICATE = "BAD_CERTIFICATE"
    BAD_SUBJECT = "BAD_SUBJECT"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_NOT_YET_VALID = "CERTIFICATE_NOT_YET_VALID"
    KEY_CERTIFICATE_MISMATCH = "KEY_CERTIFICATE_MISMATCH"
    UNSUPPORTED_SIGNING_KEY = "UNSUPPORTED_SIGNING_KEY"
    FILE_EXISTS = "FILE_EXISTS"
    CANNOT_CREATE_DIRECTORY = "CANNOT_CREATE_DIRECTORY"
    # rendering, signing and writing
    TEMPLATES_MISSING = "TEMPLATES_MISSING"
    RENDER_FAILED = "RENDER_FAILED"
    RENDER_TIMEOUT = "RENDER_TIMEOUT"
    RENDER_MEMORY = "RENDER_MEMORY"
    ATTACHMENT_MISMATCH = "ATTACHMENT_MISMATCH"
    DUPLICATE_ATTACHMENT = "DUPLICATE_ATTACHMENT"
    UNREADABLE_PDF = "UNREADABLE_PDF"
    ENCRYPTED_PDF = "ENCRYPTED_PDF"
    PDF_VERSION_UPGRADE = "PDF_VERSION_UPGRADE"
    XMP_UNREADABLE = "XMP_UNREADABLE"
    SIGNING_FAILED = "SIGNING_FAILED"
    TSA_FAILED = "TSA_FAILED"
    CANNOT_WRITE = "CANNOT_WRITE"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input, located as precisely as we can."""

    code: DiagnosticCode
    message: str
    source: str | None = None
    line: int | None = None

    def location(self) -> str:
        if self.source is None:
            return ""
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        where = self.location()
        text = f"{self.message} [{self.code}]"
        return f"{where}: {text}" if where else text


class EvidenceError(Exception):
    """Root of every error this package raises on purpose. Exit code 2 unless overridden."""

    exit_code = 2

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        self._diagnostics = diagnostics if isinstance(diagnostics, list) else [diagnostics]
        super().__init__("; ".join(str(d) for d in self._diagnostics))

    def diagnostics(self) -> list[Diagnostic]:
        return list(self._diagnostics)

    @property
    def code(self) -> DiagnosticCode:
        return self._diagnostics[0].code


class UsageError(EvidenceError):
    """The command line asked for something that cannot be done."""


class InputError(EvidenceError):
    """An input (source, witness, grants, bodies) cannot be read at all."""


class KeyStoreError(EvidenceError):
    """A key file, key directory or trust store is unreadable or invalid."""


class PdfSigningError(EvidenceError):
    """The PDF could not be signed (bad input, key, certificate or time-stamp service)."""


class ResourceLimitError(EvidenceError):
    """A stage needed more time or memory than its configured limit (`RENDER_TIMEOUT`,
    `RENDER_MEMORY`). Exit code 2: the input is too large or hostile for the limit, and
    the message names the option that raises it."""
