"""The pages in docs/ stay true: their generated tables match the code, every link
resolves, and every `$ ` command still runs with the exit code it states (issue 14)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reporting.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
EXAMPLE = re.compile(r"^\$ (?P<command>.+?)(?:\s+#\s*exit (?P<code>\d+))?$", re.MULTILINE)
LINK = re.compile(r"\]\((?!https?://|#)(?P<target>[^)#\s]+)")


def _examples(page: Path) -> list[tuple[str, int]]:
    text = page.read_text()
    return [(m["command"], int(m["code"] or 0)) for m in EXAMPLE.finditer(text)]


def test_the_generated_tables_are_current() -> None:
    probe = (
        "import docs\n"
        "for file, (name, build) in docs.BLOCKS.items():\n"
        "    path = docs.DOCS / file\n"
        "    text = path.read_text()\n"
        "    assert docs.regenerated(text, name, build()) == text, f'{file}: run scripts/docs.py'\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO / "scripts",
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_every_verification_code_is_documented() -> None:
    from reporting.receipts.results import MEANINGS, Code

    text = (DOCS / "verification.md").read_text()
    assert set(MEANINGS) == set(Code)
    assert [c.value for c in Code if f"`{c.value}`" not in text] == []


@pytest.mark.parametrize("page", [*PAGES, REPO / "README.md"], ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    missing = [
        m["target"]
        for m in LINK.finditer(page.read_text())
        if not (page.parent / m["target"]).exists()
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("page", "command"),
    [(page, command) for page in PAGES for command, _ in _examples(page)],
    ids=lambda value: value.name if isinstance(value, Path) else value[:60],
)
def test_every_example_parses(page: Path, command: str) -> None:
    assert command.startswith("agent-evidence ")
    build_parser().parse_args(shlex.split(command)[1:])


@pytest.mark.slow  # each command's behaviour has its own tests; this checks what the docs say
@pytest.mark.parametrize("page", [p for p in PAGES if _examples(p)], ids=lambda p: p.name)
def test_every_example_runs_in_order(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Top to bottom as a reader would run them, in a fresh directory with a copy of
    samples/: nothing from an earlier run is found."""
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    for command, expected in _examples(page):
        try:
            code = main(shlex.split(command)[1:])
        except SystemExit as exited:
            code = exited.code if isinstance(exited.code, int) else 2
        output = capsys.readouterr()
        assert code == expected, f"$ {command}\n{output.out[-2000:]}{output.err[-2000:]}"
        assert "Traceback" not in output.err, command
