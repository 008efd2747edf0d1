"""Pipelock verification throughput against the vendor's verifier, in one process run.

    .venv/bin/python bench/pipelock_bench.py [--receipts N]

Writes one flight-recorder session of N decisions (signed by samples/pipelock's writer,
with session control, v2 receipts beside half of them, checkpoints), then prints
receipts/s for our `verify_pipelock` (every entry, v1 and v2 receipt, checkpoint and
session record checked) and for `pipelock_verify.verify_chain` 0.4.1 (v1 receipts only)
on the same file, and their ratio. Ratios are what matter: the machines are shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pipelock_verify

from reporting.pipelock import (
    PipelockOptions,
    PipelockSource,
    load_pipelock_key_file,
    verify_pipelock,
)

ROOT = Path(__file__).resolve().parents[1]
READ = {"action_type": "read", "side_effect_class": "external_read", "reversibility": "full"}
DECISION_V2 = {
    "action_type": "http_request",
    "verdict": "allow",
    "transport": "fetch",
    "policy_sources": ["scanner"],
    "winning_source": "scanner",
}


def _writer():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "pipelock_writer", ROOT / "samples/pipelock/pipelock_writer.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build(receipts: int) -> tuple[str, str]:
    writer = _writer()
    key = writer.SampleKey("bench/pipelock")
    recorder = writer.Recorder()
    emitter = writer.Emitter(recorder, key, random.Random(1), actor="bench-agent")
    moment = datetime(2026, 10, 1, tzinfo=UTC)
    emitter.open(moment)
    for number in range(receipts):
        moment += timedelta(milliseconds=250)
        target = f"https://example.com/{number}"
        emitter.emit(moment, target=target, transport="fetch", method="GET", **READ)
        if number % 2 == 0:
            emitter.evidence(moment, {"target": target, **DECISION_V2})
        if number % 500 == 499:
            recorder.checkpoint(writer.iso(moment), key)
    emitter.close(moment + timedelta(seconds=1))
    return recorder.text(), key.hex


def rate(label: str, receipts: int, run) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {receipts / seconds:>10,.0f} receipts/s ({seconds:.2f} s)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=5000)
    receipts = parser.parse_args().receipts
    text, key = build(receipts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "evidence-proxy-0.jsonl"
        path.write_text(text)
        (Path(tmp) / "key.pub").write_text(key)
        options = PipelockOptions(trust=load_pipelock_key_file(Path(tmp) / "key.pub"))

        def ours() -> None:
            result = verify_pipelock([PipelockSource(path.read_bytes(), str(path))], options)
            assert result.valid

        def theirs() -> None:
            assert pipelock_verify.verify_chain(path, key, session_id="proxy").valid

        ours_s = rate("reporting.pipelock (everything, v1 + v2)", receipts, ours)
        theirs_s = rate("pipelock-verify 0.4.1 (v1 receipts only)", receipts, theirs)
    print(f"ratio: ours takes {ours_s / theirs_s:.2f}x the time of 0.4.1 on the same file")


if __name__ == "__main__":
    main()
