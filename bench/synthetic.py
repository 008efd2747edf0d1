"""A fast, realistic, independent generator of signed Agent Receipts stores.

For the end-to-end benchmark (bench/report_bench.py): a month (October 2026) of receipts
from several issuers in the daemon's SQLite schema, with a trust store the CLI accepts.
Independent of the code under test: receipts are canonicalised with
``orjson.dumps(doc, option=OPT_SORT_KEYS)`` (byte-identical to RFC 8785 for documents of
ASCII strings, small ints, bools, null, lists and objects only; every chain's first
receipt is checked against the ``rfc8785`` package) and signed with PyNaCl (libsodium).

What one dataset of N receipts holds (shares are of N, counts scale with N):

* a signing daemon (MCP proxy, ~15%): one chain per day named by the UTC date, ``-2``
  after an interruption, ``action.tool_name`` and peer credentials, mostly ending with
  the synthetic ``agent_receipts.chain_interrupted`` receipt; one mid-month key rotation
  (later chains start with the new key) and one ``agent_receipts.events_dropped``;
* two long-running service agents (~23%): one open chain each over the whole month
  (100k+ receipts each at N = 1M);
* the rest in sessions of assistants (coding, finance, support on protocol 0.5.0,
  research) with chain lengths log-uniform from 10 to min(20,000, N/50), and sub-agent
  chains delegated from coding sessions (``issuer.runtime``, ``delegation``);
* actions from every domain of the protocol taxonomy, risk at or above the taxonomy
  default, ~5% failed outcomes, authorization scopes with grants (some expired, a few
  high-risk actions without authorization), idempotency keys on payments.

Everything is deterministic (a function of N and GENERATOR_VERSION), so a dataset is
generated once into .bench-cache/ and reused; chains are built in parallel processes,
each writing a shard, and the shards are merged in timestamp order like a live store.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import math
import operator
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import nacl.bindings
import orjson

GENERATOR_VERSION = 1
CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"
TAXONOMY = Path(__file__).resolve().parents[1] / "reporting" / "data" / "protocol"
MONTH_START_MS = 1_790_812_800_000  # 2026-10-01T00:00:00Z
MONTH_MS = 31 * 86_400_000
DAY_MS = 86_400_000
SHARD_RECEIPTS = 20_000  # receipts per work unit (a long chain is one unit on its own)

STORE_SCHEMA = """
CREATE TABLE receipts (
  id TEXT PRIMARY KEY, chain_id TEXT NOT NULL, sequence INTEGER NOT NULL,
  action_type TEXT NOT NULL, tool_name TEXT NOT NULL DEFAULT '', risk_level TEXT NOT NULL,
  status TEXT NOT NULL, timestamp TEXT NOT NULL, issuer_id TEXT NOT NULL, principal_id TEXT,
  receipt_json TEXT NOT NULL, receipt_hash TEXT NOT NULL, previous_receipt_hash TEXT,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
"""
STORE_INDEXES = """
CREATE UNIQUE INDEX idx_receipts_chain ON receipts(chain_id, sequence);
CREATE INDEX idx_receipts_action ON receipts(action_type);
CREATE INDEX idx_receipts_risk ON receipts(risk_level);
CREATE INDEX idx_receipts_status ON receipts(status);
CREATE INDEX idx_receipts_timestamp ON receipts(timestamp);
"""
_TIME_ORDER = operator.itemgetter(7, 1, 2)  # timestamp, chain_id, sequence of a store row
_INSERT = "INSERT INTO receipts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
_RISKS = ("low", "medium", "high", "critical")
_CONTEXT = {
    "0.5.0": ["https://www.w3.org/ns/credentials/v2", "https://agentreceipts.ai/context/v2"],
    "0.6.0": ["https://www.w3.org/ns/credentials/v2", "https://agentreceipts.ai/context/v3"],
}
_ERRORS = (
    "permission denied",
    "timeout after 30s",
    "HTTP 503 from upstream",
    "resource not found",
    "validation failed: missing field",
    "rate limited (429)",
)
_CONSEQUENTIAL = (".delete", ".share", ".send", ".initiate", ".authorize")
_DAEMON_TOOLS = (
    ("get_issue", "data.api.read"),
    ("list_pull_requests", "data.api.read"),
    ("get_file_contents", "data.api.read"),
    ("search_code", "data.api.read"),
    ("add_issue_comment", "data.api.write"),
    ("create_branch", "data.api.write"),
    ("create_pull_request", "data.api.write"),
    ("merge_pull_request", "data.api.write"),
    ("delete_branch", "data.api.delete"),
    ("run_workflow", "system.code.execute"),
)


# -- issuers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    """An agent: its identity, what it does (action type → weight) and its grants."""

    slug: str
    name: str
    weights: tuple[tuple[str, int], ...]
    scopes: tuple[str, ...]
    system: str
    version: str = "0.6.0"
    model: str | None = "claude-sonnet-4-6"
    gap_ms: int = 20_000  # mean time between two actions

    @property
    def did(self) -> str:
        return f"did:agent:{self.slug}"


DAEMON = Issuer(
    "mcp-proxy-github",
    "GitHub MCP Proxy",
    tuple((action, 1) for _, action in _DAEMON_TOOLS),
    ("repo:read", "repo:write", "exec:workflows"),
    "api.github.com",
    model=None,
)
SERVICES = (
    Issuer(
        "etl-pipeline",
        "Nightly ETL Pipeline",
        (("data.database.query", 30), ("data.api.read", 40), ("data.api.write", 20),
         ("data.database.modify", 4), ("filesystem.file.create", 5), ("data.api.delete", 1)),
        ("warehouse:read", "warehouse:write", "api:read", "api:write"),
        "warehouse.acme.internal",
        model="claude-haiku-4-5",
    ),
    Issuer(
        "ops-monitor",
        "Operations Monitor",
        (("network.egress.observed", 25), ("system.command.execute", 15),
         ("data.api.read", 40), ("communication.message.send", 5),
         ("system.application.control", 10), ("system.settings.modify", 2),
         ("communication.email.send", 3)),
        ("metrics:read", "shell:exec", "chat:send", "mail:send"),
        "ops.acme.internal",
        model="claude-haiku-4-5",
    ),
)  # fmt: skip
CODING = Issuer(
    "coding-assistant",
    "Coding Assistant",
    (("filesystem.file.read", 30), ("filesystem.file.modify", 15),
     ("filesystem.file.create", 6), ("filesystem.directory.list", 10),
     ("filesystem.file.move", 2), ("filesystem.file.delete", 2),
     ("filesystem.directory.create", 2), ("filesystem.directory.delete", 1),
     ("system.command.execute", 18), ("system.code.execute", 4), ("system.pty.open", 1),
     ("system.pty.close", 1), ("system.browser.navigate", 3), ("data.api.read", 5)),
    ("repo:acme/payments-service:write", "shell:exec", "fs:write"),
    "workstation",
    gap_ms=8_000,
)  # fmt: skip
SUB_AGENT = Issuer(
    "test-runner",
    "Test Runner (sub-agent)",
    (("filesystem.file.read", 40), ("system.command.execute", 40),
     ("system.code.execute", 15), ("filesystem.directory.list", 5)),
    ("shell:exec", "fs:read"),
    "workstation",
    model="claude-haiku-4-5",
    gap_ms=5_000,
)  # fmt: skip
SESSIONS = (
    (CODING, 40),
    (
        Issuer(
            "finance-ops",
            "Finance Ops Agent",
            (("financial.payment.initiate", 10), ("financial.payment.authorize", 6),
             ("financial.subscription.create", 1), ("financial.subscription.cancel", 1),
             ("financial.booking.create", 2), ("financial.booking.cancel", 1),
             ("data.api.read", 30), ("data.api.write", 10), ("communication.email.send", 4),
             ("communication.email.read", 6), ("document.file.create", 4),
             ("document.spreadsheet.modify_cell", 8), ("document.spreadsheet.modify_formula", 2),
             ("document.spreadsheet.modify_structure", 1), ("document.file.share", 1)),
            ("ap:read", "vendors:read", "payments:initiate", "payments:authorize", "mail:send"),
            "erp.acme.internal",
            model="claude-opus-4-1",
            gap_ms=30_000,
        ),
        20,
    ),
    (
        Issuer(
            "support-bot",
            "Customer Support Bot",
            (("communication.email.read", 25), ("communication.email.draft", 15),
             ("communication.email.send", 10), ("communication.message.send", 10),
             ("communication.calendar.create", 4), ("communication.calendar.modify", 2),
             ("communication.calendar.delete", 1), ("communication.email.delete", 1),
             ("data.api.read", 25), ("document.file.modify", 5), ("document.file.delete", 1),
             ("document.presentation.modify_slide", 1)),
            ("mail:read", "mail:send", "crm:read", "calendar:write"),
            "crm.acme.internal",
            version="0.5.0",
            model="claude-haiku-4-5",
            gap_ms=45_000,
        ),
        25,
    ),
    (
        Issuer(
            "research-assistant",
            "Research Assistant",
            (("system.browser.navigate", 30), ("system.browser.form_submit", 5),
             ("system.browser.authenticate", 1), ("system.application.launch", 3),
             ("document.file.create", 8), ("document.file.modify", 8),
             ("filesystem.file.read", 20), ("network.egress.observed", 10),
             ("data.api.read", 15)),
            ("web:browse", "docs:write", "fs:read"),
            "browser",
            gap_ms=25_000,
        ),
        15,
    ),
)  # fmt: skip
ISSUERS = (DAEMON, *SERVICES, *(issuer for issuer, _ in SESSIONS), SUB_AGENT)


@cache
def signing_key(slug: str, generation: int = 0) -> bytes:
    """An issuer's 64-byte libsodium secret key, from a fixed seed."""
    seed = hashlib.sha256(f"agent-evidence-synthetic/{slug}/{generation}".encode()).digest()
    _, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
    return bytes(secret)


def public_key(slug: str, generation: int = 0) -> bytes:
    return signing_key(slug, generation)[32:]


def _multibase(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _fingerprint(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@cache
def taxonomy_defaults() -> dict[str, str]:
    """The protocol taxonomy's default risk per action type (read from the data file)."""
    data = json.loads((TAXONOMY / "action-types.json").read_text())
    return {a["type"]: a["risk_level"] for d in data["domains"].values() for a in d["actions"]}


# -- the plan -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainSpec:
    """Everything a worker needs to build one chain without seeing any other."""

    index: int
    chain_id: str
    issuer: str  # slug
    principal: str
    length: int
    start_ms: int
    span_ms: int
    ending: str  # open | complete | interrupted (terminal receipt appended within length)
    session: str
    key_generation: int = 0
    rotation_at: int | None = None  # sequence of the key rotation receipt
    drop_at: int | None = None  # sequence of an events_dropped receipt
    delegation: tuple[str, str, str] | None = None  # parent chain, parent receipt, delegator
    grant: str = "valid"  # valid | expired | none


@dataclass
class _Planner:
    total: int
    rng: random.Random
    specs: list[ChainSpec] = field(default_factory=list)
    principals: tuple[str, ...] = ()

    def add(self, **kwargs: Any) -> ChainSpec:
        spec = ChainSpec(index=len(self.specs), **kwargs)
        self.specs.append(spec)
        return spec

    def principal(self) -> str:
        return self.rng.choice(self.principals)


def _split(total: int, parts: int, rng: random.Random, minimum: int) -> list[int]:
    """`total` as `parts` lengths of at least `minimum`, varying by about ±30%."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(parts)]
    spare = total - minimum * parts
    lengths = [minimum + int(spare * w / sum(weights)) for w in weights]
    lengths[-1] += total - sum(lengths)
    return lengths


def _plan_daemon(planner: _Planner, total: int) -> None:
    """One chain per active day (UTC date), split in two after an interruption."""
    rng = planner.rng
    days = max(1, min(31, total // 40))
    day_numbers = sorted({1 + (i * 31) // days for i in range(days)})
    per_day = _split(total, len(day_numbers), rng, 20)
    rotation_day = day_numbers[len(day_numbers) // 2]
    drop_day = day_numbers[len(day_numbers) // 3]
    principal = planner.principal()
    generation = 0
    for position, (day, length) in enumerate(zip(day_numbers, per_day, strict=True)):
        date = f"2026-10-{day:02d}"
        restarted = length >= 40 and rng.random() < 0.25
        parts = _split(length, 2, rng, 20) if restarted else [length]
        day_start = MONTH_START_MS + (day - 1) * DAY_MS + rng.randint(6, 9) * 3_600_000
        window = (DAY_MS - (day_start - MONTH_START_MS) % DAY_MS) // len(parts)
        for part, part_length in enumerate(parts):
            last_of_month = position == len(day_numbers) - 1 and part == len(parts) - 1
            if last_of_month:
                ending = "open"
            elif part < len(parts) - 1:
                ending = "interrupted"
            else:
                ending = rng.choices(("interrupted", "complete", "open"), (70, 20, 10))[0]
            rotation = day == rotation_day and part == 0
            planner.add(
                chain_id=date if part == 0 else f"{date}-{part + 1}",
                issuer=DAEMON.slug,
                principal=principal,
                length=part_length,
                start_ms=day_start + part * window,
                span_ms=int(window * rng.uniform(0.5, 0.9)),
                ending=ending,
                session=_uuid(rng.getrandbits(128)),
                key_generation=generation,
                rotation_at=part_length // 2 if rotation else None,
                drop_at=part_length // 3 if day == drop_day and part == 0 else None,
            )
            if rotation:
                generation = 1


def _plan_services(planner: _Planner, lengths: Sequence[int]) -> None:
    """Long-running service agents: one open chain each, over the whole month."""
    for issuer, length in zip(SERVICES, lengths, strict=True):
        planner.add(
            chain_id=f"chain_{issuer.slug}_2026-10",
            issuer=issuer.slug,
            principal="did:org:acme",
            length=length,
            start_ms=MONTH_START_MS + planner.rng.randint(60_000, 3_600_000),
            span_ms=MONTH_MS - 4 * 3_600_000,
            ending="open",
            session=f"svc-{issuer.slug}-2026-10",
        )


def _session_lengths(total: int, rng: random.Random) -> list[int]:
    """Log-uniform lengths from 10 to min(20,000, N/50) summing to `total`."""
    longest = min(20_000, max(50, total // 50))
    lengths: list[int] = []
    remaining = total
    while remaining > 0:
        length = int(math.exp(rng.uniform(math.log(10), math.log(longest))))
        if remaining - length < 10:
            length = remaining
        lengths.append(length)
        remaining -= length
    return lengths


def _plan_sessions(planner: _Planner, total: int) -> None:
    rng = planner.rng
    issuers = [issuer for issuer, _ in SESSIONS]
    weights = [weight for _, weight in SESSIONS]
    coding: list[ChainSpec] = []
    counters: dict[str, int] = {}
    for number, length in enumerate(_session_lengths(total, rng)):
        if number == 1 or (coding and rng.random() < 0.08):
            parent = coding[-1]
            issuer, principal = SUB_AGENT, parent.principal
            start = parent.start_ms + parent.span_ms // 3
            parent_seq = max(1, parent.length // 3)
            delegation = (parent.chain_id, receipt_id(parent.index, parent_seq), CODING.did)
        else:
            issuer = CODING if number == 0 else rng.choices(issuers, weights)[0]
            principal, delegation = planner.principal(), None
            start = 0
        span = min(length * issuer.gap_ms, MONTH_MS * 3 // 4)
        if delegation is None:
            start = MONTH_START_MS + rng.randint(0, MONTH_MS - span - 60_000)
        span = min(span, MONTH_START_MS + MONTH_MS - 60_000 - start)
        counters[issuer.slug] = counters.get(issuer.slug, 0) + 1
        spec = planner.add(
            chain_id=f"chain_{issuer.slug}_{counters[issuer.slug]:04d}",
            issuer=issuer.slug,
            principal=principal,
            length=length,
            start_ms=start,
            span_ms=span,
            ending=rng.choices(("complete", "interrupted", "open"), (55, 10, 35))[0],
            session=f"sess_{rng.getrandbits(48):012x}",
            delegation=delegation,
            grant=rng.choices(("valid", "expired", "none"), (94, 4, 2))[0],
        )
        if issuer is CODING:
            coding.append(spec)


def plan(total: int, seed: int = GENERATOR_VERSION) -> list[ChainSpec]:
    """The chains of an N-receipt dataset: their ids, issuers, lengths and time windows."""
    if total < 200:
        raise ValueError("a synthetic dataset needs at least 200 receipts")
    planner = _Planner(total, random.Random(f"plan/{seed}/{total}"))
    planner.principals = tuple(
        f"did:user:{name}{n}@example.com"
        for n in range(1, 9)
        for name in ("alice", "bob", "carol", "dan", "erin")
    )
    daemon = total * 15 // 100
    services = [total * 12 // 100, total * 11 // 100]
    _plan_daemon(planner, daemon)
    _plan_services(planner, services)
    _plan_sessions(planner, total - daemon - sum(services))
    assert sum(s.length for s in planner.specs) == total
    return planner.specs


# -- building one chain -------------------------------------------------------------------


def _uuid(bits: int) -> str:
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _ids(chain_index: int, sequence: int) -> tuple[str, str]:
    digest = hashlib.blake2b(
        b"%d/%d/%d" % (GENERATOR_VERSION, chain_index, sequence), digest_size=32
    ).digest()
    return (
        _uuid(int.from_bytes(digest[:16], "big")),
        _uuid(int.from_bytes(digest[16:], "big")),
    )


def receipt_id(chain_index: int, sequence: int) -> str:
    """Receipt ids are a function of (chain, sequence): a sub-agent can name its parent."""
    return f"urn:receipt:{_ids(chain_index, sequence)[0]}"


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms - MONTH_START_MS, 1000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"2026-10-{days + 1:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def _iso_any(ms: int) -> str:
    """Any instant (grants may start in September or end in November)."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _risk(action_type: str, rng: random.Random) -> str:
    default = taxonomy_defaults().get(action_type, "medium")
    rank = _RISKS.index(default)
    if rank < 3 and rng.random() < 0.05:
        rank += 1  # escalated, never lowered (§6)
    return _RISKS[rank]


@dataclass
class _ChainState:
    spec: ChainSpec
    issuer: Issuer
    rng: random.Random
    actions: list[str]
    weights: list[int]
    authorization: dict[str, Any] | None
    issuer_block: dict[str, Any]
    conversation: str | None


def _issuer_block(issuer: Issuer, spec: ChainSpec) -> dict[str, Any]:
    block: dict[str, Any] = {
        "id": issuer.did,
        "type": "AIAgent",
        "name": issuer.name,
        "operator": {"id": "did:org:acme", "name": "Acme Corp"},
    }
    if issuer.model:
        block["model"] = issuer.model
    block["session_id"] = spec.session
    if spec.delegation is not None:
        block["runtime"] = {"agent_id": f"subagent_{spec.index:06d}", "agent_type": "test-runner"}
    return block


def _authorization(issuer: Issuer, spec: ChainSpec, rng: random.Random) -> dict[str, Any] | None:
    if spec.grant == "none":
        return None
    granted = spec.start_ms - rng.randint(60_000, 2 * DAY_MS)
    end = spec.start_ms + spec.span_ms
    if spec.grant == "expired":
        expires = spec.start_ms + spec.span_ms // 2
    else:
        expires = end + rng.randint(3_600_000, 3 * DAY_MS)
    return {
        "scopes": list(issuer.scopes),
        "granted_at": _iso_any(granted),
        "expires_at": _iso_any(expires),
        "grant_ref": f"grant-{issuer.slug}-{spec.index:06d}",
    }


def _action(state: _ChainState, sequence: int, action_id: str, at_ms: int) -> dict[str, Any]:
    rng, spec, issuer = state.rng, state.spec, state.issuer
    if sequence == spec.rotation_at:
        action_type = "agent.key.rotate"
    elif sequence == spec.drop_at:
        action_type = "agent_receipts.events_dropped"
    elif spec.ending != "open" and sequence == spec.length:
        action_type = (
            "agent_receipts.chain_interrupted"
            if spec.ending == "interrupted" and issuer is DAEMON
            else rng.choices(state.actions, state.weights)[0]
        )
    else:
        action_type = rng.choices(state.actions, state.weights)[0]
    synthetic = action_type.startswith("agent")
    action: dict[str, Any] = {
        "id": f"act_{action_id}",
        "type": action_type,
        "risk_level": _risk(action_type, rng) if not synthetic else "low",
    }
    if issuer is DAEMON and not synthetic:
        tool = _DAEMON_TOOLS[rng.randrange(len(_DAEMON_TOOLS))]
        action["type"], action["risk_level"] = tool[1], _risk(tool[1], rng)
        action["tool_name"] = tool[0]
        action["target"] = {"system": issuer.system, "resource": f"acme/repo-{rng.randrange(40)}"}
        action["peer_credential"] = {
            "platform": "linux",
            "pid": 4000 + spec.index,
            "uid": 1000,
            "gid": 1000,
            "exe_path": "/usr/local/bin/claude",
        }
    elif synthetic:
        if action_type == "agent.key.rotate":
            action["risk_level"] = "medium"
        action["target"] = {"system": "agent-receipts-daemon", "resource": "receiptd"}
        if action_type == "agent_receipts.events_dropped":
            action["emitter_metadata"] = {"drop_count": 3 + rng.randrange(40)}
    else:
        resource = f"/srv/{issuer.slug}/item-{rng.randrange(100_000)}"
        action["target"] = {"system": issuer.system, "resource": resource}
    if not synthetic and rng.random() < 0.9:
        action["parameters_hash"] = f"sha256:{rng.getrandbits(256):064x}"
    if action["type"].startswith("financial.payment"):
        action["idempotency_key"] = f"pay-{spec.index}-{sequence}"
    action["timestamp"] = _iso(at_ms)
    return action


def _outcome(state: _ChainState, action: dict[str, Any], last: bool) -> dict[str, Any]:
    roll = state.rng.random()
    if roll < 0.05 and not action["type"].startswith("agent"):
        return {"status": "failure", "error": state.rng.choice(_ERRORS)}
    if roll < 0.06 and not last:
        return {"status": "pending"}
    outcome: dict[str, Any] = {"status": "success"}
    kind = action["type"]
    if kind.endswith(_CONSEQUENTIAL) and state.rng.random() < 0.97:
        reversible = kind.startswith("financial") or state.rng.random() < 0.5
        outcome["reversible"] = reversible
        if reversible:
            outcome["reversal_method"] = "compensating action"
            outcome["reversal_window_seconds"] = 86_400
    elif kind in ("filesystem.file.modify", "document.file.modify") and roll < 0.5:
        outcome["reversible"] = True
        outcome["reversal_method"] = "restore previous version"
        outcome["state_change"] = {
            "before_hash": f"sha256:{state.rng.getrandbits(256):064x}",
            "after_hash": f"sha256:{state.rng.getrandbits(256):064x}",
        }
    elif kind == "data.api.read" and roll > 0.97:
        outcome["response_hash"] = f"sha256:{state.rng.getrandbits(256):064x}"
    return outcome


def _subject(
    state: _ChainState, sequence: int, previous: str | None, action: dict[str, Any]
) -> dict[str, Any]:
    spec = state.spec
    last = sequence == spec.length
    subject: dict[str, Any] = {
        "principal": {
            "id": spec.principal,
            "type": "OrganizationPrincipal"
            if spec.principal.startswith("did:org")
            else "HumanPrincipal",
        },
        "action": action,
    }
    if state.conversation is not None:
        intent: dict[str, Any] = {"conversation_hash": state.conversation}
        if state.rng.random() < 0.2:
            intent["prompt_preview"] = "summarise the open items and act on the urgent ones"
            intent["prompt_preview_truncated"] = True
        subject["intent"] = intent
    subject["outcome"] = _outcome(state, action, last)
    high = action["risk_level"] in ("high", "critical")
    if state.authorization is not None and not (high and state.rng.random() < 0.002):
        subject["authorization"] = state.authorization
    if sequence == 1 and spec.delegation is not None:
        parent_chain, parent_receipt, delegator = spec.delegation
        subject["delegation"] = {
            "parent_chain_id": parent_chain,
            "parent_receipt_id": parent_receipt,
            "delegator": {"id": delegator},
        }
    chain: dict[str, Any] = {
        "sequence": sequence,
        "previous_receipt_hash": previous,
        "chain_id": spec.chain_id,
    }
    if last and spec.ending != "open":
        chain["terminal"] = True
        if spec.ending == "interrupted":
            chain["status"] = "interrupted"
    subject["chain"] = chain
    if state.rng.random() < 0.05:
        subject["correlation_id"] = f"corr-{spec.index}-{sequence // 10}"
    return subject


def _rotation() -> dict[str, Any]:
    old, new = public_key(DAEMON.slug, 0), public_key(DAEMON.slug, 1)
    return {
        "event_type": "key_rotated",
        "new_public_key": _multibase(new),
        "old_key_fingerprint": _fingerprint(old),
        "new_key_fingerprint": _fingerprint(new),
        "old_algorithm": "ed25519",
        "new_algorithm": "ed25519",
        "signed_with": "old",
    }


Row = tuple[Any, ...]


def build_chain(spec: ChainSpec, *, check_canonical: bool = True) -> Iterator[Row]:
    """One chain's store rows, signed receipt by receipt (hash-linked)."""
    issuer = next(i for i in ISSUERS if i.slug == spec.issuer)
    rng = random.Random(f"chain/{GENERATOR_VERSION}/{spec.index}")
    actions = [a for a, _ in issuer.weights]
    state = _ChainState(
        spec=spec,
        issuer=issuer,
        rng=rng,
        actions=actions,
        weights=[w for _, w in issuer.weights],
        authorization=_authorization(issuer, spec, rng),
        issuer_block=_issuer_block(issuer, spec),
        conversation=None if issuer is DAEMON else f"sha256:{rng.getrandbits(256):064x}",
    )
    key = signing_key(issuer.slug, spec.key_generation)
    context = _CONTEXT[issuer.version]
    method = f"{issuer.did}#key-{spec.key_generation + 1}"
    gap = spec.span_ms / spec.length
    previous: str | None = None
    for sequence in range(1, spec.length + 1):
        at = spec.start_ms + int((sequence - 1) * gap) + rng.randrange(max(1, int(gap * 0.4)))
        rid, aid = _ids(spec.index, sequence)
        action = _action(state, sequence, aid, at)
        issued = _iso(at + 3 + rng.randrange(40))
        subject = _subject(state, sequence, previous, action)
        rotating = sequence == spec.rotation_at
        if rotating:
            subject["keyRotation"] = _rotation()
        unsigned = {
            "@context": context,
            "id": f"urn:receipt:{rid}",
            "type": ["VerifiableCredential", "AgentReceipt"],
            "version": issuer.version,
            "issuer": state.issuer_block,
            "issuanceDate": issued,
            "credentialSubject": subject,
        }
        canonical = orjson.dumps(unsigned, option=orjson.OPT_SORT_KEYS)
        if check_canonical and sequence in (1, spec.rotation_at):
            assert_canonical(unsigned, canonical)
        receipt_hash = "sha256:" + hashlib.sha256(canonical).hexdigest()
        signature = nacl.bindings.crypto_sign(canonical, key)[:64]
        unsigned["proof"] = {
            "type": "Ed25519Signature2020",
            "created": issued,
            "verificationMethod": method,
            "proofPurpose": "assertionMethod",
            "proofValue": _multibase(signature),
        }
        yield (
            unsigned["id"],
            spec.chain_id,
            sequence,
            action["type"],
            action.get("tool_name", ""),
            action["risk_level"],
            subject["outcome"]["status"],
            action["timestamp"],
            issuer.did,
            spec.principal,
            orjson.dumps(unsigned).decode(),
            receipt_hash,
            previous,
            f"{issued[:10]} {issued[11:19]}",
        )
        previous = receipt_hash
        if rotating:
            key = signing_key(issuer.slug, spec.key_generation + 1)
            method = f"{issuer.did}#key-{spec.key_generation + 2}"


def assert_canonical(document: dict[str, Any], canonical: bytes) -> None:
    """orjson with sorted keys is RFC 8785 here only because the document is plain ASCII."""
    import rfc8785

    assert canonical.isascii(), "synthetic receipts must be ASCII"
    assert canonical == rfc8785.dumps(document), "orjson output differs from RFC 8785"


# -- writing the store --------------------------------------------------------------------


def _shard(job: tuple[Path, list[ChainSpec]]) -> tuple[Path, int]:
    """Build some chains and write their rows, in timestamp order, to a shard file."""
    path, specs = job
    rows = [row for spec in specs for row in build_chain(spec)]
    rows.sort(key=_TIME_ORDER)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + STORE_SCHEMA)
    db.executemany(_INSERT, rows)
    db.commit()
    db.close()
    return path, len(rows)


def _jobs(specs: list[ChainSpec], directory: Path) -> list[tuple[Path, list[ChainSpec]]]:
    """Work units of about SHARD_RECEIPTS receipts, longest first (a long chain alone)."""
    units: list[list[ChainSpec]] = []
    current: list[ChainSpec] = []
    size = 0
    for spec in sorted(specs, key=lambda s: -s.length):
        if spec.length >= SHARD_RECEIPTS:
            units.append([spec])
            continue
        current.append(spec)
        size += spec.length
        if size >= SHARD_RECEIPTS:
            units.append(current)
            current, size = [], 0
    if current:
        units.append(current)
    return [(directory / f"shard-{n:04d}.db", unit) for n, unit in enumerate(units)]


def _shard_rows(path: Path) -> Iterator[Row]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield from db.execute("SELECT * FROM receipts ORDER BY rowid")
    finally:
        db.close()


def write_store(
    path: Path, total: int, *, workers: int | None = None, phases: dict[str, float] | None = None
) -> list[ChainSpec]:
    """Generate an N-receipt store at `path` (replaced if present); returns the plan.

    `phases`, when given, receives the seconds spent signing chains into shards (in
    parallel), merging the shards in timestamp order, and indexing (both in this process).
    """
    phases = {} if phases is None else phases
    start = time.perf_counter()
    specs = plan(total)
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="shards-", dir=path.parent) as scratch:
        jobs = _jobs(specs, Path(scratch))
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
                shards = list(pool.map(_shard, jobs))
        else:
            shards = [_shard(job) for job in jobs]
        assert sum(count for _, count in shards) == total
        phases["sign chains (parallel)"] = time.perf_counter() - start
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + STORE_SCHEMA)
        merged = heapq.merge(*(_shard_rows(shard) for shard, _ in shards), key=_TIME_ORDER)
        db.executemany(_INSERT, merged)
        db.commit()
        phases["merge by time"] = time.perf_counter() - start - sum(phases.values())
        db.executescript(STORE_INDEXES)
        db.commit()
        db.execute("PRAGMA journal_mode=DELETE")
        db.close()
        phases["index"] = time.perf_counter() - start - sum(phases.values())
    return specs


def trust_yaml() -> str:
    """A trust store for every issuer (the daemon's outgoing and incoming keys, like samples)."""
    lines = ["# Trust store of a synthetic benchmark dataset (bench/synthetic.py).", "version: 1"]
    lines.append("issuers:")
    for issuer in ISSUERS:
        lines.append(f"  - issuer: {issuer.did}")
        if issuer is DAEMON:
            lines.append('    chains: ["2026-10-*"]')
        lines.append("    keys:")
        lines.append(f"      - multibase: {_multibase(public_key(issuer.slug))}")
        if issuer is DAEMON:
            lines.append(f"      - multibase: {_multibase(public_key(issuer.slug, 1))}")
    return "\n".join(lines) + "\n"


# -- the cache ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A generated store, its trust store, and facts about it (meta.json)."""

    directory: Path
    receipts: int
    chains: int
    seconds: float  # generation time (when it was generated)
    cached: bool
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.directory / "receipts.db"

    @property
    def trust(self) -> Path:
        return self.directory / "trust.yaml"


def parse_size(text: str) -> int:
    """'10k', '100k', '1M', '2500' → receipts."""
    text = text.strip()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale > 1 else text
    return int(float(number) * scale)


def size_label(receipts: int) -> str:
    if receipts % 1_000_000 == 0:
        return f"{receipts // 1_000_000}M"
    if receipts % 1_000 == 0:
        return f"{receipts // 1_000}k"
    return str(receipts)


def generate(directory: Path, total: int, *, workers: int | None = None) -> Dataset:
    """Generate a dataset into `directory` (created; its store and trust store replaced)."""
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    phases: dict[str, float] = {}
    specs = write_store(directory / "receipts.db", total, workers=workers, phases=phases)
    (directory / "trust.yaml").write_text(trust_yaml())
    seconds = time.perf_counter() - start
    meta = {
        "generator_version": GENERATOR_VERSION,
        "receipts": total,
        "chains": len(specs),
        "issuers": sorted({s.issuer for s in specs}),
        "longest_chain": max(s.length for s in specs),
        "seconds": round(seconds, 2),
        "phases": {name: round(value, 2) for name, value in phases.items()},
        "workers": workers or os.cpu_count(),
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return Dataset(directory, total, len(specs), seconds, cached=False, phases=phases)


def cached_dataset(total: int, *, workers: int | None = None, cache_dir: Path = CACHE) -> Dataset:
    """The N-receipt dataset from the cache, generated (atomically) the first time."""
    directory = cache_dir / f"synthetic-v{GENERATOR_VERSION}-{size_label(total)}"
    meta_path = directory / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        phases = meta.get("phases", {})
        return Dataset(directory, total, meta["chains"], meta["seconds"], True, phases)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{directory.name}.partial-", dir=cache_dir))
    partial.chmod(0o755)
    try:
        dataset = generate(partial, total, workers=workers)
        shutil.rmtree(directory, ignore_errors=True)
        partial.rename(directory)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return Dataset(directory, total, dataset.chains, dataset.seconds, False, dataset.phases)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Generate (or find cached) synthetic datasets.")
    parser.add_argument("sizes", nargs="+", help="e.g. 10k 100k 1M")
    parser.add_argument("--workers", type=int)
    for size in parser.parse_args().sizes:
        data = cached_dataset(parse_size(size), workers=parser.parse_args().workers)
        state = "cached" if data.cached else "generated"
        print(f"{size}: {data.store} ({data.chains} chains; {state}, {data.seconds:.1f} s)")
