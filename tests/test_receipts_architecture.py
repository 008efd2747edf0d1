"""The shape of `reporting.receipts` (issue 14): its modules import each other without
cycles and without private names, reach into no later stage, define each shared
constant once, and the verification path imports nothing heavy (issue 17)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "reporting" / "receipts"
# What the receipts stage may use from the rest of the package: nothing downstream.
ALLOWED_OUTSIDE = {
    "reporting.errors",
    "reporting.yamlio",
    "reporting.collector",
    "reporting.certificates",
    "reporting.aio",
    "reporting.words",  # counts in words ("1 receipt carries"), below every stage
}
HEAVY = ("pandas", "numpy", "matplotlib", "jinja2", "weasyprint", "pyhanko", "pypdf", "rich")


def _modules() -> dict[str, ast.Module]:
    return {
        f"reporting.receipts.{path.stem}": ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.glob("*.py"))
        if path.stem != "__init__"
    }


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, names) of every import, also those inside functions (lazy ones)."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [alias.name for alias in node.names]
            if node.module == "reporting.receipts":  # `from reporting.receipts import x`
                found.extend((f"reporting.receipts.{name}", []) for name in names)
            else:
                found.append((node.module, names))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def test_no_import_cycle_inside_receipts() -> None:
    modules = _modules()
    graph = {
        name: {module for module, _ in _imports(tree) if module in modules}
        for name, tree in modules.items()
    }
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            assert state.get(target) != "open", " -> ".join([*path, name, target])
            if target not in state:
                visit(target, [*path, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert "reporting.receipts.dask_executor" in graph["reporting.receipts.executors"]


def test_no_private_name_crosses_a_module_boundary() -> None:
    crossing = [
        f"{name} imports {module}.{imported}"
        for name, tree in _modules().items()
        for module, names in _imports(tree)
        if module.startswith("reporting.")
        for imported in names
        if imported.startswith("_")
    ]
    assert crossing == []


def test_receipts_reach_into_no_later_stage() -> None:
    outside = {
        f"{name} imports {module}"
        for name, tree in _modules().items()
        for module, _ in _imports(tree)
        if module.startswith("reporting.")
        and not module.startswith("reporting.receipts")
        and module not in ALLOWED_OUTSIDE
    }
    assert outside == set()


def test_each_shared_size_is_defined_once() -> None:
    defined = [
        (name, target.id)
        for name, tree in _modules().items()
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id in {"BATCH_RECORDS", "CHUNK_SIZE"}
    ]
    assert sorted(defined) == [
        ("reporting.receipts.jobs", "BATCH_RECORDS"),
        ("reporting.receipts.jobs", "CHUNK_SIZE"),
    ]


def test_the_verification_path_imports_nothing_heavy() -> None:
    """What `verify` needs from this stage loads no report, PDF or data-frame library."""
    modules = ", ".join(
        f"reporting.receipts.{m}" for m in ("verify", "sources", "keys", "external", "executors")
    )
    code = f"import sys, {modules}; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout.split()
    )
    assert {m for m in loaded if m.split(".")[0] in HEAVY} == set()
    assert "distributed" not in loaded  # Dask only when asked for


def test_every_module_of_the_package_is_seen() -> None:
    names = {Path(n.replace(".", "/")).name for n in _modules()}
    assert {"rules", "chunks", "crosschain", "jobs", "executors", "verify", "spool"} <= names
