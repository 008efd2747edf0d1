"""The pipeline's shape, checked: import arrows only point down the stages, and no module
imports itself back through others (issue 14).

    receipts → evidence → controls → report → signing → pipeline → cli (audit beside it)

Every import counts, at module level, inside functions (lazy) and under TYPE_CHECKING:
an upward import hidden in a function is still an arrow a reader must follow back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reporting"

# Lower numbers are earlier stages; a module may import its own layer or any lower one.
LAYERS = {
    "reporting._version": 0,
    "reporting._lazy": 0,
    "reporting.errors": 0,
    "reporting.yamlio": 0,
    "reporting.collector": 0,
    "reporting.certificates": 0,
    "reporting.aio": 0,
    "reporting.words": 0,
    "reporting.receipts": 1,
    "reporting.pipelock": 1,
    "reporting.evidence": 2,
    "reporting.periods": 2,
    "reporting.scope": 2,
    "reporting.controls": 3,
    "reporting.report": 4,
    "reporting.signing": 5,
    "reporting.config": 6,
    "reporting.settings": 6,
    "reporting.summary": 6,
    "reporting.pipeline": 6,
    "reporting.audit": 7,
    "reporting.cli": 8,
    "reporting.__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int | None:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    return None


def _imports(path: Path) -> set[str]:
    """Every `reporting` module `path` imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m.startswith("reporting")}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) - {_module_name(p)} for p in PACKAGE.rglob("*.py")}


def test_every_module_has_a_layer() -> None:
    assert [m for m in _graph() if _layer(m) is None and m != "reporting"] == []


def test_imports_only_point_down_the_pipeline() -> None:
    upward = sorted(
        f"{module} ({_layer(module)}) imports {target} ({_layer(target)})"
        for module, targets in _graph().items()
        for target in targets
        if module != "reporting"
        and target != "reporting"
        and (_layer(target) or 0) > (_layer(module) or 0)
    )
    assert upward == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str], done: set[str]) -> None:
        if node in trail:
            cycles.append([*trail[trail.index(node) :], node])
            return
        if node in done:
            return
        for target in sorted(graph.get(node, ())):
            if target != "reporting":
                visit(target, [*trail, node], done)
        done.add(node)

    finished: set[str] = set()
    for module in sorted(graph):
        visit(module, [], finished)
    assert cycles == []


@pytest.mark.parametrize("package", ["cli"])
def test_command_line_modules_stay_short(package: str) -> None:
    long = {
        p.name: n
        for p in (PACKAGE / package).glob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_the_public_api_is_small_and_loads_on_use() -> None:
    import subprocess
    import sys

    import reporting

    assert set(reporting.__all__) == {"__version__", *reporting._EXPORTS}
    for name in reporting._EXPORTS:
        assert getattr(reporting, name).__name__ == name
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys, reporting; print('pandas' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert fresh.stdout.strip() == "False"  # importing the package loads no stage


def test_the_parser_offers_the_executors_there_are() -> None:
    from reporting.cli.parser import EXECUTOR_CHOICES
    from reporting.receipts.executors import EXECUTORS

    assert EXECUTOR_CHOICES == EXECUTORS


# Modules the `verify` command must never load: the assessment, the report, signing,
# and the heavy libraries behind them (issue 17: verify starts in a fraction of a second).
NOT_ON_THE_VERIFY_PATH = (
    "pandas",
    "numpy",
    "matplotlib",
    "jinja2",
    "weasyprint",
    "pyhanko",
    "jsonschema",
    "reporting.controls",
    "reporting.evidence",
    "reporting.report",
    "reporting.signing",
    "reporting.config",
    "multiprocessing",  # a pool's, imported when one starts (a one-receipt run needs none)
    "reporting.pipelock.verify",  # the Pipelock verifier: only for Pipelock sources
    "reporting.pipelock.chain",
    "cryptography.x509",  # certificates: only when --tsa-roots names some
    "yaml",  # YAML: only when a trust store, config or other YAML file is read
)


@pytest.mark.parametrize("argv", [["verify", "--help"], ["verify", "{source}", "--keys", "{key}"]])
def test_verify_imports_only_what_it_uses(argv: list[str], tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from .factory import ChainBuilder, Key, write_jsonl

    key = Key.from_seed("import-set")
    source = write_jsonl(tmp_path / "r.jsonl", ChainBuilder(key).extend(1).receipts)
    filled = [a.format(source=source, key=key.write_pem(tmp_path / "k.pem")) for a in argv]
    probe = (
        "import json, sys\n"
        "from reporting.cli import main\n"
        "try:\n"
        f"    main({filled!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(run.stderr.strip().splitlines()[-1])
    allowed = {"reporting.report", "reporting.report.limits"}  # plain numbers for --help
    forbidden = sorted(
        m
        for m in loaded
        if m not in allowed and any(m == p or m.startswith(p + ".") for p in NOT_ON_THE_VERIFY_PATH)
    )
    assert forbidden == []


def test_every_error_of_a_run_carries_a_code_from_one_enum() -> None:
    """Issue 14: no free-string diagnostic codes. mypy checks the type at every call site;
    this checks that the enum's values are their names (what tests and scripts match)."""
    from reporting.errors import Diagnostic, DiagnosticCode

    assert all(code.value == code.name for code in DiagnosticCode)
    assert Diagnostic.__annotations__["code"] in ("DiagnosticCode", DiagnosticCode)
