"""Signed Pipelock worlds for tests, and our verifier run on them.

Records are signed by `samples/pipelock/pipelock_writer.py` with the reference
verifier's canonicalisers (`pipelock-verify`, dev extra), so test data never depends
on the canonicalisation under test.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from reporting.pipelock import (
    PipelockOptions,
    PipelockRecorder,
    PipelockSource,
    PipelockTrust,
    PipelockVerification,
    verify_pipelock,
)
from reporting.receipts.external import Witness
from reporting.receipts.keys import PublicKey
from reporting.receipts.results import ChainResult, Code

ROOT = Path(__file__).resolve().parents[1]


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


pytest.importorskip("pipelock_verify", reason="the dev extra (pipelock-verify) is not installed")
writer = load_module(ROOT / "samples" / "pipelock" / "pipelock_writer.py", "pipelock_writer")

KEY_A = writer.SampleKey("tests/pipelock/recorder-a")
KEY_B = writer.SampleKey("tests/pipelock/recorder-b")
ATTACKER = writer.SampleKey("tests/pipelock/attacker")
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def trust(
    *keys: Any, name: str | None = "test-recorder", sessions: tuple[str, ...] | None = None
) -> PipelockTrust:
    public = tuple(PublicKey(bytes.fromhex(k.hex), f"test key {i}") for i, k in enumerate(keys))
    return PipelockTrust((PipelockRecorder(name, public, sessions),))


def verify(
    *sources: tuple[str | bytes, str] | str | bytes,
    keys: PipelockTrust | None = None,
    witnesses: dict[str, Witness] | None = None,
) -> PipelockVerification:
    """Verify sources given as bytes/text (named by position) or (content, name)."""
    items = []
    for number, source in enumerate(sources):
        content, name = source if isinstance(source, tuple) else (source, f"source{number}.jsonl")
        raw = content.encode() if isinstance(content, str) else content
        items.append(PipelockSource(raw, name))
    options = PipelockOptions(
        trust=keys if keys is not None else trust(KEY_A), witnesses=witnesses or {}
    )
    return verify_pipelock(items, options)


def failure_codes(result: PipelockVerification) -> set[Code]:
    found = {p.code for p in result.input_problems}
    return found | {p.code for c in result.chains for p in c.failures}


def warning_codes(result: PipelockVerification) -> set[Code]:
    return {p.code for c in result.chains for p in c.warnings}


def v1_chain(result: PipelockVerification) -> ChainResult:
    (chain,) = [c for c in result.chains if c.source_kind == "pipelock"]
    return chain


def v2_chain(result: PipelockVerification) -> ChainResult:
    (chain,) = [c for c in result.chains if c.source_kind == "pipelock_evidence"]
    return chain


# -- a realistic session ------------------------------------------------------------------

DECISIONS: tuple[dict[str, Any], ...] = (
    {
        "action_type": "read", "target": "https://pypi.org/simple/requests/", "verdict": "allow",
        "transport": "fetch", "method": "GET", "side_effect_class": "external_read",
        "reversibility": "full", "request_id": "req-1", "session_id": "sess_demo",
    },
    {
        "action_type": "write", "target": "https://api.github.com/repos/acme/web/pulls",
        "verdict": "allow", "transport": "forward", "method": "POST",
        "side_effect_class": "external_write", "reversibility": "compensatable",
        "intent": "open a pull request", "data_classes_out": ["source_code"],
        "parent_action_id": "019a0000-0000-7000-8000-000000000001", "session_id": "sess_demo",
        "session_id_original": "sess_demo_parent",
    },
    {
        "action_type": "write", "target": "https://paste.example.net/api/create",
        "verdict": "block", "transport": "forward", "method": "POST",
        "side_effect_class": "external_write", "reversibility": "irreversible",
        "layer": "dlp", "pattern": "aws_access_key_id", "severity": "critical",
        "data_classes_out": ["credentials", "secrets"],
        "session_id": "sess_demo",
    },
    {
        "action_type": "write", "target": "https://llm.example.com/v1/chat/completions",
        "verdict": "strip", "transport": "intercept", "method": "POST",
        "side_effect_class": "external_write", "reversibility": "unknown",
        "redaction": {
            "profile": "default", "provider": "builtin", "total_redactions": 2,
            "by_class": {"email": 1, "api_key": 1},
        },
    },
    {
        "action_type": "write", "target": "github.create_issue", "verdict": "allow",
        "transport": "mcp_stdio", "side_effect_class": "external_write",
        "reversibility": "unknown", "request_id": "7", "session_id": "sess_demo",
    },
    {
        "action_type": "read", "target": "wss://stream.example.org/feed", "verdict": "warn",
        "transport": "websocket", "method": "GET", "side_effect_class": "external_read",
        "reversibility": "full", "session_taint_level": "medium", "session_contaminated": True,
        "recent_taint_sources": [
            {"url": "https://blog.example.org/post", "kind": "prompt_injection", "level": 3,
             "timestamp": "2026-10-05T08:59:00Z"},
        ],
        "delegation_chain": ["agent:planner", "agent:coder"],
    },
    {
        "action_type": "read", "target": "https://tracker.example.com/pixel.gif",
        "verdict": "redirect", "transport": "fetch", "method": "GET",
        "side_effect_class": "external_read", "reversibility": "full",
    },
)  # fmt: skip


@dataclass
class World:
    """A recorder session, the emitter that wrote it, and the keys it trusts."""

    recorder: Any
    emitter: Any
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    def receipt_lines(self) -> list[str]:
        """The v1 receipts alone, one per line, as a bare ActionReceipt JSONL export."""
        return [
            json.dumps(json.loads(line)["detail"], separators=(",", ":"))
            for line in self.lines
            if json.loads(line)["type"] == "action_receipt"
        ]

    def endorsement_files(self) -> list[tuple[str, str]]:
        return [
            (json.dumps(e), f"endorsement-{i}.json")
            for i, e in enumerate(self.emitter.endorsements)
        ]


def build_world(
    *,
    seed: int = 1,
    rotate: bool = False,
    log_endorsement: bool = True,
    v2: bool = True,
    close: bool = True,
    seal: bool = True,
    session: str = "proxy",
    key: Any = KEY_A,
    actor: str = "coding-assistant",
) -> World:
    """open, the decisions above (each with a v2 receipt), a heartbeat, optionally a
    rotation to KEY_B with two more decisions, the close, transcript root, checkpoint."""
    recorder = writer.Recorder(session_id=session)
    emitter = writer.Emitter(recorder, key, random.Random(seed), actor=actor, principal="org:acme")
    moment = START + timedelta(minutes=seed)
    emitter.open(moment, heartbeat_seconds=60)
    for number, decision in enumerate(DECISIONS):
        moment += timedelta(seconds=5 + number, microseconds=1000 * number + 7)
        emitter.emit(moment, **decision)
        if v2 and number % 2 == 0:
            payload = {
                "action_type": "http_request", "target": decision["target"],
                "verdict": decision["verdict"], "transport": decision["transport"],
                "policy_sources": ["scanner"], "winning_source": "scanner",
            }  # fmt: skip
            emitter.evidence(moment + timedelta(microseconds=300), payload)
    emitter.heartbeat(moment + timedelta(seconds=20))
    if rotate:
        emitter.rotate(moment + timedelta(seconds=25), KEY_B, log=log_endorsement)
        for number in range(2):
            moment += timedelta(seconds=30 + number)
            emitter.emit(moment, **DECISIONS[number])
    if close:
        emitter.close(moment + timedelta(seconds=40))
    if seal:
        emitter.transcript_root(moment + timedelta(seconds=41))
        recorder.checkpoint(writer.iso(moment + timedelta(seconds=42)), emitter.key)
    return World(recorder, emitter, list(recorder.lines))


# -- editing recorder files the way an attacker (or the recorder's redaction) would ------


def entry_hash(document: dict[str, Any], detail_text: str) -> str:
    """A v2 entry's hash (PIPELOCK.md §3), computed here independently of reporting/."""
    fields = [
        str(document["v"]), str(document["seq"]), document["ts"], document["session_id"],
        document.get("trace_id", ""), document["type"], document.get("event_kind", ""),
        document.get("transport", ""), document.get("summary", ""), detail_text,
        document.get("raw_ref", ""), document["prev_hash"],
    ]  # fmt: skip
    return writer.hashlib.sha256("\x00".join(fields).encode()).hexdigest()


def detail_text(line: str) -> str:
    """The raw detail of a line the writer produced (detail is followed by prev_hash)."""
    start = line.index('"detail":') + len('"detail":')
    return line[start : line.rindex(',"prev_hash":')]


def with_detail(line: str, detail: str) -> str:
    start = line.index('"detail":') + len('"detail":')
    return line[:start] + detail + line[line.rindex(',"prev_hash":') :]


def rehash(lines: list[str], key: Any = None) -> list[str]:
    """Recompute every entry's seq, prev_hash and hash after an edit (and re-sign the
    checkpoints with `key`, as the recorder itself would): what a writer who controls
    the log file can do, short of the receipt keys."""
    out: list[str] = []
    prev = "genesis"
    for seq, original in enumerate(lines):
        document, line = json.loads(original), original
        detail = detail_text(line)
        if document["type"] == "checkpoint" and key is not None:
            checkpoint = json.loads(detail)
            checkpoint["signature"] = key.sign(prev.encode()).hex()
            detail = writer.go_json(checkpoint)
            line = with_detail(line, detail)
        document.update(seq=seq, prev_hash=prev)
        digest = entry_hash(document, detail)
        head = line[: line.index('"seq":')]
        rest = line[line.index(',"ts":') : line.rindex(',"prev_hash":')]
        out.append(f'{head}"seq":{seq}{rest},"prev_hash":"{prev}","hash":"{digest}"}}')
        prev = digest
    return out


def text_of(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)
