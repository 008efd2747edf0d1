"""`make bench`'s verify figures: the CLI process's own CPU is split from its workers'.

The split comes from a launcher that runs the CLI as `python -m reporting` does and
reports the process's own CPU at exit; the bench reads it back. These check that the
launcher runs the command it is given, that the figure is read, and that it is the
CLI process's share (within the whole tree's CPU, and short of it when workers ran).
And that the package's bytecode is written before anything is timed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import verify_bench  # noqa: E402  (the benchmark itself)

from .factory import ChainBuilder, Key, write_jsonl  # noqa: E402


def test_the_launcher_reports_the_cli_process_cpu_within_the_whole_run() -> None:
    timing = verify_bench._command(["verify", "--help"], split=True)()
    assert 0 < timing.parent_cpu <= timing.cpu + 0.01  # rusage granularity


def test_the_workers_cpu_is_what_the_cli_process_did_not_spend(tmp_path: Path) -> None:
    key = Key.from_seed("bench-split")
    source = write_jsonl(tmp_path / "r.jsonl", ChainBuilder(key).extend(2_000).receipts)
    pem = key.write_pem(tmp_path / "k.pem")
    runs = {
        workers: verify_bench._command(
            ["verify", str(source), "--keys", str(pem), "--workers", str(workers)], split=True
        )()
        for workers in (1, 2)
    }
    # one worker: everything in the CLI process (only the interpreter's exit is after)
    assert runs[1].cpu - runs[1].parent_cpu < 0.05
    # two: the pool verified most of the 2,000 receipts (about 0.15 s of CPU)
    assert runs[2].cpu - runs[2].parent_cpu > 0.08


def test_a_failing_command_stops_the_bench(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.jsonl")
    with pytest.raises(SystemExit, match=r"failed \(2\)"):
        verify_bench._command(["verify", missing], split=True)()


def test_the_bench_writes_bytecode_where_imports_would_not(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    module = package / "mod.py"
    module.write_text("VALUE = 1\n")
    verify_bench.write_bytecode(package)
    cached = Path(importlib.util.cache_from_source(str(module)))
    # written even where PYTHONDONTWRITEBYTECODE keeps imports from writing it
    assert cached.is_file()
    assert cached.stat().st_mtime >= module.stat().st_mtime


def test_bytecode_that_cannot_be_written_stops_the_bench(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def (:\n")
    with pytest.raises(SystemExit, match="cannot write the bytecode"):
        verify_bench.write_bytecode(tmp_path)


def test_the_bench_writes_bytecode_before_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class TimedError(Exception):
        pass

    def timing(*_args: object, **_kwargs: object) -> None:
        calls.append("timing")
        raise TimedError

    monkeypatch.setattr(sys, "argv", ["verify_bench.py"])
    chain = verify_bench.Chain([b"{}"], Path("chain.jsonl"), Path("key.pem"))
    monkeypatch.setattr(verify_bench, "cached_chain", lambda _n: chain)
    monkeypatch.setattr(verify_bench, "write_bytecode", lambda: calls.append("bytecode"))
    monkeypatch.setattr(verify_bench, "_best", timing)
    for name in ("_reference", "_cli", "_ours_in_process", "_libsodium", "_command"):
        monkeypatch.setattr(verify_bench, name, lambda *_a, **_k: None)
    monkeypatch.setattr(verify_bench, "_one_receipt", lambda _chain: None)
    with pytest.raises(TimedError):
        verify_bench.main()
    assert calls == ["bytecode", "timing"]
