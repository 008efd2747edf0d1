"""The garbage-collector policy of our own processes (the CLI, workers, render child)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from reporting import cli
from reporting.collector import YOUNG_GENERATION
from reporting.receipts import executors


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


def test_the_program_is_tuned_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cli, "tune_for_batch_work", lambda: calls.append("tune"))
    monkeypatch.setattr(cli, "main", lambda: calls.append("main") or 0)
    assert cli.console() == 0
    assert calls == ["tune", "main"]


def test_each_verification_worker_is_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(executors, "tune_for_batch_work", lambda: calls.append("tune"))
    monkeypatch.setattr(executors, "_WORKER_CONTEXT", None)
    context = object()
    executors._init_worker(context)  # type: ignore[arg-type]
    assert calls == ["tune"]
    assert executors._WORKER_CONTEXT is context
