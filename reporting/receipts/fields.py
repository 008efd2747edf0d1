"""Reading fields of a parsed receipt that may be missing or of the wrong type."""

from __future__ import annotations

from typing import Any

__all__ = ["get_path"]


def get_path(document: Any, *path: str) -> Any:
    """The value at `path` inside nested objects, or None if any step is not an object."""
    node = document
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node
