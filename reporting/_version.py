"""The tool's version: recorded in every report, manifest and verification document."""

__version__ = "0.1.0"
