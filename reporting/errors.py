"""One root error with a machine code; every stage raises a subclass of it.

Low-level primitives raise; the pipeline collects (DESIGN.md, principle 1). The CLI
turns an `EvidenceError` into a message naming the file and line and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Diagnostic",
    "EvidenceError",
    "InputError",
    "KeyStoreError",
    "PdfSigningError",
    "ResourceLimitError",
    "UsageError",
]


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in an input, located as precisely as we can."""

    code: str
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
    def code(self) -> str:
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
