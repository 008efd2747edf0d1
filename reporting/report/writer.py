"""Write a run's artefacts atomically: OUT/<period>/<report id>/, all or nothing.

Everything is written into a hidden sibling directory first and renamed into place only
once every artefact is complete and signed, so a failed or interrupted run never leaves
a half-written report where a scheduler or an auditor would find it. An earlier report
is never replaced.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reporting.errors import Diagnostic, DiagnosticCode, InputError
from reporting.report.artefacts import Artefact

__all__ = ["write_artefacts"]


def _fsync_write(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_artefacts(directory: Path, artefacts: Sequence[Artefact]) -> list[Path]:
    """Write the artefacts as `<dir>/<name>`; the directory appears complete or not at all.

    An earlier report is never overwritten: when `directory` exists (a second run with the
    same report id), the files go to `directory-2` (`-3`, ...) beside it, so a report
    someone already attached to a ticket stays byte for byte what they attached.
    """
    parent = directory.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=parent))
    except OSError as exc:
        raise InputError(
            Diagnostic(DiagnosticCode.CANNOT_WRITE, exc.strerror or str(exc), str(parent))
        ) from exc
    try:
        for artefact in artefacts:
            _fsync_write(staging / artefact.name, artefact.data)
        os.chmod(staging, 0o755)  # noqa: S103 - reports are meant to be read
        target = _rename_into_place(staging, directory)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(
            Diagnostic(DiagnosticCode.CANNOT_WRITE, exc.strerror or str(exc), str(directory))
        ) from exc
    return [target / artefact.name for artefact in artefacts]


def _rename_into_place(staging: Path, directory: Path) -> Path:
    """Rename the finished staging directory to the first free name; never replace one.

    `os.rename` onto an existing non-empty directory fails, so a name taken by a run that
    finished meanwhile is skipped, not overwritten.
    """
    for number in range(1, 10_000):
        target = directory if number == 1 else directory.with_name(f"{directory.name}-{number}")
        if target.exists():
            continue
        try:
            staging.rename(target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and target.exists():
                continue
            raise
        return target
    raise OSError(errno.EEXIST, "too many reports with this id", str(directory))
