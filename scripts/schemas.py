"""Write docs/schemas/report.schema.json from the report model's dataclasses.

The report JSON (`agent-evidence/report/v1`) is `ReportModel.to_json()`; its schema is
derived from the model's type annotations so the two cannot drift apart
(tests/test_schemas.py fails when the committed file is not what this script writes).

    .venv/bin/python scripts/schemas.py
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from reporting.report.model import REPORT_SCHEMA, ReportModel

DRAFT = "https://json-schema.org/draft/2020-12/schema"
TARGET = Path(__file__).resolve().parents[1] / "docs" / "schemas" / "report.schema.json"


def _schema(annotation: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if annotation is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, definitions) for a in arguments]}
    if annotation is type(None):
        return {"type": "null"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if annotation is str:
        return {"type": "string"}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return {"enum": [member.value for member in annotation]}
    if origin in (tuple, list):
        return {"type": "array", "items": _schema(arguments[0], definitions)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(arguments[1], definitions)}
    if dataclasses.is_dataclass(annotation):
        name = annotation.__name__
        if name not in definitions:
            definitions[name] = {}  # placeholder while recursing
            hints = typing.get_type_hints(annotation)
            fields = [f.name for f in dataclasses.fields(annotation)]
            definitions[name] = {
                "type": "object",
                "additionalProperties": False,
                "required": fields,
                "properties": {f: _schema(hints[f], definitions) for f in fields},
            }
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for {annotation!r}")


def report_schema() -> dict[str, Any]:
    definitions: dict[str, Any] = {}
    _schema(ReportModel, definitions)
    model = definitions.pop("ReportModel")
    model["properties"]["schema"] = {"const": REPORT_SCHEMA}
    return {
        "$schema": DRAFT,
        "$id": "https://agentreceipts.ai/schemas/agent-evidence/report-v1.json",
        "title": "Agent Evidence report model (the report's JSON export)",
        **model,
        "$defs": dict(sorted(definitions.items())),
    }


def main() -> None:
    TARGET.write_text(json.dumps(report_schema(), indent=2, sort_keys=False) + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
