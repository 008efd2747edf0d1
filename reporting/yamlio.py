"""Safe YAML with line numbers, duplicate keys rejected and aliases refused.

PyYAML's SafeLoader silently keeps the last of two equal keys and expands aliases
(the "billion laughs" bomb); both are refused here. Every mapping comes back as a
`LocatedDict`, which remembers the line of each key so errors can point at it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reporting.errors import Diagnostic, DiagnosticCode, InputError

__all__ = [
    "LocatedDict",
    "LocatedProblems",
    "json_path",
    "line_of_path",
    "load_yaml",
    "load_yaml_text",
    "plain",
]

DEFAULT_MAX_YAML_BYTES = 8 << 20
MAX_YAML_DEPTH = 64  # far deeper than any mapping, config or trust store needs


class LocatedDict(dict[str, Any]):
    """A mapping that knows the 1-based line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


def plain(value: Any) -> Any:
    """LocatedDict trees → plain dicts and lists (frozen results carry no parser state)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def line_of_path(data: Any, path: Any) -> int | None:
    """The line of the deepest key or mapping on `path` (keys and list indexes, e.g. a
    jsonschema error's `absolute_path`)."""
    node, line = data, getattr(data, "line", None)
    for part in path:
        if isinstance(node, LocatedDict) and isinstance(part, str) and part in node:
            line = node.line_of(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def json_path(path: Sequence[str | int]) -> str:
    """`checks.overrides[0].params` for a path of keys and indexes; `(top)` for the root."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return text.removeprefix(".") or "(top)"


class LocatedProblems:
    """Collects every problem of one parsed file, each with the line of its path, so a
    loader reports them all at once (`code` names the kind of file: CONFIG, DISPOSITIONS)."""

    def __init__(self, data: Any, source: Path | str, code: DiagnosticCode) -> None:
        self.data = data
        self.source = str(source)
        self.code = code
        self.items: list[Diagnostic] = []

    def add(self, path: Sequence[str | int], message: str, line: int | None = None) -> None:
        line = line if line is not None else line_of_path(self.data, path)
        self.items.append(Diagnostic(self.code, f"{json_path(path)}: {message}", self.source, line))

    def mapping(self, what: str) -> LocatedDict:
        """The parsed file as a mapping; else raise, saying it must be `what`."""
        if not isinstance(self.data, LocatedDict):
            self.add((), f"{what} must be a mapping (key: value lines)", 1)
            self.raise_if_any()
        assert isinstance(self.data, LocatedDict)
        return self.data

    def raise_if_any(self) -> None:
        if self.items:
            ordered = sorted(self.items, key=lambda d: (d.line or 0, d.message))
            raise InputError(ordered)


@functools.cache
def _strict_loader() -> type[Any]:
    """The strict loader, made on first use: PyYAML costs a hundredth of a second to
    import, and `verify` with a PEM key reads no YAML at all."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.constructor.ConstructorError(
                    None, None, "aliases are not allowed", event.start_mark
                )
            # PyYAML composes (and later code validates) recursively: a deeply nested
            # document must be refused here, with its line, not overflow the stack later.
            if self._depth >= MAX_YAML_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                message = f"nested too deeply (more than {MAX_YAML_DEPTH} levels)"
                raise yaml.composer.ComposerError(None, None, message, event.start_mark)
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_mapping(  # type: ignore[override]
            self, node: yaml.MappingNode, deep: bool = False
        ) -> LocatedDict:
            result = LocatedDict()
            result.line = node.start_mark.line + 1
            result.key_lines = {}
            for key_node, value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)
                if key in result:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                result[key] = self.construct_object(value_node, deep=True)
                result.key_lines[key] = key_node.start_mark.line + 1
            return result

        def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
            """An integer, or a located error: Python refuses to convert more than 4,300
            decimal digits (a ValueError without a line), so a hostile file names its line."""
            try:
                return int(super().construct_yaml_int(node))
            except ValueError as exc:
                raise yaml.constructor.ConstructorError(
                    None, None, f"integer out of range ({exc})", node.start_mark
                ) from exc

        def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
            """A finite number: NaN compares false with every bound a schema sets, and an
            infinity is no limit anyone meant to write, so both are refused where they stand."""
            value = float(super().construct_yaml_float(node))
            if not math.isfinite(value):
                raise yaml.constructor.ConstructorError(
                    None, None, f"{value} is not a finite number", node.start_mark
                )
            return value

    StrictLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
        StrictLoader.construct_mapping,
    )
    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)

    # Dates stay strings: "2026-10-01" is data to validate, not a datetime to guess at.
    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return StrictLoader


def load_yaml_text(text: str, *, source: str) -> Any:
    """Parse YAML text; any syntax problem becomes an InputError naming source and line."""
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = f"invalid YAML: {exc.problem or exc.context}"
        raise InputError(Diagnostic(DiagnosticCode.INVALID_YAML, message, source, line)) from exc
    except yaml.YAMLError as exc:
        raise InputError(
            Diagnostic(DiagnosticCode.INVALID_YAML, f"invalid YAML: {exc}", source)
        ) from exc


def load_yaml(path: Path, *, max_bytes: int = DEFAULT_MAX_YAML_BYTES) -> Any:
    """Read and parse a YAML (or JSON) file with the limits above."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            message = f"file is {size} bytes, limit {max_bytes}"
            raise InputError(Diagnostic(DiagnosticCode.FILE_TOO_LARGE, message, str(path)))
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            Diagnostic(DiagnosticCode.INVALID_YAML, "not valid UTF-8", str(path))
        ) from exc
    except OSError as exc:
        raise InputError(
            Diagnostic(DiagnosticCode.UNREADABLE, exc.strerror or str(exc), str(path))
        ) from exc
    return load_yaml_text(text, source=str(path))
