"""The README's commands work: the two at the top, and every `$ ` example in it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_make_report_succeeds() -> None:
    run = subprocess.run(
        ["make", "report"],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "INTEGRITY BROKEN" in run.stdout
    pdf = next(
        line.split(maxsplit=1)[1] for line in run.stdout.splitlines() if line.startswith("PDF:")
    )
    html = next(
        line.split(maxsplit=1)[1] for line in run.stdout.splitlines() if line.startswith("HTML:")
    )
    assert (REPO / pdf).is_file()
    assert (REPO / html).is_file()
    assert (REPO / pdf).with_name("summary.json").is_file()


def test_readme_has_examples() -> None:
    assert len(_examples()) >= 3


@pytest.mark.parametrize(("command", "expected"), _examples())
def test_readme_example(command: str, expected: int) -> None:
    run = subprocess.run(
        shlex.split(command),
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == expected, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Traceback" not in run.stderr
