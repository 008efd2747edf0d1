"""Agent Evidence: verify Agent Receipts chains and report them as compliance evidence."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The distribution's name: "agent-evidence" on the public index is someone else's.
    __version__ = version("agent-receipts-evidence")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
