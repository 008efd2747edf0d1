"""Generate the deterministic sample Pipelock flight recorders (October 2026).

Three Pipelock egress firewalls record two of the four sample agents of
`samples/receipts.db` (read-only here): `dev-alice` and `dev-bob`, the developer
workstations where the coding assistant runs (actor `coding-assistant`, one Pipelock run
per coding session), and `finance-egress`, the server in front of the finance agent
(actor `finance-ops`, one run per daily accounts-payable run, a key rotation on
2026-10-16 and v2 receipts for every request that writes). Every decision is derived
from an agent receipt at the same moment: documentation and package fetches, GitHub
MCP tool reads, payments and ERP calls; plus what only a firewall sees: DLP blocks,
stripped secrets, redirects and tainted pages. Each record carries the agent's own
session id (`session_id`), so the two channels join on it.

Two deliberate defects are planted (`defects.json`, documented in samples/README.md):
an egress `allow` of a payment request with no agent action behind it (a finding in a
recorder that verifies), and a deleted recorder line (an integrity failure).

Determinism: seeded `random.Random`, Ed25519 keys from fixed seed phrases (sample keys,
not secrets), signatures from pipelock-verify's canonicalisers (see pipelock_writer.py):
the same inputs give byte-identical files; `manifest.json` records a SHA-256 per file
and `tests/test_pipelock_samples.py` regenerates and compares.

Usage::

    .venv/bin/python samples/pipelock/generate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sqlite3
import sys
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelock_writer import Emitter, Recorder, SampleKey, iso

HERE = Path(__file__).resolve().parent
RECEIPTS_DB = HERE.parent / "receipts.db"
FILE_ENTRIES = 400  # Pipelock rolls to a new evidence file after this many entries
SEED = "agent-evidence-samples/pipelock/v1"


@dataclass(frozen=True)
class RecorderSpec:
    name: str
    actor: str
    principal: str
    key_phrase: str
    rotated_key_phrase: str | None = None

    @property
    def key(self) -> SampleKey:
        return SampleKey(self.key_phrase)


ALICE = RecorderSpec("dev-alice", "coding-assistant", "alice@example.com", f"{SEED}/dev-alice#1")
BOB = RecorderSpec("dev-bob", "coding-assistant", "bob@example.com", f"{SEED}/dev-bob#1")
FINANCE = RecorderSpec(
    "finance-egress", "finance-ops", "carol@example.com",
    f"{SEED}/finance-egress#1", f"{SEED}/finance-egress#2",
)  # fmt: skip
RECORDERS = (ALICE, BOB, FINANCE)
ROTATION_DAY = "2026-10-16"
DEFECT_DAY = "2026-10-14"  # the finance run with the payment nobody asked for
TAMPERED = BOB  # the recorder whose file loses a line


# -- the agent sessions the firewalls saw ----------------------------------------------------


@dataclass(frozen=True)
class Action:
    moment: datetime
    action_type: str
    system: str
    resource: str
    receipt_id: str


@dataclass
class AgentSession:
    chain_id: str
    session_id: str
    principal: str
    actions: list[Action] = field(default_factory=list)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def load_sessions(issuer: str) -> list[AgentSession]:
    query = (
        "SELECT chain_id, principal_id, timestamp, action_type, id, "
        "json_extract(receipt_json, '$.issuer.session_id'), "
        "json_extract(receipt_json, '$.credentialSubject.action.target.system'), "
        "json_extract(receipt_json, '$.credentialSubject.action.target.resource') "
        "FROM receipts WHERE issuer_id = ? ORDER BY chain_id, sequence"
    )
    with closing(sqlite3.connect(f"file:{RECEIPTS_DB}?mode=ro", uri=True)) as conn:
        rows = conn.execute(query, (issuer,)).fetchall()
    sessions: dict[str, AgentSession] = {}
    for chain_id, principal, stamp, action_type, receipt_id, session_id, system, resource in rows:
        session = sessions.setdefault(
            chain_id, AgentSession(chain_id, session_id or chain_id, principal)
        )
        session.actions.append(
            Action(parse_time(stamp), action_type, system or "", resource or "", receipt_id)
        )
    return sorted(sessions.values(), key=lambda s: s.actions[0].moment)


# -- decisions ----------------------------------------------------------------------------


def read(target: str, transport: str = "fetch", **extra: Any) -> dict[str, Any]:
    return {
        "action_type": "read", "target": target, "verdict": "allow", "transport": transport,
        "method": "GET", "side_effect_class": "external_read", "reversibility": "full",
    } | extra  # fmt: skip


def write(
    target: str, method: str = "POST", verdict: str = "allow", **extra: Any
) -> dict[str, Any]:
    return {
        "action_type": "write", "target": target, "verdict": verdict, "transport": "forward",
        "method": method, "side_effect_class": "external_write", "reversibility": "compensatable",
    } | extra  # fmt: skip


DOCS = {
    "payments-service": ("https://docs.python.org/3/library/decimal.html", "https://pypi.org/simple/sqlalchemy/"),
    "web-frontend": ("https://developer.mozilla.org/en-US/docs/Web/API/Intl", "https://registry.npmjs.org/vitest"),
    "infra": ("https://registry.terraform.io/v1/providers/hashicorp/aws/versions", "https://developer.hashicorp.com/terraform/language"),
}  # fmt: skip
PACKAGES = {
    "pytest -q": "https://pypi.org/simple/pytest/",
    "npm test -- --run": "https://registry.npmjs.org/vitest",
    "terraform validate": "https://registry.terraform.io/v1/providers/hashicorp/aws/versions",
}
MCP_READS = ("github.get_issue", "github.list_pull_requests", "github.get_pull_request_files")


def repo_of(session: AgentSession) -> str:
    for action in session.actions:
        for repo in DOCS:
            if f"/{repo}/" in action.resource:
                return repo
    return "payments-service"


def dlp(
    target: str, verdict: str, pattern: str, severity: str, classes: list[str], **extra: Any
) -> dict[str, Any]:
    """A write the firewall's DLP scanner caught: blocked, or forwarded with the secret stripped."""
    return write(target, verdict=verdict, layer="dlp", pattern=pattern, severity=severity,
                 data_classes_out=classes, **extra)  # fmt: skip


def tainted(url: str, moment: datetime, **common: Any) -> dict[str, Any]:
    """A page carrying injected instructions: allowed with a warning, the session tainted."""
    source = {"url": url, "kind": "prompt_injection", "level": 3, "timestamp": iso(moment)}
    return read(url, verdict="warn", layer="response_scan", pattern="prompt_injection",
                severity="medium", session_taint_level="high", session_contaminated=True,
                recent_taint_sources=[source], **common)  # fmt: skip


def firewall_only(
    number: int, url: str, start: datetime, rng: random.Random, common: dict[str, Any]
) -> list[tuple[datetime, dict[str, Any]]]:
    """What only the firewall sees, in some sessions: taint, DLP, redirects."""

    def at(seconds: float) -> datetime:
        return start + timedelta(seconds=seconds + rng.uniform(0, 60))

    out: list[tuple[datetime, dict[str, Any]]] = []
    if number % 9 == 4:
        moment = at(420)
        out.append((moment, tainted(url, moment - timedelta(seconds=2), **common)))
    if number % 11 == 7:  # an AWS key on its way to a paste site
        paste = "https://paste.example.net/api/create"
        block = dlp(paste, "block", "aws_access_key_id", "critical", ["credentials"], **common)
        out.append((at(600), block | {"reversibility": "irreversible"}))
    if number % 7 == 3:  # an e-mail address stripped from a chat webhook
        redaction = {"profile": "pii", "total_redactions": 1, "by_class": {"email": 1}}
        hook = "https://hooks.slack.com/services/T000/B000/XXXX"
        stripped = dlp(hook, "strip", "email_address", "low", ["pii"], **common)
        out.append((at(330), stripped | {"redaction": redaction}))
    if number % 8 == 1:  # a link shortener, redirected to the allowlisted docs
        policy = {"verdict": "redirect", "layer": "policy", "pattern": "url_shortener"}
        out.append((at(95), read("https://bit.ly/3xDocs", **common) | policy))
    return out


def coding_decisions(
    session: AgentSession, rng: random.Random, number: int
) -> list[tuple[datetime, dict[str, Any]]]:
    """What the coding assistant's egress firewall decided during one coding session."""
    common = {"session_id": session.session_id}
    start = session.actions[0].moment
    docs, package = DOCS[repo_of(session)]
    out = [(start + timedelta(seconds=rng.uniform(8, 40)), read(docs, **common))]
    for action in session.actions:
        url = PACKAGES.get(action.resource)
        if url and rng.random() < 0.5:
            delay = timedelta(milliseconds=rng.randint(300, 1500))
            out.append((action.moment + delay, read(url, **common)))
    if rng.random() < 0.6:
        request = str(rng.randint(2, 90))
        tool = read(rng.choice(MCP_READS), "mcp_stdio", method="", request_id=request, **common)
        out.append((start + timedelta(seconds=rng.uniform(60, 300)), tool))
    out += firewall_only(number, package, start, rng, common)
    return sorted(out, key=lambda item: item[0])


def finance_decision(action: Action, session: AgentSession) -> dict[str, Any] | None:
    """The egress decision for one finance-agent action (None: not an HTTP request)."""
    common = {
        "session_id": session.session_id,
        "request_id": action.receipt_id.removeprefix("urn:receipt:"),
    }
    url = f"https://{action.system}/{action.resource}"
    kind = action.action_type
    if kind == "data.api.read":
        return read(f"https://{action.system}/api/{action.resource}", **common)
    if kind in ("financial.payment.initiate", "financial.payment.authorize"):
        return write(url, data_classes_out=["financial"], **common)
    if kind == "financial.subscription.cancel":
        return write(url, method="DELETE", reversibility="irreversible", **common)
    if kind in ("financial.subscription.create", "financial.booking.create"):
        return write(url, **common)
    if kind == "document.file.create":
        return write(
            f"https://acme.sharepoint.com/sites/finance/{action.resource}", method="PUT", **common
        )
    return None  # database queries and SMTP do not cross this proxy


def v2_payload(decision: dict[str, Any]) -> dict[str, Any]:
    return {
        "action_type": "http_request", "target": decision["target"], "verdict": decision["verdict"],
        "transport": decision["transport"], "policy_sources": ["egress-policy"],
        "winning_source": "egress-policy",
    }  # fmt: skip


# -- runs and recorders -------------------------------------------------------------------


@dataclass
class Planted:
    """Where a defect landed (filled in while writing)."""

    details: dict[str, Any] = field(default_factory=dict)


class RecorderRun:
    """One recorder over the month: a run per agent session, restarts in between."""

    def __init__(self, spec: RecorderSpec) -> None:
        self.spec = spec
        self.recorder = Recorder(session_id="proxy")
        self.rng = random.Random(f"{SEED}/{spec.name}")
        self.emitter = Emitter(
            self.recorder, spec.key, self.rng, principal=spec.principal, actor=spec.actor
        )
        self.emitter.policy_hash = hashlib.sha256(f"{spec.name}/pipelock.yaml".encode()).hexdigest()
        self.receipt_lines: dict[str, int] = {}  # action_id -> entry index

    def _emit(
        self, moment: datetime, decision: dict[str, Any], *, v2: bool = False
    ) -> dict[str, Any]:
        envelope = self.emitter.emit(moment, **decision)
        self.receipt_lines[envelope["action_record"]["action_id"]] = len(self.recorder.lines) - 1
        if v2:
            self.emitter.evidence(moment + timedelta(microseconds=250), v2_payload(decision))
        return envelope

    def run(
        self,
        start: datetime,
        end: datetime,
        decisions: list[tuple[datetime, dict[str, Any]]],
        *,
        v2: bool = False,
        rotate_to: SampleKey | None = None,
        heartbeat: int = 600,
    ) -> None:
        opened = start - timedelta(seconds=self.rng.uniform(2, 6))
        if rotate_to is not None:
            self.emitter.rotate(opened, rotate_to)
        else:
            self.emitter.open(opened, heartbeat_seconds=heartbeat)
        beats = [opened + timedelta(seconds=heartbeat * n) for n in range(1, 100)]
        events = sorted(
            [(m, "decision", d) for m, d in decisions]
            + [(m, "beat", None) for m in beats if m < end]
        )
        for moment, kind, decision in events:
            if kind == "beat":
                self.emitter.heartbeat(moment)
            else:
                self._emit(moment, decision, v2=v2 and decision["action_type"] != "read")
        closed = end + timedelta(seconds=self.rng.uniform(2, 6))
        self.emitter.close(closed)
        self.emitter.transcript_root(closed + timedelta(milliseconds=4))
        self.recorder.checkpoint(iso(closed + timedelta(milliseconds=5)), self.emitter.key)


def build_coding(spec: RecorderSpec, sessions: list[AgentSession]) -> RecorderRun:
    recorder = RecorderRun(spec)
    for number, session in enumerate(sessions):
        decisions = coding_decisions(session, random.Random(f"{SEED}/{session.chain_id}"), number)
        recorder.run(session.actions[0].moment, session.actions[-1].moment, decisions)
    return recorder


def build_finance(sessions: list[AgentSession], planted: Planted) -> RecorderRun:
    recorder = RecorderRun(FINANCE)
    rotated = False
    for session in sessions:
        day = session.actions[0].moment.date().isoformat()
        decisions = []
        for action in session.actions:
            decision = finance_decision(action, session)
            if decision is not None:
                delay = timedelta(milliseconds=recorder.rng.randint(120, 900))
                decisions.append((action.moment + delay, decision))
        if day == DEFECT_DAY:
            decisions.append(_unbacked_payment(session, recorder.rng))
        if day == "2026-10-22":  # an IBAN on its way to a request bin
            blocked = dlp("https://webhook.site/4f1c0e2a", "block", "iban", "high",
                          ["financial_account"], session_id=session.session_id)  # fmt: skip
            decisions.append((session.actions[3].moment + timedelta(seconds=4), blocked))
        rotate_to = None
        if not rotated and day >= ROTATION_DAY:
            rotate_to, rotated = SampleKey(FINANCE.rotated_key_phrase or ""), True
        decisions.sort(key=lambda item: item[0])
        recorder.run(
            session.actions[0].moment,
            session.actions[-1].moment,
            decisions,
            v2=True,
            rotate_to=rotate_to,
            heartbeat=300,
        )
        if day == DEFECT_DAY:
            _locate_unbacked(recorder, session, planted)
    return recorder


UNBACKED_TARGET = "https://api.examplebank.eu/payments/INV-20261014-099"


def _unbacked_payment(session: AgentSession, rng: random.Random) -> tuple[datetime, dict[str, Any]]:
    """A payment request the agent never recorded: allowed by the firewall."""
    moment = session.actions[len(session.actions) // 2].moment + timedelta(
        seconds=7, milliseconds=rng.randint(0, 900)
    )
    return moment, write(
        UNBACKED_TARGET, data_classes_out=["financial"], session_id=session.session_id
    )


def _locate_unbacked(recorder: RecorderRun, session: AgentSession, planted: Planted) -> None:
    for line in recorder.recorder.lines:
        entry = json.loads(line)
        record = (
            entry["detail"].get("action_record", {}) if entry["type"] == "action_receipt" else {}
        )
        if record.get("target") == UNBACKED_TARGET:
            planted.details = {
                "action_id": record["action_id"], "chain_seq": record["chain_seq"],
                "timestamp": record["timestamp"], "entry_seq": entry["seq"],
                "agent_session": session.session_id, "agent_chain": session.chain_id,
            }  # fmt: skip


# -- files --------------------------------------------------------------------------------


def split_files(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(first entry seq, lines) per evidence file; a file ends at a run's checkpoint."""
    files: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for seq, line in enumerate(lines):
        current.append(line)
        if len(current) >= FILE_ENTRIES and '"type":"checkpoint"' in line:
            files.append((first, current))
            current, first = [], seq + 1
    if current:
        files.append((first, current))
    return files


def delete_a_block(recorder: RecorderRun) -> dict[str, Any]:
    """The planted tampering: the line of one DLP block removed from the file."""
    for index, line in enumerate(recorder.recorder.lines):
        entry = json.loads(line)
        record = (
            entry["detail"].get("action_record", {}) if entry["type"] == "action_receipt" else {}
        )
        if record.get("verdict") == "block":
            del recorder.recorder.lines[index]
            keep = ("action_id", "chain_seq", "timestamp", "target", "pattern")
            return {name: record[name] for name in keep} | {
                "entry_seq": entry["seq"],
                "agent_session": record["session_id"],
            }
    raise SystemExit("no DLP block to delete")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_recorder(out: Path, recorder: RecorderRun) -> list[str]:
    names = []
    for first, lines in split_files(recorder.recorder.lines):
        name = f"{recorder.spec.name}/evidence-proxy-{first}.jsonl"
        write_text(out / name, "".join(line + "\n" for line in lines))
        names.append(name)
    return names


def file_of(names: list[str], entry_seq: int) -> str:
    firsts = [(int(n.rsplit("-", 1)[1].removesuffix(".jsonl")), n) for n in names]
    return max((f, n) for f, n in firsts if f <= entry_seq)[1]


TRUST_YAML = """\
# Pipelock keys of the sample recorders, in the trust-store section the verifier reads
# (reporting.pipelock.parse_pipelock_section). finance-egress rotated its key on
# {rotation}: only the first key is listed; the second is trusted through the
# endorsement the first key signed (a rotation_endorsement entry in its log).
version: 1
pipelock:
{entries}"""


def trust_yaml() -> str:
    entry = "  - name: {0}\n    keys: [{{file: keys/{0}.pub}}]\n    sessions: [proxy]\n"
    entries = "".join(entry.format(spec.name) for spec in RECORDERS)
    return TRUST_YAML.format(rotation=ROTATION_DAY, entries=entries)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    out: Path = parser.parse_args(argv).out.resolve()
    coding = load_sessions("did:agent:coding-assistant")
    by_principal: dict[str, list[AgentSession]] = defaultdict(list)
    for session in coding:
        by_principal[session.principal].append(session)
    planted = Planted()
    recorders = [
        build_coding(ALICE, by_principal["did:user:alice@example.com"]),
        build_coding(BOB, by_principal["did:user:bob@example.com"]),
        build_finance(load_sessions("did:agent:finance-ops"), planted),
    ]
    tampered = next(r for r in recorders if r.spec is TAMPERED)
    deleted = delete_a_block(tampered)
    for stale in [*(out / s.name for s in RECORDERS), out / "keys"]:
        if stale.is_dir():
            shutil.rmtree(stale)
    files: dict[str, list[str]] = {}
    for recorder in recorders:
        files[recorder.spec.name] = write_recorder(out, recorder)
        write_text(out / "keys" / f"{recorder.spec.name}.pub", recorder.spec.key.hex + "\n")
    write_text(out / "trust.yaml", trust_yaml())
    defects = defects_document(recorders, files, planted, deleted)
    write_text(out / "defects.json", json.dumps(defects, indent=2) + "\n")
    write_manifest(out)
    for name, names in files.items():
        print(f"{name}: {', '.join(names)}")
    return 0


def counts(recorder: RecorderRun) -> dict[str, int]:
    """Entries of the recorder as written, and how many carry v1 and v2 receipts."""
    types = [json.loads(line)["type"] for line in recorder.recorder.lines]
    return {
        "entries": len(types),
        "action_receipts": types.count("action_receipt"),
        "evidence_receipts": types.count("evidence_receipt"),
    }


def defects_document(
    recorders: list[RecorderRun],
    files: dict[str, list[str]],
    planted: Planted,
    deleted: dict[str, Any],
) -> dict[str, Any]:
    finance, bob = files[FINANCE.name], files[TAMPERED.name]
    return {
        "generator": "samples/pipelock/generate.py",
        "recorders": [
            {
                "name": r.spec.name,
                "actor": r.spec.actor,
                "principal": r.spec.principal,
                "files": files[r.spec.name],
                "key": f"keys/{r.spec.name}.pub",
                **counts(r),
            }
            for r in recorders
        ],
        "defects": [
            {
                "id": "egress_without_agent_action",
                "kind": "finding",
                "recorder": FINANCE.name,
                "file": file_of(finance, planted.details["entry_seq"]),
                "verdict": "allow",
                "target": UNBACKED_TARGET,
                "side_effect_class": "external_write",
                **planted.details,
                "what": (
                    "The firewall allowed a POST of a payment (INV-20261014-099) during the "
                    f"finance agent's run {planted.details['agent_session']}; the agent's "
                    "receipts for that run have no payment with that invoice, so no "
                    "authorised agent action backs it."
                ),
                "expected": (
                    "cross-channel finding: an `allow` of an `external_write` with no authorised "
                    "agent action in the same session; the recorder itself verifies"
                ),
            },
            {
                "id": "recorder_line_deleted",
                "kind": "integrity",
                "recorder": TAMPERED.name,
                "file": file_of(bob, deleted["entry_seq"]),
                **deleted,
                "what": (
                    "After writing, the entry of a DLP block (an AWS key on its way to a paste "
                    "site) was deleted from the recorder file; nothing else was changed."
                ),
                "expected_codes": ["RECORDER_LINK_BROKEN", "SEQUENCE_GAP", "HASH_LINK_BROKEN"],
                # the run's later session records no longer match: its heartbeat's chain
                # head and its close's receipt count
                "consequences": ["SESSION_BINDING_INVALID", "SESSION_COUNT_MISMATCH"],
            },
        ],
    }


def write_manifest(out: Path) -> None:
    paths = sorted(
        p
        for p in out.rglob("*")
        if p.is_file()
        and p.suffix in (".jsonl", ".pub", ".yaml", ".json")
        and p.name != "manifest.json"
    )
    import pipelock_verify

    manifest = {
        "generator": "samples/pipelock/generate.py",
        "environment": {"pipelock-verify": pipelock_verify.__version__},
        "files": {
            p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths
        },
    }
    write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
