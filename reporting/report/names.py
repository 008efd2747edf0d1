"""How a report's files are named: the writer, the signer, the checker and the command
line read the names here (a checker spelling them apart from the writer drifts)."""

from __future__ import annotations

__all__ = ["BRIEF_SUFFIX", "MANIFEST_DESCRIPTION", "MANIFEST_NAME"]

MANIFEST_NAME = "manifest.json"
MANIFEST_DESCRIPTION = "evidence manifest"  # how listings and PDF attachments describe it
BRIEF_SUFFIX = "-brief.pdf"  # the approval brief: <report stem>-brief.pdf
