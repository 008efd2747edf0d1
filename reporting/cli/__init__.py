"""Command line: parse → pipeline → print → exit code. The only package that prints.

`parser` holds the grammar, `arguments` turns arguments (and a configuration file) into
the frozen run settings, `commands` runs each command, `output` prints.

Exit codes everywhere: 0 success; 1 what was checked failed; 2 usage, input or
configuration error (the message names the file and line); 3 internal error.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

from reporting.collector import tune_for_batch_work
from reporting.errors import EvidenceError

from .commands import COMMANDS, EXIT_INTERNAL
from .output import VERIFY_JSON_SCHEMA
from .parser import build_parser

__all__ = ["VERIFY_JSON_SCHEMA", "build_parser", "console", "main"]


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
        return COMMANDS[args.command](args, sys.stdout)
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
