"""Regenerate the generated blocks of docs/ from the code: the verification codes table
(from `reporting.receipts.results.Code`) and the configuration keys table (from
`reporting/data/config.schema.json`). tests/test_docs.py fails when a block is stale.

    .venv/bin/python scripts/docs.py
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reporting.config import config_schema
from reporting.receipts.results import Code, Severity

DOCS = Path(__file__).resolve().parents[1] / "docs"


def codes_table() -> str:
    rows = ["| code | kind | meaning |", "| --- | --- | --- |"]
    for code in Code:
        kind = "warning" if code.severity is Severity.WARNING else "failure"
        rows.append(f"| `{code.value}` | {kind} | {code.meaning} |")
    return "\n".join(rows)


def _keys(schema: dict[str, Any], prefix: str = "") -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for name, spec in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = spec.get("type", "")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        found.append((path, kind, spec.get("description", "")))
        if spec.get("type") == "object" and "properties" in spec:
            found.extend(_keys(spec, f"{path}."))
    return found


def config_table() -> str:
    rows = ["| key | type | meaning |", "| --- | --- | --- |"]
    for path, kind, description in _keys(config_schema()):
        text = " ".join(description.split()).replace("|", "\\|")
        rows.append(f"| `{path}` | {kind} | {text} |")
    return "\n".join(rows)


BLOCKS = {"verification.md": ("codes", codes_table), "configuration.md": ("config", config_table)}


def regenerated(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start[^\n]*-->\n)(.*?)(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {name} block")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(3), text)


def main() -> None:
    for file, (name, build) in BLOCKS.items():
        path = DOCS / file
        path.write_text(regenerated(path.read_text(), name, build()))
        print(f"regenerated the {name} table of {path}")


if __name__ == "__main__":
    main()
