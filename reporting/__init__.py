"""Agent Evidence: verify Agent Receipts chains and report them as compliance evidence."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agent-evidence")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
