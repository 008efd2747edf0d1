"""Generate the deterministic Agent Evidence sample dataset.

The dataset is one month (October 2026, UTC) of Agent Receipts from four agents, written
into one daemon-style SQLite store with the reference SDK ``obsigna`` (create_receipt,
sign_receipt, hash_receipt, open_store().insert) plus the side files a verifier needs:
public keys, a trust store, a witness file, a grant registry, response bodies and a
machine-readable list of the deliberate defects.

Determinism: every random choice comes from seeded ``random.Random`` instances, Ed25519
keys are derived from fixed seed strings (Ed25519 signatures are deterministic), the
receipt id, action id, issuanceDate and proof.created that obsigna would take from
uuid4()/now() are overwritten (the ids and issuanceDate before signing; proof.created
after signing, which is allowed because nothing inside ``proof`` is signed), the store's
created_at column is set explicitly and the database is VACUUMed. Running the script
twice gives byte-identical files (for the same obsigna and SQLite versions).

Usage::

    .venv/bin/python samples/generate.py [--out DIR] [--no-check] [--clean]

``--clean`` writes the same month without the six planted defects (no tampered row, no
deleted row, the finance actions carry their run's grant, no dropped events): the sample
for testing that sound evidence is assessed as it should be.

Everything is built in a staging directory inside DIR, sanity-checked with obsigna's own
verifier, and only then moved into place.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import base58
import obsigna
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from obsigna import (
    ActionInput,
    ActionTarget,
    AgentReceipt,
    Authorization,
    Chain,
    CreateReceiptInput,
    EmitterMetadata,
    Intent,
    Issuer,
    KeyRotation,
    Operator,
    Outcome,
    PeerCredential,
    Principal,
    Runtime,
    StateChange,
    UnsignedAgentReceipt,
    canonicalize,
    create_receipt,
    hash_receipt,
    open_store,
    sign_receipt,
    verify_chain,
    verify_raw,
)
from obsigna.receipt.rotation import decode_multibase_ed25519_key, key_fingerprint
from obsigna.receipt.types import Delegation, Delegator

SAMPLES_DIR = Path(__file__).resolve().parent
SEED = "agent-evidence-samples/v1"
YEAR, MONTH = 2026, 10
DAYS_IN_MONTH = 31
OPERATOR = Operator(id="did:org:acme", name="Acme Corp")
IDP_ISSUER = "https://auth.acme.example"
RECEIPT_COUNT_RANGE = (2000, 10000)

Termination = Literal["complete", "interrupted", "open"]


# --------------------------------------------------------------------------- helpers


def iso_ms(moment: datetime) -> str:
    """Format like obsigna (and JS ``toISOString``): millisecond precision, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_s(moment: datetime) -> str:
    """Second-precision UTC timestamp, as an authorization server would mint it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Parse the ``...Z`` timestamps this dataset uses."""
    return datetime.fromisoformat(text)


def at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    """A UTC instant on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def json_hash(value: Any) -> str:
    """``sha256:`` hex of the RFC 8785 canonical form (parameters_hash, response_hash)."""
    return "sha256:" + hashlib.sha256(canonicalize(value).encode("utf-8")).hexdigest()


def month_days() -> list[date]:
    """Every day of the sample month."""
    return [date(YEAR, MONTH, d) for d in range(1, DAYS_IN_MONTH + 1)]


def is_weekday(day: date) -> bool:
    """Monday to Friday."""
    return day.weekday() < 5


class Clock:
    """A moving timestamp with random, millisecond-resolution steps."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.now = start

    def tick(self, low_s: float, high_s: float) -> datetime:
        """Advance by a random delay in ``[low_s, high_s]`` seconds and return the time."""
        self.now += timedelta(milliseconds=self.rng.randint(int(low_s * 1000), int(high_s * 1000)))
        return self.now


class IdSource:
    """Seeded source of UUIDv4-shaped identifiers."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)

    def uuid4(self) -> str:
        """A version-4 UUID string drawn from the seeded generator."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def hex(self, length: int) -> str:
        """``length`` lowercase hex digits."""
        return f"{self._rng.getrandbits(4 * length):0{length}x}"


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key derived from a fixed seed string."""

    label: str

    @cached_property
    def private(self) -> Ed25519PrivateKey:
        seed = hashlib.sha256(f"{SEED}/key/{self.label}".encode()).digest()
        return Ed25519PrivateKey.from_private_bytes(seed)

    @cached_property
    def private_pem(self) -> str:
        return self.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(
            "ascii"
        )

    @cached_property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    @cached_property
    def raw_public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def fingerprint(self) -> str:
        """``sha256:`` hex of the raw 32-byte public key (ADR-0015)."""
        return key_fingerprint(self.raw_public)

    @property
    def multibase(self) -> str:
        """``u`` + unpadded base64url of the raw public key."""
        return "u" + base64.urlsafe_b64encode(self.raw_public).rstrip(b"=").decode("ascii")

    @property
    def did_key(self) -> str:
        """``did:key:z...`` (multicodec 0xed01, base58btc)."""
        return obsigna.did_from_public_key(self.raw_public)


# --------------------------------------------------------------------------- agents


@dataclass(frozen=True)
class Agent:
    """One issuer: slug (key and file names), display name, model, default principal."""

    slug: str
    name: str
    model: str | None
    principal_id: str = ""

    @property
    def issuer_id(self) -> str:
        return f"did:agent:{self.slug}"


CODING = Agent("coding-assistant", "Coding Assistant", "claude-sonnet-4-6")
SUBAGENT = Agent("test-runner", "Test Runner (sub-agent)", "claude-haiku-4-5")
MCP = Agent("mcp-proxy-github", "GitHub MCP Proxy", None, "did:user:bob@example.com")
FINANCE = Agent("finance-ops", "Finance Ops Agent", "claude-opus-4-1", "did:user:carol@example.com")
AGENTS = (CODING, SUBAGENT, MCP, FINANCE)

MCP_OLD_KEY = SigningKey("mcp-proxy-github#1")
MCP_NEW_KEY = SigningKey("mcp-proxy-github#2")
KEYS = {
    CODING.slug: SigningKey("coding-assistant#1"),
    SUBAGENT.slug: SigningKey("test-runner#1"),
    MCP.slug: MCP_OLD_KEY,
    FINANCE.slug: SigningKey("finance-ops#1"),
}


def human(principal_id: str) -> Principal:
    """A HumanPrincipal."""
    return Principal(id=principal_id, type="HumanPrincipal")


# --------------------------------------------------------------------------- receipts


@dataclass
class Step:
    """Everything about one action that is not chain bookkeeping."""

    action_type: str
    risk: str
    target: tuple[str, str] | None = None
    params: dict[str, Any] | None = None
    status: Literal["success", "failure", "pending"] = "success"
    error: str | None = None
    reversible: bool | None = None
    reversal_method: str | None = None
    reversal_window_seconds: int | None = None
    state_change: tuple[str, str] | None = None
    response_body: Any = None
    tool_name: str | None = None
    intent: Intent | None = None
    authorization: Authorization | None = None
    delegation: Delegation | None = None
    emitter_metadata: EmitterMetadata | None = None
    peer_credential: PeerCredential | None = None
    idempotency_key: str | None = None
    rotate_to: SigningKey | None = None
    terminal: bool = False
    termination_status: Literal["complete", "interrupted"] | None = None


@dataclass(frozen=True)
class StoredReceipt:
    """A signed receipt, its hash and the created_at value for the store."""

    receipt: AgentReceipt
    receipt_hash: str
    created_at: str

    @property
    def sequence(self) -> int:
        return self.receipt.credentialSubject.chain.sequence


class ChainWriter:
    """Emits the receipts of one chain: sequence, hash links, signing key."""

    def __init__(
        self, ds: Dataset, agent: Agent, chain_id: str, issuer: Issuer, principal: Principal
    ) -> None:
        self.ds = ds
        self.agent = agent
        self.chain_id = chain_id
        self.issuer = issuer
        self.principal = principal
        self.key, self.key_index = ds.keyring[agent.slug]
        self.receipts: list[StoredReceipt] = []

    @property
    def last(self) -> StoredReceipt:
        return self.receipts[-1]

    def emit(self, step: Step, moment: datetime) -> StoredReceipt:
        """Create, pin, sign and hash one receipt; append it to the chain.

        A step with ``rotate_to`` becomes an ``agent.key.rotate`` receipt: it carries
        ``keyRotation``, is signed with the current (old) key, and every later receipt of
        this agent is signed with the new key.
        """
        sequence = len(self.receipts) + 1
        issued = moment + timedelta(milliseconds=4 + (sequence * 37) % 61)
        unsigned = self._pin(create_receipt(self._input(step, moment)), step, issued)
        signed = sign_receipt(
            unsigned, self.key.private_pem, f"{self.issuer.id}#key-{self.key_index}"
        )
        proof = signed.proof.model_copy(update={"created": iso_ms(issued)})
        signed = signed.model_copy(update={"proof": proof})
        stored = StoredReceipt(signed, hash_receipt(signed), issued.strftime("%Y-%m-%d %H:%M:%S"))
        self.receipts.append(stored)
        if step.response_body is not None:
            self.ds.bodies[signed.id] = step.response_body
        if step.rotate_to is not None:
            self.key, self.key_index = step.rotate_to, self.key_index + 1
            self.ds.keyring[self.agent.slug] = (self.key, self.key_index)
        return stored

    def _rotation(self, new_key: SigningKey) -> KeyRotation:
        return KeyRotation(
            event_type="key_rotated",
            new_public_key=new_key.multibase,
            old_key_fingerprint=self.key.fingerprint,
            new_key_fingerprint=new_key.fingerprint,
            old_algorithm="ed25519",
            new_algorithm="ed25519",
            signed_with="old",
        )

    def _input(self, step: Step, moment: datetime) -> CreateReceiptInput:
        previous = self.last.receipt_hash if self.receipts else None
        target = None
        if step.target:
            target = ActionTarget(system=step.target[0], resource=step.target[1])
        return CreateReceiptInput(
            issuer=self.issuer,
            principal=self.principal,
            action=ActionInput(
                type=step.action_type,
                risk_level=step.risk,
                target=target,
                parameters_hash=json_hash(step.params) if step.params is not None else None,
                emitter_metadata=step.emitter_metadata,
                peer_credential=step.peer_credential,
                idempotency_key=step.idempotency_key,
            ),
            outcome=self._outcome(step),
            chain=Chain(
                sequence=len(self.receipts) + 1,
                previous_receipt_hash=previous,
                chain_id=self.chain_id,
            ),
            intent=step.intent,
            authorization=step.authorization,
            action_timestamp=iso_ms(moment),
            response_body=step.response_body,
            terminal=step.terminal,
            termination_status=step.termination_status,
            delegation=step.delegation,
        )

    @staticmethod
    def _outcome(step: Step) -> Outcome:
        change = None
        if step.state_change:
            change = StateChange(before_hash=step.state_change[0], after_hash=step.state_change[1])
        return Outcome(
            status=step.status,
            error=step.error,
            reversible=step.reversible,
            reversal_method=step.reversal_method,
            reversal_window_seconds=step.reversal_window_seconds,
            state_change=change,
        )

    def _pin(
        self, unsigned: UnsignedAgentReceipt, step: Step, issued: datetime
    ) -> UnsignedAgentReceipt:
        """Replace obsigna's uuid4()/now() values and add fields create_receipt lacks."""
        ids = self.ds.ids
        rotation = self._rotation(step.rotate_to) if step.rotate_to else None
        subject = unsigned.credentialSubject
        action = subject.action.model_copy(
            update={"id": f"act_{ids.uuid4()}", "tool_name": step.tool_name}
        )
        subject = subject.model_copy(update={"action": action, "key_rotation": rotation})
        return unsigned.model_copy(
            update={
                "id": f"urn:receipt:{ids.uuid4()}",
                "issuanceDate": iso_ms(issued),
                "credentialSubject": subject,
            }
        )


def emit_all(writer: ChainWriter, plan: list[tuple[Step, datetime]]) -> None:
    """Emit a planned list of steps in order."""
    for step, moment in plan:
        writer.emit(step, moment)


def terminate(plan: list[tuple[Step, datetime]], termination: Termination) -> None:
    """Mark the last planned step terminal (or leave the chain open)."""
    if termination == "open":
        return
    last = plan[-1][0]
    last.terminal = True
    if termination == "interrupted":
        last.termination_status = "interrupted"


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class Grant:
    """An entry of grants.yaml."""

    subject: str
    scopes: tuple[str, ...]
    issued_at: str
    expires_at: str
    issuer: str

    def authorization(self, ref: str) -> Authorization:
        return Authorization(
            scopes=list(self.scopes),
            granted_at=self.issued_at,
            expires_at=self.expires_at,
            grant_ref=ref,
        )


@dataclass
class Defect:
    """One deliberate defect, as written to defects.json."""

    id: str
    chain_id: str
    receipt_id: str
    sequence: int
    expected_codes: list[str]
    description: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chain_id": self.chain_id,
            "receipt_id": self.receipt_id,
            "sequence": self.sequence,
            "expected_codes": self.expected_codes,
            "description": self.description,
            **self.extra,
        }


@dataclass(frozen=True)
class Tamper:
    """A post-signing edit of one field inside a stored receipt_json."""

    receipt_id: str
    path: tuple[str, ...]
    new_value: str


class Dataset:
    """All chains, grants, bodies and defect bookkeeping of the sample month."""

    def __init__(self, *, plant_defects: bool = True) -> None:
        self.plant_defects = plant_defects
        self.ids = IdSource(f"{SEED}/ids")
        self.keyring: dict[str, tuple[SigningKey, int]] = {s: (k, 1) for s, k in KEYS.items()}
        self.bodies: dict[str, Any] = {}
        self.chains: dict[str, ChainWriter] = {}
        self.grants: dict[str, Grant] = {}
        self.defects: list[Defect] = []
        self.tamper: Tamper | None = None
        self.deleted_receipt_id: str | None = None
        self.witness_chain_ids: list[str] = []
        self.body_receipt_ids: list[str] = []

    def open_chain(
        self,
        agent: Agent,
        chain_id: str,
        principal_id: str,
        session_id: str | None = None,
        runtime: Runtime | None = None,
    ) -> ChainWriter:
        """Start a new chain for ``agent``."""
        issuer = Issuer(
            id=agent.issuer_id,
            type="AIAgent",
            name=agent.name,
            operator=OPERATOR,
            model=agent.model,
            session_id=session_id,
            runtime=runtime,
        )
        writer = ChainWriter(self, agent, chain_id, issuer, human(principal_id))
        if chain_id in self.chains:
            raise ValueError(f"duplicate chain id {chain_id}")
        self.chains[chain_id] = writer
        return writer

    def all_receipts(self) -> list[StoredReceipt]:
        """Every receipt, in the order a collector would have stored them."""
        records = [r for w in self.chains.values() for r in w.receipts]
        return sorted(records, key=lambda r: (r.receipt.issuanceDate, r.receipt.id))


# --------------------------------------------------------------------------- coding agent


@dataclass(frozen=True)
class Repo:
    """A repository the coding assistant works in."""

    name: str
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    test_command: str
    lint_command: str
    obsolete: tuple[str, ...]
    prompts: tuple[str, ...]

    @property
    def dirname(self) -> str:
        return self.name.split("/")[1]


REPOS = (
    Repo(
        "acme/payments-service",
        (
            "src/payments/ledger.py",
            "src/payments/reconcile.py",
            "src/payments/webhooks.py",
            "src/payments/models.py",
            "src/payments/api/routes.py",
            "src/payments/fx.py",
            "migrations/0042_ledger_backfill.py",
            "pyproject.toml",
        ),
        ("tests/test_ledger.py", "tests/test_reconcile.py", "tests/test_webhooks.py"),
        "pytest -q",
        "ruff check src tests",
        (
            "src/payments/legacy_export.py",
            "scripts/old_backfill.sh",
            "migrations/0042_ledger_backfill.py",
        ),
        (
            "Fix the rounding error in ledger reconciliation for JPY amounts",
            "Add retry with exponential backoff to the webhook delivery client",
            (
                "The nightly reconcile job double counts refunds that arrive after the "
                "cut-off; find out why and add a regression test for it"
            ),
            "Remove the legacy CSV export, it has been replaced by the warehouse sync",
            "Add an index on ledger_entries(account_id, booked_at) and a migration",
        ),
    ),
    Repo(
        "acme/web-frontend",
        (
            "src/components/InvoiceTable.tsx",
            "src/api/client.ts",
            "src/hooks/usePayments.ts",
            "src/pages/Dashboard.tsx",
            "src/i18n/en.json",
            "package.json",
        ),
        ("src/components/InvoiceTable.test.tsx", "src/api/client.test.ts"),
        "npm test -- --run",
        "npm run lint",
        ("src/components/OldInvoiceTable.tsx", "src/legacy/polyfills.ts"),
        (
            "Make the invoice table sortable by due date and amount",
            "Show a toast when a payment fails instead of silently retrying",
            "Migrate the dashboard page from class components to hooks",
            (
                "Update the API client to send the idempotency key header on every POST "
                "request and cover it with a unit test"
            ),
        ),
    ),
    Repo(
        "acme/infra-terraform",
        (
            "modules/rds/main.tf",
            "modules/rds/variables.tf",
            "modules/vpc/main.tf",
            "envs/staging/main.tf",
            "envs/prod/main.tf",
        ),
        (),
        "terraform validate",
        "terraform fmt -check -recursive",
        ("modules/legacy-bastion/main.tf",),
        (
            "Enable deletion protection and 14-day backups on the staging RDS instance",
            "Tighten the VPC security group so only the VPN range can reach port 5432",
        ),
    ),
)

COMMAND_ERRORS = {
    "pytest": "exit status 1: 2 failed, 57 passed in 8.41s",
    "npm": "exit status 1: 1 test file failed (InvoiceTable.test.tsx)",
    "terraform": 'exit status 1: Error: Missing required argument "engine_version"',
    "ruff": "exit status 1: Found 3 errors.",
    "git": "exit status 1: ! [rejected] (non-fast-forward)",
}


@dataclass
class CodingSession:
    """Context shared by the steps of one coding session."""

    rng: random.Random
    user: str
    repo: Repo
    session_id: str
    grant_ref: str
    grant: Grant
    intent: Intent | None = None

    @property
    def root(self) -> str:
        return f"/home/{self.user}/src/{self.repo.dirname}"

    def step(self, action_type: str, risk: str, target: tuple[str, str], **kw: Any) -> Step:
        """A step carrying this session's intent and authorization."""
        intent, self.intent = self.intent, None
        return Step(
            action_type,
            risk,
            target,
            intent=intent or Intent(conversation_hash=json_hash({"session": self.session_id})),
            authorization=self.grant.authorization(self.grant_ref),
            **kw,
        )

    def file_step(self, action_type: str, risk: str, path: str, **kw: Any) -> Step:
        full = f"{self.root}/{path}"
        return self.step(action_type, risk, ("filesystem", full), params={"path": full}, **kw)

    def command(self, command: str, *, fail: bool = False) -> Step:
        params = {"command": command, "cwd": self.root}
        if not fail:
            return self.step("system.command.execute", "high", ("shell", command), params=params)
        error = COMMAND_ERRORS[command.split(maxsplit=1)[0]]
        return self.step(
            "system.command.execute",
            "high",
            ("shell", command),
            params=params,
            status="failure",
            error=error,
        )

    def modify(self, path: str) -> Step:
        before = json_hash({"path": path, "rev": self.rng.getrandbits(32)})
        after = json_hash({"path": path, "rev": self.rng.getrandbits(32)})
        return self.file_step(
            "filesystem.file.modify", "medium", path, state_change=(before, after)
        )

    def delete(self, path: str) -> Step:
        return self.file_step(
            "filesystem.file.delete",
            "high",
            path,
            reversible=True,
            reversal_method=f"git restore --source=HEAD -- {path}",
        )


def coding_task_steps(session: CodingSession, prompt: str) -> list[Step]:
    """The steps of one task: explore, edit, test, maybe clean up, commit."""
    rng, repo = session.rng, session.repo
    preview = prompt[:80]
    session.intent = Intent(
        conversation_hash=json_hash({"session": session.session_id}),
        prompt_preview=preview,
        prompt_preview_truncated=len(prompt) > 80 or None,
    )
    steps = [session.file_step("filesystem.directory.list", "low", rng.choice(["src", "."]))]
    touched = rng.sample(repo.sources, k=min(len(repo.sources), rng.randint(2, 5)))
    steps += [session.file_step("filesystem.file.read", "low", p) for p in touched]
    steps += [session.file_step("filesystem.file.read", "low", t) for t in repo.tests[:1]]
    steps += [session.modify(p) for p in touched[: rng.randint(1, 3)]]
    if rng.random() < 0.3:
        new_test = f"tests/test_regression_{rng.randint(100, 999)}.py"
        steps.append(session.file_step("filesystem.file.create", "low", new_test))
    failed = rng.random() < 0.35
    steps.append(session.command(repo.test_command, fail=failed))
    if failed:
        steps += [session.modify(touched[0]), session.command(repo.test_command)]
    steps.append(session.command(repo.lint_command, fail=rng.random() < 0.1))
    if rng.random() < 0.2:
        steps.append(session.delete(rng.choice(repo.obsolete)))
    if rng.random() < 0.08:
        old = touched[-1]
        steps.append(
            session.step(
                "filesystem.file.move",
                "medium",
                ("filesystem", f"{session.root}/{old}"),
                params={"from": old, "to": old.replace(".", "_v2.", 1)},
            )
        )
    steps += [session.command("git diff --stat"), session.command("git add -A")]
    steps.append(session.command(f'git commit -m "{preview[:48]}"'))
    return steps


@dataclass(frozen=True)
class SessionSlot:
    """When and by whom a coding session happens."""

    index: int
    user: str
    start: datetime


def coding_schedule(rng: random.Random) -> list[SessionSlot]:
    """Weekday sessions: alice once or twice a day, bob most days."""
    slots: list[tuple[str, datetime]] = []
    for day in filter(is_weekday, month_days()):
        slots.append(("alice", at(day, 8, rng.randint(0, 50))))
        if rng.random() < 0.5:
            slots.append(("alice", at(day, 13, rng.randint(0, 59))))
        if rng.random() < 0.6:
            slots.append(("bob", at(day, 10, rng.randint(0, 59))))
    slots.sort(key=lambda s: s[1])
    return [SessionSlot(i + 1, user, start) for i, (user, start) in enumerate(slots)]


def coding_termination(index: int) -> Termination:
    """Most sessions end cleanly; every tenth is interrupted, every tenth left open."""
    if index % 10 == 3:
        return "interrupted"
    if index % 10 == 7:
        return "open"
    return "complete"


def build_coding(ds: Dataset) -> None:
    """Coding-assistant sessions, a few of which delegate to the test-runner sub-agent."""
    rng = random.Random(f"{SEED}/coding")
    for slot in coding_schedule(rng):
        build_coding_session(ds, rng, slot)


def build_coding_session(ds: Dataset, rng: random.Random, slot: SessionSlot) -> None:
    repo = REPOS[rng.choices(range(len(REPOS)), weights=(5, 3, 1))[0]]
    session_id = f"sess_{ds.ids.hex(12)}"
    grant_ref = f"grant-cs-{session_id[5:]}"
    grant = Grant(
        subject=f"did:user:{slot.user}@example.com",
        scopes=(f"repo:{repo.name}:write", "shell:exec", "fs:write"),
        issued_at=iso_s(slot.start - timedelta(seconds=20)),
        expires_at=iso_s(slot.start + timedelta(hours=12)),
        issuer=IDP_ISSUER,
    )
    ds.grants[grant_ref] = grant
    session = CodingSession(rng, slot.user, repo, session_id, grant_ref, grant)
    steps: list[Step] = []
    for prompt in rng.sample(repo.prompts, k=rng.randint(2, min(4, len(repo.prompts)))):
        steps += coding_task_steps(session, prompt)
    termination = coding_termination(slot.index)
    if termination == "interrupted":
        steps.append(session.command(repo.test_command))
        steps[-1].status, steps[-1].error = "failure", "interrupted by user (SIGINT)"
    clock = Clock(rng, slot.start)
    plan = [(s, clock.tick(3, 150)) for s in steps]
    terminate(plan, termination)
    chain_id = f"chain_coding-assistant_{slot.index:03d}"
    writer = ds.open_chain(CODING, chain_id, grant.subject, session_id=session_id)
    spawn_at = len(plan) // 2 if slot.index % 5 == 1 and repo.tests else None
    emit_with_subagent(ds, writer, plan, spawn_at, session)


def emit_with_subagent(
    ds: Dataset,
    writer: ChainWriter,
    plan: list[tuple[Step, datetime]],
    spawn_at: int | None,
    session: CodingSession,
) -> None:
    """Emit the parent plan; after step ``spawn_at`` run a delegated sub-agent chain."""
    shift = timedelta(0)
    for index, (step, moment) in enumerate(plan):
        writer.emit(step, moment + shift)
        if index == spawn_at:
            end = build_subagent_chain(ds, writer, session, moment + shift)
            shift = end - moment + timedelta(seconds=5)


def build_subagent_chain(
    ds: Dataset, parent: ChainWriter, session: CodingSession, start: datetime
) -> datetime:
    """A test-runner chain delegated from ``parent``'s last receipt; returns its end time."""
    number = sum(1 for c in ds.chains.values() if c.agent is SUBAGENT) + 1
    runtime = Runtime(agent_id=f"subagent_{ds.ids.hex(8)}", agent_type="test-runner")
    writer = ds.open_chain(
        SUBAGENT,
        f"chain_test-runner_{number:03d}",
        parent.principal.id,
        session_id=session.session_id,
        runtime=runtime,
    )
    steps = [session.file_step("filesystem.file.read", "low", t) for t in session.repo.tests]
    for test in session.repo.tests[: session.rng.randint(1, 2)]:
        steps.append(session.command(f"{session.repo.test_command} {test}"))
    steps.append(session.file_step("filesystem.file.create", "low", f"reports/junit-{number}.xml"))
    steps[0].delegation = Delegation(
        parent_chain_id=parent.chain_id,
        parent_receipt_id=parent.last.receipt.id,
        delegator=Delegator(id=parent.issuer.id),
    )
    clock = Clock(session.rng, start)
    plan = [(s, clock.tick(2, 40)) for s in steps]
    terminate(plan, "complete")
    emit_all(writer, plan)
    return clock.now


# --------------------------------------------------------------------------- MCP proxy (daemon)


@dataclass(frozen=True)
class McpTool:
    """An MCP tool exposed by the GitHub server, its taxonomy mapping and failure mode."""

    name: str
    action_type: str
    risk: str
    weight: int
    resource: str
    failure: str


MCP_TOOLS = (
    McpTool("get_issue", "data.api.read", "low", 20, "{repo}/issues/{n}", "404"),
    McpTool("list_pull_requests", "data.api.read", "low", 12, "{repo}/pulls", "403"),
    McpTool("get_pull_request", "data.api.read", "low", 14, "{repo}/pulls/{n}", "404"),
    McpTool("get_file_contents", "data.api.read", "low", 14, "{repo}/contents/{path}", "404"),
    McpTool("search_code", "data.api.read", "low", 6, "search/code", "422"),
    McpTool("add_issue_comment", "data.api.write", "medium", 10, "{repo}/issues/{n}", "403"),
    McpTool("create_issue", "data.api.write", "medium", 4, "{repo}/issues", "410"),
    McpTool("update_issue", "data.api.write", "medium", 5, "{repo}/issues/{n}", "404"),
    McpTool("create_branch", "data.api.write", "medium", 3, "{repo}/git/refs", "422"),
    McpTool("create_pull_request", "data.api.write", "medium", 3, "{repo}/pulls", "422"),
    # merging is escalated above the data.api.write default (medium): allowed, never lowered
    McpTool("merge_pull_request", "data.api.write", "high", 2, "{repo}/pulls/{n}/merge", "405"),
    McpTool("delete_branch", "data.api.delete", "high", 1, "{repo}/git/refs/heads/{branch}", "422"),
)
MCP_FAILURE_TEXT = {
    "403": "403 Forbidden: API rate limit exceeded",
    "404": "404 Not Found",
    "405": "405 Method Not Allowed: pull request is not mergeable",
    "410": "410 Gone: issues are disabled for this repository",
    "422": "422 Unprocessable Entity: validation failed",
}
MCP_GRANT_REF = "gh-oauth-2026-09-4412"
MCP_GRANT = Grant(
    subject=MCP.principal_id,
    scopes=("repo", "read:org"),
    issued_at="2026-09-14T08:02:11Z",
    expires_at="2027-01-12T08:02:11Z",
    issuer="https://github.com/login/oauth",
)
MCP_EXE = "/usr/local/bin/github-mcp-server"

# Daemon restarts (UTC hour, minute) per day of month: each ends the current chain with a
# synthetic agent_receipts.chain_interrupted receipt; the next chain that day gets -2, -3.
MCP_RESTARTS: dict[int, list[tuple[int, int]]] = {
    2: [(12, 40)],
    9: [(15, 5)],
    16: [(10, 20), (14, 45)],
    22: [(11, 30)],
    29: [(16, 10)],
}
MCP_SHUTDOWN_DAYS = {30: (18, 40)}  # interrupted, no restart until the next day
MCP_COMPLETE_DAYS = {11, 25}  # the operator closed the day's chain (last receipt terminal)
MCP_ROTATION_DAY, MCP_ROTATION_TIME = 15, (11, 2)
MCP_DROPPED_DAY, MCP_DROPPED_TIME, MCP_DROP_COUNT = 23, (14, 17), 14
MCP_GAP_DAY = 20


def peer(pid: int) -> PeerCredential:
    """Daemon-attested credentials of the proxy process."""
    return PeerCredential(platform="linux", pid=pid, uid=1000, gid=1000, exe_path=MCP_EXE)


def mcp_tool_step(rng: random.Random, tool: McpTool, pid: int) -> Step:
    """One tools/call through the proxy, with tool_name and daemon peer credentials."""
    values = {
        "repo": rng.choice(REPOS).name,
        "n": rng.randint(180, 460),
        "path": rng.choice(REPOS[0].sources),
        "branch": f"fix/ledger-{rng.randint(10, 99)}",
    }
    resource = tool.resource.format(**values)
    step = Step(
        tool.action_type,
        tool.risk,
        ("api.github.com", resource),
        params={"tool": tool.name, "arguments": {k: values[k] for k in ("repo", "n")}},
        tool_name=tool.name,
        authorization=MCP_GRANT.authorization(MCP_GRANT_REF),
        peer_credential=peer(pid),
        idempotency_key=f"mcp-req-{rng.getrandbits(48):012x}",
    )
    if rng.random() < 0.05:
        step.status, step.error = "failure", MCP_FAILURE_TEXT[tool.failure]
        return step
    step.response_body = mcp_response(rng, tool, resource)
    if tool.name == "delete_branch":
        step.reversible, step.reversal_method = True, "restore branch from the pull request page"
        step.reversal_window_seconds = 30 * 86400
    return step


def mcp_response(rng: random.Random, tool: McpTool, resource: str) -> dict[str, Any]:
    """A plausible (trimmed) GitHub API response body."""
    body: dict[str, Any] = {"url": f"https://api.github.com/repos/{resource}", "status": 200}
    if tool.action_type == "data.api.read":
        body["etag"] = f'W/"{rng.getrandbits(64):016x}"'
        body["items"] = rng.randint(1, 30)
    else:
        body["status"] = 201 if tool.name.startswith("create") else 200
        body["id"] = rng.randint(10**8, 10**9)
    return body


def mcp_day_times(rng: random.Random, day: date) -> list[datetime]:
    """Times of the tool calls of one day (busy on weekdays, light at weekends)."""
    count = rng.randint(32, 58) if is_weekday(day) else rng.randint(3, 9)
    clock = Clock(rng, at(day, 7, 30) if is_weekday(day) else at(day, 10, 0))
    span = (10 * 3600) / count
    return [clock.tick(span * 0.3, span * 1.6) for _ in range(count)]


def synthetic(action_type: str, risk: str = "low") -> Step:
    """A daemon-synthetic receipt (no tool call behind it)."""
    return Step(action_type, risk, ("agent-receipts-daemon", "receiptd"))


def build_mcp(ds: Dataset) -> None:
    """Daemon-style chains, one per UTC day (with -2/-3 after a restart)."""
    rng = random.Random(f"{SEED}/mcp")
    for day in month_days():
        build_mcp_day(ds, rng, day)


def build_mcp_day(ds: Dataset, rng: random.Random, day: date) -> None:
    cuts = [at(day, h, m) for h, m in MCP_RESTARTS.get(day.day, [])]
    segments = split_at(mcp_day_times(rng, day), cuts)
    ends: list[datetime | None] = [*cuts, None]
    for number, (times, cut) in enumerate(zip(segments, ends, strict=True), 1):
        chain_id = day.isoformat() if number == 1 else f"{day.isoformat()}-{number}"
        writer = ds.open_chain(MCP, chain_id, MCP.principal_id, session_id=ds.ids.uuid4())
        pid = rng.randint(20000, 60000)
        plan = mcp_segment_plan(rng, day, times, pid, plant=ds.plant_defects)
        close_mcp_chain(plan, day, cut)
        emit_all(writer, plan)


def split_at(times: list[datetime], cuts: list[datetime]) -> list[list[datetime]]:
    """Split sorted ``times`` into ``len(cuts) + 1`` non-empty segments at the cut times."""
    segments: list[list[datetime]] = [[] for _ in range(len(cuts) + 1)]
    for moment in times:
        segments[sum(1 for c in cuts if moment > c)].append(moment)
    if any(not segment for segment in segments):
        raise ValueError(f"empty daemon segment around {cuts}")
    return segments


def mcp_segment_plan(
    rng: random.Random, day: date, times: list[datetime], pid: int, *, plant: bool
) -> list[tuple[Step, datetime]]:
    """Tool calls of one daemon chain, with the key rotation / events_dropped inserted."""
    weights = [t.weight for t in MCP_TOOLS]
    plan = [(mcp_tool_step(rng, rng.choices(MCP_TOOLS, weights=weights)[0], pid), t) for t in times]
    if day.day == MCP_ROTATION_DAY:
        insert_in_time_order(plan, synthetic_rotation(), at(day, *MCP_ROTATION_TIME))
    if day.day == MCP_DROPPED_DAY and plant:
        step = synthetic("agent_receipts.events_dropped")
        step.emitter_metadata = EmitterMetadata(drop_count=MCP_DROP_COUNT)
        step.peer_credential = peer(pid)
        insert_in_time_order(plan, step, at(day, *MCP_DROPPED_TIME))
    return plan


def synthetic_rotation() -> Step:
    """The daemon's key rotation receipt (signed with the old key, announces the new one)."""
    step = synthetic("agent.key.rotate", "medium")
    step.rotate_to = MCP_NEW_KEY
    return step


def insert_in_time_order(plan: list[tuple[Step, datetime]], step: Step, moment: datetime) -> None:
    """Insert ``step`` before the first planned step later than ``moment``."""
    index = next(i for i, (_, t) in enumerate(plan) if t > moment)
    plan.insert(index, (step, moment))


def close_mcp_chain(plan: list[tuple[Step, datetime]], day: date, cut: datetime | None) -> None:
    """Interrupted at a restart or shutdown, complete on a few days, else left open."""
    if cut is None and day.day in MCP_SHUTDOWN_DAYS:
        cut = at(day, *MCP_SHUTDOWN_DAYS[day.day])
    if cut is not None:
        step = synthetic("agent_receipts.chain_interrupted")
        step.terminal, step.termination_status = True, "interrupted"
        plan.append((step, max(cut, plan[-1][1] + timedelta(seconds=1))))
    elif day.day in MCP_COMPLETE_DAYS:
        terminate(plan, "complete")


# --------------------------------------------------------------------------- finance agent


VENDORS = (
    ("vnd_0142", "Northwind Logistics GmbH"),
    ("vnd_0177", "Contoso Cloud Services"),
    ("vnd_0203", "Fabrikam Office Supply"),
    ("vnd_0219", "Tailspin Travel AG"),
    ("vnd_0256", "Litware Security Ltd"),
    ("vnd_0288", "Adventure Works Catering"),
    ("vnd_0301", "Wide World Importers"),
    ("vnd_0334", "Proseware Analytics"),
)
FINANCE_SCOPES = ("ap:read", "vendors:read", "payments:initiate", "payments:authorize", "mail:send")
BANK_API = "api.examplebank.eu"
UNGROUNDED_GRANT_REF = "grant-fin-adhoc-7731"
# Days carrying a deliberate finance defect (each in its own chain).
CRITICAL_NO_AUTH_DAY, EXPIRED_AUTH_DAY, UNGROUNDED_DAY = 8, 13, 27
FINANCE_INTERRUPTED_DAY, FINANCE_OPEN_DAY = 21, 30


def finance_grant_ref(moment: datetime) -> str:
    """The weekly grant in force at ``moment`` (grants roll over on Mondays 05:00 UTC)."""
    monday = (moment - timedelta(hours=5)).date()
    monday -= timedelta(days=monday.weekday())
    return f"grant-fin-{monday.isocalendar().year}-w{monday.isocalendar().week:02d}"


def register_finance_grants(ds: Dataset) -> None:
    """Weekly grants from carol to the finance agent, overlapping by 30 minutes."""
    monday = date(YEAR, MONTH, 1) - timedelta(days=date(YEAR, MONTH, 1).weekday())
    while monday <= date(YEAR, MONTH, DAYS_IN_MONTH):
        issued = at(monday, 5, 0)
        ds.grants[finance_grant_ref(issued)] = Grant(
            subject=FINANCE.principal_id,
            scopes=FINANCE_SCOPES,
            issued_at=iso_s(issued),
            expires_at=iso_s(issued + timedelta(days=7, minutes=30)),
            issuer=IDP_ISSUER,
        )
        monday += timedelta(days=7)


@dataclass
class PaymentRun:
    """Context of one daily accounts-payable run."""

    ds: Dataset
    rng: random.Random
    day: date
    clock: Clock
    plan: list[tuple[Step, datetime]] = field(default_factory=list)

    def add(self, step: Step, low_s: float = 2, high_s: float = 45) -> Step:
        """Append ``step`` with the run's current grant unless it already has one."""
        moment = self.clock.tick(low_s, high_s)
        if step.authorization is None:
            ref = finance_grant_ref(moment)
            step.authorization = self.ds.grants[ref].authorization(ref)
        self.plan.append((step, moment))
        return step


def payment_steps(run: PaymentRun, invoice: str, vendor: tuple[str, str]) -> None:
    """Read bank details, initiate and (if accepted) authorize one payment."""
    rng = run.rng
    amount = rng.randint(120_00, 48_000_00)
    run.add(Step("data.api.read", "low", ("erp.acme.internal", f"vendors/{vendor[0]}/bank")))
    failed = rng.random() < 0.06
    initiate = run.add(
        Step(
            "financial.payment.initiate",
            "critical",
            (BANK_API, f"payments/{invoice}"),
            params={"invoice": invoice, "creditor": vendor[0], "amount_cents": amount},
            idempotency_key=f"pay-{invoice}",
        )
    )
    if failed:
        initiate.status, initiate.error = "failure", "beneficiary IBAN failed validation (AC01)"
        return
    initiate.reversible, initiate.reversal_method = True, "payment recall (camt.056)"
    initiate.reversal_window_seconds = 86400
    initiate.response_body = {
        "payment_id": f"pmt_{rng.getrandbits(48):012x}",
        "status": "accepted",
        "amount": {"value_cents": amount, "currency": "EUR"},
        "creditor": vendor[0],
        "end_to_end_id": invoice,
    }
    run.add(
        Step(
            "financial.payment.authorize",
            "critical",
            (BANK_API, f"payments/{invoice}/authorize"),
            params={"invoice": invoice, "approver": "policy:auto-under-50k"},
        )
    )


def finance_extras(run: PaymentRun) -> None:
    """Occasional subscription and travel actions."""
    rng = run.rng
    if run.day.weekday() == 0:
        run.add(
            Step(
                "financial.subscription.cancel",
                "high",
                ("billing.contoso.example", f"subscriptions/sub_{rng.randint(1000, 9999)}"),
                params={"reason": "seat count reduced"},
            )
        )
    if rng.random() < 0.2:
        run.add(
            Step(
                "financial.subscription.create",
                "critical",
                ("billing.litware.example", f"plans/seat-pack-{rng.randint(5, 50)}"),
                params={"plan": "seat-pack", "amount_cents": rng.randint(9_900, 99_000)},
            )
        )
    if rng.random() < 0.25:
        run.add(
            Step(
                "financial.booking.create",
                "high",
                ("travel.tailspin.example", f"bookings/trip-{rng.randint(100, 999)}"),
                params={"traveller": "did:user:dave@example.com", "budget_cents": 84000},
            )
        )


def build_finance(ds: Dataset) -> None:
    """One accounts-payable run per business day."""
    rng = random.Random(f"{SEED}/finance")
    register_finance_grants(ds)
    for number, day in enumerate(filter(is_weekday, month_days()), 1):
        build_payment_run(ds, rng, number, day)


def build_payment_run(ds: Dataset, rng: random.Random, number: int, day: date) -> None:
    run = PaymentRun(ds, rng, day, Clock(rng, at(day, 6, rng.randint(30, 55))))
    run.add(
        Step(
            "data.database.query",
            "low",
            ("erp.acme.internal", "ap_invoices"),
            params={"query": "due_within_days", "days": 3},
        )
    )
    invoices = [f"INV-{day:%Y%m%d}-{i:03d}" for i in range(1, rng.randint(5, 11))]
    for invoice in invoices:
        payment_steps(run, invoice, rng.choice(VENDORS))
    finance_extras(run)
    inject_finance_defects(run)
    run.add(
        Step(
            "communication.email.send",
            "high",
            ("smtp.acme.internal", "ap-team@acme.example"),
            params={"template": "remittance-summary", "invoices": len(invoices)},
        )
    )
    run.add(Step("document.file.create", "low", ("sharepoint", f"AP/runs/{day.isoformat()}.csv")))
    finish_run(run)
    writer = ds.open_chain(
        FINANCE,
        f"chain_finance-ops_{number:03d}",
        FINANCE.principal_id,
        session_id=f"ap-run-{day.isoformat()}",
    )
    emit_all(writer, run.plan)


def finish_run(run: PaymentRun) -> None:
    """Runs end complete, except one cancelled (interrupted) and one still open."""
    termination: Termination = "complete"
    if run.day.day == FINANCE_INTERRUPTED_DAY:
        termination = "interrupted"
        last = run.plan[-1][0]
        last.status, last.error = "failure", "upload aborted: run cancelled by operator"
    elif run.day.day == FINANCE_OPEN_DAY:
        termination = "open"
        run.plan = run.plan[:-2]  # the run stopped before the e-mail and the report
    terminate(run.plan, termination)


def inject_finance_defects(run: PaymentRun) -> None:
    """(c) critical without authorization, (d) expired grant, (f) unresolvable grant_ref."""
    if run.day.day == CRITICAL_NO_AUTH_DAY:
        step = run.add(
            Step(
                "financial.subscription.create",
                "critical",
                ("billing.proseware.example", "plans/analytics-pro-annual"),
                params={"plan": "analytics-pro-annual", "amount_cents": 1_440_000},
            )
        )
        if run.ds.plant_defects:
            step.authorization = None  # a fallback code path did not attach the grant
        step.response_body = {"subscription_id": "sub_7c21", "status": "active"}
    elif run.day.day == EXPIRED_AUTH_DAY:
        stale_ref = finance_grant_ref(at(run.day, 0, 0) - timedelta(days=3))
        step = Step(
            "financial.payment.initiate",
            "critical",
            (BANK_API, "payments/INV-20261009-004"),
            params={"invoice": "INV-20261009-004", "retry_of": "queue-item-5521"},
            idempotency_key="pay-INV-20261009-004-retry",
            authorization=run.ds.grants[stale_ref].authorization(stale_ref)
            if run.ds.plant_defects
            else None,
        )
        run.add(step)
    elif run.day.day == UNGROUNDED_DAY:
        moment = run.clock.now
        step = Step(
            "financial.payment.initiate",
            "critical",
            (BANK_API, "payments/INV-ADHOC-0093"),
            params={"invoice": "INV-ADHOC-0093", "urgency": "same-day"},
            idempotency_key="pay-INV-ADHOC-0093",
            authorization=Authorization(
                scopes=["payments:initiate"],
                granted_at=iso_s(moment - timedelta(minutes=12)),
                expires_at=iso_s(moment + timedelta(hours=4)),
                grant_ref=UNGROUNDED_GRANT_REF,
            )
            if run.ds.plant_defects
            else None,
        )
        run.add(step)


# --------------------------------------------------------------------------- defects


def locate(ds: Dataset, predicate: Callable[[StoredReceipt], bool]) -> list[StoredReceipt]:
    """All receipts matching ``predicate``, in store order."""
    return [r for r in ds.all_receipts() if predicate(r)]


def cs(record: StoredReceipt) -> Any:
    return record.receipt.credentialSubject


def record_defects(ds: Dataset) -> None:
    """Pick the tamper and deletion targets and describe all six defects."""
    if not ds.plant_defects:
        return
    record_tamper(ds)
    record_gap(ds)
    record_authorization_defects(ds)
    record_events_dropped(ds)


def add_defect(ds: Dataset, defect_id: str, record: StoredReceipt, **kw: Any) -> Defect:
    defect = Defect(
        id=defect_id,
        chain_id=cs(record).chain.chain_id,
        receipt_id=record.receipt.id,
        sequence=record.sequence,
        **kw,
    )
    ds.defects.append(defect)
    return defect


def record_tamper(ds: Dataset) -> None:
    """(a) rewrite the target of a file deletion in a coding chain after signing."""
    writer = next(
        w
        for w in ds.chains.values()
        if w.agent is CODING
        and w.receipts[0].receipt.issuanceDate >= "2026-10-14"
        and any(cs(r).action.type == "filesystem.file.delete" for r in w.receipts[:-1])
    )
    record = next(r for r in writer.receipts if cs(r).action.type == "filesystem.file.delete")
    original = cs(record).action.target.resource
    forged = original.rsplit("/", 2)[0] + "/tmp/scratch.log"
    ds.tamper = Tamper(
        record.receipt.id, ("credentialSubject", "action", "target", "resource"), forged
    )
    follower = writer.receipts[record.sequence]
    add_defect(
        ds,
        "tampered_receipt",
        record,
        expected_codes=["INVALID_SIGNATURE", "HASH_LINK_BROKEN"],
        description=(
            "After signing and storing, credentialSubject.action.target.resource of this "
            f"filesystem.file.delete receipt was changed from {original!r} to {forged!r} "
            "inside receipt_json; receipt_hash and proof were left as they were. The "
            "signature fails, and the next receipt's previous_receipt_hash no longer matches."
        ),
        extra={
            "field": "credentialSubject.action.target.resource",
            "original_value": original,
            "tampered_value": forged,
            "hash_link_broken_at_sequence": follower.sequence,
            "hash_link_broken_at_receipt_id": follower.receipt.id,
        },
    )


def record_gap(ds: Dataset) -> None:
    """(b) delete a middle receipt of one daemon chain from the store."""
    writer = ds.chains[date(YEAR, MONTH, MCP_GAP_DAY).isoformat()]
    record = writer.receipts[len(writer.receipts) // 2]
    follower = writer.receipts[record.sequence]
    ds.deleted_receipt_id = record.receipt.id
    add_defect(
        ds,
        "sequence_gap",
        record,
        expected_codes=["SEQUENCE_GAP"],
        description=(
            f"The row with sequence {record.sequence} was deleted from the store; the chain "
            f"jumps from {record.sequence - 1} to {follower.sequence}. receipt_id names the "
            "deleted receipt, which is no longer in the store."
        ),
        extra={
            "deleted": True,
            "detected_at_sequence": follower.sequence,
            "detected_at_receipt_id": follower.receipt.id,
            "may_also_report": ["HASH_LINK_BROKEN"],
        },
    )


def record_authorization_defects(ds: Dataset) -> None:
    """(c) critical action without authorization, (d) expired grant, (f) ungrounded."""
    no_auth = locate(
        ds, lambda r: cs(r).action.risk_level == "critical" and not cs(r).authorization
    )
    expired = locate(ds, lambda r: is_expired(cs(r)))
    ungrounded = locate(ds, lambda r: grant_ref_of(r) == UNGROUNDED_GRANT_REF)
    add_defect(
        ds,
        "critical_without_authorization",
        only(no_auth),
        expected_codes=["CRITICAL_WITHOUT_AUTHORIZATION"],
        description=(
            "A critical-risk financial.subscription.create action carries no authorization "
            "object at all (assessment finding: critical action without authorization)."
        ),
        extra={"also_with_grants": ["UNGROUNDED_PRINCIPAL"]},
    )
    stale = cs(only(expired))
    add_defect(
        ds,
        "expired_authorization",
        only(expired),
        expected_codes=["AUTHORIZATION_EXPIRED"],
        description=(
            f"A retried payment carries the previous week's grant "
            f"{stale.authorization.grant_ref}: authorization.expires_at "
            f"{stale.authorization.expires_at} is before action.timestamp "
            f"{stale.action.timestamp} (assessment finding: expired authorization)."
        ),
    )
    add_defect(
        ds,
        "ungrounded_principal",
        only(ungrounded),
        expected_codes=["UNGROUNDED_PRINCIPAL"],
        description=(
            f"A critical payment cites authorization.grant_ref {UNGROUNDED_GRANT_REF!r}, "
            "which grants.yaml does not contain: the principal is not grounded in a grant. "
            "Only reported when verifying with --grants samples/grants.yaml."
        ),
        extra={"requires_grants": True, "grant_ref": UNGROUNDED_GRANT_REF},
    )


def record_events_dropped(ds: Dataset) -> None:
    """(e) the daemon's synthetic events_dropped receipt."""
    record = only(locate(ds, lambda r: cs(r).action.type == "agent_receipts.events_dropped"))
    add_defect(
        ds,
        "events_dropped",
        record,
        expected_codes=["EVENTS_DROPPED"],
        description=(
            "A daemon-synthetic agent_receipts.events_dropped receipt with "
            f"action.emitter_metadata.drop_count = {cs(record).action.emitter_metadata.drop_count}"
            ": the emitter lost audit events before they reached the daemon (warning)."
        ),
        extra={"drop_count": cs(record).action.emitter_metadata.drop_count},
    )


def is_expired(subject: Any) -> bool:
    auth = subject.authorization
    if auth is None or auth.expires_at is None:
        return False
    return parse_iso(auth.expires_at) < parse_iso(subject.action.timestamp)


def grant_ref_of(record: StoredReceipt) -> str | None:
    auth = cs(record).authorization
    return auth.grant_ref if auth else None


def only(records: list[StoredReceipt]) -> StoredReceipt:
    """The single element of ``records`` (each defect must occur exactly once)."""
    if len(records) != 1:
        raise ValueError(f"expected exactly one receipt, found {len(records)}")
    return records[0]


# --------------------------------------------------------------------------- output files


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with LF line endings, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_store(path: Path, ds: Dataset) -> None:
    """Insert every receipt with obsigna's store, then apply the store-level defects."""
    store = open_store(str(path))
    try:
        for record in ds.all_receipts():
            store.insert(record.receipt, record.receipt_hash)
    finally:
        store.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        conn.executemany(
            "UPDATE receipts SET created_at = ? WHERE id = ?",
            [(r.created_at, r.receipt.id) for r in ds.all_receipts()],
        )
        if ds.plant_defects:
            apply_tamper(conn, ds.tamper)
            conn.execute("DELETE FROM receipts WHERE id = ?", (ds.deleted_receipt_id,))
        conn.execute("COMMIT")
        conn.execute("VACUUM")
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def apply_tamper(conn: sqlite3.Connection, tamper: Tamper | None) -> None:
    """Edit one field of a stored receipt_json, keeping the SDK's json.dumps layout."""
    if tamper is None:
        raise ValueError("no tamper target recorded")
    (raw,) = conn.execute(
        "SELECT receipt_json FROM receipts WHERE id = ?", (tamper.receipt_id,)
    ).fetchone()
    receipt = json.loads(raw)
    node = receipt
    for key in tamper.path[:-1]:
        node = node[key]
    node[tamper.path[-1]] = tamper.new_value
    conn.execute(
        "UPDATE receipts SET receipt_json = ? WHERE id = ?",
        (json.dumps(receipt), tamper.receipt_id),
    )


def daemon_rotated_name(key: SigningKey) -> str:
    """``signing.key.pub.rotated-<16 hex>``: first 16 hex of the outgoing key's fingerprint."""
    return f"signing.key.pub.rotated-{key.fingerprint.removeprefix('sha256:')[:16]}"


def write_keys(out: Path) -> None:
    """SPKI PEM public keys, plus the daemon key directory of the rotating agent."""
    for agent in AGENTS:
        key = MCP_NEW_KEY if agent is MCP else KEYS[agent.slug]
        write_text(out / "keys" / f"{agent.slug}.pem", key.public_pem)
    write_text(out / "keys" / "daemon" / "signing.key.pub", MCP_NEW_KEY.public_pem)
    write_text(out / "keys" / "daemon" / daemon_rotated_name(MCP_OLD_KEY), MCP_OLD_KEY.public_pem)


def trust_yaml() -> str:
    """The trust store, exercising pem_file, did_key and multibase key forms."""
    rotated = f"keys/daemon/{daemon_rotated_name(MCP_OLD_KEY)}"
    return (
        "# Trust store for the Agent Evidence sample dataset (generated by generate.py).\n"
        "# Paths are relative to this file.\n"
        "version: 1\n"
        "issuers:\n"
        f"  - issuer: {CODING.issuer_id}\n"
        '    chains: ["chain_coding-assistant_*"]\n'
        "    keys:\n"
        f"      - pem_file: keys/{CODING.slug}.pem\n"
        f"  - issuer: {SUBAGENT.issuer_id}\n"
        "    keys:\n"
        f"      - multibase: {KEYS[SUBAGENT.slug].multibase}\n"
        f"  - issuer: {MCP.issuer_id}\n"
        '    chains: ["2026-10-*"]\n'
        "    keys:\n"
        "      # genesis key until the mid-chain rotation on 2026-10-15 (outgoing, archived)\n"
        f"      - pem_file: {rotated}\n"
        "      # current daemon key (incoming; also announced inline by the rotation receipt)\n"
        "      - pem_file: keys/daemon/signing.key.pub\n"
        f"  - issuer: {FINANCE.issuer_id}\n"
        "    keys:\n"
        f"      - did_key: {KEYS[FINANCE.slug].did_key}\n"
    )


def witness_yaml(ds: Dataset) -> str:
    lines = [
        "# Out-of-band witness: expected length and final receipt hash.",
        "version: 1",
        "chains:",
    ]
    for chain_id in ds.witness_chain_ids:
        writer = ds.chains[chain_id]
        lines.append(
            f'  "{chain_id}": {{length: {len(writer.receipts)}, '
            f'final_hash: "{writer.last.receipt_hash}"}}'
        )
    return "\n".join(lines) + "\n"


def grants_yaml(ds: Dataset) -> str:
    lines = [
        "# Grant registry: grant_ref -> minted grant (generated by generate.py).",
        f"# {UNGROUNDED_GRANT_REF} is deliberately absent (defect: ungrounded principal).",
        "version: 1",
        "grants:",
    ]
    for ref in sorted(ds.grants):
        grant = ds.grants[ref]
        scopes = ", ".join(json.dumps(s) for s in grant.scopes)
        lines.append(
            f"  {ref}: {{subject: {json.dumps(grant.subject)}, scopes: [{scopes}], "
            f'issued_at: "{grant.issued_at}", expires_at: "{grant.expires_at}", '
            f"issuer: {json.dumps(grant.issuer)}}}"
        )
    return "\n".join(lines) + "\n"


def choose_side_chains(ds: Dataset) -> None:
    """Pick the witnessed chains and the receipts whose response bodies are shipped."""
    rotation_chain = date(YEAR, MONTH, MCP_ROTATION_DAY).isoformat()
    ds.witness_chain_ids = [rotation_chain, "chain_finance-ops_005"]
    for chain_id in (
        rotation_chain,
        "2026-10-06",
        "chain_finance-ops_005",
        "chain_finance-ops_012",
    ):
        with_body = [r for r in ds.chains[chain_id].receipts if cs(r).outcome.response_hash]
        ds.body_receipt_ids += [r.receipt.id for r in with_body[:2]]


def write_bodies(out: Path, ds: Dataset) -> None:
    """``bodies/<uuid>.json`` for the chosen receipts (their RFC 8785 hash is response_hash)."""
    for receipt_id in ds.body_receipt_ids:
        name = receipt_id.removeprefix("urn:receipt:")
        write_json(out / "bodies" / f"{name}.json", ds.bodies[receipt_id])


def write_defects(out: Path, ds: Dataset) -> None:
    write_json(
        out / "defects.json",
        {
            "version": 1,
            "store": "receipts.db",
            "defects": [d.to_json() for d in ds.defects],
        },
    )


# --------------------------------------------------------------------------- summary + README


@dataclass
class Summary:
    """Figures of the written store, for the README and the console."""

    receipts: int
    first: str
    last: str
    per_agent: dict[str, Counter[str]]
    risk: Counter[str]
    status: Counter[str]
    action_types: Counter[str]


def summarise(db_path: Path) -> Summary:
    """Read the figures back from the SQLite store."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT chain_id, issuer_id, action_type, risk_level, status, timestamp, receipt_json"
            " FROM receipts ORDER BY chain_id, sequence"
        ).fetchall()
    per_agent: dict[str, Counter[str]] = defaultdict(Counter)
    last_by_chain: dict[str, tuple[str, dict[str, Any]]] = {}
    for chain_id, issuer, *_rest, raw in rows:
        per_agent[issuer]["receipts"] += 1
        last_by_chain[chain_id] = (issuer, json.loads(raw)["credentialSubject"]["chain"])
    for issuer, chain in last_by_chain.values():
        per_agent[issuer]["chains"] += 1
        per_agent[issuer][termination_of(chain)] += 1
    return Summary(
        receipts=len(rows),
        first=min(r[5] for r in rows),
        last=max(r[5] for r in rows),
        per_agent=dict(sorted(per_agent.items())),
        risk=Counter(r[3] for r in rows),
        status=Counter(r[4] for r in rows),
        action_types=Counter(r[2] for r in rows),
    )


def termination_of(chain: dict[str, Any]) -> str:
    if chain.get("terminal") is not True:
        return "open"
    return "interrupted" if chain.get("status") == "interrupted" else "complete"


AGENT_NOTES = {
    CODING.issuer_id: (
        "shell and file actions for alice/bob; one chain per working session "
        "(`chain_coding-assistant_NNN`), `issuer.session_id`, intent previews, session grants"
    ),
    SUBAGENT.issuer_id: (
        "test-runner sub-agent; each chain's first receipt carries `delegation` to a "
        "coding-assistant receipt; `issuer.runtime {agent_id, agent_type}`"
    ),
    MCP.issuer_id: (
        "daemon-style: chain id = UTC date (`-2`, `-3` after a restart), `action.tool_name`, "
        "`peer_credential`, synthetic `agent_receipts.*` receipts, one key rotation"
    ),
    FINANCE.issuer_id: (
        "daily accounts-payable run (`chain_finance-ops_NNN`): critical payments with "
        "weekly grants, idempotency keys, response hashes"
    ),
}


def readme(summary: Summary, ds: Dataset) -> str:
    """The generated samples/README.md."""
    parts = [README_HEAD.format(receipts=summary.receipts, first=summary.first, last=summary.last)]
    parts.append(agents_table(summary))
    parts.append(README_DEFECTS_HEAD if ds.plant_defects else README_CLEAN)
    parts.append(defects_table(ds))
    rest = README_REST.format(**readme_values(ds))
    if not ds.plant_defects:  # no tampered row to describe
        rest = rest.split("\n\n", 1)[1]
    parts.append(rest)
    parts.append(pipelock_section())
    parts.append(counts_section(summary))
    return "\n".join(parts)


PIPELOCK_DIR = SAMPLES_DIR / "pipelock"
README_PIPELOCK = """\
## Pipelock egress records (`pipelock/`)

What two of the four agents sent over the network, as the egress firewall Pipelock
signed it: one Ed25519 ActionReceipt per decision in hash-chained flight-recorder files
(`pipelock/<recorder>/evidence-proxy-<first entry seq>.jsonl`). Generated by
`pipelock/generate.py` from the receipts above (deterministic; `pipelock/manifest.json`),
signed with PyNaCl over the canonical bytes of the reference verifier `pipelock-verify`.
`pipelock/trust.yaml` is the trust-store section naming each recorder and its first key
(`pipelock/keys/<recorder>.pub`, 64 hex digits as Pipelock writes them).

- `dev-alice` and `dev-bob`: the developers' workstations, one Pipelock run per coding
  session of the coding assistant (documentation and package fetches, GitHub MCP tool
  reads, now and then a tainted page, a DLP block, a stripped e-mail address, a redirect).
- `finance-egress`: in front of the finance agent, one run per payment run (ERP reads,
  payments, subscriptions, bookings, SharePoint uploads, one DLP block), a key rotation on
  2026-10-16 endorsed by the old key in the log, and an EvidenceReceipt v2 beside every
  write.

Every record names the agent (`actor`: `coding-assistant`, `finance-ops`), its user
(`principal`: the e-mail address of the receipts' `HumanPrincipal`) and the agent's own
session id (`session_id`: the receipts' `issuer.session_id`), so a correlation config
joins both channels per session. The finance egress for the actions of defects (c), (d)
and (f) is there too, verified: a check that wants an *authorised* agent action behind
each allowed write flags those as well.

| recorder | actor | principal | files | entries | v1 receipts | v2 receipts |
| --- | --- | --- | ---: | ---: | ---: | ---: |
{recorders}
### Deliberate Pipelock defects

`pipelock/defects.json` has the same data. (g) is a finding in a recorder that verifies;
(h) is an integrity failure.

{header}
| --- | --- | --- | --- | ---: | ---: | --- | --- | --- |
{defects}"""
PIPELOCK_DEFECTS_HEADER = (
    "| # | defect id | recorder | file | entry seq | chain_seq | action id | what was done "
    "| expected codes / finding |"
)


def pipelock_section() -> str:
    """The README section for samples/pipelock/, from the files its generator wrote."""
    document = json.loads((PIPELOCK_DIR / "defects.json").read_text())
    recorders = "".join(
        f"| `{r['name']}` | `{r['actor']}` | `{r['principal']}` | {len(r['files'])} | "
        f"{r['entries']} | {r['action_receipts']} | {r['evidence_receipts']} |\n"
        for r in document["recorders"]
    )
    rows = []
    for letter, defect in zip("gh", document["defects"], strict=True):
        codes = defect.get("expected_codes")
        expected = ", ".join(f"`{c}`" for c in codes) if codes else defect["expected"]
        if defect.get("consequences"):
            expected += "; then " + ", ".join(f"`{c}`" for c in defect["consequences"])
        rows.append(
            f"| {letter} | `{defect['id']}` | `{defect['recorder']}` | `{defect['file']}` | "
            f"{defect['entry_seq']} | {defect['chain_seq']} | `{defect['action_id']}` | "
            f"{defect['what']} | {expected} |\n"
        )
    defects = "".join(rows)
    return README_PIPELOCK.format(
        recorders=recorders, header=PIPELOCK_DEFECTS_HEADER, defects=defects
    )


def agents_table(summary: Summary) -> str:
    rows = [
        "| issuer | chains | receipts | complete | interrupted | open | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    totals: Counter[str] = Counter()
    for issuer, counts in summary.per_agent.items():
        totals.update(counts)
        rows.append(
            f"| `{issuer}` | {counts['chains']} | {counts['receipts']} | {counts['complete']} | "
            f"{counts['interrupted']} | {counts['open']} | {AGENT_NOTES[issuer]} |"
        )
    rows.append(
        f"| **total** | {totals['chains']} | {totals['receipts']} | {totals['complete']} | "
        f"{totals['interrupted']} | {totals['open']} | |"
    )
    return "\n".join(rows) + "\n"


def defects_table(ds: Dataset) -> str:
    rows = [
        "| # | defect id | chain | seq | receipt id | what was done | expected codes / finding |",
        "| --- | --- | --- | ---: | --- | --- | --- |",
    ]
    letters = {
        "tampered_receipt": "a",
        "sequence_gap": "b",
        "critical_without_authorization": "c",
        "expired_authorization": "d",
        "events_dropped": "e",
        "ungrounded_principal": "f",
    }
    for defect in sorted(ds.defects, key=lambda d: letters[d.id]):
        rows.append(
            f"| {letters[defect.id]} | `{defect.id}` | `{defect.chain_id}` | {defect.sequence} | "
            f"`{defect.receipt_id}` | {defect.description} | {expected_text(defect)} |"
        )
    return "\n".join(rows) + "\n"


def expected_text(defect: Defect) -> str:
    codes = ", ".join(f"`{c}`" for c in defect.expected_codes)
    extra = defect.extra
    if "hash_link_broken_at_sequence" in extra:
        codes += f" (`HASH_LINK_BROKEN` reported at seq {extra['hash_link_broken_at_sequence']})"
    if "detected_at_sequence" in extra:
        codes += f" at seq {extra['detected_at_sequence']}; may also report `HASH_LINK_BROKEN`"
    if extra.get("also_with_grants"):
        codes += "; with `--grants`: also `UNGROUNDED_PRINCIPAL`"
    if extra.get("requires_grants"):
        codes += " (only with `--grants samples/grants.yaml`)"
    return codes


def readme_values(ds: Dataset) -> dict[str, Any]:
    rotation = only(locate(ds, lambda r: cs(r).action.type == "agent.key.rotate"))
    return {
        "rotation_chain": cs(rotation).chain.chain_id,
        "rotation_seq": rotation.sequence,
        "rotation_id": rotation.receipt.id,
        "old_fp": MCP_OLD_KEY.fingerprint,
        "new_fp": MCP_NEW_KEY.fingerprint,
        "rotated_file": daemon_rotated_name(MCP_OLD_KEY),
        "witness": ", ".join(f"`{c}`" for c in ds.witness_chain_ids),
        "bodies": len(ds.body_receipt_ids),
        "grants": len(ds.grants),
        "ungrounded": UNGROUNDED_GRANT_REF,
    }


def counts_section(summary: Summary) -> str:
    def fmt(counter: Counter[str]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counter.items()))

    lines = [
        "## Counts",
        "",
        f"- risk levels: {fmt(summary.risk)}",
        f"- outcome status: {fmt(summary.status)}",
        "",
        "| action type | receipts |",
        "| --- | ---: |",
    ]
    lines += [f"| `{t}` | {n} |" for t, n in sorted(summary.action_types.items())]
    return "\n".join(lines) + "\n"


README_HEAD = """\
# Sample dataset: one month of Agent Receipts

Generated by `samples/generate.py`; do not edit by hand (this README included).
Regenerate with

    .venv/bin/python samples/generate.py            # writes into samples/
    .venv/bin/python samples/generate.py --out DIR  # anywhere else

The generator is deterministic: the same obsigna and SQLite versions give byte-identical
files (`manifest.json` records the versions and a SHA-256 per file;
`tests/test_samples_generator.py` regenerates and compares). It signs with the reference
SDK `obsigna` (`create_receipt`, `sign_receipt`, `hash_receipt`) and writes the store with
`open_store(path).insert(receipt, hash)`, so `receipts.db` is exactly what the SDK writes
(schema in `shared/agent-receipts/RECEIPTS.md`), then VACUUMs it. Keys are Ed25519 keys
derived from fixed seeds; they are sample keys, not secrets.

**{receipts} receipts** in one store, `receipts.db`; action timestamps run from
`{first}` to `{last}` (October 2026, UTC). Every chain verifies except the two
with the integrity defects below; the generator checks that with obsigna before it writes
anything.

## Files

| file | what |
| --- | --- |
| `receipts.db` | SQLite store, table `receipts` (obsigna / daemon schema), many chains |
| `keys/<agent>.pem` | SPKI PEM public key per issuer (for `mcp-proxy-github`: the current key) |
| `keys/daemon/signing.key.pub` | daemon key directory of the rotating agent: current (new) key |
| `keys/daemon/signing.key.pub.rotated-<hex>` | the outgoing key archived at the rotation |
| `trust.yaml` | trust store: issuers, chain-id globs, keys (`pem_file`, `did_key`, `multibase`) |
| `witness.yaml` | expected length and final hash of two chains (tail-truncation witness) |
| `grants.yaml` | grant registry, `grant_ref` -> subject, scopes, validity, issuer |
| `bodies/<uuid>.json` | response bodies whose RFC 8785 SHA-256 equals `outcome.response_hash` |
| `defects.json` | machine-readable list of the deliberate defects (read by tests) |
| `manifest.json` | generator environment and SHA-256 of every file above |

## Agents and chains

Principals are humans (`HumanPrincipal`): alice and bob use the coding assistant, bob runs
the GitHub MCP proxy, carol owns the finance agent. Terminations: *complete* = terminal
receipt without status, *interrupted* = terminal with status `interrupted` (for the daemon
a synthetic `agent_receipts.chain_interrupted` receipt), *open* = no terminal receipt.
"""

README_DEFECTS_HEAD = """\
## Deliberate defects

Each occurs exactly once, each in its own chain. `defects.json` has the same data. (a) and
(b) are integrity failures (the chain does not verify); (c)-(f) are assessment findings in
chains that verify. The finding codes for (c) and (d) are descriptive names, not taken
from the protocol.
"""

README_CLEAN = """\
## Deliberate defects

None: this copy was generated with `--clean`, which leaves out the six defects the committed
samples carry (every chain verifies; the finance actions carry their run's grant; no events
are dropped). `defects.json` lists none.
"""

README_REST = """\
The tampered row keeps its original `receipt_hash` column, so a verifier that compares the
column with the recomputed hash also sees the mismatch there.

## Other features worth knowing

- **Key rotation** (valid, not a defect): an `agent.key.rotate` receipt with
  `keyRotation`, signed with the old key; the following receipts and all later daemon
  chains are signed with the new key. `trust.yaml` lists both keys; a verifier finds the
  genesis key of a chain by trying each trusted key on its first receipt.
  - chain `{rotation_chain}`, sequence {rotation_seq}, `{rotation_id}`
  - old key `{old_fp}`, archived as `keys/daemon/{rotated_file}` (the suffix is the
    first 16 hex digits of the old key's fingerprint)
  - new key `{new_fp}` (`keys/daemon/signing.key.pub`)
- **Witness**: `witness.yaml` pins {witness}; both verify against it.
- **Response bodies**: {bodies} bodies in `bodies/`, named by the UUID of the receipt id;
  other receipts with `response_hash` get the "present, body not supplied" note.
- **Grants**: `grants.yaml` holds {grants} grants: one per coding session, the MCP proxy's
  GitHub OAuth grant and the finance agent's weekly grants. Every high/critical receipt
  cites a resolvable grant whose subject equals its principal, except defect (c) (no
  authorization at all) and defect (f) (`{ungrounded}` is not in the file), so with
  `--grants samples/grants.yaml` exactly those two are `UNGROUNDED_PRINCIPAL`.
- **Daemon deviation**: `action.tool_name` on the MCP proxy receipts is what the daemon
  writes but the JSON Schema does not list (`action` has `additionalProperties: false`);
  schema validation reports it, signatures are valid.
- **Delegation**: every `did:agent:test-runner` chain starts with a `delegation` naming an
  existing coding-assistant chain and receipt, `delegator.id` = `did:agent:coding-assistant`,
  same principal.
- Daemon synthetic types used: `agent_receipts.chain_interrupted` (terminal, interrupted),
  `agent_receipts.events_dropped`, `agent.key.rotate`. The two *complete* daemon chains end
  with an ordinary tool call marked terminal.
"""


# --------------------------------------------------------------------------- sanity check


class SampleCheckError(Exception):
    """The generated data does not have the intended properties."""


def load_trust(path: Path) -> dict[str, list[str]]:
    """issuer id -> trusted public keys (PEM), resolving every key form trust.yaml uses."""
    document = yaml.safe_load(path.read_text())
    trusted: dict[str, list[str]] = {}
    for entry in document["issuers"]:
        trusted[entry["issuer"]] = [key_entry_pem(path.parent, k) for k in entry["keys"]]
    return trusted


def key_entry_pem(base: Path, entry: dict[str, str]) -> str:
    if "pem_file" in entry:
        return (base / entry["pem_file"]).read_text()
    if "pem" in entry:
        return entry["pem"]
    if "did_key" in entry:
        payload = base58.b58decode(entry["did_key"].removeprefix("did:key:z"))
        if payload[:2] != b"\xed\x01":
            raise SampleCheckError(f"not an Ed25519 did:key: {entry['did_key']}")
        return obsigna.public_key_to_pem(payload[2:])
    return obsigna.public_key_to_pem(decode_multibase_ed25519_key(entry["multibase"]))


def load_chains(db_path: Path) -> dict[str, list[str]]:
    """chain id -> raw receipt_json values ordered by sequence."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT chain_id, receipt_json FROM receipts ORDER BY chain_id, sequence"
        ).fetchall()
    chains: dict[str, list[str]] = defaultdict(list)
    for chain_id, raw in rows:
        chains[chain_id].append(raw)
    return dict(chains)


def genesis_key(raw_first: str, candidates: list[str]) -> str:
    """The trusted key that verifies the first receipt of a chain."""
    for pem in candidates:
        if verify_raw(raw_first, pem):
            return pem
    raise SampleCheckError("no trusted key verifies the first receipt")


def sanity_check(out: Path) -> list[str]:
    """Verify every chain with obsigna; return human-readable report lines."""
    trusted = load_trust(out / "trust.yaml")
    chains = load_chains(out / "receipts.db")
    defects = {d["id"]: d for d in json.loads((out / "defects.json").read_text())["defects"]}
    broken = {defects[d]["chain_id"] for d in ("tampered_receipt", "sequence_gap") if d in defects}
    bodies = load_bodies(out)
    witness = yaml.safe_load((out / "witness.yaml").read_text())["chains"]
    lines: list[str] = []
    for chain_id, raws in chains.items():
        issuer = json.loads(raws[0])["issuer"]["id"]
        key = genesis_key(raws[0], trusted[issuer])
        models = [AgentReceipt.model_validate_json(raw) for raw in raws]
        expect = witness.get(chain_id, {})
        ids = {m.id for m in models}
        result = verify_chain(
            models,
            key,
            expected_length=expect.get("length"),
            expected_final_hash=expect.get("final_hash"),
            response_bodies={k: v for k, v in bodies.items() if k in ids},
        )
        if result.valid == (chain_id in broken):
            raise SampleCheckError(f"chain {chain_id}: valid={result.valid} error={result.error}")
        if not result.valid:
            lines.append(f"expected failure in {chain_id} at index {result.broken_at}")
    if defects:
        check_tampered(chains, defects["tampered_receipt"], trusted)
        check_gap(chains, defects["sequence_gap"])
    check_delegations(chains)
    check_assessment(chains, out, defects)
    lines.append(
        f"{len(chains)} chains checked, {len(bodies)} response bodies, {len(witness)} witnesses"
    )
    return lines


def load_bodies(out: Path) -> dict[str, Any]:
    return {
        f"urn:receipt:{p.stem}": json.loads(p.read_text())
        for p in sorted((out / "bodies").iterdir())
    }


def check_tampered(
    chains: dict[str, list[str]], defect: dict[str, Any], trusted: dict[str, list[str]]
) -> None:
    """The tampered receipt's raw JSON must fail verify_raw; its predecessor must pass."""
    raws = chains[defect["chain_id"]]
    index = defect["sequence"] - 1
    issuer = json.loads(raws[0])["issuer"]["id"]
    key = genesis_key(raws[0], trusted[issuer])
    if verify_raw(raws[index], key) or not verify_raw(raws[index - 1], key):
        raise SampleCheckError("tampered receipt signature check did not behave as intended")


def check_gap(chains: dict[str, list[str]], defect: dict[str, Any]) -> None:
    sequences = [
        json.loads(r)["credentialSubject"]["chain"]["sequence"] for r in chains[defect["chain_id"]]
    ]
    if defect["sequence"] in sequences or defect["detected_at_sequence"] not in sequences:
        raise SampleCheckError("sequence gap not present as described")


def check_delegations(chains: dict[str, list[str]]) -> None:
    """Parent chain and receipt exist, delegator is the parent issuer, same principal."""
    by_id = {json.loads(r)["id"]: json.loads(r) for raws in chains.values() for r in raws}
    for raws in chains.values():
        first = json.loads(raws[0])
        delegation = first["credentialSubject"].get("delegation")
        if delegation is None:
            continue
        parent = by_id[delegation["parent_receipt_id"]]
        if (
            parent["credentialSubject"]["chain"]["chain_id"] != delegation["parent_chain_id"]
            or parent["issuer"]["id"] != delegation["delegator"]["id"]
            or parent["credentialSubject"]["principal"] != first["credentialSubject"]["principal"]
        ):
            raise SampleCheckError(
                f"bad delegation in {first['credentialSubject']['chain']['chain_id']}"
            )


def check_assessment(chains: dict[str, list[str]], out: Path, defects: dict[str, Any]) -> None:
    """Findings (c)-(f) occur on exactly the receipts defects.json names, nowhere else."""
    grants = yaml.safe_load((out / "grants.yaml").read_text())["grants"]
    found: dict[str, set[str]] = defaultdict(set)
    for raws in chains.values():
        for raw in raws:
            receipt = json.loads(raw)
            for finding in assessment_findings(receipt, grants):
                found[finding].add(receipt["id"])
    for defect_id in ("critical_without_authorization", "expired_authorization", "events_dropped"):
        expected = {defects[defect_id]["receipt_id"]} if defects else set()
        if found[defect_id] != expected:
            raise SampleCheckError(f"{defect_id}: found on {sorted(found[defect_id])}")
    expected_ungrounded = (
        {
            defects["ungrounded_principal"]["receipt_id"],
            defects["critical_without_authorization"]["receipt_id"],
        }
        if defects
        else set()
    )
    if found["ungrounded_principal"] != expected_ungrounded or found["grant_mismatch"]:
        raise SampleCheckError(f"ungrounded: {sorted(found['ungrounded_principal'])}")


def assessment_findings(receipt: dict[str, Any], grants: dict[str, Any]) -> Iterator[str]:
    """The defect ids whose condition ``receipt`` meets."""
    subject = receipt["credentialSubject"]
    action, auth = subject["action"], subject.get("authorization")
    if action["risk_level"] == "critical" and auth is None:
        yield "critical_without_authorization"
    if (
        auth
        and "expires_at" in auth
        and parse_iso(auth["expires_at"]) < parse_iso(action["timestamp"])
    ):
        yield "expired_authorization"
    if action.get("emitter_metadata", {}).get("drop_count", 0) > 0:
        yield "events_dropped"
    if action["risk_level"] in {"high", "critical"}:
        grant = grants.get((auth or {}).get("grant_ref"))
        if grant is None:
            yield "ungrounded_principal"
        elif grant["subject"] != subject["principal"]["id"]:
            yield "grant_mismatch"


# --------------------------------------------------------------------------- main


MANAGED = (
    "receipts.db",
    "trust.yaml",
    "witness.yaml",
    "grants.yaml",
    "defects.json",
    "README.md",
    "manifest.json",
    "keys",
    "bodies",
)


def build_dataset(*, plant_defects: bool = True) -> Dataset:
    """Generate every chain and record the defects (or leave them out)."""
    ds = Dataset(plant_defects=plant_defects)
    ds.grants[MCP_GRANT_REF] = MCP_GRANT
    build_coding(ds)
    build_mcp(ds)
    build_finance(ds)
    record_defects(ds)
    choose_side_chains(ds)
    check_count(ds)
    return ds


def check_count(ds: Dataset) -> None:
    """The store (after the deletion) must hold a receipt count inside the agreed range."""
    count = len(ds.all_receipts()) - (1 if ds.plant_defects else 0)
    low, high = RECEIPT_COUNT_RANGE
    if not low <= count <= high:
        raise SampleCheckError(f"{count} receipts, outside {RECEIPT_COUNT_RANGE}")


def manifest(out: Path) -> dict[str, Any]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {
        "generator": "samples/generate.py",
        "environment": {"obsigna": obsigna.VERSION, "sqlite": sqlite3.sqlite_version},
        "files": {
            p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
        },
    }


def write_all(stage: Path, ds: Dataset) -> Summary:
    write_store(stage / "receipts.db", ds)
    write_keys(stage)
    write_text(stage / "trust.yaml", trust_yaml())
    write_text(stage / "witness.yaml", witness_yaml(ds))
    write_text(stage / "grants.yaml", grants_yaml(ds))
    write_bodies(stage, ds)
    write_defects(stage, ds)
    summary = summarise(stage / "receipts.db")
    write_text(stage / "README.md", readme(summary, ds))
    write_json(stage / "manifest.json", manifest(stage))
    return summary


def publish(stage: Path, out: Path) -> None:
    """Move the staged files into ``out``, replacing the generator-managed entries."""
    for name in MANAGED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        (stage / name).replace(target)


def print_summary(summary: Summary, ds: Dataset, checks: list[str], seconds: float) -> None:
    print(f"receipts: {summary.receipts} ({summary.first} .. {summary.last})")
    for issuer, counts in summary.per_agent.items():
        print(
            f"  {issuer}: {counts['chains']} chains, {counts['receipts']} receipts, "
            f"complete {counts['complete']}, interrupted {counts['interrupted']}, "
            f"open {counts['open']}"
        )
    for defect in ds.defects:
        print(f"  defect {defect.id}: {defect.chain_id} seq {defect.sequence} {defect.receipt_id}")
    for line in checks:
        print(f"  check: {line}")
    print(f"done in {seconds:.1f}s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR, help="output directory")
    parser.add_argument("--no-check", action="store_true", help="skip the obsigna sanity check")
    parser.add_argument(
        "--clean", action="store_true", help="leave out the six planted defects (see README)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".generate-", dir=out))
    try:
        ds = build_dataset(plant_defects=not args.clean)
        summary = write_all(stage, ds)
        checks = [] if args.no_check else sanity_check(stage)
        publish(stage, out)
    except SampleCheckError as exc:
        print(f"sanity check failed: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    print_summary(summary, ds, checks, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
