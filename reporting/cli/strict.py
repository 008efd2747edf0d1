"""argparse made strict: usage errors exit 2 like every input error, and an option that
takes one value may be given once."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["EXIT_USAGE", "StrictParser"]

EXIT_USAGE = 2


class _StoreOnce(argparse.Action):
    """A single-valued option: given twice is a usage error. argparse would keep the last
    one silently (`--period 2026-09 --period 2026-10`), and a report about another period
    or with other files than the reader meant must not be signed."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given: set[str] = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in given:
            raise argparse.ArgumentError(self, "given more than once (it takes one value)")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class StrictParser(argparse.ArgumentParser):
    """argparse, but usage errors say which command and exit 2 like every input error;
    an option that takes one value may be given once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)  # the default action, groups included

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")
