"""Write a run's artefacts atomically: OUT/<period>/<report id>/, all or nothing.

Everything is written into a hidden sibling directory first and renamed into place only
once every artefact is complete and signed, so a failed or interrupted run never leaves
a half-written report where a scheduler or an auditor would find it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reporting.errors import Diagnostic, InputError
from reporting.report.artefacts import Artefact

__all__ = ["write_artefacts"]


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_artefacts(directory: Path, artefacts: Sequence[Artefact]) -> list[Path]:
    """Write the artefacts as `directory/<name>`; `directory` appears complete or not at all."""
    parent = directory.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=parent))
    except OSError as exc:
        raise InputError(Diagnostic("CANNOT_WRITE", exc.strerror or str(exc), str(parent))) from exc
    try:
        for artefact in artefacts:
            _fsync_write(staging / artefact.name, artefact.data)
        os.chmod(staging, 0o755)  # noqa: S103 - reports are meant to be read
        _swap_into_place(staging, directory)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(
            Diagnostic("CANNOT_WRITE", exc.strerror or str(exc), str(directory))
        ) from exc
    return [directory / artefact.name for artefact in artefacts]


def _swap_into_place(staging: Path, directory: Path) -> None:
    """Rename the finished staging directory over any earlier run with the same id."""
    if not directory.exists():
        staging.rename(directory)
        return
    retired = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    directory.rename(retired)
    staging.rename(directory)
    shutil.rmtree(retired, ignore_errors=True)
