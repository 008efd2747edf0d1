"""The atheris harnesses in fuzz/ run a bounded number of inputs from their seeds and exit
0 (a crash would exit non-zero and leave a crash-* file); a harness that raises is
caught by the same check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import examples

pytest.importorskip(
    "atheris", reason="atheris is not installed (wheels: CPython 3.11-3.13, x86-64 Linux)"
)

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
# Bounded so each takes seconds on a busy 2-core machine (YAML parsing is the slowest);
# scaled like the property tests' examples (a quarter in the dev profile, twice in ci).
RUNS = {
    name: examples(runs)
    for name, runs in {"fuzz_parse": 2000, "fuzz_verify": 2000, "fuzz_yaml": 1000}.items()
}


def run_harness(harness: Path, corpus: Path, work: Path, runs: int) -> tuple[int, str]:
    command = [
        sys.executable,
        str(harness),
        f"-runs={runs}",
        "-seed=1",
        f"-artifact_prefix={work}/",
        str(corpus),
    ]
    run = subprocess.run(
        command, cwd=work, capture_output=True, text=True, timeout=300, check=False
    )
    return run.returncode, run.stdout + run.stderr


def test_every_harness_is_exercised() -> None:
    assert sorted(p.stem for p in FUZZ.glob("fuzz_*.py")) == sorted(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_harness_runs_clean(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(FUZZ / "corpus" / name.removeprefix("fuzz_"), corpus)  # it grows
    assert list(corpus.iterdir())
    code, log = run_harness(FUZZ / f"{name}.py", corpus, tmp_path, RUNS[name])
    assert code == 0, log[-4000:]
    assert f"Done {RUNS[name]} runs" in log
    assert not list(tmp_path.glob("crash-*"))


def test_a_crashing_harness_is_detected(tmp_path: Path) -> None:
    harness = tmp_path / "fuzz_broken.py"
    harness.write_text(
        "import sys\nimport atheris\n\n"
        "def one(data):\n    if len(data) > 2:\n        raise KeyError('planted')\n\n"
        "atheris.Setup(sys.argv, one)\natheris.Fuzz()\n"
    )
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(b"abcdef")
    code, log = run_harness(harness, corpus, tmp_path, 100)
    assert code != 0
    assert "KeyError: 'planted'" in log
    assert list(tmp_path.glob("crash-*"))
