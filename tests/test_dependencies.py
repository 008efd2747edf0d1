"""Every third-party module the tool imports is a dependency pyproject.toml declares."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _declared() -> set[str]:
    """Runtime dependencies and optional extras (an extra like ``dask[distributed]``
    also declares the ``distributed`` distribution it stands for)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    requirements += [
        Requirement(r)
        for extra, listed in project["optional-dependencies"].items()
        if extra != "dev"
        for r in listed
    ]
    names = {canonicalize_name(r.name) for r in requirements}
    return names | {canonicalize_name(e) for r in requirements for e in r.extras}


def _imports() -> dict[str, set[str]]:
    """Top-level module -> the files of reporting/ that import it (at any depth)."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "reporting").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


def test_the_scan_sees_the_tools_imports() -> None:
    imported = _imports()
    assert {"pyhanko", "cryptography", "pandas", "reporting"} <= set(imported)


def test_every_third_party_import_is_declared() -> None:
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, files in _imports().items():
        if module in sys.stdlib_module_names or module == "reporting":
            continue
        providers = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not providers & declared:
            undeclared[module] = sorted(files)
    assert undeclared == {}, f"imported by reporting/ but not declared: {undeclared}"
