"""The garbage-collector policy of our own processes (the CLI, workers, render child)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from reporting import cli
from reporting.collector import YOUNG_GENERATION
from reporting.receipts import executors

from .factory import ChainBuilder, Key, write_jsonl
from .helpers import trust, verify_paths


def test_tuning_collects_less_often_but_still_collects_cycles() -> None:
    # In a fresh interpreter: the policy is process-wide and must not leak into pytest.
    script = textwrap.dedent(
        """
        import gc, weakref
        from reporting.collector import tune_for_batch_work
        tune_for_batch_work()
        print(gc.get_threshold()[0], gc.get_freeze_count() > 0, gc.isenabled())
        class Node: pass
        freed = []
        for index in range(200_000):  # cyclic garbage, never collected by refcounting
            node = Node(); node.self = node
            weakref.finalize(node, freed.append, index)
        print(len(freed))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[:3] == [str(YOUNG_GENERATION), "True", "True"]
    assert int(out[3]) > 100_000  # the collector ran on its own, memory stays bounded


@pytest.fixture
def default_collector() -> Iterator[None]:
    """CPython's collector settings during the test, pytest's own restored after it (the
    policy is process-wide)."""
    threshold = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def _collector_state() -> tuple[int, bool]:
    return gc.get_threshold()[0], gc.get_freeze_count() > 0


def test_the_program_runs_under_the_tuned_collector(
    monkeypatch: pytest.MonkeyPatch, default_collector: None
) -> None:
    # The installed `agent-evidence` entry point, with a `main` that records the
    # collector it runs under.
    seen: list[tuple[int, bool]] = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(_collector_state()) or 0)
    # (a wheel built from the work tree leaves an .egg-info that lists it a second time)
    found = entry_points(group="console_scripts", name="agent-evidence")
    [program] = {entry.value: entry for entry in found}.values()
    assert program.load()() == 0
    assert seen == [(YOUNG_GENERATION, True)]


def _recording_batch(record: Path, real: Callable[..., Any]) -> Callable[..., Any]:
    def run_batch(*args: Any) -> Any:
        threshold, frozen = _collector_state()
        with (record / str(os.getpid())).open("a") as handle:
            handle.write(f"{threshold} {frozen}\n")
        return real(*args)

    return run_batch


def test_each_verification_worker_is_tuned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_collector: None
) -> None:
    """Verification in two worker processes: each batch runs under the tuned collector.
    The workers are forked (Linux's default start method), so they see the recorder."""
    key = Key.from_seed("collector")
    chains = [ChainBuilder(key, chain_id=f"chain_{n}").extend(3).receipts for n in range(4)]
    source = write_jsonl(tmp_path / "receipts.jsonl", [r for chain in chains for r in chain])
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setattr(executors, "run_batch", _recording_batch(record, executors.run_batch))
    result = verify_paths([source], trust(key.raw), workers=2)
    assert result.valid
    assert result.receipt_count == 12
    workers = {int(p.name): p.read_text().splitlines() for p in record.iterdir()}
    assert workers, "no batch ran in a worker"
    assert os.getpid() not in workers
    assert {line for lines in workers.values() for line in lines} == {f"{YOUNG_GENERATION} True"}
