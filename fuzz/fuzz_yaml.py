"""atheris: the YAML loaders (mapping, config, trust store, witness, grants) on arbitrary
text; the first byte picks the loader. Only EvidenceError may escape."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["reporting"]):
    from reporting.config import load_config
    from reporting.controls.loader import load_mappings
    from reporting.errors import EvidenceError
    from reporting.receipts.external import load_grants, load_witnesses
    from reporting.receipts.keys import load_trust

LOADERS = (
    lambda path: load_mappings([path]),
    load_config,
    load_trust,
    load_witnesses,
    load_grants,
)
WORK = Path(tempfile.mkdtemp(prefix="fuzz-yaml-"))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    path = WORK / "input.yaml"
    path.write_bytes(data[1:])
    try:
        LOADERS[data[0] % len(LOADERS)](path)
    except EvidenceError as error:
        if not error.diagnostics():
            raise AssertionError("a coded error without a diagnostic") from error


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
