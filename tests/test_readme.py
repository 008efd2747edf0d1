"""The README's commands work: the two at the top, and every `$ ` example in it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reporting.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
EXAMPLE = re.compile(r"^\$ (?P<command>.+?)(?:\s+#\s*exit (?P<code>\d+))?$", re.MULTILINE)


def _top_commands() -> list[str]:
    block = README.split("```", 2)[1]
    lines = [line.split("#")[0].strip() for line in block.splitlines()[1:]]
    return [line for line in lines if line]


def _examples() -> list[tuple[str, int]]:
    return [(m["command"], int(m["code"] or 0)) for m in EXAMPLE.finditer(README)]


def _environment() -> dict[str, str]:
    scripts = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")}


def test_readme_starts_with_exactly_the_two_commands() -> None:
    assert README.startswith("# Agent Evidence\n\n```")
    assert _top_commands() == ["make report", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    # `make test` cannot run inside itself; CI (.ci/run) runs exactly it on a fresh clone.
    script = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", script, re.MULTILINE)


@pytest.mark.slow  # the demo in this process: test_scheduled.py (demo_report)
def test_make_report_succeeds(tmp_path: Path) -> None:
    out = tmp_path / "demo"  # empty: what it prints can only be this run's output
    run = subprocess.run(
        ["make", "report", f"DEMO_OUT={out}"],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "INTEGRITY BROKEN" in run.stdout
    printed = {
        label: Path(line.split(maxsplit=1)[1])
        for line in run.stdout.splitlines()
        for label in ("PDF:", "HTML:")
        if line.startswith(label)
    }
    [directory] = out.glob("2026-10/AER-*")
    assert printed == {
        "PDF:": next(directory.glob("*.pdf")),
        "HTML:": next(directory.glob("*.html")),
    }
    assert (directory / "summary.json").is_file()


def test_readme_has_examples() -> None:
    assert len(_examples()) >= 3
    assert all(command.startswith("agent-evidence ") for command, _ in _examples())


def _argv(command: str) -> list[str]:
    return shlex.split(command)[1:]  # after `agent-evidence`


@pytest.mark.parametrize("command", [command for command, _ in _examples()])
def test_readme_example_parses(command: str) -> None:
    """Every option an example uses exists (running them all: the test below)."""
    build_parser().parse_args(_argv(command))


@pytest.mark.slow  # each command's behaviour has its own tests; this checks what we tell
def test_readme_examples_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Top to bottom, as a reader would run them (a later example may use an earlier one's
    output), in a fresh directory with a copy of samples/: nothing from an earlier run."""
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    for command, expected in _examples():
        try:
            code = main(_argv(command))
        except SystemExit as exited:  # argparse refused it
            code = exited.code if isinstance(exited.code, int) else 2
        output = capsys.readouterr()
        assert code == expected, f"$ {command}\n{output.out[-2000:]}{output.err[-2000:]}"
        assert "Traceback" not in output.err, command
