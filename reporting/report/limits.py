"""The rendering sandbox's limits and their bounds: plain numbers, importable by the command
line's `--help` without loading the renderer (`reporting.report.sandbox` enforces them)."""

from __future__ import annotations

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "MAX_MEMORY_MB",
    "MAX_RENDER_TIMEOUT",
    "MIN_MEMORY_MB",
]

DEFAULT_TIMEOUT = 900.0  # seconds
DEFAULT_MEMORY_MB = 4096  # MiB of address space, libraries included
MIN_MEMORY_MB = 256  # a sanity floor; the libraries alone take about 0.5 GiB
MAX_MEMORY_MB = 1 << 20  # 1 TiB
MAX_RENDER_TIMEOUT = 86400  # a day
